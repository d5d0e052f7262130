/*
 * core/tracking/experiment_store.c: experiments in RocksDB -- decoding a
 * stored Experiment into a view, building one back, loading, storing with
 * its name index, name reservations, and change events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/log.h"
#include "core/store/key.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

bool trk_parse_experiment_id(const char *s, size_t len, uint64_t *out)
{
	/* Canonical decimal only ("7", not "07" or "+7"), so that one experiment
	 * has one id string. */
	if (!s || len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

cn_code trk_experiment_view(const uint8_t *buf, size_t len, trk_experiment *out, cn_err *err)
{
	memset(out, 0, sizeof *out);
	/* Stored values are our own writes, but a damaged disk must produce an
	 * error, not a wild read. */
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_Experiment, buf, len, err) != CN_OK)
		return cn_err_set(err, CN_DATA_LOSS, "stored experiment is corrupt: %s", err->msg);
	cn_fb_table t = cn_fb_root(buf);
	cn_fb_str id = cn_Experiment_experiment_id(t);
	if (!trk_parse_experiment_id(id.ptr, id.len, &out->id))
		return cn_err_set(err, CN_DATA_LOSS, "stored experiment has a bad id");
	out->name = cn_Experiment_name(t);
	out->artifact_location = cn_Experiment_artifact_location(t);
	out->lifecycle_stage = cn_Experiment_lifecycle_stage(t);
	out->creation_time = cn_Experiment_creation_time(t);
	out->last_update_time = cn_Experiment_last_update_time(t);
	cn_fb_vec tags = cn_Experiment_tags(t);
	if (tags.n) {
		out->tags = calloc(tags.n, sizeof *out->tags);
		if (!out->tags)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		for (uint32_t i = 0; i < tags.n; i++) {
			cn_fb_table tag = cn_fb_vec_table(tags, i);
			out->tags[i].key = cn_ExperimentTag_key(tag);
			out->tags[i].value = cn_ExperimentTag_value(tag);
		}
		out->ntags = tags.n;
	}
	return CN_OK;
}

void trk_experiment_view_free(trk_experiment *e)
{
	free(e->tags);
	e->tags = NULL;
	e->ntags = 0;
}

static cn_fb_ref trk_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

cn_fb_ref trk_experiment_build(cn_fb_builder *b, const trk_experiment *e)
{
	cn_fb_ref tags = 0;
	if (e->ntags) {
		cn_fb_ref stack_refs[32] = {0};
		cn_fb_ref *refs = e->ntags <= 32 ? stack_refs : malloc(e->ntags * sizeof *refs);
		if (!refs)
			return 0;
		for (uint32_t i = 0; i < e->ntags; i++) {
			cn_fb_ref k = trk_str(b, e->tags[i].key);
			cn_fb_ref v = trk_str(b, e->tags[i].value);
			cn_ExperimentTag_start(b);
			cn_ExperimentTag_add_key(b, k);
			cn_ExperimentTag_add_value(b, v);
			refs[i] = cn_ExperimentTag_end(b);
		}
		tags = cn_fb_create_vec_refs(b, refs, e->ntags);
		if (refs != stack_refs)
			free(refs);
	}
	char idbuf[24];
	int idlen = snprintf(idbuf, sizeof idbuf, "%" PRIu64, e->id);
	cn_fb_ref id = cn_fb_create_string(b, idbuf, (size_t)idlen);
	cn_fb_ref name = trk_str(b, e->name);
	cn_fb_ref loc = trk_str(b, e->artifact_location);
	cn_fb_ref stage = trk_str(b, e->lifecycle_stage);
	cn_Experiment_start(b);
	cn_Experiment_add_experiment_id(b, id);
	cn_Experiment_add_name(b, name);
	cn_Experiment_add_artifact_location(b, loc);
	cn_Experiment_add_lifecycle_stage(b, stage);
	cn_Experiment_add_last_update_time(b, e->last_update_time);
	cn_Experiment_add_creation_time(b, e->creation_time);
	if (tags)
		cn_Experiment_add_tags(b, tags);
	return cn_Experiment_end(b);
}

cn_code trk_experiment_serialize(const trk_experiment *e, uint8_t **out, size_t *len, cn_err *err)
{
	cn_fb_builder *b = cn_fb_builder_new(512);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	const uint8_t *p;
	cn_fb_ref root = trk_experiment_build(b, e);
	if (!root || !cn_fb_finish(b, root, &p, len) || !(*out = malloc(*len))) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	memcpy(*out, p, *len);
	cn_fb_builder_free(b);
	return CN_OK;
}

