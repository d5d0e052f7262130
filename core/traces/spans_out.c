/*
 * core/traces/spans_out.c: a trace's stored spans as MLflow reads them:
 * OpenTelemetry Span messages inside Trace (GetTrace, BatchGetTraces) and
 * the traces.json span dictionaries of the UI's get-trace-artifact.
 *
 * Large traces: GetTrace takes Cairn's max_spans/span_page_token extension
 * and then reads one page of spans from RocksDB (seek past the last span id
 * returned), so memory follows the page, not the trace.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_api.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_SPAN_PAGE_MAX 10000 /* max_spans bound */
#define TRC_BATCH_GET_MAX 100   /* trace ids per BatchGetTraces */

typedef struct trc_refs {
	cn_fb_ref *p;
	size_t n, cap;
} trc_refs;

static bool trc_refs_push(trc_refs *r, cn_fb_ref ref)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		cn_fb_ref *np = realloc(r->p, cap * sizeof *np);
		if (!np)
			return false;
		r->p = np;
		r->cap = cap;
	}
	r->p[r->n++] = ref;
	return true;
}

static cn_fb_ref trc_b64_ref(cn_fb_builder *b, cn_fb_str hex, cn_buf *tmp)
{
	cn_buf_reset(tmp);
	trc_hex_to_b64(hex.ptr, hex.len, tmp);
	return cn_fb_create_string(b, tmp->p ? tmp->p : "", tmp->len);
}

/* A JSON value as AnyValue: typed for events (OTel's attribute types),
 * always string_value for span attributes (MLflow's JSON-encoded form). */
static cn_fb_ref trc_any_value(cn_fb_builder *b, json_t *v, bool typed)
{
	cn_fb_ref s = 0;
	if (json_is_string(v)) {
		s = cn_fb_create_string(b, json_string_value(v), json_string_length(v));
	} else if (!typed || !(json_is_integer(v) || json_is_real(v) || json_is_boolean(v))) {
		char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		s = cn_fb_create_cstr(b, d ? d : "null");
		free(d);
	}
	cn_AnyValue_start(b);
	if (s)
		cn_AnyValue_add_string_value(b, s);
	else if (json_is_integer(v))
		cn_AnyValue_add_int_value(b, json_integer_value(v));
	else if (json_is_real(v))
		cn_AnyValue_add_double_value(b, json_real_value(v));
	else
		cn_AnyValue_add_bool_value(b, json_is_true(v));
	return cn_AnyValue_end(b);
}

static cn_fb_ref trc_key_values(cn_fb_builder *b, json_t *obj, bool typed, trc_refs *tmp,
                                const char *span_type)
{
	tmp->n = 0;
	const char *key;
	json_t *v;
	bool has_type = false;
	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "mlflow.spanType") == 0)
			has_type = true;
		cn_fb_ref k = cn_fb_create_cstr(b, key);
		cn_fb_ref val = trc_any_value(b, v, typed);
		cn_KeyValue_start(b);
		cn_KeyValue_add_key(b, k);
		cn_KeyValue_add_value(b, val);
		trc_refs_push(tmp, cn_KeyValue_end(b));
	}
	if (!has_type && span_type && *span_type) {
		/* The producer's mapped type, in MLflow's attribute form. */
		char enc[160];
		snprintf(enc, sizeof enc, "\"%.150s\"", span_type);
		json_t *sv = json_string(enc);
		cn_fb_ref k = cn_fb_create_cstr(b, "mlflow.spanType");
		cn_fb_ref val = trc_any_value(b, sv, false);
		json_decref(sv);
		cn_KeyValue_start(b);
		cn_KeyValue_add_key(b, k);
		cn_KeyValue_add_value(b, val);
		trc_refs_push(tmp, cn_KeyValue_end(b));
	}
	return cn_fb_create_vec_refs(b, tmp->p, tmp->n);
}

static int32_t trc_status_enum(cn_fb_str code)
{
	if (cn_fb_str_eq(code, "STATUS_CODE_OK") || cn_fb_str_eq(code, "OK"))
		return CN_SpanStatusCode_STATUS_CODE_OK;
	if (cn_fb_str_eq(code, "STATUS_CODE_ERROR") || cn_fb_str_eq(code, "ERROR"))
		return CN_SpanStatusCode_STATUS_CODE_ERROR;
	return CN_SpanStatusCode_STATUS_CODE_UNSET;
}

static json_t *trc_json_of(cn_fb_str s)
{
	return s.len ? json_loadb(s.ptr, s.len, 0, NULL) : NULL;
}

