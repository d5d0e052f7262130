/*
 * core/tracking/metric_chunks_test.c: the chunked metric history format
 * (metric_chunks.c) on a real RocksDB: old one-key-per-point entries and
 * chunks mixed under one metric, merged in (step, timestamp, seq) order with
 * ties broken by seq, reads from a position, early stop, corrupt chunks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/tracking/tracking_int.h"

typedef struct seen {
	trk_history_point p[64];
	char model[64][16];
	int n, stop_after;
} seen;

static cn_code collect(void *arg, const trk_history_point *p, bool *more, cn_err *err)
{
	(void)err;
	seen *s = arg;
	if (s->n < 64) {
		s->p[s->n] = *p;
		snprintf(s->model[s->n], sizeof s->model[0], "%.*s", (int)p->model_id.len,
		         p->model_id.ptr ? p->model_id.ptr : "");
		s->n++;
	}
	if (s->stop_after && s->n == s->stop_after)
		*more = false;
	return CN_OK;
}

static cn_kv *open_store(char *dir)
{
	static const char *names[TRK_CF_COUNT_];
	static char bufs[TRK_CF_COUNT_][16];
	for (int i = 0; i < TRK_CF_COUNT_; i++) {
		snprintf(bufs[i], sizeof bufs[i], "cf%d", i);
		names[i] = bufs[i];
	}
	cn_kv *db = NULL;
	cn_err err;
	cn_kv_opts o = {.sync = false};
	CN_CHECK(mkdtemp(dir) != NULL);
	CN_CHECK_EQ_INT(cn_kv_open(&db, dir, names, TRK_CF_COUNT_, &o, &err), CN_OK);
	return db;
}

static void remove_store(cn_kv *db, const char *dir)
{
	cn_kv_close(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

static void put_old(cn_kv_batch *b, const uint8_t id[16], cn_fb_str mkey, int64_t step, int64_t ts,
                    uint64_t seq, double v, const char *model)
{
	cn_key k;
	trk_metric_key(&k, id, mkey, step, ts, seq);
	size_t vlen;
	cn_fb_str m = {model, model ? (uint32_t)strlen(model) : 0}, none = {NULL, 0};
	uint8_t *val = trk_point_pack(v, m, none, none, &vlen);
	cn_kv_batch_put(b, TRK_CF_RUN_METRICS, k.b, k.len, val, vlen);
	free(val);
}

static const uint8_t run_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t other_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17};

/* Expected merged order of the data written by fill(): (step, ts, seq, value). */
static const struct {
	int64_t step, ts;
	uint64_t seq;
	double v;
	const char *model;
} want[] = {
        {-5, 0, 40, -5.0, ""},  /* chunk B: negative steps sort first */
        {0, 1, 10, 0.1, ""},    /* chunk A */
        {0, 1, 11, 0.11, "m1"}, /* old form, a tie on (step, ts): seq decides */
        {0, 1, 12, 0.12, ""},   /* chunk A again, after the old point */
        {0, 2, 5, 0.2, ""},     /* old form without strings (an earlier version's) */
        {1, 0, 41, 1.0, ""},    /* chunk B (given unsorted) */
        {1, 0, 42, 1.5, ""},    /* chunk B: same (step, ts), next seq */
        {2, 7, 13, 2.0, ""},    /* chunk A */
        {3, 1, 1, 3.0, "m2"},   /* old form */
        {9, 9, 43, 9.0, ""},    /* chunk B */
};
#define NWANT (sizeof want / sizeof want[0])

static void fill(cn_kv *db, cn_fb_str mkey)
{
	cn_kv_batch *b = cn_kv_batch_new();
	put_old(b, run_id, mkey, 0, 1, 11, 0.11, "m1");
	put_old(b, run_id, mkey, 0, 2, 5, 0.2, NULL);
	put_old(b, run_id, mkey, 3, 1, 1, 3.0, "m2");
	const trk_chunk_point a[] = {{0, 1, 10, 0.1}, {0, 1, 12, 0.12}, {2, 7, 13, 2.0}};
	const trk_chunk_point bb[] = {
	        {9, 9, 43, 9.0}, {1, 0, 42, 1.5}, {-5, 0, 40, -5.0}, {1, 0, 41, 1.0}};
	CN_CHECK(trk_chunk_put(b, run_id, mkey, a, 3));
	CN_CHECK(trk_chunk_put(b, run_id, mkey, bb, 4));
	/* Neighbours that must not leak in: another metric key, another run. */
	const trk_chunk_point x[] = {{0, 0, 99, 99.0}};
	CN_CHECK(trk_chunk_put(b, run_id, (cn_fb_str){"loss2", 5}, x, 1));
	CN_CHECK(trk_chunk_put(b, other_id, mkey, x, 1));
	put_old(b, run_id, (cn_fb_str){"los", 3}, 0, 0, 98, 98.0, NULL);
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);
}

