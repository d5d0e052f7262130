/*
 * core/tracking/run_columns.c: columns of the run search cache.
 *
 * Why. A run's latest metrics, params and tags live in its own blob
 * (run_cache.h), so filtering 100k runs on `metrics.m2 > 0.3` touches 100k
 * separate allocations and binary-searches each. A column holds one key's
 * values for every run of the experiment, by run index: a metric column is a
 * double array (absent = trk_sc_absent's NaN), a param or tag column an array
 * of value ids into a per-column dictionary of distinct values, so a filter
 * is a scan of one array -- a double compare, or one table lookup of whether
 * that distinct value matches (computed once per value and query) -- and the
 * dictionary's reference counts tell how many runs a string clause keeps
 * before scanning, which orders the clauses most selective first.
 *
 * When. Columns are built on demand, by the first search that filters or
 * sorts on the key (under the experiment's exclusive lock, as loads are), and
 * kept up to date by every change of a run from then on; at most
 * TRK_SC_MAX_COLS per experiment, the least recently used dropped first. They
 * are an index, never the truth: a column that cannot grow (out of memory) is
 * dropped and searches fall back to the blobs.
 *
 * Memory: 8 bytes per run for a metric column, 4 for a param or tag column
 * plus its distinct values (bytes + 24 + 8 of hash slots each); accounted in
 * the experiment's bytes, so the search_cache_bytes bound covers them. Values
 * no run holds any more stay in the dictionary (a value that comes back keeps
 * its id) until they outnumber the live ones, when the column is rebuilt.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/tracking/run_cache.h"

#define COL_MALLOC_OVERHEAD 16

static uint64_t col_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static double col_absent(void)
{
	double d;
	uint64_t b = TRK_SC_ABSENT_BITS;
	memcpy(&d, &b, sizeof d);
	return d;
}

static void col_free(trk_sc_col *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->nvals; i++)
		free(c->vals[i].s);
	free(c->vals);
	free(c->slots);
	free(c->num);
	free(c->vid);
	free(c);
}

/* Drop column i of e, accounting its bytes. */
static void col_drop(trk_sc_exp *e, uint32_t i)
{
	e->bytes -= e->cols[i]->bytes;
	col_free(e->cols[i]);
	e->cols[i] = e->cols[--e->ncols];
	e->cols[e->ncols] = NULL;
}

