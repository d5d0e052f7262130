/*
 * core/registry/registry_int.h: internals shared by the registry service's
 * files. Not for use outside core/registry/.
 *
 * Handlers work on JSON trees (jansson) of the stored FlatBuffers: a stored
 * value is decoded to a tree with the codec, edited, and encoded back with
 * the codec, which checks it against the schema both ways. Registry calls are
 * few and small, and this keeps each handler a short edit of a document.
 */
#ifndef CN_REGISTRY_INT_H
#define CN_REGISTRY_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/service.h"
#include "core/store/key.h"
#include "core/store/kv.h"

enum {
	REG_CF_MODELS = 0,
	REG_CF_VERSIONS,
	REG_CF_COUNTERS,
	REG_CF_WEBHOOKS,
	REG_CF_DELIVERIES, /* webhook id (32 bytes), u64 sequence -> WebhookDelivery */
	REG_CF_STAGES,     /* name, u8 stage, u64 version -> "" (get-latest-versions) */
	REG_CF_COUNT_
};

typedef struct reg_webhooks reg_webhooks; /* webhook_deliver.c */
struct reg_wh_counts;                     /* webhook_log.c */

typedef struct reg_state {
	cn_kv *db;
	cn_bus_pub *events;
	pthread_mutex_t mu;      /* every mutation, read-modify-write included */
	reg_webhooks *webhooks;  /* delivery pool and queues */
	const cn_config *config; /* where the tracking service is (source checks) */
	pthread_mutex_t tracking_mu;
	cn_bus_client *tracking; /* opened on first use */
	pthread_mutex_t log_mu;  /* delivery log: sequence and per-webhook trimming */
	uint64_t log_seq;
	long log_max;
	struct reg_wh_counts *log_counts;
} reg_state;

#define REG_PROMPT_TAG      "mlflow.prompt.is_prompt"
#define REG_PROMPT_TEXT_TAG "mlflow.prompt.text"
#define REG_OLD_STAGE       "__old_stage" /* versions.c: in-flight only, never stored */
#define REG_NAME_MAX        512           /* bytes of a model name */

/* Prompt text through the prompts service (CreatePromptModelVersion): its
 * 1 MiB of content, JSON-escaped for chat templates. */
#define REG_PROMPT_TEXT_TAG "mlflow.prompt.text"
#define REG_PROMPT_TEXT_MAX ((size_t)8 << 20)

/* store.c */
cn_code reg_missing(cn_err *err, const char *param);
/* Name from a request: present and non-empty, else MLflow's 400. */
cn_code reg_need(cn_fb_str v, const char *param, cn_err *err);
/* "3" -> 3; MLflow's message for anything else. */
cn_code reg_parse_version(cn_fb_str v, uint64_t *out, cn_err *err);
void reg_version_key(cn_key *k, const char *name, size_t len, uint64_t version);
/* Load the model's stored tree; 404 with MLflow's message when absent. */
cn_code reg_model_load(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err);
cn_code reg_version_load(reg_state *s, const char *name, size_t len, uint64_t v, json_t **out,
                         cn_err *err);
/* Decode a stored FlatBuffer of `table` (verified first) into a tree. */
cn_code reg_decode_value(int table, const uint8_t *p, size_t n, json_t **out, cn_err *err);
/* Encode a tree as the FlatBuffer of `table` (malloc'd in *out). */
cn_code reg_encode(int table, json_t *doc, uint8_t **out, size_t *len, cn_err *err);
/* Add puts of the encoded tree to batch; optionally keep the bytes for the event. */
cn_code reg_batch_put(cn_kv_batch *b, int cf, const void *key, size_t klen, int table, json_t *doc,
                      uint8_t **keep, size_t *keep_len, cn_err *err);
