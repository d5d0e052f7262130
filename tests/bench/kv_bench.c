/*
 * tests/bench/kv_bench.c: throughput of the RocksDB layer (core/store/kv.h).
 *
 *   cn_kv_bench [--dir D] [--keys N] [--sync-ops M] [--gets G]
 *
 * Phases, each printing ops/s:
 *   1. synced puts, 1 writer, M ops          (db_bench fillrandom --sync=1 --threads=1)
 *   2. synced puts, 8 writers, M ops total   (db_bench fillrandom --sync=1 --threads=8)
 *   3. load N keys, unsynced, 1000 per batch (db_bench fillrandom --batch_size=1000)
 *   4. point gets of random loaded keys, 1 and 8 threads, G gets per thread
 *                                            (db_bench readrandom --threads=1/8)
 * Keys are 16 bytes and values 100 bytes, db_bench's defaults, so the lead
 * can run db_bench with the printed flags on the same disk and compare.
 * Not a test: no assertions about speed; it exits non-zero only on errors.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/store/kv.h"

#define BENCH_KEY   16
#define BENCH_VALUE 100
#define BENCH_MAXT  8

typedef struct bench_job {
	cn_kv *db;
	int thread;
	long from, count; /* key numbers */
	long keyspace;    /* gets: random keys in [0, keyspace) */
	int errors;
	long found;
} bench_job;

static void bench_key(char k[BENCH_KEY], unsigned long n)
{
	char tmp[24];
	snprintf(tmp, sizeof tmp, "%016lu", n % 10000000000000000UL); /* 16 digits */
	memcpy(k, tmp, BENCH_KEY);
}

