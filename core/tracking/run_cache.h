/*
 * core/tracking/run_cache.h: the layout of the in-memory run search cache
 * (run_cache.c), as the query side (run_search.c) reads it. The maintenance
 * hooks every mutation calls are in tracking_int.h. Not for use outside
 * core/tracking/.
 */
#ifndef CN_TRACKING_RUN_CACHE_H
#define CN_TRACKING_RUN_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "core/tracking/tracking_int.h"

#define TRK_SC_NONE UINT32_MAX /* key id of a key no run of the experiment has */

/* A latest metric; key is an interned key id of the experiment. */
typedef struct trk_sc_metric {
	uint32_t key, pad_;
	double value;
	int64_t timestamp, step; /* so answers are built without store reads */
} trk_sc_metric;

/* A param or tag: value bytes at blob + off. */
typedef struct trk_sc_str {
	uint32_t key, off, len;
} trk_sc_str;

/* A dataset input; ctx_len == TRK_SC_NONE when it has no mlflow.data.context. */
typedef struct trk_sc_input {
	uint32_t name_off, name_len, digest_off, digest_len, ctx_off, ctx_len;
} trk_sc_input;

/* One run. blob is one allocation: metrics[nmetrics], params[nparams],
 * tags[ntags] (each sorted by key id), inputs[ninputs], then string bytes. */
typedef struct trk_sc_run {
	uint8_t id[16];
	int64_t start_time, end_time;
	uint8_t *blob;
	uint32_t blob_len;
	uint32_t nmetrics, nparams, ntags, ninputs;
	uint32_t name_off, name_len, user_off, user_len, uri_off, uri_len;
	uint8_t status;
	uint8_t present; /* TRK_SC_HAS_*: strings stored in RunInfo (absent != "") */
	bool active, has_end_time;
} trk_sc_run;

#define TRK_SC_HAS_NAME         0x1u
#define TRK_SC_HAS_USER         0x2u
#define TRK_SC_HAS_URI          0x4u
#define TRK_SC_HAS_MODEL_INPUTS 0x8u /* run_model_inputs has entries */

static inline const trk_sc_metric *trk_sc_metrics(const trk_sc_run *r)
{
	return (const trk_sc_metric *)(const void *)r->blob;
}
static inline const trk_sc_str *trk_sc_params(const trk_sc_run *r)
{
	return (const trk_sc_str *)(const void *)(r->blob + r->nmetrics * sizeof(trk_sc_metric));
}
static inline const trk_sc_str *trk_sc_tags(const trk_sc_run *r)
{
	return trk_sc_params(r) + r->nparams;
}
static inline const trk_sc_input *trk_sc_inputs(const trk_sc_run *r)
{
	return (const trk_sc_input *)(const void *)(trk_sc_tags(r) + r->ntags);
}
static inline const char *trk_sc_bytes(const trk_sc_run *r, uint32_t off)
{
	return (const char *)r->blob + off;
}

/* Columns: one key's values over every run of an experiment, by run index,
 * so a filter or sort on that key reads one array instead of each run's blob
 * (run_columns.c explains when they exist and what they cost). */
enum { TRK_SC_COL_METRIC, TRK_SC_COL_PARAM, TRK_SC_COL_TAG };
#define TRK_SC_MAX_COLS 32 /* per experiment; least recently used goes first */

/* A distinct value of a param or tag column; refs = runs holding it. */
typedef struct trk_sc_val {
	char *s;
	uint32_t len, refs;
} trk_sc_val;

typedef struct trk_sc_col {
	int kind; /* TRK_SC_COL_* */
	uint32_t key;
	_Atomic uint64_t last_used; /* searches stamp it under the shared lock */
	double *num;                /* metrics: latest value, or trk_sc_absent */
	uint32_t *vid;              /* params, tags: value id or TRK_SC_NONE */
	trk_sc_val *vals;           /* value ids -> values (dead ones have refs 0) */
	uint32_t nvals, vals_cap, nlive;
	uint32_t *slots; /* open addressing over vals: id + 1, 0 = empty */
	uint32_t slots_cap;
	size_t bytes; /* accounted, part of the experiment's bytes */
} trk_sc_col;

