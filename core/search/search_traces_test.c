/* core/search/search_traces_test.c: the search_traces dialect (parsing,
 * MLflow's messages, order_by) and matching trace views. */
#include "core/search/search_traces.h"

#include <stdio.h>
#include <string.h>

#include "cn_test.h"

static const cn_search_dialect *const T = &cn_search_dialect_traces;

static void fail_case(int line, const char *what, const char *input, const char *got,
                      const char *want)
{
	char m[2048];
	snprintf(m, sizeof m, "%s [%s]: got \"%s\", want \"%s\"", what, input, got, want);
	cn_test_fail(__FILE__, line, m);
}

static cn_search_filter *parse_ok(const char *s, int line)
{
	cn_search_filter *f = NULL;
	cn_err err;
	if (cn_search_filter_parse(T, s, strlen(s), &f, &err) != CN_OK)
		fail_case(line, "parse failed", s, err.msg, "success");
	return f;
}

static void expect_err(const char *s, const char *msg, int line)
{
	cn_search_filter *f = NULL;
	cn_err err;
	cn_code rc = cn_search_filter_parse(T, s, strlen(s), &f, &err);
	if (rc != CN_INVALID_PARAMETER_VALUE)
		fail_case(line, "expected INVALID_PARAMETER_VALUE", s, rc == CN_OK ? "OK" : err.msg,
		          msg);
	else if (strcmp(err.msg, msg) != 0)
		fail_case(line, "message", s, err.msg, msg);
	cn_search_filter_free(f);
}
#define EXPECT_ERR(s, msg) expect_err(s, msg, __LINE__)

/* "entity|key|op|kind" of clause i. */
static void expect_clause(const char *s, const char *want, int line)
{
	static const char *const ents[] = {"attribute", "metric",   "param",
	                                   "tag",       "dataset",  "metadata",
	                                   "span",      "feedback", "expectation"};
	cn_search_filter *f = parse_ok(s, line);
	if (!f)
		return;
	char got[512];
	const cn_search_clause *c = cn_search_filter_clause(f, 0);
	snprintf(got, sizeof got, "%s|%s|%s|%s", ents[c->entity], c->key, cn_search_op_name(c->op),
	         c->kind == CN_SEARCH_NUMERIC ? "num" : "str");
	if (strcmp(got, want) != 0)
		fail_case(line, "clause", s, got, want);
	cn_search_filter_free(f);
}
#define EXPECT_CLAUSE(s, want) expect_clause(s, want, __LINE__)

CN_TEST(trace_identifiers_resolve)
{
	EXPECT_CLAUSE("status = 'OK'", "attribute|status|=|str");
	EXPECT_CLAUSE("trace.state = 'ERROR'", "attribute|status|=|str");
	EXPECT_CLAUSE("attributes.timestamp > 10", "attribute|timestamp_ms|>|num");
	EXPECT_CLAUSE("attribute.execution_time <= 10", "attribute|execution_time_ms|<=|num");
	EXPECT_CLAUSE("end_time_ms >= 5", "attribute|end_time_ms|>=|num");
	EXPECT_CLAUSE("trace.trace_id IN ('tr-1', 'tr-2')", "attribute|request_id|IN|str");
	EXPECT_CLAUSE("client_request_id LIKE 'req-%'", "attribute|client_request_id|LIKE|str");
	EXPECT_CLAUSE("trace.name RLIKE '^agent'", "attribute|name|RLIKE|str");
	EXPECT_CLAUSE("run_id = 'abc'", "attribute|run_id|=|str");
	EXPECT_CLAUSE("trace.text ILIKE '%weather%'", "attribute|text|ILIKE|str");
	EXPECT_CLAUSE("tags.env = 'prod'", "tag|env|=|str");
	EXPECT_CLAUSE("tag.`mlflow.traceName` ILIKE 'x%'", "tag|mlflow.traceName|ILIKE|str");
	EXPECT_CLAUSE("tags.env NOT IN ('dev')", "tag|env|NOT IN|str");
	EXPECT_CLAUSE("metadata.`mlflow.user` = 'alice'", "metadata|mlflow.user|=|str");
	EXPECT_CLAUSE("request_metadata.k RLIKE 'a+'", "metadata|k|RLIKE|str");
	EXPECT_CLAUSE("span.name = 'llm'", "span|name|=|str");
	EXPECT_CLAUSE("span.type IN ('LLM', 'TOOL')", "span|type|IN|str");
	EXPECT_CLAUSE("span.status != 'OK'", "span|status|!=|str");
	EXPECT_CLAUSE("span.content LIKE '%x%'", "span|content|LIKE|str");
	EXPECT_CLAUSE("span.attributes.model = 'gpt-4'", "span|attributes.model|=|str");
	EXPECT_CLAUSE("feedback.correct = 'yes'", "feedback|correct|=|str");
	EXPECT_CLAUSE("feedback.`rel score` >= 0.5", "feedback|rel score|>=|num");
	EXPECT_CLAUSE("expectation.answer IS NULL", "expectation|answer|IS NULL|str");
	EXPECT_CLAUSE("feedback.x IS NOT NULL", "feedback|x|IS NOT NULL|str");
	EXPECT_CLAUSE("`trace`.status = 'OK'", "attribute|status|=|str");
}