static void trk_id_key(cn_key *k, uint64_t id)
{
	cn_key_init(k);
	cn_key_u64(k, id);
}

cn_code trk_experiment_load(trk_state *s, uint64_t id, cn_kv_val *val, trk_experiment *e,
                            cn_err *err)
{
	cn_key k;
	trk_id_key(&k, id);
	cn_code rc = cn_kv_get(s->db, TRK_CF_EXPERIMENTS, k.b, k.len, val, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "No Experiment with id=%" PRIu64 " exists", id);
	if (rc != CN_OK)
		return rc;
	rc = trk_experiment_view(val->data, val->len, e, err);
	if (rc != CN_OK)
		cn_kv_val_release(val);
	return rc;
}

cn_code trk_experiment_id_by_name(trk_state *s, const char *name, size_t len, uint64_t *id,
                                  cn_err *err)
{
	cn_kv_val v;
	cn_code rc = cn_kv_get(s->db, TRK_CF_EXPERIMENT_NAMES, name, len, &v, err);
	if (rc != CN_OK)
		return rc;
	bool ok = v.len == 8;
	if (ok) {
		size_t pos = 0;
		ok = cn_key_get_u64(v.data, v.len, &pos, id);
	}
	cn_kv_val_release(&v);
	return ok ? CN_OK : cn_err_set(err, CN_DATA_LOSS, "corrupt experiment name index");
}

cn_code trk_experiment_store(trk_state *s, const trk_experiment *e, const cn_fb_str *old_name,
                             const char *topic, const char *request_id, cn_err *err)
{
	uint8_t *val;
	size_t vlen;
	cn_code rc = trk_experiment_serialize(e, &val, &vlen, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch) {
		free(val);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_key k, idv;
	trk_id_key(&k, e->id);
	trk_id_key(&idv, e->id);
	cn_kv_batch_put(batch, TRK_CF_EXPERIMENTS, k.b, k.len, val, vlen);
	if (old_name && old_name->ptr)
		cn_kv_batch_del(batch, TRK_CF_EXPERIMENT_NAMES, old_name->ptr, old_name->len);
	cn_kv_batch_put(batch, TRK_CF_EXPERIMENT_NAMES, e->name.ptr, e->name.len, idv.b, idv.len);
	rc = cn_kv_write(s->db, batch, err);
	cn_kv_batch_free(batch);
	/* The event carries the bytes just stored: subscribers see what is durable. */
	if (rc == CN_OK && topic && s->events)
		cn_bus_publish(s->events, topic, request_id, val, vlen);
	free(val);
	return rc;
}

static int trk_pending_find(trk_state *s, const char *name, size_t len)
{
	for (int i = 0; i < s->npending; i++)
		if (s->pending[i].len == len && memcmp(s->pending[i].name, name, len) == 0)
			return i;
	return -1;
}

cn_code trk_name_reserve(trk_state *s, const char *name, size_t len, cn_err *err)
{
	pthread_mutex_lock(&s->names_mu);
	cn_code rc = CN_OK;
	uint64_t id;
	/* Bounded reservations: wait for a slot rather than grow without limit. */
	while (s->npending == TRK_PENDING_MAX)
		pthread_cond_wait(&s->names_cv, &s->names_mu);
	if (trk_pending_find(s, name, len) >= 0) {
		rc = CN_RESOURCE_ALREADY_EXISTS;
	} else {
		cn_code got = trk_experiment_id_by_name(s, name, len, &id, err);
		if (got == CN_OK)
			rc = CN_RESOURCE_ALREADY_EXISTS;
		else if (got != CN_RESOURCE_DOES_NOT_EXIST)
			rc = got;
	}
	if (rc == CN_OK) {
		char *copy = malloc(len ? len : 1);
		if (!copy) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		} else {
			memcpy(copy, name, len);
			s->pending[s->npending].name = copy;
			s->pending[s->npending++].len = len;
		}
	}
	pthread_mutex_unlock(&s->names_mu);
	if (rc == CN_RESOURCE_ALREADY_EXISTS)
		cn_err_set(err, rc, "Experiment(name=%.*s) already exists.", (int)len, name);
	return rc;
}

void trk_name_release(trk_state *s, const char *name, size_t len)
{
	pthread_mutex_lock(&s->names_mu);
	int i = trk_pending_find(s, name, len);
	if (i >= 0) {
		free(s->pending[i].name);
		s->pending[i] = s->pending[--s->npending];
		pthread_cond_signal(&s->names_cv);
	}
	pthread_mutex_unlock(&s->names_mu);
}
