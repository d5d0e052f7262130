/*
 * core/codec/codec_common.c: pieces shared by the JSON and query decoders
 * (see codec_int.h): text -> scalar conversion, range checks, writing a
 * table from pending values, MLflow-shaped error messages, UTF-8 checks.
 */
#include "core/codec/codec_int.h"

#include "core/codec/dtoa.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODEC_API_HINT "See the API docs for more information about request parameters."

void codec_path_field(codec_path *out, const char *prefix, const char *field)
{
	if (prefix && *prefix)
		snprintf(out->p, sizeof out->p, "%s.%s", prefix, field);
	else
		snprintf(out->p, sizeof out->p, "%s", field);
}

void codec_path_index(codec_path *out, const char *prefix, size_t index)
{
	snprintf(out->p, sizeof out->p, "%s[%zu]", prefix, index);
}

bool codec_field_attr(const cn_schema_field *f, const char *attr)
{
	for (uint16_t i = 0; i < f->nattrs; i++)
		if (strcmp(f->attrs[i].key, attr) == 0)
			return true;
	return false;
}

size_t codec_scalar_size(uint8_t ft)
{
	switch (ft) {
	case CN_FT_BOOL:
	case CN_FT_I8:
	case CN_FT_U8: return 1;
	case CN_FT_I16:
	case CN_FT_U16: return 2;
	case CN_FT_I32:
	case CN_FT_U32:
	case CN_FT_F32: return 4;
	case CN_FT_I64:
	case CN_FT_U64:
	case CN_FT_F64: return 8;
	default: return 0;
	}
}

static const char *codec_int_name(uint8_t ft)
{
	switch (ft) {
	case CN_FT_I8: return "int8";
	case CN_FT_U8: return "uint8";
	case CN_FT_I16: return "int16";
	case CN_FT_U16: return "uint16";
	case CN_FT_I32: return "int32";
	case CN_FT_U32: return "uint32";
	case CN_FT_I64: return "int64";
	case CN_FT_U64: return "uint64";
	case CN_FT_F32: return "float";
	default: return "double";
	}
}

bool codec_int_in_range(uint8_t ft, bool neg, uint64_t mag, codec_val *out)
{
	uint64_t max_pos, max_neg;
	switch (ft) {
	case CN_FT_I8: max_pos = INT8_MAX, max_neg = 128; break;
	case CN_FT_U8: max_pos = UINT8_MAX, max_neg = 0; break;
	case CN_FT_I16: max_pos = INT16_MAX, max_neg = 32768; break;
	case CN_FT_U16: max_pos = UINT16_MAX, max_neg = 0; break;
	case CN_FT_I32: max_pos = INT32_MAX, max_neg = 2147483648u; break;
	case CN_FT_U32: max_pos = UINT32_MAX, max_neg = 0; break;
	case CN_FT_I64: max_pos = INT64_MAX, max_neg = (uint64_t)INT64_MAX + 1; break;
	case CN_FT_U64: max_pos = UINT64_MAX, max_neg = 0; break;
	default: return false;
	}
	if (neg ? mag > max_neg : mag > max_pos)
		return false;
	if (ft == CN_FT_U64)
		out->s.u = mag;
	else if (neg)
		out->s.i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		out->s.i = (int64_t)mag;
	out->set = true;
	return true;
}

/* ---- messages ----------------------------------------------------------- */

/* Copy at most ~200 bytes of v into out, keeping valid UTF-8 and replacing
 * control bytes, so that messages stay printable JSON-safe text. */
