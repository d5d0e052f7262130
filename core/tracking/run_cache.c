/*
 * core/tracking/run_cache.c: the in-memory search cache of runs, so that
 * runs/search reads no RocksDB per run at query time.
 *
 * What it holds. Per experiment, loaded lazily by the first search that
 * names it (a scan of runs_by_experiment, reading each run's info, latest
 * metrics, params, tags and dataset inputs), every run as one trk_sc_run
 * (run_cache.h): fixed fields inline (id, start/end time, status, lifecycle)
 * and one malloc'd blob holding the latest metric values, params and tags as
 * arrays sorted by an interned key id (keys are interned once per
 * experiment), dataset inputs, and the strings (run name, user, artifact
 * URI, values). A run id hash finds a run's slot.
 *
 * Memory per run: sizeof(trk_sc_run) (88 bytes) + 32 per metric + 12 per
 * param or tag + 24 per dataset input + the value and name bytes + malloc's
 * overhead (~16) + 8 of hash slots; keys cost once per experiment. A run
 * with 10 metrics, 10 params, 5 tags of short values and a ~70-byte artifact
 * URI is about 800 bytes (tests/bench/README.md has the measured figure).
 * Searches add columns (run_columns.c: one key's values over all runs, for
 * cheap filters and sorts), accounted in the same bytes.
 * Metrics keep their timestamp and step, and params and tags their values,
 * so search answers are built from the cache alone (the store is read only
 * for runs with dataset or model inputs, whose full records are not cached).
 * Bound: the accounted bytes of all cached experiments are kept under
 * search_cache_bytes (configuration, default 512 MiB): past it, whole
 * experiments that no search is using are evicted, least recently used
 * first, and reloaded on demand. An experiment bigger than the budget is
 * still loaded for the search that needs it, then evicted.
 *
 * Consistency (read-your-writes). Every mutation of a run commits its
 * RocksDB batch while holding the run's stripe lock, and then, still under
 * that lock and before acknowledging, calls trk_search_cache_run_changed,
 * which takes the experiment's lock exclusively and re-reads the run from
 * the store -- or, for logging calls (metrics, params, tags: the hot path),
 * trk_search_cache_run_logged, which patches the cached run from the values
 * the call committed (in place when only known metrics change), so logging
 * to a searched experiment costs no store reads. So:
 *  - updates of one run reach the cache in commit order (the stripe
 *    serializes them and each re-read sees at least its own commit);
 *  - a search that starts after a write was acknowledged sees it (the cache
 *    was updated before the acknowledgement);
 *  - the race with a lazy load is closed by the experiment lock: the loader
 *    holds it exclusively for the whole scan, and the hook does nothing for
 *    an experiment that is not loaded. A commit before the hook's lock is
 *    either seen by the scan, or the scan ran first and the hook (which
 *    waited for the loader) applies it after. A hook that finds no cached
 *    experiment leaves it to the next load, which reads the committed state.
 * Searches hold the experiment's lock shared while filtering, sorting and
 * building the answer, so a writer to a run of an experiment being searched
 * waits for the searches in progress (the lock prefers writers, so a stream
 * of searches does not starve it). A search over several experiments takes
 * their locks in ascending id order, so two searches and writers cannot
 * deadlock. Hooks may hold a run stripe while waiting for an experiment
 * lock; searches and loads never take stripes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/store/key.h"
#include "core/tracking/run_cache.h"
#include "core/tracking/tracking_int.h"

struct trk_search_cache {
	pthread_mutex_t mu;
	trk_sc_exp **exps; /* cached experiments (loaded or being loaded) */
	size_t nexps, cap;
	size_t bytes, budget; /* accounted bytes of all experiments; the bound */
	uint64_t tick;
};

#define SC_MALLOC_OVERHEAD 16

/* ---- hashing ----------------------------------------------------------- */

static uint64_t sc_hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static uint64_t sc_hash_id(const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id + 4, sizeof h); /* run ids are random */
	return h ^ (h >> 31);
}

/* ---- experiments ------------------------------------------------------- */

static void sc_exp_clear(trk_sc_exp *e)
{
	trk_sc_cols_free(e);
	for (uint32_t i = 0; i < e->nruns; i++)
		free(e->runs[i].blob);
	free(e->runs);
	free(e->run_slots);
	for (uint32_t i = 0; i < e->nkeys; i++)
		free(e->keys[i]);
	free(e->keys);
	free(e->key_lens);
	free(e->key_slots);
	e->runs = NULL;
	e->run_slots = NULL;
	e->keys = NULL;
	e->key_lens = NULL;
	e->key_slots = NULL;
	e->nruns = e->runs_cap = e->run_slots_cap = 0;
	e->nkeys = e->keys_cap = e->key_slots_cap = 0;
	e->bytes = sizeof *e;
	e->loaded = false;
}

