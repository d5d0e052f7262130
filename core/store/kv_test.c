/*
 * core/store/kv_test.c: the RocksDB layer against a real database in /tmp.
 *
 * Includes the storage-level "kill -9 loses no acknowledged write" proof:
 * this binary re-executes itself as a writer child (argv[1] ==
 * "--crash-writer"), which acknowledges each synced write on a pipe and is
 * SIGKILLed mid-stream; every acknowledged key must survive the reopen.
 */
#include "core/store/kv.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/store/key.h"

enum { CF_RUNS, CF_RUNS_BY_EXP, CF_PARAMS };
static const char *const kv_test_cfs[] = {"runs", "runs_by_exp", "params"};
#define NCF 3

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmpdir(char out[64])
{
	snprintf(out, 64, "/tmp/cn-kv-test-XXXXXX");
	if (!mkdtemp(out))
		abort();
}

static cn_kv *open_db(const char *dir, bool sync)
{
	cn_kv_opts o = {.sync = sync, .block_cache_mb = 0};
	cn_kv *db = NULL;
	cn_err err;
	cn_code rc = cn_kv_open(&db, dir, kv_test_cfs, NCF, &o, &err);
	if (rc != CN_OK)
		fprintf(stderr, "open: %s\n", err.msg);
	return db;
}

static void put1(cn_kv *db, int cf, const char *k, const char *v)
{
	cn_kv_batch *b = cn_kv_batch_new();
	cn_kv_batch_put(b, cf, k, strlen(k), v, strlen(v));
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);
}

/* 1 if key holds want, 0 if absent, -1 if it holds something else. */
static int has(cn_kv *db, int cf, const void *k, size_t klen, const char *want)
{
	cn_kv_val v;
	cn_err err;
	cn_code rc = cn_kv_get(db, cf, k, klen, &v, &err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return 0;
	if (rc != CN_OK)
		return -1;
	int ok = v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
	cn_kv_val_release(&v);
	return ok ? 1 : -1;
}

CN_TEST(put_get_delete_across_families)
{
	char dir[64];
	tmpdir(dir);
	cn_kv *db = open_db(dir, true);
	CN_CHECK(db != NULL);
	if (!db)
		return;
	put1(db, CF_RUNS, "k", "in-runs");
	put1(db, CF_PARAMS, "k", "in-params");
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "k", 1, "in-runs"), 1);
	CN_CHECK_EQ_INT(has(db, CF_PARAMS, "k", 1, "in-params"), 1);
	CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "k", 1, ""), 0);

	/* absent: RESOURCE_DOES_NOT_EXIST and err left untouched */
	cn_err err = {.code = CN_ABORTED, .msg = "sentinel"};
	cn_kv_val v;
	CN_CHECK_EQ_INT(cn_kv_get(db, CF_RUNS, "nope", 4, &v, &err), CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(err.code, CN_ABORTED);
	CN_CHECK(strcmp(err.msg, "sentinel") == 0);
	CN_CHECK(v.pin_ == NULL);
	cn_kv_val_release(&v); /* harmless on an empty value */

	/* a bad family index is an internal error, not a crash */
	CN_CHECK_EQ_INT(cn_kv_get(db, 7, "k", 1, &v, &err), CN_INTERNAL_ERROR);
	CN_CHECK(strstr(err.msg, "column family 7") != NULL);
	CN_CHECK_EQ_INT(cn_kv_get(db, -1, "k", 1, &v, &err), CN_INTERNAL_ERROR);

	/* a pinned value stays readable after the key is overwritten */
	CN_CHECK_EQ_INT(cn_kv_get(db, CF_RUNS, "k", 1, &v, &err), CN_OK);
	put1(db, CF_RUNS, "k", "changed");
	CN_CHECK(v.len == 7 && memcmp(v.data, "in-runs", 7) == 0);
	cn_kv_val_release(&v);
	CN_CHECK(v.pin_ == NULL && v.data == NULL);
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "k", 1, "changed"), 1);

	cn_kv_batch *b = cn_kv_batch_new();
	cn_kv_batch_del(b, CF_RUNS, "k", 1);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "k", 1, ""), 0);
	CN_CHECK_EQ_INT(has(db, CF_PARAMS, "k", 1, "in-params"), 1);

	/* binary keys and values, empty value */
	static const uint8_t bk[] = {0, 1, 0, 0xFF};
	b = cn_kv_batch_new();
	cn_kv_batch_put(b, CF_PARAMS, bk, sizeof bk, "", 0);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);
	CN_CHECK_EQ_INT(has(db, CF_PARAMS, bk, sizeof bk, ""), 1);

	cn_kv_stats st;
	cn_kv_get_stats(db, &st);
	CN_CHECK_EQ_INT(st.writes, 5);
	CN_CHECK(st.reads >= 9);
	CN_CHECK(st.syncs_shared_estimate <= st.writes);
	cn_kv_close(db);
	rm_rf(dir);
}

