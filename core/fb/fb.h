/*
 * core/fb/fb.h: a small FlatBuffers runtime for C (reader and builder).
 *
 * The wire format is standard FlatBuffers (little-endian, uoffset/soffset,
 * vtables), so `flatc --json` decodes anything built here and buffers built
 * by flatc read here. Debian ships only the C++ runtime, hence this one.
 *
 * Reading: every accessor takes a cn_fb_table (buffer + position of a
 * table). Accessors do no bounds checks: a buffer from outside the process
 * must pass cn_fb_verify() (core/fb/verify.h) first. Loads use memcpy, so
 * buffers need no particular alignment.
 *
 * Fields are addressed by field id (declaration order in the .fbs, or
 * `(id: N)`); generated code (schemas/gen) wraps these with typed names.
 *
 * Building: FlatBuffers are built back to front. Create children (strings,
 * vectors, sub-tables) first, then start the parent table, add fields, end
 * it. Only one table may be open at a time. Offsets (cn_fb_ref) are only
 * meaningful within the builder that returned them. Out-of-memory is sticky:
 * later calls do nothing and cn_fb_finish() reports failure.
 */
#ifndef CN_FB_H
#define CN_FB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- reading ---------------------------------------------------------- */

typedef struct cn_fb_table {
	const uint8_t *buf; /* NULL when the table is absent */
	uint32_t pos;       /* offset of the table's start within buf */
} cn_fb_table;

typedef struct cn_fb_str {
	const char *ptr; /* NULL when absent; otherwise NUL-terminated in the buffer */
	uint32_t len;
} cn_fb_str;

typedef struct cn_fb_vec {
	const uint8_t *buf; /* NULL when absent */
	uint32_t pos;       /* offset of element 0 */
	uint32_t n;         /* element count */
} cn_fb_vec;

