/*
 * core/audit/audit_log.c: the append-only audit store of one process
 * (layout and durability in audit.h). One handle per data directory,
 * shared by every service runtime and the audit service, reference counted
 * under a mutex: the module owns the list of open logs.
 */
#include "core/audit/audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/fb/schema.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

struct cn_audit_log {
	cn_kv *db;
	char path[1200];
	int refs;
	atomic_uint_fast64_t next_seq;
	cn_audit_log *next; /* audit_logs list */
};

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
/* Open logs, one per data directory (one in a server; tests start several). */
static cn_audit_log *audit_logs;

static const char *const audit_cfs[] = {"records", "by_entity"};

static cn_code audit_init_seq(cn_audit_log *log, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(log->db, CN_AUDIT_CF_RECORDS, NULL, 0);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_kv_iter_seek_last(it);
	uint64_t ts = 0, seq = 0;
	if (cn_kv_iter_valid(it)) {
		size_t klen, pos = 0;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (!cn_key_get_u64(k, klen, &pos, &ts) || !cn_key_get_u64(k, klen, &pos, &seq)) {
			cn_kv_iter_free(it);
			return cn_err_set(err, CN_DATA_LOSS, "corrupt audit record key");
		}
		seq++;
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	atomic_store(&log->next_seq, seq);
	return rc;
}

cn_code cn_audit_acquire(cn_audit_log **out, const char *data_dir, bool sync, cn_err *err)
{
	*out = NULL;
	char path[1200];
	snprintf(path, sizeof path, "%s/audit", data_dir);
	pthread_mutex_lock(&audit_mu);
	cn_code rc = CN_OK;
	cn_audit_log *found = audit_logs;
	while (found && strcmp(found->path, path) != 0)
		found = found->next;
	if (!found) {
		cn_audit_log *log = calloc(1, sizeof *log);
		if (!log) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			snprintf(log->path, sizeof log->path, "%s", path);
			cn_kv_opts o = {.sync = sync, .block_cache_mb = 0};
			rc = cn_kv_open(&log->db, path, audit_cfs, 2, &o, err);
			if (rc == CN_OK)
				rc = audit_init_seq(log, err);
			if (rc != CN_OK) {
				cn_kv_close(log->db);
				free(log);
			} else {
				log->next = audit_logs;
				audit_logs = found = log;
			}
		}
	}
	if (rc == CN_OK) {
		found->refs++;
		*out = found;
	}
	pthread_mutex_unlock(&audit_mu);
	return rc;
}

void cn_audit_release(cn_audit_log *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&audit_mu);
	if (--log->refs == 0) {
		cn_audit_log **pp = &audit_logs;
		while (*pp != log)
			pp = &(*pp)->next;
		*pp = log->next;
		cn_kv_close(log->db);
		free(log);
	}
	pthread_mutex_unlock(&audit_mu);
}

cn_kv *cn_audit_kv(cn_audit_log *log)
{
	return log->db;
}

/* ---- entities ------------------------------------------------------------ */

#define AUDIT_MAX_ENTITIES 16
#define AUDIT_ID_MAX       256

typedef struct audit_entity {
	const char *type;
	char id[AUDIT_ID_MAX];
} audit_entity;

typedef struct audit_entities {
	audit_entity e[AUDIT_MAX_ENTITIES];
	size_t n;
} audit_entities;

static const char *const audit_entity_fields[] = {
        "experiment_id", "run_id", "name",       "version",         "model_id",
        "trace_id",      "alias",  "webhook_id", "logged_model_id", "prompt_id",
};

static const char *audit_entity_type(const char *field)
{
	for (size_t i = 0; i < sizeof audit_entity_fields / sizeof audit_entity_fields[0]; i++)
		if (strcmp(field, audit_entity_fields[i]) == 0)
			return audit_entity_fields[i];
	return NULL;
}

static void audit_entity_add(audit_entities *es, const char *type, const char *id, size_t len)
{
	if (len == 0 || len >= AUDIT_ID_MAX || es->n >= AUDIT_MAX_ENTITIES)
		return;
	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->e[i].type, type) == 0 && strlen(es->e[i].id) == len &&
		    memcmp(es->e[i].id, id, len) == 0)
			return;
	es->e[es->n].type = type;
	memcpy(es->e[es->n].id, id, len);
	es->e[es->n].id[len] = '\0';
	es->n++;
}

/* The id-like fields of t and of its non-vector sub-tables (a reply's
 * run.info.run_id is three deep), by the schema's descriptors. `name` is
 * taken only at the top level of a request (at depth it is e.g. a tag's). */
static void audit_collect(audit_entities *es, int table, cn_fb_table t, int depth, bool request)
{
	if (!cn_fb_present(t) || table < 0 || depth > 3)
		return;
	const cn_schema_table *st = &cn_schema_cairn.tables[table];
	for (uint16_t i = 0; i < st->nfields; i++) {
		const cn_schema_field *f = &st->fields[i];
		if (f->flags & CN_FF_DEPRECATED)
			continue;
		if (f->type == CN_FT_TABLE) {
			audit_collect(es, f->table, cn_fb_get_table(t, f->id), depth + 1, request);
			continue;
		}
		const char *type = audit_entity_type(f->name);
		if (!type || !cn_fb_has(t, f->id))
			continue;
		if (strcmp(type, "name") == 0 && !(request && depth == 0))
			continue;
		if (f->type == CN_FT_STRING) {
			cn_fb_str s = cn_fb_get_str(t, f->id);
			audit_entity_add(es, type, s.ptr, s.len);
		} else if (f->type == CN_FT_I64 || f->type == CN_FT_I32) {
			char num[32];
			int64_t v = f->type == CN_FT_I64 ? cn_fb_get_i64(t, f->id, 0)
			                                 : cn_fb_get_i32(t, f->id, 0);
			int n = snprintf(num, sizeof num, "%" PRId64, v);
			audit_entity_add(es, type, num, (size_t)n);
		}
	}
}