CN_TEST(batch_is_all_or_nothing)
{
	char dir[64];
	tmpdir(dir);
	cn_kv *db = open_db(dir, true);
	CN_CHECK(db != NULL);
	if (!db)
		return;
	cn_err err;
	cn_kv_batch *b = cn_kv_batch_new();
	/* entity + index, then an op that cannot apply: nothing may land */
	cn_kv_batch_put(b, CF_RUNS, "run1", 4, "entity", 6);
	cn_kv_batch_put(b, CF_RUNS_BY_EXP, "exp1/run1", 9, "", 0);
	cn_kv_batch_put(b, 42, "x", 1, "y", 1);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_INTERNAL_ERROR);
	CN_CHECK(strstr(err.msg, "column family 42") != NULL);
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "run1", 4, "entity"), 0);
	CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "exp1/run1", 9, ""), 0);

	/* the same batch object, cleared and refilled, applies both */
	cn_kv_batch_clear(b);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK); /* empty batch: no-op */
	cn_kv_batch_put(b, CF_RUNS, "run1", 4, "entity", 6);
	cn_kv_batch_put(b, CF_RUNS_BY_EXP, "exp1/run1", 9, "", 0);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "run1", 4, "entity"), 1);
	CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "exp1/run1", 9, ""), 1);

	/* move the index and delete the entity in one batch; later ops win */
	cn_kv_batch_clear(b);
	cn_kv_batch_del(b, CF_RUNS_BY_EXP, "exp1/run1", 9);
	cn_kv_batch_put(b, CF_RUNS_BY_EXP, "exp2/run1", 9, "", 0);
	cn_kv_batch_put(b, CF_RUNS, "run1", 4, "first", 5);
	cn_kv_batch_put(b, CF_RUNS, "run1", 4, "second", 6);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "exp1/run1", 9, ""), 0);
	CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "exp2/run1", 9, ""), 1);
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "run1", 4, "second"), 1);
	cn_kv_batch_free(b);
	cn_kv_close(db);
	rm_rf(dir);
}

/* Key of a metric point: (experiment u64, timestamp i64, name string). */
static void metric_key(cn_key *k, uint64_t exp, int64_t ts, const char *name)
{
	cn_key_init(k);
	cn_key_u64(k, exp);
	cn_key_i64(k, ts);
	cn_key_str(k, name, strlen(name));
}

static void decode_metric(const uint8_t *p, size_t len, uint64_t *exp, int64_t *ts, char *name)
{
	size_t pos = 0;
	CN_CHECK(cn_key_get_u64(p, len, &pos, exp));
	CN_CHECK(cn_key_get_i64(p, len, &pos, ts));
	CN_CHECK(cn_key_get_str(p, len, &pos, name, 16, NULL));
	CN_CHECK_EQ_INT(pos, len);
}

