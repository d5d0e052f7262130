/*
 * core/registry/models.c: registered models -- create, get, rename, update,
 * delete, tags, aliases, get-latest-versions. Messages and codes follow
 * MLflow's SQL model registry store and handlers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

/* Answer {registered_model: ...} with latest_versions filled in. */
static cn_code reg_answer_model(reg_state *s, json_t *model, cn_fb_builder *b, cn_fb_ref *resp,
                                cn_err *err)
{
	cn_code rc = reg_model_full(s, model, err);
	if (rc != CN_OK)
		return rc;
	json_t *doc = json_pack("{s:O}", "registered_model", model);
	rc = reg_answer(b, CN_TABLE_RegisteredModelResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}

/* Store one model tree (single put) and publish it. Caller holds s->mu. */
static cn_code reg_model_store(reg_state *s, const cn_call_ctx *ctx, json_t *model,
                               const char *topic, cn_err *err)
{
	const char *name = json_string_value(json_object_get(model, "name"));
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = reg_batch_put(batch, REG_CF_MODELS, name, strlen(name),
	                           CN_TABLE_RegisteredModel, model, NULL, NULL, err);
	if (rc == CN_OK)
		rc = reg_write(s, batch, err);
	cn_kv_batch_free(batch);
	if (rc == CN_OK)
		reg_publish(s, ctx, topic, CN_TABLE_RegisteredModel, model);
	return rc;
}

REG_METHOD(reg_create_model)
{
	reg_state *s = st;
	cn_fb_str name = cn_CreateRegisteredModel_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc != CN_OK)
		return rc;
	int64_t now = cn_now_ms();
	json_t *model = json_pack("{s:o,s:I,s:I}", "name", reg_strn(name), "creation_timestamp",
	                          (json_int_t)now, "last_updated_timestamp", (json_int_t)now);
	cn_fb_str desc = cn_CreateRegisteredModel_description(req);
	if (desc.ptr)
		json_object_set_new(model, "description", reg_strn(desc));
	cn_fb_vec tags = cn_CreateRegisteredModel_tags(req);
	for (uint32_t i = 0; rc == CN_OK && i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		cn_fb_str k = cn_RegisteredModelTag_key(t), v = cn_RegisteredModelTag_value(t);
		rc = reg_validate_tag(k, v, false, err);
		if (rc == CN_OK)
			reg_tag_set(model, "tags", k.ptr, k.len, v.ptr ? v.ptr : "",
			            v.ptr ? v.len : 0);
	}
	if (rc == CN_OK) {
		pthread_mutex_lock(&s->mu);
		json_t *old;
		rc = reg_model_load(s, name.ptr, name.len, &old, err);
		if (rc == CN_OK) {
			json_decref(old);
			rc = cn_err_set(err, CN_RESOURCE_ALREADY_EXISTS,
			                "Registered Model (name=%.*s) already exists.",
			                (int)name.len, name.ptr);
		} else if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
			rc = reg_model_store(s, ctx, model, "registry.model.created", err);
			if (rc == CN_OK)
				reg_webhook_fire(s, REG_WH_MODEL_CREATED, reg_is_prompt(model),
				                 reg_wh_data_model(model));
		}
		pthread_mutex_unlock(&s->mu);
	}
	if (rc == CN_OK)
		rc = reg_answer_model(s, model, b, resp, err);
	json_decref(model);
	return rc;
}

REG_METHOD(reg_get_model)
{
	reg_state *s = st;
	cn_fb_str name = cn_GetRegisteredModel_name(req);
	cn_code rc = reg_need(name, "name", err);
	json_t *model = NULL;
	if (rc == CN_OK)
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK)
		rc = reg_answer_model(s, model, b, resp, err);
	json_decref(model);
	return rc;
}