CN_TEST(trace_errors_are_mlflows)
{
	EXPECT_ERR("foo.x = 'a'",
	           "Invalid entity type 'foo'. Valid values are {'tag', 'request_metadata', "
	           "'attribute', 'span', 'feedback', 'expectation', 'tags', 'attributes', 'trace', "
	           "'metadata'}");
	EXPECT_ERR("span.kind = 'x'", "Invalid span attribute 'kind'. Supported attributes: name, "
	                              "status, type, attributes.<attribute_name>.");
	EXPECT_ERR("span.content = 'x'",
	           "span.content comparator '=' not one of '{'ILIKE', 'LIKE'}'");
	EXPECT_ERR("span.name > 'x'", "span.name comparator '>' not one of '{'!=', '=', 'ILIKE', "
	                              "'IN', 'LIKE', 'NOT IN', 'RLIKE'}'");
	EXPECT_ERR("span.attributes. = 'x'",
	           "Invalid clause(s) in filter string: 'span.attributes.'");
	EXPECT_ERR("span.`attributes.` = 'x'",
	           "Span attribute name cannot be empty after 'attributes.'");
	EXPECT_ERR("span.name = 5",
	           "Expected a quoted string value for span (e.g. 'my-value'). Got "
	           "value 5");
	EXPECT_ERR("feedback.score > 'high'", "Expected a numeric value for feedback when using "
	                                      "comparator '>'. Got value 'high'");
	EXPECT_ERR("expectation.score = 0.8",
	           "Expected a quoted string value for expectation (e.g. "
	           "'my-value'). Got value 0.8");
	EXPECT_ERR("feedback.x IN ('a')", "Expected a quoted string value for feedback (e.g. "
	                                  "'my-value'). Got value ('a')");
	EXPECT_ERR("status IN ('OK') AND timestamp IN ('1')",
	           "Expected numeric value type for numeric attribute: timestamp. Found ('1')");
	EXPECT_ERR("text IN ('a')",
	           "Only attributes in {'name', 'status', 'request_id', 'run_id', "
	           "'client_request_id'} supports comparison with a list of quoted "
	           "string values.");
	EXPECT_ERR("status LIKE 'O%'", "Invalid comparator 'LIKE' not one of '{'=', '!=', 'IN', "
	                               "'NOT IN'}'");
	EXPECT_ERR("text = 'a'", "Invalid comparator '=' not one of '{'LIKE', 'ILIKE'}'");
	EXPECT_ERR("metadata.k IN ('a')",
	           "Expected a quoted string value for request_metadata (e.g. "
	           "'my-value'). Got value ('a')");
	EXPECT_ERR("tags.k IS NULL", "IS NULL / IS NOT NULL is only supported for feedback and "
	                             "expectation, not for tag 'k'");
	EXPECT_ERR("bogus = 'a'", "Invalid attribute key 'bogus' specified. Valid keys are "
	                          "'{'request_id', 'trace_id', 'client_request_id', 'status', "
	                          "'state', 'name', 'run_id', 'text', 'timestamp_ms', 'timestamp', "
	                          "'execution_time_ms', 'execution_time', 'end_time_ms', "
	                          "'end_time'}'");
	EXPECT_ERR("status = 'OK' OR status = 'ERROR'", "Invalid clause(s) in filter string: 'OR'");
}