CN_TEST(iterators_order_bounds_and_direction)
{
	char dir[64];
	tmpdir(dir);
	cn_kv *db = open_db(dir, false);
	CN_CHECK(db != NULL);
	if (!db)
		return;
	static const int64_t times[] = {5, -3, 0, INT64_MAX, INT64_MIN, 100, -100};
	static const char *const names[] = {"loss", "acc", "a"};
	cn_kv_batch *b = cn_kv_batch_new();
	/* insert experiments 3, 1, 2 in scrambled order */
	for (uint64_t e = 3; e >= 1; e--)
		for (size_t t = 0; t < 7; t++)
			for (size_t n = 0; n < 3; n++) {
				cn_key k;
				metric_key(&k, e, times[(t * 3 + e) % 7], names[n]);
				cn_kv_batch_put(b, CF_PARAMS, k.b, k.len, "v", 1);
			}
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);

	cn_key pfx;
	cn_key_init(&pfx);
	cn_key_u64(&pfx, 2);
	cn_kv_iter *it = cn_kv_iter_new(db, CF_PARAMS, pfx.b, pfx.len);
	CN_CHECK(it != NULL);
	int count = 0;
	int64_t prev_ts = INT64_MIN;
	char prev_name[16] = "";
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		CN_CHECK(cn_kv_iter_value(it, &vlen) != NULL && vlen == 1);
		uint64_t e;
		int64_t ts;
		char name[16];
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK_EQ_INT(e, 2);
		if (count > 0)
			CN_CHECK(ts > prev_ts || (ts == prev_ts && strcmp(name, prev_name) > 0));
		prev_ts = ts;
		memcpy(prev_name, name, sizeof name);
		count++;
	}
	CN_CHECK_EQ_INT(count, 21);
	CN_CHECK_EQ_INT(cn_kv_iter_status(it, &err), CN_OK);
	cn_kv_iter_next(it); /* moving an invalid iterator is harmless */
	CN_CHECK(!cn_kv_iter_valid(it));

	/* reverse: seek_last then prev gives the same keys backwards */
	count = 0;
	prev_ts = INT64_MAX;
	for (cn_kv_iter_seek_last(it); cn_kv_iter_valid(it); cn_kv_iter_prev(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		uint64_t e;
		int64_t ts;
		char name[16];
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK_EQ_INT(e, 2);
		CN_CHECK(ts <= prev_ts);
		prev_ts = ts;
		count++;
	}
	CN_CHECK_EQ_INT(count, 21);

	/* seek_for_prev inside: last key <= (2, 0, "b") is (2, 0, "acc") */
	cn_key probe;
	metric_key(&probe, 2, 0, "b");
	cn_kv_iter_seek_for_prev(it, probe.b, probe.len);
	CN_CHECK(cn_kv_iter_valid(it));
	if (cn_kv_iter_valid(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		uint64_t e;
		int64_t ts;
		char name[16];
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK(e == 2 && ts == 0);
		CN_CHECK_STR(name, "acc");
	}
	/* seek inside: first key >= (2, 1, "") is (2, 5, "a") */
	metric_key(&probe, 2, 1, "");
	cn_kv_iter_seek(it, probe.b, probe.len);
	if (cn_kv_iter_valid(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		uint64_t e;
		int64_t ts;
		char name[16];
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK(e == 2 && ts == 5);
		CN_CHECK_STR(name, "a");
	} else {
		CN_CHECK(!"seek inside the prefix found nothing");
	}
	/* seeks outside the prefix clamp to it or find nothing */
	metric_key(&probe, 1, INT64_MAX, "zzz");
	cn_kv_iter_seek(it, probe.b, probe.len);
	size_t klen;
	const uint8_t *k = cn_kv_iter_key(it, &klen);
	uint64_t e = 0;
	int64_t ts = 0;
	char name[16];
	if (k) {
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK(e == 2 && ts == INT64_MIN);
	}
	CN_CHECK(k != NULL);
	cn_kv_iter_seek_for_prev(it, probe.b, probe.len); /* below the prefix */
	CN_CHECK(!cn_kv_iter_valid(it));
	CN_CHECK(cn_kv_iter_key(it, &klen) == NULL && klen == 0);
	metric_key(&probe, 3, INT64_MIN, "");
	cn_kv_iter_seek(it, probe.b, probe.len); /* above the prefix */
	CN_CHECK(!cn_kv_iter_valid(it));
	cn_kv_iter_seek_for_prev(it, probe.b, probe.len); /* last of the prefix */
	k = cn_kv_iter_key(it, &klen);
	if (k) {
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK(e == 2 && ts == INT64_MAX);
		CN_CHECK_STR(name, "loss");
	}
	CN_CHECK(k != NULL);
	cn_kv_iter_free(it);

	/* no prefix: all 63 keys, experiments in order */
	it = cn_kv_iter_new(db, CF_PARAMS, NULL, 0);
	count = 0;
	uint64_t prev_e = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		k = cn_kv_iter_key(it, &klen);
		decode_metric(k, klen, &e, &ts, name);
		CN_CHECK(e >= prev_e);
		prev_e = e;
		count++;
	}
	CN_CHECK_EQ_INT(count, 63);
	cn_kv_iter_seek_last(it);
	k = cn_kv_iter_key(it, &klen);
	if (k)
		decode_metric(k, klen, &e, &ts, name);
	CN_CHECK(k && e == 3 && ts == INT64_MAX);
	cn_kv_iter_free(it);

	/* a bad family gives a never-valid iterator with an error status */
	it = cn_kv_iter_new(db, 9, NULL, 0);
	CN_CHECK(it != NULL);
	cn_kv_iter_seek_first(it);
	CN_CHECK(!cn_kv_iter_valid(it));
	CN_CHECK_EQ_INT(cn_kv_iter_status(it, &err), CN_INTERNAL_ERROR);
	cn_kv_iter_free(it);
	cn_kv_close(db);
	rm_rf(dir);
}

static int count_prefix(cn_kv *db, int cf, const void *p, size_t plen)
{
	cn_kv_iter *it = cn_kv_iter_new(db, cf, p, plen);
	int n = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it))
		n++;
	cn_kv_iter_free(it);
	return n;
}

