/* core/audit/audit_test.c: classification, redaction, and the store's
 * append/restart behaviour without a server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/audit/audit.h"
#include "core/codec/codec.h"
#include "core/config.h"
#include "core/service.h"
#include "bus/bus.h"
#include "core/clock.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

CN_TEST(test_classify)
{
	CN_CHECK(cn_audit_is_mutating(cn_schema_table_index(&cn_schema_cairn, "CreateRun")));
	CN_CHECK(cn_audit_is_mutating(cn_schema_table_index(&cn_schema_cairn, "LogBatch")));
	CN_CHECK(!cn_audit_is_mutating(cn_schema_table_index(&cn_schema_cairn, "SearchRuns")));
	CN_CHECK(!cn_audit_is_mutating(cn_schema_table_index(&cn_schema_cairn, "GetRun")));
	CN_CHECK(!cn_audit_is_mutating(cn_schema_table_index(&cn_schema_cairn, "SearchAudit")));
}

CN_TEST(test_redact)
{
	const char *in = "{\"name\":\"m\",\"secret\":\"s3\\\"cr\",\"x\":{\"api_token\":\"t\"},"
	                 "\"password\":5,\"url\":\"secret\"}";
	cn_buf out = CN_BUF_INIT;
	CN_CHECK(cn_audit_redact(in, strlen(in), &out) == CN_OK);
	cn_buf_putc(&out, '\0');
	CN_CHECK_STR(out.p, "{\"name\":\"m\",\"secret\":\"***\",\"x\":{\"api_token\":\"***\"},"
	                    "\"password\":5,\"url\":\"secret\"}");
	cn_buf_free(&out);
}

/* A service database opened the runtime's way: audit families included. */
static cn_kv *open_service_db(cn_audit_log *log, const char *dir)
{
	static const char *const own[] = {"things"};
	cn_kv_opts o;
	cn_audit_kv_opts(log, true, &o);
	cn_kv *db = NULL;
	cn_err err;
	cn_err_clear(&err);
	CN_CHECK(cn_kv_open(&db, dir, own, 1, &o, &err) == CN_OK);
	return db;
}

static cn_code count_dbs(void *arg, cn_kv *const *dbs, size_t n)
{
	(void)dbs;
	*(size_t *)arg = n;
	return CN_OK;
}

CN_TEST(test_append_reopen)
{
	char dir[] = "/tmp/cn-audit-test-XXXXXX", svc[64];
	CN_CHECK(mkdtemp(dir) != NULL);
	snprintf(svc, sizeof svc, "%s/tracking", dir);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cn_err err;
	cn_err_clear(&err);
	cn_audit_log *log = NULL, *again = NULL;
	CN_CHECK(cn_audit_acquire(&log, &cfg, &err) == CN_OK);
	CN_CHECK(cn_audit_acquire(&again, &cfg, &err) == CN_OK);
	CN_CHECK(log == again); /* one handle per data directory */
	cn_audit_release(again);
	cn_kv *db = open_service_db(log, svc);
	size_t ndbs = 0;
	cn_kv_shared_with_dbs(cn_audit_shared(log), count_dbs, &ndbs);
	CN_CHECK(ndbs == 1); /* listed for the audit service to read */
	cn_audit_call c = {.service = "tracking",
	                   .method = "CreateRun",
	                   .caller = "alice",
	                   .client_addr = "127.0.0.1:1",
	                   .request_id = "r1",
	                   .req_table = -1,
	                   .resp_table = -1,
	                   .outcome = "OK",
	                   .error_message = ""};
	for (int i = 0; i < 3; i++)
		CN_CHECK(cn_audit_append(log, db, &c, i != 1, &err) == CN_OK);
	cn_kv_close(db);
	cn_audit_release(log);
	/* Reopened: sequences continue above the earlier ones. */
	CN_CHECK(cn_audit_acquire(&log, &cfg, &err) == CN_OK);
	db = open_service_db(log, svc);
	CN_CHECK(cn_audit_append(log, db, &c, true, &err) == CN_OK);
	int rcf, ecf;
	CN_CHECK(cn_audit_db_cfs(db, &rcf, &ecf) && rcf == 1 && ecf == 2);
	cn_kv_iter *it = cn_kv_iter_new(db, rcf, NULL, 0);
	uint64_t last = 0;
	int n = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it), n++) {
		size_t klen, pos = 0, vlen;
		uint64_t ts, seq;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		CN_CHECK(cn_key_get_u64(k, klen, &pos, &ts) && cn_key_get_u64(k, klen, &pos, &seq));
		CN_CHECK(n == 0 || seq > last);
		last = seq;
		cn_fb_table r = cn_fb_root(cn_kv_iter_value(it, &vlen));
		CN_CHECK(cn_fb_str_eq(cn_AuditRecord_caller(r), "alice"));
		CN_CHECK(cn_fb_str_eq(cn_AuditRecord_outcome(r), "OK"));
	}
	cn_kv_iter_free(it);
	CN_CHECK(n == 4);
	cn_kv_close(db);
	cn_audit_release(log);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

