/*
 * core/registry/versions.c: model versions -- create (numbers from the
 * model's counter, in the same batch), get, update, delete, tags, stage
 * transitions, download URIs. Messages and codes follow MLflow's SQL model
 * registry store and handlers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

static const char *const reg_stages[] = {"None", "Staging", "Production", "Archived"};

cn_code reg_canonical_stage(cn_fb_str stage, const char **out, cn_err *err)
{
	for (size_t i = 0; stage.ptr && i < 4; i++)
		if (strlen(reg_stages[i]) == stage.len &&
		    strncasecmp(reg_stages[i], stage.ptr, stage.len) == 0) {
			*out = reg_stages[i];
			return CN_OK;
		}
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid Model Version stage: %.*s. Value must be one of None, Staging, "
	                  "Production, Archived.",
	                  stage.ptr ? (int)stage.len : 0, stage.ptr ? stage.ptr : "");
}

static bool reg_tag_is_true(cn_fb_vec tags, const char *key)
{
	for (uint32_t i = 0; i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		if (cn_fb_str_eq(cn_ModelVersionTag_key(t), key) &&
		    cn_fb_str_eq(cn_ModelVersionTag_value(t), "true"))
			return true;
	}
	return false;
}

static cn_code reg_answer_version(reg_state *s, json_t *model, json_t *v, cn_fb_builder *b,
                                  cn_fb_ref *resp, cn_err *err)
{
	json_t *m = model;
	cn_code rc = CN_OK;
	if (!m) {
		const char *name = json_string_value(json_object_get(v, "name"));
		rc = reg_model_load(s, name, strlen(name), &m, err);
	}
	if (rc == CN_OK) {
		reg_version_aliases(m, v);
		json_t *doc = json_pack("{s:O}", "model_version", v);
		rc = reg_answer(b, CN_TABLE_ModelVersionResponse, doc, resp, err);
		json_decref(doc);
	}
	if (!model)
		json_decref(m);
	return rc;
}

static void reg_set_opt(json_t *v, const char *field, cn_fb_str s)
{
	if (s.ptr && s.len)
		json_object_set_new(v, field, reg_strn(s));
}

/* CreateModelVersion; prompt_max > 0 lets the prompt text tag reach that
 * many bytes (the prompts service's bus-only call) instead of MLflow's
 * 100000 characters. */
