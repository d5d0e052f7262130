/*
 * core/tracking/run_store.c: runs in RocksDB -- run ids, keys of the run
 * column families, decoding and building RunInfo, latest-metric and
 * history-point encodings, and the full Run answer (info, data, inputs).
 * The layout is described in tracking.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/ids.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

const cn_fb_str trk_active_stage = {"active", 6};
const cn_fb_str trk_deleted_stage = {"deleted", 7};

bool trk_str_is(cn_fb_str a, cn_fb_str b)
{
	return a.ptr && a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static int trk_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

cn_code trk_run_resolve(cn_fb_str run_id, cn_fb_str run_uuid, uint8_t id[16], char hex[33],
                        cn_err *err)
{
	cn_fb_str s = run_id.ptr && run_id.len ? run_id : run_uuid;
	if (!s.ptr || s.len == 0)
		return trk_missing(err, "run_id");
	if (!cn_id_is_hex32(s.ptr, s.len))
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST, "Run with id=%.*s not found",
		                  (int)s.len, s.ptr);
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(trk_hexval(s.ptr[2 * i]) << 4 | trk_hexval(s.ptr[2 * i + 1]));
	memcpy(hex, s.ptr, 32);
	hex[32] = '\0';
	return CN_OK;
}

pthread_mutex_t *trk_run_stripe(trk_state *s, const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof h);
	return &s->run_stripes[h % TRK_LOCK_STRIPES];
}

void trk_run_key(cn_key *k, const uint8_t id[16])
{
	cn_key_init(k);
	cn_key_raw(k, id, 16);
}

void trk_run_sub_key(cn_key *k, const uint8_t id[16], cn_fb_str sub)
{
	trk_run_key(k, id);
	if (sub.ptr)
		cn_key_str(k, sub.ptr, sub.len);
}

void trk_metric_key(cn_key *k, const uint8_t id[16], cn_fb_str key, int64_t step, int64_t ts,
                    uint64_t seq)
{
	trk_run_sub_key(k, id, key);
	cn_key_i64(k, step);
	cn_key_i64(k, ts);
	cn_key_u64(k, seq);
}

static cn_code trk_run_view(const uint8_t *buf, size_t len, const uint8_t id[16], trk_run *r,
                            cn_err *err)
{
	memset(r, 0, sizeof *r);
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_RunInfo, buf, len, err) != CN_OK)
		return cn_err_set(err, CN_DATA_LOSS, "stored run is corrupt: %s", err->msg);
	cn_fb_table t = cn_fb_root(buf);
	cn_fb_str hex = cn_RunInfo_run_id(t);
	if (!cn_id_is_hex32(hex.ptr, hex.len))
		return cn_err_set(err, CN_DATA_LOSS, "stored run has a bad id");
	memcpy(r->id, id, 16);
	memcpy(r->hex, hex.ptr, 32);
	r->hex[32] = '\0';
	r->run_name = cn_RunInfo_run_name(t);
	r->experiment_id = cn_RunInfo_experiment_id(t);
	r->user_id = cn_RunInfo_user_id(t);
	r->artifact_uri = cn_RunInfo_artifact_uri(t);
	r->lifecycle_stage = cn_RunInfo_lifecycle_stage(t);
	r->status = cn_RunInfo_status(t);
	r->start_time = cn_RunInfo_start_time(t);
	r->has_end_time = cn_RunInfo_has_end_time(t);
	r->end_time = cn_RunInfo_end_time(t);
	r->has_deleted_time = cn_RunInfo_has_deleted_time(t);
	r->deleted_time = cn_RunInfo_deleted_time(t);
	return CN_OK;
}

cn_code trk_run_load(trk_state *s, const uint8_t id[16], cn_kv_val *val, trk_run *r, cn_err *err)
{
	cn_key k;
	trk_run_key(&k, id);
	cn_code rc = cn_kv_get(s->db, TRK_CF_RUNS, k.b, k.len, val, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		char hex[33];
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", id[i]);
		return cn_err_set(err, rc, "Run with id=%s not found", hex);
	}
	if (rc != CN_OK)
		return rc;
	rc = trk_run_view(val->data, val->len, id, r, err);
	if (rc != CN_OK)
		cn_kv_val_release(val);
	return rc;
}

cn_code trk_run_require_active(const trk_run *r, cn_err *err)
{
	if (trk_str_is(r->lifecycle_stage, trk_active_stage))
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "The run %s must be in the 'active' state. Current state is %.*s.",
	                  r->hex, (int)r->lifecycle_stage.len, r->lifecycle_stage.ptr);
}

static cn_fb_ref trk_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

/* stored: the form kept in the runs column family, which adds deleted_time. */
static cn_fb_ref trk_run_info_build_as(cn_fb_builder *b, const trk_run *r, bool stored)
{
	cn_fb_ref id = cn_fb_create_string(b, r->hex, 32);
	cn_fb_ref uuid = cn_fb_create_string(b, r->hex, 32);
	cn_fb_ref name = trk_str(b, r->run_name);
	cn_fb_ref exp = trk_str(b, r->experiment_id);
	cn_fb_ref user = trk_str(b, r->user_id);
	cn_fb_ref uri = trk_str(b, r->artifact_uri);
	cn_fb_ref stage = trk_str(b, r->lifecycle_stage);
	cn_RunInfo_start(b);
	cn_RunInfo_add_run_id(b, id);
	cn_RunInfo_add_run_uuid(b, uuid);
	if (name)
		cn_RunInfo_add_run_name(b, name);
	if (exp)
		cn_RunInfo_add_experiment_id(b, exp);
	if (user)
		cn_RunInfo_add_user_id(b, user);
	cn_RunInfo_add_status(b, r->status);
	cn_RunInfo_add_start_time(b, r->start_time);
	if (r->has_end_time)
		cn_RunInfo_add_end_time(b, r->end_time);
	if (uri)
		cn_RunInfo_add_artifact_uri(b, uri);
	if (stage)
		cn_RunInfo_add_lifecycle_stage(b, stage);
	if (stored && r->has_deleted_time)
		cn_RunInfo_add_deleted_time(b, r->deleted_time);
	return cn_RunInfo_end(b);
}

