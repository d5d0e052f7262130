/*
 * core/tracking/run_outputs.c: MLflow's LogOutputs (runs/outputs) -- the
 * logged models a run produced, each at a step -- and the RunOutputs that
 * runs/get returns (absent when the run has none). As MLflow's SQL store:
 * the run must exist and be active, the model ids are not checked. A model
 * logged again as an output of the same run keeps one link, with the latest
 * step.
 */
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

static cn_code trk_outputs_locked(trk_state *s, const uint8_t id[16], cn_fb_vec models,
                                  cn_kv_batch *batch, cn_err *err)
{
	cn_kv_val val;
	trk_run r;
	cn_code rc = trk_run_load(s, id, &val, &r, err);
	if (rc != CN_OK)
		return rc;
	rc = trk_run_require_active(&r, err);
	cn_kv_val_release(&val);
	for (uint32_t i = 0; rc == CN_OK && i < models.n; i++) {
		cn_fb_table m = cn_fb_vec_table(models, i);
		cn_key k;
		trk_run_sub_key(&k, id, cn_ModelOutput_model_id(m));
		if (k.overflow) {
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "model_id is too long");
			break;
		}
		uint64_t step = (uint64_t)cn_ModelOutput_step(m);
		uint8_t v[8];
		for (int j = 7; j >= 0; j--, step >>= 8)
			v[j] = (uint8_t)step;
		cn_kv_batch_put(batch, TRK_CF_RUN_MODEL_OUTPUTS, k.b, k.len, v, sizeof v);
	}
	if (rc == CN_OK && models.n)
		rc = cn_kv_write(s->db, batch, err);
	return rc;
}

cn_code trk_log_outputs(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                        cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(cn_LogOutputs_run_id(req), (cn_fb_str){NULL, 0}, id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_vec models = cn_LogOutputs_models(req);
	for (uint32_t i = 0; i < models.n; i++) {
		cn_fb_str mid = cn_ModelOutput_model_id(cn_fb_vec_table(models, i));
		if (!mid.ptr || mid.len == 0)
			return trk_missing(err, "model_id");
	}
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	rc = trk_outputs_locked(s, id, models, batch, err);
	pthread_mutex_unlock(mu);
	cn_kv_batch_free(batch);
	if (rc != CN_OK)
		return rc;
	cn_Empty_start(b);
	*resp = cn_Empty_end(b);
	return CN_OK;
}

cn_code trk_run_outputs_build(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                              cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUN_MODEL_OUTPUTS, r->id, 16);
	char *kb = malloc(CN_KEY_MAX);
	cn_code rc = it && kb ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref *refs = NULL;
	size_t n = 0, cap = 0;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, ml;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, kb, CN_KEY_MAX, &ml) || pos != klen ||
		    vlen != 8) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run model output");
			break;
		}
		uint64_t step = 0;
		for (int j = 0; j < 8; j++)
			step = step << 8 | v[j];
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 4;
			cn_fb_ref *g = realloc(refs, nc * sizeof *g);
			if (!g) {
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
				break;
			}
			refs = g;
			cap = nc;
		}
		cn_fb_ref mid = cn_fb_create_string(b, kb, ml);
		cn_ModelOutput_start(b);
		cn_ModelOutput_add_model_id(b, mid);
		cn_ModelOutput_add_step(b, (int64_t)step);
		refs[n++] = cn_ModelOutput_end(b);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(kb);
	/* No outputs: no RunOutputs either, so runs/get and runs/search show a
	 * run the same way. */
	*out = 0;
	if (rc == CN_OK && n) {
		cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, n);
		cn_RunOutputs_start(b);
		cn_RunOutputs_add_model_outputs(b, vec);
		*out = cn_RunOutputs_end(b);
	}
	free(refs);
	return rc;
}