static trk_sc_exp *sc_exp_new(uint64_t id)
{
	trk_sc_exp *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->id = id;
	e->id_len = (uint32_t)snprintf(e->id_str, sizeof e->id_str, "%" PRIu64, id);
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	/* Writers (mutation hooks) must not starve behind a stream of searches. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&e->lock, &a);
	pthread_rwlockattr_destroy(&a);
	e->bytes = sizeof *e;
	return e;
}

static void sc_exp_free(trk_sc_exp *e)
{
	sc_exp_clear(e);
	pthread_rwlock_destroy(&e->lock);
	free(e);
}

/* ---- interned keys ----------------------------------------------------- */

uint32_t trk_sc_key_find(const trk_sc_exp *e, const char *key, size_t len)
{
	if (!e->key_slots_cap)
		return TRK_SC_NONE;
	uint32_t mask = e->key_slots_cap - 1;
	for (uint32_t i = (uint32_t)sc_hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
		uint32_t v = e->key_slots[i];
		if (!v)
			return TRK_SC_NONE;
		if (e->key_lens[v - 1] == len && !memcmp(e->keys[v - 1], key, len))
			return v - 1;
	}
}

static bool sc_key_slots_grow(trk_sc_exp *e)
{
	uint32_t cap = e->key_slots_cap ? 2 * e->key_slots_cap : 64;
	uint32_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (uint32_t k = 0; k < e->nkeys; k++) {
		uint32_t i = (uint32_t)sc_hash_bytes(e->keys[k], e->key_lens[k]) & (cap - 1);
		while (slots[i])
			i = (i + 1) & (cap - 1);
		slots[i] = k + 1;
	}
	e->bytes += (size_t)(cap - e->key_slots_cap) * sizeof *slots;
	free(e->key_slots);
	e->key_slots = slots;
	e->key_slots_cap = cap;
	return true;
}

/* The id of key, interning it when new; TRK_SC_NONE when out of memory. */
static uint32_t sc_key_intern(trk_sc_exp *e, const char *key, size_t len)
{
	uint32_t id = trk_sc_key_find(e, key, len);
	if (id != TRK_SC_NONE)
		return id;
	if (2 * (e->nkeys + 1) > e->key_slots_cap && !sc_key_slots_grow(e))
		return TRK_SC_NONE;
	if (e->nkeys == e->keys_cap) {
		uint32_t nc = e->keys_cap ? 2 * e->keys_cap : 32;
		char **nk = realloc(e->keys, nc * sizeof *nk);
		if (!nk)
			return TRK_SC_NONE;
		e->keys = nk;
		uint32_t *nl = realloc(e->key_lens, nc * sizeof *nl);
		if (!nl)
			return TRK_SC_NONE;
		e->key_lens = nl;
		e->bytes += (size_t)(nc - e->keys_cap) * (sizeof *nk + sizeof *nl);
		e->keys_cap = nc;
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return TRK_SC_NONE;
	memcpy(copy, key, len);
	copy[len] = '\0';
	id = e->nkeys++;
	e->keys[id] = copy;
	e->key_lens[id] = (uint32_t)len;
	e->bytes += len + 1 + SC_MALLOC_OVERHEAD;
	uint32_t mask = e->key_slots_cap - 1;
	uint32_t i = (uint32_t)sc_hash_bytes(key, len) & mask;
	while (e->key_slots[i])
		i = (i + 1) & mask;
	e->key_slots[i] = id + 1;
	return id;
}

/* ---- the run id hash ----------------------------------------------------- */

static uint32_t sc_slot_of(const trk_sc_exp *e, const uint8_t id[16])
{
	uint32_t mask = e->run_slots_cap - 1;
	for (uint32_t i = (uint32_t)sc_hash_id(id) & mask;; i = (i + 1) & mask) {
		uint32_t v = e->run_slots[i];
		if (!v || !memcmp(e->runs[v - 1].id, id, 16))
			return i;
	}
}

const trk_sc_run *trk_sc_run_find(const trk_sc_exp *e, const uint8_t id[16])
{
	if (!e->run_slots_cap)
		return NULL;
	uint32_t v = e->run_slots[sc_slot_of(e, id)];
	return v ? &e->runs[v - 1] : NULL;
}

static bool sc_run_slots_grow(trk_sc_exp *e)
{
	uint32_t cap = e->run_slots_cap ? 2 * e->run_slots_cap : 256;
	uint32_t *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	free(e->run_slots);
	e->bytes += (size_t)(cap - e->run_slots_cap) * sizeof *slots;
	e->run_slots = slots;
	e->run_slots_cap = cap;
	for (uint32_t r = 0; r < e->nruns; r++)
		e->run_slots[sc_slot_of(e, e->runs[r].id)] = r + 1;
	return true;
}

/* Delete slot i of the run hash (linear probing, backward shift). */
static void sc_slot_delete(trk_sc_exp *e, uint32_t i)
{
	uint32_t mask = e->run_slots_cap - 1;
	e->run_slots[i] = 0;
	for (uint32_t j = (i + 1) & mask; e->run_slots[j]; j = (j + 1) & mask) {
		uint32_t v = e->run_slots[j];
		uint32_t home = (uint32_t)sc_hash_id(e->runs[v - 1].id) & mask;
		/* Move v back to the hole when the hole lies between its home and j. */
		bool between = i <= j ? (home <= i || home > j) : (home <= i && home > j);
		if (between) {
			e->run_slots[i] = v;
			e->run_slots[j] = 0;
			i = j;
		}
	}
}

static size_t sc_run_bytes(const trk_sc_run *r)
{
	return r->blob_len + SC_MALLOC_OVERHEAD;
}

/* Put r (its blob now owned by e) in place of the run with its id, or add it. */
static bool sc_run_put(trk_sc_exp *e, trk_sc_run *r)
{
	if (2 * (e->nruns + 1) > e->run_slots_cap && !sc_run_slots_grow(e))
		return false;
	uint32_t slot = sc_slot_of(e, r->id);
	uint32_t v = e->run_slots[slot];
	if (v) {
		trk_sc_run *old = &e->runs[v - 1];
		e->bytes -= sc_run_bytes(old);
		free(old->blob);
		*old = *r;
		e->bytes += sc_run_bytes(r);
		trk_sc_cols_set(e, v - 1, old, true);
		return true;
	}
	if (e->nruns == e->runs_cap) {
		uint32_t nc = e->runs_cap ? e->runs_cap + e->runs_cap / 2 : 64;
		trk_sc_run *nr = realloc(e->runs, (size_t)nc * sizeof *nr);
		if (!nr)
			return false;
		e->bytes += (size_t)(nc - e->runs_cap) * sizeof *nr;
		e->runs = nr;
		trk_sc_cols_reserve(e, nc);
		e->runs_cap = nc;
	}
	e->runs[e->nruns] = *r;
	e->run_slots[slot] = ++e->nruns;
	e->bytes += sc_run_bytes(r);
	trk_sc_cols_set(e, e->nruns - 1, &e->runs[e->nruns - 1], false);
	return true;
}

static void sc_run_remove(trk_sc_exp *e, const uint8_t id[16])
{
	if (!e->run_slots_cap)
		return;
	uint32_t slot = sc_slot_of(e, id);
	uint32_t v = e->run_slots[slot];
	if (!v)
		return;
	uint32_t idx = v - 1, last = e->nruns - 1;
	e->bytes -= sc_run_bytes(&e->runs[idx]);
	free(e->runs[idx].blob);
	sc_slot_delete(e, slot);
	trk_sc_cols_remove(e, idx, last);
	if (idx != last) {
		/* Move the last run into the hole and re-point its slot. */
		e->runs[idx] = e->runs[last];
		e->run_slots[sc_slot_of(e, e->runs[idx].id)] = idx + 1;
	}
	e->nruns--;
}

/* ---- reading one run from the store ------------------------------------ */

/* Reusable buffers for building runs (one per load or hook call). */
typedef struct sc_scratch {
	trk_sc_metric *m;
	trk_sc_str *p, *t;
	size_t nm, np, nt, cm, cp, ct;
	cn_buf bytes;
	char *kbuf;
	/* Bulk loads: one whole-column-family iterator per family, reused for
	 * every run (ids ascending, so seeks move forward); NULL otherwise. */
	cn_kv_iter *its[TRK_CF_COUNT_];
} sc_scratch;

static void sc_scratch_free(sc_scratch *x)
{
	free(x->m);
	free(x->p);
	free(x->t);
	cn_buf_free(&x->bytes);
	free(x->kbuf);
	for (int i = 0; i < TRK_CF_COUNT_; i++)
		cn_kv_iter_free(x->its[i]);
}

/* An iterator on run id's first entry in cf: the scratch's shared one, or a
 * new prefix iterator (*own: the caller frees it). NULL when out of memory. */
static cn_kv_iter *sc_iter(trk_state *s, sc_scratch *x, int cf, const uint8_t id[16], bool *own)
{
	cn_kv_iter *it = x->its[cf];
	*own = !it;
	if (it) {
		cn_kv_iter_seek(it, id, 16);
		return it;
	}
	it = cn_kv_iter_new(s->db, cf, id, 16);
	if (it)
		cn_kv_iter_seek_first(it);
	return it;
}

static bool sc_in_run(cn_kv_iter *it, const uint8_t id[16])
{
	size_t klen;
	if (!cn_kv_iter_valid(it))
		return false;
	const uint8_t *k = cn_kv_iter_key(it, &klen);
	return klen >= 16 && !memcmp(k, id, 16);
}

/* Whether run id has any entry in cf. */
static cn_code sc_any_entry(trk_state *s, sc_scratch *x, int cf, const uint8_t id[16], bool *any,
                            cn_err *err)
{
	bool own;
	cn_kv_iter *it = sc_iter(s, x, cf, id, &own);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	*any = sc_in_run(it, id);
	cn_code rc = cn_kv_iter_status(it, err);
	if (own)
		cn_kv_iter_free(it);
	return rc;
}

static bool sc_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return true;
	size_t nc = *cap ? 2 * *cap : 16;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return false;
	*arr = na;
	*cap = nc;
	return true;
}

/* Append bytes to the string area; its offset (relative to the area). */
static uint32_t sc_bytes(sc_scratch *x, const void *p, size_t len)
{
	uint32_t off = (uint32_t)x->bytes.len;
	if (len)
		cn_buf_append(&x->bytes, p, len);
	return off;
}

/* Read one run's (run id + key) entries of column family cf. */
static cn_code sc_read_set(trk_state *s, trk_sc_exp *e, sc_scratch *x, int cf, const uint8_t id[16],
                           cn_err *err)
{
	bool own;
	cn_kv_iter *it = sc_iter(s, x, cf, id, &own);
	cn_code rc = it ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (; rc == CN_OK && sc_in_run(it, id); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, keylen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, x->kbuf, CN_KEY_MAX, &keylen)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run entry key");
			break;
		}
		uint32_t kid = sc_key_intern(e, x->kbuf, keylen);
		if (kid == TRK_SC_NONE) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		if (cf == TRK_CF_RUN_LATEST_METRICS) {
			trk_latest l;
			if (!trk_latest_unpack(v, vlen, &l)) {
				rc = cn_err_set(err, CN_DATA_LOSS, "corrupt latest metric");
				break;
			}
			if (!sc_grow((void **)&x->m, &x->cm, x->nm, sizeof *x->m)) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			x->m[x->nm++] = (trk_sc_metric){.key = kid,
			                                .value = l.value,
			                                .timestamp = l.timestamp,
			                                .step = l.step};
		} else {
			bool param = cf == TRK_CF_RUN_PARAMS;
			trk_sc_str **arr = param ? &x->p : &x->t;
			size_t *n = param ? &x->np : &x->nt, *cap = param ? &x->cp : &x->ct;
			if (!sc_grow((void **)arr, cap, *n, sizeof **arr)) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			(*arr)[(*n)++] = (trk_sc_str){kid, sc_bytes(x, v, vlen), (uint32_t)vlen};
		}
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	if (own)
		cn_kv_iter_free(it);
	return rc;
}

