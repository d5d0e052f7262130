/*
 * core/codec/fuzz_query_decode.c: arbitrary bytes as a URL query string.
 * On success the buffer must verify and encode.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/codec/codec.h"
#include "core/codec/fuzz_input.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const cn_schema *s = &cn_schema_cairn;
	int ti = fuzz_pick_table(s, &data, &size);
	cn_fb_builder *b = cn_fb_builder_new(0);
	if (!b)
		return 0;
	/* half the inputs also carry a path parameter taken from the input */
	cn_codec_kv kv = {NULL, NULL};
	char key[32] = "", val[32] = "";
	size_t nkv = 0;
	if (size > 2 && (data[0] & 1) && s->tables[ti].nfields) {
		const cn_schema_table *t = &s->tables[ti];
		snprintf(key, sizeof key, "%s", t->fields[data[1] % t->nfields].name);
		size_t n = size - 2 < sizeof val - 1 ? size - 2 : sizeof val - 1;
		memcpy(val, data + 2, n);
		val[n] = '\0';
		kv.key = key;
		kv.value = val;
		nkv = 1;
	}
	cn_fb_ref root;
	cn_err err;
	if (cn_query_decode(s, ti, (const char *)data, size, &kv, nkv, b, &root, &err) == CN_OK) {
		const uint8_t *buf;
		size_t n;
		if (!cn_fb_finish(b, root, &buf, &n))
			abort();
		if (cn_fb_verify(s, ti, buf, n, &err) != CN_OK) {
			fprintf(stderr, "decoded buffer does not verify: %s\n", err.msg);
			abort();
		}
		cn_buf out = CN_BUF_INIT;
		if (cn_json_encode(s, ti, cn_fb_root(buf), &out) != CN_OK)
			abort();
		cn_buf_free(&out);
	}
	cn_fb_builder_free(b);
	return 0;
}