static cn_code reg_create_version_as(reg_state *s, const cn_call_ctx *ctx, cn_fb_table req,
                                     size_t prompt_max, cn_fb_builder *b, cn_fb_ref *resp,
                                     cn_err *err)
{
	cn_fb_str name = cn_CreateModelVersion_name(req);
	cn_fb_str src = cn_CreateModelVersion_source(req);
	cn_fb_vec tags = cn_CreateModelVersion_tags(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_need(src, "source", err);
	int64_t now = cn_now_ms();
	json_t *v =
	        json_pack("{s:o,s:I,s:I,s:s,s:o,s:s}", "name", reg_strn(name), "creation_timestamp",
	                  (json_int_t)now, "last_updated_timestamp", (json_int_t)now,
	                  "current_stage", "None", "source", reg_strn(src), "status", "READY");
	reg_set_opt(v, "run_id", cn_CreateModelVersion_run_id(req));
	reg_set_opt(v, "run_link", cn_CreateModelVersion_run_link(req));
	reg_set_opt(v, "model_id", cn_CreateModelVersion_model_id(req));
	cn_fb_str desc = cn_CreateModelVersion_description(req);
	if (desc.ptr)
		json_object_set_new(v, "description", reg_strn(desc));
	for (uint32_t i = 0; rc == CN_OK && i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		cn_fb_str k = cn_ModelVersionTag_key(t), val = cn_ModelVersionTag_value(t);
		if (prompt_max && cn_fb_str_eq(k, REG_PROMPT_TEXT_TAG) && val.ptr)
			rc = val.len > prompt_max
			             ? cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                          "Prompt text exceeds max length of %zu bytes.",
			                          prompt_max)
			             : CN_OK;
		else
			rc = reg_validate_tag(k, val, true, err);
		if (rc == CN_OK)
			reg_tag_set(v, "tags", k.ptr, k.len, val.ptr, val.len);
	}
	json_t *model = NULL;
	/* Source checks first, outside the lock: they may ask tracking. Prompts
	 * (by the version's tags or the model's) skip them, as in MLflow. */
	if (rc == CN_OK)
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK)
		rc = reg_validate_source(
		        s, src, cn_CreateModelVersion_run_id(req),
		        cn_CreateModelVersion_model_id(req),
		        reg_tag_is_true(tags, REG_PROMPT_TAG) || reg_is_prompt(model), err);
	json_decref(model);
	model = NULL;
	if (rc == CN_OK) {
		pthread_mutex_lock(&s->mu);
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
		uint64_t last = 0;
		if (rc == CN_OK) {
			cn_kv_val cv;
			cn_code got =
			        cn_kv_get(s->db, REG_CF_COUNTERS, name.ptr, name.len, &cv, err);
			if (got == CN_OK) {
				size_t pos = 0;
				if (cv.len != 8 || !cn_key_get_u64(cv.data, cv.len, &pos, &last))
					rc = cn_err_set(err, CN_DATA_LOSS,
					                "corrupt version counter");
				cn_kv_val_release(&cv);
			} else if (got != CN_RESOURCE_DOES_NOT_EXIST) {
				rc = got;
			}
		}
		cn_kv_batch *batch = NULL;
		if (rc == CN_OK && !(batch = cn_kv_batch_new()))
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		if (rc == CN_OK) {
			char vs[24];
			snprintf(vs, sizeof vs, "%" PRIu64, last + 1);
			json_object_set_new(v, "version", json_string(vs));
			cn_key k, cnt;
			reg_version_key(&k, name.ptr, name.len, last + 1);
			cn_key_init(&cnt);
			cn_key_u64(&cnt, last + 1);
			/* Counter and version in one batch: a number is issued once. */
			cn_kv_batch_put(batch, REG_CF_COUNTERS, name.ptr, name.len, cnt.b, cnt.len);
			rc = reg_batch_put(batch, REG_CF_VERSIONS, k.b, k.len,
			                   CN_TABLE_ModelVersion, v, NULL, NULL, err);
			reg_stage_move(batch, name.ptr, name.len, last + 1, NULL, "None");
			json_object_set_new(model, "last_updated_timestamp", json_integer(now));
			if (rc == CN_OK)
				rc = reg_batch_put(batch, REG_CF_MODELS, name.ptr, name.len,
				                   CN_TABLE_RegisteredModel, model, NULL, NULL,
				                   err);
			if (rc == CN_OK)
				rc = reg_write(s, batch, err);
			if (rc == CN_OK) {
				reg_publish(s, ctx, "registry.version.created",
				            CN_TABLE_ModelVersion, v);
				bool prompt = reg_tag_is_true(tags, REG_PROMPT_TAG) ||
				              reg_is_prompt(model);
				reg_webhook_fire(s, REG_WH_VERSION_CREATED, prompt,
				                 reg_wh_data_version(v, prompt));
			}
		}
		cn_kv_batch_free(batch);
		pthread_mutex_unlock(&s->mu);
	}
	if (rc == CN_OK)
		rc = reg_answer_version(s, model, v, b, resp, err);
	json_decref(model);
	json_decref(v);
	return rc;
}

REG_METHOD(reg_create_version)
{
	return reg_create_version_as(st, ctx, req, 0, b, resp, err);
}

REG_METHOD(reg_create_prompt_version)
{
	cn_fb_table inner = cn_CreatePromptModelVersion_request(req);
	if (!inner.buf)
		return reg_missing(err, "request");
	return reg_create_version_as(st, ctx, inner, REG_PROMPT_TEXT_MAX, b, resp, err);
}

/* Name and version of a request, both required and well-formed. */
static cn_code reg_name_version(cn_fb_str name, cn_fb_str ver, uint64_t *v, cn_err *err)
{
	cn_code rc = reg_need(name, "name", err);
	return rc == CN_OK ? reg_parse_version(ver, v, err) : rc;
}

