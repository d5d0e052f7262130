/*
 * core/otlp/otlp_test.c: the OTLP decoder on what a real OpenTelemetry SDK
 * sends (testdata/agent.pb and agent.json, written by the JavaScript SDK's
 * own serializers: tests/peers/otel/golden.js), and on hostile input.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/codec/codec.h"
#include "core/otlp/otlp.h"
#include "core/otlp/otlp_int.h"
#include "schemas/cairn_schema.h"
#include "tests/lib/cn_test.h"
#include "trace_service.pb-c.h"

static char *read_file(const char *name, size_t *len)
{
	const char *dir = getenv("CN_OTLP_TESTDATA");
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir ? dir : "core/otlp/testdata", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *p = malloc(1 << 20);
	*len = fread(p, 1, 1 << 20, f);
	fclose(f);
	return p;
}

/* Parse + build; the finished, verified IngestSpans copied into *out. */
static cn_code decode(cn_otlp_format fmt, const void *body, size_t len, uint8_t **out,
                      size_t *out_len, cn_otlp_result *res, cn_err *err)
{
	cn_otlp_req *r = NULL;
	cn_code rc = cn_otlp_parse(fmt, body, len, NULL, &r, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_builder *b = cn_fb_builder_new(4096);
	cn_fb_ref root;
	rc = cn_otlp_build(r, "42", b, &root, res, err);
	const uint8_t *buf;
	size_t n;
	if (rc == CN_OK && cn_fb_finish(b, root, &buf, &n)) {
		rc = cn_fb_verify(&cn_schema_cairn, CN_TABLE_IngestSpans, buf, n, err);
		*out = malloc(n);
		memcpy(*out, buf, n);
		*out_len = n;
	}
	cn_fb_builder_free(b);
	cn_otlp_req_free(r);
	return rc;
}

static cn_fb_table span_at(const uint8_t *buf, uint32_t i)
{
	return cn_fb_vec_table(cn_IngestSpans_spans(cn_fb_root(buf)), i);
}

static char *str(cn_fb_str s)
{
	static char bufs[4][8192];
	static int k;
	char *p = bufs[k++ % 4];
	snprintf(p, 8192, "%.*s", (int)s.len, s.ptr ? s.ptr : "");
	return p;
}

/* Attribute `key` of a span, decoded once (MLflow's stored form): the JSON text. */
static const char *attr(cn_fb_table span, const char *key)
{
	static char out[4096];
	json_t *o = json_loads(str(cn_SpanRecord_attributes(span)), 0, NULL);
	json_t *v = json_object_get(o, key);
	snprintf(out, sizeof out, "%s", json_is_string(v) ? json_string_value(v) : "(absent)");
	json_decref(o);
	return out;
}

static void check_agent(const uint8_t *buf)
{
	cn_fb_table root = cn_fb_root(buf);
	CN_CHECK(cn_fb_str_eq(cn_IngestSpans_experiment_id(root), "42"));
	CN_CHECK_EQ_INT(cn_IngestSpans_spans(root).n, 6);
	/* The SDK exports spans as they end: retriever, chat, tool, tool, chat, agent. */
	cn_fb_table ret = span_at(buf, 0), llm = span_at(buf, 1), tool = span_at(buf, 2);
	cn_fb_table agent = span_at(buf, 5);
	CN_CHECK_STR(str(cn_SpanRecord_trace_id(agent)), "0af7651916cd43dd8448eb211c80319c");
	CN_CHECK_STR(str(cn_SpanRecord_span_id(agent)), "0000000000000001");
	CN_CHECK(!cn_SpanRecord_has_parent_span_id(agent));
	CN_CHECK_STR(str(cn_SpanRecord_parent_span_id(llm)), "0000000000000001");
	CN_CHECK_STR(str(cn_SpanRecord_name(agent)), "invoke_agent weather-bot");
	CN_CHECK_STR(str(cn_SpanRecord_span_type(agent)), "AGENT");
	CN_CHECK_STR(str(cn_SpanRecord_span_type(ret)), "RETRIEVER");
	CN_CHECK_STR(str(cn_SpanRecord_span_type(llm)), "CHAT_MODEL");
	CN_CHECK_STR(str(cn_SpanRecord_span_type(tool)), "TOOL");
	CN_CHECK_EQ_INT(cn_SpanRecord_start_time_unix_nano(llm), 1700000000010000000LL);
	CN_CHECK_EQ_INT(cn_SpanRecord_end_time_unix_nano(llm), 1700000000020000000LL);
	CN_CHECK_STR(str(cn_SpanRecord_status_code(tool)), "STATUS_CODE_ERROR");
	CN_CHECK_STR(str(cn_SpanRecord_status_message(tool)),
	             "TimeoutError: weather service timed out");
	CN_CHECK_STR(str(cn_SpanRecord_status_code(llm)), "STATUS_CODE_UNSET");
	CN_CHECK_STR(str(cn_SpanRecord_status_code(ret)), "STATUS_CODE_OK");
	/* MLflow's form: every value JSON text. */
	CN_CHECK_STR(attr(llm, "gen_ai.operation.name"), "\"chat\"");
	CN_CHECK_STR(attr(llm, "gen_ai.usage.input_tokens"), "12");
	CN_CHECK_STR(attr(llm, "gen_ai.request.temperature"), "0.5");
	CN_CHECK_STR(attr(llm, "gen_ai.request.stop_sequences"), "[\"\\n\\n\",\"END\"]");
	CN_CHECK_STR(attr(llm, "mlflow.spanType"), "\"CHAT_MODEL\"");
	CN_CHECK_STR(attr(llm, "mlflow.chat.tokenUsage"),
	             "{\"input_tokens\":12,\"output_tokens\":7,\"total_tokens\":19}");
	CN_CHECK_STR(attr(llm, "mlflow.spanInputs"),
	             "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]");
	CN_CHECK_STR(attr(llm, "mlflow.spanOutputs"),
	             "[{\"role\":\"assistant\",\"content\":\"call get_weather(Paris)\"}]");
	CN_CHECK_STR(attr(ret, "mlflow.spanInputs"), "{\"query\": \"Paris weather\"}");
	CN_CHECK_STR(attr(ret, "mlflow.spanOutputs"), "\"two documents\"");
	CN_CHECK_STR(attr(tool, "mlflow.spanInputs"), "{\"city\": \"Paris\"}");
	CN_CHECK_STR(attr(tool, "mlflow.chat.tokenUsage"), "(absent)");
	CN_CHECK_STR(attr(agent, "mlflow.spanInputs"),
	             "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]");
	/* Events keep raw values; the exception event of the failed tool call. */
	json_t *ev = json_loads(str(cn_SpanRecord_events(tool)), 0, NULL);
	CN_CHECK(json_array_size(ev) == 1);
	CN_CHECK_STR(json_string_value(json_object_get(json_array_get(ev, 0), "name")),
	             "exception");
	CN_CHECK(json_integer_value(json_object_get(json_array_get(ev, 0), "time_unix_nano")) ==
	         1700000000030000000LL);
	CN_CHECK_STR(
	        json_string_value(json_object_get(
	                json_object_get(json_array_get(ev, 0), "attributes"), "exception.type")),
	        "TimeoutError");
	json_decref(ev);
	json_t *res = json_loads(str(cn_SpanRecord_resource_attributes(agent)), 0, NULL);
	CN_CHECK_STR(json_string_value(json_object_get(res, "service.name")), "cairn-otel-peer");
	json_decref(res);
	CN_CHECK_STR(str(cn_SpanRecord_scope_name(agent)), "cairn-otel-peer");
}

CN_TEST(sdk_protobuf_and_json_agree)
{
	size_t plen, jlen, n1 = 0, n2 = 0;
	char *pb = read_file("agent.pb", &plen), *js = read_file("agent.json", &jlen);
	CN_CHECK(pb && js);
	if (!pb || !js)
		return;
	uint8_t *a = NULL, *b = NULL;
	cn_otlp_result res;
	cn_err err;
	CN_CHECK_EQ_INT(decode(CN_OTLP_PROTOBUF, pb, plen, &a, &n1, &res, &err), CN_OK);
	CN_CHECK_EQ_INT(res.accepted, 6);
	CN_CHECK_EQ_INT(res.rejected, 0);
	if (a)
		check_agent(a);
	CN_CHECK_EQ_INT(decode(CN_OTLP_JSON, js, jlen, &b, &n2, &res, &err), CN_OK);
	if (b)
		check_agent(b);
	/* One normalisation behind both encodings: the same bytes out. */
	CN_CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0);
	free(a);
	free(b);
	free(pb);
	free(js);
}