CN_TEST(trace_order_by)
{
	cn_search_order o[8];
	size_t n = 0;
	cn_err err;
	CN_CHECK(cn_search_orders_build(T, NULL, 0, o, 8, &n, &err) == CN_OK);
	CN_CHECK_EQ_INT(n, 2);
	CN_CHECK_STR(o[0].key, "timestamp_ms");
	CN_CHECK(!o[0].ascending);
	CN_CHECK_STR(o[1].key, "request_id");
	CN_CHECK(o[1].ascending);
	const char *clauses[] = {"execution_time DESC", "name"};
	CN_CHECK(cn_search_orders_build(T, clauses, 2, o, 8, &n, &err) == CN_OK);
	CN_CHECK_EQ_INT(n, 4);
	CN_CHECK_STR(o[0].key, "execution_time_ms");
	CN_CHECK_STR(o[1].key, "name");
	CN_CHECK_STR(o[2].key, "timestamp_ms");
	CN_CHECK(cn_search_order_parse(T, "tags.env DESC", &o[0], &err) == CN_OK);
	CN_CHECK(cn_search_order_parse(T, "span.name", &o[0], &err) != CN_OK);
	CN_CHECK_STR(err.msg, "Invalid order_by entity: span");
	CN_CHECK(cn_search_order_parse(T, "text", &o[0], &err) != CN_OK);
	CN_CHECK(cn_search_order_parse(T, "status ASC DESC", &o[0], &err) != CN_OK);
	CN_CHECK_STR(err.msg, "Invalid order_by clause 'status ASC DESC'. Could not be parsed.");
}

/* ---- matching ------------------------------------------------------------ */

typedef struct kv {
	const char *k, *v;
} kv;

typedef struct fake_trace {
	const kv *tags, *meta;
	const cn_search_trace_span *spans;
	size_t nspans;
	const cn_search_trace_assessment *asm_;
	size_t nasm;
} fake_trace;

static bool fake_lookup(const kv *list, const char *key, cn_search_value *out)
{
	for (; list && list->k; list++)
		if (strcmp(list->k, key) == 0) {
			*out = cn_search_value_str(list->v);
			return true;
		}
	return false;
}

static bool fake_tag(const void *ctx, const char *key, cn_search_value *out)
{
	return fake_lookup(((const fake_trace *)ctx)->tags, key, out);
}

static bool fake_meta(const void *ctx, const char *key, cn_search_value *out)
{
	return fake_lookup(((const fake_trace *)ctx)->meta, key, out);
}

static bool fake_span(const void *ctx, size_t i, cn_search_trace_span *out)
{
	const fake_trace *f = ctx;
	if (i >= f->nspans)
		return false;
	*out = f->spans[i];
	return true;
}

static bool fake_asm(const void *ctx, size_t i, cn_search_trace_assessment *out)
{
	const fake_trace *f = ctx;
	if (i >= f->nasm)
		return false;
	*out = f->asm_[i];
	return true;
}

#define STRV(x)                                                            \
	{                                                                  \
		.type = CN_SEARCH_V_STRING, .str = x, .len = sizeof(x) - 1 \
	}
#define SPAN(n, t, s, attrs)                                                                   \
	{                                                                                      \
		.name = STRV(n), .type = STRV(t), .status = STRV(s),                           \
		.content = "{\"name\": \"" n "\", \"attributes\": " attrs "}",                 \
		.content_len = sizeof("{\"name\": \"" n "\", \"attributes\": " attrs "}") - 1, \
		.attributes = attrs, .attributes_len = sizeof(attrs) - 1                       \
	}

