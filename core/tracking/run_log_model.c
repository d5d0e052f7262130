/*
 * core/tracking/run_log_model.c: MLflow's runs/log-model. The handler's
 * checks (model_json must parse as a JSON object holding artifact_path,
 * flavors, utc_time_created and run_id), then, under the run's stripe lock,
 * the run must be active and the model object is appended to the JSON list
 * in the run tag mlflow.log-model.history, written in one synced batch. The
 * new tag value obeys the run tag value length limit, as MLflow's store
 * validates it as a tag.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_MAX_LOG_MODEL_TAG_VALUE 8000
#define TRK_LOG_MODEL_TAG           "mlflow.log-model.history"

static const cn_fb_str trk_log_model_tag = {TRK_LOG_MODEL_TAG, sizeof TRK_LOG_MODEL_TAG - 1};

/* The fields MLflow's handler requires, in the order the message lists them. */
static const char *const trk_model_fields[] = {"artifact_path", "flavors", "utc_time_created",
                                               "run_id"};

static cn_code trk_model_check(const json_t *model, cn_err *err)
{
	char missing[128];
	size_t n = 0;
	missing[0] = 0;
	for (size_t i = 0; i < sizeof trk_model_fields / sizeof trk_model_fields[0]; i++) {
		if (json_object_get(model, trk_model_fields[i]))
			continue;
		int w = snprintf(missing + n, sizeof missing - n, "%s'%s'", n ? ", " : "",
		                 trk_model_fields[i]);
		if (w > 0)
			n += (size_t)w;
	}
	if (n)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Model json is missing mandatory fields: {%s}", missing);
	if (!json_is_object(json_object_get(model, "flavors")))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Model json field 'flavors' must be a JSON object");
	return CN_OK;
}

typedef struct trk_model_arg {
	trk_state *s;
	const json_t *model;
} trk_model_arg;

/* Under the run stripe: read the history tag, append, validate, stage the put. */
static cn_code trk_model_append(const trk_model_arg *a, const trk_run *r, cn_kv_batch *batch,
                                cn_err *err)
{
	cn_key k;
	trk_run_sub_key(&k, r->id, trk_log_model_tag);
	cn_kv_val v;
	json_t *list = NULL;
	cn_code rc = cn_kv_get(a->s->db, TRK_CF_RUN_TAGS, k.b, k.len, &v, err);
	if (rc == CN_OK) {
		list = json_loadb((const char *)v.data, v.len, 0, NULL);
		cn_kv_val_release(&v);
		if (!json_is_array(list)) {
			json_decref(list);
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Tag '%s' of run %s does not hold a JSON list",
			                  TRK_LOG_MODEL_TAG, r->hex);
		}
	} else if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		list = json_array();
	} else {
		return rc;
	}
	if (!list || json_array_append(list, (json_t *)a->model) != 0) {
		json_decref(list);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	/* Python's json.dumps defaults: ", " and ": " separators, ASCII only. */
	char *text = json_dumps(list, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(list);
	if (!text)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t len = strlen(text);
	rc = trk_validate_length((cn_fb_str){text, (uint32_t)len}, "Tag value",
	                         TRK_MAX_LOG_MODEL_TAG_VALUE, err);
	if (rc == CN_OK)
		cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, k.b, k.len, text, len);
	free(text);
	return rc;
}

cn_code trk_log_model(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                      cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	(void)ctx;
	cn_fb_str run_id = cn_LogModel_run_id(req), mj = cn_LogModel_model_json(req);
	if (!run_id.ptr || run_id.len == 0)
		return trk_missing(err, "run_id");
	if (!mj.ptr || mj.len == 0)
		return trk_missing(err, "model_json");
	json_t *model = json_loadb(mj.ptr, mj.len, 0, NULL);
	if (!json_is_object(model)) {
		json_decref(model);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Malformed model info. \n %.*s \n is not a valid JSON.",
		                  (int)mj.len, mj.ptr);
	}
	cn_code rc = trk_model_check(model, err);
	uint8_t id[16];
	char hex[33];
	if (rc == CN_OK)
		rc = trk_run_resolve(run_id, (cn_fb_str){NULL, 0}, id, hex, err);
	if (rc != CN_OK) {
		json_decref(model);
		return rc;
	}
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch) {
		json_decref(model);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	trk_model_arg a = {s, model};
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	cn_kv_val val;
	trk_run r;
	rc = trk_run_load(s, id, &val, &r, err);
	if (rc == CN_OK) {
		rc = trk_run_require_active(&r, err);
		if (rc == CN_OK)
			rc = trk_model_append(&a, &r, batch, err);
		if (rc == CN_OK)
			rc = cn_kv_write(s->db, batch, err);
		if (rc == CN_OK)
			trk_search_cache_run_changed(s, id);
		cn_kv_val_release(&val);
	}
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	json_decref(model);
	if (rc == CN_OK) {
		cn_Empty_start(b);
		*resp = cn_Empty_end(b);
	}
	return rc;
}
