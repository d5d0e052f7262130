/*
 * core/traces/traces_int.h: internals shared by the traces service's files
 * (and by tracesearch's assessments* and trace_metrics* files in this
 * folder). Not for use outside core/traces/.
 *
 * Storage (one RocksDB under <data_dir>/traces), one column family each:
 *
 *   trace_info        trace id (raw bytes, "tr-" + 32 hex)
 *                       -> TraceRecord FlatBuffer (schemas/traces/traces.fbs):
 *                          experiment, times, state, previews, metadata and
 *                          tags inline, so a search result is one read
 *   trace_spans       str(trace id) + raw(span id, 16 hex)
 *                       -> SpanRecord FlatBuffer (schemas/traces/spans.fbs),
 *                          as the producer sent it; one key per span, so a
 *                          50,000-span trace is read a page at a time by
 *                          seeking past the last span id returned
 *   traces_by_time    str(experiment id) + i64(-request_time_ms) + raw(trace id)
 *                       -> empty; forward order is newest first, ties by
 *                          trace id, as MLflow's default order_by
 *   trace_tag_index   str(experiment id) + str(key) + str(value[:TRC_INDEX_VALUE_MAX])
 *                     + i64(-request_time_ms) + raw(trace id) -> empty;
 *                       `tags.k = 'v'` is one prefix scan in time order (a
 *                       longer value is indexed by its prefix; the filter is
 *                       checked on the record anyway)
 *   trace_metadata_index  the same for trace_metadata (mlflow.sourceRun, ...)
 *   trace_run_links   u8('r') + str(run id) + raw(trace id)   -> empty
 *                     u8('t') + str(trace id) + raw(run id)   -> empty
 *                       LinkTracesToRun, both ways (search by run, and
 *                       cleanup when a trace is deleted)
 *   trace_assessments str(trace id) + raw(assessment id) -> reserved for
 *                       tracesearch's assessments (deleted with the trace)
 *
 * A trace's record and every index entry derived from it change together in
 * one atomic batch, under the trace's lock stripe (read-modify-write of the
 * record). Spans of one IngestSpans request are written in one batch with
 * their traces' records.
 *
 * The column families are declared once, here (TRC_CF_*), and named in
 * traces_service.c. Adding one: append it to the enum and to the names.
 */
#ifndef CN_TRACES_INT_H
#define CN_TRACES_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/service.h"
#include "core/store/key.h"
#include "core/store/kv.h"

enum {
	TRC_CF_INFO = 0,
	TRC_CF_SPANS,
	TRC_CF_BY_TIME,
	TRC_CF_TAG_INDEX,
	TRC_CF_META_INDEX,
	TRC_CF_RUN_LINKS,
	TRC_CF_ASSESSMENTS,
	TRC_CF_COUNT_
};
extern const char *const trc_cf_names[TRC_CF_COUNT_];

#define TRC_LOCK_STRIPES    256
#define TRC_INDEX_VALUE_MAX 256  /* bytes of a tag/metadata value kept in an index key */
#define TRC_ID_MAX          64   /* bytes of a trace id ("tr-" + 32 hex) with room */
#define TRC_PREVIEW_MAX     1000 /* MLflow's TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS */
#define TRC_SEARCH_DEFAULT  100  /* SearchTracesV3 max_results when absent */
#define TRC_SEARCH_MAX      500  /* MLflow's threshold for trace search */
#define TRC_TTL_TAG         "cairn.trace.ttl" /* experiment tag: trace time-to-live */

typedef struct trc_exp_cache trc_exp_cache; /* experiments.c */
typedef struct trc_retention trc_retention; /* retention.c */

typedef struct trc_state {
	cn_kv *db;
	pthread_mutex_t stripes[TRC_LOCK_STRIPES]; /* by hash of trace id */
	trc_exp_cache *exps;                       /* experiment info from tracking */
	trc_retention *retention;                  /* TTL thread */
	/* Ingestion budget: bytes of IngestSpans payloads being processed. A
	 * request that would take it past ingest_budget is refused with
	 * TEMPORARILY_UNAVAILABLE instead of queueing. */
	_Atomic int64_t ingest_inflight;
	int64_t ingest_budget;
	int64_t default_ttl_ms; /* 0: keep forever */
	int64_t retention_interval_ms;
	char artifact_root[1024];
} trc_state;