/* A run's value of (kind, key) from its blob. */
static bool col_run_metric(const trk_sc_run *r, uint32_t key, double *out)
{
	const trk_sc_metric *m = trk_sc_metrics(r);
	uint32_t lo = 0, hi = r->nmetrics;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (m[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->nmetrics || m[lo].key != key)
		return false;
	/* One NaN: no stored value may look like the absent marker. */
	*out = isnan(m[lo].value) ? NAN : m[lo].value;
	return true;
}

static const trk_sc_str *col_run_str(const trk_sc_run *r, int kind, uint32_t key)
{
	const trk_sc_str *a = kind == TRK_SC_COL_PARAM ? trk_sc_params(r) : trk_sc_tags(r);
	uint32_t n = kind == TRK_SC_COL_PARAM ? r->nparams : r->ntags;
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (a[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo].key == key ? &a[lo] : NULL;
}

static bool col_slots_grow(trk_sc_col *c)
{
	uint32_t cap = c->slots_cap ? 2 * c->slots_cap : 16;
	uint32_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (uint32_t v = 0; v < c->nvals; v++) {
		uint32_t i = (uint32_t)col_hash(c->vals[v].s, c->vals[v].len) & (cap - 1);
		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = v + 1;
	}
	c->bytes += (size_t)(cap - c->slots_cap) * sizeof *slots;
	free(c->slots);
	c->slots = slots;
	c->slots_cap = cap;
	return true;
}

/* The id of value s (len bytes), added when new; TRK_SC_NONE when out of
 * memory. Takes a reference. */
static uint32_t col_val_ref(trk_sc_col *c, const char *s, uint32_t len)
{
	uint64_t h = col_hash(s, len);
	if (c->slots_cap) {
		uint32_t mask = c->slots_cap - 1;
		for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
			uint32_t v = c->slots[i];
			if (!v)
				break;
			trk_sc_val *x = &c->vals[v - 1];
			if (x->len == len && !memcmp(x->s, s, len)) {
				if (!x->refs++)
					c->nlive++;
				return v - 1;
			}
		}
	}
	if (2 * (c->nvals + 1) > c->slots_cap && !col_slots_grow(c))
		return TRK_SC_NONE;
	if (c->nvals == c->vals_cap) {
		uint32_t nc = c->vals_cap ? 2 * c->vals_cap : 16;
		trk_sc_val *nv = realloc(c->vals, nc * sizeof *nv);
		if (!nv)
			return TRK_SC_NONE;
		c->bytes += (size_t)(nc - c->vals_cap) * sizeof *nv;
		c->vals = nv;
		c->vals_cap = nc;
	}
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return TRK_SC_NONE;
	if (len)
		memcpy(copy, s, len);
	uint32_t id = c->nvals++;
	c->vals[id] = (trk_sc_val){copy, len, 1};
	c->nlive++;
	c->bytes += len + COL_MALLOC_OVERHEAD;
	uint32_t mask = c->slots_cap - 1;
	uint32_t i = (uint32_t)h & mask;
	while (c->slots[i])
		i = (i + 1) & mask;
	c->slots[i] = id + 1;
	return id;
}

static void col_val_unref(trk_sc_col *c, uint32_t v)
{
	if (v != TRK_SC_NONE && !--c->vals[v].refs)
		c->nlive--;
}

/* Fill column c (arrays allocated for cap runs) from e's runs. */
static bool col_fill(const trk_sc_exp *e, trk_sc_col *c)
{
	for (uint32_t j = 0; j < e->nruns; j++) {
		const trk_sc_run *r = &e->runs[j];
		if (c->kind == TRK_SC_COL_METRIC) {
			if (!col_run_metric(r, c->key, &c->num[j]))
				c->num[j] = col_absent();
			continue;
		}
		const trk_sc_str *s = col_run_str(r, c->kind, c->key);
		c->vid[j] = TRK_SC_NONE;
		if (s &&
		    (c->vid[j] = col_val_ref(c, trk_sc_bytes(r, s->off), s->len)) == TRK_SC_NONE)
			return false;
	}
	return true;
}

static trk_sc_col *col_build(const trk_sc_exp *e, int kind, uint32_t key)
{
	trk_sc_col *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->kind = kind;
	c->key = key;
	size_t cap = e->runs_cap ? e->runs_cap : 1;
	if (kind == TRK_SC_COL_METRIC)
		c->num = malloc(cap * sizeof *c->num);
	else
		c->vid = malloc(cap * sizeof *c->vid);
	c->bytes = sizeof *c + COL_MALLOC_OVERHEAD +
	           cap * (kind == TRK_SC_COL_METRIC ? sizeof *c->num : sizeof *c->vid);
	if ((!c->num && !c->vid) || !col_fill(e, c)) {
		col_free(c);
		return NULL;
	}
	return c;
}

static trk_sc_col *col_get(const trk_sc_exp *e, int kind, uint32_t key)
{
	for (uint32_t i = 0; i < e->ncols; i++)
		if (e->cols[i]->kind == kind && e->cols[i]->key == key)
			return e->cols[i];
	return NULL;
}

const trk_sc_col *trk_sc_col_find(const trk_sc_exp *e, int kind, uint32_t key)
{
	trk_sc_col *c = key == TRK_SC_NONE ? NULL : col_get(e, kind, key);
	if (c)
		atomic_store_explicit(&c->last_used, (uint64_t)cn_now_ms(), memory_order_relaxed);
	return c;
}

bool trk_sc_cols_missing(const trk_sc_exp *e, const int *kinds, const uint32_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i] != TRK_SC_NONE && !col_get(e, kinds[i], keys[i]))
			return true;
	return false;
}