REG_METHOD(reg_rename_model)
{
	reg_state *s = st;
	cn_fb_str name = cn_RenameRegisteredModel_name(req);
	cn_fb_str nn = cn_RenameRegisteredModel_new_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_need(nn, "new_name", err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	json_t *model = NULL, *other = NULL, *vers = NULL;
	rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK && !(nn.len == name.len && memcmp(nn.ptr, name.ptr, nn.len) == 0)) {
		cn_code got = reg_model_load(s, nn.ptr, nn.len, &other, err);
		if (got == CN_OK)
			rc = cn_err_set(err, CN_RESOURCE_ALREADY_EXISTS,
			                "Registered Model (name=%.*s) already exists.", (int)nn.len,
			                nn.ptr);
		else if (got != CN_RESOURCE_DOES_NOT_EXIST)
			rc = got;
	}
	if (rc == CN_OK)
		rc = reg_versions_list(s, name.ptr, name.len, &vers, err);
	cn_kv_batch *batch = rc == CN_OK ? cn_kv_batch_new() : NULL;
	if (rc == CN_OK && !batch)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	int64_t now = cn_now_ms();
	if (rc == CN_OK) {
		/* The model, its counter and every version move in one batch. */
		cn_kv_batch_del(batch, REG_CF_MODELS, name.ptr, name.len);
		json_object_set_new(model, "name", reg_strn(nn));
		json_object_set_new(model, "last_updated_timestamp", json_integer(now));
		rc = reg_batch_put(batch, REG_CF_MODELS, nn.ptr, nn.len, CN_TABLE_RegisteredModel,
		                   model, NULL, NULL, err);
		cn_kv_val cv;
		cn_code got = cn_kv_get(s->db, REG_CF_COUNTERS, name.ptr, name.len, &cv, err);
		if (got == CN_OK) {
			cn_kv_batch_del(batch, REG_CF_COUNTERS, name.ptr, name.len);
			cn_kv_batch_put(batch, REG_CF_COUNTERS, nn.ptr, nn.len, cv.data, cv.len);
			cn_kv_val_release(&cv);
		} else if (got != CN_RESOURCE_DOES_NOT_EXIST && rc == CN_OK) {
			rc = got;
		}
		size_t i;
		json_t *v;
		json_array_foreach(vers, i, v)
		{
			if (rc != CN_OK)
				break;
			uint64_t ver = strtoull(json_string_value(json_object_get(v, "version")),
			                        NULL, 10);
			cn_key k;
			reg_version_key(&k, name.ptr, name.len, ver);
			cn_kv_batch_del(batch, REG_CF_VERSIONS, k.b, k.len);
			const char *stage = json_string_value(json_object_get(v, "current_stage"));
			reg_stage_move(batch, name.ptr, name.len, ver, stage, NULL);
			reg_stage_move(batch, nn.ptr, nn.len, ver, NULL, stage);
			reg_version_key(&k, nn.ptr, nn.len, ver);
			json_object_set_new(v, "name", reg_strn(nn));
			rc = reg_batch_put(batch, REG_CF_VERSIONS, k.b, k.len,
			                   CN_TABLE_ModelVersion, v, NULL, NULL, err);
		}
		if (rc == CN_OK)
			rc = reg_write(s, batch, err);
		if (rc == CN_OK)
			reg_publish(s, ctx, "registry.model.renamed", CN_TABLE_RegisteredModel,
			            model);
	}
	pthread_mutex_unlock(&s->mu);
	cn_kv_batch_free(batch);
	if (rc == CN_OK)
		rc = reg_answer_model(s, model, b, resp, err);
	json_decref(model);
	json_decref(other);
	json_decref(vers);
	return rc;
}

/* A read-modify-write of one model under s->mu; edit may fail. */
typedef cn_code (*reg_edit_fn)(json_t *model, void *arg, cn_err *err);

static cn_code reg_modify(reg_state *s, const cn_call_ctx *ctx, cn_fb_str name, reg_edit_fn edit,
                          void *arg, const char *topic, json_t **out, cn_err *err)
{
	cn_code rc = reg_need(name, "name", err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	json_t *model = NULL;
	rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK)
		rc = edit(model, arg, err);
	if (rc == CN_OK) {
		json_object_set_new(model, "last_updated_timestamp", json_integer(cn_now_ms()));
		rc = reg_model_store(s, ctx, model, topic, err);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == CN_OK && out)
		*out = model;
	else
		json_decref(model);
	return rc;
}

static cn_code reg_edit_description(json_t *model, void *arg, cn_err *err)
{
	cn_fb_str *d = arg;
	if (d->ptr)
		json_object_set_new(model, "description", reg_strn(*d));
	return CN_OK;
}

