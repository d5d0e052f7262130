/*
 * core/tracking/logged_model_store.c: how MLflow 3 logged models are kept --
 * ids, the stored attributes, loading a model with its tags, params and
 * metrics, building the LoggedModel reply, and the hook that puts a run's
 * metric point on the model it names.
 *
 * A model's metrics are kept as MLflow's logged_model_metrics rows are
 * (every point), keyed so that the latest point of each (key, dataset name,
 * dataset digest) is the last of its group: (timestamp, step) order, as
 * MLflow ranks them, then the write sequence. Points are blind writes in the
 * run's own batch, so logging never reads the model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

static int trk_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool trk_lm_parse_id(cn_fb_str s, uint8_t id[16])
{
	if (!s.ptr || s.len != 34 || s.ptr[0] != 'm' || s.ptr[1] != '-')
		return false;
	for (int i = 0; i < 16; i++) {
		int hi = trk_hexval(s.ptr[2 + 2 * i]), lo = trk_hexval(s.ptr[3 + 2 * i]);
		if (hi < 0 || lo < 0)
			return false;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void trk_lm_format_id(const uint8_t id[16], char out[35])
{
	out[0] = 'm';
	out[1] = '-';
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 + 2 * i, 3, "%02x", id[i]);
}

cn_code trk_lm_not_found(cn_err *err, cn_fb_str id)
{
	return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST, "Logged model with ID '%.*s' not found.",
	                  (int)id.len, id.ptr ? id.ptr : "");
}

pthread_mutex_t *trk_lm_stripe(trk_state *s, const uint8_t id[16])
{
	/* Stripes of their own: `cairn gc` purges an experiment's models while
	 * holding the experiment's stripe. */
	uint64_t h;
	memcpy(&h, id, sizeof h);
	return &s->model_stripes[h % TRK_LOCK_STRIPES];
}

static void trk_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t trk_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void trk_lm_metric_put(cn_kv_batch *batch, cn_fb_str model_id, cn_fb_str key, cn_fb_str ds_name,
                       cn_fb_str ds_digest, int64_t timestamp, int64_t step, uint64_t seq,
                       double value, const uint8_t run[16])
{
	uint8_t id[16];
	if (!trk_lm_parse_id(model_id, id))
		return;
	cn_key k;
	cn_key_init(&k);
	cn_key_raw(&k, id, 16);
	cn_key_str(&k, key.ptr, key.len);
	cn_key_str(&k, ds_name.ptr ? ds_name.ptr : "", ds_name.len);
	cn_key_str(&k, ds_digest.ptr ? ds_digest.ptr : "", ds_digest.len);
	cn_key_i64(&k, timestamp);
	cn_key_i64(&k, step);
	cn_key_u64(&k, seq);
	if (k.overflow) /* the run's own key is shorter and was checked */
		return;
	uint8_t v[24];
	uint64_t bits;
	memcpy(&bits, &value, sizeof bits);
	trk_put_be64(v, bits);
	memcpy(v + 8, run, 16);
	cn_kv_batch_put(batch, TRK_CF_LOGGED_MODEL_METRICS, k.b, k.len, v, sizeof v);
}

static char *trk_dup(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		if (n)
			memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

void trk_lm_free(trk_lm *m)
{
	for (uint32_t i = 0; i < m->ntags; i++) {
		free(m->tags[i].key);
		free(m->tags[i].value);
	}
	for (uint32_t i = 0; i < m->nparams; i++) {
		free(m->params[i].key);
		free(m->params[i].value);
	}
	for (uint32_t i = 0; i < m->nmetrics; i++) {
		free(m->metrics[i].key);
		free(m->metrics[i].ds_name);
		free(m->metrics[i].ds_digest);
	}
	free(m->tags);
	free(m->params);
	free(m->metrics);
	free(m->buf);
	memset(m, 0, sizeof *m);
}

/* Key/value entries under the model's prefix in cf (tags, params). */
static cn_code trk_lm_load_kv(trk_state *s, int cf, const uint8_t id[16], trk_lm_kv **out,
                              uint32_t *nout, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, cf, id, 16);
	char *kb = malloc(CN_KEY_MAX);
	cn_code rc = it && kb ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	uint32_t n = 0, cap = 0;
	trk_lm_kv *v = NULL;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, kl;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *val = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, kb, CN_KEY_MAX, &kl) || pos != klen) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt logged model key");
			break;
		}
		if (n == cap) {
			uint32_t nc = cap ? 2 * cap : 8;
			trk_lm_kv *g = realloc(v, nc * sizeof *g);
			if (!g) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			v = g;
			cap = nc;
		}
		v[n] = (trk_lm_kv){trk_dup(kb, kl), trk_dup((const char *)val, vlen), (uint32_t)kl,
		                   (uint32_t)vlen};
		if (!v[n].key || !v[n].value) {
			free(v[n].key);
			free(v[n].value);
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		n++;
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(kb);
	*out = v;
	*nout = n;
	return rc;
}