/* ---- The C API other files of this folder (tracesearch) build on ---- */

/* A trace's stored record, read in place (cn_TraceRecord_* readers on t).
 * CN_RESOURCE_DOES_NOT_EXIST (err untouched) when there is none. */
typedef struct trc_info {
	cn_kv_val val;
	cn_fb_table t;
} trc_info;
cn_code trc_info_get(trc_state *s, const char *trace_id, size_t len, trc_info *out, cn_err *err);
void trc_info_release(trc_info *i);

/* An experiment's traces by request time: newest first (or oldest first),
 * ties by trace id, starting after (request_time_ms, trace_id) when
 * after_id is not NULL. Snapshot-consistent. */
typedef struct trc_exp_iter trc_exp_iter;
trc_exp_iter *trc_exp_iter_new(trc_state *s, const char *experiment_id, bool newest_first,
                               int64_t after_time_ms, const char *after_id);
/* Next trace: false at the end (or on a storage error: trc_exp_iter_status). */
bool trc_exp_iter_next(trc_exp_iter *it, int64_t *request_time_ms, const char **trace_id,
                       size_t *len);
cn_code trc_exp_iter_status(trc_exp_iter *it, cn_err *err);
void trc_exp_iter_free(trc_exp_iter *it);

/* A trace's spans in span id order (SpanRecord tables, valid until the next
 * call), from after_span_id (NULL: the first). */
typedef struct trc_span_iter trc_span_iter;
trc_span_iter *trc_span_iter_new(trc_state *s, const char *trace_id, size_t len,
                                 const char *after_span_id);
bool trc_span_iter_next(trc_span_iter *it, cn_fb_table *span, const char **span_id, size_t *len);
cn_code trc_span_iter_status(trc_span_iter *it, cn_err *err);
void trc_span_iter_free(trc_span_iter *it);

/* ---- record.c: a trace record as a C struct, edited then re-encoded ---- */
typedef struct trc_pair {
	const char *k, *v; /* not NUL-terminated; point into a request or a pinned record */
	size_t klen, vlen;
} trc_pair;
typedef struct trc_pairs {
	trc_pair *p;
	size_t n, cap;
} trc_pairs;
typedef struct trc_rec {
	cn_fb_str trace_id, experiment_id, client_request_id, request_preview, response_preview,
	        root_span_id;
	int64_t request_time_ms, execution_duration_ms; /* duration -1: unknown */
	int32_t state;                                  /* TraceState */
	trc_pairs metadata, tags;
	bool info_from_client;
	int64_t min_start_ns, max_end_ns, span_count, span_bytes;
} trc_rec;
void trc_rec_init(trc_rec *r);
void trc_rec_free(trc_rec *r); /* the pair arrays only */
void trc_rec_from_fb(trc_rec *r, cn_fb_table t);
/* Replace or append. false only when out of memory. */
bool trc_pairs_set(trc_pairs *ps, const char *k, size_t klen, const char *v, size_t vlen);
bool trc_pairs_del(trc_pairs *ps, const char *k, size_t klen);
const trc_pair *trc_pairs_get(const trc_pairs *ps, const char *k);
/* The record as a finished TraceRecord FlatBuffer in b. */
bool trc_rec_encode(const trc_rec *r, cn_fb_builder *b, const uint8_t **out, size_t *len);

/* The trace filter (MLflow's trace filter language through core/search's
 * trace dialect) is in trace_filter.h. */

/* ---- store.c ---- */
pthread_mutex_t *trc_stripe(trc_state *s, const char *trace_id, size_t len);
void trc_key_info(cn_key *k, const char *trace_id, size_t len);
void trc_key_span(cn_key *k, const char *trace_id, size_t tlen, const char *span_id, size_t slen);
void trc_key_by_time(cn_key *k, const char *exp, size_t elen, int64_t ms, const char *trace_id,
                     size_t tlen);
