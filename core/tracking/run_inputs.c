/*
 * core/tracking/run_inputs.c: MLflow's LogInputs -- datasets (stored once
 * per experiment by name and digest) and model ids linked to a run as its
 * inputs, the RunInputs of runs/get and runs/search, and the inputs the
 * runs/search getter matches `datasets.*` against. Rules and messages follow
 * MLflow's handlers, validation and SQL store (log_inputs).
 */
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "core/service.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define TRK_MAX_DATASET_NAME    500
#define TRK_MAX_DATASET_DIGEST  36
#define TRK_MAX_DATASET_SCHEMA  1048575
#define TRK_MAX_DATASET_SOURCE  65535
#define TRK_MAX_DATASET_PROFILE 16777215
#define TRK_MAX_INPUT_TAG_KEY   255
#define TRK_MAX_INPUT_TAG_VALUE 500

static const cn_fb_str trk_context_tag = {"mlflow.data.context", 19};

/* Python's len() of a UTF-8 string: its code points. */
static size_t trk_chars(cn_fb_str s)
{
	size_t n = 0;
	for (uint32_t i = 0; i < s.len; i++)
		n += ((uint8_t)s.ptr[i] & 0xC0) != 0x80;
	return n;
}

static cn_code trk_check_field(cn_fb_str v, const char *what, size_t limit, bool required,
                               cn_err *err)
{
	if (!v.ptr) {
		if (required)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s cannot be None",
			                  what);
		return CN_OK;
	}
	if (trk_chars(v) > limit)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "%s exceeds the maximum length of %zu", what, limit);
	return CN_OK;
}

/* MLflow's _validate_dataset_inputs. */
static cn_code trk_validate_dataset_input(cn_fb_table in, cn_err *err)
{
	cn_fb_table d = cn_DatasetInput_dataset(in);
	cn_code rc = CN_OK;
	if (rc == CN_OK)
		rc = trk_check_field(cn_Dataset_name(d), "Dataset name", TRK_MAX_DATASET_NAME, true,
		                     err);
	if (rc == CN_OK)
		rc = trk_check_field(cn_Dataset_digest(d), "Dataset digest", TRK_MAX_DATASET_DIGEST,
		                     true, err);
	if (rc == CN_OK && !cn_Dataset_source_type(d).ptr)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Dataset source_type cannot be None");
	if (rc == CN_OK)
		rc = trk_check_field(cn_Dataset_source(d), "Dataset source", TRK_MAX_DATASET_SOURCE,
		                     true, err);
	if (rc == CN_OK)
		rc = trk_check_field(cn_Dataset_schema(d), "Dataset schema", TRK_MAX_DATASET_SCHEMA,
		                     false, err);
	if (rc == CN_OK)
		rc = trk_check_field(cn_Dataset_profile(d), "Dataset profile",
		                     TRK_MAX_DATASET_PROFILE, false, err);
	cn_fb_vec tags = cn_DatasetInput_tags(in);
	for (uint32_t i = 0; rc == CN_OK && i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		rc = trk_check_field(cn_InputTag_key(t), "Input tag key", TRK_MAX_INPUT_TAG_KEY,
		                     true, err);
		if (rc == CN_OK)
			rc = trk_check_field(cn_InputTag_value(t), "Input tag value",
			                     TRK_MAX_INPUT_TAG_VALUE, true, err);
	}
	return rc;
}

static void trk_dataset_key(cn_key *k, uint64_t exp, cn_fb_str name, cn_fb_str digest)
{
	cn_key_init(k);
	cn_key_u64(k, exp);
	cn_key_str(k, name.ptr, name.len);
	cn_key_str(k, digest.ptr, digest.len);
}

static void trk_input_key(cn_key *k, const uint8_t id[16], cn_fb_str name, cn_fb_str digest)
{
	trk_run_sub_key(k, id, name);
	cn_key_str(k, digest.ptr, digest.len);
}

static cn_fb_ref trk_copy_str(cn_fb_builder *b, cn_fb_str s)
{
	return s.ptr ? cn_fb_create_string(b, s.ptr, s.len) : 0;
}