static void audit_entities_of(audit_entities *es, const cn_audit_call *c)
{
	es->n = 0;
	audit_collect(es, c->req_table, c->req, 0, true);
	audit_collect(es, c->resp_table, c->resp, 0, false);
	/* A model version is named by both: index the pair too. */
	const char *name = NULL, *version = NULL;
	for (size_t i = 0; i < es->n; i++) {
		if (strcmp(es->e[i].type, "name") == 0)
			name = es->e[i].id;
		else if (strcmp(es->e[i].type, "version") == 0)
			version = es->e[i].id;
	}
	if (name && version) {
		char mv[AUDIT_ID_MAX];
		int n = snprintf(mv, sizeof mv, "%s/%s", name, version);
		if (n > 0 && (size_t)n < sizeof mv)
			audit_entity_add(es, "model_version", mv, (size_t)n);
	}
}

/* ---- append -------------------------------------------------------------- */

static cn_fb_ref audit_str(cn_fb_builder *b, const char *s)
{
	return cn_fb_create_cstr(b, s ? s : "");
}

cn_code cn_audit_append(cn_audit_log *log, const cn_audit_call *c, cn_err *err)
{
	audit_entities es;
	audit_entities_of(&es, c);
	cn_buf json = CN_BUF_INIT;
	bool truncated = false;
	if (cn_audit_render(c->req_table, c->req, CN_AUDIT_JSON_MAX, &json, &truncated) != CN_OK) {
		cn_buf_free(&json);
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "out of memory rendering an audit record");
	}
	int64_t ts = cn_now_ms();
	uint64_t seq = atomic_fetch_add(&log->next_seq, 1);
	char id[48];
	snprintf(id, sizeof id, "%" PRId64 "-%" PRIu64, ts, seq);

	cn_fb_builder *b = cn_fb_builder_new(1024 + json.len);
	cn_kv_batch *batch = cn_kv_batch_new();
	cn_code rc = CN_OK;
	if (!b || !batch) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		goto done;
	}
	cn_fb_ref refs[AUDIT_MAX_ENTITIES];
	for (size_t i = 0; i < es.n; i++) {
		cn_fb_ref t = audit_str(b, es.e[i].type), v = audit_str(b, es.e[i].id);
		cn_AuditEntity_start(b);
		cn_AuditEntity_add_type(b, t);
		cn_AuditEntity_add_id(b, v);
		refs[i] = cn_AuditEntity_end(b);
	}
	cn_fb_ref ents = cn_fb_create_vec_refs(b, refs, es.n);
	cn_fb_ref rid = audit_str(b, id), svc = audit_str(b, c->service),
	          meth = audit_str(b, c->method), who = audit_str(b, c->caller),
	          from = audit_str(b, c->client_addr), reqid = audit_str(b, c->request_id),
	          rj = cn_fb_create_string(b, json.p ? json.p : "", json.len),
	          outc = audit_str(b, c->outcome), emsg = audit_str(b, c->error_message);
	cn_AuditRecord_start(b);
	cn_AuditRecord_add_id(b, rid);
	cn_AuditRecord_add_timestamp_ms(b, ts);
	cn_AuditRecord_add_service(b, svc);
	cn_AuditRecord_add_method(b, meth);
	cn_AuditRecord_add_caller(b, who);
	cn_AuditRecord_add_client_addr(b, from);
	cn_AuditRecord_add_request_id(b, reqid);
	cn_AuditRecord_add_entities(b, ents);
	cn_AuditRecord_add_request_json(b, rj);
	cn_AuditRecord_add_request_truncated(b, truncated);
	cn_AuditRecord_add_outcome(b, outc);
	cn_AuditRecord_add_error_message(b, emsg);
	cn_AuditRecord_add_duration_us(b, c->duration_us);
	cn_fb_ref root = cn_AuditRecord_end(b);
	const uint8_t *bytes;
	size_t len;
	if (!cn_fb_finish(b, root, &bytes, &len)) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory building an audit record");
		goto done;
	}
	cn_key k;
	cn_key_init(&k);
	cn_key_u64(&k, (uint64_t)ts);
	cn_key_u64(&k, seq);
	cn_kv_batch_put(batch, CN_AUDIT_CF_RECORDS, k.b, k.len, bytes, len);
	for (size_t i = 0; i < es.n; i++) {
		cn_key ek;
		cn_key_init(&ek);
		cn_key_str(&ek, es.e[i].type, strlen(es.e[i].type));
		cn_key_str(&ek, es.e[i].id, strlen(es.e[i].id));
		cn_key_u64(&ek, (uint64_t)ts);
		cn_key_u64(&ek, seq);
		if (!ek.overflow)
			cn_kv_batch_put(batch, CN_AUDIT_CF_BY_ENTITY, ek.b, ek.len, "", 0);
	}
	/* Record and index in one synced batch: both or neither survive. */
	rc = cn_kv_write(log->db, batch, err);
done:
	cn_kv_batch_free(batch);
	cn_fb_builder_free(b);
	cn_buf_free(&json);
	return rc;
}