REG_METHOD(reg_update_model)
{
	reg_state *s = st;
	cn_fb_str desc = cn_UpdateRegisteredModel_description(req);
	json_t *model = NULL;
	cn_code rc = reg_modify(s, ctx, cn_UpdateRegisteredModel_name(req), reg_edit_description,
	                        &desc, "registry.model.updated", &model, err);
	if (rc == CN_OK)
		rc = reg_answer_model(s, model, b, resp, err);
	json_decref(model);
	return rc;
}

REG_METHOD(reg_delete_model)
{
	reg_state *s = st;
	cn_fb_str name = cn_DeleteRegisteredModel_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	json_t *model = NULL, *vers = NULL;
	rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK)
		rc = reg_versions_list(s, name.ptr, name.len, &vers, err);
	cn_kv_batch *batch = rc == CN_OK ? cn_kv_batch_new() : NULL;
	if (rc == CN_OK && !batch)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		cn_kv_batch_del(batch, REG_CF_MODELS, name.ptr, name.len);
		cn_kv_batch_del(batch, REG_CF_COUNTERS, name.ptr, name.len);
		size_t i;
		json_t *v;
		json_array_foreach(vers, i, v)
		{
			cn_key k;
			uint64_t ver = strtoull(json_string_value(json_object_get(v, "version")),
			                        NULL, 10);
			reg_version_key(&k, name.ptr, name.len, ver);
			cn_kv_batch_del(batch, REG_CF_VERSIONS, k.b, k.len);
			reg_stage_move(batch, name.ptr, name.len, ver,
			               json_string_value(json_object_get(v, "current_stage")),
			               NULL);
		}
		rc = reg_write(s, batch, err);
		if (rc == CN_OK)
			reg_publish(s, ctx, "registry.model.deleted", CN_TABLE_RegisteredModel,
			            model);
	}
	pthread_mutex_unlock(&s->mu);
	cn_kv_batch_free(batch);
	json_decref(model);
	json_decref(vers);
	if (rc == CN_OK)
		*resp = reg_empty(b);
	return rc;
}

typedef struct reg_kv_arg {
	cn_fb_str key, value;
} reg_kv_arg;

static cn_code reg_edit_set_tag(json_t *model, void *arg, cn_err *err)
{
	reg_kv_arg *a = arg;
	reg_tag_set(model, "tags", a->key.ptr, a->key.len, a->value.ptr ? a->value.ptr : "",
	            a->value.ptr ? a->value.len : 0);
	return CN_OK;
}

REG_METHOD(reg_set_model_tag)
{
	reg_kv_arg a = {cn_SetRegisteredModelTag_key(req), cn_SetRegisteredModelTag_value(req)};
	cn_fb_str name = cn_SetRegisteredModelTag_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_validate_tag(a.key, a.value, false, err);
	json_t *model = NULL;
	if (rc == CN_OK)
		rc = reg_modify(st, ctx, name, reg_edit_set_tag, &a, "registry.model.tag_set",
		                &model, err);
	if (rc == CN_OK) {
		/* MLflow sends an event for a prompt's tags only (PROMPT_TAG). */
		reg_webhook_fire(st, REG_WH_MODEL_TAG_SET, reg_is_prompt(model),
		                 json_pack("{s:o,s:o,s:o}", "name", reg_strn(name), "key",
		                           reg_strn(a.key), "value",
		                           a.value.ptr ? reg_strn(a.value) : json_string("")));
		*resp = reg_empty(b);
	}
	json_decref(model);
	return rc;
}

static cn_code reg_edit_del_tag(json_t *model, void *arg, cn_err *err)
{
	reg_kv_arg *a = arg;
	/* MLflow's SQL store deletes a missing tag silently. */
	reg_tag_del(model, "tags", a->key.ptr, a->key.len);
	return CN_OK;
}

REG_METHOD(reg_delete_model_tag)
{
	reg_kv_arg a = {cn_DeleteRegisteredModelTag_key(req), {NULL, 0}};
	cn_fb_str name = cn_DeleteRegisteredModelTag_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_need(a.key, "key", err);
	json_t *model = NULL;
	if (rc == CN_OK)
		rc = reg_modify(st, ctx, name, reg_edit_del_tag, &a, "registry.model.tag_deleted",
		                &model, err);
	if (rc == CN_OK) {
		/* A prompt's tag: prompt-ness as it is after the delete. */
		reg_webhook_fire(
		        st, REG_WH_MODEL_TAG_DELETED, reg_is_prompt(model),
		        json_pack("{s:o,s:o}", "name", reg_strn(name), "key", reg_strn(a.key)));
		*resp = reg_empty(b);
	}
	json_decref(model);
	return rc;
}

