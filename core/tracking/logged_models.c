/*
 * core/tracking/logged_models.c: MLflow 3's logged-model calls -- create,
 * get, finalize, delete, set and delete tags, log params -- with the rules
 * and messages of MLflow's handlers and SQL store (create_logged_model and
 * friends). As there: a model starts PENDING with its artifacts under
 * <experiment artifact location>/models/<model_id>/artifacts; delete is
 * soft (lifecycle stage "deleted", then get answers 404 unless
 * allow_deleted=true); finalize, tags and params work on deleted models too.
 * Params are immutable like run params (MLflow's primary key refuses a
 * second row); re-logging the same value is accepted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

static const cn_fb_str trk_deleted = {"deleted", 7};

static cn_fb_ref trk_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

/* MLflow's _validate_logged_model_name. */
static cn_code trk_check_name(cn_fb_str name, cn_err *err)
{
	static const char bad[] = "/:.%\"'";
	for (uint32_t i = 0; i < name.len; i++)
		if (strchr(bad, name.ptr[i]) && name.ptr[i])
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid model name ('%.*s') provided. Model name must be a "
			        "non-empty string and cannot contain the following "
			        "characters: ('/', ':', '.', '%%', '\"', \"'\")",
			        (int)name.len, name.ptr);
	return CN_OK;
}

/* A key/value pair of a request (tag or param): the key is required. */
static cn_code trk_check_kv(cn_fb_str key, cn_fb_str value, cn_err *err)
{
	if (!key.ptr || key.len == 0)
		return trk_missing(err, "key");
	if (!value.ptr)
		return trk_missing(err, "value");
	return CN_OK;
}

static cn_code trk_sub_key(cn_key *k, const uint8_t id[16], cn_fb_str sub, cn_err *err)
{
	cn_key_init(k);
	cn_key_raw(k, id, 16);
	cn_key_str(k, sub.ptr, sub.len);
	if (k->overflow)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "key '%.*s...' is too long",
		                  (int)(sub.len > 64 ? 64 : sub.len), sub.ptr);
	return CN_OK;
}

/* Add params (vector of LoggedModelParameter) to batch, refusing a changed
 * value of a stored key or of an earlier key in the same call. */
static cn_code trk_put_params(trk_state *s, cn_kv_batch *batch, const trk_lm *m, cn_fb_vec pv,
                              bool check_stored, cn_err *err)
{
	for (uint32_t i = 0; i < pv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(pv, i);
		cn_fb_str k = cn_LoggedModelParameter_key(t), v = cn_LoggedModelParameter_value(t);
		cn_code rc = trk_check_kv(k, v, err);
		cn_key key;
		if (rc == CN_OK)
			rc = trk_sub_key(&key, m->id, k, err);
		if (rc != CN_OK)
			return rc;
		cn_fb_str old = {NULL, 0};
		for (uint32_t j = 0; j < i; j++) {
			cn_fb_table o = cn_fb_vec_table(pv, j);
			if (trk_str_is(cn_LoggedModelParameter_key(o), k))
				old = cn_LoggedModelParameter_value(o);
		}
		cn_kv_val ov = {0};
		bool pinned = false;
		if (!old.ptr && check_stored) {
			rc = cn_kv_get(s->db, TRK_CF_LOGGED_MODEL_PARAMS, key.b, key.len, &ov, err);
			if (rc == CN_OK) {
				pinned = true;
				old = (cn_fb_str){(const char *)ov.data, (uint32_t)ov.len};
			} else if (rc != CN_RESOURCE_DOES_NOT_EXIST) {
				return rc;
			}
			rc = CN_OK;
		}
		if (old.ptr && !trk_str_is(old, v))
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Changing param values is not allowed. Param with key='%.*s' "
			        "was already logged with value='%.*s' for logged model "
			        "ID='%s'. Attempted logging new value '%.*s'.",
			        (int)k.len, k.ptr, (int)old.len, old.ptr, m->id_str, (int)v.len,
			        v.ptr);
		if (pinned)
			cn_kv_val_release(&ov);
		if (rc != CN_OK)
			return rc;
		cn_kv_batch_put(batch, TRK_CF_LOGGED_MODEL_PARAMS, key.b, key.len, v.ptr, v.len);
	}
	return CN_OK;
}

static cn_code trk_put_tags(cn_kv_batch *batch, const trk_lm *m, cn_fb_vec tv, cn_err *err)
{
	for (uint32_t i = 0; i < tv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tv, i);
		cn_fb_str k = cn_LoggedModelTag_key(t), v = cn_LoggedModelTag_value(t);
		if (!v.ptr)
			v = (cn_fb_str){"", 0};
		cn_code rc = trk_check_kv(k, v, err);
		cn_key key;
		if (rc == CN_OK)
			rc = trk_sub_key(&key, m->id, k, err);
		if (rc != CN_OK)
			return rc;
		cn_kv_batch_put(batch, TRK_CF_LOGGED_MODEL_TAGS, key.b, key.len, v.ptr, v.len);
	}
	return CN_OK;
}

