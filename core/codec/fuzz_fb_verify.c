/*
 * core/codec/fuzz_fb_verify.c: arbitrary bytes as a bus message. Verified
 * as an Envelope (and then its payload as the table its method names) and
 * as a SearchExperimentsResponse; whatever verifies must encode to JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_verify_encode(int ti, const uint8_t *buf, size_t len)
{
	cn_err err;
	if (cn_fb_verify(&cn_schema_cairn, ti, buf, len, &err) != CN_OK)
		return;
	cn_buf out = CN_BUF_INIT;
	if (cn_json_encode(&cn_schema_cairn, ti, cn_fb_root(buf), &out) != CN_OK)
		abort();
	cn_buf_free(&out);
	if (ti != CN_TABLE_Envelope)
		return;
	cn_fb_table env = cn_fb_root(buf);
	cn_fb_str method = cn_Envelope_method(env);
	cn_fb_vec payload = cn_Envelope_payload(env);
	if (!method.ptr || !payload.buf || method.len >= 128)
		return;
	char name[128];
	memcpy(name, method.ptr, method.len);
	name[method.len] = '\0';
	int pti = cn_schema_table_index(&cn_schema_cairn, name);
	if (pti < 0)
		return;
	/* the payload as its own buffer, copied so that ASan sees its end */
	uint8_t *copy = malloc(payload.n ? payload.n : 1);
	if (!copy)
		return;
	memcpy(copy, payload.buf + payload.pos, payload.n);
	if (cn_fb_verify(&cn_schema_cairn, pti, copy, payload.n, &err) == CN_OK) {
		if (cn_json_encode(&cn_schema_cairn, pti, cn_fb_root(copy), &out) != CN_OK)
			abort();
		cn_buf_free(&out);
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_verify_encode(CN_TABLE_Envelope, data, size);
	fuzz_verify_encode(CN_TABLE_SearchExperimentsResponse, data, size);
	return 0;
}