CN_TEST(prefix_bounds_with_ff_bytes_and_snapshot)
{
	char dir[64];
	tmpdir(dir);
	cn_kv *db = open_db(dir, false);
	CN_CHECK(db != NULL);
	if (!db)
		return;
	static const char *const keys[] = {"\x01\xFE\x09", "\x01\xFF",     "\x01\xFF\x05",
	                                   "\x02",         "\xFE\xFF",     "\xFF",
	                                   "\xFF\x01",     "\xFF\xFF\x00x"};
	static const size_t lens[] = {3, 2, 3, 1, 2, 1, 2, 4};
	cn_kv_batch *b = cn_kv_batch_new();
	for (size_t i = 0; i < 8; i++)
		cn_kv_batch_put(b, CF_RUNS, keys[i], lens[i], "v", 1);
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	/* prefix 01 FF: successor is 02, which must be excluded */
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\x01\xFF", 2), 2);
	/* prefix FF: no successor exists, upper side unbounded */
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\xFF", 1), 3);
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\xFF\xFF", 2), 1);
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\x01", 1), 3);
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\x03", 1), 0);
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, NULL, 0), 8);

	/* an iterator sees the database as of its creation */
	cn_kv_iter *it = cn_kv_iter_new(db, CF_RUNS, "\xFF", 1);
	cn_kv_batch_clear(b);
	cn_kv_batch_put(b, CF_RUNS, "\xFF\x02", 2, "new", 3);
	cn_kv_batch_del(b, CF_RUNS, "\xFF", 1);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	int n = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it))
		n++;
	CN_CHECK_EQ_INT(n, 3);
	cn_kv_iter_free(it);
	CN_CHECK_EQ_INT(count_prefix(db, CF_RUNS, "\xFF", 1), 3); /* one gone, one new */
	CN_CHECK_EQ_INT(has(db, CF_RUNS, "\xFF\x02", 2, "new"), 1);
	cn_kv_batch_free(b);
	cn_kv_close(db);
	rm_rf(dir);
}

