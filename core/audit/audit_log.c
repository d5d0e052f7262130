/*
 * core/audit/audit_log.c: the append-only audit trail of one process
 * (layout and durability in audit.h): building a record into a service
 * database's batch, and the per-data-directory handle that holds the
 * record sequence and the storage its service databases share. One handle
 * per data directory, shared by every service runtime and the audit
 * service, reference counted under a mutex: the module owns the list.
 */
#include "core/audit/audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/fb/schema.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

struct cn_audit_log {
	char data_dir[1024];
	cn_kv_shared *shared; /* the service databases of this data_dir */
	int refs;
	atomic_uint_fast64_t next_seq;
	cn_audit_log *next; /* audit_logs list */
};

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
/* Open logs, one per data directory (one in a server; tests start several). */
static cn_audit_log *audit_logs;

const char *const cn_audit_cf_names[2] = {"audit_records", "audit_by_entity"};

cn_code cn_audit_acquire(cn_audit_log **out, const cn_config *cfg, cn_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&audit_mu);
	cn_code rc = CN_OK;
	cn_audit_log *found = audit_logs;
	while (found && strcmp(found->data_dir, cfg->data_dir) != 0)
		found = found->next;
	if (!found) {
		cn_audit_log *log = calloc(1, sizeof *log);
		size_t cache_mb = (cfg->kv_block_cache_bytes + (1u << 20) - 1) >> 20;
		if (log)
			log->shared = cn_kv_shared_new(cache_mb);
		if (!log || !log->shared) {
			free(log);
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			snprintf(log->data_dir, sizeof log->data_dir, "%s", cfg->data_dir);
			/* Time-seeded, as tracking's metric sequence: unique across
			 * restarts without reading every database's last key. */
			atomic_init(&log->next_seq, (uint64_t)cn_now_ms() << 16);
			log->next = audit_logs;
			audit_logs = found = log;
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
		/* Every database opened with it is closed by now: each holder
		 * releases after closing its service. */
		cn_kv_shared_free(log->shared);
		free(log);
	}
	pthread_mutex_unlock(&audit_mu);
}

void cn_audit_kv_opts(cn_audit_log *log, bool sync, cn_kv_opts *out)
{
	*out = (cn_kv_opts){
	        .sync = sync,
	        .shared = log->shared,
	        .extra_cfs = cn_audit_cf_names,
	        .nextra = 2,
	};
}

cn_kv_shared *cn_audit_shared(cn_audit_log *log)
{
	return log->shared;
}

const char *cn_audit_data_dir(cn_audit_log *log)
{
	return log->data_dir;
}

bool cn_audit_db_cfs(const cn_kv *db, int *records_cf, int *by_entity_cf)
{
	*records_cf = cn_kv_cf_find(db, cn_audit_cf_names[0]);
	*by_entity_cf = cn_kv_cf_find(db, cn_audit_cf_names[1]);
	return *records_cf >= 0 && *by_entity_cf >= 0;
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

/* The entity kinds table `table` can name (as audit_collect would). */
static void audit_kinds(int table, int depth, bool request, const char **kinds, size_t *n)
{
	if (table < 0 || depth > 3)
		return;
	const cn_schema_table *st = &cn_schema_cairn.tables[table];
	for (uint16_t i = 0; i < st->nfields; i++) {
		const cn_schema_field *f = &st->fields[i];
		if (f->flags & CN_FF_DEPRECATED)
			continue;
		if (f->type == CN_FT_TABLE) {
			audit_kinds(f->table, depth + 1, request, kinds, n);
			continue;
		}
		const char *type = audit_entity_type(f->name);
		if (!type || (strcmp(type, "name") == 0 && !(request && depth == 0)))
			continue;
		size_t j = 0;
		while (j < *n && kinds[j] != type)
			j++;
		if (j == *n && *n < AUDIT_MAX_ENTITIES)
			kinds[(*n)++] = type;
	}
}

bool cn_audit_reply_adds_entities(int req_table, int resp_table)
{
	const char *req[AUDIT_MAX_ENTITIES], *resp[AUDIT_MAX_ENTITIES];
	size_t nreq = 0, nresp = 0;
	audit_kinds(req_table, 0, true, req, &nreq);
	audit_kinds(resp_table, 0, false, resp, &nresp);
	for (size_t i = 0; i < nresp; i++) {
		size_t j = 0;
		while (j < nreq && req[j] != resp[i])
			j++;
		if (j == nreq)
			return true;
	}
	return false;
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

cn_code cn_audit_put(cn_audit_log *log, const cn_audit_call *c, cn_kv_batch *batch, int records_cf,
                     int by_entity_cf, cn_err *err)
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
	cn_code rc = CN_OK;
	if (!b) {
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
	cn_kv_batch_put(batch, records_cf, k.b, k.len, bytes, len);
	for (size_t i = 0; i < es.n; i++) {
		cn_key ek;
		cn_key_init(&ek);
		cn_key_str(&ek, es.e[i].type, strlen(es.e[i].type));
		cn_key_str(&ek, es.e[i].id, strlen(es.e[i].id));
		cn_key_u64(&ek, (uint64_t)ts);
		cn_key_u64(&ek, seq);
		if (!ek.overflow)
			cn_kv_batch_put(batch, by_entity_cf, ek.b, ek.len, "", 0);
	}
done:
	cn_fb_builder_free(b);
	cn_buf_free(&json);
	return rc;
}

cn_code cn_audit_append(cn_audit_log *log, cn_kv *db, const cn_audit_call *c, bool sync,
                        cn_err *err)
{
	int rcf, ecf;
	if (!cn_audit_db_cfs(db, &rcf, &ecf))
		return cn_err_set(err, CN_INTERNAL_ERROR, "database has no audit column families");
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = cn_audit_put(log, c, batch, rcf, ecf, err);
	/* Record and index in one batch: both or neither survive. */
	if (rc == CN_OK)
		rc = sync ? cn_kv_write(db, batch, err) : cn_kv_write_unsynced(db, batch, err);
	cn_kv_batch_free(batch);
	return rc;
}