static void check_from(const seen *s, size_t first)
{
	CN_CHECK_EQ_INT(s->n, (int)(NWANT - first));
	for (int i = 0; i < s->n && first + (size_t)i < NWANT; i++) {
		size_t w = first + (size_t)i;
		CN_CHECK_EQ_INT(s->p[i].step, want[w].step);
		CN_CHECK_EQ_INT(s->p[i].timestamp, want[w].ts);
		CN_CHECK_EQ_INT(s->p[i].seq, want[w].seq);
		CN_CHECK(s->p[i].value == want[w].v);
		CN_CHECK_STR(s->model[i], want[w].model);
	}
}

CN_TEST(old_and_chunked_points_merge_in_order)
{
	char dir[] = "/tmp/cn-chunks-test-XXXXXX";
	cn_kv *db = open_store(dir);
	if (!db)
		return;
	trk_state st;
	memset(&st, 0, sizeof st);
	st.db = db;
	cn_fb_str mkey = {"loss", 4};
	fill(db, mkey);
	cn_err err;
	seen s = {0};
	CN_CHECK_EQ_INT(trk_metric_scan(&st, run_id, mkey, collect, &s, &err), CN_OK);
	check_from(&s, 0);

	/* From every position (a page token): exactly the tail from there. */
	for (size_t f = 0; f < NWANT; f++) {
		uint8_t from[24];
		trk_point_suffix(from, want[f].step, want[f].ts, want[f].seq);
		memset(&s, 0, sizeof s);
		CN_CHECK_EQ_INT(trk_metric_scan_from(&st, run_id, mkey, from, collect, &s, &err),
		                CN_OK);
		check_from(&s, f);
	}

	/* Stopping early. */
	memset(&s, 0, sizeof s);
	s.stop_after = 4;
	CN_CHECK_EQ_INT(trk_metric_scan(&st, run_id, mkey, collect, &s, &err), CN_OK);
	CN_CHECK_EQ_INT(s.n, 4);
	CN_CHECK_EQ_INT(s.p[3].seq, 12);

	/* An unknown metric has no points. */
	memset(&s, 0, sizeof s);
	CN_CHECK_EQ_INT(trk_metric_scan(&st, run_id, (cn_fb_str){"nope", 4}, collect, &s, &err),
	                CN_OK);
	CN_CHECK_EQ_INT(s.n, 0);
	remove_store(db, dir);
}

CN_TEST(corrupt_chunk_is_data_loss)
{
	char dir[] = "/tmp/cn-chunks-test-XXXXXX";
	cn_kv *db = open_store(dir);
	if (!db)
		return;
	trk_state st;
	memset(&st, 0, sizeof st);
	st.db = db;
	cn_fb_str mkey = {"acc", 3};
	cn_key k;
	trk_run_sub_key(&k, run_id, mkey);
	cn_key_u64(&k, 7);
	cn_key_u8(&k, 0x43);
	cn_kv_batch *b = cn_kv_batch_new();
	cn_kv_batch_put(b, TRK_CF_RUN_METRICS, k.b, k.len, "\x01short", 6);
	cn_err err;
	CN_CHECK_EQ_INT(cn_kv_write(db, b, &err), CN_OK);
	cn_kv_batch_free(b);
	seen s = {0};
	CN_CHECK_EQ_INT(trk_metric_scan(&st, run_id, mkey, collect, &s, &err), CN_DATA_LOSS);
	CN_CHECK_EQ_INT(s.n, 0);
	remove_store(db, dir);
}

CN_TEST_MAIN()
