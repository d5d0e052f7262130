/*
 * core/tracking/run_search.c: SearchRuns -- MLflow's filter language over
 * metrics (latest values), params, tags, run attributes and dataset inputs
 * (datasets.name/digest/context, any input matching), order_by (default
 * start_time DESC, then run_id ASC as the final tie-breaker, so the order is
 * total), view types and keyset page tokens bound to the query.
 *
 * Runs come from the in-memory search cache (run_cache.c): each searched
 * experiment is pinned and read-locked (in ascending id order), with the
 * columns (run_columns.c) of the metric, param and tag keys the query
 * filters or sorts on; clauses on those keys are scans of one array each,
 * the most selective first, and only the runs they leave are checked against
 * the view and the other clauses (key ids resolved once per query); only the
 * best `max_results` are kept
 * (quickselect over a buffer of twice that, so a first page of 100 out of
 * 100k matches costs no full sort). The answer is built while the locks are held.
 *
 * Page tokens (core/search's checksummed, query-bound token) carry the sort
 * key of the last run returned -- each order's value, or its absence -- and
 * the run id; the next page takes only runs strictly after that position in
 * the total order. Runs inserted meanwhile therefore neither shift the pages
 * nor repeat entries; a run whose own sort key changes between pages may
 * move across the position, as in any keyset scheme. When the sort key is
 * too long for a token (long tag or param values), the token carries only
 * the run id, and the position is that run's current sort key. Offset tokens
 * (MLflow's {"offset": N}) are still honoured.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/search/search.h"
#include "core/service.h"
#include "core/tracking/run_cache.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

static const char *const sq_status_names[] = {"",         "RUNNING", "SCHEDULED",
                                              "FINISHED", "FAILED",  "KILLED"};

/* Fixed fields a clause or order may address (attributes, dataset fields). */
enum {
	SQ_NONE,
	SQ_RUN_ID,
	SQ_RUN_NAME,
	SQ_USER_ID,
	SQ_ARTIFACT_URI,
	SQ_STATUS,
	SQ_START_TIME,
	SQ_END_TIME,
	SQ_DS_NAME,
	SQ_DS_DIGEST,
	SQ_DS_CONTEXT,
};

static int sq_field_of(cn_search_entity ent, const char *key)
{
	static const struct {
		const char *name;
		int field;
	} attrs[] = {{"run_id", SQ_RUN_ID},    {"run_name", SQ_RUN_NAME},
	             {"user_id", SQ_USER_ID},  {"artifact_uri", SQ_ARTIFACT_URI},
	             {"status", SQ_STATUS},    {"start_time", SQ_START_TIME},
	             {"end_time", SQ_END_TIME}},
	  ds[] = {{"name", SQ_DS_NAME}, {"digest", SQ_DS_DIGEST}, {"context", SQ_DS_CONTEXT}};
	if (ent == CN_SEARCH_ATTRIBUTE) {
		for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
			if (!strcmp(key, attrs[i].name))
				return attrs[i].field;
	} else if (ent == CN_SEARCH_DATASET) {
		for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
			if (!strcmp(key, ds[i].name))
				return ds[i].field;
	}
	return SQ_NONE;
}

/* The column kind of an entity, or -1 when it has none. */
static int sq_col_kind(cn_search_entity ent)
{
	switch (ent) {
	case CN_SEARCH_METRIC: return TRK_SC_COL_METRIC;
	case CN_SEARCH_PARAM: return TRK_SC_COL_PARAM;
	case CN_SEARCH_TAG: return TRK_SC_COL_TAG;
	default: return -1;
	}
}

/* The query, resolved once. */
typedef struct sq_query {
	const cn_search_clause **clauses;
	int *cfield; /* per clause: SQ_* for attributes and datasets */
	size_t nclauses;
	trk_sort sort;
	int ofield[TRK_MAX_ORDER];
	int view;
} sq_query;

/* One searched experiment and the query's key ids (and columns, when the
 * cache has them) in it. */
typedef struct sq_exp {
	trk_sc_exp *e;
	uint32_t *ckeys; /* per clause */
	const trk_sc_col **ccols;
	uint32_t okeys[TRK_MAX_ORDER];
	const trk_sc_col *ocols[TRK_MAX_ORDER];
} sq_exp;

typedef struct sq_cand {
	const trk_sc_run *r;
	const sq_exp *x;
} sq_cand;

static void sq_hex(const uint8_t id[16], char hex[33])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	hex[32] = '\0';
}

static const trk_sc_metric *sq_metric(const trk_sc_run *r, uint32_t key)
{
	const trk_sc_metric *m = trk_sc_metrics(r);
	size_t lo = 0, hi = r->nmetrics;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nmetrics && m[lo].key == key ? &m[lo] : NULL;
}

static const trk_sc_str *sq_str(const trk_sc_str *a, uint32_t n, uint32_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo].key == key ? &a[lo] : NULL;
}

/* The value of a single-valued field of run r (of x) from column col, when
 * given, or the run's blob; false when it has none. hex is scratch that must
 * outlive *out (run_id). */
