/*
 * core/codec/json_encode.c: FlatBuffers -> MLflow JSON (protobuf JSON
 * mapping with snake_case names): fields in id order, absent fields and
 * empty vectors omitted (protobuf omits empty repeated fields), enums as
 * names, 64-bit integers as JSON numbers, non-finite floats as the strings
 * "NaN", "Infinity", "-Infinity". The buffer must have been verified.
 */
#include "core/codec/codec_int.h"

#include <math.h>

#include "core/codec/dtoa.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hot-path writers: reserve once, then write in place (cn_buf keeps p[len]
 * == 0, so each one terminates what it wrote). */
static inline void jenc_putc(cn_buf *out, char c)
{
	if (out->len + 2 <= out->cap || cn_buf_reserve(out, 1)) {
		out->p[out->len++] = c;
		out->p[out->len] = '\0';
	}
}

static inline void jenc_i64(cn_buf *out, int64_t v)
{
	if (!cn_buf_reserve(out, 24))
		return;
	out->len += cn_i64toa(v, out->p + out->len);
	out->p[out->len] = '\0';
}

static inline void jenc_u64(cn_buf *out, uint64_t v)
{
	if (!cn_buf_reserve(out, 24))
		return;
	out->len += cn_u64toa(v, out->p + out->len);
	out->p[out->len] = '\0';
}

/* Bytes a JSON string must escape: controls, '"' and '\\'. */
static inline bool jenc_needs_escape(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len; i++)
		if (u[i] < 0x20 || u[i] == '"' || u[i] == '\\')
			return true;
	return false;
}

/* A string literal: one copy when nothing needs escaping (keys, run ids,
 * metric names almost always), else the general escaper. */
static void jenc_str(cn_buf *out, const char *s, size_t len)
{
	if (jenc_needs_escape(s, len)) {
		cn_buf_json_str(out, s, len);
		return;
	}
	if (!cn_buf_reserve(out, len + 2))
		return;
	char *p = out->p + out->len;
	p[0] = '"';
	memcpy(p + 1, s, len);
	p[len + 1] = '"';
	out->len += len + 2;
	out->p[out->len] = '\0';
}

/* "name": for a schema field name (an identifier: nothing to escape). */
static inline void jenc_key(cn_buf *out, const char *name)
{
	size_t len = strlen(name);
	if (!cn_buf_reserve(out, len + 3))
		return;
	char *p = out->p + out->len;
	p[0] = '"';
	memcpy(p + 1, name, len);
	p[len + 1] = '"';
	p[len + 2] = ':';
	out->len += len + 3;
	out->p[out->len] = '\0';
}