CN_TEST(gzip_body)
{
	size_t plen;
	char *pb = read_file("agent.pb", &plen);
	CN_CHECK(pb != NULL);
	if (!pb)
		return;
	uLongf zlen = compressBound(plen) + 32;
	uint8_t *z = malloc(zlen);
	z_stream s = {0};
	deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY); /* gzip wrapper */
	s.next_in = (Bytef *)pb;
	s.avail_in = (uInt)plen;
	s.next_out = z;
	s.avail_out = (uInt)zlen;
	CN_CHECK_EQ_INT(deflate(&s, Z_FINISH), Z_STREAM_END);
	zlen = s.total_out;
	deflateEnd(&s);
	cn_buf out = CN_BUF_INIT;
	cn_err err;
	CN_CHECK_EQ_INT(cn_otlp_inflate(z, zlen, 1 << 20, &out, &err), CN_OK);
	CN_CHECK(out.len == plen && memcmp(out.p, pb, plen) == 0);
	cn_buf_reset(&out);
	/* Over the cap: refused, not inflated without bound. */
	CN_CHECK_EQ_INT(cn_otlp_inflate(z, zlen, 100, &out, &err), CN_INVALID_PARAMETER_VALUE);
	cn_buf_reset(&out);
	CN_CHECK_EQ_INT(cn_otlp_inflate(z, zlen / 2, 1 << 20, &out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_buf_reset(&out);
	CN_CHECK_EQ_INT(cn_otlp_inflate("not gzip", 8, 1 << 20, &out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	cn_buf_free(&out);
	free(z);
	free(pb);
}

static cn_code parse_only(cn_otlp_format f, const void *body, size_t len, cn_err *err)
{
	cn_otlp_req *r = NULL;
	cn_code rc = cn_otlp_parse(f, body, len, NULL, &r, err);
	cn_otlp_req_free(r);
	return rc;
}

CN_TEST(hostile_protobuf)
{
	cn_err err;
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_PROTOBUF, "hello, world", 12, &err),
	                CN_MALFORMED_REQUEST);
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_PROTOBUF, "", 0, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "no spans found") != NULL);
	/* Truncated real request. */
	size_t plen;
	char *pb = read_file("agent.pb", &plen);
	if (pb) {
		CN_CHECK_EQ_INT(parse_only(CN_OTLP_PROTOBUF, pb, plen - 3, &err),
		                CN_MALFORMED_REQUEST);
		free(pb);
	}
}