/* Read the point the iterator is on (its group's prefix is gl bytes long)
 * into x. */
static bool trk_lm_point(cn_kv_iter *it, size_t gl, trk_lm_metric *x)
{
	size_t klen, vlen, pos = gl;
	uint64_t seq;
	const uint8_t *k = cn_kv_iter_key(it, &klen);
	const uint8_t *v = cn_kv_iter_value(it, &vlen);
	if (!cn_key_get_i64(k, klen, &pos, &x->timestamp) ||
	    !cn_key_get_i64(k, klen, &pos, &x->step) || !cn_key_get_u64(k, klen, &pos, &seq) ||
	    pos != klen || vlen != 24)
		return false;
	uint64_t bits = trk_get_be64(v);
	memcpy(&x->value, &bits, sizeof bits);
	memcpy(x->run, v + 8, 16);
	return true;
}

/* Whether the iterator is on a point of the group whose prefix is g. */
static bool trk_lm_in_group(cn_kv_iter *it, const uint8_t *g, size_t gl)
{
	size_t klen;
	const uint8_t *k = cn_kv_iter_valid(it) ? cn_kv_iter_key(it, &klen) : NULL;
	return k && klen > gl && memcmp(k, g, gl) == 0;
}

/* Steps taken through a group before jumping to its end. */
#define TRK_LM_WALK 8

/* The latest point of each (key, dataset name, digest): the last of its
 * group in key order. Short groups are walked; a long one (a metric's whole
 * history) is left by a jump: its keys share the encoded (id, key, name,
 * digest) prefix and end in 24 bytes of numbers, so that prefix followed by
 * 25 0xFF bytes sorts after the whole group and before the next one -- one
 * seek_for_prev finds the group's last point and one seek the next group. */
static cn_code trk_lm_load_metrics(trk_state *s, trk_lm *m, cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_LOGGED_MODEL_METRICS, m->id, 16);
	char *kb = malloc(3 * (size_t)CN_KEY_MAX);
	uint8_t *g = malloc(CN_KEY_MAX + 32);
	cn_code rc = it && kb && g ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	char *nb = kb + CN_KEY_MAX, *db = nb + CN_KEY_MAX;
	uint32_t cap = 0;
	if (rc == CN_OK)
		cn_kv_iter_seek_first(it);
	while (rc == CN_OK && cn_kv_iter_valid(it)) {
		size_t klen, pos = 16, kl, nl, dl;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (!cn_key_get_str(k, klen, &pos, kb, CN_KEY_MAX, &kl) ||
		    !cn_key_get_str(k, klen, &pos, nb, CN_KEY_MAX, &nl) ||
		    !cn_key_get_str(k, klen, &pos, db, CN_KEY_MAX, &dl) || pos > CN_KEY_MAX) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt logged model metric");
			break;
		}
		size_t gl = pos;
		memcpy(g, k, gl);
		memset(g + gl, 0xFF, 25);
		if (m->nmetrics == cap) {
			uint32_t nc = cap ? 2 * cap : 8;
			trk_lm_metric *grown = realloc(m->metrics, nc * sizeof *grown);
			if (!grown) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			m->metrics = grown;
			cap = nc;
		}
		trk_lm_metric *x = &m->metrics[m->nmetrics++];
		*x = (trk_lm_metric){.key = trk_dup(kb, kl),
		                     .ds_name = trk_dup(nb, nl),
		                     .ds_digest = trk_dup(db, dl),
		                     .klen = (uint32_t)kl,
		                     .nlen = (uint32_t)nl,
		                     .dlen = (uint32_t)dl};
		if (!x->key || !x->ds_name || !x->ds_digest) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		bool good = trk_lm_point(it, gl, x);
		for (int steps = 0; good; steps++) {
			cn_kv_iter_next(it);
			if (!trk_lm_in_group(it, g, gl))
				break; /* on the next group, or at the end */
			if (steps == TRK_LM_WALK) {
				cn_kv_iter_seek_for_prev(it, g, gl + 25);
				good = trk_lm_in_group(it, g, gl) && trk_lm_point(it, gl, x);
				cn_kv_iter_seek(it, g, gl + 25);
				break;
			}
			good = trk_lm_point(it, gl, x);
		}
		if (!good)
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt logged model metric");
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(kb);
	free(g);
	return rc;
}