/* Build a Dataset table from a request's or a stored Dataset. */
static cn_fb_ref trk_dataset_copy(cn_fb_builder *b, cn_fb_table d)
{
	cn_fb_ref name = trk_copy_str(b, cn_Dataset_name(d));
	cn_fb_ref digest = trk_copy_str(b, cn_Dataset_digest(d));
	cn_fb_ref stype = trk_copy_str(b, cn_Dataset_source_type(d));
	cn_fb_ref source = trk_copy_str(b, cn_Dataset_source(d));
	cn_fb_ref schema = trk_copy_str(b, cn_Dataset_schema(d));
	cn_fb_ref profile = trk_copy_str(b, cn_Dataset_profile(d));
	cn_Dataset_start(b);
	if (name)
		cn_Dataset_add_name(b, name);
	if (digest)
		cn_Dataset_add_digest(b, digest);
	if (stype)
		cn_Dataset_add_source_type(b, stype);
	if (source)
		cn_Dataset_add_source(b, source);
	if (schema)
		cn_Dataset_add_schema(b, schema);
	if (profile)
		cn_Dataset_add_profile(b, profile);
	return cn_Dataset_end(b);
}

/* A vector of InputTag tables copied from tags (0 when empty). */
static cn_fb_ref trk_tags_copy(cn_fb_builder *b, cn_fb_vec tags, cn_err *err, cn_code *rc)
{
	if (tags.n == 0)
		return 0;
	cn_fb_ref *refs = malloc(tags.n * sizeof *refs);
	if (!refs) {
		*rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		return 0;
	}
	for (uint32_t i = 0; i < tags.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tags, i);
		cn_fb_ref k = trk_copy_str(b, cn_InputTag_key(t));
		cn_fb_ref v = trk_copy_str(b, cn_InputTag_value(t));
		cn_InputTag_start(b);
		if (k)
			cn_InputTag_add_key(b, k);
		if (v)
			cn_InputTag_add_value(b, v);
		refs[i] = cn_InputTag_end(b);
	}
	cn_fb_ref vec = cn_fb_create_vec_refs(b, refs, tags.n);
	free(refs);
	return vec;
}

/* Serialize the Dataset (dataset) or the InputTags of a request's
 * DatasetInput into a fresh buffer and add it to batch under k. */
static cn_code trk_put_built(cn_kv_batch *batch, int cf, const cn_key *k, cn_fb_table src,
                             bool dataset, cn_err *err)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	cn_fb_ref root;
	if (dataset) {
		root = trk_dataset_copy(b, cn_DatasetInput_dataset(src));
	} else {
		cn_fb_ref tags = trk_tags_copy(b, cn_DatasetInput_tags(src), err, &rc);
		cn_InputTags_start(b);
		if (tags)
			cn_InputTags_add_tags(b, tags);
		root = cn_InputTags_end(b);
	}
	const uint8_t *p;
	size_t len;
	if (rc == CN_OK && (!root || !cn_fb_finish(b, root, &p, &len)))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		cn_kv_batch_put(batch, cf, k->b, k->len, p, len);
	cn_fb_builder_free(b);
	return rc;
}

static cn_code trk_exists(trk_state *s, int cf, const cn_key *k, bool *found, cn_err *err)
{
	cn_kv_val v;
	cn_code rc = cn_kv_get(s->db, cf, k->b, k->len, &v, err);
	*found = rc == CN_OK;
	if (rc == CN_OK)
		cn_kv_val_release(&v);
	return rc == CN_RESOURCE_DOES_NOT_EXIST ? CN_OK : rc;
}

static cn_code trk_key_fits(const cn_key *k, cn_err *err)
{
	if (!k->overflow)
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Dataset name and digest (or model id) are too long to store");
}