cn_code reg_write(reg_state *s, cn_kv_batch *b, cn_err *err);
/* Publish an encoded tree (nothing without an event bus or a topic). */
void reg_publish(reg_state *s, const cn_call_ctx *ctx, const char *topic, int table, json_t *doc);
/* Build the response table `table` in b from a tree. */
cn_code reg_answer(cn_fb_builder *b, int table, json_t *doc, cn_fb_ref *resp, cn_err *err);
cn_fb_ref reg_empty(cn_fb_builder *b);
/* Tag arrays [{key, value}]: set (replace or append) and remove. */
void reg_tag_set(json_t *obj, const char *field, const char *key, size_t klen, const char *val,
                 size_t vlen);
bool reg_tag_del(json_t *obj, const char *field, const char *key, size_t klen);
const char *reg_tag_get(json_t *obj, const char *field, const char *key);
bool reg_is_prompt(json_t *model);
json_t *reg_strn(cn_fb_str v);
/* The model's versions in version order (a JSON array of stored trees). */
cn_code reg_versions_list(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err);
/* Answer-ready model: latest_versions (per stage) and aliases added. */
cn_code reg_model_full(reg_state *s, json_t *model, cn_err *err);
/* Add a version's aliases (from its model tree) to a version tree. */
void reg_version_aliases(json_t *model, json_t *version);
/* Validation (MLflow's validation.py). */
cn_code reg_validate_tag(cn_fb_str key, cn_fb_str value, bool version_tag, cn_err *err);
cn_code reg_validate_alias(cn_fb_str alias, cn_err *err);

/* source.c: MLflow's checks of a new version's source (may ask tracking
 * over the bus; call without s->mu). */
cn_code reg_validate_source(reg_state *s, cn_fb_str source, cn_fb_str run_id, cn_fb_str model_id,
                            bool prompt, cn_err *err);
bool reg_src_local_path(const char *uri, char *out, size_t cap);
bool reg_src_within(const char *dir, const char *path);

/* stages.c: the per-stage index (version_stages). Index moves for a
 * version whose stage goes from old (NULL: new version) to new (NULL:
 * deleted), added to the batch that writes the version. */
void reg_stage_move(cn_kv_batch *b, const char *name, size_t len, uint64_t v, const char *old_stage,
                    const char *new_stage);
cn_code reg_stage_versions(reg_state *s, const char *name, size_t len, const char *stage,
                           uint64_t **out, size_t *n, cn_err *err);
/* The latest version of each stage, in MLflow's order (JSON array). */
cn_code reg_stage_latest(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err);
cn_code reg_stage_index_backfill(reg_state *s, cn_err *err);

/* models.c */
cn_code reg_version_by_alias(reg_state *s, cn_fb_str name, cn_fb_str alias, json_t **out,
                             cn_err *err);
/* versions.c: MLflow's stage names, case-insensitive, to canonical form. */
cn_code reg_canonical_stage(cn_fb_str stage, const char **out, cn_err *err);

/* models.c, versions.c, search.c, resolve.c: methods. */
#define REG_METHOD(fn)                                                                  \
	cn_code fn(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b, \
	           cn_fb_ref *resp, cn_err *err)
REG_METHOD(reg_create_model);
REG_METHOD(reg_get_model);
REG_METHOD(reg_rename_model);
REG_METHOD(reg_update_model);
REG_METHOD(reg_delete_model);
REG_METHOD(reg_set_model_tag);
REG_METHOD(reg_delete_model_tag);
REG_METHOD(reg_set_alias);
REG_METHOD(reg_delete_alias);
REG_METHOD(reg_get_by_alias);
REG_METHOD(reg_get_latest_versions);
REG_METHOD(reg_create_version);
REG_METHOD(reg_create_prompt_version);
REG_METHOD(reg_get_version);
REG_METHOD(reg_update_version);
REG_METHOD(reg_delete_version);
REG_METHOD(reg_set_version_tag);
REG_METHOD(reg_delete_version_tag);
REG_METHOD(reg_transition_stage);
REG_METHOD(reg_get_download_uri);
REG_METHOD(reg_search_models);
REG_METHOD(reg_search_versions);
REG_METHOD(reg_resolve_uri);

/* webhook_event.c: MLflow 3's webhook events, payloads, signature, retry
 * schedule (pure functions). */