/* A protobuf request with one span whose attribute nests `depth` arrays. */
static size_t deep_request(uint8_t *out, size_t cap, int depth)
{
	Opentelemetry__Proto__Common__V1__AnyValue *vals = calloc((size_t)depth + 1, sizeof *vals);
	Opentelemetry__Proto__Common__V1__ArrayValue *arrs = calloc((size_t)depth, sizeof *arrs);
	Opentelemetry__Proto__Common__V1__AnyValue **ptrs = calloc((size_t)depth, sizeof *ptrs);
	for (int i = 0; i <= depth; i++)
		opentelemetry__proto__common__v1__any_value__init(&vals[i]);
	for (int i = 0; i < depth; i++) {
		opentelemetry__proto__common__v1__array_value__init(&arrs[i]);
		ptrs[i] = &vals[i + 1];
		arrs[i].n_values = 1;
		arrs[i].values = &ptrs[i];
		vals[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
		vals[i].array_value = &arrs[i];
	}
	vals[depth].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	vals[depth].int_value = 7;
	Opentelemetry__Proto__Common__V1__KeyValue kv =
	        OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue *kvp = &kv;
	kv.key = "deep";
	kv.value = &vals[0];
	uint8_t tid[16] = {1}, sid[8] = {2};
	Opentelemetry__Proto__Trace__V1__Span span = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	Opentelemetry__Proto__Trace__V1__Span *sp = &span;
	span.trace_id.data = tid;
	span.trace_id.len = 16;
	span.span_id.data = sid;
	span.span_id.len = 8;
	span.name = "s";
	span.n_attributes = 1;
	span.attributes = &kvp;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
	        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
	ss.n_spans = 1;
	ss.spans = &sp;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
	        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
	rs.n_scope_spans = 1;
	rs.scope_spans = &ssp;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	req.n_resource_spans = 1;
	req.resource_spans = &rsp;
	size_t n =
	        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
	                &req);
	if (n <= cap)
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req,
		                                                                               out);
	free(vals);
	free(arrs);
	free(ptrs);
	return n;
}

