/*
 * core/traces/start.c: writing a trace's info from a client: StartTraceV3
 * (MLflow 3 clients call it when a trace ends, with the whole TraceInfoV3)
 * and the 2.0 StartTrace / EndTrace pair. Spans that arrived first are
 * kept: the record they created is merged with the client's info, which
 * wins from then on (info_from_client).
 */
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/traces/traces_api.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

/* Tags MLflow's server sets on every trace it stores spans for. */
static void trc_server_tags(trc_rec *r, const trc_exp_facts *f, const char *id, cn_buf *loc)
{
	cn_buf_reset(loc);
	cn_buf_printf(loc, "%s/traces/%s/artifacts", f->artifact_location, id);
	trc_pairs_set(&r->tags, "mlflow.artifactLocation", 23, loc->p, loc->len);
	trc_pairs_set(&r->tags, "mlflow.trace.spansLocation", 26, "TRACKING_STORE", 14);
}

static cn_code trc_check_experiment(trc_state *s, cn_fb_str exp, trc_exp_facts *f, cn_err *err)
{
	if (!exp.ptr || exp.len == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'experiment_id'. See the API "
		        "docs for more information about request parameters.");
	cn_code rc = trc_exp_facts_get(s, exp.ptr, exp.len, f, err);
	if (rc == CN_OK && !f->exists)
		rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                "Could not find experiment with ID %.*s",
		                (int)(exp.len > 64 ? 64 : exp.len), exp.ptr);
	return rc;
}

/* Encode r, replace old's index entries (old may be NULL), write. */
static cn_code trc_store_rec(trc_state *s, const trc_rec *r, const trc_info *old, cn_fb_builder *fb,
                             cn_err *err)
{
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	const uint8_t *buf;
	size_t len;
	cn_code rc = CN_OK;
	if (!trc_rec_encode(r, fb, &buf, &len)) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	} else {
		if (old)
			trc_index_record(batch, old->t, true);
		cn_key k;
		trc_key_info(&k, r->trace_id.ptr, r->trace_id.len);
		cn_kv_batch_put(batch, TRC_CF_INFO, k.b, k.len, buf, len);
		trc_index_record(batch, cn_fb_root(buf), false);
		rc = trc_write(s, batch, err);
	}
	cn_kv_batch_free(batch);
	return rc;
}

/* Read back the stored record (after a write) and build answer `build`. */
static cn_code trc_reload(trc_state *s, cn_fb_str id, trc_info *out, cn_err *err)
{
	return trc_info_get(s, id.ptr, id.len, out, err);
}

static cn_code trc_check_pairs(cn_fb_vec v, size_t kmax, size_t vmax, const char *what, cn_err *err)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_str k = cn_StringPair_key(e), val = cn_StringPair_value(e);
		if (!k.ptr || k.len == 0)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "%s key must not be empty", what);
		if (k.len > kmax || val.len > vmax)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "%s '%.*s' exceeds the maximum length (key %zu, value %zu)", what,
			        (int)(k.len > 100 ? 100 : k.len), k.ptr, kmax, vmax);
	}
	return CN_OK;
}

static void trc_merge_pairs(trc_pairs *ps, cn_fb_vec v)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_str k = cn_StringPair_key(e), val = cn_StringPair_value(e);
		trc_pairs_set(ps, k.ptr, k.len, val.ptr ? val.ptr : "", val.len);
	}
}

TRC_METHOD(trc_start_trace_v3)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_table info = cn_Trace_trace_info(cn_StartTraceV3_trace(req));
	cn_fb_str id = cn_TraceInfoV3_trace_id(info);
	if (!info.buf || !id.ptr || id.len == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'trace.trace_info.trace_id'.");
	if (!trc_valid_trace_id(id.ptr, id.len))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid trace_id '%.*s': expected 'tr-' and 32 lowercase hex "
		                  "digits",
		                  (int)(id.len > 100 ? 100 : id.len), id.ptr);
	cn_fb_str exp = cn_MlflowExperimentLocation_experiment_id(
	        cn_TraceLocation_mlflow_experiment(cn_TraceInfoV3_trace_location(info)));
	trc_exp_facts facts;
	cn_code rc = trc_check_experiment(s, exp, &facts, err);
	if (rc != CN_OK)
		return rc;
	int64_t req_ms = cn_now_ms(), dur_ms = -1;
	cn_fb_str rt = cn_TraceInfoV3_request_time(info),
	          ed = cn_TraceInfoV3_execution_duration(info);
	if (rt.len && !trc_parse_timestamp(rt.ptr, rt.len, &req_ms))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid request_time '%.*s': expected an RFC 3339 timestamp",
		                  (int)(rt.len > 64 ? 64 : rt.len), rt.ptr);
	if (ed.len && (!trc_parse_duration(ed.ptr, ed.len, &dur_ms) || dur_ms < 0))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid execution_duration '%.*s': expected a duration such as "
		                  "'1.5s'",
		                  (int)(ed.len > 64 ? 64 : ed.len), ed.ptr);
	cn_fb_vec md = cn_TraceInfoV3_trace_metadata(info), tags = cn_TraceInfoV3_tags(info);
	if ((rc = trc_check_pairs(md, 250, 8000, "Trace metadata", err)) != CN_OK ||
	    (rc = trc_check_pairs(tags, 250, 8000, "Trace tag", err)) != CN_OK)
		return rc;
	cn_fb_builder *fb = cn_fb_builder_new(1024);
	if (!fb)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_buf loc = {0};
	pthread_mutex_t *mu = trc_stripe(s, id.ptr, id.len);
	pthread_mutex_lock(mu);
	trc_info old;
	rc = trc_info_get(s, id.ptr, id.len, &old, err);
	bool existed = rc == CN_OK;
	trc_rec r;
	if (existed)
		trc_rec_from_fb(&r, old.t);
	else
		trc_rec_init(&r);
	if (rc == CN_OK || rc == CN_RESOURCE_DOES_NOT_EXIST) {
		r.trace_id = id;
		r.experiment_id = exp;
		r.client_request_id = cn_TraceInfoV3_client_request_id(info);
		r.request_time_ms = req_ms;
		r.execution_duration_ms = dur_ms;
		r.state = cn_TraceInfoV3_has_state(info) ? cn_TraceInfoV3_state(info)
		                                         : CN_TraceState_STATE_UNSPECIFIED;
		if (cn_TraceInfoV3_has_request_preview(info))
			r.request_preview = cn_TraceInfoV3_request_preview(info);
		if (cn_TraceInfoV3_has_response_preview(info))
			r.response_preview = cn_TraceInfoV3_response_preview(info);
		trc_merge_pairs(&r.metadata, md);
		trc_merge_pairs(&r.tags, tags);
		trc_server_tags(&r, &facts, id.ptr, &loc);
		r.info_from_client = true;
		rc = trc_store_rec(s, &r, existed ? &old : NULL, fb, err);
	}
	trc_rec_free(&r);
	if (existed)
		trc_info_release(&old);
	trc_info now;
	if (rc == CN_OK)
		rc = trc_reload(s, id, &now, err);
	pthread_mutex_unlock(mu);
	cn_buf_free(&loc);
	cn_fb_builder_free(fb);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref t = trc_build_trace(b, trc_build_info_v3(s, b, now.t), 0);
	trc_info_release(&now);
	cn_StartTraceV3Response_start(b);
	cn_StartTraceV3Response_add_trace(b, t);
	*resp = cn_StartTraceV3Response_end(b);
	return CN_OK;
}