/* The metric column value of a run that has no such metric: a NaN whose
 * payload no stored value carries (stored NaNs are made canonical). */
#define TRK_SC_ABSENT_BITS 0x7ff4c41a1e5ab5e7ULL
static inline bool trk_sc_absent(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	return b == TRK_SC_ABSENT_BITS;
}

/* One cached experiment: its runs, densely, and its interned keys. Readers
 * hold lock shared; loading and maintenance hold it exclusive. */
typedef struct trk_sc_exp {
	uint64_t id;
	char id_str[24];
	uint32_t id_len;
	pthread_rwlock_t lock;
	bool loaded;
	int pins;           /* under the cache's mutex: users that may touch it */
	uint64_t last_used; /* LRU tick, under the cache's mutex */
	size_t bytes;       /* accounted memory, under lock (exclusive) */
	trk_sc_run *runs;
	uint32_t nruns, runs_cap;
	uint32_t *run_slots; /* open addressing: run index + 1, 0 = empty */
	uint32_t run_slots_cap;
	char **keys; /* interned key strings (NUL-terminated), by id */
	uint32_t *key_lens;
	uint32_t nkeys, keys_cap;
	uint32_t *key_slots; /* open addressing: key id + 1, 0 = empty */
	uint32_t key_slots_cap;
	trk_sc_col *cols[TRK_SC_MAX_COLS]; /* built on demand by searches */
	uint32_t ncols;
} trk_sc_exp;

/* The id of key (len bytes) in e, or TRK_SC_NONE. Caller holds e->lock. */
uint32_t trk_sc_key_find(const trk_sc_exp *e, const char *key, size_t len);
/* The run with this id in e, or NULL. Caller holds e->lock. */
const trk_sc_run *trk_sc_run_find(const trk_sc_exp *e, const uint8_t id[16]);

/* A column a search would like: kind and key string. */
typedef struct trk_sc_need {
	int kind;
	const char *key;
} trk_sc_need;

/* Like trk_search_cache_acquire, and builds (best effort: memory, the column
 * cap) the columns of needs that e lacks before returning it read-locked. */
cn_code trk_search_cache_acquire_cols(trk_state *s, uint64_t exp, const trk_sc_need *needs,
                                      size_t n, trk_sc_exp **out, cn_err *err);
/* e's column of (kind, key), or NULL; stamps it used. Caller holds e->lock. */
const trk_sc_col *trk_sc_col_find(const trk_sc_exp *e, int kind, uint32_t key);

/* ---- run_columns.c: column upkeep, under e->lock held exclusively ------- */
/* Build the missing columns of needs (key ids; TRK_SC_NONE ones skipped),
 * evicting least recently used columns not among needs past the cap. */
void trk_sc_cols_ensure(trk_sc_exp *e, const int *kinds, const uint32_t *keys, size_t n);
/* Whether some column of needs that could be built is missing. */
bool trk_sc_cols_missing(const trk_sc_exp *e, const int *kinds, const uint32_t *keys, size_t n);
/* runs_cap is about to become cap: grow every column (a column that cannot
 * grow is dropped: columns are an index, the blobs stay the truth). */
void trk_sc_cols_reserve(trk_sc_exp *e, uint32_t cap);
/* Run idx now holds *r (had_old: it replaced a run whose values are still in
 * the columns). */
void trk_sc_cols_set(trk_sc_exp *e, uint32_t idx, const trk_sc_run *r, bool had_old);
/* Run idx goes away and run last moves into its place (idx == last: none). */
void trk_sc_cols_remove(trk_sc_exp *e, uint32_t idx, uint32_t last);
/* Drop every column. */
void trk_sc_cols_free(trk_sc_exp *e);

#endif
