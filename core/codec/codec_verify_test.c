/* core/codec/codec_verify_test.c: cn_fb_verify on good, corrupted and hostile buffers. */
#include "core/codec/codec_test_util.h"
#include "schemas/cairn_schema.h"

static const cn_schema *S = &cn_schema_cairn;

/* A SearchExperimentsResponse with two experiments (one with tags). */
static const uint8_t *build_response(cn_fb_builder *b, size_t *len)
{
	const char *json = "{\"experiments\":[{\"experiment_id\":\"1\",\"name\":\"n\xc3\xa9\","
	                   "\"creation_time\":5,\"tags\":[{\"key\":\"k\",\"value\":\"v\"}]},"
	                   "{\"experiment_id\":\"2\"}],\"next_page_token\":\"t\"}";
	cn_fb_ref root;
	cn_err err;
	CN_CHECK_EQ_INT(cn_json_decode(S, CN_TABLE_SearchExperimentsResponse, json, strlen(json),
	                               NULL, 0, b, &root, &err),
	                CN_OK);
	const uint8_t *buf = NULL;
	CN_CHECK(cn_fb_finish(b, root, &buf, len));
	return buf;
}

/* Copy into a fresh heap block of exactly len bytes so ASan sees overreads. */
static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	if (len)
		memcpy(c, p, len);
	return c;
}

static void expect_bad(int ti, const uint8_t *buf, size_t len, const char *want_prefix, int line)
{
	cn_err err;
	cn_err_clear(&err);
	uint8_t *c = dup_exact(buf, len);
	cn_code rc = cn_fb_verify(S, ti, c, len, &err);
	free(c);
	if (rc != CN_MALFORMED_REQUEST) {
		char m[64];
		snprintf(m, sizeof m, "expected MALFORMED_REQUEST, got %d", (int)rc);
		cn_test_fail(__FILE__, line, m);
		return;
	}
	if (strncmp(err.msg, want_prefix, strlen(want_prefix)) != 0)
		tu_check_str(__FILE__, line, err.msg, want_prefix);
}
#define BAD(ti, buf, len, want) expect_bad(ti, buf, len, want, __LINE__)

CN_TEST(valid_buffers_pass)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	size_t len;
	const uint8_t *buf = build_response(b, &len);
	cn_err err;
	uint8_t *c = dup_exact(buf, len);
	CN_CHECK_EQ_INT(cn_fb_verify(S, CN_TABLE_SearchExperimentsResponse, c, len, &err), CN_OK);
	/* extra trailing bytes are fine */
	free(c);
	c = malloc(len + 16);
	memcpy(c, buf, len);
	memset(c + len, 0xee, 16);
	CN_CHECK_EQ_INT(cn_fb_verify(S, CN_TABLE_SearchExperimentsResponse, c, len + 16, &err),
	                CN_OK);
	free(c);
	cn_fb_builder_free(b);
}