#define ASM(n, exp, ok, json)                                                          \
	{                                                                              \
		.name = n, .name_len = sizeof(n) - 1, .expectation = exp, .valid = ok, \
		.value_json = json, .value_len = sizeof(json) - 1                      \
	}

static const kv fake_tags[] = {{"mlflow.traceName", "agent_run"}, {"env", "prod"}, {NULL, NULL}};
static const kv fake_metas[] = {
        {"mlflow.sourceRun", "run123"}, {"mlflow.user", "alice"}, {NULL, NULL}};
static const cn_search_trace_span fake_spans[] = {
        SPAN("agent", "AGENT", "STATUS_CODE_OK", "{\"mlflow.spanType\": \"\\\"AGENT\\\"\"}"),
        SPAN("llm_call", "CHAT_MODEL", "STATUS_CODE_OK",
             "{\"model\": \"\\\"gpt-4\\\"\", \"temperature\": \"0.7\", \"stream\": \"true\"}"),
        SPAN("get_weather", "TOOL", "STATUS_CODE_ERROR", "{\"city\": \"\\\"Paris\\\"\"}"),
};
static const cn_search_trace_assessment fake_asms[] = {
        ASM("correct", false, true, "true"),    ASM("relevance", false, true, "0.82"),
        ASM("tone", false, false, "\"rude\""), /* overridden: ignored */
        ASM("tone", false, true, "\"polite\""), ASM("answer", true, true, "\"42\""),
};

static bool fake_linked(const void *ctx, const char *run, size_t len)
{
	(void)ctx;
	return len == 6 && memcmp(run, "linked", 6) == 0;
}

static cn_search_trace fake_view(fake_trace *f)
{
	*f = (fake_trace){fake_tags, fake_metas, fake_spans, 3, fake_asms, 5};
	cn_search_trace t = {
	        .trace_id = cn_search_value_str("tr-abc"),
	        .client_request_id = cn_search_value_str("req-1"),
	        .state = cn_search_value_str("ERROR"),
	        .experiment_id = cn_search_value_str("12"),
	        .timestamp_ms = 1000,
	        .execution_time_ms = 250,
	        .has_execution_time = true,
	        .ctx = f,
	        .tag = fake_tag,
	        .metadata = fake_meta,
	        .span = fake_span,
	        .assessment = fake_asm,
	        .run_linked = fake_linked,
	};
	return t;
}

static void expect_match(const char *s, bool want, int line)
{
	fake_trace f;
	cn_search_trace t = fake_view(&f);
	cn_search_filter *flt = parse_ok(s, line);
	if (!flt)
		return;
	if (cn_search_trace_match(flt, &t) != want)
		fail_case(line, "match", s, want ? "no match" : "match",
		          want ? "match" : "no match");
	cn_search_filter_free(flt);
}
#define MATCH(s)    expect_match(s, true, __LINE__)
#define NO_MATCH(s) expect_match(s, false, __LINE__)

CN_TEST(trace_match_attributes)
{
	MATCH("");
	MATCH("status = 'ERROR'");
	NO_MATCH("status = 'OK'");
	MATCH("trace.state IN ('OK', 'ERROR')");
	MATCH("timestamp_ms = 1000 AND execution_time > 200 AND end_time_ms = 1250");
	NO_MATCH("execution_time_ms < 250");
	MATCH("request_id = 'tr-abc'");
	MATCH("trace_id NOT IN ('tr-x')");
	MATCH("client_request_id LIKE 'req-%'");
	MATCH("name = 'agent_run'");
	MATCH("trace.name ILIKE 'AGENT%'");
	MATCH("run_id = 'run123'");
	NO_MATCH("run_id != 'run123'");
	MATCH("run_id = 'linked'");
	MATCH("run_id IN ('x', 'linked')");
	NO_MATCH("run_id != 'linked'");
	MATCH("run_id NOT IN ('x', 'y')");
	NO_MATCH("run_id = 'other'");
	MATCH("text LIKE '%get_weather%'");
	NO_MATCH("text LIKE '%nowhere%'");
}

