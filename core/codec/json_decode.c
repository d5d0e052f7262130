/*
 * core/codec/json_decode.c: MLflow JSON request bodies -> FlatBuffers, the
 * exact path: cn_json_decode (json_scan.c) comes here for every body its
 * one-pass scanner does not take, which includes every invalid one, so this
 * file defines the decoder's accepted language and all of its messages.
 *
 * jansson parses the body (rejecting duplicate keys and invalid UTF-8);
 * the tree is then walked against the schema, children first, so each
 * table is written only after everything it points to (see codec_int.h).
 * JSON null means "absent". Messages follow MLflow's wording.
 */
#include "core/codec/codec_int.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jdec {
	const cn_schema *s;
	cn_fb_builder *b;
	cn_err *err;
} jdec;

/* Where a value sits ("tags[1].key"), as a chain on the stack. Only error
 * messages need it as text, so it is spelled out only then (formatting it
 * for every field cost more than the decode itself). NULL is the top. */
typedef struct jpath {
	const struct jpath *up;
	const char *key; /* NULL: an array element */
	size_t klen;
	size_t index;
} jpath;

static const char *jpath_str(const jpath *p, codec_path *out)
{
	if (!p) {
		out->p[0] = '\0';
		return out->p;
	}
	codec_path up;
	jpath_str(p->up, &up);
	if (p->key) {
		char shown[128];
		snprintf(shown, sizeof shown, "%.*s", (int)strnlen(p->key, p->klen), p->key);
		codec_path_field(out, up.p, shown);
	} else {
		codec_path_index(out, up.p, p->index);
	}
	return out->p;
}

static cn_code jdec_table(jdec *c, int ti, json_t *obj, int depth, const jpath *at,
                          const cn_codec_kv *extra, size_t nextra, cn_fb_ref *out);

/* Python's name for the type of a JSON value (what MLflow reports). */
static const char *jdec_pytype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "dict";
	case JSON_ARRAY: return "list";
	case JSON_STRING: return "str";
	case JSON_INTEGER: return "int";
	case JSON_REAL: return "float";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	default: return "NoneType";
	}
}

/* The value as MLflow's message would print it (Python str()). */
static void jdec_shown(const json_t *v, char *buf, size_t cap, const char **p, size_t *len)
{
	*p = buf;
	switch (json_typeof(v)) {
	case JSON_STRING:
		*p = json_string_value(v);
		*len = json_string_length(v);
		return;
	case JSON_INTEGER:
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		if (isfinite(json_real_value(v)))
			codec_fmt_real(buf, cap, json_real_value(v), false);
		else
			snprintf(buf, cap, "%s", json_real_value(v) > 0 ? "inf" : "-inf");
		break;
	case JSON_TRUE: snprintf(buf, cap, "True"); break;
	case JSON_FALSE: snprintf(buf, cap, "False"); break;
	case JSON_NULL: snprintf(buf, cap, "None"); break;
	default: {
		size_t n = json_dumpb(v, buf, cap - 1, JSON_COMPACT | JSON_ENCODE_ANY);
		buf[n < cap ? n : cap - 1] = '\0';
		break;
	}
	}
	*len = strlen(buf);
}

static cn_code jdec_type_err(jdec *c, const jpath *at, const json_t *v)
{
	codec_path path;
	jpath_str(at, &path);
	char buf[256];
	const char *p;
	size_t len;
	jdec_shown(v, buf, sizeof buf, &p, &len);
	return codec_err_type(c->err, path.p, p, len, jdec_pytype(v));
}

static cn_code jdec_value_err(jdec *c, const jpath *at, const json_t *v, const char *why)
{
	codec_path path;
	jpath_str(at, &path);
	char buf[256];
	const char *p;
	size_t len;
	jdec_shown(v, buf, sizeof buf, &p, &len);
	return codec_err_value(c->err, path.p, p, len, why);
}