/* Aliases: the model's alias list is the one source of truth, so moving an
 * alias from one version to another is one write of one value. */
typedef struct reg_alias_arg {
	reg_state *s;
	cn_fb_str alias;
	uint64_t version;
	json_t *event; /* ModelVersion {name, version, aliases: [alias]} */
} reg_alias_arg;

/* A prompt's alias event carries the prompt tag, so subscribers (webhooks:
 * PROMPT_ALIAS) tell it from a model's as they do for versions. */
static void reg_alias_event_tag(json_t *model, json_t *event)
{
	if (event && reg_is_prompt(model))
		json_object_set_new(
		        event, "tags",
		        json_pack("[{s:s,s:s}]", "key", REG_PROMPT_TAG, "value", "true"));
}

static bool reg_alias_eq(json_t *a, cn_fb_str alias)
{
	json_t *n = json_object_get(a, "alias");
	return json_is_string(n) && json_string_length(n) == alias.len &&
	       memcmp(json_string_value(n), alias.ptr, alias.len) == 0;
}

static cn_code reg_edit_set_alias(json_t *model, void *arg, cn_err *err)
{
	reg_alias_arg *a = arg;
	const char *name = json_string_value(json_object_get(model, "name"));
	json_t *ver = NULL;
	cn_code rc = reg_version_load(a->s, name, strlen(name), a->version, &ver, err);
	if (rc != CN_OK)
		return rc;
	json_decref(ver);
	char vs[24];
	snprintf(vs, sizeof vs, "%" PRIu64, a->version);
	json_t *arr = json_object_get(model, "aliases");
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(model, "aliases", arr);
	}
	size_t i;
	json_t *al;
	bool found = false;
	json_array_foreach(arr, i, al)
	{
		if (reg_alias_eq(al, a->alias)) {
			json_object_set_new(al, "version", json_string(vs));
			found = true;
		}
	}
	if (!found)
		json_array_append_new(
		        arr, json_pack("{s:o,s:s}", "alias", reg_strn(a->alias), "version", vs));
	a->event = json_pack("{s:s,s:s,s:[o]}", "name", name, "version", vs, "aliases",
	                     reg_strn(a->alias));
	reg_alias_event_tag(model, a->event);
	return CN_OK;
}

REG_METHOD(reg_set_alias)
{
	reg_state *s = st;
	reg_alias_arg a = {.s = s, .alias = cn_SetRegisteredModelAlias_alias(req)};
	cn_fb_str name = cn_SetRegisteredModelAlias_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_validate_alias(a.alias, err);
	if (rc == CN_OK)
		rc = reg_parse_version(cn_SetRegisteredModelAlias_version(req), &a.version, err);
	json_t *model = NULL;
	if (rc == CN_OK)
		/* Published as registry.alias.*, not as a model update. */
		rc = reg_modify(s, ctx, name, reg_edit_set_alias, &a, NULL, &model, err);
	if (rc == CN_OK) {
		reg_publish(s, ctx, "registry.alias.set", CN_TABLE_ModelVersion, a.event);
		reg_webhook_fire(s, REG_WH_ALIAS_CREATED, reg_is_prompt(model),
		                 json_pack("{s:o,s:o,s:O}", "name", reg_strn(name), "alias",
		                           reg_strn(a.alias), "version",
		                           json_object_get(a.event, "version")));
		*resp = reg_empty(b);
	}
	json_decref(model);
	json_decref(a.event);
	return rc;
}

static cn_code reg_edit_del_alias(json_t *model, void *arg, cn_err *err)
{
	reg_alias_arg *a = arg;
	json_t *arr = json_object_get(model, "aliases");
	size_t i;
	json_t *al;
	json_array_foreach(arr, i, al)
	{
		if (reg_alias_eq(al, a->alias)) {
			a->event =
			        json_pack("{s:O,s:O,s:[o]}", "name", json_object_get(model, "name"),
			                  "version", json_object_get(al, "version"), "aliases",
			                  reg_strn(a->alias));
			reg_alias_event_tag(model, a->event);
			json_array_remove(arr, i);
			return CN_OK;
		}
	}
	/* MLflow deletes a missing alias silently. */
	return CN_OK;
}