CN_TEST(depth_limit)
{
	uint8_t buf[4096];
	cn_err err;
	size_t n = deep_request(buf, sizeof buf, 16);
	uint8_t *fb = NULL;
	size_t fbn;
	cn_otlp_result res;
	CN_CHECK_EQ_INT(decode(CN_OTLP_PROTOBUF, buf, n, &fb, &fbn, &res, &err), CN_OK);
	if (fb)
		CN_CHECK_STR(attr(span_at(fb, 0), "deep"), "[[[[[[[[[[[[[[[[7]]]]]]]]]]]]]]]]");
	free(fb);
	n = deep_request(buf, sizeof buf, 17);
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_PROTOBUF, buf, n, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "nest deeper") != NULL);
	/* 5000 deep: refused by the wire walk before protobuf-c recurses. */
	uint8_t *big = malloc(1 << 16);
	n = deep_request(big, 1 << 16, 5000);
	CN_CHECK(n < (1 << 16));
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_PROTOBUF, big, n, &err), CN_INVALID_PARAMETER_VALUE);
	free(big);
	/* The same in JSON. */
	char js[2048] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{"
	                "\"key\":\"d\",\"value\":";
	for (int i = 0; i < 17; i++)
		strcat(js, "{\"arrayValue\":{\"values\":[");
	strcat(js, "{\"intValue\":\"1\"}");
	for (int i = 0; i < 17; i++)
		strcat(js, "]}}");
	strcat(js, "}]}]}]}]}");
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_JSON, js, strlen(js), &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "nest deeper") != NULL);
}

CN_TEST(json_errors_and_rejections)
{
	cn_err err;
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_JSON, "{", 1, &err), CN_MALFORMED_REQUEST);
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_JSON, "{}", 2, &err), CN_INVALID_PARAMETER_VALUE);
	const char *bad = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":7}]}]}]}";
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_JSON, bad, strlen(bad), &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "'name' must be a string") != NULL);
	bad = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"12x\"}]}]}"
	      "]}";
	CN_CHECK_EQ_INT(parse_only(CN_OTLP_JSON, bad, strlen(bad), &err),
	                CN_INVALID_PARAMETER_VALUE);
	/* Bad ids: the span alone is rejected; the good one goes through. Names
	 * with invalid UTF-8 (from a \xff byte) are repaired, not refused. */
	const char *mixed =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
	        "{\"traceId\":\"zz\",\"spanId\":\"0000000000000001\",\"name\":\"bad\"},"
	        "{\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"EEE19B7EC3C1B174\","
	        "\"name\":\"good\",\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"x\"},"
	        "\"attributes\":[{\"key\":\"b\",\"value\":{\"bytesValue\":\"AQID\"}},"
	        "{\"key\":\"n\",\"value\":{\"doubleValue\":\"NaN\"}},"
	        "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\","
	        "\"value\":{\"boolValue\":true}}]}}}]}]}]}]}";
	uint8_t *fb = NULL;
	size_t n;
	cn_otlp_result res;
	CN_CHECK_EQ_INT(decode(CN_OTLP_JSON, mixed, strlen(mixed), &fb, &n, &res, &err), CN_OK);
	CN_CHECK_EQ_INT(res.accepted, 1);
	CN_CHECK_EQ_INT(res.rejected, 1);
	CN_CHECK(strstr(res.error, "trace id") != NULL);
	if (fb) {
		cn_fb_table s = span_at(fb, 0);
		CN_CHECK_STR(str(cn_SpanRecord_trace_id(s)), "5b8efff798038103d269b633813fc60c");
		CN_CHECK_STR(str(cn_SpanRecord_span_id(s)), "eee19b7ec3c1b174");
		CN_CHECK_STR(str(cn_SpanRecord_status_code(s)), "STATUS_CODE_ERROR");
		CN_CHECK_STR(attr(s, "b"), "\"AQID\"");
		CN_CHECK_STR(attr(s, "n"), "\"NaN\"");
		CN_CHECK_STR(attr(s, "kv"), "{\"a\":true}");
		CN_CHECK_STR(attr(s, "mlflow.spanType"), "\"UNKNOWN\"");
	}
	free(fb);
}

