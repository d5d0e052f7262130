/*
 * core/tracking/runs.c: MLflow's run calls -- create, get, update, delete,
 * restore, set-tag and delete-tag. Logging (params, metrics, batches,
 * history) lives in run_logging.c, storage helpers in run_store.c.
 * Behaviour and messages follow MLflow's handlers and SQL store.
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

#define TRK_MAX_TAG_VALUE_RUN 8000
#define TRK_RUN_NAME_TAG      "mlflow.runName"

static const cn_fb_str trk_run_name_tag = {TRK_RUN_NAME_TAG, sizeof TRK_RUN_NAME_TAG - 1};

static cn_fb_ref trk_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

/* Run names as MLflow generates them: adjective-noun-number. */
static const char *const trk_adjectives[] = {
        "able",   "bold",   "brave",  "bright", "calm",   "clever", "crisp", "daring",
        "eager",  "fair",   "fast",   "gentle", "glad",   "grand",  "happy", "honest",
        "humble", "jolly",  "keen",   "kind",   "lively", "lucky",  "merry", "mighty",
        "nimble", "noble",  "polite", "proud",  "quick",  "quiet",  "rare",  "sharp",
        "shy",    "silent", "smart",  "steady", "swift",  "tidy",   "vast",  "wise"};
static const char *const trk_nouns[] = {
        "ant",   "bat",   "bear",  "bee",   "cat",   "cod",   "colt",  "crab", "crane", "deer",
        "dove",  "duck",  "eel",   "elk",   "fawn",  "finch", "fox",   "frog", "goat",  "gull",
        "hare",  "hawk",  "hen",   "horse", "jay",   "lark",  "lion",  "lynx", "mole",  "moth",
        "mouse", "newt",  "owl",   "ox",    "panda", "pig",   "ram",   "seal", "shrew", "sloth",
        "snail", "squid", "stork", "swan",  "toad",  "trout", "whale", "wolf", "wren",  "yak"};

int trk_gen_run_name(char *out, size_t cap)
{
	char rnd[33];
	cn_id_hex32(rnd);
	unsigned long a = strtoul(
	        (char[9]){rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], 0}, NULL,
	        16);
	unsigned long n = strtoul(
	        (char[9]){rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15], 0},
	        NULL, 16);
	unsigned long num = strtoul((char[9]){rnd[16], rnd[17], rnd[18], rnd[19], rnd[20], rnd[21],
	                                      rnd[22], rnd[23], 0},
	                            NULL, 16);
	size_t na = sizeof trk_adjectives / sizeof trk_adjectives[0];
	size_t nn = sizeof trk_nouns / sizeof trk_nouns[0];
	return snprintf(out, cap, "%s-%s-%lu", trk_adjectives[a % na], trk_nouns[n % nn],
	                num % 1000);
}

static cn_code trk_validate_run_tag(cn_fb_str key, cn_fb_str value, cn_err *err)
{
	cn_code rc = trk_validate_entity_key(key, "key", "Tag key", err);
	if (rc == CN_OK && value.ptr)
		rc = trk_validate_length(value, "Tag value", TRK_MAX_TAG_VALUE_RUN, err);
	return rc;
}

