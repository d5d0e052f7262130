/* core/fb/fb_builder_test.c: builder/reader round trips of core/fb/fb.h. */
#include "core/fb/fb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cn_test.h"

/* Finish `root` and return the buffer (owned by b). */
static const uint8_t *finish(cn_fb_builder *b, cn_fb_ref root, size_t *len)
{
	const uint8_t *out = NULL;
	size_t n = 0;
	CN_CHECK(cn_fb_finish(b, root, &out, &n));
	CN_CHECK(out != NULL);
	if (len)
		*len = n;
	return out;
}

/* Absolute position of field `id` of table t. */
static size_t field_pos(cn_fb_table t, unsigned id)
{
	return t.pos + cn_fb_field_off(t, id);
}

CN_TEST(every_scalar_type_round_trips)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	CN_CHECK(b != NULL);
	cn_fb_table_start(b);
	cn_fb_add_bool(b, 0, true);
	cn_fb_add_i8(b, 1, -128);
	cn_fb_add_u8(b, 2, 255);
	cn_fb_add_i16(b, 3, -32768);
	cn_fb_add_u16(b, 4, 65535);
	cn_fb_add_i32(b, 5, INT32_MIN);
	cn_fb_add_u32(b, 6, UINT32_MAX);
	cn_fb_add_i64(b, 7, INT64_MIN);
	cn_fb_add_u64(b, 8, UINT64_MAX);
	cn_fb_add_f32(b, 9, 1.5f);
	cn_fb_add_f64(b, 10, -2.25e300);
	cn_fb_ref root = cn_fb_table_end(b);
	CN_CHECK(root != 0);
	size_t len;
	const uint8_t *buf = finish(b, root, &len);
	cn_fb_table t = cn_fb_root(buf);
	CN_CHECK(cn_fb_get_bool(t, 0, false) == true);
	CN_CHECK_EQ_INT(cn_fb_get_i8(t, 1, 0), -128);
	CN_CHECK_EQ_INT(cn_fb_get_u8(t, 2, 0), 255);
	CN_CHECK_EQ_INT(cn_fb_get_i16(t, 3, 0), -32768);
	CN_CHECK_EQ_INT(cn_fb_get_u16(t, 4, 0), 65535);
	CN_CHECK_EQ_INT(cn_fb_get_i32(t, 5, 0), INT32_MIN);
	CN_CHECK(cn_fb_get_u32(t, 6, 0) == UINT32_MAX);
	CN_CHECK(cn_fb_get_i64(t, 7, 0) == INT64_MIN);
	CN_CHECK(cn_fb_get_u64(t, 8, 0) == UINT64_MAX);
	CN_CHECK(cn_fb_get_f32(t, 9, 0) == 1.5f);
	CN_CHECK(cn_fb_get_f64(t, 10, 0) == -2.25e300);
	/* every scalar sits at an address aligned to its size */
	static const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
	for (unsigned id = 0; id < 11; id++)
		CN_CHECK(field_pos(t, id) % sizes[id] == 0);
	/* the buffer is a multiple of the largest alignment used */
	CN_CHECK(len % 8 == 0);
	CN_CHECK((uintptr_t)buf % 8 == 0);
	/* absent fields give the default */
	CN_CHECK_EQ_INT(cn_fb_get_i32(t, 11, 42), 42);
	CN_CHECK(!cn_fb_has(t, 11));
	CN_CHECK(cn_fb_get_f64(t, 40, 3.5) == 3.5);
	cn_fb_builder_free(b);
}

CN_TEST(fields_equal_to_default_are_stored)
{
	cn_fb_builder *b = cn_fb_builder_new(16);
	cn_fb_table_start(b);
	cn_fb_add_i32(b, 2, 0);
	cn_fb_add_bool(b, 0, false);
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	CN_CHECK(cn_fb_has(t, 2));
	CN_CHECK(cn_fb_has(t, 0));
	CN_CHECK(!cn_fb_has(t, 1));
	CN_CHECK_EQ_INT(cn_fb_get_i32(t, 2, 7), 0);
	cn_fb_builder_free(b);
}

