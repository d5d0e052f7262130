/*
 * core/prompts/prompts.h: the prompts service -- Cairn's native prompt
 * registry API (/api/2.0/cairn/prompts/..., schemas/prompts/prompts.fbs):
 * create, add immutable versions (text or chat templates, {{variables}},
 * response format, model configuration), get by version or alias, list,
 * aliases, tags, search, render, diff and lineage.
 *
 * Who owns which fact (each has exactly one owner):
 *   registry  prompt names, versions, templates, aliases, tags. A prompt is
 *             a RegisteredModel tagged mlflow.prompt.is_prompt=true and a
 *             version a ModelVersion holding the template in its tags,
 *             exactly as MLflow's client writes them, so MLflow's client
 *             (register_prompt, load_prompt, search_prompts, ...) and this
 *             API see the same prompts, and names are one name space with
 *             models, as in MLflow. Every call here that reads or changes a
 *             prompt is a registry call over the bus; this service keeps no
 *             copy, so there is nothing to drift or to reconcile.
 *   tracking  run -> prompt links: the run's mlflow.linkedPrompts tag (a
 *             JSON list of {"name", "version"}), where MLflow keeps them.
 *             Linking a run edits that tag through tracking; lineage reads
 *             it back from tracking.
 *   prompts   only links MLflow has no place for: trace, evaluation-result
 *             and deployed-endpoint -> prompt version, reported by the
 *             services that own those things (LinkPromptVersions). They are
 *             derived data: each reporter can report again, and a link
 *             dies with its version.
 *
 * Storage (one RocksDB under <data_dir>/prompts):
 *   links  name, version, kind, id (key.h strings) -> i64 first-linked ms
 * so the lineage of a prompt, or of one version, is one prefix scan.
 *
 * Peers: the registry (required) and tracking (lineage of runs), called
 * at the addresses of service.registry and service.tracking (cairn server
 * sets them; `cairn service prompts` takes --service registry=ADDR
 * --service tracking=ADDR). A call carries the caller and request id of
 * the call that caused it, so the registry's audit trail names the user.
 *
 * Limits: template text (a chat template: all contents together) up to
 * 1 MiB (PR_TEXT_MAX); names as MLflow's prompt rule ([A-Za-z0-9_.-]) up to
 * 512 bytes (the registry's limit). MLflow's own REST route keeps MLflow's
 * limit of 100000 characters of prompt text; this API's versions reach the
 * registry through the bus-only CreatePromptModelVersion instead.
 *
 * Events, published on the bus after the change is durable, payload a
 * PromptEvent {name, version, alias, key, value, template_type} with the
 * fields that apply (the registry's own registry.* events fire as well,
 * since every change is a registry change; MLflow's prompt webhooks are
 * driven by those, so a prompt change made through MLflow's client fires
 * them too, and a subscriber to prompts.* must not also map registry.*
 * prompt events or it sees each change twice):
 *   prompts.prompt.created   name
 *   prompts.prompt.deleted   name
 *   prompts.version.created  name, version, template_type
 *   prompts.version.deleted  name, version
 *   prompts.alias.set        name, alias, version (its new target)
 *   prompts.alias.deleted    name, alias, version (its old target)
 *   prompts.tag.set          name, key, value, version (version tags only)
 *   prompts.tag.deleted      name, key, version (version tags only)
 *   prompts.version.linked   name, version, key = kind, value = id
 * These cover changes made through this API; changes made through
 * MLflow's registry routes are seen as registry.* events only.
 */
#ifndef CN_PROMPTS_H
#define CN_PROMPTS_H

#include "core/service.h"

extern const cn_service_def cn_prompts_service;

#endif
