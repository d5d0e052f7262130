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

static bool reg_has_scheme(cn_fb_str src, const char *scheme)
{
	size_t n = strlen(scheme);
	return src.len >= n && strncasecmp(src.ptr, scheme, n) == 0;
}

/* MLflow's _validate_source checks, without a call to tracking: a local
 * path (file: or no scheme) is refused (MLflow accepts one only inside the
 * artifact folder of the given run, which the registry cannot see), and a
 * remote URI must not climb with `..` path segments. */
static cn_code reg_validate_source(cn_fb_str src, cn_err *err)
{
	const char *colon = memchr(src.ptr, ':', src.len);
	bool schemeless = true;
	if (colon && colon > src.ptr) {
		schemeless = false;
		for (const char *p = src.ptr; p < colon; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
				schemeless = true;
		/* A Windows drive letter is a local path too. */
		if (colon - src.ptr == 1)
			schemeless = true;
	}
	if (schemeless || reg_has_scheme(src, "file:"))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid model version source: '%.*s'. To use a local path as a "
		                  "model version source, the run_id request parameter has to be "
		                  "specified and the local path has to be contained within the "
		                  "artifact directory of the run specified by the run_id.",
		                  (int)src.len, src.ptr);
	/* `..` as a whole path segment, plain or percent-encoded (%2E). */
	for (uint32_t i = 0; i < src.len; i++) {
		bool start = i == 0 || src.ptr[i - 1] == '/';
		if (!start)
			continue;
		uint32_t j = i, dots = 0;
		while (j < src.len && dots < 3) {
			if (src.ptr[j] == '.') {
				j++;
				dots++;
			} else if (j + 2 < src.len && src.ptr[j] == '%' && src.ptr[j + 1] == '2' &&
			           (src.ptr[j + 2] == 'e' || src.ptr[j + 2] == 'E')) {
				j += 3;
				dots++;
			} else {
				break;
			}
		}
		if (dots == 2 &&
		    (j == src.len || src.ptr[j] == '/' || src.ptr[j] == '?' || src.ptr[j] == '#'))
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid model version source: '%.*s'. If supplying a source "
			        "as an http, https, local file path, ftp, objectstore, or "
			        "mlflow-artifacts uri, an absolute path must be provided "
			        "without relative path references present. Please provide "
			        "an absolute path.",
			        (int)src.len, src.ptr);
	}
	return CN_OK;
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
	if (rc == CN_OK) {
		pthread_mutex_lock(&s->mu);
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
		/* Prompts (by the version's tags or the model's) skip source checks. */
		if (rc == CN_OK && !reg_tag_is_true(tags, REG_PROMPT_TAG) && !reg_is_prompt(model))
			rc = reg_validate_source(src, err);
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
			json_object_set_new(model, "last_updated_timestamp", json_integer(now));
			if (rc == CN_OK)
				rc = reg_batch_put(batch, REG_CF_MODELS, name.ptr, name.len,
				                   CN_TABLE_RegisteredModel, model, NULL, NULL,
				                   err);
			if (rc == CN_OK)
				rc = reg_write(s, batch, err);
			if (rc == CN_OK)
				reg_publish(s, ctx, "registry.version.created",
				            CN_TABLE_ModelVersion, v);
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
	if (rc == CN_OK)
		rc = edit(s, v, arg, also, err);
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
			reg_version_key(&k, name.ptr, name.len,
			                strtoull(json_string_value(json_object_get(o, "version")),
			                         NULL, 10));
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
	return reg_vmodify(st, ctx, name, cn_SetModelVersionTag_version(req), reg_vedit_set_tag, &t,
	                   "registry.version.tag_set", false, b, resp, err);
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
	return reg_vmodify(st, ctx, name, cn_DeleteModelVersionTag_version(req), reg_vedit_del_tag,
	                   &t, "registry.version.tag_deleted", false, b, resp, err);
}

typedef struct reg_stage_arg {
	const char *stage;
	bool archive;
} reg_stage_arg;

static cn_code reg_vedit_stage(reg_state *s, json_t *v, void *arg, json_t *also, cn_err *err)
{
	reg_stage_arg *a = arg;
	json_object_set_new(v, "current_stage", json_string(a->stage));
	/* MLflow: archive the other versions in Staging/Production only when
	 * moving to one of those stages. */
	if (!a->archive ||
	    !(strcmp(a->stage, "Staging") == 0 || strcmp(a->stage, "Production") == 0))
		return CN_OK;
	const char *name = json_string_value(json_object_get(v, "name"));
	const char *me = json_string_value(json_object_get(v, "version"));
	json_t *vers;
	cn_code rc = reg_versions_list(s, name, strlen(name), &vers, err);
	if (rc != CN_OK)
		return rc;
	size_t i;
	json_t *o;
	json_array_foreach(vers, i, o)
	{
		const char *cs = json_string_value(json_object_get(o, "current_stage"));
		const char *ov = json_string_value(json_object_get(o, "version"));
		if (strcmp(ov, me) != 0 && cs &&
		    (strcmp(cs, "Staging") == 0 || strcmp(cs, "Production") == 0)) {
			json_object_set_new(o, "current_stage", json_string("Archived"));
			json_array_append(also, o);
		}
	}
	json_decref(vers);
	return CN_OK;
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
