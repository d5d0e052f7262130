/*
 * core/codec/codec_test_util.h: helpers and a hand-written schema shared by
 * the codec unit tests (header-only, test code only).
 *
 * The synthetic schema "t" has a table with one field of every scalar type,
 * enum and vector kind, and a self-recursive table for depth limits, so
 * the codecs are tested independently of the MLflow .fbs files.
 */
#ifndef CN_CODEC_TEST_UTIL_H
#define CN_CODEC_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/codec/codec.h"

static const cn_schema_enum_val tu_color_vals[] = {{"RED", 1}, {"GREEN", 2}, {"BLUE", 7}};
static const cn_schema_enum tu_enums[] = {
        {.name = "t.Color", .type = CN_FT_U8, .vals = tu_color_vals, .nvals = 3}};

#define TU_F(n, i, ty, el, tab, en, fl)                                                     \
	{                                                                                   \
		.name = n, .id = i, .type = ty, .elem = el, .table = tab, .enum_index = en, \
		.flags = fl                                                                 \
	}
static const cn_schema_field tu_all_fields[] = {
        TU_F("b", 0, CN_FT_BOOL, 0, -1, -1, 0),
        TU_F("i8", 1, CN_FT_I8, 0, -1, -1, 0),
        TU_F("u8", 2, CN_FT_U8, 0, -1, -1, 0),
        TU_F("i16", 3, CN_FT_I16, 0, -1, -1, 0),
        TU_F("u16", 4, CN_FT_U16, 0, -1, -1, 0),
        TU_F("i32", 5, CN_FT_I32, 0, -1, -1, 0),
        TU_F("u32", 6, CN_FT_U32, 0, -1, -1, 0),
        TU_F("i64", 7, CN_FT_I64, 0, -1, -1, CN_FF_OPTIONAL),
        TU_F("u64", 8, CN_FT_U64, 0, -1, -1, 0),
        TU_F("f32", 9, CN_FT_F32, 0, -1, -1, 0),
        TU_F("f64", 10, CN_FT_F64, 0, -1, -1, 0),
        TU_F("s", 11, CN_FT_STRING, 0, -1, -1, 0),
        TU_F("color", 12, CN_FT_U8, 0, -1, 0, 0),
        TU_F("colors", 13, CN_FT_VECTOR, CN_FT_U8, -1, 0, 0),
        TU_F("nums", 14, CN_FT_VECTOR, CN_FT_I32, -1, -1, 0),
        TU_F("flags", 15, CN_FT_VECTOR, CN_FT_BOOL, -1, -1, 0),
        TU_F("old", 16, CN_FT_I32, 0, -1, -1, CN_FF_DEPRECATED),
        TU_F("child", 17, CN_FT_TABLE, 0, 1, -1, 0),
        TU_F("reals", 18, CN_FT_VECTOR, CN_FT_F64, -1, -1, 0),
        TU_F("strs", 19, CN_FT_VECTOR, CN_FT_STRING, -1, -1, 0),
        TU_F("req", 20, CN_FT_STRING, 0, -1, -1, CN_FF_REQUIRED),
};
static const cn_schema_field tu_node_fields[] = {
        TU_F("child", 0, CN_FT_TABLE, 0, 1, -1, 0),
        TU_F("v", 1, CN_FT_I32, 0, -1, -1, 0),
        TU_F("kids", 2, CN_FT_VECTOR, CN_FT_TABLE, 1, -1, 0),
};
#undef TU_F
static const cn_schema_table tu_tables[] = {
        {.name = "t.All", .short_name = "All", .fields = tu_all_fields, .nfields = 21},
        {.name = "t.Node", .short_name = "Node", .fields = tu_node_fields, .nfields = 3},
};
static const cn_schema tu_schema = {
        .tables = tu_tables, .ntables = 2, .enums = tu_enums, .nenums = 1};
enum { TU_ALL = 0, TU_NODE = 1 };

/* String check with long values (cn_test.h's CN_CHECK_STR truncates them). */
static void tu_check_str(const char *file, int line, const char *got, const char *want)
{
	if (got && want && strcmp(got, want) == 0)
		return;
	char m[2600];
	snprintf(m, sizeof m, "\n  got:  %.1200s\n  want: %.1200s", got ? got : "(null)",
	         want ? want : "(null)");
	cn_test_fail(file, line, m);
}
#define TU_STR(got, want) tu_check_str(__FILE__, __LINE__, (got), (want))

/* Decode json as table ti, then finish, verify and encode back. Returns the
 * decode/verify code; on success *out is the re-encoded JSON (malloc'd). */
static inline cn_code tu_round_trip(const cn_schema *s, int ti, const char *json,
                                    const cn_codec_kv *extra, size_t nextra, bool query, char **out,
                                    cn_err *err)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref root = 0;
	cn_err_clear(err);
	*out = NULL;
	cn_code rc =
	        query ? cn_query_decode(s, ti, json, strlen(json), extra, nextra, b, &root, err)
	              : cn_json_decode(s, ti, json, strlen(json), extra, nextra, b, &root, err);
	if (rc == CN_OK) {
		const uint8_t *buf;
		size_t len;
		CN_CHECK(cn_fb_finish(b, root, &buf, &len));
		rc = cn_fb_verify(s, ti, buf, len, err);
		CN_CHECK_EQ_INT(rc, CN_OK);
		cn_buf j = CN_BUF_INIT;
		CN_CHECK_EQ_INT(cn_json_encode(s, ti, cn_fb_root(buf), &j), CN_OK);
		*out = strdup(j.p ? j.p : "");
		cn_buf_free(&j);
	} else {
		CN_CHECK_EQ_INT(root, 0);
	}
	cn_fb_builder_free(b);
	return rc;
}

/* Expect json (as ti) to re-encode as want. */
#define TU_RT(s, ti, json, want)                                                    \
	do {                                                                        \
		cn_err e_;                                                          \
		char *o_ = NULL;                                                    \
		cn_code rc_ = tu_round_trip(s, ti, json, NULL, 0, false, &o_, &e_); \
		CN_CHECK_EQ_INT(rc_, CN_OK);                                        \
		if (o_)                                                             \
			TU_STR(o_, want);                                           \
		else                                                                \
			TU_STR(e_.msg, "");                                         \
		free(o_);                                                           \
	} while (0)

/* Expect decoding json to fail with code and exactly msg (or a prefix when
 * msg ends in '*'). */
#define TU_ERR_(s, ti, json, query, code, want)                                     \
	do {                                                                        \
		cn_err e_;                                                          \
		char *o_ = NULL;                                                    \
		const char *w_ = (want);                                            \
		cn_code rc_ = tu_round_trip(s, ti, json, NULL, 0, query, &o_, &e_); \
		CN_CHECK_EQ_INT(rc_, code);                                         \
		free(o_);                                                           \
		size_t n_ = strlen(w_);                                             \
		if (n_ && w_[n_ - 1] == '*') {                                      \
			if (strncmp(e_.msg, w_, n_ - 1) != 0)                       \
				TU_STR(e_.msg, w_);                                 \
		} else {                                                            \
			TU_STR(e_.msg, w_);                                         \
		}                                                                   \
	} while (0)
#define TU_ERR(s, ti, json, code, want) TU_ERR_(s, ti, json, false, code, want)
#define TU_QERR(s, ti, qs, code, want)  TU_ERR_(s, ti, qs, true, code, want)

#endif
