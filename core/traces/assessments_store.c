/*
 * core/traces/assessments_store.c: assessments in the trace_assessments
 * column family (layout in assessments.h): keys, one assessment as a JSON
 * document for the handlers, a trace's assessments copied into a
 * TraceInfoV3 being built, and loaded for the search filter.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/traces/assessments.h"
#include "core/traces/assessments_int.h"
#include "schemas/cairn_schema.h"

void trc_asm_key(cn_key *k, const char *trace_id, size_t tlen, const char *asm_id, size_t alen)
{
	cn_key_init(k);
	cn_key_str(k, trace_id, tlen);
	if (asm_id)
		cn_key_raw(k, asm_id, alen);
}

/* A stored value is trusted only after the verifier agrees. */
static cn_code asm_verify(const uint8_t *p, size_t n, cn_err *err)
{
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_Assessment, p, n, err) != CN_OK)
		return cn_err_set(err, CN_DATA_LOSS, "stored assessment is corrupt: %s", err->msg);
	return CN_OK;
}

cn_code trc_asm_doc_from_table(cn_fb_table t, json_t **out, cn_err *err)
{
	cn_buf js = CN_BUF_INIT;
	cn_code rc = cn_json_encode(&cn_schema_cairn, CN_TABLE_Assessment, t, &js);
	if (rc != CN_OK || cn_buf_failed(&js)) {
		cn_buf_free(&js);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	*out = json_loadb(js.p ? js.p : "{}", js.p ? js.len : 2, JSON_ALLOW_NUL, NULL);
	cn_buf_free(&js);
	return *out ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "assessment unreadable");
}

cn_code trc_asm_load(trc_state *s, const char *trace_id, size_t tlen, const char *asm_id,
                     size_t alen, json_t **out, cn_err *err)
{
	cn_key k;
	trc_asm_key(&k, trace_id, tlen, asm_id, alen);
	cn_kv_val v;
	cn_code rc = cn_kv_get(s->db, TRC_CF_ASSESSMENTS, k.b, k.len, &v, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "Assessment with ID '%.*s' not found for trace '%.*s'",
		                  (int)alen, asm_id, (int)tlen, trace_id);
	if (rc != CN_OK)
		return rc;
	rc = asm_verify(v.data, v.len, err);
	if (rc == CN_OK)
		rc = trc_asm_doc_from_table(cn_fb_root(v.data), out, err);
	cn_kv_val_release(&v);
	return rc;
}

cn_code trc_asm_batch_put(cn_kv_batch *batch, json_t *doc, cn_err *err)
{
	const char *tid = json_string_value(json_object_get(doc, "trace_id"));
	const char *aid = json_string_value(json_object_get(doc, "assessment_id"));
	char *js = json_dumps(doc, JSON_COMPACT);
	cn_fb_builder *b = cn_fb_builder_new(1024);
	cn_code rc = CN_OK;
	if (!tid || !aid)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "assessment without ids");
	else if (!js || !b)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref root = 0;
	if (rc == CN_OK)
		rc = cn_json_decode(&cn_schema_cairn, CN_TABLE_Assessment, js, strlen(js), NULL, 0,
		                    b, &root, err);
	const uint8_t *p;
	size_t n;
	if (rc == CN_OK && !cn_fb_finish(b, root, &p, &n))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		cn_key k;
		trc_asm_key(&k, tid, strlen(tid), aid, strlen(aid));
		cn_kv_batch_put(batch, TRC_CF_ASSESSMENTS, k.b, k.len, p, n);
	}
	free(js);
	cn_fb_builder_free(b);
	return rc;
}

/* ---- into a TraceInfoV3 being built ---------------------------------------- */

static cn_fb_ref asm_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

static cn_fb_ref asm_copy_error(cn_fb_builder *b, cn_fb_table e)
{
	if (!e.buf)
		return 0;
	cn_fb_ref code = asm_str(b, cn_AssessmentError_error_code(e));
	cn_fb_ref msg = asm_str(b, cn_AssessmentError_error_message(e));
	cn_fb_ref st = asm_str(b, cn_AssessmentError_stack_trace(e));
	cn_AssessmentError_start(b);
	cn_AssessmentError_add_error_code(b, code);
	cn_AssessmentError_add_error_message(b, msg);
	cn_AssessmentError_add_stack_trace(b, st);
	return cn_AssessmentError_end(b);
}

