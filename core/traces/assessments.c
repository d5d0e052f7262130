/*
 * core/traces/assessments.c: CreateAssessment, GetAssessmentRequest,
 * UpdateAssessment and DeleteAssessmentRequest (MLflow 3's
 * /api/3.0/mlflow/traces/{trace_id}/assessments[/{assessment_id}]).
 *
 * MLflow's rules (mlflow/server/handlers.py and the SQL store):
 *  - an assessment is feedback (value or error) or an expectation (value or
 *    serialized_value), never both; its trace must exist;
 *  - creating one that `overrides` another marks that one valid=false in
 *    the same atomic write; deleting the overriding one makes it valid again;
 *  - update applies only the fields named by update_mask (assessment_name,
 *    feedback, expectation, rationale, metadata; metadata entries are merged)
 *    and refuses to turn feedback into an expectation or back;
 *  - delete of an assessment that does not exist succeeds (idempotent).
 * Every read-modify-write holds the trace's lock stripe, so an override and
 * a concurrent update of the overridden assessment cannot lose either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/ids.h"
#include "core/traces/assessments_int.h"
#include "schemas/cairn_schema.h"

static json_t *asm_strn(cn_fb_str s)
{
	return json_stringn(s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

static bool asm_has_text(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && json_string_length(v) > 0;
}

/* A creation-ordered id: 12 hex digits of milliseconds, then 20 random. */
static void asm_new_id(char out[TRC_ASSESSMENT_ID_LEN + 1])
{
	char rnd[33];
	cn_id_hex32(rnd);
	snprintf(out, TRC_ASSESSMENT_ID_LEN + 1, "a-%012llx%.20s",
	         (unsigned long long)cn_now_ms() & 0xffffffffffffull, rnd);
}

static void asm_set_time(json_t *doc, const char *key, int64_t ms)
{
	char ts[40];
	trc_fmt_timestamp(ms, ts);
	json_object_set_new(doc, key, json_string(ts));
}

/* A feedback (value or error) or an expectation (value or serialized
 * value), as MLflow's entities insist. */
static cn_code asm_check_feedback(json_t *f, cn_err *err)
{
	json_t *v = json_object_get(f, "value");
	if ((!v || json_is_null(v)) && !json_is_object(json_object_get(f, "error")))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Either `value` or `error` must be provided for feedback.");
	return CN_OK;
}

static cn_code asm_check_expectation(json_t *x, cn_err *err)
{
	json_t *v = json_object_get(x, "value");
	bool has_value = v && !json_is_null(v);
	bool has_ser = json_is_object(json_object_get(x, "serialized_value"));
	if (has_value && has_ser)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Only one of `value` or `serialized_value` may be set for an "
		                  "expectation.");
	if (!has_value && !has_ser)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "An expectation must have a `value` or a `serialized_value`.");
	return CN_OK;
}

static cn_code asm_check_name(json_t *doc, cn_err *err)
{
	if (!asm_has_text(doc, "assessment_name"))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'assessment_name'.");
	return CN_OK;
}

static cn_code asm_check_kind(json_t *doc, cn_err *err)
{
	json_t *f = json_object_get(doc, "feedback"), *x = json_object_get(doc, "expectation");
	if (!!f == !!x)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "An assessment must have exactly one of `feedback` or "
		                  "`expectation`.");
	return f ? asm_check_feedback(f, err) : asm_check_expectation(x, err);
}

static cn_code asm_answer(json_t *doc, cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	json_t *wrap = json_pack("{s:O}", "assessment", doc);
	char *js = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
	json_decref(wrap);
	if (!js)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = cn_json_decode(&cn_schema_cairn, CN_TABLE_AssessmentResponse, js, strlen(js),
	                            NULL, 0, b, resp, err);
	free(js);
	return rc;
}

static cn_code asm_trace_exists(trc_state *s, cn_fb_str tid, cn_err *err)
{
	trc_info info;
	cn_code rc = trc_info_get(s, tid.ptr, tid.len, &info, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "Trace with ID '%.*s' not found.", (int)tid.len,
		                  tid.ptr);
	trc_info_release(&info);
	return rc;
}