/* One SpanRecord as an OTel Span table. */
static cn_fb_ref trc_build_span(cn_fb_builder *b, cn_fb_table sp, cn_buf *tmp)
{
	trc_refs kv = {0}, evs = {0};
	cn_fb_ref tid = trc_b64_ref(b, cn_SpanRecord_trace_id(sp), tmp);
	cn_fb_ref sid = trc_b64_ref(b, cn_SpanRecord_span_id(sp), tmp);
	cn_fb_str par = cn_SpanRecord_parent_span_id(sp);
	cn_fb_ref pid = par.len ? trc_b64_ref(b, par, tmp) : 0;
	cn_fb_str nm = cn_SpanRecord_name(sp), ts = cn_SpanRecord_trace_state(sp);
	cn_fb_ref name = cn_fb_create_string(b, nm.ptr ? nm.ptr : "", nm.len);
	cn_fb_ref tstate = ts.len ? cn_fb_create_string(b, ts.ptr, ts.len) : 0;
	json_t *attrs = trc_json_of(cn_SpanRecord_attributes(sp));
	char type[128] = "";
	cn_fb_str ty = cn_SpanRecord_span_type(sp);
	snprintf(type, sizeof type, "%.*s", (int)(ty.len < 120 ? ty.len : 120),
	         ty.ptr ? ty.ptr : "");
	cn_fb_ref avec = trc_key_values(b, json_is_object(attrs) ? attrs : NULL, false, &kv, type);
	json_decref(attrs);
	json_t *events = trc_json_of(cn_SpanRecord_events(sp));
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev)
	{
		json_t *n = json_object_get(ev, "name"), *t = json_object_get(ev, "time_unix_nano");
		cn_fb_ref en = cn_fb_create_cstr(b, json_is_string(n) ? json_string_value(n) : "");
		trc_refs ekv = {0};
		cn_fb_ref ea =
		        trc_key_values(b, json_object_get(ev, "attributes"), true, &ekv, NULL);
		free(ekv.p);
		cn_SpanEvent_start(b);
		cn_SpanEvent_add_name(b, en);
		cn_SpanEvent_add_time_unix_nano(
		        b, (uint64_t)(json_is_integer(t) ? json_integer_value(t) : 0));
		cn_SpanEvent_add_attributes(b, ea);
		trc_refs_push(&evs, cn_SpanEvent_end(b));
	}
	json_decref(events);
	cn_fb_ref evec = cn_fb_create_vec_refs(b, evs.p, evs.n);
	cn_fb_str sm = cn_SpanRecord_status_message(sp);
	cn_fb_ref msg = sm.len ? cn_fb_create_string(b, sm.ptr, sm.len) : 0;
	cn_SpanStatus_start(b);
	if (msg)
		cn_SpanStatus_add_message(b, msg);
	cn_SpanStatus_add_code(b, trc_status_enum(cn_SpanRecord_status_code(sp)));
	cn_fb_ref status = cn_SpanStatus_end(b);
	cn_Span_start(b);
	cn_Span_add_trace_id(b, tid);
	cn_Span_add_span_id(b, sid);
	if (tstate)
		cn_Span_add_trace_state(b, tstate);
	if (pid)
		cn_Span_add_parent_span_id(b, pid);
	cn_Span_add_name(b, name);
	cn_Span_add_start_time_unix_nano(b, (uint64_t)cn_SpanRecord_start_time_unix_nano(sp));
	cn_Span_add_end_time_unix_nano(b, (uint64_t)cn_SpanRecord_end_time_unix_nano(sp));
	cn_Span_add_attributes(b, avec);
	cn_Span_add_events(b, evec);
	cn_Span_add_status(b, status);
	free(kv.p);
	free(evs.p);
	return cn_Span_end(b);
}

/* Up to max spans of a trace after `after` (NULL: from the first); *more
 * tells whether spans remain, *last the last span id returned. */
static cn_code trc_build_spans(trc_state *s, cn_fb_str id, const char *after, size_t max,
                               cn_fb_builder *b, cn_fb_ref *out, bool *more, char last[17],
                               cn_err *err)
{
	trc_span_iter *it = trc_span_iter_new(s, id.ptr, id.len, after);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	trc_refs refs = {0};
	cn_buf tmp = {0};
	cn_fb_table sp;
	const char *sid;
	size_t slen;
	*more = false;
	cn_code rc = CN_OK;
	while (trc_span_iter_next(it, &sp, &sid, &slen)) {
		if (refs.n == max) {
			*more = true;
			break;
		}
		if (!trc_refs_push(&refs, trc_build_span(b, sp, &tmp))) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		snprintf(last, 17, "%.*s", (int)(slen < 16 ? slen : 16), sid);
	}
	if (rc == CN_OK)
		rc = trc_span_iter_status(it, err);
	if (rc == CN_OK)
		*out = cn_fb_create_vec_refs(b, refs.p, refs.n);
	trc_span_iter_free(it);
	free(refs.p);
	cn_buf_free(&tmp);
	return rc;
}

