/*
 * core/traces/retention.c: per-experiment trace time-to-live, enforced by
 * one background thread. Every retention_interval_ms it walks the
 * experiments that have traces; for each with a TTL (experiment tag
 * cairn.trace.ttl, else the trace_ttl_ms setting) it deletes the traces
 * older than now - TTL, oldest first, in batches of TRC_RETENTION_BATCH,
 * each trace under its own lock stripe and re-checked there, so ingestion
 * and reads are never blocked for longer than one small batch takes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_RETENTION_BATCH 64

struct trc_retention {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint64_t deleted; /* traces removed since start */
};

static bool trc_ret_stopping(trc_retention *r)
{
	pthread_mutex_lock(&r->mu);
	bool stop = r->stop;
	pthread_mutex_unlock(&r->mu);
	return stop;
}

/* Delete one trace if it is still older than cutoff_ms. */
static cn_code trc_ret_delete(trc_state *s, const char *id, size_t len, int64_t cutoff_ms,
                              cn_kv_batch *b, bool *deleted, cn_err *err)
{
	pthread_mutex_t *mu = trc_stripe(s, id, len);
	pthread_mutex_lock(mu);
	trc_info info;
	cn_code rc = trc_info_get(s, id, len, &info, err);
	*deleted = false;
	if (rc == CN_OK) {
		if (cn_TraceRecord_request_time_ms(info.t) < cutoff_ms) {
			cn_kv_batch_clear(b);
			rc = trc_delete_trace_batch(s, b, info.t, err);
			if (rc == CN_OK)
				rc = trc_write(s, b, err);
			*deleted = rc == CN_OK;
		}
		trc_info_release(&info);
	} else if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		rc = CN_OK;
	}
	pthread_mutex_unlock(mu);
	return rc;
}

/* One experiment: oldest first, until a trace is young enough. */
static void trc_ret_experiment(trc_state *s, const char *exp, int64_t cutoff_ms, cn_kv_batch *b)
{
	for (;;) {
		if (trc_ret_stopping(s->retention))
			return;
		char ids[TRC_RETENTION_BATCH][TRC_ID_MAX + 1];
		size_t n = 0;
		trc_exp_iter *it = trc_exp_iter_new(s, exp, false, 0, NULL);
		if (!it)
			return;
		int64_t ms;
		const char *id;
		size_t len;
		while (n < TRC_RETENTION_BATCH && trc_exp_iter_next(it, &ms, &id, &len) &&
		       ms < cutoff_ms) {
			memcpy(ids[n], id, len);
			ids[n++][len] = '\0';
		}
		trc_exp_iter_free(it);
		if (n == 0)
			return;
		for (size_t i = 0; i < n; i++) {
			cn_err err;
			bool deleted;
			if (trc_ret_delete(s, ids[i], strlen(ids[i]), cutoff_ms, b, &deleted,
			                   &err) != CN_OK) {
				CN_LOGW("TRACE-RETENTION", NULL, "deleting %s: %s", ids[i],
				        err.msg);
				return;
			}
			if (deleted)
				s->retention->deleted++;
		}
	}
}

/* Each experiment with traces, in key order. */
static void trc_ret_sweep(trc_state *s, cn_kv_batch *b)
{
	cn_key next;
	cn_key_init(&next);
	for (;;) {
		cn_kv_iter *it = cn_kv_iter_new(s->db, TRC_CF_BY_TIME, NULL, 0);
		if (!it)
			return;
		if (next.len)
			cn_kv_iter_seek(it, next.b, next.len);
		else
			cn_kv_iter_seek_first(it);
		char exp[256];
		size_t elen = 0, pos = 0, klen;
		bool ok = false;
		if (cn_kv_iter_valid(it)) {
			const uint8_t *key = cn_kv_iter_key(it, &klen);
			ok = cn_key_get_str(key, klen, &pos, exp, sizeof exp, &elen);
		}
		cn_kv_iter_free(it);
		if (!ok)
			return;
		/* The next experiment's keys start after str(exp) + 0x00 0x01. */
		cn_key_init(&next);
		cn_key_str(&next, exp, elen);
		next.b[next.len - 1] = 0x02;
		trc_exp_facts f;
		cn_err err;
		if (trc_exp_facts_get(s, exp, elen, &f, &err) != CN_OK)
			continue; /* tracking unreachable: try again next sweep */
		int64_t ttl = f.ttl_ms >= 0 ? f.ttl_ms : s->default_ttl_ms;
		if (ttl > 0)
			trc_ret_experiment(s, exp, cn_now_ms() - ttl, b);
		if (trc_ret_stopping(s->retention))
			return;
	}
}

static void *trc_ret_main(void *arg)
{
	trc_state *s = arg;
	trc_retention *r = s->retention;
	cn_kv_batch *b = cn_kv_batch_new();
	for (;;) {
		pthread_mutex_lock(&r->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ns = until.tv_nsec + (s->retention_interval_ms % 1000) * 1000000;
		until.tv_sec += s->retention_interval_ms / 1000 + ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
			;
		bool stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop || !b)
			break;
		trc_ret_sweep(s, b);
	}
	cn_kv_batch_free(b);
	return NULL;
}

cn_code trc_retention_start(trc_state *s, cn_err *err)
{
	trc_retention *r = calloc(1, sizeof *r);
	if (!r)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	s->retention = r;
	if (pthread_create(&r->thread, NULL, trc_ret_main, s) != 0) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
		s->retention = NULL;
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "cannot start the trace retention thread");
	}
	return CN_OK;
}

void trc_retention_stop(trc_state *s)
{
	trc_retention *r = s->retention;
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
	s->retention = NULL;
}