static void codec_shown(char *out, size_t cap, const char *v, size_t len)
{
	size_t o = 0, i = 0;
	while (i < len && o + 8 < cap && o < 200) {
		unsigned char c = (unsigned char)v[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (c < 0x80) {
			out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
			i++;
		} else if (i + n <= len && codec_utf8_valid((const uint8_t *)v + i, n)) {
			memcpy(out + o, v + i, n);
			o += n;
			i += n;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	if (i < len && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

cn_code codec_err_value(cn_err *err, const char *path, const char *shown, size_t shown_len,
                        const char *why)
{
	char v[256];
	codec_shown(v, sizeof v, shown, shown_len);
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid value %s for parameter '%s' supplied: %s. " CODEC_API_HINT, v,
	                  path, why);
}

cn_code codec_err_type(cn_err *err, const char *path, const char *shown, size_t shown_len,
                       const char *pytype)
{
	char why[64];
	snprintf(why, sizeof why, "Hint: Value was of type '%s'", pytype);
	return codec_err_value(err, path, shown, shown_len, why);
}

cn_code codec_err_unknown(cn_err *err, const char *path, const cn_schema_table *t)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid parameter '%s': this field is not part of %s.", path,
	                  t->short_name);
}

cn_code codec_err_oom(cn_err *err)
{
	return cn_err_set(err, CN_INTERNAL_ERROR, "Out of memory while decoding the request");
}

/* ---- text -> scalar ------------------------------------------------------ */

/* Strict decimal: optional '-', then digits only. */
static bool codec_parse_decimal(const char *t, size_t len, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	*neg = false;
	*mag = 0;
	if (i < len && t[i] == '-') {
		*neg = true;
		i++;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		unsigned d = (unsigned)(t[i] - '0');
		if (*mag > (UINT64_MAX - d) / 10)
			return false; /* beyond any integer type: reported as out of range */
		*mag = *mag * 10 + d;
	}
	return true;
}

static bool codec_all_digits(const char *t, size_t len)
{
	size_t i = len && t[0] == '-' ? 1 : 0;
	if (i == len)
		return false;
	for (; i < len; i++)
		if (t[i] < '0' || t[i] > '9')
			return false;
	return true;
}

static cn_code codec_float_from_text(uint8_t ft, const char *path, const char *txt, size_t len,
                                     codec_val *out, cn_err *err)
{
	double d;
	if (len == 3 && memcmp(txt, "NaN", 3) == 0) {
		d = NAN;
	} else if (len == 8 && memcmp(txt, "Infinity", 8) == 0) {
		d = INFINITY;
	} else if (len == 9 && memcmp(txt, "-Infinity", 9) == 0) {
		d = -INFINITY;
	} else {
		/* strtod also takes hex, "inf" and spaces: allow plain decimals only */
		char tmp[128];
		if (len == 0 || len >= sizeof tmp || strspn(txt, "0123456789+-.eE") < len)
			return codec_err_value(err, path, txt, len, "expected a number");
		memcpy(tmp, txt, len);
		tmp[len] = '\0';
		char *end = NULL;
		errno = 0;
		d = strtod(tmp, &end);
		if (end != tmp + len)
			return codec_err_value(err, path, txt, len, "expected a number");
		if (errno == ERANGE && isinf(d))
			return codec_err_value(err, path, txt, len, "out of range for double");
	}
	if (ft == CN_FT_F32 && isfinite(d) && fabs(d) > FLT_MAX)
		return codec_err_value(err, path, txt, len, "out of range for float");
	out->s.d = d;
	out->set = true;
	return CN_OK;
}

/* "expected one of A, B, C" for an enum. */
static void codec_enum_why(const cn_schema_enum *e, char *why, size_t cap)
{
	size_t o = (size_t)snprintf(why, cap, "expected one of");
	for (uint16_t i = 0; i < e->nvals && o < cap; i++)
		o += (size_t)snprintf(why + o, cap - o, "%s %s", i ? "," : "", e->vals[i].name);
}

cn_code codec_scalar_from_text(const cn_schema *s, const cn_schema_field *f, uint8_t ft,
                               const char *path, const char *txt, size_t len, bool allow_bool_text,
                               codec_val *out, cn_err *err)
{
	if (ft == CN_FT_BOOL) {
		if (allow_bool_text && len == 4 && memcmp(txt, "true", 4) == 0)
			out->s.i = 1;
		else if (allow_bool_text && len == 5 && memcmp(txt, "false", 5) == 0)
			out->s.i = 0;
		else
			return codec_err_type(err, path, txt, len, "str");
		out->set = true;
		return CN_OK;
	}
	if (codec_is_float(ft))
		return codec_float_from_text(ft, path, txt, len, out, err);
	if (!codec_is_int(ft))
		return codec_err_type(err, path, txt, len, "str");
	bool neg;
	uint64_t mag;
	if (f->enum_index >= 0 && (size_t)f->enum_index < s->nenums) {
		const cn_schema_enum *e = &s->enums[f->enum_index];
		for (uint16_t i = 0; i < e->nvals; i++) {
			if (strlen(e->vals[i].name) == len &&
			    memcmp(e->vals[i].name, txt, len) == 0) {
				out->s.i = e->vals[i].value;
				out->set = true;
				return CN_OK;
			}
		}
		/* by value, if it is one */
		if (codec_parse_decimal(txt, len, &neg, &mag) &&
		    codec_int_in_range(ft, neg, mag, out))
			for (uint16_t i = 0; i < e->nvals; i++)
				if (e->vals[i].value == out->s.i)
					return CN_OK;
		out->set = false;
		char why[512];
		codec_enum_why(e, why, sizeof why);
		return codec_err_value(err, path, txt, len, why);
	}
	if (!codec_parse_decimal(txt, len, &neg, &mag)) {
		if (codec_all_digits(txt, len))
			goto range; /* digits only, but too long for 64 bits */
		return codec_err_value(err, path, txt, len, "expected an integer");
	}
	if (codec_int_in_range(ft, neg, mag, out))
		return CN_OK;
range:;
	char why[64];
	snprintf(why, sizeof why, "out of range for %s", codec_int_name(ft));
	return codec_err_value(err, path, txt, len, why);
}

void codec_fmt_real(char *buf, size_t cap, double d, bool is_float)
{
	if (!is_float && cap >= CN_DTOA_MAX) {
		cn_dtoa(d, buf); /* same text as the loop below, without it */
		return;
	}
	int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
	for (int prec = lo; prec <= hi; prec++) {
		snprintf(buf, cap, "%.*g", prec, d);
		double back = strtod(buf, NULL);
		if (is_float ? (float)back == (float)d : back == d)
			break;
	}
	if (!strpbrk(buf, ".eEn") && strlen(buf) + 3 <= cap)
		strcat(buf, ".0");
}

void codec_scalar_store(uint8_t ft, const codec_val *v, void *elem)
{
	switch (ft) {
	case CN_FT_BOOL: {
		uint8_t x = v->s.i != 0;
		memcpy(elem, &x, 1);
		break;
	}
	case CN_FT_I8:
	case CN_FT_U8: {
		uint8_t x = (uint8_t)v->s.i;
		memcpy(elem, &x, 1);
		break;
	}
	case CN_FT_I16:
	case CN_FT_U16: {
		uint16_t x = (uint16_t)v->s.i;
		memcpy(elem, &x, 2);
		break;
	}
	case CN_FT_I32:
	case CN_FT_U32: {
		uint32_t x = (uint32_t)v->s.i;
		memcpy(elem, &x, 4);
		break;
	}
	case CN_FT_I64: memcpy(elem, &v->s.i, 8); break;
	case CN_FT_U64: memcpy(elem, &v->s.u, 8); break;
	case CN_FT_F32: {
		float x = (float)v->s.d;
		memcpy(elem, &x, 4);
		break;
	}
	case CN_FT_F64: memcpy(elem, &v->s.d, 8); break;
	default: break;
	}
}

/* ---- writing a table ------------------------------------------------------ */

static bool codec_is_ref_type(uint8_t ft)
{
	return ft == CN_FT_STRING || ft == CN_FT_TABLE || ft == CN_FT_VECTOR;
}

cn_code codec_emit_table(const cn_schema_table *t, const codec_val *vals, const char *prefix,
                         cn_fb_builder *b, cn_fb_ref *out, cn_err *err)
{
	for (uint16_t i = 0; i < t->nfields; i++) {
		const cn_schema_field *f = &t->fields[i];
		if ((f->flags & CN_FF_REQUIRED) && !vals[i].set) {
			codec_path p;
			codec_path_field(&p, prefix, f->name);
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Missing value for required parameter '%s'. " CODEC_API_HINT, p.p);
		}
	}
	cn_fb_table_start(b);
	/* Widest first packs the table without padding. */
	static const size_t widths[] = {8, 4, 2, 1};
	for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
		for (uint16_t i = 0; i < t->nfields; i++) {
			const cn_schema_field *f = &t->fields[i];
			if (!vals[i].set)
				continue;
			if (codec_is_ref_type(f->type)) {
				if (widths[w] == 4)
					cn_fb_add_ref(b, f->id, vals[i].ref);
				continue;
			}
			size_t sz = codec_scalar_size(f->type);
			if (sz != widths[w])
				continue;
			uint64_t tmp;
			codec_scalar_store(f->type, &vals[i], &tmp);
			cn_fb_add_scalar(b, f->id, &tmp, sz);
		}
	}
	*out = cn_fb_table_end(b);
	if (cn_fb_builder_failed(b) || !*out)
		return codec_err_oom(err);
	return CN_OK;
}

/* ---- text-valued fields (query strings, path parameters) ----------------- */

cn_code codec_text_field(const cn_schema *s, const cn_schema_table *t, const cn_schema_field *f,
                         const char *path, const char *const *txt, const size_t *len, size_t n,
                         cn_fb_builder *b, codec_val *out, cn_err *err)
{
	uint8_t ft = f->type == CN_FT_VECTOR ? f->elem : f->type;
	if (ft == CN_FT_TABLE)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid parameter '%s': a structured field of %s cannot be set "
		                  "from the URL; send it in a JSON body.",
		                  path, t->short_name);
	if (f->type != CN_FT_VECTOR && n != 1)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid parameter '%s': given %zu times, but it takes one value.", path,
		        n);
	for (size_t i = 0; i < n; i++)
		if (ft == CN_FT_STRING && !codec_utf8_valid((const uint8_t *)txt[i], len[i]))
			return codec_err_value(err, path, txt[i], len[i], "not valid UTF-8");
	if (f->type == CN_FT_STRING) {
		out->ref = cn_fb_create_string(b, txt[0], len[0]);
		out->set = true;
		return out->ref ? CN_OK : codec_err_oom(err);
	}
	if (f->type != CN_FT_VECTOR)
		return codec_scalar_from_text(s, f, ft, path, txt[0], len[0], true, out, err);

	cn_code rc = CN_OK;
	size_t esz = ft == CN_FT_STRING ? sizeof(cn_fb_ref) : codec_scalar_size(ft);
	uint8_t *elems = malloc(n ? n * esz : 1);
	if (!elems)
		return codec_err_oom(err);
	for (size_t i = 0; i < n && rc == CN_OK; i++) {
		if (ft == CN_FT_STRING) {
			cn_fb_ref r = cn_fb_create_string(b, txt[i], len[i]);
			if (!r)
				rc = codec_err_oom(err);
			memcpy(elems + i * esz, &r, esz);
		} else {
			codec_val v = {0};
			rc = codec_scalar_from_text(s, f, ft, path, txt[i], len[i], true, &v, err);
			codec_scalar_store(ft, &v, elems + i * esz);
		}
	}
	if (rc == CN_OK) {
		out->ref = ft == CN_FT_STRING
		                   ? cn_fb_create_vec_refs(b, (const cn_fb_ref *)(void *)elems, n)
		                   : cn_fb_create_vec_scalars(b, elems, n, esz);
		out->set = true;
		if (!out->ref)
			rc = codec_err_oom(err);
	}
	free(elems);
	return rc;
}

cn_code codec_apply_extra(const cn_schema *s, const cn_schema_table *t, codec_val *vals,
                          const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_err *err)
{
	for (size_t i = 0; i < nextra; i++) {
		const char *key = extra[i].key ? extra[i].key : "";
		const char *val = extra[i].value ? extra[i].value : "";
		const cn_schema_field *f = cn_schema_field_by_name(t, key, strlen(key));
		codec_path p;
		codec_path_field(&p, "", key);
		if (!f || (f->flags & CN_FF_DEPRECATED))
			return codec_err_unknown(err, p.p, t);
		size_t len = strlen(val);
		codec_val v = {0};
		cn_code rc = codec_text_field(s, t, f, p.p, &val, &len, 1, b, &v, err);
		if (rc != CN_OK)
			return rc;
		vals[f - t->fields] = v;
	}
	return CN_OK;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

bool codec_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0)
			n = 2, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			n = 3, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			n = 4, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}