static int sc_cmp_metric(const void *a, const void *b)
{
	uint32_t x = ((const trk_sc_metric *)a)->key, y = ((const trk_sc_metric *)b)->key;
	return (x > y) - (x < y);
}

static int sc_cmp_str(const void *a, const void *b)
{
	uint32_t x = ((const trk_sc_str *)a)->key, y = ((const trk_sc_str *)b)->key;
	return (x > y) - (x < y);
}

/* Sort x's entries by key id and pack them, inputs[ninputs] and x's string
 * area into out->blob (a new allocation); out's string offsets are relative
 * to the area on entry and to the blob on return. */
static cn_code sc_pack(sc_scratch *x, trk_sc_input *inputs, size_t nin, trk_sc_run *out,
                       cn_err *err)
{
	cn_code rc = CN_OK;
	if (cn_buf_failed(&x->bytes))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		if (x->nm > 1)
			qsort(x->m, x->nm, sizeof *x->m, sc_cmp_metric);
		if (x->np > 1)
			qsort(x->p, x->np, sizeof *x->p, sc_cmp_str);
		if (x->nt > 1)
			qsort(x->t, x->nt, sizeof *x->t, sc_cmp_str);
		size_t head = x->nm * sizeof *x->m + (x->np + x->nt) * sizeof *x->p +
		              nin * sizeof *inputs;
		size_t total = head + x->bytes.len;
		if (total > UINT32_MAX) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "run too large to cache");
		} else if (!(out->blob = malloc(total ? total : 1))) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			uint32_t h = (uint32_t)head;
			/* String offsets become blob offsets. */
			for (size_t i = 0; i < x->np; i++)
				x->p[i].off += h;
			for (size_t i = 0; i < x->nt; i++)
				x->t[i].off += h;
			for (size_t i = 0; i < nin; i++) {
				inputs[i].name_off += h;
				inputs[i].digest_off += h;
				inputs[i].ctx_off += h;
			}
			out->name_off += h;
			out->user_off += h;
			out->uri_off += h;
			uint8_t *p = out->blob;
			if (x->nm)
				memcpy(p, x->m, x->nm * sizeof *x->m);
			p += x->nm * sizeof *x->m;
			if (x->np)
				memcpy(p, x->p, x->np * sizeof *x->p);
			p += x->np * sizeof *x->p;
			if (x->nt)
				memcpy(p, x->t, x->nt * sizeof *x->t);
			p += x->nt * sizeof *x->t;
			if (nin)
				memcpy(p, inputs, nin * sizeof *inputs);
			p += nin * sizeof *inputs;
			if (x->bytes.len)
				memcpy(p, x->bytes.p, x->bytes.len);
			out->blob_len = (uint32_t)total;
			out->nmetrics = (uint32_t)x->nm;
			out->nparams = (uint32_t)x->np;
			out->ntags = (uint32_t)x->nt;
			out->ninputs = (uint32_t)nin;
		}
	}
	return rc;
}