CN_TEST(mlflow_encoded_passthrough_and_utf8)
{
	/* MLflow's own exporter: values already JSON text, kept as they are. */
	const char *js =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
	        "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
	        "\"0102030405060708\",\"name\":\"n\\u00e9\",\"attributes\":["
	        "{\"key\":\"mlflow.spanType\",\"value\":{\"stringValue\":\"\\\"RETRIEVER\\\"\"}},"
	        "{\"key\":\"mlflow.spanInputs\",\"value\":{\"stringValue\":\"{\\\"q\\\": 1}\"}},"
	        "{\"key\":\"input.value\",\"value\":{\"stringValue\":\"other\"}},"
	        "{\"key\":\"llm.token_count.prompt\",\"value\":{\"intValue\":\"3\"}},"
	        "{\"key\":\"llm.token_count.completion\",\"value\":{\"intValue\":4}}"
	        "]}]}]}]}";
	uint8_t *fb = NULL;
	size_t n;
	cn_otlp_result res;
	cn_err err;
	CN_CHECK_EQ_INT(decode(CN_OTLP_JSON, js, strlen(js), &fb, &n, &res, &err), CN_OK);
	if (fb) {
		cn_fb_table s = span_at(fb, 0);
		CN_CHECK_STR(str(cn_SpanRecord_span_type(s)), "RETRIEVER");
		CN_CHECK_STR(attr(s, "mlflow.spanType"), "\"RETRIEVER\"");
		CN_CHECK_STR(attr(s, "mlflow.spanInputs"), "{\"q\": 1}");
		CN_CHECK_STR(attr(s, "input.value"), "\"other\"");
		CN_CHECK_STR(attr(s, "mlflow.chat.tokenUsage"),
		             "{\"input_tokens\":3,\"output_tokens\":4,\"total_tokens\":7}");
		CN_CHECK_STR(str(cn_SpanRecord_name(s)), "n\xc3\xa9");
	}
	free(fb);
	/* Invalid UTF-8 in protobuf strings is repaired (U+FFFD), so the
	 * FlatBuffer still verifies. */
	uint8_t buf[4096];
	size_t len = deep_request(buf, sizeof buf, 0);
	uint8_t *s = memmem(buf, len, "\x2a\x01s", 3); /* Span.name = "s" */
	CN_CHECK(s != NULL);
	if (s) {
		s[2] = 0xff;
		fb = NULL;
		CN_CHECK_EQ_INT(decode(CN_OTLP_PROTOBUF, buf, len, &fb, &n, &res, &err), CN_OK);
		if (fb)
			CN_CHECK_STR(str(cn_SpanRecord_name(span_at(fb, 0))), "\xef\xbf\xbd");
		free(fb);
	}
}

CN_TEST(responses)
{
	cn_buf out = CN_BUF_INIT;
	cn_otlp_response(CN_OTLP_JSON, 0, NULL, &out);
	CN_CHECK_STR(out.p, "{}");
	cn_buf_reset(&out);
	cn_otlp_response(CN_OTLP_JSON, 2, "bad \"id\"", &out);
	CN_CHECK_STR(out.p, "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":\"bad "
	                    "\\\"id\\\"\"}}");
	cn_buf_reset(&out);
	cn_otlp_response(CN_OTLP_PROTOBUF, 0, NULL, &out);
	CN_CHECK_EQ_INT(out.len, 0);
	cn_otlp_response(CN_OTLP_PROTOBUF, 3, "why", &out);
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *m =
	        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
	                NULL, out.len, (const uint8_t *)out.p);
	CN_CHECK(m && m->partial_success && m->partial_success->rejected_spans == 3);
	CN_CHECK(m && m->partial_success && strcmp(m->partial_success->error_message, "why") == 0);
	if (m)
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
		        m, NULL);
	cn_buf_free(&out);
	CN_CHECK_EQ_INT(cn_otlp_format_of("application/x-protobuf"), CN_OTLP_PROTOBUF);
	CN_CHECK_EQ_INT(cn_otlp_format_of("Application/JSON; charset=utf-8"), CN_OTLP_JSON);
	CN_CHECK_EQ_INT(cn_otlp_format_of("text/plain"), -1);
	CN_CHECK_EQ_INT(cn_otlp_format_of(NULL), -1);
}