CN_TEST(special_floats_round_trip)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_table_start(b);
	cn_fb_add_f64(b, 0, NAN);
	cn_fb_add_f64(b, 1, -INFINITY);
	cn_fb_add_f32(b, 2, INFINITY);
	cn_fb_add_f64(b, 3, -0.0);
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	CN_CHECK(isnan(cn_fb_get_f64(t, 0, 0)));
	CN_CHECK(isinf(cn_fb_get_f64(t, 1, 0)) && cn_fb_get_f64(t, 1, 0) < 0);
	CN_CHECK(isinf(cn_fb_get_f32(t, 2, 0)));
	CN_CHECK(signbit(cn_fb_get_f64(t, 3, 1)));
	cn_fb_builder_free(b);
}

CN_TEST(strings_empty_and_embedded_nul)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref empty = cn_fb_create_string(b, "", 0);
	cn_fb_ref nul = cn_fb_create_string(b, "a\0b\0", 4);
	cn_fb_ref hi = cn_fb_create_cstr(b, "hello, world");
	cn_fb_ref odd = cn_fb_create_string(b, "xyz", 3);
	CN_CHECK(empty && nul && hi && odd);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, empty);
	cn_fb_add_ref(b, 1, nul);
	cn_fb_add_ref(b, 2, hi);
	cn_fb_add_ref(b, 3, odd);
	cn_fb_add_ref(b, 4, 0); /* ignored */
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	cn_fb_str s = cn_fb_get_str(t, 0);
	CN_CHECK(s.ptr != NULL && s.len == 0 && s.ptr[0] == '\0');
	s = cn_fb_get_str(t, 1);
	CN_CHECK(s.len == 4 && memcmp(s.ptr, "a\0b\0", 4) == 0 && s.ptr[4] == '\0');
	s = cn_fb_get_str(t, 2);
	CN_CHECK(cn_fb_str_eq(s, "hello, world"));
	CN_CHECK(s.ptr[s.len] == '\0');
	CN_CHECK(cn_fb_str_eq(cn_fb_get_str(t, 3), "xyz"));
	CN_CHECK(cn_fb_get_str(t, 4).ptr == NULL);
	CN_CHECK(!cn_fb_has(t, 4));
	/* the length prefix of a string is 4-aligned */
	CN_CHECK((cn_fb_deref(t.buf, field_pos(t, 2)) % 4) == 0);
	cn_fb_builder_free(b);
}

CN_TEST(scalar_vectors_are_aligned)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	uint8_t u8s[3] = {1, 2, 3};
	int16_t i16s[3] = {-1, 2, -3};
	int64_t i64s[3] = {INT64_MAX, -5, 7};
	double f64s[2] = {0.5, -1e-300};
	cn_fb_ref v8 = cn_fb_create_vec_scalars(b, u8s, 3, 1);
	cn_fb_ref v64 = cn_fb_create_vec_scalars(b, i64s, 3, 8);
	cn_fb_ref v16 = cn_fb_create_vec_scalars(b, i16s, 3, 2);
	cn_fb_ref vf = cn_fb_create_vec_scalars(b, f64s, 2, 8);
	cn_fb_ref v0 = cn_fb_create_vec_scalars(b, NULL, 0, 4);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, v8);
	cn_fb_add_u8(b, 5, 9); /* odd byte between offsets */
	cn_fb_add_ref(b, 1, v64);
	cn_fb_add_ref(b, 2, v16);
	cn_fb_add_ref(b, 3, vf);
	cn_fb_add_ref(b, 4, v0);
	size_t len;
	const uint8_t *buf = finish(b, cn_fb_table_end(b), &len);
	cn_fb_table t = cn_fb_root(buf);
	cn_fb_vec v = cn_fb_get_vec(t, 0);
	CN_CHECK_EQ_INT(v.n, 3);
	CN_CHECK(memcmp(cn_fb_vec_elem(v, 0, 1), u8s, 3) == 0);
	v = cn_fb_get_vec(t, 1);
	CN_CHECK_EQ_INT(v.n, 3);
	CN_CHECK(v.pos % 8 == 0);
	int64_t x;
	memcpy(&x, cn_fb_vec_elem(v, 0, 8), 8);
	CN_CHECK(x == INT64_MAX);
	memcpy(&x, cn_fb_vec_elem(v, 2, 8), 8);
	CN_CHECK_EQ_INT(x, 7);
	v = cn_fb_get_vec(t, 2);
	CN_CHECK(v.pos % 4 == 0);
	int16_t y;
	memcpy(&y, cn_fb_vec_elem(v, 2, 2), 2);
	CN_CHECK_EQ_INT(y, -3);
	v = cn_fb_get_vec(t, 3);
	CN_CHECK(v.pos % 8 == 0 && v.n == 2);
	double d;
	memcpy(&d, cn_fb_vec_elem(v, 1, 8), 8);
	CN_CHECK(d == -1e-300);
	v = cn_fb_get_vec(t, 4);
	CN_CHECK(v.buf != NULL && v.n == 0);
	CN_CHECK_EQ_INT(cn_fb_get_u8(t, 5, 0), 9);
	CN_CHECK(len % 8 == 0);
	cn_fb_builder_free(b);
}

