/*
 * core/fb/builder.c: the FlatBuffers builder (see fb.h).
 *
 * The buffer grows downward: bytes live in buf[cap - size .. cap), and a
 * cn_fb_ref is the distance of an object's start from the end of the
 * buffer, which stays valid when the buffer is reallocated. The capacity is
 * kept a multiple of 16 so that the finished buffer's start is aligned to
 * minalign (at most 8) whenever the buffer's size is.
 */
#include "core/fb/fb.h"

#include <stdlib.h>

/* A field added to the open table: its id and where it lives (from the end). */
typedef struct builder_field {
	uint16_t id;
	uint32_t at;
} builder_field;

struct cn_fb_builder {
	uint8_t *buf;
	size_t cap;
	size_t size;     /* bytes in use, at the end of buf */
	size_t minalign; /* largest alignment requested so far */
	bool failed;
	bool table_open;
	bool finished;
	size_t table_start; /* size when the open table started */
	builder_field *fields;
	size_t nfields, capfields;
	uint32_t *vtables; /* refs of vtables written so far (for dedupe) */
	size_t nvtables, capvtables;
};

/* FlatBuffers offsets are 32-bit and soffsets signed: stay below 2 GiB. */
#define BUILDER_MAX_SIZE ((size_t)INT32_MAX - 16)
/* Highest field id whose vtable slot still fits a 16-bit vtable length. */
#define BUILDER_MAX_ID 32000u

cn_fb_builder *cn_fb_builder_new(size_t initial_capacity)
{
	cn_fb_builder *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	size_t cap = 256;
	while (cap < initial_capacity && cap < BUILDER_MAX_SIZE)
		cap *= 2;
	b->buf = malloc(cap);
	if (!b->buf) {
		free(b);
		return NULL;
	}
	b->cap = cap;
	b->minalign = 1;
	return b;
}

void cn_fb_builder_free(cn_fb_builder *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b->fields);
	free(b->vtables);
	free(b);
}

void cn_fb_builder_reset(cn_fb_builder *b)
{
	if (!b)
		return;
	b->size = 0;
	b->minalign = 1;
	b->failed = false;
	b->table_open = false;
	b->finished = false;
	b->table_start = 0;
	b->nfields = 0;
	b->nvtables = 0;
}

void cn_fb_builder_reset_shrink(cn_fb_builder *b, size_t keep)
{
	if (!b)
		return;
	cn_fb_builder_reset(b);
	if (b->cap <= keep)
		return;
	size_t cap = 4096; /* what a fresh reply builder starts with */
	uint8_t *nb = malloc(cap);
	if (!nb)
		return;
	free(b->buf);
	b->buf = nb;
	b->cap = cap;
}

bool cn_fb_builder_failed(const cn_fb_builder *b)
{
	return !b || b->failed;
}

static void builder_fail(cn_fb_builder *b)
{
	b->failed = true;
}

/* Make room for `need` more bytes; keeps the used bytes at the end. */
static bool builder_grow(cn_fb_builder *b, size_t need)
{
	if (b->failed)
		return false;
	if (need > BUILDER_MAX_SIZE - b->size) {
		builder_fail(b);
		return false;
	}
	if (b->size + need <= b->cap)
		return true;
	size_t cap = b->cap;
	while (cap < b->size + need)
		cap *= 2;
	uint8_t *nb = malloc(cap);
	if (!nb) {
		builder_fail(b);
		return false;
	}
	memcpy(nb + cap - b->size, b->buf + b->cap - b->size, b->size);
	free(b->buf);
	b->buf = nb;
	b->cap = cap;
	return true;
}

/* Pointer to the byte `from_end` bytes before the end of the buffer. */
static uint8_t *builder_at(cn_fb_builder *b, size_t from_end)
{
	return b->buf + b->cap - from_end;
}

cn_fb_table cn_fb_builder_table(cn_fb_builder *b, cn_fb_ref ref)
{
	cn_fb_table t = {NULL, 0};
	if (b->failed || b->table_open || !ref || ref > b->size)
		return t;
	t.buf = builder_at(b, b->size);
	t.pos = (uint32_t)(b->size - ref);
	return t;
}

/* Pad with zeros so that after `extra` more bytes the size is a multiple of
 * `align` (a power of two), as FlatBuffers' "prep" does. */
static bool builder_prep(cn_fb_builder *b, size_t align, size_t extra)
{
	if (b->failed)
		return false;
	if (align > b->minalign)
		b->minalign = align;
	if (extra > BUILDER_MAX_SIZE) {
		builder_fail(b);
		return false;
	}
	size_t pad = (~(b->size + extra) + 1) & (align - 1);
	if (!builder_grow(b, pad + extra))
		return false;
	b->size += pad;
	memset(builder_at(b, b->size), 0, pad);
	return true;
}