static inline uint16_t cn_fb_rd_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static inline uint32_t cn_fb_rd_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline int32_t cn_fb_rd_i32(const uint8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline uint64_t cn_fb_rd_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Root table of a finished buffer (no verification). */
static inline cn_fb_table cn_fb_root(const void *buf)
{
	cn_fb_table t = {(const uint8_t *)buf, 0};
	if (buf)
		t.pos = cn_fb_rd_u32(t.buf);
	return t;
}

static inline bool cn_fb_present(cn_fb_table t)
{
	return t.buf != NULL;
}

/* Offset of field `id` from the table start, 0 when the field is not stored. */
static inline uint16_t cn_fb_field_off(cn_fb_table t, unsigned id)
{
	if (!t.buf)
		return 0;
	uint32_t vt = (uint32_t)((int64_t)t.pos - cn_fb_rd_i32(t.buf + t.pos));
	uint16_t vtlen = cn_fb_rd_u16(t.buf + vt);
	unsigned slot = 4 + 2 * id;
	if (slot + 2 > vtlen)
		return 0;
	return cn_fb_rd_u16(t.buf + vt + slot);
}

static inline bool cn_fb_has(cn_fb_table t, unsigned id)
{
	return cn_fb_field_off(t, id) != 0;
}

#define CN_FB_SCALAR_GETTER_(name, type, size)                                    \
	static inline type cn_fb_get_##name(cn_fb_table t, unsigned id, type def) \
	{                                                                         \
		uint16_t o = cn_fb_field_off(t, id);                              \
		if (!o)                                                           \
			return def;                                               \
		type v;                                                           \
		memcpy(&v, t.buf + t.pos + o, size);                              \
		return v;                                                         \
	}
CN_FB_SCALAR_GETTER_(bool, bool, 1)
CN_FB_SCALAR_GETTER_(i8, int8_t, 1)
CN_FB_SCALAR_GETTER_(u8, uint8_t, 1)
CN_FB_SCALAR_GETTER_(i16, int16_t, 2)
CN_FB_SCALAR_GETTER_(u16, uint16_t, 2)
CN_FB_SCALAR_GETTER_(i32, int32_t, 4)
CN_FB_SCALAR_GETTER_(u32, uint32_t, 4)
CN_FB_SCALAR_GETTER_(i64, int64_t, 8)
CN_FB_SCALAR_GETTER_(u64, uint64_t, 8)
CN_FB_SCALAR_GETTER_(f32, float, 4)
CN_FB_SCALAR_GETTER_(f64, double, 8)
#undef CN_FB_SCALAR_GETTER_

/* Target of a uoffset stored at absolute position p. */
static inline uint32_t cn_fb_deref(const uint8_t *buf, uint32_t p)
{
	return p + cn_fb_rd_u32(buf + p);
}

static inline cn_fb_str cn_fb_str_at(const uint8_t *buf, uint32_t strpos)
{
	cn_fb_str s = {(const char *)buf + strpos + 4, cn_fb_rd_u32(buf + strpos)};
	return s;
}

static inline cn_fb_str cn_fb_get_str(cn_fb_table t, unsigned id)
{
	cn_fb_str none = {NULL, 0};
	uint16_t o = cn_fb_field_off(t, id);
	if (!o)
		return none;
	return cn_fb_str_at(t.buf, cn_fb_deref(t.buf, t.pos + o));
}

static inline cn_fb_table cn_fb_get_table(cn_fb_table t, unsigned id)
{
	cn_fb_table none = {NULL, 0};
	uint16_t o = cn_fb_field_off(t, id);
	if (!o)
		return none;
	cn_fb_table sub = {t.buf, cn_fb_deref(t.buf, t.pos + o)};
	return sub;
}

static inline cn_fb_vec cn_fb_get_vec(cn_fb_table t, unsigned id)
{
	cn_fb_vec none = {NULL, 0, 0};
	uint16_t o = cn_fb_field_off(t, id);
	if (!o)
		return none;
	uint32_t vp = cn_fb_deref(t.buf, t.pos + o);
	cn_fb_vec v = {t.buf, vp + 4, cn_fb_rd_u32(t.buf + vp)};
	return v;
}

/* Elements of vectors of strings / tables (elements are uoffsets). */
static inline cn_fb_str cn_fb_vec_str(cn_fb_vec v, uint32_t i)
{
	return cn_fb_str_at(v.buf, cn_fb_deref(v.buf, v.pos + 4 * i));
}
static inline cn_fb_table cn_fb_vec_table(cn_fb_vec v, uint32_t i)
{
	cn_fb_table t = {v.buf, cn_fb_deref(v.buf, v.pos + 4 * i)};
	return t;
}
/* Elements of scalar vectors: pointer to element i of size `size`; memcpy from it. */
static inline const uint8_t *cn_fb_vec_elem(cn_fb_vec v, uint32_t i, size_t size)
{
	return v.buf + v.pos + i * size;
}

/* String equality helper. */
static inline bool cn_fb_str_eq(cn_fb_str s, const char *c)
{
	size_t n = strlen(c);
	return s.ptr && s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ---- building --------------------------------------------------------- */

typedef uint32_t cn_fb_ref; /* 0 means "none" */
typedef struct cn_fb_builder cn_fb_builder;

/* Owner: the caller; free with cn_fb_builder_free. NULL on out-of-memory. */
cn_fb_builder *cn_fb_builder_new(size_t initial_capacity);
void cn_fb_builder_free(cn_fb_builder *b);
/* Forget everything built so far; keeps memory for reuse. */
void cn_fb_builder_reset(cn_fb_builder *b);
/* cn_fb_builder_reset, and swap the buffer for a small one when it grew
 * past `keep` bytes, so one huge answer does not pin its memory for good in a builder
 * that is kept for reuse. The buffer is kept when a smaller one cannot be
 * allocated. */
void cn_fb_builder_reset_shrink(cn_fb_builder *b, size_t keep);
/* True after any allocation failure or misuse (e.g. nested table_start). */
bool cn_fb_builder_failed(const cn_fb_builder *b);

cn_fb_ref cn_fb_create_string(cn_fb_builder *b, const char *s, size_t len);
static inline cn_fb_ref cn_fb_create_cstr(cn_fb_builder *b, const char *s)
{
	return cn_fb_create_string(b, s, strlen(s));
}
/* Vector of offsets (strings or tables) in the given order. */
cn_fb_ref cn_fb_create_vec_refs(cn_fb_builder *b, const cn_fb_ref *refs, size_t n);
/* Vector of n scalars of elem_size bytes (1, 2, 4 or 8), copied from elems (host order = LE). */
cn_fb_ref cn_fb_create_vec_scalars(cn_fb_builder *b, const void *elems, size_t n, size_t elem_size);

void cn_fb_table_start(cn_fb_builder *b);
/* Add a scalar field; always stored, even when equal to the schema default
 * (presence matters for MLflow's optional fields). */
void cn_fb_add_scalar(cn_fb_builder *b, unsigned id, const void *val, size_t size);
static inline void cn_fb_add_bool(cn_fb_builder *b, unsigned id, bool v)
{
	uint8_t x = v;
	cn_fb_add_scalar(b, id, &x, 1);
}
static inline void cn_fb_add_i8(cn_fb_builder *b, unsigned id, int8_t v)
{
	cn_fb_add_scalar(b, id, &v, 1);
}
static inline void cn_fb_add_u8(cn_fb_builder *b, unsigned id, uint8_t v)
{
	cn_fb_add_scalar(b, id, &v, 1);
}
static inline void cn_fb_add_i16(cn_fb_builder *b, unsigned id, int16_t v)
{
	cn_fb_add_scalar(b, id, &v, 2);
}
static inline void cn_fb_add_u16(cn_fb_builder *b, unsigned id, uint16_t v)
{
	cn_fb_add_scalar(b, id, &v, 2);
}
static inline void cn_fb_add_i32(cn_fb_builder *b, unsigned id, int32_t v)
{
	cn_fb_add_scalar(b, id, &v, 4);
}
static inline void cn_fb_add_u32(cn_fb_builder *b, unsigned id, uint32_t v)
{
	cn_fb_add_scalar(b, id, &v, 4);
}
static inline void cn_fb_add_i64(cn_fb_builder *b, unsigned id, int64_t v)
{
	cn_fb_add_scalar(b, id, &v, 8);
}
static inline void cn_fb_add_u64(cn_fb_builder *b, unsigned id, uint64_t v)
{
	cn_fb_add_scalar(b, id, &v, 8);
}
static inline void cn_fb_add_f32(cn_fb_builder *b, unsigned id, float v)
{
	cn_fb_add_scalar(b, id, &v, 4);
}
static inline void cn_fb_add_f64(cn_fb_builder *b, unsigned id, double v)
{
	cn_fb_add_scalar(b, id, &v, 8);
}
/* Add an offset field (string, vector or table); ref 0 is ignored. */
void cn_fb_add_ref(cn_fb_builder *b, unsigned id, cn_fb_ref ref);
cn_fb_ref cn_fb_table_end(cn_fb_builder *b);

/* Finish with `root` as the root table. On success *out points into the
 * builder (valid until the next reset/free) and returns true. */
/* Read a table already built in b (not yet finished) in place: every
 * FlatBuffers offset is relative, so it reads as in a finished buffer.
 * Valid until b next grows or is reset; absent table if b failed. */
cn_fb_table cn_fb_builder_table(cn_fb_builder *b, cn_fb_ref ref);
bool cn_fb_finish(cn_fb_builder *b, cn_fb_ref root, const uint8_t **out, size_t *len);

#endif