/* Per-thread PRNG (xorshift64): cheap and independent across threads. */
static unsigned long bench_next(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *bench_put(void *p)
{
	bench_job *j = p;
	cn_kv_batch *b = cn_kv_batch_new();
	char k[BENCH_KEY], v[BENCH_VALUE];
	memset(v, 'v', sizeof v);
	for (long i = 0; i < j->count; i++) {
		bench_key(k, (unsigned long)(j->from + i));
		cn_kv_batch_clear(b);
		cn_kv_batch_put(b, 0, k, sizeof k, v, sizeof v);
		cn_err err;
		if (cn_kv_write(j->db, b, &err) != CN_OK && j->errors++ == 0)
			fprintf(stderr, "write: %s\n", err.msg);
	}
	cn_kv_batch_free(b);
	return NULL;
}

static void *bench_get(void *p)
{
	bench_job *j = p;
	unsigned long seed = 0x9E3779B97F4A7C15UL * (unsigned long)(j->thread + 1);
	char k[BENCH_KEY];
	for (long i = 0; i < j->count; i++) {
		bench_key(k, bench_next(&seed) % (unsigned long)j->keyspace);
		cn_kv_val v;
		cn_err err;
		cn_code rc = cn_kv_get(j->db, 0, k, sizeof k, &v, &err);
		if (rc == CN_OK) {
			j->found++;
			cn_kv_val_release(&v);
		} else if (rc != CN_RESOURCE_DOES_NOT_EXIST && j->errors++ == 0) {
			fprintf(stderr, "get: %s\n", err.msg);
		}
	}
	return NULL;
}

/* Runs fn on nthreads jobs splitting `total` ops; returns ops/s, adds errors. */
static double bench_run(void *(*fn)(void *), cn_kv *db, int nthreads, long total, long base,
                        long keyspace, int *errors, long *found)
{
	pthread_t th[BENCH_MAXT];
	bench_job jobs[BENCH_MAXT];
	long per = total / nthreads;
	int64_t t0 = cn_mono_ns();
	for (int i = 0; i < nthreads; i++) {
		jobs[i] = (bench_job){.db = db,
		                      .thread = i,
		                      .from = base + i * per,
		                      .count = per,
		                      .keyspace = keyspace};
		pthread_create(&th[i], NULL, fn, &jobs[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		*errors += jobs[i].errors;
		if (found)
			*found += jobs[i].found;
	}
	double secs = (double)(cn_mono_ns() - t0) / 1e9;
	return (double)(per * nthreads) / (secs > 0 ? secs : 1e-9);
}

static double bench_load(cn_kv *db, long n, int *errors)
{
	cn_kv_batch *b = cn_kv_batch_new();
	char k[BENCH_KEY], v[BENCH_VALUE];
	memset(v, 'v', sizeof v);
	int64_t t0 = cn_mono_ns();
	for (long i = 0; i < n;) {
		cn_kv_batch_clear(b);
		for (long end = i + 1000; i < end && i < n; i++) {
			bench_key(k, (unsigned long)i);
			cn_kv_batch_put(b, 0, k, sizeof k, v, sizeof v);
		}
		cn_err err;
		if (cn_kv_write(db, b, &err) != CN_OK && (*errors)++ == 0)
			fprintf(stderr, "load: %s\n", err.msg);
	}
	cn_kv_batch_free(b);
	return (double)n / ((double)(cn_mono_ns() - t0) / 1e9);
}

static int bench_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void bench_usage(void)
{
	fprintf(stderr, "usage: cn_kv_bench [--dir D] [--keys N] [--sync-ops M] [--gets G]\n");
}

int main(int argc, char **argv)
{
	char dir[256] = "";
	long keys = 100000, sync_ops = 10000, gets = 200000;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			bench_usage();
			return 2;
		}
		if (strcmp(a, "--dir") == 0)
			snprintf(dir, sizeof dir, "%s/cn-kv-bench-XXXXXX", v);
		else if (strcmp(a, "--keys") == 0)
			keys = atol(v);
		else if (strcmp(a, "--sync-ops") == 0)
			sync_ops = atol(v);
		else if (strcmp(a, "--gets") == 0)
			gets = atol(v);
		else {
			bench_usage();
			return 2;
		}
	}
	if (keys < 1 || sync_ops < BENCH_MAXT || gets < 1) {
		bench_usage();
		return 2;
	}
	if (!dir[0])
		snprintf(dir, sizeof dir, "/tmp/cn-kv-bench-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}

	cn_kv *db = NULL;
	cn_err err;
	cn_kv_opts synced = {.sync = true}, unsynced = {.sync = false};
	int errors = 0;
	printf("cn_kv_bench: dir %s, key %d B, value %d B\n", dir, BENCH_KEY, BENCH_VALUE);

	/* "default" listed explicitly so that it is column family 0 */
	const char *cf[] = {"default"};
	if (cn_kv_open(&db, dir, cf, 1, &synced, &err) != CN_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	double w1 = bench_run(bench_put, db, 1, sync_ops, 0, 0, &errors, NULL);
	printf("synced put,  1 writer : %10.0f ops/s  (%ld ops; db_bench --benchmarks=fillrandom "
	       "--sync=1 --threads=1 --num=%ld)\n",
	       w1, sync_ops, sync_ops);
	cn_kv_stats before, after;
	cn_kv_get_stats(db, &before);
	double w8 = bench_run(bench_put, db, BENCH_MAXT, sync_ops, sync_ops, 0, &errors, NULL);
	cn_kv_get_stats(db, &after);
	unsigned long long shared = after.syncs_shared_estimate - before.syncs_shared_estimate,
	                   writes = after.writes - before.writes;
	printf("synced put,  8 writers: %10.0f ops/s  (%ld ops, ~%.1f writes per fsync; db_bench "
	       "--benchmarks=fillrandom --sync=1 --threads=8 --num=%ld)\n",
	       w8, sync_ops, writes > shared ? (double)writes / (double)(writes - shared) : 0.0,
	       sync_ops / BENCH_MAXT);
	cn_kv_close(db);

	if (cn_kv_open(&db, dir, cf, 1, &unsynced, &err) != CN_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	double ld = bench_load(db, keys, &errors);
	printf("load (batches of 1000): %10.0f ops/s  (%ld keys)\n", ld, keys);
	long found = 0;
	double g1 = bench_run(bench_get, db, 1, gets, 0, keys, &errors, &found);
	printf("point get,   1 thread : %10.0f ops/s  (%ld gets, %ld found; db_bench "
	       "--benchmarks=readrandom --threads=1 --num=%ld --reads=%ld)\n",
	       g1, gets, found, keys, gets);
	found = 0;
	double g8 =
	        bench_run(bench_get, db, BENCH_MAXT, gets * BENCH_MAXT, 0, keys, &errors, &found);
	printf("point get,   8 threads: %10.0f ops/s  (%ld gets, %ld found; db_bench "
	       "--benchmarks=readrandom --threads=8 --num=%ld --reads=%ld)\n",
	       g8, gets * BENCH_MAXT, found, keys, gets);
	cn_kv_close(db);
	nftw(dir, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
	if (errors)
		fprintf(stderr, "%d errors\n", errors);
	return errors ? 1 : 0;
}