CN_TEST(vectors_of_strings_and_nested_tables)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref tags[3];
	for (int i = 0; i < 3; i++) {
		char k[16], v[24];
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "value%d", i);
		cn_fb_ref ks = cn_fb_create_cstr(b, k), vs = cn_fb_create_cstr(b, v);
		cn_fb_table_start(b);
		cn_fb_add_ref(b, 0, ks);
		cn_fb_add_ref(b, 1, vs);
		cn_fb_add_i64(b, 2, i * 1000);
		tags[i] = cn_fb_table_end(b);
	}
	cn_fb_ref vt = cn_fb_create_vec_refs(b, tags, 3);
	cn_fb_ref strs[2] = {cn_fb_create_cstr(b, "first"), cn_fb_create_cstr(b, "")};
	cn_fb_ref vs = cn_fb_create_vec_refs(b, strs, 2);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, tags[1]); /* a sub-table may be referenced twice */
	cn_fb_add_ref(b, 1, vt);
	cn_fb_add_ref(b, 2, vs);
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	cn_fb_table sub = cn_fb_get_table(t, 0);
	CN_CHECK(cn_fb_present(sub));
	CN_CHECK(cn_fb_str_eq(cn_fb_get_str(sub, 0), "k1"));
	CN_CHECK_EQ_INT(cn_fb_get_i64(sub, 2, -1), 1000);
	CN_CHECK(!cn_fb_present(cn_fb_get_table(t, 3)));
	cn_fb_vec v = cn_fb_get_vec(t, 1);
	CN_CHECK_EQ_INT(v.n, 3);
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		char want[24];
		snprintf(want, sizeof want, "value%u", i);
		CN_CHECK(cn_fb_str_eq(cn_fb_get_str(e, 1), want));
		CN_CHECK_EQ_INT(cn_fb_get_i64(e, 2, -1), i * 1000);
	}
	v = cn_fb_get_vec(t, 2);
	CN_CHECK_EQ_INT(v.n, 2);
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(v, 0), "first"));
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(v, 1), ""));
	cn_fb_builder_free(b);
}

/* Position of the vtable of table t. */
static uint32_t vtable_of(cn_fb_table t)
{
	return (uint32_t)((int64_t)t.pos - cn_fb_rd_i32(t.buf + t.pos));
}

CN_TEST(identical_vtables_are_shared)
{
	/* same fields and same inline size (an 8-byte vtable keeps the next
	 * table's start aligned, so no leading padding changes its size) */
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref r[3];
	for (int i = 0; i < 2; i++) {
		cn_fb_table_start(b);
		cn_fb_add_i32(b, 0, i);
		cn_fb_add_i16(b, 1, (int16_t)i);
		r[i] = cn_fb_table_end(b);
	}
	cn_fb_table_start(b);
	cn_fb_add_i32(b, 0, 5);
	r[2] = cn_fb_table_end(b);
	cn_fb_ref v = cn_fb_create_vec_refs(b, r, 3);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, v);
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	cn_fb_vec vec = cn_fb_get_vec(t, 0);
	cn_fb_table a = cn_fb_vec_table(vec, 0), c = cn_fb_vec_table(vec, 1),
	            d = cn_fb_vec_table(vec, 2);
	CN_CHECK(vtable_of(a) == vtable_of(c));
	CN_CHECK(vtable_of(a) != vtable_of(d));
	CN_CHECK_EQ_INT(cn_fb_get_i32(a, 0, -1), 0);
	CN_CHECK_EQ_INT(cn_fb_get_i16(c, 1, -1), 1);
	CN_CHECK_EQ_INT(cn_fb_get_i32(d, 0, -1), 5);
	CN_CHECK(!cn_fb_has(d, 1));
	/* vtables are 2-aligned and tables 4-aligned */
	CN_CHECK(vtable_of(a) % 2 == 0 && a.pos % 4 == 0);
	cn_fb_builder_free(b);
}