/* Read run id from the store into *out (a new blob, owned by the caller),
 * interning its keys in e. *found is false when the run is gone. */
static cn_code sc_run_read(trk_state *s, trk_sc_exp *e, sc_scratch *x, const uint8_t id[16],
                           trk_sc_run *out, bool *found, cn_err *err)
{
	memset(out, 0, sizeof *out);
	x->nm = x->np = x->nt = 0;
	cn_buf_reset(&x->bytes);
	if (!x->kbuf && !(x->kbuf = malloc(CN_KEY_MAX)))
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_kv_val val;
	trk_run r;
	cn_code rc = trk_run_load(s, id, &val, &r, err);
	*found = rc != CN_RESOURCE_DOES_NOT_EXIST;
	if (!*found)
		return CN_OK;
	if (rc != CN_OK)
		return rc;
	memcpy(out->id, id, 16);
	out->start_time = r.start_time;
	out->end_time = r.end_time;
	out->has_end_time = r.has_end_time;
	out->status = (uint8_t)(r.status >= 0 && r.status <= 255 ? r.status : 0);
	out->active = trk_str_is(r.lifecycle_stage, trk_active_stage);
	out->present = (uint8_t)((r.run_name.ptr ? TRK_SC_HAS_NAME : 0) |
	                         (r.user_id.ptr ? TRK_SC_HAS_USER : 0) |
	                         (r.artifact_uri.ptr ? TRK_SC_HAS_URI : 0));
	out->name_len = r.run_name.len;
	out->name_off = sc_bytes(x, r.run_name.ptr, r.run_name.len);
	out->user_len = r.user_id.len;
	out->user_off = sc_bytes(x, r.user_id.ptr, r.user_id.len);
	out->uri_len = r.artifact_uri.len;
	out->uri_off = sc_bytes(x, r.artifact_uri.ptr, r.artifact_uri.len);
	cn_kv_val_release(&val);

	rc = sc_read_set(s, e, x, TRK_CF_RUN_LATEST_METRICS, id, err);
	if (rc == CN_OK)
		rc = sc_read_set(s, e, x, TRK_CF_RUN_PARAMS, id, err);
	if (rc == CN_OK)
		rc = sc_read_set(s, e, x, TRK_CF_RUN_TAGS, id, err);
	trk_input_refs in = {0};
	bool any = false;
	if (rc == CN_OK)
		rc = sc_any_entry(s, x, TRK_CF_RUN_INPUTS, id, &any, err);
	if (rc == CN_OK && any)
		rc = trk_run_inputs_load(s, id, &in, err);
	/* Only whether there are model inputs: answers read them when so. */
	if (rc == CN_OK)
		rc = sc_any_entry(s, x, TRK_CF_RUN_MODEL_INPUTS, id, &any, err);
	if (rc == CN_OK && any)
		out->present |= TRK_SC_HAS_MODEL_INPUTS;
	trk_sc_input *inputs = in.n ? calloc(in.n, sizeof *inputs) : NULL;
	if (rc == CN_OK && in.n && !inputs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; rc == CN_OK && i < in.n; i++) {
		const trk_input_ref *ir = &in.e[i];
		inputs[i].name_len = (uint32_t)ir->name_len;
		inputs[i].name_off = sc_bytes(x, ir->name, ir->name_len);
		inputs[i].digest_len = (uint32_t)ir->digest_len;
		inputs[i].digest_off = sc_bytes(x, ir->digest, ir->digest_len);
		inputs[i].ctx_len = ir->context ? (uint32_t)ir->context_len : TRK_SC_NONE;
		inputs[i].ctx_off = ir->context ? sc_bytes(x, ir->context, ir->context_len) : 0;
	}
	if (rc == CN_OK)
		rc = sc_pack(x, inputs, in.n, out, err);
	free(inputs);
	trk_input_refs_free(&in);
	return rc;
}