cn_code trk_create_run(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	cn_fb_str sid = cn_CreateRun_experiment_id(req);
	uint64_t eid;
	if (!trk_parse_experiment_id(sid.ptr, sid.len, &eid))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "No Experiment with id=%.*s exists", (int)sid.len,
		                  sid.ptr ? sid.ptr : "");
	cn_fb_vec tags = cn_CreateRun_tags(req);
	cn_fb_str name_tag = {NULL, 0};
	for (uint32_t i = 0; i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		cn_fb_str k = cn_RunTag_key(t), v = cn_RunTag_value(t);
		cn_code rc = trk_validate_run_tag(k, v, err);
		if (rc != CN_OK)
			return rc;
		if (trk_str_is(k, trk_run_name_tag))
			name_tag = v.ptr ? v : (cn_fb_str){"", 0};
	}
	cn_fb_str run_name = cn_CreateRun_run_name(req);
	if (run_name.ptr && run_name.len && name_tag.ptr && !trk_str_is(run_name, name_tag))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
		        "with different values (run_name='%.*s', mlflow.runName='%.*s').",
		        (int)run_name.len, run_name.ptr, (int)name_tag.len, name_tag.ptr);
	char gen[64];
	if (!run_name.ptr || run_name.len == 0) {
		if (name_tag.ptr && name_tag.len) {
			run_name = name_tag;
		} else {
			int n = trk_gen_run_name(gen, sizeof gen);
			run_name = (cn_fb_str){gen, (uint32_t)n};
		}
	}

	cn_kv_val ev;
	trk_experiment e;
	cn_code rc = trk_experiment_load(s, eid, &ev, &e, err);
	if (rc != CN_OK)
		return rc;
	if (!trk_str_is(e.lifecycle_stage, trk_active_stage)) {
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "The experiment %" PRIu64 " must be in the 'active' state. Current "
		                "state is %.*s.",
		                eid, (int)e.lifecycle_stage.len, e.lifecycle_stage.ptr);
		trk_experiment_view_free(&e);
		cn_kv_val_release(&ev);
		return rc;
	}
	trk_run r;
	memset(&r, 0, sizeof r);
	cn_id_hex32(r.hex);
	uint8_t idb[16];
	char hexcopy[33];
	rc = trk_run_resolve((cn_fb_str){r.hex, 32}, (cn_fb_str){NULL, 0}, idb, hexcopy, err);
	memcpy(r.id, idb, 16);
	char expbuf[24];
	int explen = snprintf(expbuf, sizeof expbuf, "%" PRIu64, eid);
	size_t al = e.artifact_location.len;
	bool slash = al && e.artifact_location.ptr[al - 1] == '/';
	size_t ucap = al + 64;
	char *uri = malloc(ucap);
	if (!uri)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	int ulen = uri ? snprintf(uri, ucap, "%.*s%s%s/artifacts", (int)al,
	                          e.artifact_location.ptr ? e.artifact_location.ptr : "",
	                          slash ? "" : "/", r.hex)
	               : 0;
	trk_experiment_view_free(&e);
	cn_kv_val_release(&ev);
	r.run_name = run_name;
	r.experiment_id = (cn_fb_str){expbuf, (uint32_t)explen};
	r.user_id = cn_CreateRun_user_id(req);
	r.artifact_uri = (cn_fb_str){uri, (uint32_t)ulen};
	r.lifecycle_stage = trk_active_stage;
	r.status = CN_RunStatus_RUNNING;
	r.start_time =
	        cn_CreateRun_has_start_time(req) ? cn_CreateRun_start_time(req) : cn_now_ms();

	cn_kv_batch *batch = rc == CN_OK ? cn_kv_batch_new() : NULL;
	if (rc == CN_OK && !batch)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		rc = trk_run_put(batch, &r, true, err);
	for (uint32_t i = 0; rc == CN_OK && i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		cn_fb_str k = cn_RunTag_key(t), v = cn_RunTag_value(t);
		if (trk_str_is(k, trk_run_name_tag))
			continue;
		cn_key key;
		trk_run_sub_key(&key, r.id, k);
		cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, key.b, key.len, v.ptr ? v.ptr : "", v.len);
	}
	if (rc == CN_OK) {
		cn_key key;
		trk_run_sub_key(&key, r.id, trk_run_name_tag);
		cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, key.b, key.len, run_name.ptr, run_name.len);
		/* Under the run's stripe, as every run write, so the search cache
		 * sees its changes in commit order. */
		pthread_mutex_t *mu = trk_run_stripe(s, r.id);
		pthread_mutex_lock(mu);
		rc = cn_kv_write(s->db, batch, err);
		if (rc == CN_OK)
			trk_search_cache_run_changed(s, r.id);
		pthread_mutex_unlock(mu);
	}
	if (batch)
		cn_kv_batch_free(batch);
	cn_fb_ref run = 0;
	if (rc == CN_OK)
		rc = trk_run_build_full(s, b, &r, &run, err);
	free(uri);
	if (rc != CN_OK)
		return rc;
	cn_CreateRunResponse_start(b);
	cn_CreateRunResponse_add_run(b, run);
	*resp = cn_CreateRunResponse_end(b);
	return CN_OK;
}