/* Whether inputs i and j (j < i) name the same dataset. */
static bool trk_same_dataset(cn_fb_vec ds, uint32_t i, uint32_t j)
{
	cn_fb_table a = cn_DatasetInput_dataset(cn_fb_vec_table(ds, i));
	cn_fb_table b = cn_DatasetInput_dataset(cn_fb_vec_table(ds, j));
	cn_fb_str an = cn_Dataset_name(a), bn = cn_Dataset_name(b);
	cn_fb_str ad = cn_Dataset_digest(a), bd = cn_Dataset_digest(b);
	return an.len == bn.len && ad.len == bd.len && !memcmp(an.ptr, bn.ptr, an.len) &&
	       !memcmp(ad.ptr, bd.ptr, ad.len);
}

static cn_code trk_log_inputs_locked(trk_state *s, const uint8_t id[16], cn_fb_vec ds,
                                     cn_fb_vec models, cn_err *err)
{
	cn_kv_val val;
	trk_run r;
	cn_code rc = trk_run_load(s, id, &val, &r, err);
	if (rc != CN_OK)
		return rc;
	uint64_t exp = 0;
	rc = trk_run_require_active(&r, err);
	if (rc == CN_OK && !trk_parse_experiment_id(r.experiment_id.ptr, r.experiment_id.len, &exp))
		rc = cn_err_set(err, CN_DATA_LOSS, "stored run has a bad experiment id");
	cn_kv_val_release(&val);
	for (uint32_t i = 0; rc == CN_OK && i < ds.n; i++)
		rc = trk_validate_dataset_input(cn_fb_vec_table(ds, i), err);
	for (uint32_t i = 0; rc == CN_OK && i < models.n; i++)
		if (!cn_ModelInput_model_id(cn_fb_vec_table(models, i)).ptr)
			rc = trk_missing(err, "model_id");
	if (rc != CN_OK)
		return rc;
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	size_t puts = 0;
	for (uint32_t i = 0; rc == CN_OK && i < ds.n; i++) {
		bool dup = false;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = trk_same_dataset(ds, i, j);
		if (dup) /* the first of a dataset within a call wins */
			continue;
		cn_fb_table in = cn_fb_vec_table(ds, i);
		cn_fb_table d = cn_DatasetInput_dataset(in);
		cn_fb_str name = cn_Dataset_name(d), digest = cn_Dataset_digest(d);
		cn_key dk, ik;
		trk_dataset_key(&dk, exp, name, digest);
		trk_input_key(&ik, id, name, digest);
		rc = trk_key_fits(&dk, err);
		if (rc == CN_OK)
			rc = trk_key_fits(&ik, err);
		bool found = false;
		/* As MLflow: a dataset already in the experiment is reused as stored,
		 * and a dataset already an input of the run keeps its first tags. */
		if (rc == CN_OK)
			rc = trk_exists(s, TRK_CF_DATASETS, &dk, &found, err);
		if (rc == CN_OK && !found) {
			rc = trk_put_built(batch, TRK_CF_DATASETS, &dk, in, true, err);
			puts++;
		}
		if (rc == CN_OK)
			rc = trk_exists(s, TRK_CF_RUN_INPUTS, &ik, &found, err);
		if (rc == CN_OK && !found) {
			rc = trk_put_built(batch, TRK_CF_RUN_INPUTS, &ik, in, false, err);
			puts++;
		}
	}
	for (uint32_t i = 0; rc == CN_OK && i < models.n; i++) {
		cn_key mk;
		trk_run_sub_key(&mk, id, cn_ModelInput_model_id(cn_fb_vec_table(models, i)));
		rc = trk_key_fits(&mk, err);
		if (rc == CN_OK) {
			cn_kv_batch_put(batch, TRK_CF_RUN_MODEL_INPUTS, mk.b, mk.len, "", 0);
			puts++;
		}
	}
	if (rc == CN_OK && puts)
		rc = cn_kv_write(s->db, batch, err);
	if (rc == CN_OK && puts) /* caller holds the run's stripe */
		trk_search_cache_run_changed(s, id);
	cn_kv_batch_free(batch);
	return rc;
}