/* Reply {"model": LoggedModel}: which is 0 create, 1 get, 2 finalize. */
static cn_code trk_reply_model(trk_state *s, const uint8_t id[16], cn_fb_builder *b, int which,
                               cn_fb_ref *resp, cn_err *err)
{
	trk_lm m;
	cn_code rc = trk_lm_load(s, id, true, &m, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref model = trk_lm_build(b, &m);
	trk_lm_free(&m);
	if (which == 0) {
		cn_CreateLoggedModelResponse_start(b);
		cn_CreateLoggedModelResponse_add_model(b, model);
		*resp = cn_CreateLoggedModelResponse_end(b);
	} else if (which == 1) {
		cn_GetLoggedModelResponse_start(b);
		cn_GetLoggedModelResponse_add_model(b, model);
		*resp = cn_GetLoggedModelResponse_end(b);
	} else {
		cn_FinalizeLoggedModelResponse_start(b);
		cn_FinalizeLoggedModelResponse_add_model(b, model);
		*resp = cn_FinalizeLoggedModelResponse_end(b);
	}
	return CN_OK;
}

cn_code trk_create_logged_model(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	cn_fb_str sid = cn_CreateLoggedModel_experiment_id(req);
	if (!sid.ptr)
		return trk_missing(err, "experiment_id");
	cn_fb_str name = cn_CreateLoggedModel_name(req);
	cn_code rc = name.len ? trk_check_name(name, err) : CN_OK;
	if (rc != CN_OK)
		return rc;
	uint64_t eid;
	if (!trk_parse_experiment_id(sid.ptr, sid.len, &eid))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%.*s exists", (int)sid.len, sid.ptr);
	cn_kv_val ev;
	trk_experiment e;
	rc = trk_experiment_load(s, eid, &ev, &e, err);
	if (rc != CN_OK)
		return rc;
	if (!trk_str_is(e.lifecycle_stage, trk_active_stage))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "The experiment %" PRIu64 " must be in the 'active' state. Current "
		                "state is %.*s.",
		                eid, (int)e.lifecycle_stage.len, e.lifecycle_stage.ptr);
	char gen[64], hex[33], expbuf[24];
	trk_lm m;
	memset(&m, 0, sizeof m);
	cn_id_hex32(hex);
	memcpy(m.id_str, "m-", 2);
	memcpy(m.id_str + 2, hex, 33);
	if (!trk_lm_parse_id((cn_fb_str){m.id_str, 34}, m.id) && rc == CN_OK)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "bad generated model id");
	size_t al = e.artifact_location.len;
	bool slash = al && e.artifact_location.ptr[al - 1] == '/';
	char *uri = malloc(al + 64);
	if (!uri && rc == CN_OK)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	int ulen = uri ? snprintf(uri, al + 64, "%.*s%smodels/%s/artifacts", (int)al,
	                          e.artifact_location.ptr ? e.artifact_location.ptr : "",
	                          slash ? "" : "/", m.id_str)
	               : 0;
	trk_experiment_view_free(&e);
	cn_kv_val_release(&ev);
	if (!name.len) {
		int n = trk_gen_run_name(gen, sizeof gen);
		name = (cn_fb_str){gen, (uint32_t)n};
	}
	int elen = snprintf(expbuf, sizeof expbuf, "%" PRIu64, eid);
	m.experiment_id = (cn_fb_str){expbuf, (uint32_t)elen};
	m.name = name;
	m.artifact_uri = (cn_fb_str){uri, (uint32_t)ulen};
	m.model_type = cn_CreateLoggedModel_model_type(req);
	m.source_run_id = cn_CreateLoggedModel_source_run_id(req);
	m.lifecycle_stage = trk_active_stage;
	m.creation = m.last_updated = cn_now_ms();
	m.status = CN_LoggedModelStatus_LOGGED_MODEL_PENDING;
	cn_kv_batch *batch = rc == CN_OK ? cn_kv_batch_new() : NULL;
	if (rc == CN_OK && !batch)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		rc = trk_put_params(s, batch, &m, cn_CreateLoggedModel_params(req), false, err);
	if (rc == CN_OK)
		rc = trk_put_tags(batch, &m, cn_CreateLoggedModel_tags(req), err);
	if (rc == CN_OK)
		rc = trk_lm_put(batch, &m, eid, true, err);
	if (rc == CN_OK)
		rc = cn_kv_write(s->db, batch, err);
	cn_kv_batch_free(batch);
	free(uri);
	if (rc == CN_OK)
		rc = trk_reply_model(s, m.id, b, 0, resp, err);
	return rc;
}

/* The model a request names by its path parameter; 404 when malformed. */
static cn_code trk_resolve(cn_fb_str id, uint8_t out[16], cn_err *err)
{
	if (!id.ptr || id.len == 0)
		return trk_missing(err, "model_id");
	if (!trk_lm_parse_id(id, out))
		return trk_lm_not_found(err, id);
	return CN_OK;
}