CN_TEST(trace_match_tags_metadata)
{
	MATCH("tags.env = 'prod'");
	NO_MATCH("tags.env = 'dev'");
	NO_MATCH("tags.missing != 'x'"); /* a missing tag fails every comparison */
	MATCH("tags.env IN ('dev', 'prod')");
	MATCH("metadata.`mlflow.user` RLIKE '^al'");
	NO_MATCH("metadata.`mlflow.user` LIKE 'bob%'");
}

CN_TEST(trace_match_spans)
{
	MATCH("span.name = 'get_weather'");
	MATCH("span.name != 'agent'"); /* some span is not named agent */
	MATCH("span.type = 'TOOL' AND span.status = 'ERROR'");
	MATCH("span.status IN ('ERROR')");
	NO_MATCH("span.status = 'UNSET'");
	NO_MATCH("span.type = 'RETRIEVER'");
	MATCH("span.name LIKE 'llm%'");
	MATCH("span.name RLIKE 'weather$'");
	MATCH("span.content ILIKE '%GET_WEATHER%'");
	MATCH("span.attributes.model = 'gpt-4'");
	NO_MATCH("span.attributes.model = 'gpt'");
	MATCH("span.attributes.temperature = '0.7'");
	MATCH("span.attributes.stream = 'true'");
	MATCH("span.attributes.`mlflow.spanType` = 'AGENT'");
	MATCH("span.attributes.model IN ('claude', 'gpt-4')");
	NO_MATCH("span.attributes.nothing = 'x'");
	MATCH("span.attributes.city LIKE 'Par%'");
}

CN_TEST(trace_match_assessments)
{
	MATCH("feedback.correct = 'true'");
	MATCH("feedback.relevance > 0.8");
	NO_MATCH("feedback.relevance < 0.5");
	MATCH("feedback.tone = 'polite'");
	NO_MATCH("feedback.tone = 'rude'"); /* only valid assessments count */
	MATCH("expectation.answer = '42'");
	NO_MATCH("feedback.answer = '42'"); /* an expectation is no feedback */
	MATCH("feedback.missing IS NULL");
	NO_MATCH("feedback.correct IS NULL");
	MATCH("feedback.correct IS NOT NULL");
	MATCH("feedback.tone LIKE 'pol%'");
}

CN_TEST(trace_needs_and_order_values)
{
	cn_search_filter *f =
	        parse_ok("status = 'OK' AND span.name = 'x' AND feedback.a = 'b'", __LINE__);
	CN_CHECK(cn_search_trace_needs(f) ==
	         (CN_SEARCH_TRACE_NEEDS_SPANS | CN_SEARCH_TRACE_NEEDS_ASSESSMENTS));
	cn_search_filter_free(f);
	f = parse_ok("tags.a = 'b'", __LINE__);
	CN_CHECK(cn_search_trace_needs(f) == 0);
	cn_search_filter_free(f);

	fake_trace ft;
	cn_search_trace t = fake_view(&ft);
	cn_search_order o;
	cn_search_value v;
	cn_err err;
	CN_CHECK(cn_search_order_parse(T, "experiment_id", &o, &err) == CN_OK);
	CN_CHECK(cn_search_trace_order_value(&o, &t, &v));
	CN_CHECK(v.type == CN_SEARCH_V_NUMBER && v.i == 12);
	CN_CHECK(cn_search_order_parse(T, "name", &o, &err) == CN_OK);
	CN_CHECK(cn_search_trace_order_value(&o, &t, &v));
	CN_CHECK(v.len == 9 && memcmp(v.str, "agent_run", 9) == 0);
	CN_CHECK(cn_search_order_parse(T, "end_time", &o, &err) == CN_OK);
	CN_CHECK(cn_search_trace_order_value(&o, &t, &v) && v.i == 1250);
	CN_CHECK(cn_search_order_parse(T, "tags.nothing", &o, &err) == CN_OK);
	CN_CHECK(!cn_search_trace_order_value(&o, &t, &v));
}

CN_TEST_MAIN()
