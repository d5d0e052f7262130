/*
 * core/tracking/metric_chunks.c: the stored form of metric history and its
 * merged, ordered read (tracking.h describes the layout).
 *
 * Why chunks: with one RocksDB key per point, ingesting a 1000-point batch
 * cost 1000 memtable skiplist inserts, which perf showed to be ~90% of the
 * service's write time, and a 100,000-point history was 100,000 iterator
 * steps. A call now writes one chunk per metric key it touches: a value
 * holding that call's points for the key as fixed 32-byte records sorted by
 * (step, timestamp, seq). The record's first 24 bytes are the old key's
 * suffix encoding, so points of both forms compare with one memcmp and page
 * tokens keep their meaning. Points carrying a model_id or dataset (rare;
 * variable-length) keep the one-key-per-point form, and data written by
 * earlier versions stays readable as it is: no migration.
 *
 * Reading: every entry under (run id, metric key) is loaded (chunks are few:
 * one per logging call), the points at or after the `from` position are
 * cut out of each sorted run (a chunk's, and the old-form points' one), and
 * a binary heap merges the runs. Each page of get-history reads the whole
 * prefix again: cheap for chunks (a 100,000-point history of 1000-point
 * batches is 100 values), linear in points for old-form data.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/tracking/tracking_int.h"

#define TRK_CHUNK_TAG     0x43 /* 'C': last byte of a chunk key */
#define TRK_CHUNK_VERSION 1
#define TRK_REC           32 /* step, timestamp, seq (key encoding), f64 bits */
#define TRK_POINT_SUFFIX  24 /* old form: (step, timestamp, seq) after the prefix */
#define TRK_CHUNK_SUFFIX  9  /* chunk form: u64 seq of its first point, tag */

static void trk_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t trk_rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void trk_point_suffix(uint8_t out[24], int64_t step, int64_t ts, uint64_t seq)
{
	trk_be64(out, (uint64_t)step ^ (UINT64_C(1) << 63));
	trk_be64(out + 8, (uint64_t)ts ^ (UINT64_C(1) << 63));
	trk_be64(out + 16, seq);
}

static uint64_t trk_f64_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double trk_bits_f64(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static int trk_rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TRK_POINT_SUFFIX);
}

bool trk_chunk_put(cn_kv_batch *batch, const uint8_t id[16], cn_fb_str mkey,
                   const trk_chunk_point *pts, size_t n)
{
	if (n == 0)
		return true;
	size_t len = 1 + n * TRK_REC;
	uint8_t *v = malloc(len);
	if (!v)
		return false;
	v[0] = TRK_CHUNK_VERSION;
	bool sorted = true;
	uint64_t first = pts[0].seq;
	for (size_t i = 0; i < n; i++) {
		uint8_t *r = v + 1 + i * TRK_REC;
		trk_point_suffix(r, pts[i].step, pts[i].timestamp, pts[i].seq);
		trk_be64(r + 24, trk_f64_bits(pts[i].value));
		if (i && memcmp(r - TRK_REC, r, TRK_POINT_SUFFIX) > 0)
			sorted = false;
		if (pts[i].seq < first)
			first = pts[i].seq;
	}
	/* Training loops log steps in order: sorting is usually skipped. */
	if (!sorted)
		qsort(v + 1, n, TRK_REC, trk_rec_cmp);
	cn_key key;
	trk_run_sub_key(&key, id, mkey);
	cn_key_u64(&key, first);
	cn_key_u8(&key, TRK_CHUNK_TAG);
	cn_kv_batch_put(batch, TRK_CF_RUN_METRICS, key.b, key.len, v, len);
	free(v);
	return !key.overflow;
}

/* A point being merged. Old-form points with strings keep their whole
 * stored value in trk_hread.extra at extra_off (extra_len 0: no strings). */
typedef struct trk_hrec {
	uint8_t k[TRK_POINT_SUFFIX];
	uint64_t vbits;
	uint32_t extra_off, extra_len;
} trk_hrec;

typedef struct trk_hrun {
	size_t at, end; /* into recs */
} trk_hrun;

