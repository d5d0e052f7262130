/* core/plugin/store_conformance_threads.c: the conformance suite's concurrent cases. */
#include "core/plugin/store_conformance_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conc_worker {
	cn_conf *c;
	int id;
	int failures;
	char first[512]; /* the first failure, reported by the main thread */
	atomic_int *writers_left;
} conc_worker;

static void conc_fail(conc_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conc_fail(conc_worker *w, const char *fmt, ...)
{
	if (w->failures++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->first, sizeof w->first, fmt, ap);
		va_end(ap);
	}
}

#define CONC_OBJECTS_PER_WRITER 12

static int64_t conc_size(int t, int j)
{
	return (t * 7919 + j * 15443) % 150001;
}

static void *conc_writer_main(void *arg)
{
	conc_worker *w = arg;
	char p[256];
	cn_err err = {0};
	for (int j = 0; j < CONC_OBJECTS_PER_WRITER; j++) {
		cn_conf_path(w->c, p, sizeof p, "conc/t%d/o%02d", w->id, j);
		uint64_t seed = (uint64_t)(w->id * 100 + j);
		int64_t size = conc_size(w->id, j), total = 0;
		bool match = false;
		if (cn_conf_put_pattern(w->c->s, p, seed, size, 8191, NULL, &err) != CN_OK) {
			conc_fail(w, "put %s: %s", p, err.msg);
			continue;
		}
		if (cn_conf_read_pattern(w->c->s, p, seed, 0, -1, 10000, &total, &match, NULL,
		                         &err) != CN_OK)
			conc_fail(w, "get %s: %s", p, err.msg);
		else if (total != size || !match)
			conc_fail(w, "%s: read %lld of %lld bytes, match=%d", p, (long long)total,
			          (long long)size, match);
	}
	return NULL;
}

#define CONC_RACE_BYTES (128 * 1024)

/* Rewrites one path with objects of one repeated byte. */
static void *conc_racer_main(void *arg)
{
	conc_worker *w = arg;
	char p[256];
	cn_err err = {0};
	uint8_t *buf = malloc(16 * 1024);
	cn_conf_path(w->c, p, sizeof p, "race/same");
	for (int round = 0; buf && round < 6; round++) {
		memset(buf, w->id * 16 + round + 1, 16 * 1024);
		cn_store_writer *wr = NULL;
		cn_code rc = cn_store_put_begin(w->c->s, p, CONC_RACE_BYTES, &wr, &err);
		for (int k = 0; rc == CN_OK && k < CONC_RACE_BYTES / (16 * 1024); k++)
			rc = cn_store_put_write(wr, buf, 16 * 1024, &err);
		if (wr)
			rc = rc == CN_OK ? cn_store_put_commit(wr, &err)
			                 : (cn_store_put_abort(wr), rc);
		if (rc != CN_OK)
			conc_fail(w, "racer put: %s", err.msg);
	}
	free(buf);
	atomic_fetch_sub(w->writers_left, 1);
	return NULL;
}

/* Reads the raced path until the writers are done: never a torn object. */
static void *conc_watcher_main(void *arg)
{
	conc_worker *w = arg;
	char p[256];
	cn_err err = {0};
	uint8_t *buf = malloc(CONC_RACE_BYTES + 1);
	cn_conf_path(w->c, p, sizeof p, "race/same");
	int reads = 0;
	while (buf && (atomic_load(w->writers_left) > 0 || reads < 3)) {
		cn_store_reader *r = NULL;
		if (cn_store_get_open(w->c->s, p, 0, -1, &r, NULL, &err) != CN_OK) {
			conc_fail(w, "watcher open: %s", err.msg);
			break;
		}
		/* One spare byte in buf shows an object longer than expected. */
		size_t total = 0, n = 0;
		cn_code rc = CN_OK;
		while (total < CONC_RACE_BYTES + 1) {
			rc = cn_store_get_read(r, buf + total, CONC_RACE_BYTES + 1 - total, &n,
			                       &err);
			if (rc != CN_OK || n == 0)
				break;
			total += n;
		}
		cn_store_get_close(r);
		reads++;
		if (rc != CN_OK) {
			conc_fail(w, "watcher read: %s", err.msg);
			break;
		}
		bool uniform = total == CONC_RACE_BYTES;
		for (size_t i = 1; uniform && i < total; i++)
			uniform = buf[i] == buf[0];
		if (!uniform) {
			conc_fail(w, "torn object: %zu bytes, first byte %u", total, buf[0]);
			break;
		}
	}
	free(buf);
	return NULL;
}

static void conc_join(cn_conf *c, pthread_t *tids, conc_worker *ws, int n)
{
	for (int i = 0; i < n; i++) {
		pthread_join(tids[i], NULL);
		if (ws[i].failures) {
			char m[700];
			snprintf(m, sizeof m, "worker %d: %d failures, first: %s", ws[i].id,
			         ws[i].failures, ws[i].first);
			cn_conf_report(c, false, __FILE__, __LINE__, m);
		}
	}
}

void cn_conf_concurrent(cn_conf *c)
{
	int n = c->o.threads;
	/* The race below always runs 4 writers and 2 watchers, whatever n is. */
	size_t slots = (size_t)(n > 4 ? n : 4) + 2;
	pthread_t *tids = calloc(slots, sizeof *tids);
	conc_worker *ws = calloc(slots, sizeof *ws);
	if (!CN_CONF_CHECK(c, tids && ws)) {
		free(tids);
		free(ws);
		return;
	}
	int started = 0;
	for (int i = 0; i < n; i++) {
		ws[i] = (conc_worker){.c = c, .id = i};
		if (pthread_create(&tids[i], NULL, conc_writer_main, &ws[i]) == 0)
			started++;
		else
			break;
	}
	CN_CONF_CHECK(c, started == n);
	conc_join(c, tids, ws, started);
	/* Every writer's directory holds all its objects. */
	char d[256], tok[CAIRN_PAGE_TOKEN_MAX], p[256];
	cn_err err;
	for (int i = 0; i < started; i++) {
		cn_conf_list l = {0};
		cn_conf_path(c, d, sizeof d, "conc/t%d", i);
		if (CN_CONF_OK(c,
		               cn_store_list(c->s, d, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok,
		                             &err),
		               &err)) {
			CN_CONF_CHECK(c, l.n == CONC_OBJECTS_PER_WRITER);
			for (int j = 0; j < l.n; j++) {
				cn_conf_path(c, p, sizeof p, "conc/t%d/o%02d", i, j);
				CN_CONF_CHECK(c, strcmp(l.path[j], p) == 0 &&
				                         l.size[j] == conc_size(i, j));
			}
		}
	}

	/* Racing writers on one path, with two readers watching. */
	atomic_int left = 4;
	cn_conf_path(c, p, sizeof p, "race/same");
	uint8_t *init = malloc(CONC_RACE_BYTES);
	if (init) {
		memset(init, 0xEE, CONC_RACE_BYTES);
		CN_CONF_OK(c, cn_store_put_bytes(c->s, p, init, CONC_RACE_BYTES, &err), &err);
		free(init);
	}
	started = 0;
	for (int i = 0; i < 6; i++) {
		ws[i] = (conc_worker){.c = c, .id = i, .writers_left = &left};
		if (pthread_create(&tids[i], NULL, i < 4 ? conc_racer_main : conc_watcher_main,
		                   &ws[i]) != 0)
			break;
		started++;
	}
	CN_CONF_CHECK(c, started == 6);
	if (started < 4)
		atomic_store(&left, 0);
	conc_join(c, tids, ws, started);
	free(tids);
	free(ws);
}