static cn_code trc_answer_v2(trc_state *s, cn_fb_str id, cn_fb_builder *b, cn_fb_ref *resp,
                             cn_err *err)
{
	trc_info now;
	cn_code rc = trc_reload(s, id, &now, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref t = trc_build_info_v2(b, now.t);
	trc_info_release(&now);
	cn_TraceInfoResponse_start(b);
	cn_TraceInfoResponse_add_trace_info(b, t);
	*resp = cn_TraceInfoResponse_end(b);
	return CN_OK;
}

TRC_METHOD(trc_start_trace_v2)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str exp = cn_StartTrace_experiment_id(req);
	trc_exp_facts facts;
	cn_code rc = trc_check_experiment(s, exp, &facts, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_vec md = cn_StartTrace_request_metadata(req), tags = cn_StartTrace_tags(req);
	if ((rc = trc_check_pairs(md, 250, 8000, "Trace metadata", err)) != CN_OK ||
	    (rc = trc_check_pairs(tags, 250, 8000, "Trace tag", err)) != CN_OK)
		return rc;
	char hex[33], id[TRC_ID_MAX];
	cn_id_hex32(hex);
	trc_trace_id_from_otel(hex, 32, id);
	cn_fb_str fid = {id, strlen(id)};
	trc_rec r;
	trc_rec_init(&r);
	r.trace_id = fid;
	r.experiment_id = exp;
	r.request_time_ms =
	        cn_StartTrace_has_timestamp_ms(req) ? cn_StartTrace_timestamp_ms(req) : cn_now_ms();
	r.state = CN_TraceState_IN_PROGRESS;
	r.info_from_client = true;
	trc_merge_pairs(&r.metadata, md);
	trc_merge_pairs(&r.tags, tags);
	cn_buf loc = {0};
	trc_server_tags(&r, &facts, id, &loc);
	cn_fb_builder *fb = cn_fb_builder_new(1024);
	rc = fb ? trc_store_rec(s, &r, NULL, fb, err)
	        : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_builder_free(fb);
	trc_rec_free(&r);
	cn_buf_free(&loc);
	return rc == CN_OK ? trc_answer_v2(s, fid, b, resp, err) : rc;
}

TRC_METHOD(trc_end_trace_v2)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str id = cn_EndTrace_request_id(req);
	cn_fb_vec md = cn_EndTrace_request_metadata(req), tags = cn_EndTrace_tags(req);
	cn_code rc;
	if ((rc = trc_check_pairs(md, 250, 8000, "Trace metadata", err)) != CN_OK ||
	    (rc = trc_check_pairs(tags, 250, 8000, "Trace tag", err)) != CN_OK)
		return rc;
	cn_fb_builder *fb = cn_fb_builder_new(1024);
	if (!fb)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_t *mu = trc_stripe(s, id.ptr, id.len);
	pthread_mutex_lock(mu);
	trc_info old;
	rc = trc_load(s, id, "request_id", &old, err);
	if (rc == CN_OK) {
		trc_rec r;
		trc_rec_from_fb(&r, old.t);
		int64_t end = cn_EndTrace_has_timestamp_ms(req) ? cn_EndTrace_timestamp_ms(req)
		                                                : cn_now_ms();
		r.execution_duration_ms = end > r.request_time_ms ? end - r.request_time_ms : 0;
		if (cn_EndTrace_has_status(req))
			r.state = cn_EndTrace_status(req);
		trc_merge_pairs(&r.metadata, md);
		trc_merge_pairs(&r.tags, tags);
		r.info_from_client = true;
		rc = trc_store_rec(s, &r, &old, fb, err);
		trc_rec_free(&r);
		trc_info_release(&old);
	}
	pthread_mutex_unlock(mu);
	cn_fb_builder_free(fb);
	return rc == CN_OK ? trc_answer_v2(s, id, b, resp, err) : rc;
}
