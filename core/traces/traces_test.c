/*
 * core/traces/traces_test.c: the wire forms the traces service reads and
 * writes (protobuf Timestamp/Duration text, OTel ids as base64, trace ids),
 * and the codec's `map` and `json` fields on the trace tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec/codec.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"
#include "tests/lib/cn_test.h"

CN_TEST(timestamps_round_trip)
{
	char out[40];
	trc_fmt_timestamp(1700000000000, out);
	CN_CHECK_STR(out, "2023-11-14T22:13:20Z");
	trc_fmt_timestamp(1700000000123, out);
	CN_CHECK_STR(out, "2023-11-14T22:13:20.123Z");
	int64_t ms = 0;
	CN_CHECK(trc_parse_timestamp("2023-11-14T22:13:20.123Z", 24, &ms));
	CN_CHECK_EQ_INT(ms, 1700000000123);
	CN_CHECK(trc_parse_timestamp("2023-11-14T22:13:20.123456789Z", 30, &ms));
	CN_CHECK_EQ_INT(ms, 1700000000123);
	CN_CHECK(trc_parse_timestamp("2023-11-15T00:13:20+02:00", 25, &ms));
	CN_CHECK_EQ_INT(ms, 1700000000000);
	CN_CHECK(trc_parse_timestamp("1970-01-01T00:00:00Z", 20, &ms));
	CN_CHECK_EQ_INT(ms, 0);
	const char *bad[] = {"",
	                     "2023-11-14",
	                     "2023-11-14T22:13:20",
	                     "2023-13-14T22:13:20Z",
	                     "2023-11-14T22:13:20.Z",
	                     "2023-11-14T22:13:20Zx",
	                     "yesterday"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CN_CHECK(!trc_parse_timestamp(bad[i], strlen(bad[i]), &ms));
}

CN_TEST(durations_round_trip)
{
	char out[40];
	trc_fmt_duration(2500, out);
	CN_CHECK_STR(out, "2.500s");
	trc_fmt_duration(3000, out);
	CN_CHECK_STR(out, "3s");
	trc_fmt_duration(7, out);
	CN_CHECK_STR(out, "0.007s");
	int64_t ms = 0;
	CN_CHECK(trc_parse_duration("1.5s", 4, &ms));
	CN_CHECK_EQ_INT(ms, 1500);
	CN_CHECK(trc_parse_duration("0.000250s", 9, &ms));
	CN_CHECK_EQ_INT(ms, 0);
	CN_CHECK(trc_parse_duration("12s", 3, &ms));
	CN_CHECK_EQ_INT(ms, 12000);
	CN_CHECK(!trc_parse_duration("1.5", 3, &ms));
	CN_CHECK(!trc_parse_duration("s", 1, &ms));
	CN_CHECK(!trc_parse_duration("1.s", 3, &ms));
}

CN_TEST(ids)
{
	CN_CHECK(trc_valid_trace_id("tr-0123456789abcdef0123456789abcdef", 35));
	CN_CHECK(!trc_valid_trace_id("tr-0123456789ABCDEF0123456789abcdef", 35));
	CN_CHECK(!trc_valid_trace_id("tx-0123456789abcdef0123456789abcdef", 35));
	CN_CHECK(!trc_valid_trace_id("tr-0123", 7));
	char id[TRC_ID_MAX];
	CN_CHECK(trc_trace_id_from_otel("0123456789ABCDEF0123456789abcdef", 32, id));
	CN_CHECK_STR(id, "tr-0123456789abcdef0123456789abcdef");
	CN_CHECK(!trc_trace_id_from_otel("0123", 4, id));
	cn_buf b = {0};
	trc_hex_to_b64("0123456789abcdef", 16, &b);
	CN_CHECK_STR(b.p, "ASNFZ4mrze8=");
	cn_buf_reset(&b);
	trc_hex_to_b64("0123456789abcdef0123456789abcdef", 32, &b);
	CN_CHECK_STR(b.p, "ASNFZ4mrze8BI0VniavN7w==");
	cn_buf_free(&b);
}

/* A JSON body through decode then encode. */
static void trc_round(int table, const char *in, const char *expect)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref root = 0;
	cn_err err;
	cn_code rc =
	        cn_json_decode(&cn_schema_cairn, table, in, strlen(in), NULL, 0, b, &root, &err);
	CN_CHECK_EQ_INT(rc, CN_OK);
	if (rc == CN_OK) {
		const uint8_t *buf;
		size_t len;
		CN_CHECK(cn_fb_finish(b, root, &buf, &len));
		cn_buf out = {0};
		CN_CHECK_EQ_INT(cn_json_encode(&cn_schema_cairn, table, cn_fb_root(buf), &out),
		                CN_OK);
		CN_CHECK_STR(out.p, expect);
		cn_buf_free(&out);
	}
	cn_fb_builder_free(b);
}