/* Non-finite values as protobuf's JSON strings; others in shortest form. */
static void jenc_real(cn_buf *out, double d, bool is_float)
{
	if (isnan(d)) {
		cn_buf_puts(out, "\"NaN\"");
		return;
	}
	if (isinf(d)) {
		cn_buf_puts(out, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	if (!is_float) {
		if (!cn_buf_reserve(out, CN_DTOA_MAX))
			return;
		out->len += cn_dtoa(d, out->p + out->len);
		return;
	}
	char tmp[40];
	codec_fmt_real(tmp, sizeof tmp, d, is_float);
	cn_buf_puts(out, tmp);
}

static void jenc_enum(const cn_schema *s, int ei, int64_t v, cn_buf *out)
{
	if (ei >= 0 && (size_t)ei < s->nenums) {
		const cn_schema_enum *e = &s->enums[ei];
		for (uint16_t i = 0; i < e->nvals; i++) {
			if (e->vals[i].value == v) {
				jenc_str(out, e->vals[i].name, strlen(e->vals[i].name));
				return;
			}
		}
	}
	jenc_i64(out, v); /* not a known value: the number */
}

/* Scalar of type ft stored at p. */
static void jenc_scalar(const cn_schema *s, uint8_t ft, int ei, const uint8_t *p, cn_buf *out)
{
	int64_t i = 0;
	switch (ft) {
	case CN_FT_BOOL: cn_buf_puts(out, *p ? "true" : "false"); return;
	case CN_FT_I8: i = (int8_t)*p; break;
	case CN_FT_U8: i = *p; break;
	case CN_FT_I16: {
		int16_t x;
		memcpy(&x, p, 2);
		i = x;
		break;
	}
	case CN_FT_U16: i = cn_fb_rd_u16(p); break;
	case CN_FT_I32: i = cn_fb_rd_i32(p); break;
	case CN_FT_U32: i = cn_fb_rd_u32(p); break;
	case CN_FT_I64: i = (int64_t)cn_fb_rd_u64(p); break;
	case CN_FT_U64:
		if (ei < 0) {
			jenc_u64(out, cn_fb_rd_u64(p));
			return;
		}
		i = (int64_t)cn_fb_rd_u64(p);
		break;
	case CN_FT_F32: {
		float f;
		memcpy(&f, p, 4);
		jenc_real(out, f, true);
		return;
	}
	case CN_FT_F64: {
		double d;
		memcpy(&d, p, 8);
		jenc_real(out, d, false);
		return;
	}
	default: cn_buf_puts(out, "null"); return;
	}
	if (ei >= 0)
		jenc_enum(s, ei, i, out);
	else
		jenc_i64(out, i);
}

static void jenc_table(const cn_schema *s, int ti, cn_fb_table t, int depth, cn_buf *out);

static void jenc_vector(const cn_schema *s, const cn_schema_field *f, cn_fb_vec v, int depth,
                        cn_buf *out)
{
	jenc_putc(out, '[');
	size_t esz = codec_scalar_size(f->elem);
	for (uint32_t i = 0; i < v.n && !cn_buf_failed(out); i++) {
		if (i)
			jenc_putc(out, ',');
		if (f->elem == CN_FT_STRING) {
			cn_fb_str str = cn_fb_vec_str(v, i);
			jenc_str(out, str.ptr, str.len);
		} else if (f->elem == CN_FT_TABLE) {
			jenc_table(s, f->table, cn_fb_vec_table(v, i), depth + 1, out);
		} else {
			jenc_scalar(s, f->elem, f->enum_index, cn_fb_vec_elem(v, i, esz), out);
		}
	}
	jenc_putc(out, ']');
}

/* A `map` vector as a JSON object: each entry's key field names its value
 * field (the entries' table has fields named "key" and "value"). */
static void jenc_map(const cn_schema *s, const cn_schema_field *f, cn_fb_vec v, int depth,
                     cn_buf *out)
{
	const cn_schema_table *et = &s->tables[f->table];
	const cn_schema_field *kf = cn_schema_field_by_name(et, "key", 3);
	const cn_schema_field *vf = cn_schema_field_by_name(et, "value", 5);
	jenc_putc(out, '{');
	bool first = true;
	for (uint32_t i = 0; i < v.n && kf && vf && !cn_buf_failed(out); i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		cn_fb_str k = cn_fb_get_str(e, kf->id);
		if (!first)
			jenc_putc(out, ',');
		first = false;
		jenc_str(out, k.ptr ? k.ptr : "", k.len);
		jenc_putc(out, ':');
		uint16_t off = cn_fb_field_off(e, vf->id);
		if (!off)
			cn_buf_puts(out, vf->type == CN_FT_STRING ? "\"\"" : "null");
		else if (vf->type == CN_FT_STRING) {
			cn_fb_str val = cn_fb_get_str(e, vf->id);
			jenc_str(out, val.ptr, val.len);
		} else if (vf->type == CN_FT_TABLE)
			jenc_table(s, vf->table, cn_fb_get_table(e, vf->id), depth + 1, out);
		else if (vf->type == CN_FT_VECTOR)
			jenc_vector(s, vf, cn_fb_get_vec(e, vf->id), depth + 1, out);
		else
			jenc_scalar(s, vf->type, vf->enum_index, e.buf + e.pos + off, out);
	}
	jenc_putc(out, '}');
}

static void jenc_table(const cn_schema *s, int ti, cn_fb_table t, int depth, cn_buf *out)
{
	/* Verified buffers are at most CODEC_MAX_DEPTH deep; this only guards
	 * hand-built ones against runaway recursion. */
	if (ti < 0 || (size_t)ti >= s->ntables || depth > CODEC_MAX_DEPTH || !t.buf) {
		cn_buf_puts(out, "{}");
		return;
	}
	const cn_schema_table *tab = &s->tables[ti];
	bool first = true;
	jenc_putc(out, '{');
	for (uint16_t k = 0; k < tab->nfields && !cn_buf_failed(out); k++) {
		const cn_schema_field *f = &tab->fields[k];
		uint16_t off = cn_fb_field_off(t, f->id);
		if (!off || (f->flags & CN_FF_DEPRECATED))
			continue;
		cn_fb_vec v = {NULL, 0, 0};
		if (f->type == CN_FT_VECTOR) {
			v = cn_fb_get_vec(t, f->id);
			if (v.n == 0)
				continue;
		}
		if (!first)
			jenc_putc(out, ',');
		first = false;
		jenc_key(out, f->name);
		switch (f->type) {
		case CN_FT_STRING: {
			cn_fb_str str = cn_fb_get_str(t, f->id);
			if (codec_field_is_json(f) && str.len)
				cn_buf_append(out, str.ptr,
				              str.len); /* JSON text the service wrote */
			else
				jenc_str(out, str.ptr, str.len);
			break;
		}
		case CN_FT_TABLE:
			jenc_table(s, f->table, cn_fb_get_table(t, f->id), depth + 1, out);
			break;
		case CN_FT_VECTOR:
			if (codec_field_is_map(f))
				jenc_map(s, f, v, depth, out);
			else
				jenc_vector(s, f, v, depth, out);
			break;
		default: jenc_scalar(s, f->type, f->enum_index, t.buf + t.pos + off, out); break;
		}
	}
	jenc_putc(out, '}');
}

cn_code cn_json_encode(const cn_schema *s, int table, cn_fb_table t, cn_buf *out)
{
	if (!s || !out || table < 0 || (size_t)table >= s->ntables)
		return CN_INTERNAL_ERROR;
	jenc_table(s, table, t, 1, out);
	return cn_buf_failed(out) ? CN_INTERNAL_ERROR : CN_OK;
}