REG_METHOD(reg_get_version)
{
	reg_state *s = st;
	cn_fb_str name = cn_GetModelVersion_name(req);
	uint64_t ver;
	cn_code rc = reg_name_version(name, cn_GetModelVersion_version(req), &ver, err);
	json_t *v = NULL;
	if (rc == CN_OK)
		rc = reg_version_load(s, name.ptr, name.len, ver, &v, err);
	if (rc == CN_OK)
		rc = reg_answer_version(s, NULL, v, b, resp, err);
	json_decref(v);
	return rc;
}

REG_METHOD(reg_get_download_uri)
{
	reg_state *s = st;
	cn_fb_str name = cn_GetModelVersionDownloadUri_name(req);
	uint64_t ver;
	cn_code rc = reg_name_version(name, cn_GetModelVersionDownloadUri_version(req), &ver, err);
	json_t *v = NULL;
	if (rc == CN_OK)
		rc = reg_version_load(s, name.ptr, name.len, ver, &v, err);
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O}", "artifact_uri", json_object_get(v, "source"));
		rc = reg_answer(b, CN_TABLE_GetModelVersionDownloadUriResponse, doc, resp, err);
		json_decref(doc);
	}
	json_decref(v);
	return rc;
}

/* A read-modify-write of one version under s->mu. The edit may change
 * other versions of the model too (archive_existing_versions): it appends
 * them to `also`, and they go into the same batch. */
typedef cn_code (*reg_vedit_fn)(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err);

static cn_code reg_vmodify(reg_state *s, const cn_call_ctx *ctx, cn_fb_str name, cn_fb_str vstr,
                           reg_vedit_fn edit, void *arg, const char *topic, bool answer,
                           cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	uint64_t ver;
	cn_code rc = reg_name_version(name, vstr, &ver, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	json_t *v = NULL, *also = json_array();
	rc = reg_version_load(s, name.ptr, name.len, ver, &v, err);
	if (rc == CN_OK) {
		/* Every version the edit touches carries its stored stage in
		 * REG_OLD_STAGE until the batch moves its index entry. */
		json_object_set(v, REG_OLD_STAGE, json_object_get(v, "current_stage"));
		rc = edit(s, v, arg, also, err);
	}
	cn_kv_batch *batch = NULL;
	if (rc == CN_OK && !(batch = cn_kv_batch_new()))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		int64_t now = cn_now_ms();
		json_array_insert(also, 0, v);
		size_t i;
		json_t *o;
		json_array_foreach(also, i, o)
		{
			if (rc != CN_OK)
				break;
			json_object_set_new(o, "last_updated_timestamp", json_integer(now));
			cn_key k;
			uint64_t ov = strtoull(json_string_value(json_object_get(o, "version")),
			                       NULL, 10);
			reg_version_key(&k, name.ptr, name.len, ov);
			json_t *old = json_incref(json_object_get(o, REG_OLD_STAGE));
			json_object_del(o, REG_OLD_STAGE);
			const char *was = json_string_value(old),
			           *now_st = json_string_value(json_object_get(o, "current_stage"));
			if (was && now_st && strcmp(was, now_st) != 0)
				reg_stage_move(batch, name.ptr, name.len, ov, was, now_st);
			json_decref(old);
			rc = reg_batch_put(batch, REG_CF_VERSIONS, k.b, k.len,
			                   CN_TABLE_ModelVersion, o, NULL, NULL, err);
		}
		if (rc == CN_OK)
			rc = reg_write(s, batch, err);
		json_array_foreach(also, i, o)
		{
			if (rc == CN_OK)
				reg_publish(s, ctx, topic, CN_TABLE_ModelVersion, o);
		}
	}
	cn_kv_batch_free(batch);
	pthread_mutex_unlock(&s->mu);
	if (rc == CN_OK)
		rc = answer ? reg_answer_version(s, NULL, v, b, resp, err)
		            : ((*resp = reg_empty(b)), CN_OK);
	json_decref(v);
	json_decref(also);
	return rc;
}

static cn_code reg_vedit_description(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err)
{
	cn_fb_str *d = arg;
	if (d->ptr)
		json_object_set_new(v, "description", reg_strn(*d));
	return CN_OK;
}

