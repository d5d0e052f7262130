/*
 * core/traces/info.c: stored records as MLflow's TraceInfoV3 and 2.0
 * TraceInfo, and the calls that return only infos (GetTraceInfoV3,
 * GetTraceInfo, BatchGetTraceInfos).
 */
#include <string.h>

#include "core/traces/traces_int.h"
#include "core/traces/assessments.h"
#include "core/traces/traces_api.h"
#include "schemas/cairn_schema.h"

static cn_fb_ref trc_str_ref(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

static cn_fb_ref trc_pairs_ref(cn_fb_builder *b, cn_fb_vec v, int kind)
{
	cn_fb_ref stack[64] = {0};
	cn_fb_ref *refs = v.n <= 64 ? stack : malloc(v.n * sizeof *refs);
	if (!refs)
		return 0;
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_ref k = trc_str_ref(b, cn_StringPair_key(e));
		cn_fb_ref val = trc_str_ref(b, cn_StringPair_value(e));
		/* StringPair, TraceRequestMetadata and TraceTag share the layout. */
		(void)kind;
		cn_fb_table_start(b);
		cn_fb_add_ref(b, 0, k);
		cn_fb_add_ref(b, 1, val);
		refs[i] = cn_fb_table_end(b);
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, v.n);
	if (refs != stack)
		free(refs);
	return vec;
}

cn_fb_ref trc_build_info_v3(trc_state *s, cn_fb_builder *b, cn_fb_table rec)
{
	cn_fb_ref asms = 0;
	if (s) {
		cn_fb_str aid = cn_TraceRecord_trace_id(rec);
		cn_err aerr;
		if (trc_assessments_build(s, aid.ptr, aid.len, b, &asms, &aerr) != CN_OK)
			asms = 0;
	}
	cn_fb_ref id = trc_str_ref(b, cn_TraceRecord_trace_id(rec));
	cn_fb_ref crid = trc_str_ref(b, cn_TraceRecord_client_request_id(rec));
	cn_fb_ref exp = trc_str_ref(b, cn_TraceRecord_experiment_id(rec));
	cn_MlflowExperimentLocation_start(b);
	cn_MlflowExperimentLocation_add_experiment_id(b, exp);
	cn_fb_ref mexp = cn_MlflowExperimentLocation_end(b);
	cn_TraceLocation_start(b);
	cn_TraceLocation_add_type(b, CN_TraceLocationType_MLFLOW_EXPERIMENT);
	cn_TraceLocation_add_mlflow_experiment(b, mexp);
	cn_fb_ref loc = cn_TraceLocation_end(b);
	char ts[40], dur[40];
	trc_fmt_timestamp(cn_TraceRecord_request_time_ms(rec), ts);
	cn_fb_ref rt = cn_fb_create_cstr(b, ts);
	cn_fb_ref ed = 0;
	if (cn_TraceRecord_has_execution_duration_ms(rec)) {
		trc_fmt_duration(cn_TraceRecord_execution_duration_ms(rec), dur);
		ed = cn_fb_create_cstr(b, dur);
	}
	cn_fb_ref md = trc_pairs_ref(b, cn_TraceRecord_trace_metadata(rec), 0);
	cn_fb_ref tags = trc_pairs_ref(b, cn_TraceRecord_tags(rec), 0);
	cn_fb_ref rq = trc_str_ref(b, cn_TraceRecord_request_preview(rec));
	cn_fb_ref rs = trc_str_ref(b, cn_TraceRecord_response_preview(rec));
	cn_TraceInfoV3_start(b);
	cn_TraceInfoV3_add_trace_id(b, id);
	if (crid)
		cn_TraceInfoV3_add_client_request_id(b, crid);
	cn_TraceInfoV3_add_trace_location(b, loc);
	cn_TraceInfoV3_add_request_time(b, rt);
	if (ed)
		cn_TraceInfoV3_add_execution_duration(b, ed);
	cn_TraceInfoV3_add_state(b, cn_TraceRecord_state(rec));
	cn_TraceInfoV3_add_trace_metadata(b, md);
	cn_TraceInfoV3_add_tags(b, tags);
	if (rq)
		cn_TraceInfoV3_add_request_preview(b, rq);
	if (rs)
		cn_TraceInfoV3_add_response_preview(b, rs);
	cn_TraceInfoV3_add_assessments(b, asms);
	return cn_TraceInfoV3_end(b);
}