cn_code trk_get_run(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                    cn_fb_ref *resp, cn_err *err)
{
	trk_state *s = st;
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(cn_GetRun_run_id(req), cn_GetRun_run_uuid(req), id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_val val;
	trk_run r;
	rc = trk_run_load(s, id, &val, &r, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref run = 0;
	rc = trk_run_build_with_outputs(s, b, &r, &run, err);
	cn_kv_val_release(&val);
	if (rc != CN_OK)
		return rc;
	cn_GetRunResponse_start(b);
	cn_GetRunResponse_add_run(b, run);
	*resp = cn_GetRunResponse_end(b);
	return CN_OK;
}

/* Read-modify-write of one run under its stripe lock. `edit` changes the
 * view and may add more writes to the batch. */
typedef cn_code (*trk_run_edit_fn)(trk_run *r, void *arg, cn_kv_batch *batch, cn_err *err);

static cn_code trk_run_modify(trk_state *s, cn_fb_str run_id, cn_fb_str run_uuid,
                              trk_run_edit_fn edit, void *arg, trk_run *out_copy, cn_fb_builder *b,
                              cn_fb_ref *info, cn_err *err)
{
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(run_id, run_uuid, id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	cn_kv_val val;
	trk_run r;
	rc = trk_run_load(s, id, &val, &r, err);
	if (rc == CN_OK) {
		rc = edit(&r, arg, batch, err);
		if (rc == CN_OK)
			rc = trk_run_put(batch, &r, false, err);
		if (rc == CN_OK)
			rc = cn_kv_write(s->db, batch, err);
		if (rc == CN_OK)
			trk_search_cache_run_changed(s, id);
		if (rc == CN_OK && info)
			*info = trk_run_info_build(b, &r);
		cn_kv_val_release(&val);
	}
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	(void)out_copy;
	return rc;
}

typedef struct trk_update_arg {
	cn_fb_table req;
} trk_update_arg;

static cn_code trk_edit_update(trk_run *r, void *arg, cn_kv_batch *batch, cn_err *err)
{
	cn_fb_table req = ((trk_update_arg *)arg)->req;
	cn_code rc = trk_run_require_active(r, err);
	if (rc != CN_OK)
		return rc;
	if (cn_UpdateRun_has_status(req))
		r->status = cn_UpdateRun_status(req);
	if (cn_UpdateRun_has_end_time(req)) {
		r->end_time = cn_UpdateRun_end_time(req);
		r->has_end_time = true;
	}
	cn_fb_str name = cn_UpdateRun_run_name(req);
	if (name.ptr && name.len) {
		r->run_name = name;
		cn_key k;
		trk_run_sub_key(&k, r->id, trk_run_name_tag);
		cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, k.b, k.len, name.ptr, name.len);
	}
	return CN_OK;
}

cn_code trk_update_run(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	trk_update_arg a = {req};
	cn_fb_ref info = 0;
	cn_code rc = trk_run_modify(st, cn_UpdateRun_run_id(req), cn_UpdateRun_run_uuid(req),
	                            trk_edit_update, &a, NULL, b, &info, err);
	if (rc != CN_OK)
		return rc;
	cn_UpdateRunResponse_start(b);
	cn_UpdateRunResponse_add_run_info(b, info);
	*resp = cn_UpdateRunResponse_end(b);
	return CN_OK;
}

static cn_code trk_edit_stage(trk_run *r, void *arg, cn_kv_batch *batch, cn_err *err)
{
	r->lifecycle_stage = *(const cn_fb_str *)arg;
	/* `cairn gc --older-than` ages deleted runs from their deletion, as MLflow. */
	r->has_deleted_time = trk_str_is(r->lifecycle_stage, trk_deleted_stage);
	r->deleted_time = r->has_deleted_time ? cn_now_ms() : 0;
	return CN_OK;
}

cn_code trk_delete_run(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	cn_fb_str stage = trk_deleted_stage;
	cn_code rc = trk_run_modify(st, cn_DeleteRun_run_id(req), cn_DeleteRun_run_uuid(req),
	                            trk_edit_stage, &stage, NULL, b, NULL, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

cn_code trk_restore_run(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                        cn_fb_ref *resp, cn_err *err)
{
	cn_fb_str stage = trk_active_stage;
	cn_code rc = trk_run_modify(st, cn_RestoreRun_run_id(req), cn_RestoreRun_run_uuid(req),
	                            trk_edit_stage, &stage, NULL, b, NULL, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

typedef struct trk_tag_arg {
	trk_state *s;
	cn_fb_str key, value;
} trk_tag_arg;

static cn_code trk_edit_set_tag(trk_run *r, void *arg, cn_kv_batch *batch, cn_err *err)
{
	const trk_tag_arg *a = arg;
	cn_code rc = trk_run_require_active(r, err);
	if (rc != CN_OK)
		return rc;
	if (trk_str_is(a->key, trk_run_name_tag))
		r->run_name = a->value;
	cn_key k;
	trk_run_sub_key(&k, r->id, a->key);
	cn_kv_batch_put(batch, TRK_CF_RUN_TAGS, k.b, k.len, a->value.ptr, a->value.len);
	return CN_OK;
}

cn_code trk_set_tag(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                    cn_fb_ref *resp, cn_err *err)
{
	trk_tag_arg a = {st, cn_SetTag_key(req), cn_SetTag_value(req)};
	if (!a.key.ptr || a.key.len == 0)
		return trk_missing(err, "key");
	if (!a.value.ptr)
		a.value = (cn_fb_str){"", 0};
	cn_code rc = trk_validate_run_tag(a.key, a.value, err);
	if (rc == CN_OK)
		rc = trk_run_modify(st, cn_SetTag_run_id(req), cn_SetTag_run_uuid(req),
		                    trk_edit_set_tag, &a, NULL, b, NULL, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}

static cn_code trk_edit_delete_tag(trk_run *r, void *arg, cn_kv_batch *batch, cn_err *err)
{
	const trk_tag_arg *a = arg;
	cn_code rc = trk_run_require_active(r, err);
	if (rc != CN_OK)
		return rc;
	cn_key k;
	trk_run_sub_key(&k, r->id, a->key);
	cn_kv_val v;
	rc = cn_kv_get(a->s->db, TRK_CF_RUN_TAGS, k.b, k.len, &v, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "No tag with name: %.*s in run with id %s",
		                  (int)a->key.len, a->key.ptr, r->hex);
	if (rc != CN_OK)
		return rc;
	cn_kv_val_release(&v);
	cn_kv_batch_del(batch, TRK_CF_RUN_TAGS, k.b, k.len);
	return CN_OK;
}

cn_code trk_delete_tag(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	trk_tag_arg a = {st, cn_DeleteTag_key(req), {NULL, 0}};
	if (!a.key.ptr || a.key.len == 0)
		return trk_missing(err, "key");
	cn_code rc = trk_run_modify(st, cn_DeleteTag_run_id(req), cn_DeleteTag_run_uuid(req),
	                            trk_edit_delete_tag, &a, NULL, b, NULL, err);
	if (rc == CN_OK)
		*resp = trk_empty(b);
	return rc;
}