/* Which methods' records can ride in their own write: those whose reply
 * names no entity kind their request cannot. */
CN_TEST(test_reply_adds_entities)
{
	const char *inline_ok[] = {"LogBatch", "LogMetric", "SetTag", "DeleteRun"};
	const char *needs_reply[] = {"CreateRun", "CreateExperiment"};
	for (size_t i = 0; i < 4; i++) {
		int t = cn_schema_table_index(&cn_schema_cairn, inline_ok[i]);
		char resp[64];
		snprintf(resp, sizeof resp, "%sResponse", inline_ok[i]);
		CN_CHECK(!cn_audit_reply_adds_entities(
		        t, cn_schema_table_index(&cn_schema_cairn, resp)));
	}
	for (size_t i = 0; i < 2; i++) {
		int t = cn_schema_table_index(&cn_schema_cairn, needs_reply[i]);
		char resp[64];
		snprintf(resp, sizeof resp, "%sResponse", needs_reply[i]);
		CN_CHECK(cn_audit_reply_adds_entities(
		        t, cn_schema_table_index(&cn_schema_cairn, resp)));
	}
}

/* ---- the runtime's hook, end to end, with a probe service ---------------- */

typedef struct probe {
	cn_kv *db;
} probe;

static const char *const probe_cfs[] = {"things"};

static cn_code probe_open(void **state, const cn_service_env *env, cn_err *err)
{
	probe *p = calloc(1, sizeof *p);
	cn_kv_opts o = cn_service_kv_opts(env);
	cn_code rc = cn_kv_open(&p->db, env->data_dir, probe_cfs, 1, &o, err);
	if (rc != CN_OK) {
		free(p);
		return rc;
	}
	*state = p;
	return CN_OK;
}

static void probe_close(void *state)
{
	probe *p = state;
	cn_kv_close(p->db);
	free(p);
}

static cn_code probe_write(probe *p, const char *key, cn_err *err)
{
	cn_kv_batch *b = cn_kv_batch_new();
	cn_kv_batch_put(b, 0, key, strlen(key), "v", 1);
	cn_code rc = cn_kv_write(p->db, b, err);
	cn_kv_batch_free(b);
	return rc;
}

/* LogMetric: key "fail" fails before writing, "late" after writing. */
static cn_code probe_log_metric(void *state, const cn_call_ctx *ctx, cn_fb_table req,
                                cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	cn_fb_str k = cn_LogMetric_key(req);
	if (cn_fb_str_eq(k, "fail"))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "refused");
	cn_code rc = probe_write(state, "metric", err);
	if (rc == CN_OK && cn_fb_str_eq(k, "late"))
		return cn_err_set(err, CN_INTERNAL_ERROR, "failed after writing");
	cn_fb_table_start(b);
	*resp = cn_fb_table_end(b);
	return rc;
}

static cn_code probe_create_run(void *state, const cn_call_ctx *ctx, cn_fb_table req,
                                cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	(void)req;
	cn_code rc = probe_write(state, "run", err);
	cn_CreateRunResponse_start(b);
	*resp = cn_CreateRunResponse_end(b);
	return rc;
}

static const cn_method probe_methods[] = {
        {"LogMetric", probe_log_metric},
        {"CreateRun", probe_create_run},
};

static const cn_service_def probe_service = {
        .name = "probe",
        .open = probe_open,
        .close = probe_close,
        .methods = probe_methods,
        .nmethods = 2,
};

static cn_code probe_call(cn_bus_client *c, const char *method, const char *key)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref root;
	if (strcmp(method, "LogMetric") == 0) {
		cn_fb_ref rid = cn_fb_create_cstr(b, "r1"), k = cn_fb_create_cstr(b, key);
		cn_LogMetric_start(b);
		cn_LogMetric_add_run_id(b, rid);
		cn_LogMetric_add_key(b, k);
		cn_LogMetric_add_value(b, 1.0);
		root = cn_LogMetric_end(b);
	} else {
		cn_CreateRun_start(b);
		root = cn_CreateRun_end(b);
	}
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_bus_call call = {method, "probe-req", "tester", cn_now_ms() + 5000, buf, len};
	cn_bus_reply reply;
	cn_err err;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, &reply, &err), CN_OK);
	cn_code code = reply.code;
	cn_bus_reply_free(&reply);
	cn_fb_builder_free(b);
	return code;
}

