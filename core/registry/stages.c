/*
 * core/registry/stages.c: the per-stage index of model versions, so the
 * latest version in each stage (get-latest-versions, every model answer's
 * latest_versions) and the versions archive_existing_versions must move are
 * a few seeks instead of a scan of all of a model's versions.
 *
 * Column family version_stages: key = name (key.h string), u8 stage
 * (0 None, 1 Staging, 2 Production, 3 Archived), u64 version; empty value.
 * Every write of a version's stage writes its index entry in the same
 * batch (create, transition, archive, delete, rename, model delete), so the
 * index is exactly as durable as the versions. A database from before the
 * index gets it built once at open (reg_stage_index_backfill).
 */
#include <stdlib.h>
#include <string.h>

#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

static const char *const reg_stage_names[] = {"None", "Staging", "Production", "Archived"};

static int reg_stage_no(const char *stage)
{
	for (int i = 0; stage && i < 4; i++)
		if (!strcmp(reg_stage_names[i], stage))
			return i;
	return 0;
}

static void reg_stage_key(cn_key *k, const char *name, size_t len, int stage, uint64_t v)
{
	cn_key_init(k);
	cn_key_str(k, name, len);
	cn_key_u8(k, (uint8_t)stage);
	cn_key_u64(k, v);
}

void reg_stage_move(cn_kv_batch *b, const char *name, size_t len, uint64_t v, const char *old_stage,
                    const char *new_stage)
{
	cn_key k;
	if (old_stage) {
		reg_stage_key(&k, name, len, reg_stage_no(old_stage), v);
		cn_kv_batch_del(b, REG_CF_STAGES, k.b, k.len);
	}
	if (new_stage) {
		reg_stage_key(&k, name, len, reg_stage_no(new_stage), v);
		cn_kv_batch_put(b, REG_CF_STAGES, k.b, k.len, "", 0);
	}
}

/* The versions of one stage, in order (u64 each, malloc'd in *out). */
cn_code reg_stage_versions(reg_state *s, const char *name, size_t len, const char *stage,
                           uint64_t **out, size_t *n, cn_err *err)
{
	cn_key pre;
	cn_key_init(&pre);
	cn_key_str(&pre, name, len);
	cn_key_u8(&pre, (uint8_t)reg_stage_no(stage));
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_STAGES, pre.b, pre.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t kl, pos = pre.len;
		const uint8_t *k = cn_kv_iter_key(it, &kl);
		uint64_t v;
		if (!cn_key_get_u64(k, kl, &pos, &v))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(*out, cap * sizeof *nv);
			if (!nv) {
				cn_kv_iter_free(it);
				free(*out);
				*out = NULL;
				return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			}
			*out = nv;
		}
		(*out)[(*n)++] = v;
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

/* First (which = false) or last version in a stage; 0 when none. */
static uint64_t reg_stage_end(reg_state *s, const char *name, size_t len, int stage, bool last)
{
	cn_key pre;
	cn_key_init(&pre);
	cn_key_str(&pre, name, len);
	cn_key_u8(&pre, (uint8_t)stage);
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_STAGES, pre.b, pre.len);
	uint64_t v = 0;
	if (!it)
		return 0;
	if (last)
		cn_kv_iter_seek_last(it);
	else
		cn_kv_iter_seek_first(it);
	if (cn_kv_iter_valid(it)) {
		size_t kl, pos = pre.len;
		const uint8_t *k = cn_kv_iter_key(it, &kl);
		if (!cn_key_get_u64(k, kl, &pos, &v))
			v = 0;
	}
	cn_kv_iter_free(it);
	return v;
}

cn_code reg_stage_latest(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err)
{
	/* MLflow's order: stages in the order their first version appears. */
	uint64_t first[4], latest[4];
	int order[4], n = 0;
	for (int st = 0; st < 4; st++) {
		first[st] = reg_stage_end(s, name, len, st, false);
		latest[st] = first[st] ? reg_stage_end(s, name, len, st, true) : 0;
		if (!first[st])
			continue;
		int i = n++;
		for (; i > 0 && first[order[i - 1]] > first[st]; i--)
			order[i] = order[i - 1];
		order[i] = st;
	}
	json_t *arr = json_array();
	cn_code rc = CN_OK;
	for (int i = 0; rc == CN_OK && i < n; i++) {
		json_t *v;
		rc = reg_version_load(s, name, len, latest[order[i]], &v, err);
		if (rc == CN_OK)
			json_array_append_new(arr, v);
	}
	if (rc != CN_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return CN_OK;
}

cn_code reg_stage_index_backfill(reg_state *s, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_STAGES, NULL, 0);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_kv_iter_seek_first(it);
	bool have = cn_kv_iter_valid(it);
	cn_kv_iter_free(it);
	if (have)
		return CN_OK;
	it = cn_kv_iter_new(s->db, REG_CF_VERSIONS, NULL, 0);
	cn_kv_batch *b = cn_kv_batch_new();
	if (!it || !b) {
		cn_kv_iter_free(it);
		cn_kv_batch_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_code rc = CN_OK;
	size_t n = 0;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vl;
		const uint8_t *val = cn_kv_iter_value(it, &vl);
		json_t *v;
		rc = reg_decode_value(CN_TABLE_ModelVersion, val, vl, &v, err);
		if (rc != CN_OK)
			break;
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *ver = json_string_value(json_object_get(v, "version"));
		if (name && ver) {
			reg_stage_move(b, name, strlen(name), strtoull(ver, NULL, 10), NULL,
			               json_string_value(json_object_get(v, "current_stage")));
			n++;
		}
		json_decref(v);
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc == CN_OK && n)
		rc = cn_kv_write(s->db, b, err);
	cn_kv_batch_free(b);
	return rc;
}
