/*
 * core/codec/verify.c: checks a FlatBuffer from outside the process against
 * its schema before any reader touches it (see codec.h cn_fb_verify).
 *
 * Every position is computed in 64 bits and compared with the buffer
 * length before it is read. Only fields the schema knows are followed
 * (readers never look at others). Tables and vectors may legally share
 * children, so the total work is capped at a multiple of the buffer size,
 * which stops "one string referenced a million times" amplification in the
 * verifier and later in the encoder.
 */
#include "core/codec/codec_int.h"

#include <stdio.h>

typedef struct vfy {
	const cn_schema *s;
	const uint8_t *buf;
	uint64_t len;
	uint64_t budget; /* bytes of tables/strings/vectors still allowed */
	cn_err *err;
} vfy;

static cn_code vfy_fail(vfy *v, const cn_schema_table *t, const cn_schema_field *f,
                        const char *what)
{
	return cn_err_set(v->err, CN_MALFORMED_REQUEST, "Invalid FlatBuffer: %s%s%s: %s",
	                  t ? t->short_name : "buffer", f ? "." : "", f ? f->name : "", what);
}

static bool vfy_spend(vfy *v, uint64_t n)
{
	if (n > v->budget)
		return false;
	v->budget -= n;
	return true;
}

static cn_code vfy_table(vfy *v, int ti, uint64_t pos, int depth);

/* A string at pos: length, bytes, NUL terminator, UTF-8. */
static cn_code vfy_string(vfy *v, const cn_schema_table *t, const cn_schema_field *f, uint64_t pos)
{
	if (pos % 4 || pos + 4 > v->len)
		return vfy_fail(v, t, f, "string out of bounds or misaligned");
	uint64_t n = cn_fb_rd_u32(v->buf + pos);
	if (pos + 4 + n + 1 > v->len)
		return vfy_fail(v, t, f, "string out of bounds");
	if (v->buf[pos + 4 + n] != 0)
		return vfy_fail(v, t, f, "string not NUL-terminated");
	if (!vfy_spend(v, n + 4))
		return vfy_fail(v, t, f, "too much shared data");
	if (!codec_utf8_valid(v->buf + pos + 4, (size_t)n))
		return vfy_fail(v, t, f, "string is not valid UTF-8");
	return CN_OK;
}

/* Follow the uoffset stored at `at`; *target receives the position. */
static cn_code vfy_deref(vfy *v, const cn_schema_table *t, const cn_schema_field *f, uint64_t at,
                         uint64_t *target)
{
	if (at % 4 || at + 4 > v->len)
		return vfy_fail(v, t, f, "offset out of bounds or misaligned");
	uint32_t rel = cn_fb_rd_u32(v->buf + at);
	if (rel == 0 || at + rel >= v->len)
		return vfy_fail(v, t, f, "offset points outside the buffer");
	*target = at + rel;
	return CN_OK;
}

static bool vfy_bools_ok(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] > 1)
			return false;
	return true;
}

static cn_code vfy_vector(vfy *v, const cn_schema_table *t, const cn_schema_field *f, uint64_t pos,
                          int depth)
{
	if (pos % 4 || pos + 4 > v->len)
		return vfy_fail(v, t, f, "vector out of bounds or misaligned");
	uint64_t n = cn_fb_rd_u32(v->buf + pos);
	bool refs = f->elem == CN_FT_STRING || f->elem == CN_FT_TABLE;
	uint64_t esz = refs ? 4 : codec_scalar_size(f->elem);
	if (!esz)
		return vfy_fail(v, t, f, "vector of unsupported type");
	uint64_t data = pos + 4;
	if (n > (v->len - data) / esz) /* n * esz without overflow */
		return vfy_fail(v, t, f, "vector out of bounds");
	if (data % esz)
		return vfy_fail(v, t, f, "vector elements misaligned");
	if (!vfy_spend(v, n * esz + 4))
		return vfy_fail(v, t, f, "too much shared data");
	if (f->elem == CN_FT_BOOL && !vfy_bools_ok(v->buf + data, n))
		return vfy_fail(v, t, f, "bool element is neither 0 nor 1");
	if (!refs)
		return CN_OK;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t target = 0;
		cn_code rc = vfy_deref(v, t, f, data + 4 * i, &target);
		if (rc == CN_OK)
			rc = f->elem == CN_FT_STRING ? vfy_string(v, t, f, target)
			                             : vfy_table(v, f->table, target, depth + 1);
		if (rc != CN_OK)
			return rc;
	}
	return CN_OK;
}