cn_code trk_log_inputs(void *st, const cn_call_ctx *ctx, cn_fb_table req, cn_fb_builder *b,
                       cn_fb_ref *resp, cn_err *err)
{
	(void)ctx;
	trk_state *s = st;
	uint8_t id[16];
	char hex[33];
	cn_code rc = trk_run_resolve(cn_LogInputs_run_id(req), (cn_fb_str){NULL, 0}, id, hex, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_vec ds = cn_LogInputs_datasets(req);
	for (uint32_t i = 0; i < ds.n; i++)
		if (!cn_fb_present(cn_DatasetInput_dataset(cn_fb_vec_table(ds, i))))
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Dataset input must have a dataset.");
	pthread_mutex_t *mu = trk_run_stripe(s, id);
	pthread_mutex_lock(mu);
	rc = trk_log_inputs_locked(s, id, ds, cn_LogInputs_models(req), err);
	pthread_mutex_unlock(mu);
	if (rc != CN_OK)
		return rc;
	cn_Empty_start(b);
	*resp = cn_Empty_end(b);
	return CN_OK;
}

/* Visit a run's dataset inputs: name, digest and the stored InputTags. */
typedef cn_code (*trk_input_fn)(void *arg, cn_fb_str name, cn_fb_str digest, cn_fb_table tags,
                                cn_err *err);

static cn_code trk_inputs_scan(trk_state *s, const uint8_t id[16], trk_input_fn fn, void *arg,
                               cn_err *err)
{
	cn_kv_iter *it = cn_kv_iter_new(s->db, TRK_CF_RUN_INPUTS, id, 16);
	char *nbuf = malloc(CN_KEY_MAX), *dbuf = malloc(CN_KEY_MAX);
	cn_code rc =
	        it && nbuf && dbuf ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 16, nl, dl;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		if (!cn_key_get_str(k, klen, &pos, nbuf, CN_KEY_MAX, &nl) ||
		    !cn_key_get_str(k, klen, &pos, dbuf, CN_KEY_MAX, &dl)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run input key");
			break;
		}
		if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_InputTags, v, vlen, err) != CN_OK) {
			rc = cn_err_set(err, CN_DATA_LOSS, "stored run input is corrupt");
			break;
		}
		rc = fn(arg, (cn_fb_str){nbuf, (uint32_t)nl}, (cn_fb_str){dbuf, (uint32_t)dl},
		        cn_fb_root(v), err);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(nbuf);
	free(dbuf);
	return rc;
}

typedef struct trk_refs {
	cn_fb_ref *r;
	size_t n, cap;
} trk_refs;

static cn_code trk_refs_push(trk_refs *v, cn_fb_ref r, cn_err *err)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? 2 * v->cap : 8;
		cn_fb_ref *nr = realloc(v->r, nc * sizeof *nr);
		if (!nr)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		v->r = nr;
		v->cap = nc;
	}
	v->r[v->n++] = r;
	return CN_OK;
}

typedef struct trk_build_ctx {
	trk_state *s;
	cn_fb_builder *b;
	uint64_t exp;
	trk_refs refs;
} trk_build_ctx;

static cn_code trk_build_input(void *arg, cn_fb_str name, cn_fb_str digest, cn_fb_table tags,
                               cn_err *err)
{
	trk_build_ctx *c = arg;
	cn_key dk;
	trk_dataset_key(&dk, c->exp, name, digest);
	cn_kv_val val;
	cn_code rc = cn_kv_get(c->s->db, TRK_CF_DATASETS, dk.b, dk.len, &val, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, CN_DATA_LOSS, "run input names a missing dataset");
	if (rc != CN_OK)
		return rc;
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_Dataset, val.data, val.len, err) != CN_OK) {
		cn_kv_val_release(&val);
		return cn_err_set(err, CN_DATA_LOSS, "stored dataset is corrupt");
	}
	cn_fb_ref tv = trk_tags_copy(c->b, cn_InputTags_tags(tags), err, &rc);
	cn_fb_ref d = trk_dataset_copy(c->b, cn_fb_root(val.data));
	cn_kv_val_release(&val);
	if (rc != CN_OK)
		return rc;
	cn_DatasetInput_start(c->b);
	if (tv)
		cn_DatasetInput_add_tags(c->b, tv);
	cn_DatasetInput_add_dataset(c->b, d);
	return trk_refs_push(&c->refs, cn_DatasetInput_end(c->b), err);
}