/* Every key of the trace's record and indexes, put (or deleted) in batch. */
void trc_index_record(cn_kv_batch *b, cn_fb_table rec, bool del);
cn_code trc_write(trc_state *s, cn_kv_batch *b, cn_err *err);
/* Delete a trace: record, indexes, spans, run links, assessments. */
cn_code trc_delete_trace_batch(trc_state *s, cn_kv_batch *b, cn_fb_table rec, cn_err *err);

/* ---- ids.c: trace ids and MLflow's wire forms ---- */
/* "tr-" + 32 lowercase hex: the only trace id form Cairn stores. */
bool trc_valid_trace_id(const char *id, size_t len);
cn_code trc_need_trace_id(cn_fb_str id, const char *param, cn_err *err);
/* "tr-<hex>" from an OTel trace id (32 hex); false when malformed. */
bool trc_trace_id_from_otel(const char *hex, size_t len, char out[TRC_ID_MAX]);
/* The text of key's value in the JSON object doc (a span's attributes),
 * found by a structural scan (ingest.c): 1 found (*val set), 0 absent, -1
 * the scan cannot tell (escaped keys, broken structure; parse it whole). */
int trc_json_find(cn_fb_str doc, const char *key, cn_fb_str *val);
/* base64 of the bytes hex digits stand for (OTel ids in proto JSON). */
void trc_hex_to_b64(const char *hex, size_t len, cn_buf *out);
/* google.protobuf.Timestamp / Duration text <-> milliseconds. */
void trc_fmt_timestamp(int64_t ms, char out[40]);
void trc_fmt_duration(int64_t ms, char out[40]);
bool trc_parse_timestamp(const char *s, size_t len, int64_t *ms);
bool trc_parse_duration(const char *s, size_t len, int64_t *ms);

/* ---- experiments.c: experiment facts from the tracking service ---- */
typedef struct trc_exp_facts {
	bool exists;
	bool active;
	char artifact_location[1024];
	int64_t ttl_ms; /* from the TRC_TTL_TAG experiment tag; -1 when unset */
} trc_exp_facts;
cn_code trc_exps_open(trc_state *s, const cn_config *cfg, cn_err *err);
void trc_exps_close(trc_state *s);
/* Cached for a few seconds. Without a tracking service configured, every
 * experiment exists with the default artifact root. */
cn_code trc_exp_facts_get(trc_state *s, const char *exp_id, size_t len, trc_exp_facts *out,
                          cn_err *err);

/* ---- retention.c ---- */
cn_code trc_retention_start(trc_state *s, cn_err *err);
void trc_retention_stop(trc_state *s);

/* ---- methods ---- */
#define TRC_METHOD(fn)                                                                  \
	cn_code fn(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b, \
	           cn_fb_ref *resp, cn_err *err)
TRC_METHOD(trc_start_trace_v3);
TRC_METHOD(trc_get_trace_info_v3);
TRC_METHOD(trc_get_trace);
TRC_METHOD(trc_batch_get_traces);
TRC_METHOD(trc_batch_get_trace_infos);
TRC_METHOD(trc_search_traces_v3);
TRC_METHOD(trc_set_trace_tag_v3);
TRC_METHOD(trc_delete_trace_tag_v3);
TRC_METHOD(trc_delete_traces_v3);
TRC_METHOD(trc_link_traces_to_run);
TRC_METHOD(trc_start_trace_v2);
TRC_METHOD(trc_end_trace_v2);
TRC_METHOD(trc_get_trace_info_v2);
TRC_METHOD(trc_search_traces_v2);
TRC_METHOD(trc_set_trace_tag_v2);
TRC_METHOD(trc_delete_trace_tag_v2);
TRC_METHOD(trc_delete_traces_v2);
TRC_METHOD(trc_get_trace_artifact);
TRC_METHOD(trc_ingest_spans);

#endif
