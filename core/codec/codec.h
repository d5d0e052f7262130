/*
 * core/codec/codec.h: MLflow JSON and URL query strings <-> FlatBuffers.
 *
 * Driven by the generated schema descriptors (core/fb/schema.h), so no code
 * is written per endpoint. The JSON shape is MLflow's (protobuf JSON mapping
 * with preserved snake_case field names): int64 as JSON numbers, enums as
 * their names, repeated fields as arrays, absent fields omitted.
 *
 * Errors are MLflow-shaped: malformed JSON -> MALFORMED_REQUEST; wrong
 * types, unknown fields, missing required fields, out-of-range numbers,
 * unknown enum names, invalid UTF-8 -> INVALID_PARAMETER_VALUE, with a
 * message naming the field.
 */
#ifndef CN_CODEC_H
#define CN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/fb/schema.h"

/* Extra string-valued fields from outside the body (URL path parameters).
 * They are converted to the field's type as a query-string value would be. */
typedef struct cn_codec_kv {
	const char *key;
	const char *value;
} cn_codec_kv;

/* Decode a JSON object into a new root table of type `table`, built in `b`
 * (which the caller has reset; the decoder may reset it again). On success
 * *root is the table ref (pass it to cn_fb_finish). An empty body (len == 0)
 * decodes as `{}`. Valid bodies take a one-pass path without a JSON tree;
 * the rest are decoded again with jansson for exact diagnostics. */
cn_code cn_json_decode(const cn_schema *s, int table, const char *json, size_t len,
                       const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_fb_ref *root,
                       cn_err *err);

/* Decode a URL query string ("a=1&b=x%20y&ids=1&ids=2", without '?'). Repeated
 * keys append to vector fields; nested tables are not addressable. */
cn_code cn_query_decode(const cn_schema *s, int table, const char *qs, size_t len,
                        const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_fb_ref *root,
                        cn_err *err);

/* Append table `t` of type `table` as a JSON object to out. The buffer must
 * have been verified. Fails only on allocation failure. */
cn_code cn_json_encode(const cn_schema *s, int table, cn_fb_table t, cn_buf *out);

/* Check that buf[0..len) is a well-formed FlatBuffer whose root is `table`:
 * offsets in bounds, strings terminated and valid UTF-8, vtables sane,
 * nesting depth bounded. Must pass before any reader touches bytes that came
 * from outside the process. */
cn_code cn_fb_verify(const cn_schema *s, int table, const void *buf, size_t len, cn_err *err);

#endif