static cn_fb_ref asm_copy_source(cn_fb_builder *b, cn_fb_table src)
{
	if (!src.buf)
		return 0;
	cn_fb_ref id = asm_str(b, cn_AssessmentSource_source_id(src));
	cn_AssessmentSource_start(b);
	if (cn_AssessmentSource_has_source_type(src))
		cn_AssessmentSource_add_source_type(b, cn_AssessmentSource_source_type(src));
	cn_AssessmentSource_add_source_id(b, id);
	return cn_AssessmentSource_end(b);
}

static cn_fb_ref asm_copy_feedback(cn_fb_builder *b, cn_fb_table f)
{
	if (!f.buf)
		return 0;
	cn_fb_ref val = asm_str(b, cn_Feedback_value(f));
	cn_fb_ref er = asm_copy_error(b, cn_Feedback_error(f));
	cn_Feedback_start(b);
	cn_Feedback_add_value(b, val);
	cn_Feedback_add_error(b, er);
	return cn_Feedback_end(b);
}

static cn_fb_ref asm_copy_expectation(cn_fb_builder *b, cn_fb_table x)
{
	if (!x.buf)
		return 0;
	cn_fb_ref val = asm_str(b, cn_Expectation_value(x));
	cn_fb_ref ser = 0;
	cn_fb_table sv = cn_Expectation_serialized_value(x);
	if (sv.buf) {
		cn_fb_ref fmt = asm_str(b, cn_ExpectationSerializedValue_serialization_format(sv));
		cn_fb_ref v = asm_str(b, cn_ExpectationSerializedValue_value(sv));
		cn_ExpectationSerializedValue_start(b);
		cn_ExpectationSerializedValue_add_serialization_format(b, fmt);
		cn_ExpectationSerializedValue_add_value(b, v);
		ser = cn_ExpectationSerializedValue_end(b);
	}
	cn_Expectation_start(b);
	cn_Expectation_add_value(b, val);
	cn_Expectation_add_serialized_value(b, ser);
	return cn_Expectation_end(b);
}

static cn_fb_ref asm_copy_metadata(cn_fb_builder *b, cn_fb_vec v)
{
	if (!v.buf || !v.n)
		return 0;
	cn_fb_ref *refs = malloc(v.n * sizeof *refs);
	if (!refs)
		return 0; /* the metadata is dropped rather than the answer failing */
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_ref k = asm_str(b, cn_AssessmentMetadataEntry_key(e));
		cn_fb_ref val = asm_str(b, cn_AssessmentMetadataEntry_value(e));
		cn_AssessmentMetadataEntry_start(b);
		cn_AssessmentMetadataEntry_add_key(b, k);
		cn_AssessmentMetadataEntry_add_value(b, val);
		refs[i] = cn_AssessmentMetadataEntry_end(b);
	}
	cn_fb_ref r = cn_fb_create_vec_refs(b, refs, v.n);
	free(refs);
	return r;
}

static cn_fb_ref asm_copy(cn_fb_builder *b, cn_fb_table a)
{
	cn_fb_ref id = asm_str(b, cn_Assessment_assessment_id(a));
	cn_fb_ref name = asm_str(b, cn_Assessment_assessment_name(a));
	cn_fb_ref tid = asm_str(b, cn_Assessment_trace_id(a));
	cn_fb_ref sid = asm_str(b, cn_Assessment_span_id(a));
	cn_fb_ref src = asm_copy_source(b, cn_Assessment_source(a));
	cn_fb_ref ct = asm_str(b, cn_Assessment_create_time(a));
	cn_fb_ref ut = asm_str(b, cn_Assessment_last_update_time(a));
	cn_fb_ref fb = asm_copy_feedback(b, cn_Assessment_feedback(a));
	cn_fb_ref ex = asm_copy_expectation(b, cn_Assessment_expectation(a));
	cn_fb_ref rat = asm_str(b, cn_Assessment_rationale(a));
	cn_fb_ref er = asm_copy_error(b, cn_Assessment_error(a));
	cn_fb_ref md = asm_copy_metadata(b, cn_Assessment_metadata(a));
	cn_fb_ref ov = asm_str(b, cn_Assessment_overrides(a));
	cn_Assessment_start(b);
	cn_Assessment_add_assessment_id(b, id);
	cn_Assessment_add_assessment_name(b, name);
	cn_Assessment_add_trace_id(b, tid);
	cn_Assessment_add_span_id(b, sid);
	cn_Assessment_add_source(b, src);
	cn_Assessment_add_create_time(b, ct);
	cn_Assessment_add_last_update_time(b, ut);
	cn_Assessment_add_feedback(b, fb);
	cn_Assessment_add_expectation(b, ex);
	cn_Assessment_add_rationale(b, rat);
	cn_Assessment_add_error(b, er);
	cn_Assessment_add_metadata(b, md);
	cn_Assessment_add_overrides(b, ov);
	cn_Assessment_add_valid(b, cn_Assessment_has_valid(a) ? cn_Assessment_valid(a) : true);
	return cn_Assessment_end(b);
}