/* Push raw bytes (space must have been reserved by builder_prep/grow). */
static void builder_push(cn_fb_builder *b, const void *p, size_t n)
{
	if (!builder_grow(b, n))
		return;
	b->size += n;
	if (n)
		memcpy(builder_at(b, b->size), p, n);
}

static void builder_push_u32(cn_fb_builder *b, uint32_t v)
{
	builder_push(b, &v, 4);
}

/* Push a uoffset pointing at `ref`; caller has aligned to 4. */
static void builder_push_uoffset(cn_fb_builder *b, cn_fb_ref ref)
{
	if (!ref || ref > b->size) {
		builder_fail(b);
		return;
	}
	builder_push_u32(b, (uint32_t)(b->size + 4 - ref));
}

/* Children must not be created while a table is open (they would land
 * inside its inline data), nor anything after finish. */
static bool builder_can_create(cn_fb_builder *b)
{
	if (!b)
		return false;
	if (b->failed)
		return false;
	if (b->table_open || b->finished) {
		builder_fail(b);
		return false;
	}
	return true;
}

cn_fb_ref cn_fb_create_string(cn_fb_builder *b, const char *s, size_t len)
{
	if (!builder_can_create(b))
		return 0;
	if (len > BUILDER_MAX_SIZE || (len && !s)) {
		builder_fail(b);
		return 0;
	}
	if (!builder_prep(b, 4, len + 1))
		return 0;
	uint8_t nul = 0;
	builder_push(b, &nul, 1);
	builder_push(b, s, len);
	builder_push_u32(b, (uint32_t)len);
	return b->failed ? 0 : (cn_fb_ref)b->size;
}

cn_fb_ref cn_fb_create_vec_refs(cn_fb_builder *b, const cn_fb_ref *refs, size_t n)
{
	if (!builder_can_create(b))
		return 0;
	if (n > BUILDER_MAX_SIZE / 4 || (n && !refs)) {
		builder_fail(b);
		return 0;
	}
	if (!builder_prep(b, 4, 4 * n))
		return 0;
	for (size_t i = n; i-- > 0;)
		builder_push_uoffset(b, refs[i]);
	builder_push_u32(b, (uint32_t)n);
	return b->failed ? 0 : (cn_fb_ref)b->size;
}

cn_fb_ref cn_fb_create_vec_scalars(cn_fb_builder *b, const void *elems, size_t n, size_t elem_size)
{
	if (!builder_can_create(b))
		return 0;
	if ((elem_size != 1 && elem_size != 2 && elem_size != 4 && elem_size != 8) ||
	    n > BUILDER_MAX_SIZE / elem_size || (n && !elems)) {
		builder_fail(b);
		return 0;
	}
	/* The length prefix is 4-aligned and elements aligned to their size. */
	if (!builder_prep(b, 4, n * elem_size) || !builder_prep(b, elem_size, n * elem_size))
		return 0;
	builder_push(b, elems, n * elem_size);
	builder_push_u32(b, (uint32_t)n);
	return b->failed ? 0 : (cn_fb_ref)b->size;
}

void cn_fb_table_start(cn_fb_builder *b)
{
	if (!builder_can_create(b))
		return;
	b->table_open = true;
	b->table_start = b->size;
	b->nfields = 0;
}

/* Remember field `id` at the current position; a repeated id replaces the
 * earlier entry (the earlier bytes stay as dead padding). */
static void builder_track(cn_fb_builder *b, unsigned id)
{
	for (size_t i = 0; i < b->nfields; i++) {
		if (b->fields[i].id == id) {
			b->fields[i].at = (uint32_t)b->size;
			return;
		}
	}
	if (b->nfields == b->capfields) {
		size_t cap = b->capfields ? b->capfields * 2 : 16;
		builder_field *nf = realloc(b->fields, cap * sizeof *nf);
		if (!nf) {
			builder_fail(b);
			return;
		}
		b->fields = nf;
		b->capfields = cap;
	}
	b->fields[b->nfields].id = (uint16_t)id;
	b->fields[b->nfields].at = (uint32_t)b->size;
	b->nfields++;
}

static bool builder_field_ok(cn_fb_builder *b, unsigned id)
{
	if (!b || b->failed)
		return false;
	if (!b->table_open || id > BUILDER_MAX_ID) {
		builder_fail(b);
		return false;
	}
	return true;
}