CN_TEST(empty_table_and_repeated_field)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_table_start(b);
	cn_fb_ref empty = cn_fb_table_end(b);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 1, empty);
	cn_fb_add_i32(b, 0, 1);
	cn_fb_add_i32(b, 0, 2); /* the last value wins */
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	CN_CHECK_EQ_INT(cn_fb_get_i32(t, 0, 0), 2);
	cn_fb_table e = cn_fb_get_table(t, 1);
	CN_CHECK(cn_fb_present(e));
	CN_CHECK(!cn_fb_has(e, 0));
	CN_CHECK_EQ_INT(cn_fb_rd_u16(e.buf + vtable_of(e)), 4);
	cn_fb_builder_free(b);
}

CN_TEST(growth_keeps_refs_valid)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	enum { N = 5000 };
	cn_fb_ref *refs = calloc(N, sizeof *refs);
	CN_CHECK(refs != NULL);
	for (int i = 0; i < N; i++) {
		char s[32];
		int n = snprintf(s, sizeof s, "string number %d", i);
		refs[i] = cn_fb_create_string(b, s, (size_t)n);
	}
	cn_fb_ref v = cn_fb_create_vec_refs(b, refs, N);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 3, v);
	cn_fb_add_f64(b, 1, 0.25);
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), NULL));
	cn_fb_vec vec = cn_fb_get_vec(t, 3);
	CN_CHECK_EQ_INT(vec.n, N);
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(vec, 0), "string number 0"));
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(vec, N - 1), "string number 4999"));
	CN_CHECK(cn_fb_get_f64(t, 1, 0) == 0.25);
	CN_CHECK(!cn_fb_builder_failed(b));
	free(refs);
	cn_fb_builder_free(b);
}

/* A string table of n strings built in b; checks it reads back. */
static void build_strings(cn_fb_builder *b, int n)
{
	cn_fb_ref *refs = calloc((size_t)n, sizeof *refs);
	CN_CHECK(refs != NULL);
	for (int i = 0; i < n; i++) {
		char s[32];
		int len = snprintf(s, sizeof s, "value %d", i);
		refs[i] = cn_fb_create_string(b, s, (size_t)len);
	}
	cn_fb_ref v = cn_fb_create_vec_refs(b, refs, (size_t)n);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, v);
	size_t len = 0;
	cn_fb_table t = cn_fb_root(finish(b, cn_fb_table_end(b), &len));
	cn_fb_vec vec = cn_fb_get_vec(t, 0);
	CN_CHECK_EQ_INT(vec.n, n);
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(vec, 0), "value 0"));
	char last[32];
	snprintf(last, sizeof last, "value %d", n - 1);
	CN_CHECK(cn_fb_str_eq(cn_fb_vec_str(vec, (uint32_t)n - 1), last));
	CN_CHECK(!cn_fb_builder_failed(b));
	free(refs);
}

CN_TEST(reset_shrink_forgets_and_builds_again)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	CN_CHECK(b != NULL);
	build_strings(b, 20000); /* about 400 KiB: past the 64 KiB kept below */
	cn_fb_builder_reset_shrink(b, 64 << 10);
	build_strings(b, 3); /* a small answer in the small buffer */
	cn_fb_builder_reset_shrink(b, 64 << 10);
	build_strings(b, 20000);                /* and it grows again */
	cn_fb_builder_reset_shrink(b, 1 << 30); /* under keep: a plain reset */
	build_strings(b, 10);
	cn_fb_builder_free(b);
}