/* An integer (or enum) from a JSON number: integral values only. */
static cn_code jdec_int(jdec *c, const cn_schema_field *f, uint8_t ft, const jpath *path,
                        const json_t *v, codec_val *out)
{
	bool neg;
	uint64_t mag;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		neg = x < 0;
		mag = neg ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
	} else {
		double d = json_real_value(v);
		if (f->enum_index >= 0)
			return jdec_type_err(c, path, v);
		if (!isfinite(d) || d != floor(d))
			return jdec_value_err(c, path, v, "expected an integer");
		neg = d < 0;
		if (fabs(d) >= 18446744073709551616.0)
			return jdec_value_err(c, path, v, "out of range");
		mag = (uint64_t)fabs(d);
	}
	if (!codec_int_in_range(ft, neg, mag, out))
		return jdec_value_err(c, path, v, "out of range");
	if (f->enum_index >= 0 && (size_t)f->enum_index < c->s->nenums) {
		const cn_schema_enum *e = &c->s->enums[f->enum_index];
		for (uint16_t i = 0; i < e->nvals; i++)
			if (e->vals[i].value == out->s.i)
				return CN_OK;
		out->set = false;
		return jdec_value_err(c, path, v, "not a value of the enumeration");
	}
	return CN_OK;
}

static cn_code jdec_scalar(jdec *c, const cn_schema_field *f, uint8_t ft, const jpath *path,
                           const json_t *v, codec_val *out)
{
	if (ft == CN_FT_BOOL) {
		if (!json_is_boolean(v))
			return jdec_type_err(c, path, v);
		out->s.i = json_is_true(v);
		out->set = true;
		return CN_OK;
	}
	if (json_is_string(v)) {
		codec_path p;
		return codec_scalar_from_text(c->s, f, ft, jpath_str(path, &p),
		                              json_string_value(v), json_string_length(v), false,
		                              out, c->err);
	}
	if (!json_is_number(v))
		return jdec_type_err(c, path, v);
	if (codec_is_int(ft))
		return jdec_int(c, f, ft, path, v, out);
	double d = json_number_value(v);
	if (ft == CN_FT_F32 && fabs(d) > FLT_MAX)
		return jdec_value_err(c, path, v, "out of range for float");
	out->s.d = d;
	out->set = true;
	return CN_OK;
}

/* MLflow's server turns integer experiment ids into strings before parsing
 * (proto_json_utils._stringify_all_experiment_ids), and older clients rely
 * on it: {"experiment_id": 1} is accepted as "1". Only for those names. */
static bool jdec_int_id_field(const cn_schema_field *f)
{
	return !strcmp(f->name, "experiment_id") || !strcmp(f->name, "experiment_ids");
}

static cn_code jdec_string(jdec *c, const cn_schema_field *f, const jpath *path, json_t *v,
                           cn_fb_ref *out)
{
	if (json_is_integer(v) && jdec_int_id_field(f)) {
		char num[32];
		int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = cn_fb_create_string(c->b, num, (size_t)n);
	} else if (!json_is_string(v)) {
		return jdec_type_err(c, path, v);
	} else {
		*out = cn_fb_create_string(c->b, json_string_value(v), json_string_length(v));
	}
	return *out ? CN_OK : codec_err_oom(c->err);
}

static cn_code jdec_vector(jdec *c, const cn_schema_field *f, const jpath *path, json_t *arr,
                           int depth, codec_val *out)
{
	size_t n = json_array_size(arr);
	uint8_t ft = f->elem;
	size_t esz = (ft == CN_FT_STRING || ft == CN_FT_TABLE) ? sizeof(cn_fb_ref)
	                                                       : codec_scalar_size(ft);
	if (!esz) {
		codec_path p;
		return cn_err_set(c->err, CN_INTERNAL_ERROR, "Unsupported vector field '%s'",
		                  jpath_str(path, &p));
	}
	uint8_t *elems = malloc(n ? n * esz : 1);
	if (!elems)
		return codec_err_oom(c->err);
	cn_code rc = CN_OK;
	for (size_t i = 0; i < n && rc == CN_OK; i++) {
		json_t *e = json_array_get(arr, i);
		jpath ep = {path, NULL, 0, i};
		if (ft == CN_FT_TABLE) {
			cn_fb_ref r = 0;
			if (!json_is_object(e))
				rc = jdec_type_err(c, &ep, e);
			else
				rc = jdec_table(c, f->table, e, depth + 1, &ep, NULL, 0, &r);
			memcpy(elems + i * esz, &r, esz);
		} else if (ft == CN_FT_STRING) {
			cn_fb_ref r = 0;
			rc = jdec_string(c, f, &ep, e, &r);
			memcpy(elems + i * esz, &r, esz);
		} else {
			codec_val v = {0};
			rc = jdec_scalar(c, f, ft, &ep, e, &v);
			codec_scalar_store(ft, &v, elems + i * esz);
		}
	}
	if (rc == CN_OK) {
		if (esz == sizeof(cn_fb_ref) && (ft == CN_FT_STRING || ft == CN_FT_TABLE))
			out->ref = cn_fb_create_vec_refs(c->b, (const cn_fb_ref *)(void *)elems, n);
		else
			out->ref = cn_fb_create_vec_scalars(c->b, elems, n, esz);
		out->set = true;
		if (!out->ref)
			rc = codec_err_oom(c->err);
	}
	free(elems);
	return rc;
}