CN_TEST(reopen_persists_and_families_are_kept)
{
	char dir[64], nested[128], cp[160];
	tmpdir(dir);
	snprintf(nested, sizeof nested, "%s/a/b/db", dir); /* parents are created */
	cn_kv *db = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, kv_test_cfs, NCF, NULL, &err), CN_OK);
	if (!db)
		return;
	put1(db, CF_RUNS_BY_EXP, "idx", "1");
	put1(db, CF_PARAMS, "p", "2");

	/* a second handle on the same database is refused (RocksDB's lock) */
	cn_kv *again = (cn_kv *)1;
	CN_CHECK_EQ_INT(cn_kv_open(&again, nested, kv_test_cfs, NCF, NULL, &err),
	                CN_INTERNAL_ERROR);
	CN_CHECK(again == NULL);
	CN_CHECK(strstr(err.msg, "kv: open:") != NULL);

	/* checkpoint: a consistent copy that opens on its own */
	snprintf(cp, sizeof cp, "%s/checkpoint", dir);
	CN_CHECK_EQ_INT(cn_kv_checkpoint(db, cp, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_kv_checkpoint(db, cp, &err), CN_RESOURCE_ALREADY_EXISTS);
	cn_kv_close(db);

	/* reopen listing only "params" (and "default" twice): the other
	 * families still exist and are opened, data is intact */
	const char *fewer[] = {"params", "default"};
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, fewer, 2, NULL, &err), CN_OK);
	if (db) {
		CN_CHECK_EQ_INT(has(db, 0, "p", 1, "2"), 1);
		put1(db, 1, "in-default", "d");
		cn_kv_close(db);
	}
	/* reopen with one more family than before */
	const char *more[] = {"runs", "runs_by_exp", "params", "tags"};
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, more, 4, NULL, &err), CN_OK);
	if (db) {
		CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "idx", 3, "1"), 1);
		CN_CHECK_EQ_INT(has(db, CF_PARAMS, "p", 1, "2"), 1);
		CN_CHECK_EQ_INT(has(db, 3, "p", 1, ""), 0);
		put1(db, 3, "t", "tag");
		cn_kv_close(db);
	}
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, more, 4, NULL, &err), CN_OK);
	if (db) {
		CN_CHECK_EQ_INT(has(db, 3, "t", 1, "tag"), 1);
		cn_kv_close(db);
	}
	CN_CHECK_EQ_INT(cn_kv_open(&db, cp, kv_test_cfs, NCF, NULL, &err), CN_OK);
	if (db) {
		CN_CHECK_EQ_INT(has(db, CF_RUNS_BY_EXP, "idx", 3, "1"), 1);
		CN_CHECK_EQ_INT(has(db, CF_PARAMS, "p", 1, "2"), 1);
		cn_kv_close(db);
	}
	/* bad arguments and an unusable path are errors, not crashes */
	CN_CHECK_EQ_INT(cn_kv_open(&db, "", kv_test_cfs, NCF, NULL, &err), CN_INTERNAL_ERROR);
	const char *unnamed[] = {"runs", ""};
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, unnamed, 2, NULL, &err), CN_INTERNAL_ERROR);
	char file[128];
	snprintf(file, sizeof file, "%s/plainfile", dir);
	FILE *f = fopen(file, "w");
	if (f)
		fclose(f);
	snprintf(nested, sizeof nested, "%s/plainfile/db", dir);
	CN_CHECK_EQ_INT(cn_kv_open(&db, nested, kv_test_cfs, NCF, NULL, &err), CN_INTERNAL_ERROR);
	CN_CHECK(db == NULL);
	CN_CHECK(strstr(err.msg, "cannot create") != NULL);
	rm_rf(dir);
}

#define WRITERS    8
#define PER_WRITER 500

typedef struct writer_arg {
	cn_kv *db;
	int id;
	int failures;
} writer_arg;

static void *writer(void *p)
{
	writer_arg *a = p;
	cn_kv_batch *b = cn_kv_batch_new();
	for (int i = 0; i < PER_WRITER; i++) {
		cn_key k;
		cn_key_init(&k);
		cn_key_u32(&k, (uint32_t)a->id);
		cn_key_u32(&k, (uint32_t)i);
		cn_kv_batch_clear(b);
		cn_kv_batch_put(b, CF_RUNS, k.b, k.len, &i, sizeof i);
		cn_kv_batch_put(b, CF_RUNS_BY_EXP, k.b, k.len, "", 0);
		cn_err err;
		if (cn_kv_write(a->db, b, &err) != CN_OK)
			a->failures++;
	}
	cn_kv_batch_free(b);
	return NULL;
}

