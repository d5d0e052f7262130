/*
 * core/tracking/tracking_int.h: internals shared by the tracking service's
 * files. Not for use outside core/tracking/.
 */
#ifndef CN_TRACKING_INT_H
#define CN_TRACKING_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/store/key.h"
#include "core/store/kv.h"
#include "core/search/search.h"

enum {
	TRK_CF_EXPERIMENTS = 0,
	TRK_CF_EXPERIMENT_NAMES,
	TRK_CF_RUNS,
	TRK_CF_RUNS_BY_EXPERIMENT,
	TRK_CF_RUN_PARAMS,
	TRK_CF_RUN_TAGS,
	TRK_CF_RUN_LATEST_METRICS,
	TRK_CF_RUN_METRICS,
	TRK_CF_DATASETS,
	TRK_CF_RUN_INPUTS,
	TRK_CF_RUN_MODEL_INPUTS,
	TRK_CF_LOGGED_MODELS,
	TRK_CF_LOGGED_MODELS_BY_EXPERIMENT,
	TRK_CF_LOGGED_MODEL_PARAMS,
	TRK_CF_LOGGED_MODEL_TAGS,
	TRK_CF_LOGGED_MODEL_METRICS,
	TRK_CF_RUN_MODEL_OUTPUTS,
	TRK_CF_COUNT_
};

/* Column family names, indexed by TRK_CF_* (tracking_service.c). */
extern const char *const trk_cf_names[TRK_CF_COUNT_];

#define TRK_LOCK_STRIPES 64
#define TRK_PENDING_MAX  256

/* search_common.c: shared by experiment and run searches. */
#define TRK_SEARCH_DEFAULT 1000  /* max_results when absent, as MLflow */
#define TRK_SEARCH_MAX     50000 /* MLflow's SEARCH_MAX_RESULTS_THRESHOLD */
#define TRK_MAX_ORDER      16
typedef struct trk_sort {
	cn_search_order orders[TRK_MAX_ORDER];
	size_t norders;
} trk_sort;
/* order_by clauses (or the dialect's default) plus its tie-breakers. */
cn_code trk_search_orders(const cn_search_dialect *d, cn_fb_vec ob, trk_sort *s, cn_err *err);
/* 1..TRK_SEARCH_MAX with MLflow's messages. */
cn_code trk_check_max_results(int64_t max, cn_err *err);
/* Append one length-prefixed field to a page-token fingerprint. */
void trk_fp_str(cn_buf *fp, cn_fb_str s);

typedef struct trk_state {
	cn_kv *db;
	cn_bus_pub *events;
	char artifact_root[CN_CFG_STR]; /* experiments get <root>/<id> */
	/* Name reservations: creates and renames check and reserve a name under
	 * names_mu, then write without holding it, so concurrent creates share
	 * one WAL sync instead of queueing behind each other's fsync. */
	pthread_mutex_t names_mu;
	pthread_cond_t names_cv;
	struct {
		char *name; /* owned copy; names may hold any byte, NUL included */
		size_t len;
	} pending[TRK_PENDING_MAX];
	int npending;
	uint64_t next_experiment_id;
	/* Read-modify-write of one experiment holds its stripe. */
	pthread_mutex_t stripes[TRK_LOCK_STRIPES];
	/* Read-modify-write of one run (its info, params, latest metrics) holds
	 * its run stripe. */
	pthread_mutex_t run_stripes[TRK_LOCK_STRIPES];
	/* Read-modify-write of one logged model holds its model stripe; taken
	 * after an experiment's stripe (gc), never before one. */
	pthread_mutex_t model_stripes[TRK_LOCK_STRIPES];
	/* Tie-breaker of metric points with equal (key, step, timestamp): starts
	 * at open from the clock (ms << 16), so it keeps growing across restarts. */
	_Atomic uint64_t metric_seq;
	/* In-memory search cache of runs (run_cache.c); owned. */
	struct trk_search_cache *search_cache;
	/* gc.c: artifact stores for purges, opened at the first one. */
	struct trk_gc *gc;
} trk_state;

/* A decoded experiment: strings point into a FlatBuffer owned elsewhere. */
typedef struct trk_tag {
	cn_fb_str key, value;
} trk_tag;