/* A proto map as a JSON object: decoded as the vector of {key, value}
 * entries it stands for (so values keep their checks and messages). */
static cn_code jdec_map(jdec *c, const cn_schema_field *f, const jpath *path, json_t *obj,
                        int depth, codec_val *out)
{
	json_t *arr = json_array();
	if (!arr)
		return codec_err_oom(c->err);
	const char *key;
	size_t klen;
	json_t *v;
	json_object_keylen_foreach(obj, key, klen, v)
	{
		json_t *e = json_object();
		if (!e || json_object_set_new(e, "key", json_stringn(key, klen)) != 0 ||
		    json_object_set(e, "value", v) != 0 || json_array_append_new(arr, e) != 0) {
			json_decref(e);
			json_decref(arr);
			return codec_err_oom(c->err);
		}
	}
	cn_code rc = jdec_vector(c, f, path, arr, depth, out);
	json_decref(arr);
	return rc;
}

static cn_code jdec_field(jdec *c, const cn_schema_field *f, const jpath *path, json_t *v,
                          int depth, codec_val *out)
{
	if (codec_field_is_map(f) && json_is_object(v))
		return jdec_map(c, f, path, v, depth, out);
	if (codec_field_is_json(f)) {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return codec_err_oom(c->err);
		out->set = true;
		out->ref = cn_fb_create_string(c->b, text, strlen(text));
		free(text);
		return out->ref ? CN_OK : codec_err_oom(c->err);
	}
	switch (f->type) {
	case CN_FT_STRING: out->set = true; return jdec_string(c, f, path, v, &out->ref);
	case CN_FT_TABLE:
		if (!json_is_object(v))
			return jdec_type_err(c, path, v);
		out->set = true;
		return jdec_table(c, f->table, v, depth + 1, path, NULL, 0, &out->ref);
	case CN_FT_VECTOR:
		if (!json_is_array(v))
			return jdec_type_err(c, path, v);
		return jdec_vector(c, f, path, v, depth, out);
	default: return jdec_scalar(c, f, f->type, path, v, out);
	}
}

/* Pending values of a table: on the stack for the usual small tables. */
#define JDEC_VALS_ON_STACK 32