CN_TEST(concurrent_synced_writers_all_land)
{
	char dir[64];
	tmpdir(dir);
	cn_kv *db = open_db(dir, true);
	CN_CHECK(db != NULL);
	if (!db)
		return;
	pthread_t th[WRITERS];
	writer_arg args[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		args[i] = (writer_arg){.db = db, .id = i};
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		CN_CHECK_EQ_INT(args[i].failures, 0);
	}
	cn_kv_stats st;
	cn_kv_get_stats(db, &st);
	CN_CHECK_EQ_INT(st.writes, WRITERS * PER_WRITER);
	CN_CHECK(st.syncs_shared_estimate < st.writes);
	cn_kv_close(db);

	db = open_db(dir, true); /* present after reopen, both families */
	int missing = 0;
	for (int w = 0; db && w < WRITERS; w++)
		for (int i = 0; i < PER_WRITER; i++) {
			cn_key k;
			cn_key_init(&k);
			cn_key_u32(&k, (uint32_t)w);
			cn_key_u32(&k, (uint32_t)i);
			cn_kv_val v;
			cn_err err;
			if (cn_kv_get(db, CF_RUNS, k.b, k.len, &v, &err) != CN_OK) {
				missing++;
				continue;
			}
			if (v.len != sizeof i || memcmp(v.data, &i, sizeof i) != 0)
				missing++;
			cn_kv_val_release(&v);
			if (has(db, CF_RUNS_BY_EXP, k.b, k.len, "") != 1)
				missing++;
		}
	CN_CHECK_EQ_INT(missing, 0);
	cn_kv_close(db);
	rm_rf(dir);
}

/* The child: writes keys 0, 1, 2, ... synced, acknowledging each on fd 1
 * only after cn_kv_write has returned. Runs until killed. */
static int crash_writer(const char *dir)
{
	cn_kv *db = open_db(dir, true);
	if (!db)
		return 2;
	cn_kv_batch *b = cn_kv_batch_new();
	for (uint32_t i = 0;; i++) {
		char k[16], v[32];
		snprintf(k, sizeof k, "%08u", i);
		snprintf(v, sizeof v, "value-%u", i);
		cn_kv_batch_clear(b);
		cn_kv_batch_put(b, CF_RUNS, k, strlen(k), v, strlen(v));
		cn_kv_batch_put(b, CF_RUNS_BY_EXP, k, strlen(k), "", 0);
		cn_err err;
		if (cn_kv_write(db, b, &err) != CN_OK)
			return 3;
		if (write(STDOUT_FILENO, &i, sizeof i) != (ssize_t)sizeof i)
			return 4;
	}
}

static const char *kv_test_self; /* argv[0], to re-execute as the writer */

CN_TEST(kill_9_loses_no_acknowledged_write)
{
	char dir[64];
	tmpdir(dir);
	int fds[2];
	CN_CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", kv_test_self, "--crash-writer", dir, (char *)NULL);
		_exit(127);
	}
	CN_CHECK(pid > 0);
	close(fds[1]);
	uint32_t last = 0, ack;
	int acks = 0;
	while (acks < 300 && read(fds[0], &ack, sizeof ack) == (ssize_t)sizeof ack) {
		CN_CHECK_EQ_INT(ack, acks);
		last = ack;
		acks++;
	}
	kill(pid, SIGKILL);
	int status = 0;
	waitpid(pid, &status, 0);
	CN_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* acks already in the pipe were sent after their writes returned: they count too */
	while (read(fds[0], &ack, sizeof ack) == (ssize_t)sizeof ack) {
		last = ack;
		acks++;
	}
	close(fds[0]);
	CN_CHECK(acks >= 300);

	cn_kv *db = open_db(dir, true); /* recovery must succeed after kill -9 */
	CN_CHECK(db != NULL);
	int lost = 0;
	for (uint32_t i = 0; db && i <= last; i++) {
		char k[16], v[32];
		snprintf(k, sizeof k, "%08u", i);
		snprintf(v, sizeof v, "value-%u", i);
		if (has(db, CF_RUNS, k, strlen(k), v) != 1 ||
		    has(db, CF_RUNS_BY_EXP, k, strlen(k), "") != 1)
			lost++;
	}
	CN_CHECK_EQ_INT(lost, 0);
	fprintf(stderr, "  kill -9 after %d acknowledged writes: %d lost\n", acks, lost);
	cn_kv_close(db);
	rm_rf(dir);
}