CN_TEST(structural_errors)
{
	uint8_t small[8] = {4, 0, 0, 0, 0, 0, 0, 0};
	BAD(CN_TABLE_Envelope, small, sizeof small,
	    "Invalid FlatBuffer: Envelope: buffer too short");
	BAD(CN_TABLE_Envelope, NULL, 0, "Invalid FlatBuffer: Envelope: buffer too short");

	/* root offset beyond the end */
	uint8_t r[16] = {200, 0, 0, 0};
	BAD(CN_TABLE_Envelope, r, sizeof r,
	    "Invalid FlatBuffer: Envelope: root offset out of bounds");
	/* root table misaligned */
	uint8_t m[16] = {5, 0, 0, 0};
	BAD(CN_TABLE_Envelope, m, sizeof m,
	    "Invalid FlatBuffer: Envelope: table out of bounds or misaligned");
	/* vtable before the buffer start */
	uint8_t v[16] = {4, 0, 0, 0, 100, 0, 0, 0};
	BAD(CN_TABLE_Envelope, v, sizeof v, "Invalid FlatBuffer: Envelope: vtable out of bounds");
	/* vtable (at 8) with odd length */
	uint8_t o[16] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 5, 0, 4, 0};
	BAD(CN_TABLE_Envelope, o, sizeof o, "Invalid FlatBuffer: Envelope: bad vtable size");
	/* vtable length too small */
	uint8_t z[16] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 2, 0, 4, 0};
	BAD(CN_TABLE_Envelope, z, sizeof z, "Invalid FlatBuffer: Envelope: bad vtable size");
	/* table size beyond the buffer */
	uint8_t t[16] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 4, 0, 64, 0};
	BAD(CN_TABLE_Envelope, t, sizeof t, "Invalid FlatBuffer: Envelope: bad table size");
	/* a minimal valid empty table: vtable at 8 = {4, 4} */
	uint8_t e[12] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 4, 0, 4, 0};
	cn_err err;
	CN_CHECK_EQ_INT(cn_fb_verify(S, CN_TABLE_Envelope, e, sizeof e, &err), CN_OK);
	/* field offset past the table's size: vtable {6, 4, 8} for field 0 (kind) */
	uint8_t f[16] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 6, 0, 4, 0, 8, 0};
	BAD(CN_TABLE_Envelope, f, sizeof f,
	    "Invalid FlatBuffer: Envelope.kind: field outside its table");
	/* field offset inside the soffset */
	uint8_t g[16] = {4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 6, 0, 8, 0, 2, 0};
	BAD(CN_TABLE_Envelope, g, sizeof g,
	    "Invalid FlatBuffer: Envelope.kind: field outside its table");
	CN_CHECK_EQ_INT(cn_fb_verify(S, 9999, e, sizeof e, &err), CN_INTERNAL_ERROR);
}

/* Build an Envelope with a string (request_id) and payload, then corrupt it. */
CN_TEST(string_and_vector_errors)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_fb_ref s = cn_fb_create_cstr(b, "abcd");
	uint8_t bytes[3] = {1, 2, 3};
	cn_fb_ref p = cn_fb_create_vec_scalars(b, bytes, 3, 1);
	cn_Envelope_start(b);
	cn_Envelope_add_request_id(b, s);
	cn_Envelope_add_payload(b, p);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, cn_Envelope_end(b), &buf, &len));
	cn_fb_table t = cn_fb_root(buf);
	uint32_t spos = cn_fb_deref(buf, t.pos + cn_fb_field_off(t, CN_F_Envelope_request_id));
	uint32_t vpos = cn_fb_deref(buf, t.pos + cn_fb_field_off(t, CN_F_Envelope_payload));
	uint8_t *c = dup_exact(buf, len);
	cn_err err;
	CN_CHECK_EQ_INT(cn_fb_verify(S, CN_TABLE_Envelope, c, len, &err), CN_OK);

	c[spos + 4 + 4] = 'x'; /* overwrite the NUL terminator */
	BAD(CN_TABLE_Envelope, c, len,
	    "Invalid FlatBuffer: Envelope.request_id: string not NUL-terminated");
	memcpy(c, buf, len);
	c[spos + 5] = 0xff;
	BAD(CN_TABLE_Envelope, c, len,
	    "Invalid FlatBuffer: Envelope.request_id: string is not valid UTF-8");
	memcpy(c, buf, len);
	uint32_t huge = 0xfffffff0u;
	memcpy(c + spos, &huge, 4);
	BAD(CN_TABLE_Envelope, c, len,
	    "Invalid FlatBuffer: Envelope.request_id: string out of bounds");
	memcpy(c, buf, len);
	memcpy(c + vpos, &huge, 4);
	BAD(CN_TABLE_Envelope, c, len,
	    "Invalid FlatBuffer: Envelope.payload: vector out of bounds");
	memcpy(c, buf, len);
	/* point request_id's offset past the end */
	uint32_t far = (uint32_t)len;
	memcpy(c + t.pos + cn_fb_field_off(t, CN_F_Envelope_request_id), &far, 4);
	BAD(CN_TABLE_Envelope, c, len,
	    "Invalid FlatBuffer: Envelope.request_id: offset points outside");
	/* truncated buffers never read out of bounds; only cutting trailing
	 * padding (at most 7 bytes) can leave a valid buffer */
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = dup_exact(buf, n);
		cn_code rc = cn_fb_verify(S, CN_TABLE_Envelope, cut, n, &err);
		CN_CHECK(rc != CN_OK || n + 8 > len);
		free(cut);
	}
	free(c);
	cn_fb_builder_free(b);
}

