/*
 * core/audit/audit_service.c: the `audit` service, which only reads the
 * trail the service runtime appends (audit.h): SearchAudit, by entity,
 * time range, caller, service and method, paged. It has no method that
 * writes, so no route can change or remove a record. The trail is spread
 * over the audit families of several databases (audit.h, "Reading"); a
 * search walks all of them at once, merging by (timestamp, sequence).
 */
#include "core/audit/audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/service.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

#define AUDIT_DEFAULT_RESULTS 100
#define AUDIT_MAX_RESULTS     1000

#define AUDIT_MAX_DBS 16

typedef struct audit_state {
	cn_audit_log *log;
	/* <data_dir>/audit as a previous version left it (families "records"
	 * and "by_entity"), read only from now on; NULL when there is none. */
	cn_kv *legacy;
	/* Split mode: the other services' databases under data_dir, opened as
	 * RocksDB secondaries (audit.h); none when the process hosts them. */
	cn_kv *secondary[AUDIT_MAX_DBS];
	size_t nsecondary;
	pthread_mutex_t catch_mu; /* one catch-up at a time */
} audit_state;

static bool audit_has_db(const char *dir)
{
	char current[1300];
	snprintf(current, sizeof current, "%s/CURRENT", dir);
	struct stat st;
	return stat(current, &st) == 0;
}

static cn_code audit_count_dbs(void *arg, cn_kv *const *dbs, size_t n)
{
	(void)dbs;
	*(size_t *)arg = n;
	return CN_OK;
}

/* Split mode: a process with no service database of its own reads the
 * ones its data_dir holds, as a secondary of whichever process writes. */
static void audit_open_secondaries(audit_state *st, const char *data_dir)
{
	for (size_t i = 0; cn_builtin_services[i] && st->nsecondary < AUDIT_MAX_DBS; i++) {
		const char *name = cn_builtin_services[i]->name;
		char dir[1100], sec[1200];
		snprintf(dir, sizeof dir, "%s/%s", data_dir, name);
		if (strcmp(name, "audit") == 0 || !audit_has_db(dir))
			continue;
		snprintf(sec, sizeof sec, "%s/audit-secondary/%s", data_dir, name);
		cn_kv_opts o = {.sync = false, .block_cache_mb = 1, .secondary_path = sec};
		cn_err err;
		cn_err_clear(&err);
		if (cn_kv_open(&st->secondary[st->nsecondary], dir, cn_audit_cf_names, 2, &o,
		               &err) == CN_OK)
			st->nsecondary++;
		else
			CN_LOGW("AUDIT-SECONDARY", NULL, "not reading the trail of %s: %s", dir,
			        err.msg);
	}
}

static void audit_close(void *state)
{
	audit_state *st = state;
	if (!st)
		return;
	for (size_t i = 0; i < st->nsecondary; i++)
		cn_kv_close(st->secondary[i]);
	cn_kv_close(st->legacy);
	cn_audit_release(st->log);
	pthread_mutex_destroy(&st->catch_mu);
	free(st);
}

static const char *const audit_legacy_cfs[] = {"records", "by_entity"};

static cn_code audit_open(void **state, const cn_service_env *env, cn_err *err)
{
	*state = NULL;
	audit_state *st = calloc(1, sizeof *st);
	if (!st)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&st->catch_mu, NULL);
	cn_code rc = cn_audit_acquire(&st->log, env->config, err);
	if (rc != CN_OK) {
		audit_close(st);
		return rc;
	}
	/* env->data_dir is <data_dir>/audit: where the trail used to live. */
	if (audit_has_db(env->data_dir)) {
		cn_kv_opts o = {.sync = env->config->sync_writes, .block_cache_mb = 1};
		rc = cn_kv_open(&st->legacy, env->data_dir, audit_legacy_cfs, 2, &o, err);
		if (rc != CN_OK) {
			audit_close(st);
			return rc;
		}
	}
	size_t hosted = 0;
	cn_kv_shared_with_dbs(cn_audit_shared(st->log), audit_count_dbs, &hosted);
	if (hosted == 0)
		audit_open_secondaries(st, env->config->data_dir);
	*state = st;
	return CN_OK;
}