static cn_code vfy_field(vfy *v, const cn_schema_table *t, const cn_schema_field *f, uint64_t pos,
                         uint16_t off, uint16_t tlen, int depth)
{
	uint64_t at = pos + off;
	if (f->type == CN_FT_STRING || f->type == CN_FT_TABLE || f->type == CN_FT_VECTOR) {
		if (off < 4 || (uint32_t)off + 4 > tlen)
			return vfy_fail(v, t, f, "field outside its table");
		uint64_t target = 0;
		cn_code rc = vfy_deref(v, t, f, at, &target);
		if (rc != CN_OK)
			return rc;
		if (f->type == CN_FT_STRING)
			return vfy_string(v, t, f, target);
		if (f->type == CN_FT_VECTOR)
			return vfy_vector(v, t, f, target, depth);
		return vfy_table(v, f->table, target, depth + 1);
	}
	size_t sz = codec_scalar_size(f->type);
	if (!sz)
		return vfy_fail(v, t, f, "field of unsupported type");
	if (off < 4 || (uint32_t)off + sz > tlen)
		return vfy_fail(v, t, f, "field outside its table");
	if (at % sz)
		return vfy_fail(v, t, f, "field misaligned");
	if (f->type == CN_FT_BOOL && v->buf[at] > 1)
		return vfy_fail(v, t, f, "bool is neither 0 nor 1");
	return CN_OK;
}

static cn_code vfy_table(vfy *v, int ti, uint64_t pos, int depth)
{
	if (ti < 0 || (size_t)ti >= v->s->ntables)
		return cn_err_set(v->err, CN_INTERNAL_ERROR, "Invalid FlatBuffer: unknown table %d",
		                  ti);
	const cn_schema_table *t = &v->s->tables[ti];
	if (depth > CODEC_MAX_DEPTH)
		return vfy_fail(v, t, NULL, "tables nested too deeply");
	if (pos % 4 || pos + 4 > v->len)
		return vfy_fail(v, t, NULL, "table out of bounds or misaligned");
	int64_t vt = (int64_t)pos - (int64_t)cn_fb_rd_i32(v->buf + pos);
	if (vt < 0 || vt % 2 || (uint64_t)vt + 4 > v->len)
		return vfy_fail(v, t, NULL, "vtable out of bounds or misaligned");
	uint16_t vtlen = cn_fb_rd_u16(v->buf + vt);
	uint16_t tlen = cn_fb_rd_u16(v->buf + vt + 2);
	if (vtlen < 4 || vtlen % 2 || (uint64_t)vt + vtlen > v->len)
		return vfy_fail(v, t, NULL, "bad vtable size");
	if (tlen < 4 || pos + tlen > v->len)
		return vfy_fail(v, t, NULL, "bad table size");
	if (!vfy_spend(v, tlen))
		return vfy_fail(v, t, NULL, "too much shared data");
	cn_fb_table tab = {v->buf, (uint32_t)pos};
	for (uint16_t k = 0; k < t->nfields; k++) {
		const cn_schema_field *f = &t->fields[k];
		uint16_t off = cn_fb_field_off(tab, f->id);
		if (!off) {
			if (f->flags & CN_FF_REQUIRED)
				return vfy_fail(v, t, f, "required field missing");
			continue;
		}
		cn_code rc = vfy_field(v, t, f, pos, off, tlen, depth);
		if (rc != CN_OK)
			return rc;
	}
	return CN_OK;
}

cn_code cn_fb_verify(const cn_schema *s, int table, const void *buf, size_t len, cn_err *err)
{
	if (!s || table < 0 || (size_t)table >= s->ntables)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cn_fb_verify: bad arguments");
	const cn_schema_table *t = &s->tables[table];
	if (!buf || len < 12)
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Invalid FlatBuffer: %s: buffer too short (%zu bytes)",
		                  t->short_name, len);
	if (len > INT32_MAX)
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Invalid FlatBuffer: %s: buffer larger than 2 GiB",
		                  t->short_name);
	/* Legitimate buffers reference each byte about once; 8x leaves room
	 * for shared sub-tables while bounding deliberate amplification. */
	vfy v = {s, buf, len, (uint64_t)len * 8 + 4096, err};
	uint64_t root = cn_fb_rd_u32(v.buf);
	if (root == 0 || root >= len)
		return vfy_fail(&v, t, NULL, "root offset out of bounds");
	return vfy_table(&v, table, root, 1);
}