/* (method, outcome) of every record in the probe's database, in order. */
static int probe_records(const char *dir, char out[][64], int max)
{
	cn_kv *db = NULL;
	cn_err err;
	cn_kv_opts o = {.sync = true};
	CN_CHECK_EQ_INT(cn_kv_open(&db, dir, cn_audit_cf_names, 2, &o, &err), CN_OK);
	cn_kv_iter *it = cn_kv_iter_new(db, CN_AUDIT_CF_RECORDS, NULL, 0);
	int n = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it) && n < max; cn_kv_iter_next(it)) {
		size_t vlen;
		cn_fb_table r = cn_fb_root(cn_kv_iter_value(it, &vlen));
		cn_fb_str m = cn_AuditRecord_method(r), o2 = cn_AuditRecord_outcome(r);
		snprintf(out[n++], 64, "%.*s %.*s", (int)m.len, m.ptr, (int)o2.len, o2.ptr);
	}
	cn_kv_iter_free(it);
	cn_kv_close(db);
	return n;
}

/* An acknowledged write carries its record: one RocksDB write per call,
 * not two. Creates (reply names the new entity), failures, and a failure
 * after a write get records of their own. */
CN_TEST(test_record_rides_in_the_write)
{
	char dir[] = "/tmp/cn-audit-probe-XXXXXX", pdir[64];
	CN_CHECK(mkdtemp(dir) != NULL);
	snprintf(pdir, sizeof pdir, "%s/probe", dir);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.service_workers = 2;
	cn_err err;
	cn_service_runtime *rt = NULL;
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &probe_service, &cfg, "inproc://audit-probe", NULL, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "probe", "inproc://audit-probe", NULL, &err), CN_OK);

	CN_CHECK_EQ_INT(probe_call(c, "LogMetric", "m"), CN_OK);
	CN_CHECK_EQ_INT(probe_call(c, "CreateRun", NULL), CN_OK);
	CN_CHECK_EQ_INT(probe_call(c, "LogMetric", "fail"), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(probe_call(c, "LogMetric", "late"), CN_INTERNAL_ERROR);
	cn_bus_client_close(c);
	cn_service_stop(rt);

	char recs[8][64];
	int n = probe_records(pdir, recs, 8);
	CN_CHECK_EQ_INT(n, 5);
	CN_CHECK(strcmp(recs[0], "LogMetric OK") == 0);
	CN_CHECK(strcmp(recs[1], "CreateRun OK") == 0);
	CN_CHECK(strcmp(recs[2], "LogMetric INVALID_PARAMETER_VALUE") == 0);
	CN_CHECK(strcmp(recs[3], "LogMetric OK") == 0); /* rode in the write that landed */
	CN_CHECK(strcmp(recs[4], "LogMetric INTERNAL_ERROR") == 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

/* The write counter proves the record shares the call's batch. */
static cn_code probe_writes(void *arg, cn_kv *const *dbs, size_t n)
{
	cn_kv_stats st;
	*(uint64_t *)arg = 0;
	for (size_t i = 0; i < n; i++) {
		cn_kv_get_stats(dbs[i], &st);
		*(uint64_t *)arg += st.writes;
	}
	return CN_OK;
}

CN_TEST(test_one_write_per_logged_call)
{
	char dir[] = "/tmp/cn-audit-probe-XXXXXX";
	CN_CHECK(mkdtemp(dir) != NULL);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.service_workers = 2;
	cn_err err;
	cn_audit_log *log = NULL; /* the runtime's own handle, to read the counters */
	CN_CHECK_EQ_INT(cn_audit_acquire(&log, &cfg, &err), CN_OK);
	cn_service_runtime *rt = NULL;
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &probe_service, &cfg, "inproc://audit-probe2", NULL, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "probe", "inproc://audit-probe2", NULL, &err),
	                CN_OK);
	uint64_t before = 0, after = 0;
	cn_kv_shared_with_dbs(cn_audit_shared(log), probe_writes, &before);
	for (int i = 0; i < 5; i++)
		CN_CHECK_EQ_INT(probe_call(c, "LogMetric", "m"), CN_OK);
	cn_kv_shared_with_dbs(cn_audit_shared(log), probe_writes, &after);
	CN_CHECK_EQ_INT((int)(after - before), 5);
	/* A create's record needs its reply: a write of its own. */
	CN_CHECK_EQ_INT(probe_call(c, "CreateRun", NULL), CN_OK);
	cn_kv_shared_with_dbs(cn_audit_shared(log), probe_writes, &before);
	CN_CHECK_EQ_INT((int)(before - after), 2);
	cn_bus_client_close(c);
	cn_service_stop(rt);
	cn_audit_release(log);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

CN_TEST_MAIN()