typedef struct trk_hread {
	trk_hrec *recs;
	size_t n, cap;
	trk_hrun *runs;
	size_t nruns, runcap;
	cn_buf extra;
} trk_hread;

static bool trk_hread_rec(trk_hread *h, const uint8_t *k24, uint64_t vbits)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 256;
		trk_hrec *nr = realloc(h->recs, cap * sizeof *nr);
		if (!nr)
			return false;
		h->recs = nr;
		h->cap = cap;
	}
	trk_hrec *r = &h->recs[h->n++];
	memcpy(r->k, k24, TRK_POINT_SUFFIX);
	r->vbits = vbits;
	r->extra_off = r->extra_len = 0;
	return true;
}

static bool trk_hread_run(trk_hread *h, size_t start)
{
	if (start == h->n)
		return true;
	if (h->nruns == h->runcap) {
		size_t cap = h->runcap ? 2 * h->runcap : 16;
		trk_hrun *nr = realloc(h->runs, cap * sizeof *nr);
		if (!nr)
			return false;
		h->runs = nr;
		h->runcap = cap;
	}
	h->runs[h->nruns++] = (trk_hrun){start, h->n};
	return true;
}

/* First record of a chunk value at or after `from`. */
static size_t trk_chunk_lower(const uint8_t *recs, size_t n, const uint8_t *from)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(recs + mid * TRK_REC, from, TRK_POINT_SUFFIX) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Loads every entry under the prefix into sorted runs: the old-form points
 * (already in key order) form one run, each chunk another. */