typedef enum reg_wh_kind {
	REG_WH_MODEL_CREATED = 0,
	REG_WH_VERSION_CREATED,
	REG_WH_VERSION_TAG_SET,
	REG_WH_VERSION_TAG_DELETED,
	REG_WH_ALIAS_CREATED,
	REG_WH_ALIAS_DELETED,
	REG_WH_MODEL_TAG_SET, /* prompts only */
	REG_WH_MODEL_TAG_DELETED,
	REG_WH_KIND_COUNT_
} reg_wh_kind;
#define REG_WH_SIG_MAX 64 /* "v1," + base64 of 32 bytes + NUL */
/* MLflow's (entity, action) proto names for a change; false when MLflow
 * sends nothing for it (a tag on a registered model that is no prompt). */
bool reg_wh_event_of(reg_wh_kind kind, bool prompt, const char **entity, const char **action);
/* A subscription's (entity, action): known names, valid combination. */
cn_code reg_wh_check_event(cn_fb_str entity, cn_fb_str action, cn_err *err);
/* MLflow's example data for an event (the test call). */
json_t *reg_wh_example(const char *entity, const char *action);
/* Payload data: a model (RegisteredModel/PromptCreated) or a version
 * (ModelVersionCreated/PromptVersionCreated) as MLflow's handlers send it. */
json_t *reg_wh_data_model(json_t *model);
json_t *reg_wh_data_version(json_t *version, bool prompt);
void reg_wh_isotime(int64_t now_us, char out[40]);
/* {"entity", "action", "timestamp", "data"} as JSON text (malloc'd). */
char *reg_wh_payload(const char *entity, const char *action, json_t *data, int64_t now_us);
/* X-MLflow-Signature: "v1," base64(HMAC-SHA256(secret, "id.ts.payload")). */
bool reg_wh_sign(const char *secret, const char *delivery_id, const char *ts, const char *payload,
                 char out[REG_WH_SIG_MAX]);
/* Status 0 is a transport error. */
bool reg_wh_retryable(int status);
bool reg_wh_honours_retry_after(int status);
/* Wait before retry number `failures` (1 = the first retry). */
long reg_wh_backoff_ms(int failures, double jitter01);
/* Retry-After (seconds or HTTP-date) in ms; -1 when unparsable. */
long reg_wh_retry_after_ms(const char *v, size_t len, int64_t now_ms);
void reg_wh_uuid4(char out[37]);

/* webhook.c, webhook_deliver.c, webhook_log.c: MLflow 3's webhooks. */
cn_code reg_webhook_load(reg_state *s, const char *id, size_t len, json_t **out, cn_err *err);
cn_code reg_webhooks_start(reg_state *s, cn_err *err);
void reg_webhooks_stop(reg_state *s);
/* Hand a committed change to delivery; never blocks on the network. Takes
 * `data` (MLflow's payload data for the event). */
void reg_webhook_fire(reg_state *s, reg_wh_kind kind, bool prompt, json_t *data);
/* Forget a deleted webhook's queued deliveries. */
void reg_webhook_forget(reg_state *s, const char *id);
/* The delivery log (webhook_log.c). */
typedef struct reg_wh_attempt {
	const char *webhook_id, *delivery_id, *entity, *action;
	int attempt, status; /* status 0: error says why */
	const char *error;
	int64_t at_ms, duration_ms, next_ms; /* next_ms 0: no further attempt */
} reg_wh_attempt;
cn_code reg_wh_log_open(reg_state *s, cn_err *err);
void reg_wh_log_close(reg_state *s);
void reg_wh_log(reg_state *s, const reg_wh_attempt *a);
/* Delete a webhook and its delivery log in one batch. */
cn_code reg_wh_delete(reg_state *s, const char *id, size_t len, cn_err *err);
REG_METHOD(reg_create_webhook);
REG_METHOD(reg_list_webhooks);
REG_METHOD(reg_get_webhook);
REG_METHOD(reg_update_webhook);
REG_METHOD(reg_delete_webhook);
REG_METHOD(reg_test_webhook);
REG_METHOD(reg_list_webhook_deliveries);

#endif