static int sc_cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* The ids of e's runs (runs_by_experiment), ascending; malloc'd. */
static cn_code sc_exp_ids(trk_state *s, uint64_t exp, uint8_t (**out)[16], size_t *n, cn_err *err)
{
	cn_key prefix;
	cn_key_init(&prefix);
	cn_key_u64(&prefix, exp);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUNS_BY_EXPERIMENT, prefix.b, prefix.len);
	cn_code rc = it ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	uint8_t(*ids)[16] = NULL;
	size_t cap = 0;
	*n = 0;
	if (it)
		cn_kv_iter_seek_first(it);
	for (; rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (klen < prefix.len + 16) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt runs_by_experiment key");
			break;
		}
		if (!sc_grow((void **)&ids, &cap, *n, sizeof *ids)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		memcpy(ids[(*n)++], k + klen - 16, 16);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (*n > 1)
		qsort(ids, *n, sizeof *ids, sc_cmp_id);
	*out = ids;
	return rc;
}

/* Load every run of e (caller holds e->lock exclusively). Runs are read in
 * id order through one iterator per column family: a seek forward per run
 * instead of a new iterator per run and family. */
static cn_code sc_exp_load(trk_state *s, trk_sc_exp *e, cn_err *err)
{
	sc_scratch x = {0};
	uint8_t(*ids)[16] = NULL;
	size_t n = 0;
	cn_code rc = sc_exp_ids(s, e->id, &ids, &n, err);
	static const int bulk[] = {TRK_CF_RUN_LATEST_METRICS, TRK_CF_RUN_PARAMS, TRK_CF_RUN_TAGS,
	                           TRK_CF_RUN_INPUTS, TRK_CF_RUN_MODEL_INPUTS};
	for (size_t i = 0; rc == CN_OK && i < sizeof bulk / sizeof bulk[0]; i++)
		if (!(x.its[bulk[i]] = cn_kv_iter_new(s->db, bulk[i], NULL, 0)))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; rc == CN_OK && i < n; i++) {
		trk_sc_run r;
		bool found;
		rc = sc_run_read(s, e, &x, ids[i], &r, &found, err);
		if (rc == CN_OK && found && !sc_run_put(e, &r)) {
			free(r.blob);
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		}
	}
	free(ids);
	sc_scratch_free(&x);
	if (rc == CN_OK)
		e->loaded = true;
	else
		sc_exp_clear(e);
	return rc;
}

/* ---- the cache ----------------------------------------------------------- */

cn_code trk_search_cache_new(size_t budget_bytes, struct trk_search_cache **out, cn_err *err)
{
	struct trk_search_cache *c = calloc(1, sizeof *c);
	if (!c)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	c->budget = budget_bytes;
	*out = c;
	return CN_OK;
}

void trk_search_cache_free(struct trk_search_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nexps; i++)
		sc_exp_free(c->exps[i]);
	free(c->exps);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static trk_sc_exp *sc_find_locked(struct trk_search_cache *c, uint64_t id, size_t *at)
{
	for (size_t i = 0; i < c->nexps; i++)
		if (c->exps[i]->id == id) {
			if (at)
				*at = i;
			return c->exps[i];
		}
	return NULL;
}

static void sc_drop_locked(struct trk_search_cache *c, size_t i)
{
	trk_sc_exp *e = c->exps[i];
	c->bytes -= e->bytes;
	c->exps[i] = c->exps[--c->nexps];
	sc_exp_free(e);
}

/* Evict unused experiments, least recently used first, past the budget; and
 * drop unused entries that are not loaded (failed or forgotten). */
static void sc_evict_locked(struct trk_search_cache *c)
{
	for (size_t i = 0; i < c->nexps;) {
		if (!c->exps[i]->pins && !c->exps[i]->loaded)
			sc_drop_locked(c, i);
		else
			i++;
	}
	while (c->bytes > c->budget) {
		size_t victim = SIZE_MAX;
		for (size_t i = 0; i < c->nexps; i++)
			if (!c->exps[i]->pins &&
			    (victim == SIZE_MAX ||
			     c->exps[i]->last_used < c->exps[victim]->last_used))
				victim = i;
		if (victim == SIZE_MAX)
			break;
		CN_LOGI("SEARCH-CACHE-EVICTED", NULL, "experiment=%" PRIu64 " bytes=%zu budget=%zu",
		        c->exps[victim]->id, c->exps[victim]->bytes, c->budget);
		sc_drop_locked(c, victim);
	}
}