static cn_code trk_hread_load(trk_state *s, const cn_key *prefix, const uint8_t *from, trk_hread *h,
                              cn_err *err)
{
	cn_kv_iter *iter = cn_kv_iter_new(s->db, TRK_CF_RUN_METRICS, prefix->b, prefix->len);
	if (!iter)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	trk_hrec *old = NULL; /* old-form points, gathered apart, appended last */
	size_t nold = 0, oldcap = 0;
	for (cn_kv_iter_seek_first(iter); cn_kv_iter_valid(iter); cn_kv_iter_next(iter)) {
		size_t klen, vlen;
		const uint8_t *k = cn_kv_iter_key(iter, &klen);
		const uint8_t *v = cn_kv_iter_value(iter, &vlen);
		size_t sl = klen - prefix->len;
		if (sl == TRK_CHUNK_SUFFIX && k[klen - 1] == TRK_CHUNK_TAG) {
			if (vlen < 1 || v[0] != TRK_CHUNK_VERSION || (vlen - 1) % TRK_REC) {
				rc = cn_err_set(err, CN_DATA_LOSS, "corrupt metric chunk");
				break;
			}
			const uint8_t *recs = v + 1;
			size_t nrec = (vlen - 1) / TRK_REC;
			size_t i = from ? trk_chunk_lower(recs, nrec, from) : 0, start = h->n;
			for (; i < nrec; i++)
				if (!trk_hread_rec(h, recs + i * TRK_REC,
				                   trk_rd64(recs + i * TRK_REC + 24))) {
					rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
					break;
				}
			if (rc == CN_OK && !trk_hread_run(h, start))
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else if (sl == TRK_POINT_SUFFIX) {
			const uint8_t *k24 = k + prefix->len;
			if (vlen < 8) {
				rc = cn_err_set(err, CN_DATA_LOSS, "corrupt metric point");
				break;
			}
			if (from && memcmp(k24, from, TRK_POINT_SUFFIX) < 0)
				continue;
			if (nold == oldcap) {
				size_t cap = oldcap ? 2 * oldcap : 64;
				trk_hrec *nr = realloc(old, cap * sizeof *nr);
				if (!nr) {
					rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
					break;
				}
				old = nr;
				oldcap = cap;
			}
			trk_hrec *r = &old[nold++];
			memcpy(r->k, k24, TRK_POINT_SUFFIX);
			r->vbits = trk_rd64(v);
			/* Points with strings keep their whole stored value for
			 * trk_point_unpack; the strings are answered from this copy. */
			r->extra_off = (uint32_t)h->extra.len;
			r->extra_len = vlen > 8 ? (uint32_t)vlen : 0;
			if (vlen > 8)
				cn_buf_append(&h->extra, v, vlen);
		} else {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt metric key");
			break;
		}
		if (rc != CN_OK)
			break;
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(iter, err);
	cn_kv_iter_free(iter);
	size_t start = h->n;
	if (rc == CN_OK && cn_buf_failed(&h->extra))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK && nold) {
		if (h->cap - h->n < nold) {
			trk_hrec *nr = realloc(h->recs, (h->n + nold) * sizeof *nr);
			if (!nr)
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			else {
				h->recs = nr;
				h->cap = h->n + nold;
			}
		}
		if (rc == CN_OK) {
			memcpy(h->recs + h->n, old, nold * sizeof *old);
			h->n += nold;
		}
	}
	if (rc == CN_OK && !trk_hread_run(h, start))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	free(old);
	return rc;
}

/* Heap of run indexes ordered by each run's current record. */
static bool trk_heap_less(const trk_hread *h, size_t a, size_t b)
{
	int c = memcmp(h->recs[h->runs[a].at].k, h->recs[h->runs[b].at].k, TRK_POINT_SUFFIX);
	return c < 0;
}

static void trk_heap_down(const trk_hread *h, size_t *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && trk_heap_less(h, heap[l], heap[m]))
			m = l;
		if (l + 1 < n && trk_heap_less(h, heap[l + 1], heap[m]))
			m = l + 1;
		if (m == i)
			return;
		size_t t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

static cn_code trk_hread_emit(trk_hread *h, trk_point_fn fn, void *arg, cn_err *err)
{
	size_t *heap = h->nruns ? malloc(h->nruns * sizeof *heap) : NULL;
	if (h->nruns && !heap)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t n = h->nruns;
	for (size_t i = 0; i < n; i++)
		heap[i] = i;
	for (size_t i = n / 2; i-- > 0;)
		trk_heap_down(h, heap, n, i);
	cn_code rc = CN_OK;
	bool more = true;
	while (rc == CN_OK && more && n) {
		trk_hrun *run = &h->runs[heap[0]];
		const trk_hrec *r = &h->recs[run->at];
		trk_history_point p;
		p.step = (int64_t)(trk_rd64(r->k) ^ (UINT64_C(1) << 63));
		p.timestamp = (int64_t)(trk_rd64(r->k + 8) ^ (UINT64_C(1) << 63));
		p.seq = trk_rd64(r->k + 16);
		p.model_id = p.ds_name = p.ds_digest = (cn_fb_str){NULL, 0};
		p.value = trk_bits_f64(r->vbits);
		if (r->extra_len &&
		    !trk_point_unpack((const uint8_t *)h->extra.p + r->extra_off, r->extra_len,
		                      &p.value, &p.model_id, &p.ds_name, &p.ds_digest)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt metric point");
			break;
		}
		rc = fn(arg, &p, &more, err);
		if (++run->at == run->end)
			heap[0] = heap[--n];
		if (n)
			trk_heap_down(h, heap, n, 0);
	}
	free(heap);
	return rc;
}

cn_code trk_metric_scan_from(trk_state *s, const uint8_t id[16], cn_fb_str mkey,
                             const uint8_t *from, trk_point_fn fn, void *arg, cn_err *err)
{
	cn_key prefix;
	trk_run_sub_key(&prefix, id, mkey);
	if (prefix.overflow)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "metric_key is too long");
	trk_hread h = {0};
	cn_code rc = trk_hread_load(s, &prefix, from, &h, err);
	if (rc == CN_OK)
		rc = trk_hread_emit(&h, fn, arg, err);
	free(h.recs);
	free(h.runs);
	cn_buf_free(&h.extra);
	return rc;
}

cn_code trk_metric_scan(trk_state *s, const uint8_t id[16], cn_fb_str mkey, trk_point_fn fn,
                        void *arg, cn_err *err)
{
	return trk_metric_scan_from(s, id, mkey, NULL, fn, arg, err);
}