REG_METHOD(reg_update_version)
{
	cn_fb_str desc = cn_UpdateModelVersion_description(req);
	return reg_vmodify(st, ctx, cn_UpdateModelVersion_name(req),
	                   cn_UpdateModelVersion_version(req), reg_vedit_description, &desc,
	                   "registry.version.updated", true, b, resp, err);
}

typedef struct reg_vtag {
	cn_fb_str key, value;
} reg_vtag;

static cn_code reg_vedit_set_tag(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err)
{
	reg_vtag *t = arg;
	reg_tag_set(v, "tags", t->key.ptr, t->key.len, t->value.ptr, t->value.len);
	return CN_OK;
}

static cn_code reg_vedit_del_tag(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err)
{
	reg_vtag *t = arg;
	reg_tag_del(v, "tags", t->key.ptr, t->key.len);
	return CN_OK;
}

/* MLflow's handlers ask whether the model is a prompt after the write. */
static void reg_fire_version_tag(reg_state *s, reg_wh_kind kind, cn_fb_str name, cn_fb_str ver,
                                 cn_fb_str key, cn_fb_str value)
{
	json_t *model;
	cn_err err;
	if (reg_model_load(s, name.ptr, name.len, &model, &err) != CN_OK)
		return;
	json_t *d = json_pack("{s:o,s:o,s:o}", "name", reg_strn(name), "version", reg_strn(ver),
	                      "key", reg_strn(key));
	if (kind == REG_WH_VERSION_TAG_SET)
		json_object_set_new(d, "value", value.ptr ? reg_strn(value) : json_string(""));
	reg_webhook_fire(s, kind, reg_is_prompt(model), d);
	json_decref(model);
}

REG_METHOD(reg_set_version_tag)
{
	reg_vtag t = {cn_SetModelVersionTag_key(req), cn_SetModelVersionTag_value(req)};
	cn_fb_str name = cn_SetModelVersionTag_name(req);
	uint64_t ver;
	cn_code rc = reg_name_version(name, cn_SetModelVersionTag_version(req), &ver, err);
	if (rc == CN_OK)
		rc = reg_validate_tag(t.key, t.value, true, err);
	if (rc != CN_OK)
		return rc;
	rc = reg_vmodify(st, ctx, name, cn_SetModelVersionTag_version(req), reg_vedit_set_tag, &t,
	                 "registry.version.tag_set", false, b, resp, err);
	if (rc == CN_OK)
		reg_fire_version_tag(st, REG_WH_VERSION_TAG_SET, name,
		                     cn_SetModelVersionTag_version(req), t.key, t.value);
	return rc;
}

REG_METHOD(reg_delete_version_tag)
{
	reg_vtag t = {cn_DeleteModelVersionTag_key(req), {NULL, 0}};
	cn_fb_str name = cn_DeleteModelVersionTag_name(req);
	uint64_t ver;
	cn_code rc = reg_name_version(name, cn_DeleteModelVersionTag_version(req), &ver, err);
	if (rc == CN_OK)
		rc = reg_need(t.key, "key", err);
	if (rc != CN_OK)
		return rc;
	rc = reg_vmodify(st, ctx, name, cn_DeleteModelVersionTag_version(req), reg_vedit_del_tag,
	                 &t, "registry.version.tag_deleted", false, b, resp, err);
	if (rc == CN_OK)
		reg_fire_version_tag(st, REG_WH_VERSION_TAG_DELETED, name,
		                     cn_DeleteModelVersionTag_version(req), t.key, t.value);
	return rc;
}

typedef struct reg_stage_arg {
	const char *stage;
	bool archive;
} reg_stage_arg;