void cn_fb_add_scalar(cn_fb_builder *b, unsigned id, const void *val, size_t size)
{
	if (!builder_field_ok(b, id))
		return;
	if ((size != 1 && size != 2 && size != 4 && size != 8) || !val) {
		builder_fail(b);
		return;
	}
	if (!builder_prep(b, size, 0))
		return;
	builder_push(b, val, size);
	if (!b->failed)
		builder_track(b, id);
}

void cn_fb_add_ref(cn_fb_builder *b, unsigned id, cn_fb_ref ref)
{
	if (!ref || !builder_field_ok(b, id))
		return;
	/* A child must have been finished before this table started. */
	if (ref > b->table_start) {
		builder_fail(b);
		return;
	}
	if (!builder_prep(b, 4, 0))
		return;
	builder_push_uoffset(b, ref);
	if (!b->failed)
		builder_track(b, id);
}

/* Index of an identical vtable written earlier, or -1. */
static long builder_find_vtable(cn_fb_builder *b, const uint8_t *vt, uint16_t vtlen)
{
	for (size_t i = 0; i < b->nvtables; i++) {
		const uint8_t *other = builder_at(b, b->vtables[i]);
		if (cn_fb_rd_u16(other) == vtlen && memcmp(other, vt, vtlen) == 0)
			return (long)i;
	}
	return -1;
}

static void builder_remember_vtable(cn_fb_builder *b, uint32_t ref)
{
	if (b->nvtables == b->capvtables) {
		size_t cap = b->capvtables ? b->capvtables * 2 : 16;
		uint32_t *nv = realloc(b->vtables, cap * sizeof *nv);
		if (!nv)
			return; /* dedupe is an optimisation; skipping it is harmless */
		b->vtables = nv;
		b->capvtables = cap;
	}
	b->vtables[b->nvtables++] = ref;
}

cn_fb_ref cn_fb_table_end(cn_fb_builder *b)
{
	if (!b || b->failed)
		return 0;
	if (!b->table_open) {
		builder_fail(b);
		return 0;
	}
	/* The soffset to the vtable, patched below. */
	if (!builder_prep(b, 4, 4))
		return 0;
	int32_t zero = 0;
	builder_push(b, &zero, 4);
	if (b->failed)
		return 0;
	size_t table_ref = b->size;
	size_t table_len = table_ref - b->table_start;
	unsigned nslots = 0;
	for (size_t i = 0; i < b->nfields; i++)
		if (b->fields[i].id + 1u > nslots)
			nslots = b->fields[i].id + 1u;
	size_t vtlen = 4 + 2 * (size_t)nslots;
	if (table_len > UINT16_MAX || vtlen > UINT16_MAX) {
		builder_fail(b);
		return 0;
	}
	/* Build the vtable bytes in place: reserve, then fill. */
	if (!builder_grow(b, vtlen))
		return 0;
	b->size += vtlen;
	uint8_t *vt = builder_at(b, b->size);
	memset(vt, 0, vtlen);
	uint16_t v16 = (uint16_t)vtlen;
	memcpy(vt, &v16, 2);
	v16 = (uint16_t)table_len;
	memcpy(vt + 2, &v16, 2);
	for (size_t i = 0; i < b->nfields; i++) {
		uint16_t off = (uint16_t)(table_ref - b->fields[i].at);
		memcpy(vt + 4 + 2 * b->fields[i].id, &off, 2);
	}
	uint32_t vt_ref = (uint32_t)b->size;
	long dup = builder_find_vtable(b, vt, (uint16_t)vtlen);
	if (dup >= 0) {
		b->size -= vtlen; /* drop the copy; point at the earlier one */
		vt_ref = b->vtables[dup];
	} else {
		builder_remember_vtable(b, vt_ref);
	}
	/* soffset: table position minus vtable position (absolute), which is
	 * the vtable's distance from the end minus the table's. */
	int32_t soff = (int32_t)((int64_t)vt_ref - (int64_t)table_ref);
	memcpy(builder_at(b, table_ref), &soff, 4);
	b->table_open = false;
	b->nfields = 0;
	return (cn_fb_ref)table_ref;
}

bool cn_fb_finish(cn_fb_builder *b, cn_fb_ref root, const uint8_t **out, size_t *len)
{
	if (!builder_can_create(b))
		return false;
	if (!root || root > b->size) {
		builder_fail(b);
		return false;
	}
	if (!builder_prep(b, b->minalign > 4 ? b->minalign : 4, 4))
		return false;
	builder_push_uoffset(b, root);
	if (b->failed)
		return false;
	b->finished = true;
	if (out)
		*out = builder_at(b, b->size);
	if (len)
		*len = b->size;
	return true;
}