cn_fb_ref trk_run_info_build(cn_fb_builder *b, const trk_run *r)
{
	return trk_run_info_build_as(b, r, false);
}

cn_code trk_run_put(cn_kv_batch *batch, const trk_run *r, bool index, cn_err *err)
{
	cn_fb_builder *b = cn_fb_builder_new(512);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	const uint8_t *p;
	size_t len;
	cn_fb_ref root = trk_run_info_build_as(b, r, true);
	if (!root || !cn_fb_finish(b, root, &p, &len)) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_key k;
	trk_run_key(&k, r->id);
	cn_kv_batch_put(batch, TRK_CF_RUNS, k.b, k.len, p, len);
	cn_fb_builder_free(b);
	if (index) {
		uint64_t exp = 0;
		if (!trk_parse_experiment_id(r->experiment_id.ptr, r->experiment_id.len, &exp))
			return cn_err_set(err, CN_INTERNAL_ERROR, "run has a bad experiment id");
		cn_key_init(&k);
		cn_key_u64(&k, exp);
		cn_key_i64(&k, r->start_time);
		cn_key_raw(&k, r->id, 16);
		cn_kv_batch_put(batch, TRK_CF_RUNS_BY_EXPERIMENT, k.b, k.len, "", 0);
	}
	return CN_OK;
}

/* Packed little-endian-of-the-host structs would tie the files to one
 * architecture: store the three fields big-endian. */
static void trk_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t trk_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t trk_dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double trk_bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

void trk_latest_pack(const trk_latest *l, uint8_t out[24])
{
	trk_put_u64(out, trk_dbits(l->value));
	trk_put_u64(out + 8, (uint64_t)l->timestamp);
	trk_put_u64(out + 16, (uint64_t)l->step);
}

bool trk_latest_unpack(const uint8_t *p, size_t len, trk_latest *l)
{
	if (len != 24)
		return false;
	l->value = trk_bitsd(trk_get_u64(p));
	l->timestamp = (int64_t)trk_get_u64(p + 8);
	l->step = (int64_t)trk_get_u64(p + 16);
	return true;
}

bool trk_latest_newer(const trk_latest *n, const trk_latest *old)
{
	if (n->step != old->step)
		return n->step > old->step;
	if (n->timestamp != old->timestamp)
		return n->timestamp > old->timestamp;
	return n->value > old->value;
}

uint8_t *trk_point_pack(double v, cn_fb_str model_id, cn_fb_str ds_name, cn_fb_str ds_digest,
                        size_t *len)
{
	bool extra = model_id.len || ds_name.len || ds_digest.len;
	size_t n = 8 + (extra ? 12 + (size_t)model_id.len + ds_name.len + ds_digest.len : 0);
	uint8_t *p = malloc(n);
	if (!p)
		return NULL;
	trk_put_u64(p, trk_dbits(v));
	if (extra) {
		size_t at = 8;
		const cn_fb_str parts[3] = {model_id, ds_name, ds_digest};
		for (int i = 0; i < 3; i++) {
			uint32_t l = parts[i].len;
			p[at] = (uint8_t)(l >> 24);
			p[at + 1] = (uint8_t)(l >> 16);
			p[at + 2] = (uint8_t)(l >> 8);
			p[at + 3] = (uint8_t)l;
			if (l)
				memcpy(p + at + 4, parts[i].ptr, l);
			at += 4 + l;
		}
	}
	*len = n;
	return p;
}