cn_fb_ref trc_build_info_v2(cn_fb_builder *b, cn_fb_table rec)
{
	cn_fb_ref id = trc_str_ref(b, cn_TraceRecord_trace_id(rec));
	cn_fb_ref exp = trc_str_ref(b, cn_TraceRecord_experiment_id(rec));
	cn_fb_ref md = trc_pairs_ref(b, cn_TraceRecord_trace_metadata(rec), 1);
	cn_fb_ref tags = trc_pairs_ref(b, cn_TraceRecord_tags(rec), 2);
	cn_TraceInfo_start(b);
	cn_TraceInfo_add_request_id(b, id);
	cn_TraceInfo_add_experiment_id(b, exp);
	cn_TraceInfo_add_timestamp_ms(b, cn_TraceRecord_request_time_ms(rec));
	if (cn_TraceRecord_has_execution_duration_ms(rec))
		cn_TraceInfo_add_execution_time_ms(b, cn_TraceRecord_execution_duration_ms(rec));
	/* TraceState and TraceStatus share their numbers. */
	cn_TraceInfo_add_status(b, cn_TraceRecord_state(rec));
	cn_TraceInfo_add_request_metadata(b, md);
	cn_TraceInfo_add_tags(b, tags);
	return cn_TraceInfo_end(b);
}

cn_code trc_not_found(cn_fb_str id, cn_err *err)
{
	return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST, "Trace with ID %.*s not found.",
	                  (int)(id.len > 200 ? 200 : id.len), id.ptr ? id.ptr : "");
}

cn_code trc_load(trc_state *s, cn_fb_str id, const char *param, trc_info *out, cn_err *err)
{
	cn_code rc = trc_need_trace_id(id, param, err);
	if (rc != CN_OK)
		return rc;
	rc = trc_info_get(s, id.ptr, id.len, out, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return trc_not_found(id, err);
	return rc;
}

/* Trace {trace_info, spans?} with spans when span_vec is not 0. */
cn_fb_ref trc_build_trace(cn_fb_builder *b, cn_fb_ref info, cn_fb_ref spans)
{
	cn_Trace_start(b);
	cn_Trace_add_trace_info(b, info);
	if (spans)
		cn_Trace_add_spans(b, spans);
	return cn_Trace_end(b);
}

TRC_METHOD(trc_get_trace_info_v3)
{
	(void)ctx;
	trc_info info;
	cn_code rc = trc_load(st, cn_GetTraceInfoV3_trace_id(req), "trace_id", &info, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref t = trc_build_trace(b, trc_build_info_v3(st, b, info.t), 0);
	trc_info_release(&info);
	cn_GetTraceInfoV3Response_start(b);
	cn_GetTraceInfoV3Response_add_trace(b, t);
	*resp = cn_GetTraceInfoV3Response_end(b);
	return CN_OK;
}

TRC_METHOD(trc_get_trace_info_v2)
{
	(void)ctx;
	trc_info info;
	cn_code rc = trc_load(st, cn_GetTraceInfo_request_id(req), "request_id", &info, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref t = trc_build_info_v2(b, info.t);
	trc_info_release(&info);
	cn_TraceInfoResponse_start(b);
	cn_TraceInfoResponse_add_trace_info(b, t);
	*resp = cn_TraceInfoResponse_end(b);
	return CN_OK;
}

/* Is the record's experiment among ids (empty: any)? */
bool trc_in_experiments(cn_fb_table rec, cn_fb_vec ids)
{
	if (ids.n == 0)
		return true;
	cn_fb_str exp = cn_TraceRecord_experiment_id(rec);
	for (uint32_t i = 0; i < ids.n; i++) {
		cn_fb_str e = cn_fb_vec_str(ids, i);
		if (e.len == exp.len && memcmp(e.ptr, exp.ptr, e.len) == 0)
			return true;
	}
	return false;
}

TRC_METHOD(trc_batch_get_trace_infos)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_vec ids = cn_BatchGetTraceInfos_trace_ids(req);
	cn_fb_vec exps = cn_BatchGetTraceInfos_experiment_ids(req);
	if (ids.n > 1000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most 1000 trace IDs may be requested at once, got %u", ids.n);
	cn_fb_ref *refs = malloc((ids.n ? ids.n : 1) * sizeof *refs);
	if (!refs)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t n = 0;
	cn_code rc = CN_OK;
	for (uint32_t i = 0; i < ids.n && rc == CN_OK; i++) {
		cn_fb_str id = cn_fb_vec_str(ids, i);
		trc_info info;
		rc = trc_info_get(s, id.ptr, id.len, &info, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
			rc = CN_OK; /* missing ids are left out, as MLflow does */
			continue;
		}
		if (rc != CN_OK)
			break;
		if (trc_in_experiments(info.t, exps))
			refs[n++] = trc_build_info_v3(s, b, info.t);
		trc_info_release(&info);
	}
	if (rc == CN_OK) {
		cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, n);
		cn_BatchGetTraceInfosResponse_start(b);
		cn_BatchGetTraceInfosResponse_add_trace_infos(b, vec);
		*resp = cn_BatchGetTraceInfosResponse_end(b);
	}
	free(refs);
	return rc;
}