cn_code trk_lm_load(trk_state *s, const uint8_t id[16], bool full, trk_lm *m, cn_err *err)
{
	memset(m, 0, sizeof *m);
	memcpy(m->id, id, 16);
	trk_lm_format_id(id, m->id_str);
	cn_kv_val val;
	cn_code rc = cn_kv_get(s->db, TRK_CF_LOGGED_MODELS, id, 16, &val, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return trk_lm_not_found(err, (cn_fb_str){m->id_str, 34});
	if (rc != CN_OK)
		return rc;
	m->buf = malloc(val.len ? val.len : 1);
	if (m->buf)
		memcpy(m->buf, val.data, val.len);
	size_t len = val.len;
	cn_kv_val_release(&val);
	if (!m->buf)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_StoredLoggedModel, m->buf, len, err) != CN_OK) {
		trk_lm_free(m);
		return cn_err_set(err, CN_DATA_LOSS, "stored logged model is corrupt");
	}
	cn_fb_table t = cn_fb_root(m->buf);
	m->experiment_id = cn_StoredLoggedModel_experiment_id(t);
	m->name = cn_StoredLoggedModel_name(t);
	m->artifact_uri = cn_StoredLoggedModel_artifact_uri(t);
	m->model_type = cn_StoredLoggedModel_model_type(t);
	m->source_run_id = cn_StoredLoggedModel_source_run_id(t);
	m->lifecycle_stage = cn_StoredLoggedModel_lifecycle_stage(t);
	m->creation = cn_StoredLoggedModel_creation_timestamp_ms(t);
	m->last_updated = cn_StoredLoggedModel_last_updated_timestamp_ms(t);
	m->status = cn_StoredLoggedModel_status(t);
	if (full) {
		rc = trk_lm_load_kv(s, TRK_CF_LOGGED_MODEL_TAGS, id, &m->tags, &m->ntags, err);
		if (rc == CN_OK)
			rc = trk_lm_load_kv(s, TRK_CF_LOGGED_MODEL_PARAMS, id, &m->params,
			                    &m->nparams, err);
		if (rc == CN_OK)
			rc = trk_lm_load_metrics(s, m, err);
		if (rc != CN_OK)
			trk_lm_free(m);
	}
	return rc;
}

static cn_fb_ref trk_opt_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

cn_code trk_lm_put(cn_kv_batch *batch, const trk_lm *m, uint64_t exp, bool index, cn_err *err)
{
	cn_fb_builder *b = cn_fb_builder_new(512);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref id = cn_fb_create_string(b, m->id_str, 34);
	cn_fb_ref ex = trk_opt_str(b, m->experiment_id);
	cn_fb_ref name = trk_opt_str(b, m->name);
	cn_fb_ref uri = trk_opt_str(b, m->artifact_uri);
	cn_fb_ref type = trk_opt_str(b, m->model_type);
	cn_fb_ref src = trk_opt_str(b, m->source_run_id);
	cn_fb_ref stage = trk_opt_str(b, m->lifecycle_stage);
	cn_StoredLoggedModel_start(b);
	cn_StoredLoggedModel_add_model_id(b, id);
	if (ex)
		cn_StoredLoggedModel_add_experiment_id(b, ex);
	if (name)
		cn_StoredLoggedModel_add_name(b, name);
	cn_StoredLoggedModel_add_creation_timestamp_ms(b, m->creation);
	cn_StoredLoggedModel_add_last_updated_timestamp_ms(b, m->last_updated);
	if (uri)
		cn_StoredLoggedModel_add_artifact_uri(b, uri);
	cn_StoredLoggedModel_add_status(b, m->status);
	if (type)
		cn_StoredLoggedModel_add_model_type(b, type);
	if (src)
		cn_StoredLoggedModel_add_source_run_id(b, src);
	if (stage)
		cn_StoredLoggedModel_add_lifecycle_stage(b, stage);
	cn_fb_ref root = cn_StoredLoggedModel_end(b);
	const uint8_t *p;
	size_t len;
	if (!cn_fb_finish(b, root, &p, &len)) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_kv_batch_put(batch, TRK_CF_LOGGED_MODELS, m->id, 16, p, len);
	cn_fb_builder_free(b);
	if (index) {
		cn_key k;
		cn_key_init(&k);
		cn_key_u64(&k, exp);
		cn_key_raw(&k, m->id, 16);
		cn_kv_batch_put(batch, TRK_CF_LOGGED_MODELS_BY_EXPERIMENT, k.b, k.len, "", 0);
	}
	return CN_OK;
}