TRC_METHOD(trc_create_assessment)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str tid = cn_CreateAssessment_trace_id(req);
	cn_fb_table a = cn_CreateAssessment_assessment(req);
	cn_code rc = trc_need_trace_id(tid, "trace_id", err);
	json_t *doc = NULL;
	if (rc == CN_OK)
		rc = trc_asm_doc_from_table(a, &doc, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_str body_tid = cn_Assessment_trace_id(a);
	if (body_tid.ptr && body_tid.len &&
	    (body_tid.len != tid.len || memcmp(body_tid.ptr, tid.ptr, tid.len) != 0))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "The assessment's trace_id '%.*s' does not match the trace '%.*s' "
		                "of the request path.",
		                (int)body_tid.len, body_tid.ptr, (int)tid.len, tid.ptr);
	if (rc == CN_OK)
		rc = asm_check_name(doc, err);
	if (rc == CN_OK)
		rc = asm_check_kind(doc, err);
	if (rc != CN_OK) {
		json_decref(doc);
		return rc;
	}
	char id[TRC_ASSESSMENT_ID_LEN + 1];
	asm_new_id(id);
	int64_t now = cn_now_ms(), ms;
	json_object_set_new(doc, "assessment_id", json_string(id));
	json_object_set_new(doc, "trace_id", asm_strn(tid));
	/* The client's clock stamps creation, as MLflow's store keeps it;
	 * times are stored in one canonical form. */
	cn_fb_str ct = cn_Assessment_create_time(a), ut = cn_Assessment_last_update_time(a);
	int64_t created = ct.ptr && trc_parse_timestamp(ct.ptr, ct.len, &ms) ? ms : now;
	int64_t updated = ut.ptr && trc_parse_timestamp(ut.ptr, ut.len, &ms) ? ms : created;
	asm_set_time(doc, "create_time", created);
	asm_set_time(doc, "last_update_time", updated);
	json_object_set_new(doc, "valid", json_true());
	if (!json_object_get(doc, "source")) /* MLflow's client default */
		json_object_set_new(
		        doc, "source",
		        json_pack("{s:s,s:s}", "source_type", "CODE", "source_id", "default"));

	const char *over = json_string_value(json_object_get(doc, "overrides"));
	if (over && !*over) {
		json_object_del(doc, "overrides");
		over = NULL;
	}
	pthread_mutex_t *mu = trc_stripe(s, tid.ptr, tid.len);
	pthread_mutex_lock(mu);
	json_t *old = NULL;
	rc = asm_trace_exists(s, tid, err);
	if (rc == CN_OK && over)
		rc = trc_asm_load(s, tid.ptr, tid.len, over, strlen(over), &old, err);
	cn_kv_batch *batch = rc == CN_OK ? cn_kv_batch_new() : NULL;
	if (rc == CN_OK && !batch)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK && old) {
		json_object_set_new(old, "valid", json_false());
		rc = trc_asm_batch_put(batch, old, err);
	}
	if (rc == CN_OK)
		rc = trc_asm_batch_put(batch, doc, err);
	if (rc == CN_OK)
		rc = trc_write(s, batch, err);
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	json_decref(old);
	if (rc == CN_OK)
		rc = asm_answer(doc, b, resp, err);
	json_decref(doc);
	return rc;
}

static cn_code asm_need_ids(cn_fb_str tid, cn_fb_str aid, cn_err *err)
{
	cn_code rc = trc_need_trace_id(tid, "trace_id", err);
	if (rc == CN_OK && (!aid.ptr || !aid.len))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for required parameter 'assessment_id'.");
	return rc;
}

TRC_METHOD(trc_get_assessment)
{
	(void)ctx;
	cn_fb_str tid = cn_GetAssessmentRequest_trace_id(req);
	cn_fb_str aid = cn_GetAssessmentRequest_assessment_id(req);
	json_t *doc = NULL;
	cn_code rc = asm_need_ids(tid, aid, err);
	if (rc == CN_OK)
		rc = trc_asm_load(st, tid.ptr, tid.len, aid.ptr, aid.len, &doc, err);
	if (rc == CN_OK)
		rc = asm_answer(doc, b, resp, err);
	json_decref(doc);
	return rc;
}

/* One update_mask path, snake_case or the camelCase protobuf's JSON
 * mapping writes; NULL for an unknown one. */
static const char *asm_mask_field(const char *p, size_t n)
{
	static const struct {
		const char *snake, *camel;
	} fields[] = {
	        {"assessment_name", "assessmentName"},
	        {"feedback", "feedback"},
	        {"expectation", "expectation"},
	        {"rationale", "rationale"},
	        {"metadata", "metadata"},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if ((strlen(fields[i].snake) == n && !memcmp(fields[i].snake, p, n)) ||
		    (strlen(fields[i].camel) == n && !memcmp(fields[i].camel, p, n)))
			return fields[i].snake;
	return NULL;
}

/* Applies one mask field from the request's document upd to cur. */
static cn_code asm_apply(json_t *cur, json_t *upd, const char *field, cn_err *err)
{
	json_t *v = json_object_get(upd, field);
	if (strcmp(field, "assessment_name") == 0) {
		cn_code rc = asm_check_name(upd, err);
		if (rc == CN_OK)
			json_object_set(cur, field, v);
		return rc;
	}
	if (strcmp(field, "feedback") == 0 || strcmp(field, "expectation") == 0) {
		bool fb = field[0] == 'f';
		if (!json_object_get(cur, field))
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Cannot update the %s of an assessment that is %s.",
			                  field, fb ? "an expectation" : "feedback");
		if (!json_is_object(v))
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "update_mask names '%s' but the assessment has none.",
			                  field);
		cn_code rc = fb ? asm_check_feedback(v, err) : asm_check_expectation(v, err);
		if (rc == CN_OK)
			json_object_set(cur, field, v);
		return rc;
	}
	if (strcmp(field, "rationale") == 0) {
		if (v)
			json_object_set(cur, field, v);
		else
			json_object_del(cur, field);
		return CN_OK;
	}
	/* metadata: entries are merged into the existing ones. */
	json_t *md = json_object_get(cur, "metadata");
	if (!json_is_object(md)) {
		md = json_object();
		json_object_set_new(cur, "metadata", md);
	}
	if (json_is_object(v))
		json_object_update(md, v);
	return CN_OK;
}