bool trk_point_unpack(const uint8_t *p, size_t len, double *v, cn_fb_str *model_id,
                      cn_fb_str *ds_name, cn_fb_str *ds_digest)
{
	if (len < 8)
		return false;
	*v = trk_bitsd(trk_get_u64(p));
	cn_fb_str *parts[3] = {model_id, ds_name, ds_digest};
	size_t at = 8;
	for (int i = 0; i < 3; i++) {
		*parts[i] = (cn_fb_str){NULL, 0};
		if (at == len)
			continue;
		if (len - at < 4)
			return false;
		uint32_t l = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
		             (uint32_t)p[at + 2] << 8 | p[at + 3];
		if (len - at - 4 < l)
			return false;
		*parts[i] = (cn_fb_str){(const char *)p + at + 4, l};
		at += 4 + l;
	}
	return at == len;
}

/* Entries of one run in a (run id + key string) column family, built into
 * a vector of Param/RunTag/Metric tables. */
enum trk_kind { TRK_KIND_PARAM, TRK_KIND_TAG, TRK_KIND_METRIC };

static cn_code trk_scan_entries(trk_state *s, cn_fb_builder *b, int cf, enum trk_kind kind,
                                const uint8_t id[16], cn_fb_ref *out, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, cf, id, 16);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t cap = 16, n = 0;
	cn_fb_ref *refs = malloc(cap * sizeof *refs);
	char *kbuf = malloc(CN_KEY_MAX);
	cn_code rc = refs && kbuf ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, keylen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, kbuf, CN_KEY_MAX, &keylen)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run entry key");
			break;
		}
		if (n == cap) {
			cn_fb_ref *nr = realloc(refs, 2 * cap * sizeof *refs);
			if (!nr) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			refs = nr;
			cap *= 2;
		}
		cn_fb_ref kr = cn_fb_create_string(b, kbuf, keylen);
		if (kind == TRK_KIND_METRIC) {
			trk_latest l;
			if (!trk_latest_unpack(v, vlen, &l)) {
				rc = cn_err_set(err, CN_DATA_LOSS, "corrupt latest metric");
				break;
			}
			cn_Metric_start(b);
			cn_Metric_add_key(b, kr);
			cn_Metric_add_value(b, l.value);
			cn_Metric_add_timestamp(b, l.timestamp);
			cn_Metric_add_step(b, l.step);
			refs[n++] = cn_Metric_end(b);
		} else {
			cn_fb_ref vr = cn_fb_create_string(b, (const char *)v, vlen);
			if (kind == TRK_KIND_PARAM) {
				cn_Param_start(b);
				cn_Param_add_key(b, kr);
				cn_Param_add_value(b, vr);
				refs[n++] = cn_Param_end(b);
			} else {
				cn_RunTag_start(b);
				cn_RunTag_add_key(b, kr);
				cn_RunTag_add_value(b, vr);
				refs[n++] = cn_RunTag_end(b);
			}
		}
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc == CN_OK)
		*out = n ? cn_fb_create_vec_refs(b, refs, n) : 0;
	free(refs);
	free(kbuf);
	return rc;
}

static cn_code trk_run_build(trk_state *s, cn_fb_builder *b, const trk_run *r, bool with_outputs,
                             cn_fb_ref *out, cn_err *err)
{
	cn_fb_ref metrics = 0, params = 0, tags = 0;
	cn_code rc = trk_scan_entries(s, b, TRK_CF_RUN_LATEST_METRICS, TRK_KIND_METRIC, r->id,
	                              &metrics, err);
	if (rc == CN_OK)
		rc = trk_scan_entries(s, b, TRK_CF_RUN_PARAMS, TRK_KIND_PARAM, r->id, &params, err);
	if (rc == CN_OK)
		rc = trk_scan_entries(s, b, TRK_CF_RUN_TAGS, TRK_KIND_TAG, r->id, &tags, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_ref info = trk_run_info_build(b, r);
	cn_RunData_start(b);
	if (metrics)
		cn_RunData_add_metrics(b, metrics);
	if (params)
		cn_RunData_add_params(b, params);
	if (tags)
		cn_RunData_add_tags(b, tags);
	cn_fb_ref data = cn_RunData_end(b);
	cn_fb_ref inputs = 0, outputs = 0;
	rc = trk_run_inputs_build(s, b, r, &inputs, err);
	if (rc == CN_OK && with_outputs)
		rc = trk_run_outputs_build(s, b, r, &outputs, err);
	if (rc != CN_OK)
		return rc;
	cn_Run_start(b);
	cn_Run_add_info(b, info);
	cn_Run_add_data(b, data);
	cn_Run_add_inputs(b, inputs);
	if (outputs)
		cn_Run_add_outputs(b, outputs);
	*out = cn_Run_end(b);
	return CN_OK;
}

cn_code trk_run_build_full(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                           cn_err *err)
{
	return trk_run_build(s, b, r, false, out, err);
}

cn_code trk_run_build_with_outputs(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                                   cn_err *err)
{
	return trk_run_build(s, b, r, true, out, err);
}
