/*
 * core/tracking/experiments.c: MLflow's experiment calls (create, get,
 * get-by-name, update, delete, restore, set/delete tag). Search lives in
 * experiment_search.c. Behaviour, messages and codes follow MLflow's SQL
 * store and handlers; where they disagree with common sense (ids that are
 * not numbers) we answer 404 rather than 500.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

static const cn_fb_str trk_active = {"active", 6};
static const cn_fb_str trk_deleted = {"deleted", 7};

static bool trk_is(cn_fb_str a, cn_fb_str b)
{
	return a.ptr && a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static pthread_mutex_t *trk_stripe(trk_state *s, uint64_t id)
{
	return &s->stripes[id % TRK_LOCK_STRIPES];
}

/* Resolve a request's experiment_id to a number, 404 when it can't name one. */
static cn_code trk_request_id(cn_fb_str sid, uint64_t *id, cn_err *err)
{
	if (!sid.ptr || sid.len == 0)
		return trk_missing(err, "experiment_id");
	if (!trk_parse_experiment_id(sid.ptr, sid.len, id))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%.*s exists", (int)sid.len, sid.ptr);
	return CN_OK;
}

static cn_fb_ref trk_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

cn_code trk_create_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                              cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	cn_fb_str name = cn_CreateExperiment_name(req);
	if (!name.ptr || name.len == 0)
		return trk_missing(err, "name");
	cn_code rc = trk_validate_experiment_name(name, err);
	if (rc == CN_OK)
		rc = trk_validate_artifact_location(cn_CreateExperiment_artifact_location(req),
		                                    err);
	cn_fb_vec tags = cn_CreateExperiment_tags(req);
	trk_tag *tv = NULL;
	uint32_t ntags = 0;
	if (rc == CN_OK && tags.n) {
		tv = calloc(tags.n, sizeof *tv);
		if (!tv)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	/* A key given twice keeps its last value, as a map would. */
	for (uint32_t i = 0; rc == CN_OK && i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		trk_tag tag = {cn_ExperimentTag_key(t), cn_ExperimentTag_value(t)};
		if (!tag.value.ptr)
			tag.value = (cn_fb_str){"", 0};
		rc = trk_validate_experiment_tag(tag.key, tag.value, err);
		uint32_t j = 0;
		while (j < ntags && !trk_is(tv[j].key, tag.key))
			j++;
		tv[j] = tag;
		if (j == ntags)
			ntags++;
	}
	if (rc == CN_OK)
		rc = trk_name_reserve(s, name.ptr, name.len, err);
	if (rc != CN_OK) {
		free(tv);
		return rc;
	}
	pthread_mutex_lock(&s->names_mu);
	uint64_t id = s->next_experiment_id++;
	pthread_mutex_unlock(&s->names_mu);

	char loc[CN_CFG_STR + 32];
	cn_fb_str given = cn_CreateExperiment_artifact_location(req);
	trk_experiment e = {
	        .id = id, .name = name, .lifecycle_stage = trk_active, .tags = tv, .ntags = ntags};
	if (given.ptr && given.len) {
		e.artifact_location = given;
	} else {
		size_t rl = strlen(s->artifact_root);
		int n = snprintf(loc, sizeof loc, "%s%s%" PRIu64, s->artifact_root,
		                 rl && s->artifact_root[rl - 1] == '/' ? "" : "/", id);
		e.artifact_location = (cn_fb_str){loc, (uint32_t)n};
	}
	e.creation_time = e.last_update_time = cn_now_ms();
	rc = trk_experiment_store(s, &e, NULL, "tracking.experiment.created", ctx->request_id, err);
	trk_name_release(s, name.ptr, name.len);
	free(tv);
	if (rc != CN_OK)
		return rc;

	char idbuf[24];
	int idlen = snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
	cn_fb_ref ids = cn_fb_create_string(b, idbuf, (size_t)idlen);
	cn_CreateExperimentResponse_start(b);
	cn_CreateExperimentResponse_add_experiment_id(b, ids);
	*resp = cn_CreateExperimentResponse_end(b);
	return CN_OK;
}