static cn_fb_ref audit_copy_str(cn_fb_builder *b, cn_fb_str s)
{
	return cn_fb_create_string(b, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

/* Copy one stored record into the reply. */
static cn_fb_ref audit_copy(cn_fb_builder *b, cn_fb_table r)
{
	cn_fb_vec ev = cn_AuditRecord_entities(r);
	cn_fb_ref *refs = calloc(ev.n ? ev.n : 1, sizeof *refs);
	if (!refs)
		return 0;
	for (uint32_t i = 0; i < ev.n; i++) {
		cn_fb_table e = cn_fb_vec_table(ev, i);
		cn_fb_ref t = audit_copy_str(b, cn_AuditEntity_type(e));
		cn_fb_ref v = audit_copy_str(b, cn_AuditEntity_id(e));
		cn_AuditEntity_start(b);
		cn_AuditEntity_add_type(b, t);
		cn_AuditEntity_add_id(b, v);
		refs[i] = cn_AuditEntity_end(b);
	}
	cn_fb_ref ents = cn_fb_create_vec_refs(b, refs, ev.n);
	free(refs);
	cn_fb_ref id = audit_copy_str(b, cn_AuditRecord_id(r)),
	          svc = audit_copy_str(b, cn_AuditRecord_service(r)),
	          meth = audit_copy_str(b, cn_AuditRecord_method(r)),
	          who = audit_copy_str(b, cn_AuditRecord_caller(r)),
	          from = audit_copy_str(b, cn_AuditRecord_client_addr(r)),
	          rid = audit_copy_str(b, cn_AuditRecord_request_id(r)),
	          rj = audit_copy_str(b, cn_AuditRecord_request_json(r)),
	          outc = audit_copy_str(b, cn_AuditRecord_outcome(r)),
	          emsg = audit_copy_str(b, cn_AuditRecord_error_message(r));
	cn_AuditRecord_start(b);
	cn_AuditRecord_add_id(b, id);
	cn_AuditRecord_add_timestamp_ms(b, cn_AuditRecord_timestamp_ms(r));
	cn_AuditRecord_add_service(b, svc);
	cn_AuditRecord_add_method(b, meth);
	cn_AuditRecord_add_caller(b, who);
	cn_AuditRecord_add_client_addr(b, from);
	cn_AuditRecord_add_request_id(b, rid);
	cn_AuditRecord_add_entities(b, ents);
	cn_AuditRecord_add_request_json(b, rj);
	cn_AuditRecord_add_request_truncated(b, cn_AuditRecord_request_truncated(r));
	cn_AuditRecord_add_outcome(b, outc);
	cn_AuditRecord_add_error_message(b, emsg);
	cn_AuditRecord_add_duration_us(b, cn_AuditRecord_duration_us(r));
	return cn_AuditRecord_end(b);
}

static bool audit_str_match(cn_fb_str want, cn_fb_str have)
{
	if (!want.ptr || !want.len)
		return true;
	return have.ptr && have.len == want.len && memcmp(have.ptr, want.ptr, want.len) == 0;
}

typedef struct audit_query {
	cn_fb_str caller, service, method;
	int64_t since, until;
	bool desc;
} audit_query;

static bool audit_keep(const audit_query *q, cn_fb_table r)
{
	int64_t ts = cn_AuditRecord_timestamp_ms(r);
	return ts >= q->since && ts <= q->until &&
	       audit_str_match(q->caller, cn_AuditRecord_caller(r)) &&
	       audit_str_match(q->service, cn_AuditRecord_service(r)) &&
	       audit_str_match(q->method, cn_AuditRecord_method(r));
}

/* page_token: "<timestamp_ms>-<sequence>" of the next record to return. */
static bool audit_parse_token(cn_fb_str tok, uint64_t *ts, uint64_t *seq)
{
	char buf[64];
	if (!tok.ptr || tok.len == 0 || tok.len >= sizeof buf)
		return false;
	memcpy(buf, tok.ptr, tok.len);
	buf[tok.len] = '\0';
	char tail;
	return sscanf(buf, "%" SCNu64 "-%" SCNu64 "%c", ts, seq, &tail) == 2;
}

/* One database's part of the trail, walked in key order. */
typedef struct audit_src {
	cn_kv *db;
	int rcf, ecf;
	cn_kv_iter *it;
	uint64_t ts, seq; /* of the current key, when the iterator is valid */
} audit_src;

typedef struct audit_search_ctx {
	const audit_state *st;
	cn_fb_table req;
	cn_fb_builder *b;
	cn_fb_ref *resp;
	cn_err *err;
} audit_search_ctx;

/* Decode the current key's (ts, seq) after the prefix; false at the end. */
static bool audit_src_load(audit_src *s, size_t plen, cn_code *rc, cn_err *err)
{
	if (!cn_kv_iter_valid(s->it))
		return false;
	size_t klen, pos = plen;
	const uint8_t *k = cn_kv_iter_key(s->it, &klen);
	if (!cn_key_get_u64(k, klen, &pos, &s->ts) || !cn_key_get_u64(k, klen, &pos, &s->seq)) {
		*rc = cn_err_set(err, CN_DATA_LOSS, "corrupt audit key");
		return false;
	}
	return true;
}

static int audit_key_cmp(const audit_src *a, const audit_src *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static cn_code audit_run_search(const audit_search_ctx *x, audit_src *src, size_t nsrc)
{
	cn_fb_table req = x->req;
	cn_fb_builder *b = x->b;
	cn_err *err = x->err;
	audit_query q = {
	        .caller = cn_SearchAudit_caller(req),
	        .service = cn_SearchAudit_service(req),
	        .method = cn_SearchAudit_method(req),
	        .since = cn_SearchAudit_has_since(req) ? cn_SearchAudit_since(req) : 0,
	        .until = cn_SearchAudit_has_until(req) ? cn_SearchAudit_until(req) : INT64_MAX,
	};
	cn_fb_str order = cn_SearchAudit_order(req);
	if (order.ptr && order.len && !cn_fb_str_eq(order, "asc") && !cn_fb_str_eq(order, "desc"))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "order must be 'asc' or 'desc', got '%s'", order.ptr);
	q.desc = order.ptr && cn_fb_str_eq(order, "desc");
	int64_t max = cn_SearchAudit_has_max_results(req) ? cn_SearchAudit_max_results(req)
	                                                  : AUDIT_DEFAULT_RESULTS;
	if (max < 1 || max > AUDIT_MAX_RESULTS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "max_results must be between 1 and %d, got %" PRId64,
		                  AUDIT_MAX_RESULTS, max);
	if (q.since < 0 || q.until < q.since)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "since and until must satisfy 0 <= since <= until");
	cn_fb_str etype = cn_SearchAudit_entity_type(req), eid = cn_SearchAudit_entity_id(req);
	bool by_entity = etype.ptr && etype.len;
	if (by_entity != (eid.ptr && eid.len > 0))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "entity_type and entity_id must be given together");
	uint64_t tok_ts = 0, tok_seq = 0;
	cn_fb_str tok = cn_SearchAudit_page_token(req);
	bool has_tok = tok.ptr && tok.len;
	if (has_tok && !audit_parse_token(tok, &tok_ts, &tok_seq))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid page_token '%s'",
		                  tok.ptr);

	cn_key prefix;
	cn_key_init(&prefix);
	if (by_entity) {
		cn_key_str(&prefix, etype.ptr, etype.len);
		cn_key_str(&prefix, eid.ptr, eid.len);
	}
	if (prefix.overflow)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "entity_id too long");
	/* Start at the token, or at since (asc) / until (desc). */
	cn_key start = prefix;
	if (has_tok) {
		cn_key_u64(&start, tok_ts);
		cn_key_u64(&start, tok_seq);
	} else if (!q.desc) {
		cn_key_u64(&start, (uint64_t)q.since);
	} else {
		cn_key_u64(&start, (uint64_t)q.until);
		cn_key_u64(&start, UINT64_MAX);
	}
	cn_code rc = CN_OK;
	for (size_t i = 0; i < nsrc; i++) {
		src[i].it = cn_kv_iter_new(src[i].db, by_entity ? src[i].ecf : src[i].rcf,
		                           prefix.len ? prefix.b : NULL, prefix.len);
		if (!src[i].it)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		if (q.desc)
			cn_kv_iter_seek_for_prev(src[i].it, start.b, start.len);
		else
			cn_kv_iter_seek(src[i].it, start.b, start.len);
	}

	size_t cap = 16, n = 0;
	cn_fb_ref *out = malloc(cap * sizeof *out);
	char next[48] = "";
	if (!out)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	while (rc == CN_OK) {
		/* The next record in time order across the sources. */
		audit_src *s = NULL;
		for (size_t i = 0; rc == CN_OK && i < nsrc; i++) {
			if (!audit_src_load(&src[i], prefix.len, &rc, err))
				continue;
			int c = s ? audit_key_cmp(&src[i], s) : 0;
			if (!s || (q.desc ? c > 0 : c < 0))
				s = &src[i];
		}
		if (rc != CN_OK || !s)
			break;
		if (q.desc ? (int64_t)s->ts < q.since : (int64_t)s->ts > q.until)
			break;
		if ((int64_t)n == max) {
			snprintf(next, sizeof next, "%" PRIu64 "-%" PRIu64, s->ts, s->seq);
			break;
		}
		cn_kv_val val = {0};
		cn_fb_table r;
		if (by_entity) {
			cn_key rk;
			cn_key_init(&rk);
			cn_key_u64(&rk, s->ts);
			cn_key_u64(&rk, s->seq);
			rc = cn_kv_get(s->db, s->rcf, rk.b, rk.len, &val, err);
			if (rc == CN_RESOURCE_DOES_NOT_EXIST)
				rc = cn_err_set(err, CN_DATA_LOSS,
				                "audit index names a missing record");
			if (rc != CN_OK)
				break;
			r = cn_fb_root(val.data);
		} else {
			size_t vlen;
			r = cn_fb_root(cn_kv_iter_value(s->it, &vlen));
		}
		if (audit_keep(&q, r)) {
			if (n == cap) {
				cn_fb_ref *g = realloc(out, 2 * cap * sizeof *out);
				if (!g)
					rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				else
					out = g, cap *= 2;
			}
			if (rc == CN_OK)
				out[n++] = audit_copy(b, r);
		}
		if (by_entity)
			cn_kv_val_release(&val);
		if (q.desc)
			cn_kv_iter_prev(s->it);
		else
			cn_kv_iter_next(s->it);
	}
	for (size_t i = 0; rc == CN_OK && i < nsrc; i++)
		rc = cn_kv_iter_status(src[i].it, err);
	if (rc == CN_OK) {
		cn_fb_ref recs = cn_fb_create_vec_refs(b, out, n);
		cn_fb_ref nt = next[0] ? cn_fb_create_cstr(b, next) : 0;
		cn_SearchAuditResponse_start(b);
		cn_SearchAuditResponse_add_records(b, recs);
		if (nt)
			cn_SearchAuditResponse_add_next_page_token(b, nt);
		*x->resp = cn_SearchAuditResponse_end(b);
	}
	free(out);
	return rc;
}