static cn_fb_ref trk_kv_vec(cn_fb_builder *b, const trk_lm_kv *kv, uint32_t n, bool tags)
{
	if (n == 0)
		return 0;
	cn_fb_ref stack[32];
	cn_fb_ref *refs = n <= 32 ? stack : malloc(n * sizeof *refs);
	if (!refs)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		cn_fb_ref k = cn_fb_create_string(b, kv[i].key, kv[i].klen);
		cn_fb_ref v = cn_fb_create_string(b, kv[i].value, kv[i].vlen);
		if (tags) {
			cn_LoggedModelTag_start(b);
			cn_LoggedModelTag_add_key(b, k);
			cn_LoggedModelTag_add_value(b, v);
			refs[i] = cn_LoggedModelTag_end(b);
		} else {
			cn_LoggedModelParameter_start(b);
			cn_LoggedModelParameter_add_key(b, k);
			cn_LoggedModelParameter_add_value(b, v);
			refs[i] = cn_LoggedModelParameter_end(b);
		}
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, n);
	if (refs != stack)
		free(refs);
	return vec;
}

static cn_fb_ref trk_metrics_vec(cn_fb_builder *b, const trk_lm *m)
{
	if (m->nmetrics == 0)
		return 0;
	cn_fb_ref *refs = malloc(m->nmetrics * sizeof *refs);
	if (!refs)
		return 0;
	cn_fb_ref mid = cn_fb_create_string(b, m->id_str, 34);
	for (uint32_t i = 0; i < m->nmetrics; i++) {
		const trk_lm_metric *x = &m->metrics[i];
		char run[33];
		for (int j = 0; j < 16; j++)
			snprintf(run + 2 * j, 3, "%02x", x->run[j]);
		cn_fb_ref k = cn_fb_create_string(b, x->key, x->klen);
		cn_fb_ref r = cn_fb_create_string(b, run, 32);
		cn_fb_ref dn = x->nlen ? cn_fb_create_string(b, x->ds_name, x->nlen) : 0;
		cn_fb_ref dd = x->dlen ? cn_fb_create_string(b, x->ds_digest, x->dlen) : 0;
		cn_Metric_start(b);
		cn_Metric_add_key(b, k);
		cn_Metric_add_value(b, x->value);
		cn_Metric_add_timestamp(b, x->timestamp);
		cn_Metric_add_step(b, x->step);
		if (dn)
			cn_Metric_add_dataset_name(b, dn);
		if (dd)
			cn_Metric_add_dataset_digest(b, dd);
		cn_Metric_add_model_id(b, mid);
		cn_Metric_add_run_id(b, r);
		refs[i] = cn_Metric_end(b);
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, m->nmetrics);
	free(refs);
	return vec;
}

cn_fb_ref trk_lm_build(cn_fb_builder *b, const trk_lm *m)
{
	cn_fb_ref tags = trk_kv_vec(b, m->tags, m->ntags, true);
	cn_fb_ref id = cn_fb_create_string(b, m->id_str, 34);
	cn_fb_ref ex = trk_opt_str(b, m->experiment_id);
	cn_fb_ref name = trk_opt_str(b, m->name);
	cn_fb_ref uri = trk_opt_str(b, m->artifact_uri);
	cn_fb_ref type = trk_opt_str(b, m->model_type);
	cn_fb_ref src = trk_opt_str(b, m->source_run_id);
	cn_LoggedModelInfo_start(b);
	cn_LoggedModelInfo_add_model_id(b, id);
	if (ex)
		cn_LoggedModelInfo_add_experiment_id(b, ex);
	if (name)
		cn_LoggedModelInfo_add_name(b, name);
	cn_LoggedModelInfo_add_creation_timestamp_ms(b, m->creation);
	cn_LoggedModelInfo_add_last_updated_timestamp_ms(b, m->last_updated);
	if (uri)
		cn_LoggedModelInfo_add_artifact_uri(b, uri);
	cn_LoggedModelInfo_add_status(b, m->status);
	if (type)
		cn_LoggedModelInfo_add_model_type(b, type);
	if (src)
		cn_LoggedModelInfo_add_source_run_id(b, src);
	if (tags)
		cn_LoggedModelInfo_add_tags(b, tags);
	cn_fb_ref info = cn_LoggedModelInfo_end(b);
	cn_fb_ref params = trk_kv_vec(b, m->params, m->nparams, false);
	cn_fb_ref metrics = trk_metrics_vec(b, m);
	cn_LoggedModelData_start(b);
	if (params)
		cn_LoggedModelData_add_params(b, params);
	if (metrics)
		cn_LoggedModelData_add_metrics(b, metrics);
	cn_fb_ref data = cn_LoggedModelData_end(b);
	cn_LoggedModel_start(b);
	cn_LoggedModel_add_info(b, info);
	cn_LoggedModel_add_data(b, data);
	return cn_LoggedModel_end(b);
}