static cn_code jdec_table(jdec *c, int ti, json_t *obj, int depth, const jpath *at,
                          const cn_codec_kv *extra, size_t nextra, cn_fb_ref *out)
{
	if (ti < 0 || (size_t)ti >= c->s->ntables)
		return cn_err_set(c->err, CN_INTERNAL_ERROR, "Unknown message type %d", ti);
	const cn_schema_table *t = &c->s->tables[ti];
	codec_path prefix;
	if (depth > CODEC_MAX_DEPTH)
		return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid parameter '%s': nested deeper than %d levels.",
		                  jpath_str(at, &prefix), CODEC_MAX_DEPTH);
	codec_val stack_vals[JDEC_VALS_ON_STACK];
	codec_val *vals = stack_vals;
	if (t->nfields > JDEC_VALS_ON_STACK)
		vals = calloc(t->nfields, sizeof *vals);
	else
		memset(stack_vals, 0, sizeof stack_vals);
	if (!vals)
		return codec_err_oom(c->err);
	cn_code rc = CN_OK;
	const char *key;
	size_t klen;
	json_t *v;
	json_object_keylen_foreach(obj, key, klen, v)
	{
		jpath p = {at, key, klen, 0};
		const cn_schema_field *f = cn_schema_field_by_name(t, key, klen);
		if (!f) {
			codec_path shown;
			rc = codec_err_unknown(c->err, jpath_str(&p, &shown), t);
			break;
		}
		if (json_is_null(v) || (f->flags & CN_FF_DEPRECATED))
			continue;
		rc = jdec_field(c, f, &p, v, depth, &vals[f - t->fields]);
		if (rc != CN_OK)
			break;
	}
	if (rc == CN_OK && nextra)
		rc = codec_apply_extra(c->s, t, vals, extra, nextra, c->b, c->err);
	if (rc == CN_OK) {
		/* The prefix only shows in the missing-field message. */
		prefix.p[0] = '\0';
		for (uint16_t i = 0; i < t->nfields; i++)
			if ((t->fields[i].flags & CN_FF_REQUIRED) && !vals[i].set) {
				jpath_str(at, &prefix);
				break;
			}
		rc = codec_emit_table(t, vals, prefix.p, c->b, out, c->err);
	}
	if (vals != stack_vals)
		free(vals);
	return rc;
}

/* "duplicate object key near '"name"'" -> name, for the message. */
static void jdec_dup_key(const char *text, char *out, size_t cap)
{
	const char *q = strstr(text, "near '\"");
	snprintf(out, cap, "%s", q ? q + 7 : "?");
	size_t n = strlen(out);
	if (n >= 2 && out[n - 1] == '\'' && out[n - 2] == '"')
		out[n - 2] = '\0';
}

static cn_code jdec_load(const char *json, size_t len, json_t **out, cn_err *err)
{
	json_error_t e;
	json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
	                       &e);
	if (j) {
		*out = j;
		return CN_OK;
	}
	switch (json_error_code(&e)) {
	case json_error_duplicate_key: {
		char key[JSON_ERROR_TEXT_LENGTH];
		jdec_dup_key(e.text, key, sizeof key);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid parameter '%s': given more than once in the request "
		                  "body (line %d, column %d).",
		                  key, e.line, e.column);
	}
	case json_error_numeric_overflow:
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid value in request body: %s: number out of range (line %d, "
		        "column %d).",
		        e.text, e.line, e.column);
	default:
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Malformed JSON in request body: %s (line %d, column %d)", e.text,
		                  e.line, e.column);
	}
}

cn_code codec_json_decode_dom(const cn_schema *s, int table, const char *json, size_t len,
                              const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b,
                              cn_fb_ref *root, cn_err *err)
{
	if (!s || !b || !root || (len && !json) || table < 0 || (size_t)table >= s->ntables)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cn_json_decode: bad arguments");
	*root = 0;
	json_t *j = NULL;
	cn_code rc = len ? jdec_load(json, len, &j, err) : CN_OK;
	if (rc != CN_OK)
		return rc;
	/* Old MLflow clients post their JSON double-encoded as a string;
	 * MLflow decodes it a second time, and so do we. */
	if (j && json_is_string(j)) {
		json_t *inner = NULL;
		rc = jdec_load(json_string_value(j), json_string_length(j), &inner, err);
		json_decref(j);
		if (rc != CN_OK)
			return rc;
		j = inner;
	}
	if (!j || json_is_null(j)) {
		json_decref(j);
		j = json_object();
		if (!j)
			return codec_err_oom(err);
	}
	if (!json_is_object(j)) {
		rc = cn_err_set(err, CN_MALFORMED_REQUEST,
		                "Malformed JSON in request body: expected a JSON object, got '%s'",
		                jdec_pytype(j));
		json_decref(j);
		return rc;
	}
	jdec c = {s, b, err};
	rc = jdec_table(&c, table, j, 1, NULL, extra, nextra, root);
	json_decref(j);
	if (rc != CN_OK)
		*root = 0;
	return rc;
}