TRC_METHOD(trc_get_trace)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str id = cn_GetTrace_trace_id(req);
	size_t max = SIZE_MAX;
	if (cn_GetTrace_has_max_spans(req)) {
		int32_t m = cn_GetTrace_max_spans(req);
		if (m < 1 || m > TRC_SPAN_PAGE_MAX)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid value %d for parameter 'max_spans' supplied: it must "
			        "be between 1 and %d",
			        m, TRC_SPAN_PAGE_MAX);
		max = (size_t)m;
	}
	char after[17] = "";
	cn_fb_str tok = cn_GetTrace_span_page_token(req);
	if (tok.len) {
		bool ok = tok.len == 16;
		for (size_t i = 0; ok && i < 16; i++)
			ok = (tok.ptr[i] >= '0' && tok.ptr[i] <= '9') ||
			     (tok.ptr[i] >= 'a' && tok.ptr[i] <= 'f');
		if (!ok)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid span_page_token '%.*s'",
			                  (int)(tok.len > 40 ? 40 : tok.len), tok.ptr);
		memcpy(after, tok.ptr, 16);
	}
	trc_info info;
	cn_code rc = trc_load(s, id, "trace_id", &info, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref spans = 0;
	bool more = false;
	char last[17] = "";
	rc = trc_build_spans(s, id, tok.len ? after : NULL, max, b, &spans, &more, last, err);
	if (rc == CN_OK) {
		cn_fb_ref t = trc_build_trace(b, trc_build_info_v3(s, b, info.t), spans);
		cn_fb_ref next = more ? cn_fb_create_cstr(b, last) : 0;
		cn_GetTraceResponse_start(b);
		cn_GetTraceResponse_add_trace(b, t);
		if (next)
			cn_GetTraceResponse_add_next_span_page_token(b, next);
		*resp = cn_GetTraceResponse_end(b);
	}
	trc_info_release(&info);
	return rc;
}

TRC_METHOD(trc_batch_get_traces)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_vec ids = cn_BatchGetTraces_trace_ids(req);
	cn_fb_vec exps = cn_BatchGetTraces_experiment_ids(req);
	if (ids.n > TRC_BATCH_GET_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d trace IDs may be requested at once, got %u",
		                  TRC_BATCH_GET_MAX, ids.n);
	trc_refs refs = {0};
	cn_code rc = CN_OK;
	for (uint32_t i = 0; i < ids.n && rc == CN_OK; i++) {
		cn_fb_str id = cn_fb_vec_str(ids, i);
		trc_info info;
		rc = trc_info_get(s, id.ptr, id.len, &info, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
			rc = CN_OK;
			continue;
		}
		if (rc != CN_OK)
			break;
		if (trc_in_experiments(info.t, exps)) {
			cn_fb_ref spans = 0;
			bool more;
			char last[17];
			rc = trc_build_spans(s, id, NULL, SIZE_MAX, b, &spans, &more, last, err);
			if (rc == CN_OK &&
			    !trc_refs_push(
			            &refs,
			            trc_build_trace(b, trc_build_info_v3(s, b, info.t), spans)))
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		}
		trc_info_release(&info);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = cn_fb_create_vec_refs(b, refs.p, refs.n);
		cn_BatchGetTracesResponse_start(b);
		cn_BatchGetTracesResponse_add_traces(b, vec);
		*resp = cn_BatchGetTracesResponse_end(b);
	}
	free(refs.p);
	return rc;
}

/* ---- get-trace-artifact: traces.json ---- */

static const char *trc_status_word(cn_fb_str code)
{
	switch (trc_status_enum(code)) {
	case CN_SpanStatusCode_STATUS_CODE_OK: return "OK";
	case CN_SpanStatusCode_STATUS_CODE_ERROR: return "ERROR";
	default: return "UNSET";
	}
}