typedef struct trk_experiment {
	uint64_t id;
	cn_fb_str name, artifact_location, lifecycle_stage;
	int64_t creation_time, last_update_time;
	trk_tag *tags; /* malloc'd array (owned by the view), may be NULL */
	uint32_t ntags;
} trk_experiment;

/* experiment_store.c */
bool trk_parse_experiment_id(const char *s, size_t len, uint64_t *out);
cn_code trk_experiment_view(const uint8_t *buf, size_t len, trk_experiment *out, cn_err *err);
void trk_experiment_view_free(trk_experiment *e);
/* Build an Experiment table from a view (copies strings into b). */
cn_fb_ref trk_experiment_build(cn_fb_builder *b, const trk_experiment *e);
/* Serialize a view as a standalone Experiment FlatBuffer into *out (malloc'd). */
cn_code trk_experiment_serialize(const trk_experiment *e, uint8_t **out, size_t *len, cn_err *err);
/* Load experiment `id`; CN_RESOURCE_DOES_NOT_EXIST with MLflow's message when absent.
 * On success *val pins the value and *e points into it; release both. */
cn_code trk_experiment_load(trk_state *s, uint64_t id, cn_kv_val *val, trk_experiment *e,
                            cn_err *err);
/* Look up an id by exact name. CN_RESOURCE_DOES_NOT_EXIST when absent. */
cn_code trk_experiment_id_by_name(trk_state *s, const char *name, size_t len, uint64_t *id,
                                  cn_err *err);
/* Put an experiment (and, when old_name is given, move its name index)
 * atomically and durably; then, when topic is given, publish the stored
 * Experiment on the event bus under that topic. */
cn_code trk_experiment_store(trk_state *s, const trk_experiment *e, const cn_fb_str *old_name,
                             const char *topic, const char *request_id, cn_err *err);

/* Name reservation (see trk_state). */
cn_code trk_name_reserve(trk_state *s, const char *name, size_t len, cn_err *err);
void trk_name_release(trk_state *s, const char *name, size_t len);

/* A decoded RunInfo (strings point into a FlatBuffer owned elsewhere). */
typedef struct trk_run {
	uint8_t id[16];
	char hex[33];
	cn_fb_str run_name, experiment_id, user_id, artifact_uri, lifecycle_stage;
	int32_t status;
	int64_t start_time, end_time;
	bool has_end_time;
	/* Stored only, never answered: set by delete, cleared by restore (gc.c). */
	int64_t deleted_time;
	bool has_deleted_time;
} trk_run;

/* The latest value of one metric of a run (run_latest_metrics value). */
typedef struct trk_latest {
	double value;
	int64_t timestamp, step;
} trk_latest;

/* run_store.c */
extern const cn_fb_str trk_active_stage, trk_deleted_stage;
bool trk_str_is(cn_fb_str a, cn_fb_str b);
/* run_id (or legacy run_uuid) of a request to raw bytes: missing -> 400,
 * not 32 hex digits -> 404 as an unknown run. */
cn_code trk_run_resolve(cn_fb_str run_id, cn_fb_str run_uuid, uint8_t id[16], char hex[33],
                        cn_err *err);
pthread_mutex_t *trk_run_stripe(trk_state *s, const uint8_t id[16]);
/* Load a run; 404 "Run with id=X not found" when absent. Release *val. */
cn_code trk_run_load(trk_state *s, const uint8_t id[16], cn_kv_val *val, trk_run *r, cn_err *err);
cn_code trk_run_require_active(const trk_run *r, cn_err *err);
cn_fb_ref trk_run_info_build(cn_fb_builder *b, const trk_run *r);
/* Add the run's info put (and, when index, its runs_by_experiment entry). */
cn_code trk_run_put(cn_kv_batch *batch, const trk_run *r, bool index, cn_err *err);
/* Keys: run id, then an optional string part. */
void trk_run_key(cn_key *k, const uint8_t id[16]);
void trk_run_sub_key(cn_key *k, const uint8_t id[16], cn_fb_str sub);
void trk_metric_key(cn_key *k, const uint8_t id[16], cn_fb_str key, int64_t step, int64_t ts,
                    uint64_t seq);