static cn_code reg_vedit_stage(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err)
{
	reg_stage_arg *a = arg;
	json_object_set_new(v, "current_stage", json_string(a->stage));
	/* MLflow archives the other versions of the target stage only, and
	 * refuses archive_existing_versions for a stage that is not active
	 * (checked in reg_transition_stage). */
	if (!a->archive)
		return CN_OK;
	const char *name = json_string_value(json_object_get(v, "name"));
	uint64_t me = strtoull(json_string_value(json_object_get(v, "version")), NULL, 10);
	/* Only the target stage's versions move: one index range. */
	cn_code rc = CN_OK;
	{
		uint64_t *vs;
		size_t n;
		rc = reg_stage_versions(s, name, strlen(name), a->stage, &vs, &n, err);
		for (size_t i = 0; rc == CN_OK && i < n; i++) {
			if (vs[i] == me)
				continue;
			json_t *o;
			rc = reg_version_load(s, name, strlen(name), vs[i], &o, err);
			if (rc != CN_OK)
				break;
			json_object_set(o, REG_OLD_STAGE, json_object_get(o, "current_stage"));
			json_object_set_new(o, "current_stage", json_string("Archived"));
			json_array_append_new(also, o);
		}
		free(vs);
	}
	return rc;
}

REG_METHOD(reg_transition_stage)
{
	cn_fb_table t = req;
	cn_fb_str stage = cn_TransitionModelVersionStage_stage(t);
	reg_stage_arg a = {0};
	cn_code rc = reg_need(stage, "stage", err);
	if (rc == CN_OK && !cn_TransitionModelVersionStage_has_archive_existing_versions(t))
		rc = reg_missing(err, "archive_existing_versions");
	if (rc == CN_OK)
		rc = reg_canonical_stage(stage, &a.stage, err);
	if (rc != CN_OK)
		return rc;
	a.archive = cn_TransitionModelVersionStage_archive_existing_versions(t);
	if (a.archive && strcmp(a.stage, "Staging") != 0 && strcmp(a.stage, "Production") != 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Model version transition cannot archive existing model versions "
		        "because '%.*s' is not an Active stage. Valid stages are ['Staging', "
		        "'Production']",
		        (int)stage.len, stage.ptr);
	return reg_vmodify(st, ctx, cn_TransitionModelVersionStage_name(t),
	                   cn_TransitionModelVersionStage_version(t), reg_vedit_stage, &a,
	                   "registry.version.stage_changed", true, b, resp, err);
}

REG_METHOD(reg_delete_version)
{
	reg_state *s = st;
	cn_fb_str name = cn_DeleteModelVersion_name(req);
	uint64_t ver;
	cn_code rc = reg_name_version(name, cn_DeleteModelVersion_version(req), &ver, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	json_t *v = NULL, *model = NULL;
	rc = reg_version_load(s, name.ptr, name.len, ver, &v, err);
	if (rc == CN_OK)
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
	cn_kv_batch *batch = NULL;
	if (rc == CN_OK && !(batch = cn_kv_batch_new()))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		/* The version's aliases go with it, in the same batch. */
		json_t *arr = json_object_get(model, "aliases");
		const char *vs = json_string_value(json_object_get(v, "version"));
		for (size_t i = json_array_size(arr); i-- > 0;) {
			const char *av = json_string_value(
			        json_object_get(json_array_get(arr, i), "version"));
			if (av && strcmp(av, vs) == 0)
				json_array_remove(arr, i);
		}
		json_object_set_new(model, "last_updated_timestamp", json_integer(cn_now_ms()));
		cn_key k;
		reg_version_key(&k, name.ptr, name.len, ver);
		cn_kv_batch_del(batch, REG_CF_VERSIONS, k.b, k.len);
		reg_stage_move(batch, name.ptr, name.len, ver,
		               json_string_value(json_object_get(v, "current_stage")), NULL);
		rc = reg_batch_put(batch, REG_CF_MODELS, name.ptr, name.len,
		                   CN_TABLE_RegisteredModel, model, NULL, NULL, err);
		if (rc == CN_OK)
			rc = reg_write(s, batch, err);
		if (rc == CN_OK)
			reg_publish(s, ctx, "registry.version.deleted", CN_TABLE_ModelVersion, v);
	}
	cn_kv_batch_free(batch);
	pthread_mutex_unlock(&s->mu);
	json_decref(v);
	json_decref(model);
	if (rc == CN_OK)
		*resp = reg_empty(b);
	return rc;
}