cn_code trk_get_logged_model(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                             cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	uint8_t id[16];
	cn_fb_str sid = cn_GetLoggedModel_model_id(req);
	cn_code rc = trk_resolve(sid, id, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_str ad = cn_GetLoggedModel_allow_deleted(req);
	bool allow = ad.len == 4 && strncasecmp(ad.ptr, "true", 4) == 0;
	trk_lm m;
	rc = trk_lm_load(s, id, false, &m, err);
	if (rc != CN_OK)
		return rc;
	bool deleted = trk_str_is(m.lifecycle_stage, trk_deleted);
	trk_lm_free(&m);
	if (deleted && !allow)
		return trk_lm_not_found(err, sid);
	return trk_reply_model(s, id, b, 1, resp, err);
}

/* Load under the model's lock, apply edit, store; the caller replies. */
typedef cn_code (*trk_lm_edit)(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                               cn_err *err);

static cn_code trk_modify(trk_state *s, cn_fb_str sid, trk_lm_edit edit, cn_fb_table req,
                          uint8_t id[16], cn_err *err)
{
	cn_code rc = trk_resolve(sid, id, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_t *mu = trk_lm_stripe(s, id);
	pthread_mutex_lock(mu);
	trk_lm m;
	rc = trk_lm_load(s, id, false, &m, err);
	if (rc == CN_OK) {
		rc = edit(s, &m, batch, req, err);
		if (rc == CN_OK)
			rc = cn_kv_write(s->db, batch, err);
		trk_lm_free(&m);
	}
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	return rc;
}

static cn_code trk_edit_finalize(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                                 cn_err *err)
{
	(void)s;
	m->status = cn_FinalizeLoggedModel_status(req);
	m->last_updated = cn_now_ms();
	return trk_lm_put(batch, m, 0, false, err);
}

cn_code trk_finalize_logged_model(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                  cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	if (!cn_FinalizeLoggedModel_has_status(req))
		return trk_missing(err, "status");
	int32_t status = cn_FinalizeLoggedModel_status(req);
	if (status == CN_LoggedModelStatus_LOGGED_MODEL_STATUS_UNSPECIFIED)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value LOGGED_MODEL_STATUS_UNSPECIFIED for parameter "
		                  "'status' supplied. It must be one of LOGGED_MODEL_READY, "
		                  "LOGGED_MODEL_UPLOAD_FAILED.");
	uint8_t id[16];
	cn_code rc = trk_modify(st, cn_FinalizeLoggedModel_model_id(req), trk_edit_finalize, req,
	                        id, err);
	if (rc == CN_OK)
		rc = trk_reply_model(st, id, b, 2, resp, err);
	return rc;
}

static cn_code trk_edit_delete(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                               cn_err *err)
{
	(void)s;
	(void)req;
	m->lifecycle_stage = trk_deleted;
	m->last_updated = cn_now_ms();
	return trk_lm_put(batch, m, 0, false, err);
}

cn_code trk_delete_logged_model(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                                cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	uint8_t id[16];
	cn_code rc =
	        trk_modify(st, cn_DeleteLoggedModel_model_id(req), trk_edit_delete, req, id, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_edit_tags(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                             cn_err *err)
{
	(void)s;
	return trk_put_tags(batch, m, cn_SetLoggedModelTags_tags(req), err);
}

cn_code trk_set_logged_model_tags(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                  cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	uint8_t id[16];
	cn_code rc =
	        trk_modify(st, cn_SetLoggedModelTags_model_id(req), trk_edit_tags, req, id, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_edit_delete_tag(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                                   cn_err *err)
{
	cn_fb_str k = cn_DeleteLoggedModelTag_tag_key(req);
	cn_key key;
	cn_code rc = trk_sub_key(&key, m->id, k, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_val v;
	rc = cn_kv_get(s->db, TRK_CF_LOGGED_MODEL_TAGS, key.b, key.len, &v, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "No tag with key '%.*s' found for model with ID '%s'.",
		                  (int)k.len, k.ptr, m->id_str);
	if (rc != CN_OK)
		return rc;
	cn_kv_val_release(&v);
	cn_kv_batch_del(batch, TRK_CF_LOGGED_MODEL_TAGS, key.b, key.len);
	return CN_OK;
}

cn_code trk_delete_logged_model_tag(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                    cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	cn_fb_str k = cn_DeleteLoggedModelTag_tag_key(req);
	if (!k.ptr || k.len == 0)
		return trk_missing(err, "tag_key");
	uint8_t id[16];
	cn_code rc = trk_modify(st, cn_DeleteLoggedModelTag_model_id(req), trk_edit_delete_tag, req,
	                        id, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_edit_params(trk_state *s, trk_lm *m, cn_kv_batch *batch, cn_fb_table req,
                               cn_err *err)
{
	return trk_put_params(s, batch, m, cn_LogLoggedModelParamsRequest_params(req), true, err);
}

cn_code trk_log_logged_model_params(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                    cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	uint8_t id[16];
	cn_code rc = trk_modify(st, cn_LogLoggedModelParamsRequest_model_id(req), trk_edit_params,
	                        req, id, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}