void trk_latest_pack(const trk_latest *l, uint8_t out[24]);
bool trk_latest_unpack(const uint8_t *p, size_t len, trk_latest *l);
/* MLflow's rule: a point replaces the latest when (step, timestamp, value) is larger. */
bool trk_latest_newer(const trk_latest *n, const trk_latest *old);
/* Encode a history point's value: f64, then optionally model_id,
 * dataset_name, dataset_digest (u32 length + bytes each). malloc'd. */
uint8_t *trk_point_pack(double v, cn_fb_str model_id, cn_fb_str ds_name, cn_fb_str ds_digest,
                        size_t *len);
bool trk_point_unpack(const uint8_t *p, size_t len, double *v, cn_fb_str *model_id,
                      cn_fb_str *ds_name, cn_fb_str *ds_digest);
/* The full Run table of get-run and create-run. */
cn_code trk_run_build_full(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                           cn_err *err);

/* validate.c: MLflow's validation rules and messages. */
cn_code trk_validate_experiment_name(cn_fb_str name, cn_err *err);
cn_code trk_validate_experiment_tag(cn_fb_str key, cn_fb_str value, cn_err *err);
cn_code trk_validate_artifact_location(cn_fb_str loc, cn_err *err);
cn_code trk_missing(cn_err *err, const char *param);
/* Metric, param and tag names: characters, path uniqueness, length
 * ("Metric name", "Param key", "Tag key"). */
cn_code trk_validate_entity_key(cn_fb_str key, const char *path, const char *entity, cn_err *err);
/* "<entity> '<value[:250]>' had length N, which exceeded length limit of L". */
cn_code trk_validate_length(cn_fb_str v, const char *entity, size_t limit, cn_err *err);