static bool col_needed(const trk_sc_col *c, const int *kinds, const uint32_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kinds[i] == c->kind && keys[i] == c->key)
			return true;
	return false;
}

void trk_sc_cols_ensure(trk_sc_exp *e, const int *kinds, const uint32_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i] == TRK_SC_NONE || col_get(e, kinds[i], keys[i]))
			continue;
		if (e->ncols == TRK_SC_MAX_COLS) {
			uint32_t victim = UINT32_MAX;
			for (uint32_t k = 0; k < e->ncols; k++)
				if (!col_needed(e->cols[k], kinds, keys, n) &&
				    (victim == UINT32_MAX ||
				     e->cols[k]->last_used < e->cols[victim]->last_used))
					victim = k;
			if (victim == UINT32_MAX)
				return; /* the query needs more columns than the cap */
			col_drop(e, victim);
		}
		trk_sc_col *c = col_build(e, kinds[i], keys[i]);
		if (!c)
			continue; /* searches read the blobs for this key */
		c->last_used = (uint64_t)cn_now_ms();
		e->cols[e->ncols++] = c;
		e->bytes += c->bytes;
	}
}

void trk_sc_cols_reserve(trk_sc_exp *e, uint32_t cap)
{
	for (uint32_t i = 0; i < e->ncols;) {
		trk_sc_col *c = e->cols[i];
		size_t w = c->num ? sizeof *c->num : sizeof *c->vid;
		void **arr = c->num ? (void **)&c->num : (void **)&c->vid;
		void *na = realloc(*arr, (size_t)cap * w);
		if (!na) {
			col_drop(e, i);
			continue;
		}
		*arr = na;
		size_t old = (size_t)e->runs_cap * w, now = (size_t)cap * w;
		c->bytes = c->bytes - old + now;
		e->bytes = e->bytes - old + now;
		i++;
	}
}

/* Rebuild a string column whose dead values outnumber its live ones. */
static bool col_compact(trk_sc_exp *e, trk_sc_col *c)
{
	if (c->nvals < 2 * c->nlive + 64)
		return true;
	trk_sc_col *n = col_build(e, c->kind, c->key);
	if (!n)
		return false;
	n->last_used = c->last_used;
	for (uint32_t i = 0; i < e->ncols; i++)
		if (e->cols[i] == c) {
			e->bytes = e->bytes - c->bytes + n->bytes;
			e->cols[i] = n;
		}
	col_free(c);
	return true;
}

void trk_sc_cols_set(trk_sc_exp *e, uint32_t idx, const trk_sc_run *r, bool had_old)
{
	for (uint32_t i = 0; i < e->ncols;) {
		trk_sc_col *c = e->cols[i];
		if (c->kind == TRK_SC_COL_METRIC) {
			if (!col_run_metric(r, c->key, &c->num[idx]))
				c->num[idx] = col_absent();
			i++;
			continue;
		}
		const trk_sc_str *s = col_run_str(r, c->kind, c->key);
		size_t before = c->bytes;
		uint32_t v = s ? col_val_ref(c, trk_sc_bytes(r, s->off), s->len) : TRK_SC_NONE;
		if (had_old)
			col_val_unref(c, c->vid[idx]);
		c->vid[idx] = v;
		e->bytes = e->bytes - before + c->bytes;
		if ((s && v == TRK_SC_NONE) || !col_compact(e, c)) {
			col_drop(e, i);
			continue;
		}
		i++;
	}
}

void trk_sc_cols_remove(trk_sc_exp *e, uint32_t idx, uint32_t last)
{
	for (uint32_t i = 0; i < e->ncols; i++) {
		trk_sc_col *c = e->cols[i];
		if (c->num) {
			c->num[idx] = c->num[last];
		} else {
			col_val_unref(c, c->vid[idx]);
			c->vid[idx] = c->vid[last];
		}
	}
}

void trk_sc_cols_free(trk_sc_exp *e)
{
	while (e->ncols)
		col_drop(e, e->ncols - 1);
}
