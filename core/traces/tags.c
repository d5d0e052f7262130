/*
 * core/traces/tags.c: trace tags (SetTraceTagV3, DeleteTraceTagV3 and the
 * 2.0 pair) and LinkTracesToRun. A tag change rewrites the record and moves
 * its tag index entries in one batch, under the trace's lock stripe.
 */
#include <string.h>

#include "core/traces/traces_api.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_TAG_KEY_MAX   250
#define TRC_TAG_VALUE_MAX 8000
#define TRC_LINK_MAX      100

static cn_code trc_tag_edit(trc_state *s, cn_fb_str id, const char *id_param, cn_fb_str key,
                            cn_fb_str value, bool del, cn_err *err)
{
	if (!key.ptr || key.len == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'key'. See the API docs for "
		        "more information about request parameters.");
	if (key.len > TRC_TAG_KEY_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Tag key '%.100s...' exceeds the maximum length of %d", key.ptr,
		                  TRC_TAG_KEY_MAX);
	if (!del && value.len > TRC_TAG_VALUE_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Tag value exceeds the maximum length of %d", TRC_TAG_VALUE_MAX);
	cn_code rc = trc_need_trace_id(id, id_param, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_builder *fb = cn_fb_builder_new(1024);
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!fb || !batch) {
		cn_fb_builder_free(fb);
		cn_kv_batch_free(batch);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	pthread_mutex_t *mu = trc_stripe(s, id.ptr, id.len);
	pthread_mutex_lock(mu);
	trc_info old;
	rc = trc_load(s, id, id_param, &old, err);
	if (rc == CN_OK) {
		trc_rec r;
		trc_rec_from_fb(&r, old.t);
		bool changed = true;
		if (del) {
			if (!trc_pairs_del(&r.tags, key.ptr, key.len)) {
				rc = cn_err_set(
				        err, CN_RESOURCE_DOES_NOT_EXIST,
				        "No trace tag with key '%.*s' for trace with ID '%.*s'",
				        (int)(key.len > 250 ? 250 : key.len), key.ptr, (int)id.len,
				        id.ptr);
				changed = false;
			}
		} else {
			trc_pairs_set(&r.tags, key.ptr, key.len, value.ptr ? value.ptr : "",
			              value.len);
		}
		const uint8_t *buf;
		size_t len;
		if (changed && rc == CN_OK) {
			if (!trc_rec_encode(&r, fb, &buf, &len)) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			} else {
				trc_index_record(batch, old.t, true);
				cn_key k;
				trc_key_info(&k, id.ptr, id.len);
				cn_kv_batch_put(batch, TRC_CF_INFO, k.b, k.len, buf, len);
				trc_index_record(batch, cn_fb_root(buf), false);
				rc = trc_write(s, batch, err);
			}
		}
		trc_rec_free(&r);
		trc_info_release(&old);
	}
	pthread_mutex_unlock(mu);
	cn_fb_builder_free(fb);
	cn_kv_batch_free(batch);
	return rc;
}

static cn_fb_ref trc_empty(cn_fb_builder *b)
{
	cn_fb_table_start(b);
	return cn_fb_table_end(b);
}

TRC_METHOD(trc_set_trace_tag_v3)
{
	(void)ctx;
	cn_code rc =
	        trc_tag_edit(st, cn_SetTraceTagV3_trace_id(req), "trace_id",
	                     cn_SetTraceTagV3_key(req), cn_SetTraceTagV3_value(req), false, err);
	if (rc == CN_OK)
		*resp = trc_empty(b);
	return rc;
}

TRC_METHOD(trc_delete_trace_tag_v3)
{
	(void)ctx;
	cn_code rc = trc_tag_edit(st, cn_DeleteTraceTagV3_trace_id(req), "trace_id",
	                          cn_DeleteTraceTagV3_key(req), (cn_fb_str){0}, true, err);
	if (rc == CN_OK)
		*resp = trc_empty(b);
	return rc;
}

TRC_METHOD(trc_set_trace_tag_v2)
{
	(void)ctx;
	cn_code rc = trc_tag_edit(st, cn_SetTraceTag_request_id(req), "request_id",
	                          cn_SetTraceTag_key(req), cn_SetTraceTag_value(req), false, err);
	if (rc == CN_OK)
		*resp = trc_empty(b);
	return rc;
}

TRC_METHOD(trc_delete_trace_tag_v2)
{
	(void)ctx;
	cn_code rc = trc_tag_edit(st, cn_DeleteTraceTag_request_id(req), "request_id",
	                          cn_DeleteTraceTag_key(req), (cn_fb_str){0}, true, err);
	if (rc == CN_OK)
		*resp = trc_empty(b);
	return rc;
}

TRC_METHOD(trc_link_traces_to_run)
{
	(void)ctx;
	trc_state *s = st;
	cn_fb_str run = cn_LinkTracesToRun_run_id(req);
	cn_fb_vec ids = cn_LinkTracesToRun_trace_ids(req);
	if (!run.ptr || run.len == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'run_id'. See the API docs for "
		        "more information about request parameters.");
	if (run.len > 256)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid run_id '%.64s...'",
		                  run.ptr);
	if (ids.n > TRC_LINK_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Cannot link more than %d traces to a run in a single request. "
		                  "Provided %u traces.",
		                  TRC_LINK_MAX, ids.n);
	/* Every trace must exist before anything is linked. */
	for (uint32_t i = 0; i < ids.n; i++) {
		cn_fb_str id = cn_fb_vec_str(ids, i);
		trc_info info;
		cn_code rc = trc_info_get(s, id.ptr, id.len, &info, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST)
			return trc_not_found(id, err);
		if (rc != CN_OK)
			return rc;
		trc_info_release(&info);
	}
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (uint32_t i = 0; i < ids.n; i++) {
		cn_fb_str id = cn_fb_vec_str(ids, i);
		cn_key k;
		cn_key_init(&k);
		cn_key_u8(&k, 'r');
		cn_key_str(&k, run.ptr, run.len);
		cn_key_raw(&k, id.ptr, id.len);
		cn_kv_batch_put(batch, TRC_CF_RUN_LINKS, k.b, k.len, "", 0);
		cn_key_init(&k);
		cn_key_u8(&k, 't');
		cn_key_str(&k, id.ptr, id.len);
		cn_key_raw(&k, run.ptr, run.len);
		cn_kv_batch_put(batch, TRC_CF_RUN_LINKS, k.b, k.len, "", 0);
	}
	cn_code rc = trc_write(s, batch, err);
	cn_kv_batch_free(batch);
	if (rc == CN_OK)
		*resp = trc_empty(b);
	return rc;
}