static bool sq_value(const sq_exp *x, const trk_sc_col *col, const trk_sc_run *r,
                     cn_search_entity ent, int field, uint32_t key, char hex[33],
                     cn_search_value *out)
{
	const trk_sc_str *s;
	if (col) {
		size_t j = (size_t)(r - x->e->runs);
		if (col->num) {
			if (trk_sc_absent(col->num[j]))
				return false;
			*out = cn_search_value_double(col->num[j]);
			return true;
		}
		uint32_t v = col->vid[j];
		if (v == TRK_SC_NONE)
			return false;
		*out = cn_search_value_strn(col->vals[v].s, col->vals[v].len);
		return true;
	}
	switch (ent) {
	case CN_SEARCH_METRIC: {
		const trk_sc_metric *m = key == TRK_SC_NONE ? NULL : sq_metric(r, key);
		if (!m)
			return false;
		*out = cn_search_value_double(m->value);
		return true;
	}
	case CN_SEARCH_PARAM:
	case CN_SEARCH_TAG:
		if (key == TRK_SC_NONE)
			return false;
		s = ent == CN_SEARCH_PARAM ? sq_str(trk_sc_params(r), r->nparams, key)
		                           : sq_str(trk_sc_tags(r), r->ntags, key);
		if (!s)
			return false;
		*out = cn_search_value_strn(trk_sc_bytes(r, s->off), s->len);
		return true;
	case CN_SEARCH_ATTRIBUTE: break;
	default: return false;
	}
	switch (field) {
	case SQ_RUN_ID:
		sq_hex(r->id, hex);
		*out = cn_search_value_strn(hex, 32);
		return true;
	case SQ_RUN_NAME:
		*out = cn_search_value_strn(trk_sc_bytes(r, r->name_off), r->name_len);
		return true;
	case SQ_USER_ID:
		*out = cn_search_value_strn(trk_sc_bytes(r, r->user_off), r->user_len);
		return true;
	case SQ_ARTIFACT_URI:
		*out = cn_search_value_strn(trk_sc_bytes(r, r->uri_off), r->uri_len);
		return true;
	case SQ_STATUS:
		if (r->status < 1 || r->status > 5)
			return false;
		*out = cn_search_value_str(sq_status_names[r->status]);
		return true;
	case SQ_START_TIME: *out = cn_search_value_int(r->start_time); return true;
	case SQ_END_TIME:
		if (!r->has_end_time)
			return false;
		*out = cn_search_value_int(r->end_time);
		return true;
	default: return false;
	}
}

/* datasets.*: any input whose field matches (context may be absent). */
static bool sq_dataset_match(const trk_sc_run *r, const cn_search_clause *c, int field)
{
	const trk_sc_input *in = trk_sc_inputs(r);
	for (uint32_t i = 0; i < r->ninputs; i++) {
		uint32_t off, len;
		if (field == SQ_DS_NAME) {
			off = in[i].name_off;
			len = in[i].name_len;
		} else if (field == SQ_DS_DIGEST) {
			off = in[i].digest_off;
			len = in[i].digest_len;
		} else if (field == SQ_DS_CONTEXT && in[i].ctx_len != TRK_SC_NONE) {
			off = in[i].ctx_off;
			len = in[i].ctx_len;
		} else {
			continue;
		}
		cn_search_value v = cn_search_value_strn(trk_sc_bytes(r, off), len);
		if (cn_search_clause_match(c, &v))
			return true;
	}
	return false;
}

static bool sq_view_ok(const trk_sc_run *r, int view)
{
	if (view == CN_ViewType_ALL)
		return true;
	return view == CN_ViewType_DELETED_ONLY ? !r->active : r->active;
}

/* ---- filtering over columns ------------------------------------------------ */

/* How one clause is applied: a scan of a metric column, a scan of a param
 * or tag column through a per-value table, or per run (attributes, datasets,
 * keys without a column). */
enum { SQ_STEP_NUM, SQ_STEP_DICT, SQ_STEP_RUN };

typedef struct sq_step {
	size_t k; /* clause index */
	int how;
	uint64_t est;    /* runs it is expected to keep: the evaluation order */
	uint8_t *ok;     /* DICT: whether each value id matches */
	bool ok_missing; /* DICT: whether a run without the key matches */
} sq_step;

static int sq_step_cmp(const void *a, const void *b)
{
	const sq_step *x = a, *y = b;
	if (x->how == SQ_STEP_RUN || y->how == SQ_STEP_RUN)
		return (x->how == SQ_STEP_RUN) - (y->how == SQ_STEP_RUN);
	return (x->est > y->est) - (x->est < y->est);
}

/* The DICT table of clause c over column col: each live value is matched
 * once; *est counts the runs that will pass. */
static bool sq_dict_table(const cn_search_clause *c, const trk_sc_col *col, uint32_t nruns,
                          sq_step *st)
{
	st->ok = malloc(col->nvals ? col->nvals : 1);
	if (!st->ok)
		return false;
	uint64_t with = 0, kept = 0;
	for (uint32_t v = 0; v < col->nvals; v++) {
		const trk_sc_val *x = &col->vals[v];
		cn_search_value val = cn_search_value_strn(x->s, x->len);
		st->ok[v] = x->refs && cn_search_clause_match(c, &val);
		with += x->refs;
		kept += st->ok[v] ? x->refs : 0;
	}
	st->ok_missing = c->op == CN_SEARCH_IS_NULL;
	st->est = kept + (st->ok_missing && nruns > with ? nruns - with : 0);
	return true;
}