static cn_code asm_apply_mask(json_t *cur, json_t *upd, cn_fb_str mask, cn_err *err)
{
	const char *p = mask.ptr ? mask.ptr : "";
	size_t n = mask.ptr ? mask.len : 0, i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != ',')
			j++;
		size_t b = i, e = j;
		while (b < e && p[b] == ' ')
			b++;
		while (e > b && p[e - 1] == ' ')
			e--;
		i = j + 1;
		if (b == e)
			continue;
		const char *field = asm_mask_field(p + b, e - b);
		if (!field)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid update_mask path '%.*s': an assessment's "
			                  "assessment_name, feedback, expectation, rationale and "
			                  "metadata can be updated.",
			                  (int)(e - b), p + b);
		cn_code rc = asm_apply(cur, upd, field, err);
		if (rc != CN_OK)
			return rc;
	}
	return CN_OK;
}

TRC_METHOD(trc_update_assessment)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str tid = cn_UpdateAssessment_trace_id(req);
	cn_fb_str aid = cn_UpdateAssessment_assessment_id(req);
	json_t *upd = NULL, *cur = NULL;
	cn_code rc = asm_need_ids(tid, aid, err);
	if (rc == CN_OK)
		rc = trc_asm_doc_from_table(cn_UpdateAssessment_assessment(req), &upd, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_t *mu = trc_stripe(s, tid.ptr, tid.len);
	pthread_mutex_lock(mu);
	rc = trc_asm_load(s, tid.ptr, tid.len, aid.ptr, aid.len, &cur, err);
	if (rc == CN_OK)
		rc = asm_apply_mask(cur, upd, cn_UpdateAssessment_update_mask(req), err);
	cn_kv_batch *batch = NULL;
	if (rc == CN_OK) {
		asm_set_time(cur, "last_update_time", cn_now_ms());
		batch = cn_kv_batch_new();
		rc = batch ? trc_asm_batch_put(batch, cur, err)
		           : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	if (rc == CN_OK)
		rc = trc_write(s, batch, err);
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	if (rc == CN_OK)
		rc = asm_answer(cur, b, resp, err);
	json_decref(cur);
	json_decref(upd);
	return rc;
}

TRC_METHOD(trc_delete_assessment)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str tid = cn_DeleteAssessmentRequest_trace_id(req);
	cn_fb_str aid = cn_DeleteAssessmentRequest_assessment_id(req);
	cn_code rc = asm_need_ids(tid, aid, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_t *mu = trc_stripe(s, tid.ptr, tid.len);
	pthread_mutex_lock(mu);
	json_t *cur = NULL, *old = NULL;
	cn_kv_batch *batch = NULL;
	rc = trc_asm_load(s, tid.ptr, tid.len, aid.ptr, aid.len, &cur, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		rc = CN_OK; /* already gone: deleting is idempotent, as in MLflow */
	} else if (rc == CN_OK) {
		batch = cn_kv_batch_new();
		if (!batch)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		const char *over = json_string_value(json_object_get(cur, "overrides"));
		if (rc == CN_OK && over && *over) {
			/* The superseded assessment stands again. */
			cn_code orc =
			        trc_asm_load(s, tid.ptr, tid.len, over, strlen(over), &old, err);
			if (orc == CN_OK) {
				json_object_set_new(old, "valid", json_true());
				rc = trc_asm_batch_put(batch, old, err);
			} else if (orc != CN_RESOURCE_DOES_NOT_EXIST) {
				rc = orc;
			}
		}
		if (rc == CN_OK) {
			cn_key k;
			trc_asm_key(&k, tid.ptr, tid.len, aid.ptr, aid.len);
			cn_kv_batch_del(batch, TRC_CF_ASSESSMENTS, k.b, k.len);
			rc = trc_write(s, batch, err);
		}
	}
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	json_decref(cur);
	json_decref(old);
	if (rc == CN_OK) {
		cn_Empty_start(b);
		*resp = cn_Empty_end(b);
	}
	return rc;
}