/* Shared by get and get-by-name: load id and answer {experiment: ...}. */
static cn_code trk_answer_experiment(trk_state *s, uint64_t id, bool by_name, cn_fb_builder *b,
                                     cn_fb_ref *resp, cn_err *err)
{
	cn_kv_val val;
	trk_experiment e;
	cn_code rc = trk_experiment_load(s, id, &val, &e, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref exp = trk_experiment_build(b, &e);
	trk_experiment_view_free(&e);
	cn_kv_val_release(&val);
	if (by_name) {
		cn_GetExperimentByNameResponse_start(b);
		cn_GetExperimentByNameResponse_add_experiment(b, exp);
		*resp = cn_GetExperimentByNameResponse_end(b);
	} else {
		cn_GetExperimentResponse_start(b);
		cn_GetExperimentResponse_add_experiment(b, exp);
		*resp = cn_GetExperimentResponse_end(b);
	}
	return CN_OK;
}

cn_code trk_get_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                           cn_fb_ref *resp, cn_err *err)
{
	uint64_t id;
	cn_code rc = trk_request_id(cn_GetExperiment_experiment_id(req), &id, err);
	return rc != CN_OK ? rc : trk_answer_experiment(st, id, false, b, resp, err);
}

cn_code trk_get_experiment_by_name(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                   cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	cn_fb_str name = cn_GetExperimentByName_experiment_name(req);
	if (!name.ptr || name.len == 0)
		return trk_missing(err, "experiment_name");
	uint64_t id;
	cn_code rc = trk_experiment_id_by_name(st, name.ptr, name.len, &id, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "Could not find experiment with name '%.*s'",
		                  (int)name.len, name.ptr);
	return rc != CN_OK ? rc : trk_answer_experiment(st, id, true, b, resp, err);
}

/* A read-modify-write of one experiment under its stripe lock. `edit`
 * changes the view (and may fail); the result is stored and published. */
typedef cn_code (*trk_edit_fn)(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old_name,
                               cn_err *err);

static cn_code trk_modify(trk_state *s, const cn_call_ctx *ctx, cn_fb_str sid, trk_edit_fn edit,
                          void *arg, const char *topic, cn_fb_builder *b, cn_fb_ref *resp,
                          cn_err *err)
{
	uint64_t id;
	cn_code rc = trk_request_id(sid, &id, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_t *mu = trk_stripe(s, id);
	pthread_mutex_lock(mu);
	cn_kv_val val;
	trk_experiment e;
	rc = trk_experiment_load(s, id, &val, &e, err);
	if (rc == CN_OK) {
		cn_fb_str old_name = {NULL, 0};
		trk_tag *orig_tags = e.tags;
		rc = edit(s, &e, arg, &old_name, err);
		if (rc == CN_OK) {
			e.last_update_time = cn_now_ms();
			rc = trk_experiment_store(s, &e, old_name.ptr ? &old_name : NULL, topic,
			                          ctx->request_id, err);
			if (old_name.ptr)
				trk_name_release(s, e.name.ptr, e.name.len);
		}
		if (e.tags != orig_tags)
			free(e.tags);
		e.tags = orig_tags;
		trk_experiment_view_free(&e);
		cn_kv_val_release(&val);
	}
	pthread_mutex_unlock(mu);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_edit_delete(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old,
                               cn_err *err)
{
	if (!trk_is(e->lifecycle_stage, trk_active))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%" PRIu64 " exists", e->id);
	e->lifecycle_stage = trk_deleted;
	return CN_OK;
}

static cn_code trk_edit_restore(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old,
                                cn_err *err)
{
	if (!trk_is(e->lifecycle_stage, trk_deleted))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%" PRIu64 " exists", e->id);
	e->lifecycle_stage = trk_active;
	return CN_OK;
}

cn_code trk_delete_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                              cn_fb_ref *resp, cn_err *err)
{
	return trk_modify(st, ctx, cn_DeleteExperiment_experiment_id(req), trk_edit_delete, NULL,
	                  "tracking.experiment.deleted", b, resp, err);
}

cn_code trk_restore_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                               cn_fb_ref *resp, cn_err *err)
{
	return trk_modify(st, ctx, cn_RestoreExperiment_experiment_id(req), trk_edit_restore, NULL,
	                  "tracking.experiment.restored", b, resp, err);
}

