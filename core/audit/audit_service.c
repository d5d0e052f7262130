/*
 * core/audit/audit_service.c: the `audit` service, which only reads the
 * trail the service runtime appends (audit.h): SearchAudit, by entity,
 * time range, caller, service and method, paged. It has no method that
 * writes, so no route can change or remove a record.
 */
#include "core/audit/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

#define AUDIT_DEFAULT_RESULTS 100
#define AUDIT_MAX_RESULTS     1000

static cn_code audit_open(void **state, const cn_service_env *env, cn_err *err)
{
	/* env->data_dir is <data_dir>/audit: the log lives at its parent's audit/. */
	cn_audit_log *log;
	cn_code rc = cn_audit_acquire(&log, env->config->data_dir, env->config->sync_writes, err);
	*state = rc == CN_OK ? log : NULL;
	return rc;
}

static void audit_close(void *state)
{
	cn_audit_release(state);
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

static cn_code audit_search(void *state, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                            cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	cn_audit_log *log = state;
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
	int cf = by_entity ? CN_AUDIT_CF_BY_ENTITY : CN_AUDIT_CF_RECORDS;
	cn_kv *db = cn_audit_kv(log);
	cn_kv_iter *it = cn_kv_iter_new(db, cf, prefix.len ? prefix.b : NULL, prefix.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
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
	if (q.desc)
		cn_kv_iter_seek_for_prev(it, start.b, start.len);
	else
		cn_kv_iter_seek(it, start.b, start.len);

	size_t cap = 16, n = 0;
	cn_fb_ref *out = malloc(cap * sizeof *out);
	char next[48] = "";
	cn_code rc = out ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (; rc == CN_OK && cn_kv_iter_valid(it);
	     q.desc ? cn_kv_iter_prev(it) : cn_kv_iter_next(it)) {
		size_t klen, pos = prefix.len;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		uint64_t ts, seq;
		if (!cn_key_get_u64(k, klen, &pos, &ts) || !cn_key_get_u64(k, klen, &pos, &seq)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt audit key");
			break;
		}
		if (q.desc ? (int64_t)ts < q.since : (int64_t)ts > q.until)
			break;
		if ((int64_t)n == max) {
			snprintf(next, sizeof next, "%" PRIu64 "-%" PRIu64, ts, seq);
			break;
		}
		cn_kv_val val = {0};
		cn_fb_table r;
		if (by_entity) {
			cn_key rk;
			cn_key_init(&rk);
			cn_key_u64(&rk, ts);
			cn_key_u64(&rk, seq);
			rc = cn_kv_get(db, CN_AUDIT_CF_RECORDS, rk.b, rk.len, &val, err);
			if (rc == CN_RESOURCE_DOES_NOT_EXIST)
				rc = cn_err_set(err, CN_DATA_LOSS,
				                "audit index names a missing record");
			if (rc != CN_OK)
				break;
			r = cn_fb_root(val.data);
		} else {
			size_t vlen;
			r = cn_fb_root(cn_kv_iter_value(it, &vlen));
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
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc == CN_OK) {
		cn_fb_ref recs = cn_fb_create_vec_refs(b, out, n);
		cn_fb_ref nt = next[0] ? cn_fb_create_cstr(b, next) : 0;
		cn_SearchAuditResponse_start(b);
		cn_SearchAuditResponse_add_records(b, recs);
		if (nt)
			cn_SearchAuditResponse_add_next_page_token(b, nt);
		*resp = cn_SearchAuditResponse_end(b);
	}
	free(out);
	return rc;
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
};
