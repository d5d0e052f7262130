/*
 * core/prompts/prompts_int.h: internals shared by the prompts service's
 * files. Not for use outside core/prompts/.
 *
 * Like the registry, handlers work on JSON trees (jansson): a request is
 * decoded to a tree, registry and tracking calls are trees encoded to their
 * request FlatBuffers through the codec, and answers are trees encoded to
 * the response table. Prompt calls are few and small next to tracking's.
 */
#ifndef CN_PROMPTS_INT_H
#define CN_PROMPTS_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "bus/bus.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/service.h"
#include "core/store/kv.h"

enum { PR_CF_LINKS = 0, PR_CF_COUNT_ };

typedef enum { PR_REGISTRY = 0, PR_TRACKING, PR_PEERS_ } pr_peer;

typedef struct pr_state {
	cn_kv *db;                       /* lineage links (prompts.h) */
	cn_bus_pub *events;              /* may be NULL */
	cn_bus_client *peers[PR_PEERS_]; /* registry, tracking */
	char peer_addr[PR_PEERS_][256];  /* for messages */
	int64_t timeout_ms;              /* deadline of calls made without one */
	pthread_mutex_t run_mu;          /* run-tag read-modify-writes (lineage.c) */
} pr_state;

/* Reserved tag keys (MLflow's prompt representation, mlflow/prompt/constants.py). */
#define PR_TAG_IS_PROMPT    "mlflow.prompt.is_prompt"
#define PR_TAG_TEXT         "mlflow.prompt.text"
#define PR_TAG_TYPE         "_mlflow_prompt_type"
#define PR_TAG_RESPONSE     "_mlflow_prompt_response_format"
#define PR_TAG_MODEL_CONFIG "_mlflow_prompt_model_config"
#define PR_TAG_LINKED       "mlflow.linkedPrompts"
#define PR_SOURCE           "prompt-template"
#define PR_NAME_MAX         512 /* the registry's name limit (bytes) */
#define PR_LINK_ID_MAX      256

/* call.c: one request to a peer service, as trees. The caller and request
 * id of ctx travel with it (the peer's audit trail names the real user);
 * its deadline is ctx's. The peer's error comes back as its own code and
 * message. *reply is the decoded response (caller decrefs). */
cn_code pr_call(pr_state *s, const cn_call_ctx *ctx, pr_peer peer, const char *method, json_t *req,
                json_t **reply, cn_err *err);
/* The verified request as a tree. */
cn_code pr_request(const char *table, cn_fb_table req, json_t **out, cn_err *err);
/* Build response table `table` in b from a tree. */
cn_code pr_answer(cn_fb_builder *b, const char *table, json_t *doc, cn_fb_ref *resp, cn_err *err);
cn_fb_ref pr_empty(cn_fb_builder *b);
/* Publish a prompts.* event (PromptEvent payload; see prompts.h). */
void pr_publish(pr_state *s, const cn_call_ctx *ctx, const char *topic, const char *name,
                const char *version, const char *alias, const char *key, const char *value,
                const char *template_type);

/* convert.c: MLflow's registry records as prompts. */
const char *pr_str(json_t *obj, const char *field);                  /* "" when absent */
const char *pr_tag(json_t *obj, const char *field, const char *key); /* NULL when absent */
bool pr_is_prompt_model(json_t *model);
bool pr_is_reserved_key(const char *key);
/* MLflow's prompt name rule and Cairn's length limit. */
cn_code pr_check_name(const char *name, cn_err *err);
/* Version string: digits only. */
cn_code pr_check_version(const char *v, const char *param, cn_err *err);
/* RegisteredModel -> Prompt (latest_version from its versions when known). */
json_t *pr_prompt_of(json_t *model);
/* ModelVersion (+ its model for aliases) -> PromptVersion; NULL and err
 * set when the stored template does not parse. */
json_t *pr_version_of(json_t *mv, json_t *model, cn_err *err);
/* The template as text for diffs: the text, or chat messages as
 * "role: <role>" lines each followed by the content. malloc'd. */
char *pr_version_text(json_t *pv, size_t *len);

/* prompts_api.c helpers used by the others. */
/* Registry model by name, which must be a prompt: 404 when absent, 400 when
 * it is a model. */
cn_code pr_load_prompt(pr_state *s, const cn_call_ctx *ctx, const char *name, json_t **model,
                       cn_err *err);
/* A version by number or alias, as a PromptVersion tree. */
cn_code pr_load_version(pr_state *s, const cn_call_ctx *ctx, const char *name, const char *version,
                        const char *alias, json_t **pv, cn_err *err);

/* The registry's version records of a prompt, in version order (paged
 * through SearchModelVersions). */
cn_code pr_versions_raw(pr_state *s, const cn_call_ctx *ctx, const char *name, json_t **out,
                        cn_err *err);

#define PR_METHOD(fn)                                                                   \
	cn_code fn(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b, \
	           cn_fb_ref *resp, cn_err *err)
PR_METHOD(pr_create_prompt);
PR_METHOD(pr_get_prompt);
PR_METHOD(pr_delete_prompt);
PR_METHOD(pr_search_prompts);
PR_METHOD(pr_set_alias);
PR_METHOD(pr_delete_alias);
PR_METHOD(pr_set_tag);
PR_METHOD(pr_delete_tag);
/* versions.c */
PR_METHOD(pr_create_version);
PR_METHOD(pr_get_version);
PR_METHOD(pr_list_versions);
PR_METHOD(pr_delete_version);
/* render.c */
PR_METHOD(pr_render_prompt);
PR_METHOD(pr_diff_versions);
/* lineage.c */
PR_METHOD(pr_link);
PR_METHOD(pr_lineage);
/* Drop recorded links of a prompt (all versions when version is NULL). */
cn_code pr_links_drop(pr_state *s, const char *name, const char *version, cn_err *err);

#endif