/* Keep the runs of sel[0..n) (all of 0..n when all) whose metric column
 * value satisfies c; returns how many, compacted into sel. IEEE comparisons
 * are MLflow's here: NaN (and the absent marker, a NaN) fail every ordered
 * comparison and pass != -- except that a run without the metric fails !=. */
static size_t sq_keep_num(const cn_search_clause *c, const double *num, uint32_t *sel, size_t n,
                          bool all)
{
	size_t m = 0;
	double w = c->value.num;
/* One loop per comparator, so the comparison is not chosen per run. */
#define SQ_KEEP(cond)                                    \
	for (size_t i = 0; i < n; i++) {                 \
		uint32_t j = all ? (uint32_t)i : sel[i]; \
		double d = num[j];                       \
		if (cond)                                \
			sel[m++] = j;                    \
	}
	if (c->op == CN_SEARCH_IS_NULL) {
		SQ_KEEP(trk_sc_absent(d))
	} else if (c->op == CN_SEARCH_IS_NOT_NULL) {
		SQ_KEEP(!trk_sc_absent(d))
	} else if (c->value.type != CN_SEARCH_V_NUMBER) {
		return 0; /* a string or list never matches a number */
	} else {
		switch (c->op) {
		case CN_SEARCH_EQ: SQ_KEEP(d == w) break;
		case CN_SEARCH_NE: SQ_KEEP(d != w && !trk_sc_absent(d)) break;
		case CN_SEARCH_LT: SQ_KEEP(d < w) break;
		case CN_SEARCH_LE: SQ_KEEP(d <= w) break;
		case CN_SEARCH_GT: SQ_KEEP(d > w) break;
		case CN_SEARCH_GE: SQ_KEEP(d >= w) break;
		default: return 0;
		}
	}
#undef SQ_KEEP
	return m;
}

static size_t sq_keep_dict(const sq_step *st, const uint32_t *vid, uint32_t *sel, size_t n,
                           bool all)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t j = all ? (uint32_t)i : sel[i];
		uint32_t v = vid[j];
		if (v == TRK_SC_NONE ? st->ok_missing : st->ok[v])
			sel[m++] = j;
	}
	return m;
}

/* One clause against run r, from its blob (or columns for the value). */
static bool sq_match_one(const sq_query *q, const sq_exp *x, const trk_sc_run *r, size_t k)
{
	const cn_search_clause *c = q->clauses[k];
	if (c->entity == CN_SEARCH_DATASET)
		return sq_dataset_match(r, c, q->cfield[k]);
	char hex[33];
	cn_search_value v;
	bool have = sq_value(x, x->ccols[k], r, c->entity, q->cfield[k], x->ckeys[k], hex, &v);
	return c->op == CN_SEARCH_IS_NULL ? !have : have && cn_search_clause_match(c, &v);
}

/* Apply the filter's column clauses to x's runs, those expected to keep
 * fewest runs first, so each later step looks at fewer runs: the indexes of
 * the runs left, ascending, go into sel (room for every run) and their count
 * into *n -- or, when no clause has a column, *all is set and sel is left
 * alone (every run is left). The plan goes to *steps (sq_steps_free); the
 * caller checks the view and sq_rest_ok on each run left, in the same pass
 * as it ranks them, so the runs array is walked once. */
