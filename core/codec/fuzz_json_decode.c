/*
 * core/codec/fuzz_json_decode.c: arbitrary bytes as a JSON request body.
 * On success the buffer must verify, encode, and the encoding must decode
 * again to the same JSON (a round-trip property, not just "no crash").
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/codec/codec.h"
#include "core/codec/fuzz_input.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode json as ti and encode it into out; the decode code. */
static cn_code fuzz_json_once(int ti, const char *json, size_t len, cn_fb_builder *b, cn_buf *out,
                              cn_err *err)
{
	const cn_schema *s = &cn_schema_cairn;
	cn_fb_builder_reset(b);
	cn_fb_ref root;
	cn_code rc = cn_json_decode(s, ti, json, len, NULL, 0, b, &root, err);
	if (rc != CN_OK)
		return rc;
	const uint8_t *buf;
	size_t n;
	if (!cn_fb_finish(b, root, &buf, &n))
		abort();
	if (cn_fb_verify(s, ti, buf, n, err) != CN_OK) {
		fprintf(stderr, "decoded buffer does not verify: %s\n", err->msg);
		abort();
	}
	if (cn_json_encode(s, ti, cn_fb_root(buf), out) != CN_OK)
		abort();
	return CN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int ti = fuzz_pick_table(&cn_schema_cairn, &data, &size);
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_buf first = CN_BUF_INIT, second = CN_BUF_INIT;
	cn_err err;
	if (!b)
		return 0;
	if (fuzz_json_once(ti, (const char *)data, size, b, &first, &err) == CN_OK) {
		cn_code rc = fuzz_json_once(ti, first.p, first.len, b, &second, &err);
		if (rc != CN_OK && !strstr(err.msg, "too big integer")) {
			fprintf(stderr, "re-decode of %s failed: %s\n", first.p, err.msg);
			abort();
		}
		if (rc == CN_OK && strcmp(first.p, second.p) != 0) {
			fprintf(stderr, "round trip differs:\n%s\n%s\n", first.p, second.p);
			abort();
		}
	}
	cn_buf_free(&first);
	cn_buf_free(&second);
	cn_fb_builder_free(b);
	return 0;
}