CN_TEST(misuse_is_sticky_and_reset_clears_it)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	const uint8_t *out;
	size_t len;

	cn_fb_table_start(b);
	cn_fb_table_start(b); /* nested */
	CN_CHECK(cn_fb_builder_failed(b));
	CN_CHECK_EQ_INT(cn_fb_table_end(b), 0);
	CN_CHECK(!cn_fb_finish(b, 4, &out, &len));

	cn_fb_builder_reset(b);
	CN_CHECK(!cn_fb_builder_failed(b));
	cn_fb_add_i32(b, 0, 1); /* no table open */
	CN_CHECK(cn_fb_builder_failed(b));

	cn_fb_builder_reset(b);
	cn_fb_table_start(b);
	CN_CHECK_EQ_INT(cn_fb_create_cstr(b, "x"), 0); /* child inside an open table */
	CN_CHECK(cn_fb_builder_failed(b));

	cn_fb_builder_reset(b);
	CN_CHECK_EQ_INT(cn_fb_table_end(b), 0); /* end without start */
	CN_CHECK(cn_fb_builder_failed(b));

	cn_fb_builder_reset(b);
	CN_CHECK(!cn_fb_finish(b, 0, &out, &len)); /* no root */
	cn_fb_builder_reset(b);
	cn_fb_ref s = cn_fb_create_cstr(b, "abc");
	CN_CHECK(!cn_fb_finish(b, s + 64, &out, &len)); /* ref beyond the buffer */

	cn_fb_builder_reset(b);
	CN_CHECK_EQ_INT(cn_fb_create_vec_scalars(b, "abc", 1, 3), 0); /* bad elem size */
	CN_CHECK(cn_fb_builder_failed(b));

	cn_fb_builder_reset(b);
	cn_fb_table_start(b);
	cn_fb_ref inner = cn_fb_table_end(b);
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 0, inner + 100); /* ref not built before this table */
	CN_CHECK(cn_fb_builder_failed(b));

	/* still usable after reset */
	cn_fb_builder_reset(b);
	cn_fb_table_start(b);
	cn_fb_add_u16(b, 0, 77);
	cn_fb_ref r = cn_fb_table_end(b);
	CN_CHECK(cn_fb_finish(b, r, &out, &len));
	CN_CHECK_EQ_INT(cn_fb_get_u16(cn_fb_root(out), 0, 0), 77);
	CN_CHECK(!cn_fb_finish(b, r, &out, &len)); /* twice */
	CN_CHECK(cn_fb_builder_failed(NULL));
	cn_fb_builder_free(NULL);
	cn_fb_builder_free(b);
}

CN_TEST(odd_mix_alignment)
{
	/* bytes and shorts before and after wide scalars must not misalign them */
	for (int pre = 0; pre < 8; pre++) {
		cn_fb_builder *b = cn_fb_builder_new(0);
		cn_fb_ref s = cn_fb_create_string(b, "abcdefg", (size_t)pre);
		cn_fb_table_start(b);
		for (int i = 0; i < pre; i++)
			cn_fb_add_u8(b, 10 + (unsigned)i, (uint8_t)i);
		cn_fb_add_i64(b, 0, -1);
		cn_fb_add_u16(b, 1, 3);
		cn_fb_add_ref(b, 2, s);
		cn_fb_add_f32(b, 3, 2.5f);
		cn_fb_add_u8(b, 4, 1);
		cn_fb_add_f64(b, 5, 8.0);
		size_t len;
		const uint8_t *buf = finish(b, cn_fb_table_end(b), &len);
		cn_fb_table t = cn_fb_root(buf);
		CN_CHECK(field_pos(t, 0) % 8 == 0 && field_pos(t, 5) % 8 == 0);
		CN_CHECK(field_pos(t, 1) % 2 == 0 && field_pos(t, 3) % 4 == 0);
		CN_CHECK(field_pos(t, 2) % 4 == 0);
		CN_CHECK(len % 8 == 0);
		CN_CHECK_EQ_INT(cn_fb_get_i64(t, 0, 0), -1);
		CN_CHECK_EQ_INT(cn_fb_get_u16(t, 1, 0), 3);
		CN_CHECK(cn_fb_get_f32(t, 3, 0) == 2.5f);
		CN_CHECK(cn_fb_get_f64(t, 5, 0) == 8.0);
		CN_CHECK_EQ_INT(cn_fb_get_str(t, 2).len, pre);
		for (int i = 0; i < pre; i++)
			CN_CHECK_EQ_INT(cn_fb_get_u8(t, 10 + (unsigned)i, 99), i);
		cn_fb_builder_free(b);
	}
}

CN_TEST_MAIN()