static cn_code sq_filter_columns(const sq_query *q, const sq_exp *x, uint32_t *sel, size_t *n,
                                 bool *all_out, sq_step **steps_out, cn_err *err)
{
	const trk_sc_exp *e = x->e;
	sq_step *steps = calloc(q->nclauses ? q->nclauses : 1, sizeof *steps);
	if (!steps)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (size_t k = 0; k < q->nclauses; k++) {
		const trk_sc_col *col = x->ccols[k];
		steps[k].k = k;
		steps[k].how = !col ? SQ_STEP_RUN : col->num ? SQ_STEP_NUM : SQ_STEP_DICT;
		/* A range on a metric keeps half the runs, as a guess. */
		steps[k].est = e->nruns / 2;
		if (steps[k].how == SQ_STEP_DICT &&
		    !sq_dict_table(q->clauses[k], col, e->nruns, &steps[k]))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	if (q->nclauses > 1)
		qsort(steps, q->nclauses, sizeof *steps, sq_step_cmp);
	size_t m = e->nruns;
	bool all = true; /* sel is still 0..m-1, not materialised */
	for (size_t s = 0; rc == CN_OK && s < q->nclauses && m; s++) {
		const sq_step *st = &steps[s];
		if (st->how == SQ_STEP_RUN)
			break; /* these go with the view check below */
		const trk_sc_col *col = x->ccols[st->k];
		m = st->how == SQ_STEP_NUM ? sq_keep_num(q->clauses[st->k], col->num, sel, m, all)
		                           : sq_keep_dict(st, col->vid, sel, m, all);
		all = false;
	}
	*n = m;
	*all_out = all;
	*steps_out = steps;
	return rc;
}

/* Whether run r passes the clauses sq_filter_columns left to do per run. */
static bool sq_rest_ok(const sq_query *q, const sq_exp *x, const sq_step *steps,
                       const trk_sc_run *r)
{
	for (size_t s = 0; s < q->nclauses; s++)
		if (steps[s].how == SQ_STEP_RUN && !sq_match_one(q, x, r, steps[s].k))
			return false;
	return true;
}

static void sq_steps_free(const sq_query *q, sq_step *steps)
{
	for (size_t k = 0; steps && k < q->nclauses; k++)
		free(steps[k].ok);
	free(steps);
}

/* Total order of two candidates: the sort's orders, then the run id. */
static int sq_cmp(const sq_query *q, const sq_cand *a, const sq_cand *b)
{
	for (size_t i = 0; i < q->sort.norders; i++) {
		const cn_search_order *o = &q->sort.orders[i];
		char ha[33], hb[33];
		cn_search_value va, vb;
		bool pa = sq_value(a->x, a->x->ocols[i], a->r, o->entity, q->ofield[i],
		                   a->x->okeys[i], ha, &va);
		bool pb = sq_value(b->x, b->x->ocols[i], b->r, o->entity, q->ofield[i],
		                   b->x->okeys[i], hb, &vb);
		int c = cn_search_order_compare(o, pa ? &va : NULL, pb ? &vb : NULL);
		if (c)
			return c;
	}
	return memcmp(a->r->id, b->r->id, 16);
}

static int sq_cmp_qsort(const void *a, const void *b, void *arg)
{
	return sq_cmp(arg, a, b);
}

/* ---- the position a page token carries ----------------------------------- */

typedef struct sq_cursor {
	bool set;
	bool present[TRK_MAX_ORDER];
	cn_search_value v[TRK_MAX_ORDER]; /* strings point into the token */
	uint8_t id[16];
} sq_cursor;

enum { SQ_TOK_VALUES = 'K', SQ_TOK_ANCHOR = 'A' };
enum { SQ_V_MISSING, SQ_V_INT, SQ_V_DOUBLE, SQ_V_STRING };

static void sq_put_u64(cn_buf *b, uint64_t v)
{
	uint8_t p[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
	cn_buf_append(b, p, 8);
}

static uint64_t sq_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The key of run c's position: values of each order, then the run id; or,
 * when that does not fit a token, the run id alone (anchor). */
static void sq_position_encode(const sq_query *q, const sq_cand *c, cn_buf *out)
{
	cn_buf_putc(out, (char)SQ_TOK_VALUES);
	cn_buf_putc(out, (char)q->sort.norders);
	for (size_t i = 0; i < q->sort.norders; i++) {
		const cn_search_order *o = &q->sort.orders[i];
		char hex[33];
		cn_search_value v;
		if (!sq_value(c->x, c->x->ocols[i], c->r, o->entity, q->ofield[i], c->x->okeys[i],
		              hex, &v)) {
			cn_buf_putc(out, SQ_V_MISSING);
		} else if (v.type == CN_SEARCH_V_NUMBER && v.is_int) {
			cn_buf_putc(out, SQ_V_INT);
			sq_put_u64(out, (uint64_t)v.i);
		} else if (v.type == CN_SEARCH_V_NUMBER) {
			uint64_t bits;
			memcpy(&bits, &v.num, sizeof bits);
			cn_buf_putc(out, SQ_V_DOUBLE);
			sq_put_u64(out, bits);
		} else {
			cn_buf_putc(out, SQ_V_STRING);
			sq_put_u64(out, v.len);
			cn_buf_append(out, v.str, v.len);
		}
	}
	cn_buf_append(out, c->r->id, 16);
	if (out->len > CN_SEARCH_TOKEN_KEY_MAX) {
		cn_buf_reset(out);
		cn_buf_putc(out, (char)SQ_TOK_ANCHOR);
		cn_buf_append(out, c->r->id, 16);
	}
}

static cn_code sq_bad_token(cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid page token, could not decode its position");
}

/* Decode a values key into *cur (strings point into t). */
static cn_code sq_position_decode(const sq_query *q, const cn_search_token *t, sq_cursor *cur,
                                  bool *anchor, cn_err *err)
{
	const uint8_t *p = t->key;
	size_t n = t->key_len, at = 0;
	*anchor = false;
	if (n == 17 && p[0] == SQ_TOK_ANCHOR) {
		memcpy(cur->id, p + 1, 16);
		*anchor = true;
		return CN_OK;
	}
	if (n < 2 || p[0] != SQ_TOK_VALUES || p[1] != q->sort.norders)
		return sq_bad_token(err);
	at = 2;
	for (size_t i = 0; i < q->sort.norders; i++) {
		if (at >= n)
			return sq_bad_token(err);
		uint8_t type = p[at++];
		cur->present[i] = type != SQ_V_MISSING;
		if (type == SQ_V_MISSING)
			continue;
		if (n - at < 8)
			return sq_bad_token(err);
		uint64_t u = sq_get_u64(p + at);
		at += 8;
		if (type == SQ_V_INT) {
			cur->v[i] = cn_search_value_int((int64_t)u);
		} else if (type == SQ_V_DOUBLE) {
			double d;
			memcpy(&d, &u, sizeof d);
			cur->v[i] = cn_search_value_double(d);
		} else if (type == SQ_V_STRING && u <= n - at) {
			cur->v[i] = cn_search_value_strn((const char *)p + at, (size_t)u);
			at += (size_t)u;
		} else {
			return sq_bad_token(err);
		}
	}
	if (n - at != 16)
		return sq_bad_token(err);
	memcpy(cur->id, p + at, 16);
	cur->set = true;
	return CN_OK;
}

/* Whether run c comes strictly after the cursor. */
static bool sq_after(const sq_query *q, const sq_cursor *cur, const sq_cand *c)
{
	for (size_t i = 0; i < q->sort.norders; i++) {
		const cn_search_order *o = &q->sort.orders[i];
		char hex[33];
		cn_search_value v;
		bool have = sq_value(c->x, c->x->ocols[i], c->r, o->entity, q->ofield[i],
		                     c->x->okeys[i], hex, &v);
		int r = cn_search_order_compare(o, have ? &v : NULL,
		                                cur->present[i] ? &cur->v[i] : NULL);
		if (r)
			return r > 0;
	}
	return memcmp(c->r->id, cur->id, 16) > 0;
}

/* An anchor token: the position is the anchor run's current sort key. */
static cn_code sq_anchor_resolve(const sq_query *q, const sq_exp *xs, size_t nx, sq_cursor *cur,
                                 char (*hexes)[33], cn_err *err)
{
	for (size_t i = 0; i < nx; i++) {
		const trk_sc_run *r = trk_sc_run_find(xs[i].e, cur->id);
		if (!r)
			continue;
		for (size_t k = 0; k < q->sort.norders; k++) {
			const cn_search_order *o = &q->sort.orders[k];
			cur->present[k] =
			        sq_value(&xs[i], xs[i].ocols[k], r, o->entity, q->ofield[k],
			                 xs[i].okeys[k], hexes[k], &cur->v[k]);
		}
		cur->set = true;
		return CN_OK;
	}
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid page token, the run it continues from no longer exists");
}

/* ---- top-k ----------------------------------------------------------------- */

typedef struct sq_topk {
	sq_cand *c; /* cap slots */
	size_t n, k, cap;
	bool bounded; /* thr holds the worst of the k best so far */
	sq_cand thr;
	const sq_query *q;
} sq_topk;

static void sq_swap(sq_cand *a, ptrdiff_t i, ptrdiff_t j)
{
	sq_cand t = a[i];
	a[i] = a[j];
	a[j] = t;
}

/* Reorder a[0..n) so a[k] is what a sort would put there, with everything
 * before it smaller and everything after it larger (quickselect). */
static void sq_select(const sq_query *q, sq_cand *a, size_t n, size_t k)
{
	ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
	while (lo < hi) {
		ptrdiff_t mid = lo + (hi - lo) / 2;
		if (sq_cmp(q, &a[mid], &a[lo]) < 0)
			sq_swap(a, mid, lo);
		if (sq_cmp(q, &a[hi], &a[lo]) < 0)
			sq_swap(a, hi, lo);
		if (sq_cmp(q, &a[hi], &a[mid]) < 0)
			sq_swap(a, hi, mid);
		sq_cand pivot = a[mid];
		ptrdiff_t i = lo, j = hi;
		while (i <= j) {
			while (sq_cmp(q, &a[i], &pivot) < 0)
				i++;
			while (sq_cmp(q, &a[j], &pivot) > 0)
				j--;
			if (i <= j)
				sq_swap(a, i++, j--);
		}
		if (kk <= j)
			hi = j;
		else if (kk >= i)
			lo = i;
		else
			return;
	}
}

/* Keep only the k best of t's candidates; remember the worst of them. */
static void sq_topk_trim(sq_topk *t)
{
	if (t->n <= t->k)
		return;
	sq_select(t->q, t->c, t->n, t->k - 1);
	t->n = t->k;
	t->thr = t->c[t->k - 1];
	t->bounded = true;
}

/* The k best candidates in O(candidates) whatever their order (runs are
 * often stored in start_time order, which would make a heap sift on every
 * insert): candidates worse than the k-th best so far cost one comparison;
 * the others fill a buffer of 2k that is cut back to k by quickselect. */
static void sq_topk_add(sq_topk *t, sq_cand c)
{
	if (t->bounded && sq_cmp(t->q, &c, &t->thr) >= 0)
		return;
	t->c[t->n++] = c;
	if (t->n == t->cap)
		sq_topk_trim(t);
}

/* ---- the request ------------------------------------------------------------ */

static void sq_fingerprint(cn_buf *fp, cn_fb_vec exps, cn_fb_str filter, cn_fb_vec ob, int view)
{
	cn_buf_printf(fp, "runs|v%d|%u", view, (unsigned)exps.n);
	for (uint32_t i = 0; i < exps.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(exps, i));
	trk_fp_str(fp, filter);
	for (uint32_t i = 0; i < ob.n; i++)
		trk_fp_str(fp, cn_fb_vec_str(ob, i));
}

static int sq_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Distinct valid experiment ids, ascending (the lock order). Unknown or
 * malformed ids contribute nothing, as in MLflow. */
static size_t sq_experiment_ids(cn_fb_vec exps, uint64_t *out)
{
	size_t n = 0;
	for (uint32_t i = 0; i < exps.n; i++) {
		cn_fb_str e = cn_fb_vec_str(exps, i);
		uint64_t id;
		if (e.ptr && trk_parse_experiment_id(e.ptr, e.len, &id))
			out[n++] = id;
	}
	qsort(out, n, sizeof *out, sq_u64_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (!m || out[m - 1] != out[i])
			out[m++] = out[i];
	return m;
}

static void sq_run_view(const trk_sc_run *r, const trk_sc_exp *e, trk_run *out)
{
	memset(out, 0, sizeof *out);
	memcpy(out->id, r->id, 16);
	sq_hex(r->id, out->hex);
	if (r->present & TRK_SC_HAS_NAME)
		out->run_name = (cn_fb_str){trk_sc_bytes(r, r->name_off), r->name_len};
	if (r->present & TRK_SC_HAS_USER)
		out->user_id = (cn_fb_str){trk_sc_bytes(r, r->user_off), r->user_len};
	if (r->present & TRK_SC_HAS_URI)
		out->artifact_uri = (cn_fb_str){trk_sc_bytes(r, r->uri_off), r->uri_len};
	out->experiment_id = (cn_fb_str){e->id_str, e->id_len};
	out->lifecycle_stage = r->active ? trk_active_stage : trk_deleted_stage;
	out->status = r->status;
	out->start_time = r->start_time;
	out->end_time = r->end_time;
	out->has_end_time = r->has_end_time;
}

/* Key order of the store (cn_key_str is order-preserving: bytewise, a
 * prefix first), so answers list entries as runs/get does. */
typedef struct sq_key_order {
	const trk_sc_exp *e;
	const void *base;
	size_t stride; /* entries start with their uint32_t key id */
} sq_key_order;

static int sq_key_cmp(const void *a, const void *b, void *arg)
{
	const sq_key_order *o = arg;
	uint32_t x, y;
	memcpy(&x, (const char *)o->base + *(const uint32_t *)a * o->stride, sizeof x);
	memcpy(&y, (const char *)o->base + *(const uint32_t *)b * o->stride, sizeof y);
	uint32_t lx = o->e->key_lens[x], ly = o->e->key_lens[y];
	int c = memcmp(o->e->keys[x], o->e->keys[y], lx < ly ? lx : ly);
	return c ? c : (lx > ly) - (lx < ly);
}

/* Indexes 0..n-1 of entries in key order, into idx. */
static void sq_key_sort(const trk_sc_exp *e, const void *base, size_t stride, uint32_t n,
                        uint32_t *idx)
{
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	sq_key_order o = {e, base, stride};
	if (n > 1)
		qsort_r(idx, n, sizeof *idx, sq_key_cmp, &o);
}

static cn_fb_ref sq_key_str(cn_fb_builder *b, const trk_sc_exp *e, uint32_t key)
{
	return cn_fb_create_string(b, e->keys[key], e->key_lens[key]);
}

/* Params or tags of r as a vector of Param / RunTag tables (0 when none). */
static cn_fb_ref sq_build_strs(cn_fb_builder *b, const trk_sc_exp *e, const trk_sc_run *r,
                               const trk_sc_str *a, uint32_t n, bool param, uint32_t *idx,
                               cn_fb_ref *refs)
{
	if (!n)
		return 0;
	sq_key_sort(e, a, sizeof *a, n, idx);
	for (uint32_t i = 0; i < n; i++) {
		const trk_sc_str *s = &a[idx[i]];
		cn_fb_ref k = sq_key_str(b, e, s->key);
		cn_fb_ref v = cn_fb_create_string(b, trk_sc_bytes(r, s->off), s->len);
		if (param) {
			cn_Param_start(b);
			cn_Param_add_key(b, k);
			cn_Param_add_value(b, v);
			refs[i] = cn_Param_end(b);
		} else {
			cn_RunTag_start(b);
			cn_RunTag_add_key(b, k);
			cn_RunTag_add_value(b, v);
			refs[i] = cn_RunTag_end(b);
		}
	}
	return cn_fb_create_vec_refs(b, refs, n);
}

/* The Run table of runs/get, from the cache: the store is read only for the
 * inputs of runs that have any. */
static cn_code sq_run_build(trk_state *s, cn_fb_builder *b, const sq_cand *c, cn_fb_ref *out,
                            cn_err *err)
{
	const trk_sc_run *r = c->r;
	const trk_sc_exp *e = c->x->e;
	uint32_t most = r->nmetrics > r->nparams ? r->nmetrics : r->nparams;
	most = most > r->ntags ? most : r->ntags;
	uint32_t *idx = malloc((most ? most : 1) * sizeof *idx);
	cn_fb_ref *refs = malloc((most ? most : 1) * sizeof *refs);
	if (!idx || !refs) {
		free(idx);
		free(refs);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	trk_run view;
	sq_run_view(r, e, &view);
	cn_fb_ref metrics = 0;
	if (r->nmetrics) {
		const trk_sc_metric *m = trk_sc_metrics(r);
		sq_key_sort(e, m, sizeof *m, r->nmetrics, idx);
		for (uint32_t i = 0; i < r->nmetrics; i++) {
			const trk_sc_metric *mi = &m[idx[i]];
			cn_fb_ref k = sq_key_str(b, e, mi->key);
			cn_Metric_start(b);
			cn_Metric_add_key(b, k);
			cn_Metric_add_value(b, mi->value);
			cn_Metric_add_timestamp(b, mi->timestamp);
			cn_Metric_add_step(b, mi->step);
			refs[i] = cn_Metric_end(b);
		}
		metrics = cn_fb_create_vec_refs(b, refs, r->nmetrics);
	}
	cn_fb_ref params = sq_build_strs(b, e, r, trk_sc_params(r), r->nparams, true, idx, refs);
	cn_fb_ref tags = sq_build_strs(b, e, r, trk_sc_tags(r), r->ntags, false, idx, refs);
	free(idx);
	free(refs);
	cn_fb_ref info = trk_run_info_build(b, &view);
	cn_RunData_start(b);
	if (metrics)
		cn_RunData_add_metrics(b, metrics);
	if (params)
		cn_RunData_add_params(b, params);
	if (tags)
		cn_RunData_add_tags(b, tags);
	cn_fb_ref data = cn_RunData_end(b);
	cn_fb_ref inputs = 0;
	if (r->ninputs || (r->present & TRK_SC_HAS_MODEL_INPUTS)) {
		cn_code rc = trk_run_inputs_build(s, b, &view, &inputs, err);
		if (rc != CN_OK)
			return rc;
	} else {
		cn_RunInputs_start(b);
		inputs = cn_RunInputs_end(b);
	}
	cn_Run_start(b);
	cn_Run_add_info(b, info);
	cn_Run_add_data(b, data);
	cn_Run_add_inputs(b, inputs);
	*out = cn_Run_end(b);
	return CN_OK;
}

/* Select, order and build the page (experiments acquired). */
static cn_code sq_page(trk_state *s, const sq_query *q, sq_exp *xs, size_t nx,
                       const cn_search_token *tok, const cn_buf *fp, int64_t max, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	sq_cursor cur = {0};
	char anchor_hex[TRK_MAX_ORDER][33];
	cn_code rc = CN_OK;
	uint64_t skip = 0;
	if (tok->key_len) {
		bool anchor;
		rc = sq_position_decode(q, tok, &cur, &anchor, err);
		if (rc == CN_OK && anchor)
			rc = sq_anchor_resolve(q, xs, nx, &cur, anchor_hex, err);
	} else {
		skip = tok->offset; /* an offset token (MLflow's own, or older Cairn) */
	}
	if (rc != CN_OK)
		return rc;
	size_t in_scope = 0;
	for (size_t i = 0; i < nx; i++)
		in_scope += xs[i].e->nruns;
	uint64_t want = skip + (uint64_t)max;
	sq_topk t = {.q = q};
	t.k = want < in_scope ? (size_t)want : in_scope;
	t.cap = t.k < in_scope / 2 ? 2 * t.k : in_scope;
	t.c = malloc((t.cap ? t.cap : 1) * sizeof *t.c);
	if (!t.c)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	uint64_t total = 0;
	size_t most = 0;
	for (size_t i = 0; i < nx; i++)
		most = xs[i].e->nruns > most ? xs[i].e->nruns : most;
	uint32_t *sel = malloc((most ? most : 1) * sizeof *sel);
	if (!sel) {
		free(t.c);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	for (size_t i = 0; rc == CN_OK && i < nx; i++) {
		const trk_sc_exp *e = xs[i].e;
		size_t n = 0;
		bool all = false;
		sq_step *steps = NULL;
		rc = sq_filter_columns(q, &xs[i], sel, &n, &all, &steps, err);
		for (size_t j = 0; rc == CN_OK && j < n; j++) {
			sq_cand c = {&e->runs[all ? (uint32_t)j : sel[j]], &xs[i]};
			if (!sq_view_ok(c.r, q->view) || !sq_rest_ok(q, &xs[i], steps, c.r))
				continue;
			if (cur.set && !sq_after(q, &cur, &c))
				continue;
			total++;
			if (t.k)
				sq_topk_add(&t, c);
		}
		sq_steps_free(q, steps);
	}
	free(sel);
	if (rc != CN_OK) {
		free(t.c);
		return rc;
	}
	if (t.k)
		sq_topk_trim(&t);
	if (t.n > 1)
		qsort_r(t.c, t.n, sizeof *t.c, sq_cmp_qsort, (void *)q);
	size_t start = skip < t.n ? (size_t)skip : t.n;
	size_t end = t.n;
	cn_fb_ref *refs = malloc((end - start + 1) * sizeof *refs);
	if (!refs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = start; rc == CN_OK && i < end; i++)
		rc = sq_run_build(s, b, &t.c[i], &refs[i - start], err);
	cn_fb_ref next = 0;
	if (rc == CN_OK && end > start && total > want) {
		cn_buf key = CN_BUF_INIT, tb = CN_BUF_INIT;
		sq_position_encode(q, &t.c[end - 1], &key);
		cn_search_token nt = {.offset = 0, .key_len = key.len};
		if (cn_buf_failed(&key) || key.len > sizeof nt.key)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		else
			memcpy(nt.key, key.p, key.len);
		if (rc == CN_OK)
			rc = cn_search_token_encode(&nt, fp->p, fp->len, &tb, err);
		if (rc == CN_OK)
			next = cn_fb_create_string(b, tb.p, tb.len);
		cn_buf_free(&key);
		cn_buf_free(&tb);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = end > start ? cn_fb_create_vec_refs(b, refs, end - start) : 0;
		cn_SearchRunsResponse_start(b);
		if (vec)
			cn_SearchRunsResponse_add_runs(b, vec);
		if (next)
			cn_SearchRunsResponse_add_next_page_token(b, next);
		*resp = cn_SearchRunsResponse_end(b);
	}
	free(refs);
	free(t.c);
	return rc;
}

cn_code trk_search_runs(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                        cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	int64_t max = cn_SearchRuns_has_max_results(req) ? cn_SearchRuns_max_results(req)
	                                                 : TRK_SEARCH_DEFAULT;
	cn_code rc = trk_check_max_results(max, err);
	if (rc != CN_OK)
		return rc;
	sq_query q = {.view = cn_SearchRuns_has_run_view_type(req)
	                              ? cn_SearchRuns_run_view_type(req)
	                              : CN_ViewType_ACTIVE_ONLY};
	cn_fb_vec exps = cn_SearchRuns_experiment_ids(req);
	cn_fb_str filter = cn_SearchRuns_filter(req);
	cn_fb_vec ob = cn_SearchRuns_order_by(req);
	cn_fb_str tok = cn_SearchRuns_page_token(req);

	rc = trk_search_orders(&cn_search_dialect_runs, ob, &q.sort, err);
	if (rc != CN_OK)
		return rc;
	for (size_t i = 0; i < q.sort.norders; i++)
		q.ofield[i] = sq_field_of(q.sort.orders[i].entity, q.sort.orders[i].key);
	cn_search_filter *f = NULL;
	rc = cn_search_filter_parse(&cn_search_dialect_runs, filter.ptr, filter.len, &f, err);
	if (rc != CN_OK)
		return rc;
	cn_buf fp = CN_BUF_INIT;
	sq_fingerprint(&fp, exps, filter, ob, q.view);
	cn_search_token token;
	rc = cn_search_token_decode(tok.ptr, tok.len, fp.p, fp.len, &token, err);

	q.nclauses = cn_search_filter_count(f);
	size_t nc = q.nclauses ? q.nclauses : 1;
	q.clauses = malloc(nc * sizeof *q.clauses);
	q.cfield = malloc(nc * sizeof *q.cfield);
	uint64_t *ids = malloc((exps.n ? exps.n : 1) * sizeof *ids);
	sq_exp *xs = calloc(exps.n ? exps.n : 1, sizeof *xs);
	if (rc == CN_OK && (!q.clauses || !q.cfield || !ids || !xs))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t k = 0; rc == CN_OK && k < q.nclauses; k++) {
		q.clauses[k] = cn_search_filter_clause(f, k);
		q.cfield[k] = sq_field_of(q.clauses[k]->entity, q.clauses[k]->key);
	}
	/* The columns the filter and the sort read. */
	trk_sc_need *needs = malloc((nc + TRK_MAX_ORDER) * sizeof *needs);
	size_t nneeds = 0;
	if (rc == CN_OK && !needs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t k = 0; rc == CN_OK && k < q.nclauses; k++)
		if (sq_col_kind(q.clauses[k]->entity) >= 0)
			needs[nneeds++] =
			        (trk_sc_need){sq_col_kind(q.clauses[k]->entity), q.clauses[k]->key};
	for (size_t k = 0; rc == CN_OK && k < q.sort.norders; k++)
		if (sq_col_kind(q.sort.orders[k].entity) >= 0)
			needs[nneeds++] = (trk_sc_need){sq_col_kind(q.sort.orders[k].entity),
			                                q.sort.orders[k].key};
	size_t nx = 0, nids = rc == CN_OK ? sq_experiment_ids(exps, ids) : 0;
	for (size_t i = 0; rc == CN_OK && i < nids; i++) {
		sq_exp *x = &xs[nx];
		x->ckeys = malloc(nc * sizeof *x->ckeys);
		x->ccols = calloc(nc, sizeof *x->ccols);
		if (!x->ckeys || !x->ccols) {
			free(x->ckeys);
			free(x->ccols);
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		rc = trk_search_cache_acquire_cols(s, ids[i], needs, nneeds, &x->e, err);
		if (rc != CN_OK) {
			free(x->ckeys);
			free(x->ccols);
			break;
		}
		nx++;
		for (size_t k = 0; k < q.nclauses; k++) {
			const char *key = q.clauses[k]->key;
			int kind = sq_col_kind(q.clauses[k]->entity);
			x->ckeys[k] = trk_sc_key_find(x->e, key, strlen(key));
			x->ccols[k] = kind < 0 ? NULL : trk_sc_col_find(x->e, kind, x->ckeys[k]);
		}
		for (size_t k = 0; k < q.sort.norders; k++) {
			const char *key = q.sort.orders[k].key;
			int kind = sq_col_kind(q.sort.orders[k].entity);
			x->okeys[k] = trk_sc_key_find(x->e, key, strlen(key));
			x->ocols[k] = kind < 0 ? NULL : trk_sc_col_find(x->e, kind, x->okeys[k]);
		}
	}
	free(needs);
	if (rc == CN_OK)
		rc = sq_page(s, &q, xs, nx, &token, &fp, max, b, resp, err);
	for (size_t i = 0; i < nx; i++) {
		trk_search_cache_release(s, xs[i].e);
		free(xs[i].ckeys);
		free(xs[i].ccols);
	}
	free(xs);
	free(ids);
	free(q.clauses);
	free(q.cfield);
	cn_search_filter_free(f);
	cn_buf_free(&fp);
	return rc;
}