static cn_fb_ref trc_build_data_span(cn_fb_builder *b, cn_fb_str trace_id, cn_fb_table sp)
{
	trc_refs attrs = {0}, evs = {0};
	json_t *a = trc_json_of(cn_SpanRecord_attributes(sp));
	const char *key;
	json_t *v;
	json_object_foreach(a, key, v)
	{
		char *d = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		cn_fb_ref k = cn_fb_create_cstr(b, key);
		cn_fb_ref val = cn_fb_create_cstr(b, d ? d : json_string_value(v));
		free(d);
		cn_StringPair_start(b);
		cn_StringPair_add_key(b, k);
		cn_StringPair_add_value(b, val);
		trc_refs_push(&attrs, cn_StringPair_end(b));
	}
	json_decref(a);
	json_t *events = trc_json_of(cn_SpanRecord_events(sp));
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev)
	{
		json_t *n = json_object_get(ev, "name"), *t = json_object_get(ev, "time_unix_nano");
		json_t *ea = json_object_get(ev, "attributes");
		char *d = json_is_object(ea) ? json_dumps(ea, JSON_COMPACT) : NULL;
		cn_fb_ref en = cn_fb_create_cstr(b, json_is_string(n) ? json_string_value(n) : "");
		cn_fb_ref ej = cn_fb_create_cstr(b, d ? d : "{}");
		free(d);
		cn_TraceDataEvent_start(b);
		cn_TraceDataEvent_add_name(b, en);
		cn_TraceDataEvent_add_time_unix_nano(b, json_is_integer(t) ? json_integer_value(t)
		                                                           : 0);
		cn_TraceDataEvent_add_attributes(b, ej);
		trc_refs_push(&evs, cn_TraceDataEvent_end(b));
	}
	json_decref(events);
	cn_fb_str sid = cn_SpanRecord_span_id(sp), par = cn_SpanRecord_parent_span_id(sp);
	cn_fb_str nm = cn_SpanRecord_name(sp), sm = cn_SpanRecord_status_message(sp);
	cn_fb_ref tid = cn_fb_create_string(b, trace_id.ptr, trace_id.len);
	cn_fb_ref sidr = cn_fb_create_string(b, sid.ptr ? sid.ptr : "", sid.len);
	cn_fb_ref parr = cn_fb_create_string(b, par.ptr ? par.ptr : "", par.len);
	cn_fb_ref name = cn_fb_create_string(b, nm.ptr ? nm.ptr : "", nm.len);
	cn_fb_ref code = cn_fb_create_cstr(b, trc_status_word(cn_SpanRecord_status_code(sp)));
	cn_fb_ref msg = cn_fb_create_string(b, sm.ptr ? sm.ptr : "", sm.len);
	cn_TraceDataStatus_start(b);
	cn_TraceDataStatus_add_code(b, code);
	cn_TraceDataStatus_add_message(b, msg);
	cn_fb_ref status = cn_TraceDataStatus_end(b);
	cn_fb_ref evec = cn_fb_create_vec_refs(b, evs.p, evs.n);
	cn_fb_ref avec = cn_fb_create_vec_refs(b, attrs.p, attrs.n);
	cn_TraceDataSpan_start(b);
	cn_TraceDataSpan_add_trace_id(b, tid);
	cn_TraceDataSpan_add_span_id(b, sidr);
	cn_TraceDataSpan_add_parent_span_id(b, parr);
	cn_TraceDataSpan_add_name(b, name);
	cn_TraceDataSpan_add_start_time_unix_nano(b, cn_SpanRecord_start_time_unix_nano(sp));
	cn_TraceDataSpan_add_end_time_unix_nano(b, cn_SpanRecord_end_time_unix_nano(sp));
	cn_TraceDataSpan_add_events(b, evec);
	cn_TraceDataSpan_add_status(b, status);
	cn_TraceDataSpan_add_attributes(b, avec);
	free(attrs.p);
	free(evs.p);
	return cn_TraceDataSpan_end(b);
}

TRC_METHOD(trc_get_trace_artifact)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str id = cn_GetTraceArtifact_request_id(req);
	trc_info info;
	cn_code rc = trc_load(s, id, "request_id", &info, err);
	if (rc != CN_OK)
		return rc;
	trc_info_release(&info);
	trc_span_iter *it = trc_span_iter_new(s, id.ptr, id.len, NULL);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	trc_refs refs = {0};
	cn_fb_table sp;
	const char *sid;
	size_t slen;
	while (rc == CN_OK && trc_span_iter_next(it, &sp, &sid, &slen))
		if (!trc_refs_push(&refs, trc_build_data_span(b, id, sp)))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		rc = trc_span_iter_status(it, err);
	trc_span_iter_free(it);
	if (rc == CN_OK) {
		cn_fb_ref vec = cn_fb_create_vec_refs(b, refs.p, refs.n);
		cn_TraceData_start(b);
		cn_TraceData_add_spans(b, vec);
		*resp = cn_TraceData_end(b);
	}
	free(refs.p);
	return rc;
}