REG_METHOD(reg_delete_alias)
{
	reg_state *s = st;
	reg_alias_arg a = {.s = s, .alias = cn_DeleteRegisteredModelAlias_alias(req)};
	cn_fb_str name = cn_DeleteRegisteredModelAlias_name(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_validate_alias(a.alias, err);
	json_t *model = NULL;
	if (rc == CN_OK)
		/* Published as registry.alias.*, not as a model update. */
		rc = reg_modify(s, ctx, name, reg_edit_del_alias, &a, NULL, &model, err);
	if (rc == CN_OK) {
		if (a.event)
			reg_publish(s, ctx, "registry.alias.deleted", CN_TABLE_ModelVersion,
			            a.event);
		/* MLflow's handler sends the event even for an alias that was not set. */
		reg_webhook_fire(
		        s, REG_WH_ALIAS_DELETED, reg_is_prompt(model),
		        json_pack("{s:o,s:o}", "name", reg_strn(name), "alias", reg_strn(a.alias)));
		*resp = reg_empty(b);
	}
	json_decref(model);
	json_decref(a.event);
	return rc;
}

/* The version an alias names, with its aliases; 404 as MLflow when unset. */
cn_code reg_version_by_alias(reg_state *s, cn_fb_str name, cn_fb_str alias, json_t **out,
                             cn_err *err)
{
	json_t *model = NULL;
	cn_code rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc != CN_OK)
		return rc;
	size_t i;
	json_t *al;
	const char *vs = NULL;
	json_array_foreach(json_object_get(model, "aliases"), i, al)
	{
		if (reg_alias_eq(al, alias))
			vs = json_string_value(json_object_get(al, "version"));
	}
	if (!vs) {
		json_decref(model);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Registered model alias %.*s not found.", (int)alias.len,
		                  alias.ptr);
	}
	rc = reg_version_load(s, name.ptr, name.len, strtoull(vs, NULL, 10), out, err);
	if (rc == CN_OK)
		reg_version_aliases(model, *out);
	json_decref(model);
	return rc;
}

REG_METHOD(reg_get_by_alias)
{
	cn_fb_str name = cn_GetModelVersionByAlias_name(req);
	cn_fb_str alias = cn_GetModelVersionByAlias_alias(req);
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_need(alias, "alias", err);
	json_t *v = NULL;
	if (rc == CN_OK)
		rc = reg_version_by_alias(st, name, alias, &v, err);
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O}", "model_version", v);
		rc = reg_answer(b, CN_TABLE_ModelVersionResponse, doc, resp, err);
		json_decref(doc);
	}
	json_decref(v);
	return rc;
}

REG_METHOD(reg_get_latest_versions)
{
	reg_state *s = st;
	cn_fb_str name = cn_GetLatestVersions_name(req);
	cn_code rc = reg_need(name, "name", err);
	json_t *model = NULL;
	if (rc == CN_OK)
		rc = reg_model_load(s, name.ptr, name.len, &model, err);
	cn_fb_vec stages = cn_GetLatestVersions_stages(req);
	const char *canon[64];
	uint32_t ns = 0;
	for (uint32_t i = 0; rc == CN_OK && i < stages.n && ns < 64; i++) {
		cn_fb_str st_ = cn_fb_vec_str(stages, i);
		rc = reg_canonical_stage(st_, &canon[ns++], err);
	}
	if (rc == CN_OK)
		rc = reg_model_full(s, model, err);
	if (rc == CN_OK) {
		json_t *out = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(model, "latest_versions"), i, v)
		{
			const char *cs = json_string_value(json_object_get(v, "current_stage"));
			bool want = ns == 0;
			for (uint32_t j = 0; !want && j < ns; j++)
				want = cs && strcmp(cs, canon[j]) == 0;
			if (want) {
				reg_version_aliases(model, v);
				json_array_append(out, v);
			}
		}
		json_t *doc = json_pack("{s:o}", "model_versions", out);
		rc = reg_answer(b, CN_TABLE_ModelVersionsResponse, doc, resp, err);
		json_decref(doc);
	}
	json_decref(model);
	return rc;
}