static cn_code trk_edit_rename(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old,
                               cn_err *err)
{
	const cn_fb_str *new_name = arg;
	if (!trk_is(e->lifecycle_stage, trk_active))
		return cn_err_set(err, CN_INVALID_STATE, "Cannot rename a non-active experiment.");
	if (trk_is(e->name, *new_name))
		return CN_OK;
	cn_code rc = trk_name_reserve(s, new_name->ptr, new_name->len, err);
	if (rc != CN_OK)
		return rc;
	*old = e->name;
	e->name = *new_name;
	return CN_OK;
}

cn_code trk_update_experiment(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                              cn_fb_ref *resp, cn_err *err)
{
	cn_fb_str new_name = cn_UpdateExperiment_new_name(req);
	if (!new_name.ptr || new_name.len == 0)
		return trk_missing(err, "new_name");
	cn_code rc = trk_validate_experiment_name(new_name, err);
	if (rc != CN_OK)
		return rc;
	return trk_modify(st, ctx, cn_UpdateExperiment_experiment_id(req), trk_edit_rename,
	                  &new_name, "tracking.experiment.updated", b, resp, err);
}

static cn_code trk_require_active(const trk_experiment *e, cn_err *err)
{
	if (trk_is(e->lifecycle_stage, trk_active))
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "The experiment %" PRIu64 " must be in the 'active' state. Current state "
	                  "is %.*s.",
	                  e->id, (int)e->lifecycle_stage.len, e->lifecycle_stage.ptr);
}

static cn_code trk_edit_set_tag(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old,
                                cn_err *err)
{
	const trk_tag *tag = arg;
	cn_code rc = trk_require_active(e, err);
	if (rc != CN_OK)
		return rc;
	trk_tag *tags = malloc((e->ntags + 1) * sizeof *tags);
	if (!tags)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	uint32_t n = 0;
	bool replaced = false;
	for (uint32_t i = 0; i < e->ntags; i++) {
		tags[n] = e->tags[i];
		if (trk_is(e->tags[i].key, tag->key)) {
			tags[n].value = tag->value;
			replaced = true;
		}
		n++;
	}
	if (!replaced)
		tags[n++] = *tag;
	e->tags = tags;
	e->ntags = n;
	return CN_OK;
}

cn_code trk_set_experiment_tag(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                               cn_fb_ref *resp, cn_err *err)
{
	trk_tag tag = {cn_SetExperimentTag_key(req), cn_SetExperimentTag_value(req)};
	if (!tag.key.ptr || tag.key.len == 0)
		return trk_missing(err, "key");
	if (!tag.value.ptr)
		return trk_missing(err, "value");
	cn_code rc = trk_validate_experiment_tag(tag.key, tag.value, err);
	if (rc != CN_OK)
		return rc;
	return trk_modify(st, ctx, cn_SetExperimentTag_experiment_id(req), trk_edit_set_tag, &tag,
	                  "tracking.experiment.tag_set", b, resp, err);
}

static cn_code trk_edit_delete_tag(trk_state *s, trk_experiment *e, void *arg, cn_fb_str *old,
                                   cn_err *err)
{
	const cn_fb_str *key = arg;
	cn_code rc = trk_require_active(e, err);
	if (rc != CN_OK)
		return rc;
	uint32_t i = 0;
	while (i < e->ntags && !trk_is(e->tags[i].key, *key))
		i++;
	if (i == e->ntags)
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No tag with name: %.*s in experiment with id %" PRIu64,
		                  (int)key->len, key->ptr, e->id);
	trk_tag *tags = malloc((e->ntags ? e->ntags : 1) * sizeof *tags);
	if (!tags)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	uint32_t n = 0;
	for (uint32_t j = 0; j < e->ntags; j++)
		if (j != i)
			tags[n++] = e->tags[j];
	e->tags = tags;
	e->ntags = n;
	return CN_OK;
}

cn_code trk_delete_experiment_tag(void *st, const cn_call_ctx *ctx, cn_fb_table req,
                                  cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	cn_fb_str key = cn_DeleteExperimentTag_key(req);
	if (!key.ptr || key.len == 0)
		return trk_missing(err, "key");
	return trk_modify(st, ctx, cn_DeleteExperimentTag_experiment_id(req), trk_edit_delete_tag,
	                  &key, "tracking.experiment.tag_deleted", b, resp, err);
}
