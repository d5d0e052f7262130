/*
 * core/otlp/fuzz_otlp.c: libFuzzer target of the OTLP decoder. The first
 * byte picks protobuf or JSON (and whether to inflate first); the rest is
 * the body. Whatever parses is built into IngestSpans and verified, and the
 * response is encoded, so every stage sees hostile input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/codec/codec.h"
#include "core/otlp/otlp.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cn_otlp_format fmt = (data[0] & 1) ? CN_OTLP_JSON : CN_OTLP_PROTOBUF;
	bool inflate = data[0] & 2;
	data++;
	size--;
	cn_otlp_limits lim = cn_otlp_default_limits();
	lim.max_body = 1 << 20;
	lim.max_memory = 64 << 20;
	cn_err err;
	cn_buf body = CN_BUF_INIT;
	if (inflate) {
		if (cn_otlp_inflate(data, size, lim.max_body, &body, &err) != CN_OK) {
			cn_buf_free(&body);
			return 0;
		}
		data = (const uint8_t *)(body.p ? body.p : "");
		size = body.len;
	}
	cn_otlp_req *r = NULL;
	if (cn_otlp_parse(fmt, data, size, &lim, &r, &err) == CN_OK) {
		cn_fb_builder *b = cn_fb_builder_new(1024);
		cn_fb_ref root;
		cn_otlp_result res;
		const uint8_t *buf;
		size_t len;
		if (b && cn_otlp_build(r, "0", b, &root, &res, &err) == CN_OK &&
		    cn_fb_finish(b, root, &buf, &len) &&
		    cn_fb_verify(&cn_schema_cairn, CN_TABLE_IngestSpans, buf, len, &err) != CN_OK)
			abort(); /* the decoder built what the services would refuse */
		cn_buf out = CN_BUF_INIT;
		cn_otlp_response(fmt, (int64_t)res.rejected, res.error, &out);
		cn_buf_free(&out);
		cn_fb_builder_free(b);
	}
	cn_otlp_req_free(r);
	cn_buf_free(&body);
	return 0;
}