CN_TEST(required_bool_and_depth)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	cn_CreateExperiment_start(b);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, cn_CreateExperiment_end(b), &buf, &len));
	BAD(CN_TABLE_CreateExperiment, buf, len,
	    "Invalid FlatBuffer: CreateExperiment.name: required field missing");

	/* bool fields must be 0 or 1 */
	cn_fb_builder_reset(b);
	cn_fb_ref req = cn_fb_create_cstr(b, "");
	cn_fb_table_start(b);
	cn_fb_add_u8(b, 0, 2);
	cn_fb_add_ref(b, 20, req);
	CN_CHECK(cn_fb_finish(b, cn_fb_table_end(b), &buf, &len));
	cn_err err;
	CN_CHECK_EQ_INT(cn_fb_verify(&tu_schema, TU_ALL, buf, len, &err), CN_MALFORMED_REQUEST);
	TU_STR(err.msg, "Invalid FlatBuffer: All.b: bool is neither 0 nor 1");

	/* 64 nested tables pass, 65 do not */
	for (int depth = 64; depth <= 65; depth++) {
		cn_fb_builder_reset(b);
		cn_fb_ref child = 0;
		for (int i = 0; i < depth; i++) {
			cn_fb_table_start(b);
			cn_fb_add_ref(b, 0, child);
			child = cn_fb_table_end(b);
		}
		CN_CHECK(cn_fb_finish(b, child, &buf, &len));
		cn_code rc = cn_fb_verify(&tu_schema, TU_NODE, buf, len, &err);
		CN_CHECK_EQ_INT(rc, depth == 64 ? CN_OK : CN_MALFORMED_REQUEST);
		if (rc != CN_OK)
			TU_STR(err.msg, "Invalid FlatBuffer: Node: tables nested too deeply");
	}
	cn_fb_builder_free(b);
}

CN_TEST(shared_data_amplification_is_bounded)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	char big[4096];
	memset(big, 'a', sizeof big);
	cn_fb_ref s = cn_fb_create_string(b, big, sizeof big);
	enum { N = 20000 };
	cn_fb_ref *refs = malloc(N * sizeof *refs);
	for (int i = 0; i < N; i++)
		refs[i] = s;
	cn_fb_ref v = cn_fb_create_vec_refs(b, refs, N);
	free(refs);
	cn_fb_ref req = cn_fb_create_cstr(b, "");
	cn_fb_table_start(b);
	cn_fb_add_ref(b, 19, v);
	cn_fb_add_ref(b, 20, req);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, cn_fb_table_end(b), &buf, &len));
	cn_err err;
	CN_CHECK_EQ_INT(cn_fb_verify(&tu_schema, TU_ALL, buf, len, &err), CN_MALFORMED_REQUEST);
	TU_STR(err.msg, "Invalid FlatBuffer: All.strs: too much shared data");
	cn_fb_builder_free(b);
}

/* Every single-byte corruption of a valid buffer is either rejected or
 * safe to encode (ASan/UBSan builds catch any stray read). */
CN_TEST(byte_flips_never_crash)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	size_t len;
	const uint8_t *buf = build_response(b, &len);
	static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x04, 0x7f, 0x80, 0xfe, 0xff};
	size_t ok = 0, bad = 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof vals; k++) {
			uint8_t *c = dup_exact(buf, len);
			c[i] = vals[k];
			cn_err err;
			if (cn_fb_verify(S, CN_TABLE_SearchExperimentsResponse, c, len, &err) ==
			    CN_OK) {
				cn_buf out = CN_BUF_INIT;
				CN_CHECK_EQ_INT(cn_json_encode(S,
				                               CN_TABLE_SearchExperimentsResponse,
				                               cn_fb_root(c), &out),
				                CN_OK);
				cn_buf_free(&out);
				ok++;
			} else {
				CN_CHECK_EQ_INT(err.code, CN_MALFORMED_REQUEST);
				bad++;
			}
			free(c);
		}
	}
	CN_CHECK(ok > 0 && bad > 0);
	cn_fb_builder_free(b);
}

CN_TEST_MAIN()