cn_code trk_run_inputs_build(trk_state *s, cn_fb_builder *b, const trk_run *r, cn_fb_ref *out,
                             cn_err *err)
{
	trk_build_ctx c = {.s = s, .b = b};
	if (!trk_parse_experiment_id(r->experiment_id.ptr, r->experiment_id.len, &c.exp))
		return cn_err_set(err, CN_DATA_LOSS, "stored run has a bad experiment id");
	cn_code rc = trk_inputs_scan(s, r->id, trk_build_input, &c, err);
	trk_refs models = {0};
	cn_kv_iter *it =
	        rc == CN_OK ? cn_kv_iter_new(s->db, TRK_CF_RUN_MODEL_INPUTS, r->id, 16) : NULL;
	char *kbuf = rc == CN_OK ? malloc(CN_KEY_MAX) : NULL;
	if (rc == CN_OK && (!it || !kbuf))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, pos = 16, ml;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (!cn_key_get_str(k, klen, &pos, kbuf, CN_KEY_MAX, &ml)) {
			rc = cn_err_set(err, CN_DATA_LOSS, "corrupt run model input key");
			break;
		}
		cn_fb_ref m = cn_fb_create_string(b, kbuf, ml);
		cn_ModelInput_start(b);
		cn_ModelInput_add_model_id(b, m);
		rc = trk_refs_push(&models, cn_ModelInput_end(b), err);
	}
	if (rc == CN_OK && it)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	free(kbuf);
	if (rc == CN_OK) {
		cn_fb_ref dv = c.refs.n ? cn_fb_create_vec_refs(b, c.refs.r, c.refs.n) : 0;
		cn_fb_ref mv = models.n ? cn_fb_create_vec_refs(b, models.r, models.n) : 0;
		cn_RunInputs_start(b);
		if (dv)
			cn_RunInputs_add_dataset_inputs(b, dv);
		if (mv)
			cn_RunInputs_add_model_inputs(b, mv);
		*out = cn_RunInputs_end(b);
	}
	free(c.refs.r);
	free(models.r);
	return rc;
}

static char *trk_dup(cn_fb_str s)
{
	char *p = malloc((size_t)s.len + 1);
	if (p) {
		memcpy(p, s.ptr, s.len);
		p[s.len] = '\0';
	}
	return p;
}

typedef struct trk_load_ctx {
	trk_input_refs *out;
	size_t cap;
} trk_load_ctx;

static cn_code trk_load_input(void *arg, cn_fb_str name, cn_fb_str digest, cn_fb_table tags,
                              cn_err *err)
{
	trk_load_ctx *c = arg;
	trk_input_refs *o = c->out;
	if (o->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 4;
		trk_input_ref *ne = realloc(o->e, nc * sizeof *ne);
		if (!ne)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		o->e = ne;
		c->cap = nc;
	}
	trk_input_ref *e = &o->e[o->n];
	memset(e, 0, sizeof *e);
	cn_fb_vec tv = cn_InputTags_tags(tags);
	for (uint32_t i = 0; i < tv.n; i++) {
		cn_fb_table t = cn_fb_vec_table(tv, i);
		if (trk_str_is(cn_InputTag_key(t), trk_context_tag)) {
			cn_fb_str v = cn_InputTag_value(t);
			free(e->context);
			e->context = trk_dup(v.ptr ? v : (cn_fb_str){"", 0});
			if (!e->context)
				return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			e->context_len = v.len;
		}
	}
	e->name = trk_dup(name);
	e->digest = trk_dup(digest);
	e->name_len = name.len;
	e->digest_len = digest.len;
	o->n++;
	if (!e->name || !e->digest)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	return CN_OK;
}

cn_code trk_run_inputs_load(trk_state *s, const uint8_t id[16], trk_input_refs *out, cn_err *err)
{
	trk_load_ctx c = {.out = out};
	return trk_inputs_scan(s, id, trk_load_input, &c, err);
}

void trk_input_refs_free(trk_input_refs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].name);
		free(r->e[i].digest);
		free(r->e[i].context);
	}
	free(r->e);
	r->e = NULL;
	r->n = 0;
}
