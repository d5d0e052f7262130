/* core/audit/audit_test.c: classification, redaction, and the store's
 * append/restart behaviour without a server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/audit/audit.h"
#include "core/codec/codec.h"
#include "core/config.h"
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

CN_TEST_MAIN()