/* Pin experiment id (creating its entry when create); NULL if absent or OOM. */
static trk_sc_exp *sc_pin(struct trk_search_cache *c, uint64_t id, bool create)
{
	pthread_mutex_lock(&c->mu);
	trk_sc_exp *e = sc_find_locked(c, id, NULL);
	if (!e && create) {
		if (c->nexps == c->cap) {
			size_t nc = c->cap ? 2 * c->cap : 8;
			trk_sc_exp **ne = realloc(c->exps, nc * sizeof *ne);
			if (ne) {
				c->exps = ne;
				c->cap = nc;
			}
		}
		if (c->nexps < c->cap && (e = sc_exp_new(id)) != NULL) {
			c->exps[c->nexps++] = e;
			c->bytes += e->bytes;
		}
	}
	if (e) {
		e->pins++;
		e->last_used = ++c->tick;
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

/* Unpin e, accounting for the change of its size since `before`. */
static void sc_unpin(struct trk_search_cache *c, trk_sc_exp *e, size_t before, size_t after)
{
	pthread_mutex_lock(&c->mu);
	c->bytes = c->bytes - before + after;
	e->pins--;
	sc_evict_locked(c);
	pthread_mutex_unlock(&c->mu);
}

/* The key ids of needs in e (TRK_SC_NONE: no run has the key). */
static void sc_need_ids(const trk_sc_exp *e, const trk_sc_need *needs, size_t n, int *kinds,
                        uint32_t *keys)
{
	for (size_t i = 0; i < n; i++) {
		kinds[i] = needs[i].kind;
		keys[i] = trk_sc_key_find(e, needs[i].key, strlen(needs[i].key));
	}
}

cn_code trk_search_cache_acquire(trk_state *s, uint64_t exp, trk_sc_exp **out, cn_err *err)
{
	return trk_search_cache_acquire_cols(s, exp, NULL, 0, out, err);
}

cn_code trk_search_cache_acquire_cols(trk_state *s, uint64_t exp, const trk_sc_need *needs,
                                      size_t n, trk_sc_exp **out, cn_err *err)
{
	struct trk_search_cache *c = s->search_cache;
	int *kinds = n ? malloc(n * sizeof *kinds) : NULL;
	uint32_t *keys = n ? malloc(n * sizeof *keys) : NULL;
	if (n && (!kinds || !keys)) {
		free(kinds);
		free(keys);
		n = 0; /* no columns: the search reads the blobs */
	}
	trk_sc_exp *e = sc_pin(c, exp, true);
	if (!e) {
		free(kinds);
		free(keys);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	pthread_rwlock_rdlock(&e->lock);
	bool built = false; /* columns are best effort: one try per call */
	for (;;) {
		if (e->loaded) {
			sc_need_ids(e, needs, n, kinds, keys);
			if (built || !trk_sc_cols_missing(e, kinds, keys, n))
				break;
		}
		pthread_rwlock_unlock(&e->lock);
		pthread_rwlock_wrlock(&e->lock);
		size_t before = e->bytes;
		bool loading = !e->loaded;
		int64_t t0 = cn_now_ms();
		cn_code rc = loading ? sc_exp_load(s, e, err) : CN_OK;
		if (rc == CN_OK && n) {
			sc_need_ids(e, needs, n, kinds, keys);
			trk_sc_cols_ensure(e, kinds, keys, n);
			built = true;
		}
		size_t after = e->bytes;
		if (loading && rc == CN_OK)
			CN_LOGI("SEARCH-CACHE-LOADED", NULL,
			        "experiment=%" PRIu64 " runs=%u bytes=%zu ms=%lld", e->id, e->nruns,
			        e->bytes, (long long)(cn_now_ms() - t0));
		pthread_rwlock_unlock(&e->lock);
		if (rc != CN_OK) {
			sc_unpin(c, e, before, after);
			free(kinds);
			free(keys);
			return rc;
		}
		pthread_mutex_lock(&c->mu);
		c->bytes = c->bytes - before + after;
		pthread_mutex_unlock(&c->mu);
		pthread_rwlock_rdlock(&e->lock);
	}
	free(kinds);
	free(keys);
	*out = e;
	return CN_OK;
}

void trk_search_cache_release(trk_state *s, trk_sc_exp *e)
{
	pthread_rwlock_unlock(&e->lock);
	sc_unpin(s->search_cache, e, 0, 0);
}

static bool sc_any(struct trk_search_cache *c)
{
	pthread_mutex_lock(&c->mu);
	bool any = c->nexps > 0;
	pthread_mutex_unlock(&c->mu);
	return any;
}

void trk_search_cache_run_changed(trk_state *s, const uint8_t id[16])
{
	struct trk_search_cache *c = s->search_cache;
	if (!c || !sc_any(c))
		return; /* nothing cached: the next load reads the committed state */
	cn_err err = {0};
	cn_kv_val val;
	trk_run r;
	cn_code rc = trk_run_load(s, id, &val, &r, &err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		trk_search_cache_run_forgotten(s, id);
		return;
	}
	if (rc != CN_OK)
		return; /* cannot tell the experiment: see below, nothing stale stays */
	uint64_t exp;
	bool ok = trk_parse_experiment_id(r.experiment_id.ptr, r.experiment_id.len, &exp);
	cn_kv_val_release(&val);
	if (!ok)
		return;
	trk_sc_exp *e = sc_pin(c, exp, false);
	if (!e)
		return;
	pthread_rwlock_wrlock(&e->lock);
	size_t before = e->bytes;
	if (e->loaded) {
		sc_scratch x = {0};
		trk_sc_run run;
		bool found;
		rc = sc_run_read(s, e, &x, id, &run, &found, &err);
		if (rc == CN_OK && !found)
			sc_run_remove(e, id);
		else if (rc == CN_OK && !sc_run_put(e, &run)) {
			free(run.blob);
			rc = CN_INTERNAL_ERROR;
		}
		/* Never leave a stale entry: drop the experiment; the next search
		 * reloads it from the store. */
		if (rc != CN_OK)
			sc_exp_clear(e);
		sc_scratch_free(&x);
	}
	size_t after = e->bytes;
	pthread_rwlock_unlock(&e->lock);
	sc_unpin(c, e, before, after);
}

/* ---- patching a cached run from what a logging call wrote ---------------- */

/* The index of key in a[0..n) (entries start with their key id), or n. */
static size_t sc_find_key(const void *a, size_t n, size_t stride, uint32_t key)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t k;
		memcpy(&k, (const char *)a + i * stride, sizeof k);
		if (k == key)
			return i;
	}
	return n;
}

/* Latest metrics that only change values of keys the run has: in place. */
static bool sc_patch_in_place(trk_sc_exp *e, trk_sc_run *r, const trk_sc_patch *p)
{
	if (p->nparams || p->ntags || p->name_changed)
		return false;
	trk_sc_metric *m = (trk_sc_metric *)(void *)r->blob;
	uint32_t *at = p->nmetrics ? malloc(p->nmetrics * sizeof *at) : NULL;
	if (p->nmetrics && !at)
		return false;
	for (uint32_t i = 0; i < p->nmetrics; i++) {
		uint32_t key = trk_sc_key_find(e, p->metrics[i].key.ptr, p->metrics[i].key.len);
		/* Metrics are sorted by key id. */
		uint32_t lo = 0, hi = r->nmetrics;
		while (key != TRK_SC_NONE && lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (m[mid].key < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (key == TRK_SC_NONE || lo == r->nmetrics || m[lo].key != key) {
			free(at);
			return false;
		}
		at[i] = lo;
	}
	for (uint32_t i = 0; i < p->nmetrics; i++) {
		m[at[i]].value = p->metrics[i].l.value;
		m[at[i]].timestamp = p->metrics[i].l.timestamp;
		m[at[i]].step = p->metrics[i].l.step;
	}
	free(at);
	return true;
}

/* Copy run r's entries and strings into scratch x, apply p, and pack the
 * result into *out (a new blob; r is unchanged). */
static cn_code sc_patch_rebuild(trk_sc_exp *e, sc_scratch *x, const trk_sc_run *r,
                                const trk_sc_patch *p, trk_sc_run *out, cn_err *err)
{
	*out = *r;
	x->nm = x->np = x->nt = 0;
	cn_buf_reset(&x->bytes);
	trk_sc_input *inputs = r->ninputs ? malloc(r->ninputs * sizeof *inputs) : NULL;
	size_t most =
	        (size_t)r->nmetrics + p->nmetrics + r->nparams + p->nparams + r->ntags + p->ntags;
	if ((r->ninputs && !inputs) ||
	    !sc_grow((void **)&x->m, &x->cm, r->nmetrics + p->nmetrics, sizeof *x->m) ||
	    !sc_grow((void **)&x->p, &x->cp, r->nparams + p->nparams, sizeof *x->p) ||
	    !sc_grow((void **)&x->t, &x->ct, r->ntags + p->ntags, sizeof *x->t) ||
	    most > UINT32_MAX) {
		free(inputs);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	if (p->name_changed) {
		out->present |= TRK_SC_HAS_NAME;
		out->name_len = p->run_name.len;
		out->name_off = sc_bytes(x, p->run_name.ptr, p->run_name.len);
	} else {
		out->name_off = sc_bytes(x, trk_sc_bytes(r, r->name_off), r->name_len);
	}
	out->user_off = sc_bytes(x, trk_sc_bytes(r, r->user_off), r->user_len);
	out->uri_off = sc_bytes(x, trk_sc_bytes(r, r->uri_off), r->uri_len);
	memcpy(x->m, trk_sc_metrics(r), r->nmetrics * sizeof *x->m);
	x->nm = r->nmetrics;
	for (uint32_t i = 0; i < r->nparams; i++) {
		const trk_sc_str *a = &trk_sc_params(r)[i];
		x->p[x->np++] =
		        (trk_sc_str){a->key, sc_bytes(x, trk_sc_bytes(r, a->off), a->len), a->len};
	}
	for (uint32_t i = 0; i < r->ntags; i++) {
		const trk_sc_str *a = &trk_sc_tags(r)[i];
		x->t[x->nt++] =
		        (trk_sc_str){a->key, sc_bytes(x, trk_sc_bytes(r, a->off), a->len), a->len};
	}
	for (uint32_t i = 0; i < r->ninputs; i++) {
		const trk_sc_input *a = &trk_sc_inputs(r)[i];
		inputs[i] = *a;
		inputs[i].name_off = sc_bytes(x, trk_sc_bytes(r, a->name_off), a->name_len);
		inputs[i].digest_off = sc_bytes(x, trk_sc_bytes(r, a->digest_off), a->digest_len);
		inputs[i].ctx_off = a->ctx_len == TRK_SC_NONE
		                            ? 0
		                            : sc_bytes(x, trk_sc_bytes(r, a->ctx_off), a->ctx_len);
	}
	cn_code rc = CN_OK;
	for (uint32_t i = 0; rc == CN_OK && i < p->nmetrics; i++) {
		const trk_sc_latest *l = &p->metrics[i];
		uint32_t key = sc_key_intern(e, l->key.ptr, l->key.len);
		if (key == TRK_SC_NONE) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		size_t at = sc_find_key(x->m, x->nm, sizeof *x->m, key);
		if (at == x->nm)
			x->nm++;
		x->m[at] = (trk_sc_metric){.key = key,
		                           .value = l->l.value,
		                           .timestamp = l->l.timestamp,
		                           .step = l->l.step};
	}
	/* Params and tags in call order: a later tag of the same key wins, as
	 * in the store's batch. */
	for (int kind = 0; rc == CN_OK && kind < 2; kind++) {
		const trk_tag *in = kind ? p->tags : p->params;
		uint32_t n = kind ? p->ntags : p->nparams;
		trk_sc_str *arr = kind ? x->t : x->p;
		size_t *cnt = kind ? &x->nt : &x->np;
		for (uint32_t i = 0; rc == CN_OK && i < n; i++) {
			uint32_t key = sc_key_intern(e, in[i].key.ptr, in[i].key.len);
			if (key == TRK_SC_NONE) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			size_t at = sc_find_key(arr, *cnt, sizeof *arr, key);
			if (at == *cnt)
				(*cnt)++;
			arr[at] = (trk_sc_str){key, sc_bytes(x, in[i].value.ptr, in[i].value.len),
			                       in[i].value.len};
		}
	}
	out->blob = NULL;
	if (rc == CN_OK)
		rc = sc_pack(x, inputs, r->ninputs, out, err);
	free(inputs);
	return rc;
}

void trk_search_cache_run_logged(trk_state *s, const uint8_t id[16], cn_fb_str experiment_id,
                                 const trk_sc_patch *p)
{
	struct trk_search_cache *c = s->search_cache;
	uint64_t exp;
	if (!c || !sc_any(c))
		return; /* nothing cached: the next load reads the committed state */
	if (!trk_parse_experiment_id(experiment_id.ptr, experiment_id.len, &exp))
		return;
	trk_sc_exp *e = sc_pin(c, exp, false);
	if (!e)
		return;
	pthread_rwlock_wrlock(&e->lock);
	size_t before = e->bytes;
	if (e->loaded) {
		cn_err err = {0};
		sc_scratch x = {0};
		trk_sc_run run;
		bool found = true;
		cn_code rc = CN_OK;
		uint32_t v = e->run_slots_cap ? e->run_slots[sc_slot_of(e, id)] : 0;
		if (v && sc_patch_in_place(e, &e->runs[v - 1], p)) {
			trk_sc_cols_set(e, v - 1, &e->runs[v - 1], true);
		} else {
			/* A run the cache lacks (cannot happen while the hooks are
			 * called) is read whole, as trk_search_cache_run_changed does. */
			rc = v ? sc_patch_rebuild(e, &x, &e->runs[v - 1], p, &run, &err)
			       : sc_run_read(s, e, &x, id, &run, &found, &err);
			if (rc == CN_OK && found && !sc_run_put(e, &run)) {
				free(run.blob);
				rc = CN_INTERNAL_ERROR;
			}
		}
		if (rc != CN_OK)
			sc_exp_clear(e); /* never stale: the next search reloads */
		sc_scratch_free(&x);
	}
	size_t after = e->bytes;
	pthread_rwlock_unlock(&e->lock);
	sc_unpin(c, e, before, after);
}

void trk_search_cache_run_forgotten(trk_state *s, const uint8_t id[16])
{
	struct trk_search_cache *c = s->search_cache;
	if (!c)
		return;
	/* The run's experiment may be unknown now: look in each cached one. */
	pthread_mutex_lock(&c->mu);
	size_t n = c->nexps;
	trk_sc_exp **pinned = n ? malloc(n * sizeof *pinned) : NULL;
	if (n && !pinned) {
		/* Cannot visit them safely: forget everything instead. */
		for (size_t i = 0; i < c->nexps; i++)
			c->exps[i]->loaded = c->exps[i]->pins ? c->exps[i]->loaded : false;
		sc_evict_locked(c);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		pinned[i] = c->exps[i];
		pinned[i]->pins++;
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		trk_sc_exp *e = pinned[i];
		pthread_rwlock_wrlock(&e->lock);
		size_t before = e->bytes;
		if (e->loaded)
			sc_run_remove(e, id);
		size_t after = e->bytes;
		pthread_rwlock_unlock(&e->lock);
		sc_unpin(c, e, before, after);
	}
	free(pinned);
}

void trk_search_cache_experiment_forgotten(trk_state *s, uint64_t exp)
{
	struct trk_search_cache *c = s->search_cache;
	if (!c)
		return;
	trk_sc_exp *e = sc_pin(c, exp, false);
	if (!e)
		return;
	pthread_rwlock_wrlock(&e->lock);
	size_t before = e->bytes;
	sc_exp_clear(e);
	size_t after = e->bytes;
	pthread_rwlock_unlock(&e->lock);
	sc_unpin(c, e, before, after); /* dropped once nobody uses it */
}

void trk_search_cache_stats(trk_state *s, size_t *bytes, size_t *experiments, size_t *runs)
{
	struct trk_search_cache *c = s->search_cache;
	pthread_mutex_lock(&c->mu);
	*bytes = c->bytes;
	*experiments = 0;
	*runs = 0;
	for (size_t i = 0; i < c->nexps; i++) {
		/* Under mu only pins and entries are stable; sizes are a snapshot. */
		if (c->exps[i]->loaded) {
			(*experiments)++;
			*runs += c->exps[i]->nruns;
		}
	}
	pthread_mutex_unlock(&c->mu);
}