cn_code trc_assessments_build(trc_state *s, const char *trace_id, size_t len, cn_fb_builder *b,
                              cn_fb_ref *vec, cn_err *err)
{
	*vec = 0;
	trc_asm_list l;
	cn_code rc = trc_asm_list_load(s, trace_id, len, &l, err);
	if (rc != CN_OK || !l.n) {
		trc_asm_list_free(&l);
		return rc;
	}
	cn_fb_ref *refs = malloc(l.n * sizeof *refs);
	if (!refs) {
		trc_asm_list_free(&l);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	for (size_t i = 0; i < l.n; i++)
		refs[i] = asm_copy(b, cn_fb_root(l.bufs[i]));
	*vec = cn_fb_create_vec_refs(b, refs, l.n);
	free(refs);
	trc_asm_list_free(&l);
	return cn_fb_builder_failed(b) ? cn_err_set(err, CN_INTERNAL_ERROR, "out of memory")
	                               : CN_OK;
}

/* ---- for the search filter ---------------------------------------------- */

cn_code trc_asm_list_load(trc_state *s, const char *trace_id, size_t len, trc_asm_list *out,
                          cn_err *err)
{
	memset(out, 0, sizeof *out);
	cn_key prefix;
	trc_asm_key(&prefix, trace_id, len, NULL, 0);
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRC_CF_ASSESSMENTS, prefix.b, prefix.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vlen;
		const uint8_t *val = cn_kv_iter_value(it, &vlen);
		rc = asm_verify(val, vlen, err);
		if (rc != CN_OK)
			break;
		if (out->n == out->cap) {
			size_t ncap = out->cap ? out->cap * 2 : 4;
			uint8_t **nb = realloc(out->bufs, ncap * sizeof *nb);
			if (!nb) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			out->bufs = nb;
			out->cap = ncap;
		}
		uint8_t *copy = malloc(vlen);
		if (!copy) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		memcpy(copy, val, vlen);
		out->bufs[out->n++] = copy;
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

bool trc_asm_list_view(const trc_asm_list *l, size_t i, cn_search_trace_assessment *out)
{
	if (i >= l->n)
		return false;
	cn_fb_table a = cn_fb_root(l->bufs[i]);
	cn_fb_str name = cn_Assessment_assessment_name(a);
	cn_fb_table f = cn_Assessment_feedback(a), x = cn_Assessment_expectation(a);
	cn_fb_str v = f.buf   ? cn_Feedback_value(f)
	              : x.buf ? cn_Expectation_value(x)
	                      : (cn_fb_str){0};
	if (!v.ptr && x.buf) /* a serialized expectation compares as its text */
		v = cn_ExpectationSerializedValue_value(cn_Expectation_serialized_value(x));
	*out = (cn_search_trace_assessment){
	        .name = name.ptr ? name.ptr : "",
	        .name_len = name.ptr ? name.len : 0,
	        .expectation = !f.buf && x.buf,
	        .valid = !cn_Assessment_has_valid(a) || cn_Assessment_valid(a),
	        .value_json = v.ptr,
	        .value_len = v.ptr ? v.len : 0,
	};
	return true;
}

void trc_asm_list_free(trc_asm_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->bufs[i]);
	free(l->bufs);
	memset(l, 0, sizeof *l);
}