/* With the process's databases held open: every source, then the search. */
static cn_code audit_search_dbs(void *arg, cn_kv *const *dbs, size_t ndbs)
{
	const audit_search_ctx *x = arg;
	const audit_state *st = x->st;
	audit_src src[AUDIT_MAX_DBS * 2 + 1];
	size_t n = 0;
	for (size_t i = 0; i < ndbs && n < AUDIT_MAX_DBS; i++) {
		audit_src s = {.db = dbs[i]};
		if (cn_audit_db_cfs(dbs[i], &s.rcf, &s.ecf))
			src[n++] = s;
	}
	for (size_t i = 0; i < st->nsecondary; i++)
		src[n++] = (audit_src){.db = st->secondary[i], .rcf = 0, .ecf = 1};
	if (st->legacy)
		src[n++] = (audit_src){.db = st->legacy, .rcf = 0, .ecf = 1};
	cn_code rc = audit_run_search(x, src, n);
	for (size_t i = 0; i < n; i++)
		cn_kv_iter_free(src[i].it);
	return rc;
}

static cn_code audit_search(void *state, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                            cn_fb_ref *resp, cn_err *err)
{
	audit_state *st = state;
	/* Secondaries see what their writers had synced to the WAL by now. */
	pthread_mutex_lock(&st->catch_mu);
	for (size_t i = 0; i < st->nsecondary; i++) {
		cn_err cerr;
		cn_err_clear(&cerr);
		if (cn_kv_catch_up(st->secondary[i], &cerr) != CN_OK)
			CN_LOGW("AUDIT-SECONDARY", ctx->request_id, "%s", cerr.msg);
	}
	pthread_mutex_unlock(&st->catch_mu);
	audit_search_ctx x = {st, req, b, resp, err};
	return cn_kv_shared_with_dbs(cn_audit_shared(st->log), audit_search_dbs, &x);
}

static const cn_method audit_methods[] = {
        {"SearchAudit", audit_search},
};

const cn_service_def cn_audit_service = {
        .name = "audit",
        .open = audit_open,
        .close = audit_close,
        .methods = audit_methods,
        .nmethods = sizeof audit_methods / sizeof audit_methods[0],
        /* Searches are rare reads: four workers, not service_workers (32),
         * save ~0.5 MiB of idle RSS (stacks and reply builders). */
        .max_workers = 4,
};
