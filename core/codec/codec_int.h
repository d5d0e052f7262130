/*
 * core/codec/codec_int.h: what the JSON and query-string decoders share.
 *
 * Both decoders collect one pending value per field of the table being
 * built (children are built into the builder first, as FlatBuffers
 * requires), then codec_emit_table() writes the table. Values that arrive
 * as text (query strings, path parameters, numeric strings in JSON) are
 * converted by codec_scalar_from_text(). Error texts follow MLflow's.
 * Internal to core/codec; not thread-affine, no global state.
 */
#ifndef CN_CODEC_INT_H
#define CN_CODEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/codec/codec.h"

/* Deepest nesting of tables accepted from JSON or in a FlatBuffer. */
#define CODEC_MAX_DEPTH 64

/* A field's pending value: a scalar or a ref (string, vector, table). */
typedef struct codec_val {
	bool set;
	cn_fb_ref ref;
	union {
		int64_t i;
		uint64_t u;
		double d;
	} s;
} codec_val;

/* Display name of a field for messages: "name", or "tags[1].key" inside
 * nested tables. `prefix` is the path of the enclosing table ("" at top). */
typedef struct codec_path {
	char p[256];
} codec_path;
void codec_path_field(codec_path *out, const char *prefix, const char *field);
void codec_path_index(codec_path *out, const char *prefix, size_t index);

/* Field attributes that change a field's JSON form (schemas/common.fbs):
 * `map`: a vector of {key, value} tables is a JSON object; `json`: a string
 * holds JSON text, written as is and read from any JSON value. */
bool codec_field_attr(const cn_schema_field *f, const char *attr);
static inline bool codec_field_is_map(const cn_schema_field *f)
{
	return f->nattrs && f->type == CN_FT_VECTOR && f->elem == CN_FT_TABLE &&
	       codec_field_attr(f, "map");
}
static inline bool codec_field_is_json(const cn_schema_field *f)
{
	return f->nattrs && f->type == CN_FT_STRING && codec_field_attr(f, "json");
}

/* Size in bytes of a scalar cn_ft (0 for non-scalars). */
size_t codec_scalar_size(uint8_t ft);
static inline bool codec_is_int(uint8_t ft)
{
	return ft >= CN_FT_I8 && ft <= CN_FT_U64;
}
static inline bool codec_is_float(uint8_t ft)
{
	return ft == CN_FT_F32 || ft == CN_FT_F64;
}

/* Range check for integer type ft. Values are given as signed or unsigned
 * 64-bit (neg tells which). True when representable; *out receives it. */
bool codec_int_in_range(uint8_t ft, bool neg, uint64_t mag, codec_val *out);

/* Convert text to a scalar of type `ft` (the element type for vectors):
 * integers in decimal, floats (also NaN/Infinity/-Infinity), enums by name
 * or by an existing value, bools "true"/"false" only when allow_bool_text.
 * On failure: INVALID_PARAMETER_VALUE naming `path`. */
cn_code codec_scalar_from_text(const cn_schema *s, const cn_schema_field *f, uint8_t ft,
                               const char *path, const char *txt, size_t len, bool allow_bool_text,
                               codec_val *out, cn_err *err);

/* Shortest "%.Ng" text that reads back as d (as a float when is_float),
 * with ".0" added to integral values, as Python's repr prints floats.
 * Finite values only; buf needs 32 bytes. */
void codec_fmt_real(char *buf, size_t cap, double d, bool is_float);

/* Store a scalar value of type ft into elem (size codec_scalar_size(ft)). */
void codec_scalar_store(uint8_t ft, const codec_val *v, void *elem);

/* Check required fields, then write the table: scalars widest first, then
 * refs. vals has t->nfields entries (by field position). */
cn_code codec_emit_table(const cn_schema_table *t, const codec_val *vals, const char *prefix,
                         cn_fb_builder *b, cn_fb_ref *out, cn_err *err);

/* Set field f (of table t) from n text values (query string or path
 * parameters): a vector field takes all n; any other field exactly one.
 * Strings must be valid UTF-8; table fields are not addressable. */
cn_code codec_text_field(const cn_schema *s, const cn_schema_table *t, const cn_schema_field *f,
                         const char *path, const char *const *txt, const size_t *len, size_t n,
                         cn_fb_builder *b, codec_val *out, cn_err *err);

/* Apply `extra` (path parameters) to vals: each converted as query text,
 * overriding values from the body. Strings/vectors are created in b. */
cn_code codec_apply_extra(const cn_schema *s, const cn_schema_table *t, codec_val *vals,
                          const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_err *err);

/* Standard messages. `shown` is the offending value as text (cut and made
 * printable here); `why` completes "... supplied: <why>." */
cn_code codec_err_value(cn_err *err, const char *path, const char *shown, size_t shown_len,
                        const char *why);
cn_code codec_err_type(cn_err *err, const char *path, const char *shown, size_t shown_len,
                       const char *pytype);
cn_code codec_err_unknown(cn_err *err, const char *path, const cn_schema_table *t);
cn_code codec_err_oom(cn_err *err);

/* JSON decoding (cn_json_decode) in two parts. The scanner (json_scan.c)
 * decodes in one pass without a tree and returns false, leaving b dirty, on
 * anything it does not accept; the jansson path (json_decode.c) then
 * decodes the same text with MLflow-shaped diagnostics. */
bool codec_json_decode_scan(const cn_schema *s, int table, const char *json, size_t len,
                            const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b,
                            cn_fb_ref *root);
cn_code codec_json_decode_dom(const cn_schema *s, int table, const char *json, size_t len,
                              const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b,
                              cn_fb_ref *root, cn_err *err);

/* True when s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool codec_utf8_valid(const uint8_t *s, size_t len);

#endif