/* A hook that adds one key to each batch written on its thread. */
typedef struct note_hook {
	cn_kv_hook hook;
	int cf, before, applied;
} note_hook;

static void note_before(cn_kv_hook *h, cn_kv *db, cn_kv_batch *b)
{
	(void)db;
	note_hook *n = (note_hook *)h;
	char k[16];
	snprintf(k, sizeof k, "note-%d", n->before++);
	cn_kv_batch_put(b, n->cf, k, strlen(k), "n", 1);
}

static void note_after(cn_kv_hook *h, cn_kv *db, bool applied)
{
	(void)db;
	((note_hook *)h)->applied += applied;
}

static cn_code count_listed(void *arg, cn_kv *const *dbs, size_t n)
{
	(void)dbs;
	*(size_t *)arg = n;
	return CN_OK;
}

/* Extra families are addressable by name; a thread's hook rides in its
 * writes (not in unsynced ones, not on other threads) and leaves the
 * caller's batch as it was; shared databases are listed while open. */
CN_TEST(extra_families_hook_and_shared_list)
{
	char dir[64], dir2[64];
	tmpdir(dir);
	tmpdir(dir2);
	static const char *const extra[] = {"notes"};
	cn_kv_shared *sh = cn_kv_shared_new(4);
	CN_CHECK(sh != NULL);
	cn_kv_opts o = {.sync = true, .shared = sh, .extra_cfs = extra, .nextra = 1};
	cn_kv *db = NULL, *db2 = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_open(&db, dir, kv_test_cfs, NCF, &o, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_kv_open(&db2, dir2, kv_test_cfs, NCF, &o, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_kv_cf_find(db, "notes"), NCF);
	CN_CHECK_EQ_INT(cn_kv_cf_find(db, "params"), CF_PARAMS);
	CN_CHECK_EQ_INT(cn_kv_cf_find(db, "nope"), -1);
	size_t listed = 0;
	cn_kv_shared_with_dbs(sh, count_listed, &listed);
	CN_CHECK_EQ_INT((int)listed, 2);

	note_hook n = {{note_before, note_after}, NCF, 0, 0};
	CN_CHECK(cn_kv_hook_set(&n.hook) == NULL);
	cn_kv_batch *b = cn_kv_batch_new();
	cn_kv_batch_put(b, CF_RUNS, "r1", 2, "v", 1);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_kv_write_unsynced(db, b, &err), CN_OK); /* no hook */
	cn_kv_batch_clear(b);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK); /* empty: no hook */
	cn_kv_batch_put(b, 99, "bad", 3, "v", 1);
	CN_CHECK(cn_kv_write(db, b, &err) != CN_OK); /* not applied, says so */
	CN_CHECK(cn_kv_hook_set(NULL) == &n.hook);
	CN_CHECK_EQ_INT(n.before, 2);
	CN_CHECK_EQ_INT(n.applied, 1);
	CN_CHECK_EQ_INT(has(db, NCF, "note-0", 6, "n"), 1);
	CN_CHECK_EQ_INT(has(db, NCF, "note-1", 6, "n"), 0);
	/* The caller's batch got its own op back, nothing else. */
	cn_kv_batch_clear(b);
	cn_kv_batch_put(b, CF_RUNS, "r2", 2, "v", 1);
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	CN_CHECK_EQ_INT(n.before, 2);
	cn_kv_batch_free(b);

	cn_kv_close(db);
	cn_kv_shared_with_dbs(sh, count_listed, &listed);
	CN_CHECK_EQ_INT((int)listed, 1);
	cn_kv_close(db2);
	cn_kv_shared_free(sh);
	rm_rf(dir);
	rm_rf(dir2);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--crash-writer") == 0)
		return crash_writer(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	kv_test_self = argv[0];
	return cn_test_main();
}