/* The scanner that decides "stored as JSON" agrees with a real parser. */
CN_TEST(json_validator_matches_jansson)
{
	static const char *const cases[] = {
	        "{}",
	        "[]",
	        "\"x\"",
	        "0",
	        "-0.5e+3",
	        "true",
	        "null",
	        " [1, {\"a\": [null]}] ",
	        "{\"a\":1,}",
	        "[1,]",
	        "01",
	        "1.",
	        ".5",
	        "-",
	        "\"\\x\"",
	        "\"\\u12g4\"",
	        "tru",
	        "{\"a\" 1}",
	        "[1 2]",
	        "\"a",
	        "{\"k\":\"v\"} x",
	        "\"\xc3\xa9\"",
	        "\"\xff\"",
	        "\"\xed\xa0\x80\"",
	        "\"a\tb\"",
	        "[[[[[[[[[[]]]]]]]]]]",
	        "{\"a\":{\"b\":{}}}",
	        "",
	        "   ",
	        "1e5",
	        "1E-2",
	        "-01",
	        "[\"\\ud83d\\ude00\"]",
	        "nul",
	        "{1:2}",
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_error_t e;
		json_t *j = json_loadb(cases[i], strlen(cases[i]), JSON_DECODE_ANY, &e);
		bool want = j != NULL;
		json_decref(j);
		if (otlp_is_json(cases[i], strlen(cases[i])) != want) {
			char m[200];
			snprintf(m, sizeof m, "otlp_is_json(%s) != %d", cases[i], want);
			cn_test_fail(__FILE__, __LINE__, m);
		}
	}
}

/* No second mlflow.spanType beside a non-string one; times past int64 clamp. */
CN_TEST(odd_type_attribute_and_huge_times)
{
	const char *js =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
	        "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
	        "\"0102030405060708\",\"name\":\"n\",\"startTimeUnixNano\":"
	        "\"18446744073709551615\",\"events\":[{\"name\":\"e\",\"timeUnixNano\":"
	        "\"18446744073709551615\"}],\"attributes\":["
	        "{\"key\":\"mlflow.spanType\",\"value\":{\"intValue\":\"3\"}},"
	        "{\"key\":\"openinference.span.kind\",\"value\":{\"stringValue\":\"TOOL\"}}"
	        "]}]}]}]}";
	uint8_t *fb = NULL;
	size_t n;
	cn_otlp_result res;
	cn_err err;
	CN_CHECK_EQ_INT(decode(CN_OTLP_JSON, js, strlen(js), &fb, &n, &res, &err), CN_OK);
	if (fb) {
		cn_fb_table s = span_at(fb, 0);
		CN_CHECK_STR(str(cn_SpanRecord_span_type(s)), "TOOL");
		CN_CHECK_STR(attr(s, "mlflow.spanType"), "3");
		const char *a = str(cn_SpanRecord_attributes(s));
		const char *first = strstr(a, "mlflow.spanType");
		CN_CHECK(first && !strstr(first + 1, "mlflow.spanType"));
		CN_CHECK(cn_SpanRecord_start_time_unix_nano(s) == INT64_MAX);
		CN_CHECK(strstr(str(cn_SpanRecord_events(s)), "9223372036854775807") != NULL);
	}
	free(fb);
}

/* The one-pass double escape is the escape applied twice. */
CN_TEST(double_escape_is_escape_twice)
{
	static const char *const cases[] = {
	        "",
	        "plain text longer than eight bytes",
	        "q\"uote",
	        "back\\slash",
	        "nl\ncr\rtab\t",
	        "\x01\x1f ctl",
	        "caf\xc3\xa9 \xe2\x82\xac",
	        "bad \xff\xfe byte",
	        "\xc3",
	        "12345678\"",
	        "[{\"role\":\"user\",\"content\":\"a\\\"b\"}]",
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cn_buf once = CN_BUF_INIT, twice = CN_BUF_INIT, fused = CN_BUF_INIT;
		otlp_json_str(&once, cases[i], strlen(cases[i]));
		otlp_json_str(&twice, once.p, once.len);
		otlp_json_str2(&fused, cases[i], strlen(cases[i]));
		CN_CHECK_STR(fused.p, twice.p);
		cn_buf_free(&once);
		cn_buf_free(&twice);
		cn_buf_free(&fused);
	}
}

CN_TEST_MAIN()
