/*
 * core/registry/registry.h: the model registry service (registered models,
 * model versions, stages, aliases, tags, search, models:/ URI resolution).
 * MLflow's prompts are registered models tagged mlflow.prompt.is_prompt and
 * live here too, sharing the one name space.
 *
 * Storage (one RocksDB under <data_dir>/registry):
 *   models           name (raw bytes)            -> RegisteredModel FlatBuffer
 *                                                   (schemas/registry/registry.fbs)
 *                                                   with tags and aliases; no
 *                                                   latest_versions (derived on read)
 *   versions         name string, u64 version    -> ModelVersion FlatBuffer without
 *                                                   aliases (derived from the model)
 *   version_counters name (raw bytes)            -> u64 big-endian: the highest
 *                                                   version ever issued for the name
 *   version_stages   name string, u8 stage,      -> "" : the per-stage index
 *                    u64 version                    (stages.c), written in the
 *                                                   same batch as the version
 *   webhooks         webhook id (32 hex)         -> Webhook FlatBuffer with secret
 *                                                   (schemas/registry/webhooks.fbs)
 *   webhook_deliveries webhook id, u64 sequence  -> WebhookDelivery: the bounded
 *                                                   delivery log (webhook_log.c)
 * Key parts use core/store/key.h (order-preserving), so a model's versions
 * are one prefix scan in version order.
 *
 * Version numbers: create-version reads the counter, writes counter + 1 and
 * the version in one atomic synced batch, so a number is never issued twice
 * and never reused after its version is deleted. Rename moves the model, its
 * counter and every version (rewritten with the new name) in one batch;
 * delete removes them all in one batch (a re-created name starts again at 1,
 * as in MLflow). Every mutation is a read-modify-write under one service
 * mutex (registry writes are rare next to tracking's; one lock keeps alias
 * moves, renames and counters trivially atomic).
 *
 * Events, published on the bus after the batch is durable, for webhooks and
 * the audit trail. Topic, then payload (a FlatBuffer of the named table):
 *   registry.model.created        RegisteredModel as stored
 *   registry.model.updated        RegisteredModel as stored (description)
 *   registry.model.renamed        RegisteredModel as stored (new name); the
 *                                 old name is not in the payload
 *   registry.model.deleted        RegisteredModel as it was before deletion
 *   registry.model.tag_set        RegisteredModel as stored
 *   registry.model.tag_deleted    RegisteredModel as stored
 *   registry.alias.set            ModelVersion {name, version, aliases: [alias]}
 *   registry.alias.deleted        ModelVersion {name, version, aliases: [alias]}
 *   registry.version.created      ModelVersion as stored
 *   registry.version.updated      ModelVersion as stored (description)
 *   registry.version.stage_changed ModelVersion as stored (each version a
 *                                 transition archives is published too)
 *   registry.version.deleted      ModelVersion as it was before deletion
 *   registry.version.tag_set      ModelVersion as stored
 *   registry.version.tag_deleted  ModelVersion as stored
 * Prompt or model: a subscriber tells them apart by the model's tags
 * (mlflow.prompt.is_prompt = "true").
 *
 * Webhooks are not driven by these bus events: MLflow's webhook payloads
 * carry what the request said (the tag key and value, the alias), which a
 * stored record does not, so each method hands MLflow's `data` to
 * reg_webhook_fire after its commit (webhook_deliver.c), choosing the
 * PROMPT_* entities when the model is a prompt. The prompts service calls
 * these methods over the bus, so its changes fire the prompt events too.
 */
#ifndef CN_REGISTRY_H
#define CN_REGISTRY_H

#include "core/service.h"

extern const cn_service_def cn_registry_service;

#endif