/* experiments.c / experiment_search.c: method implementations. */
struct cn_call_ctx;
cn_code trk_create_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_get_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                           cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_get_experiment_by_name(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                                   cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_delete_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_restore_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_update_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_set_experiment_tag(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_delete_experiment_tag(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                                  cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
#define TRK_METHOD(fn)                                                                         \
	cn_code fn(void *st, const struct cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b, \
	           cn_fb_ref *resp, cn_err *err)
/* runs.c */
TRK_METHOD(trk_create_run);
TRK_METHOD(trk_get_run);
TRK_METHOD(trk_update_run);
TRK_METHOD(trk_delete_run);
TRK_METHOD(trk_restore_run);
TRK_METHOD(trk_set_tag);
TRK_METHOD(trk_delete_tag);
/* run_logging.c */
TRK_METHOD(trk_log_param);
TRK_METHOD(trk_log_metric);
TRK_METHOD(trk_log_batch);
TRK_METHOD(trk_get_metric_history);
/* metric_bulk.c */
/* One stored point of a metric's history (strings point into the store). */
typedef struct trk_history_point {
	int64_t step, timestamp;
	uint64_t seq;
	double value;
	cn_fb_str model_id, ds_name, ds_digest;
} trk_history_point;
/* Called per point; clear *more to stop the scan early. */
typedef cn_code (*trk_point_fn)(void *arg, const trk_history_point *p, bool *more, cn_err *err);
/* Visit run `id`'s history of metric `mkey` in (step, timestamp, seq) order. */
cn_code trk_metric_scan(trk_state *s, const uint8_t id[16], cn_fb_str mkey, trk_point_fn fn,
                        void *arg, cn_err *err);
/* metric_chunks.c: history points stored as one chunk per (run, key, call). */
typedef struct trk_chunk_point {
	int64_t step, timestamp;
	uint64_t seq;
	double value;
} trk_chunk_point;
/* Adds one chunk holding pts[0..n) (any order) of metric `mkey` to batch;
 * false when out of memory or the key is too long. */
bool trk_chunk_put(cn_kv_batch *batch, const uint8_t id[16], cn_fb_str mkey,
                   const trk_chunk_point *pts, size_t n);
/* The 24-byte (step, timestamp, seq) position used by page tokens. */
void trk_point_suffix(uint8_t out[24], int64_t step, int64_t ts, uint64_t seq);
/* trk_metric_scan starting at position `from` (NULL: the first point). */
cn_code trk_metric_scan_from(trk_state *s, const uint8_t id[16], cn_fb_str mkey,
                             const uint8_t *from, trk_point_fn fn, void *arg, cn_err *err);
TRK_METHOD(trk_get_metric_history_bulk_interval);
TRK_METHOD(trk_get_metric_history_bulk);
/* run_search.c */
TRK_METHOD(trk_search_runs);
/* run_log_model.c */
TRK_METHOD(trk_log_model);
/* run_inputs.c */
TRK_METHOD(trk_log_inputs);
/* The RunInputs table (dataset and model inputs) of a run. */
cn_code trk_run_inputs_build(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                             cn_err *err);
/* A run's dataset inputs as runs/search matches them (owned copies; context
 * is the input tag mlflow.data.context, NULL when absent). */
typedef struct trk_input_ref {
	char *name, *digest, *context;
	size_t name_len, digest_len, context_len;
} trk_input_ref;
typedef struct trk_input_refs {
	trk_input_ref *e;
	size_t n;
} trk_input_refs;
cn_code trk_run_inputs_load(trk_state *s, const uint8_t id[16], trk_input_refs *out, cn_err *err);
void trk_input_refs_free(trk_input_refs *r);

/* run_cache.c: the in-memory run search cache (design, memory bound and
 * consistency argument in run_cache.c's header; layout in run_cache.h).
 *
 * Maintenance contract, for every file that changes runs (and `cairn gc`):
 *  - trk_search_cache_run_changed: after a batch that changes anything of run
 *    `id` that searches see (its RunInfo: name, status, times, lifecycle;
 *    params; tags; latest metrics; dataset inputs; or its creation) has been
 *    committed, call it while still holding the run's stripe lock
 *    (trk_run_stripe) and before acknowledging. It re-reads the run from the
 *    store into its experiment's cache entry when that experiment is cached.
 *    Never fails the caller: on a store error it drops the experiment, which
 *    the next search reloads.
 *  - trk_search_cache_run_forgotten: after run `id` was removed from the store
 *    for good (gc), under the stripe lock too.
 *  - trk_search_cache_experiment_forgotten: after an experiment's runs were
 *    removed for good, or to drop an experiment's entry for any reason.
 * The query side pins and read-locks one experiment at a time with acquire
 * (loading it from the store on first use) and lets go with release; a
 * caller holding several must acquire them in ascending id order. */
struct trk_search_cache;
struct trk_sc_exp;
cn_code trk_search_cache_new(size_t budget_bytes, struct trk_search_cache **out, cn_err *err);
void trk_search_cache_free(struct trk_search_cache *c);
void trk_search_cache_run_changed(trk_state *s, const uint8_t id[16]);
/* What one logging call (run_logging.c) committed to a run: the latest
 * metric values it changed, the params and tags it set (in call order), and
 * the run name when an mlflow.runName tag renamed it. */
typedef struct trk_sc_latest {
	cn_fb_str key;
	trk_latest l;
} trk_sc_latest;
typedef struct trk_sc_patch {
	const trk_sc_latest *metrics;
	uint32_t nmetrics;
	const trk_tag *params;
	uint32_t nparams;
	const trk_tag *tags;
	uint32_t ntags;
	bool name_changed;
	cn_fb_str run_name;
} trk_sc_patch;
/* trk_search_cache_run_changed for a logging call, same contract, but the
 * cached run (of experiment experiment_id) is patched from p instead of
 * re-read from the store. */
void trk_search_cache_run_logged(trk_state *s, const uint8_t id[16], cn_fb_str experiment_id,
                                 const trk_sc_patch *p);
void trk_search_cache_run_forgotten(trk_state *s, const uint8_t id[16]);
void trk_search_cache_experiment_forgotten(trk_state *s, uint64_t exp);
cn_code trk_search_cache_acquire(trk_state *s, uint64_t exp, struct trk_sc_exp **out, cn_err *err);
void trk_search_cache_release(trk_state *s, struct trk_sc_exp *e);
/* Bytes the cache accounts for now, and experiments loaded (for tests). */
void trk_search_cache_stats(trk_state *s, size_t *bytes, size_t *experiments, size_t *runs);

cn_code trk_search_experiments(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);

/* runs.c: an MLflow-style random name (adjective-noun-number) into out. */
int trk_gen_run_name(char *out, size_t cap);

/* logged_model_store.c: MLflow 3 logged models (ids "m-<32 hex>", stored
 * under their 16 raw bytes). A loaded model owns all its strings. */
typedef struct trk_lm_kv {
	char *key, *value;
	uint32_t klen, vlen;
} trk_lm_kv;
/* The latest point of one (metric key, dataset name, dataset digest). */
typedef struct trk_lm_metric {
	char *key, *ds_name, *ds_digest;
	uint32_t klen, nlen, dlen;
	double value;
	int64_t timestamp, step;
	uint8_t run[16];
} trk_lm_metric;
typedef struct trk_lm {
	uint8_t id[16];
	char id_str[35]; /* "m-" + 32 lowercase hex */
	uint8_t *buf;    /* owned copy of the StoredLoggedModel */
	cn_fb_str experiment_id, name, artifact_uri, model_type, source_run_id, lifecycle_stage;
	int64_t creation, last_updated;
	int32_t status;
	trk_lm_kv *tags, *params;
	uint32_t ntags, nparams;
	trk_lm_metric *metrics;
	uint32_t nmetrics;
} trk_lm;
bool trk_lm_parse_id(cn_fb_str s, uint8_t id[16]);
void trk_lm_format_id(const uint8_t id[16], char out[35]);
/* 404 "Logged model with ID '<id>' not found." */
cn_code trk_lm_not_found(cn_err *err, cn_fb_str id);
/* Load a model (deleted ones too); with full, also its tags, params and
 * metrics. 404 as MLflow when absent. Release with trk_lm_free. */
cn_code trk_lm_load(trk_state *s, const uint8_t id[16], bool full, trk_lm *m, cn_err *err);
void trk_lm_free(trk_lm *m);
/* Add the model's StoredLoggedModel put (and, with index, its experiment
 * index entry) to batch. */
cn_code trk_lm_put(cn_kv_batch *batch, const trk_lm *m, uint64_t exp, bool index, cn_err *err);
/* The LoggedModel table of a fully loaded model. */
cn_fb_ref trk_lm_build(cn_fb_builder *b, const trk_lm *m);
/* Serializes read-modify-writes of one model. */
pthread_mutex_t *trk_lm_stripe(trk_state *s, const uint8_t id[16]);
/* The hook of log-metric and log-batch: a point that names a logged model
 * (model_id "m-<32 hex>") is added to that model's metrics in the run's
 * batch; other model ids are kept on the run's history only. */
void trk_lm_metric_put(cn_kv_batch *batch, cn_fb_str model_id, cn_fb_str key, cn_fb_str ds_name,
                       cn_fb_str ds_digest, int64_t timestamp, int64_t step, uint64_t seq,
                       double value, const uint8_t run[16]);
/* logged_models.c, logged_model_search.c */
TRK_METHOD(trk_create_logged_model);
TRK_METHOD(trk_get_logged_model);
TRK_METHOD(trk_finalize_logged_model);
TRK_METHOD(trk_delete_logged_model);
TRK_METHOD(trk_set_logged_model_tags);
TRK_METHOD(trk_delete_logged_model_tag);
TRK_METHOD(trk_log_logged_model_params);
TRK_METHOD(trk_search_logged_models);
/* run_outputs.c: runs/outputs and the RunOutputs of runs/get. */
TRK_METHOD(trk_log_outputs);
cn_code trk_run_outputs_build(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                              cn_err *err);
/* run_store.c: the Run of runs/get -- trk_run_build_full plus its outputs
 * (runs/search and runs/create leave them out: one scan less per run). */
cn_code trk_run_build_with_outputs(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                                   cn_err *err);
/* dataset_search.c: the UI's experiments/search-datasets. */
TRK_METHOD(trk_search_datasets);
/* gc.c, gc_candidates.c: `cairn gc` (schemas/tracking/gc.fbs). */
cn_code trk_gc_open(trk_state *s, const cn_config *cfg, cn_err *err);
void trk_gc_close(trk_state *s);
TRK_METHOD(trk_gc_list_candidates);
TRK_METHOD(trk_gc_purge_runs);
TRK_METHOD(trk_gc_purge_experiment);

#endif