CN_TEST(codec_map_and_json_fields)
{
	/* proto maps are JSON objects both ways */
	trc_round(CN_TABLE_TraceInfoV3, "{\"trace_id\":\"tr-1\",\"tags\":{\"a\":\"1\",\"b\":\"\"}}",
	          "{\"trace_id\":\"tr-1\",\"tags\":{\"a\":\"1\",\"b\":\"\"}}");
	/* an empty map is omitted, as protobuf omits it */
	trc_round(CN_TABLE_TraceInfoV3, "{\"trace_metadata\":{}}", "{}");
	/* `json` strings take any JSON value and write it back as JSON */
	trc_round(CN_TABLE_TraceDataEvent, "{\"name\":\"e\",\"attributes\":{\"n\":[1,true,null]}}",
	          "{\"name\":\"e\",\"attributes\":{\"n\":[1,true,null]}}");
	/* map values keep their type checks */
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref root;
	cn_err err;
	const char *bad = "{\"tags\":{\"a\":5}}";
	CN_CHECK_EQ_INT(cn_json_decode(&cn_schema_cairn, CN_TABLE_TraceInfoV3, bad, strlen(bad),
	                               NULL, 0, b, &root, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_fb_builder_free(b);
}

static int find(const char *doc, const char *key, const char **val)
{
	static char out[256];
	cn_fb_str v = {0};
	int r = trc_json_find((cn_fb_str){doc, strlen(doc)}, key, &v);
	snprintf(out, sizeof out, "%.*s", (int)v.len, v.ptr ? v.ptr : "");
	*val = out;
	return r;
}

CN_TEST(attribute_key_scan)
{
	const char *v;
	CN_CHECK_EQ_INT(find("{\"a\": \"x\", \"k\": \"\\\"q\\\"\"}", "k", &v), 1);
	CN_CHECK_STR(v, "\"\\\"q\\\"\"");
	/* Values of every shape are skipped, strings with brackets included. */
	CN_CHECK_EQ_INT(find(" { \"a\" : [1, {\"b\": \"]}\"}], \"n\": -1.5e3, \"t\": true,"
	                     "\"k\": {\"x\": [null]} } ",
	                     "k", &v),
	                1);
	CN_CHECK_STR(v, "{\"x\": [null]}");
	/* The last copy of a key wins, as in jansson. */
	CN_CHECK_EQ_INT(find("{\"k\": 1, \"k\": 2}", "k", &v), 1);
	CN_CHECK_STR(v, "2");
	CN_CHECK_EQ_INT(find("{\"kk\": 1, \"\": 2}", "k", &v), 0);
	CN_CHECK_EQ_INT(find("{}", "k", &v), 0);
	/* Not sure: the caller parses the whole object. */
	CN_CHECK_EQ_INT(find("{\"\\u006b\": 1}", "k", &v), -1);
	CN_CHECK_EQ_INT(find("{\"k\": [1}", "k", &v), -1);
	CN_CHECK_EQ_INT(find("{\"k\": \"open", "k", &v), -1);
	CN_CHECK_EQ_INT(find("{\"k\": 1} x", "k", &v), -1);
	CN_CHECK_EQ_INT(find("[1]", "k", &v), -1);
	CN_CHECK_EQ_INT(find("{\"k\" 1}", "k", &v), -1);
	CN_CHECK_EQ_INT(find("{\"k\": 1,}", "k", &v), -1);
}

CN_TEST_MAIN()
