/*
 * core/otlp/otlp_semconv.c: semantic conventions onto MLflow's span model.
 *
 * What MLflow's server does when it stores OTLP spans, read from a span's
 * attributes and events:
 *   span type  mlflow.spanType if the span has it; else OpenInference's
 *              openinference.span.kind (LLM, CHAIN, TOOL, RETRIEVER, AGENT,
 *              EMBEDDING, RERANKER, GUARDRAIL, EVALUATOR, UNKNOWN); else the
 *              GenAI gen_ai.operation.name (chat -> CHAT_MODEL,
 *              text_completion/generate_content/response -> LLM, embeddings
 *              -> EMBEDDING, execute_tool -> TOOL, invoke_agent/create_agent
 *              -> AGENT); else UNKNOWN.
 *   inputs     mlflow.spanInputs; else input.value, gen_ai.input.messages,
 *              gen_ai.tool.call.arguments, gen_ai.prompt (first not empty);
 *              else the GenAI message events (gen_ai.system.message,
 *              gen_ai.user.message, gen_ai.assistant.message) as a list of
 *              {role, content}.
 *   outputs    mlflow.spanOutputs; else output.value, gen_ai.output.messages,
 *              gen_ai.tool.call.result, gen_ai.completion; else gen_ai.choice
 *              events.
 *   usage      mlflow.chat.tokenUsage; else llm.token_count.prompt /
 *              completion / total (OpenInference) or gen_ai.usage.input_tokens
 *              / output_tokens (GenAI; total is their sum), when both counts
 *              are there and not zero.
 * OpenInference is asked first, as MLflow does.
 */
#include "core/otlp/otlp_int.h"

#include <stdlib.h>
#include <string.h>

enum {
	K_MLFLOW_TYPE,
	K_MLFLOW_INPUTS,
	K_MLFLOW_OUTPUTS,
	K_MLFLOW_USAGE,
	K_MLFLOW_REQUEST_ID,
	K_OI_KIND,
	K_GENAI_OP,
	K_IN_FIRST, /* inputs, in order of preference */
	K_IN_OI = K_IN_FIRST,
	K_IN_GENAI_MSGS,
	K_IN_GENAI_TOOL,
	K_IN_GENAI_PROMPT,
	K_OUT_FIRST,
	K_OUT_OI = K_OUT_FIRST,
	K_OUT_GENAI_MSGS,
	K_OUT_GENAI_TOOL,
	K_OUT_GENAI_COMPLETION,
	K_OUT_END,
	K_OI_TOK_IN = K_OUT_END,
	K_OI_TOK_OUT,
	K_OI_TOK_TOTAL,
	K_GENAI_TOK_IN,
	K_GENAI_TOK_OUT,
	K_GENAI_TOK_IN_OLD,
	K_GENAI_TOK_OUT_OLD,
	K_COUNT
};

static const char *const sc_keys[K_COUNT] = {
        [K_MLFLOW_TYPE] = "mlflow.spanType",
        [K_MLFLOW_INPUTS] = "mlflow.spanInputs",
        [K_MLFLOW_OUTPUTS] = "mlflow.spanOutputs",
        [K_MLFLOW_USAGE] = "mlflow.chat.tokenUsage",
        [K_MLFLOW_REQUEST_ID] = "mlflow.traceRequestId",
        [K_OI_KIND] = "openinference.span.kind",
        [K_GENAI_OP] = "gen_ai.operation.name",
        [K_IN_OI] = "input.value",
        [K_IN_GENAI_MSGS] = "gen_ai.input.messages",
        [K_IN_GENAI_TOOL] = "gen_ai.tool.call.arguments",
        [K_IN_GENAI_PROMPT] = "gen_ai.prompt",
        [K_OUT_OI] = "output.value",
        [K_OUT_GENAI_MSGS] = "gen_ai.output.messages",
        [K_OUT_GENAI_TOOL] = "gen_ai.tool.call.result",
        [K_OUT_GENAI_COMPLETION] = "gen_ai.completion",
        [K_OI_TOK_IN] = "llm.token_count.prompt",
        [K_OI_TOK_OUT] = "llm.token_count.completion",
        [K_OI_TOK_TOTAL] = "llm.token_count.total",
        [K_GENAI_TOK_IN] = "gen_ai.usage.input_tokens",
        [K_GENAI_TOK_OUT] = "gen_ai.usage.output_tokens",
        [K_GENAI_TOK_IN_OLD] = "gen_ai.usage.prompt_tokens",
        [K_GENAI_TOK_OUT_OLD] = "gen_ai.usage.completion_tokens",
};

/* Lengths of sc_keys, in the same order (compared before the bytes). */
#define L(s) (sizeof(s) - 1)
static const size_t sc_lens[K_COUNT] = {
        [K_MLFLOW_TYPE] = L("mlflow.spanType"),
        [K_MLFLOW_INPUTS] = L("mlflow.spanInputs"),
        [K_MLFLOW_OUTPUTS] = L("mlflow.spanOutputs"),
        [K_MLFLOW_USAGE] = L("mlflow.chat.tokenUsage"),
        [K_MLFLOW_REQUEST_ID] = L("mlflow.traceRequestId"),
        [K_OI_KIND] = L("openinference.span.kind"),
        [K_GENAI_OP] = L("gen_ai.operation.name"),
        [K_IN_OI] = L("input.value"),
        [K_IN_GENAI_MSGS] = L("gen_ai.input.messages"),
        [K_IN_GENAI_TOOL] = L("gen_ai.tool.call.arguments"),
        [K_IN_GENAI_PROMPT] = L("gen_ai.prompt"),
        [K_OUT_OI] = L("output.value"),
        [K_OUT_GENAI_MSGS] = L("gen_ai.output.messages"),
        [K_OUT_GENAI_TOOL] = L("gen_ai.tool.call.result"),
        [K_OUT_GENAI_COMPLETION] = L("gen_ai.completion"),
        [K_OI_TOK_IN] = L("llm.token_count.prompt"),
        [K_OI_TOK_OUT] = L("llm.token_count.completion"),
        [K_OI_TOK_TOTAL] = L("llm.token_count.total"),
        [K_GENAI_TOK_IN] = L("gen_ai.usage.input_tokens"),
        [K_GENAI_TOK_OUT] = L("gen_ai.usage.output_tokens"),
        [K_GENAI_TOK_IN_OLD] = L("gen_ai.usage.prompt_tokens"),
        [K_GENAI_TOK_OUT_OLD] = L("gen_ai.usage.completion_tokens"),
};
#undef L

typedef struct sc_map {
	const char *from, *to;
} sc_map;

static const sc_map sc_oi[] = {
        {"LLM", "LLM"},
        {"CHAIN", "CHAIN"},
        {"TOOL", "TOOL"},
        {"RETRIEVER", "RETRIEVER"},
        {"AGENT", "AGENT"},
        {"EMBEDDING", "EMBEDDING"},
        {"RERANKER", "RERANKER"},
        {"GUARDRAIL", "GUARDRAIL"},
        {"EVALUATOR", "EVALUATOR"},
        {"UNKNOWN", "UNKNOWN"},
        {NULL, NULL},
};

static const sc_map sc_genai[] = {
        {"chat", "CHAT_MODEL"},    {"text_completion", "LLM"},  {"generate_content", "LLM"},
        {"response", "LLM"},       {"embeddings", "EMBEDDING"}, {"execute_tool", "TOOL"},
        {"invoke_agent", "AGENT"}, {"create_agent", "AGENT"},   {NULL, NULL},
};

static bool sc_is_str(const otlp_any *v)
{
	return v &&
	       v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
}

/* A string value without the quotes MLflow's exporters put around it. */
static const char *sc_unquote(const otlp_any *v, size_t *len)
{
	const char *s = v->string_value;
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"' && !memchr(s + 1, '\\', n - 2)) {
		*len = n - 2;
		return s + 1;
	}
	*len = n;
	return s;
}

static const char *sc_lookup(const sc_map *m, const otlp_any *v)
{
	if (!sc_is_str(v))
		return NULL;
	size_t n;
	const char *s = sc_unquote(v, &n);
	for (; m->from; m++)
		if (strlen(m->from) == n && memcmp(m->from, s, n) == 0)
			return m->to;
	return NULL;
}

/* A token count (int, double or decimal string); 0 when absent or not one. */
static int64_t sc_count(const otlp_any *v)
{
	if (!v)
		return 0;
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		return v->int_value > 0 ? v->int_value : 0;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		return v->double_value >= 1 && v->double_value < 9e18 ? (int64_t)v->double_value
		                                                      : 0;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: {
		size_t n;
		const char *s = sc_unquote(v, &n);
		int64_t x = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' || x > (INT64_MAX - 9) / 10)
				return 0;
			x = x * 10 + (s[i] - '0');
		}
		return x;
	}
	default: return 0;
	}
}

/* MLflow skips inputs/outputs that are empty: "", or JSON {} [] "" null false 0. */
static bool sc_empty(const otlp_any *v)
{
	if (!v || v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET)
		return true;
	if (!sc_is_str(v))
		return false;
	const char *s = v->string_value;
	static const char *const falsy[] = {"", "{}", "[]", "\"\"", "null", "false", "0"};
	for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++)
		if (strcmp(s, falsy[i]) == 0)
			return true;
	return false;
}

void otlp_payload_json(cn_buf *out, const otlp_any *v)
{
	if (sc_is_str(v) && otlp_is_json(v->string_value, strlen(v->string_value)))
		cn_buf_puts(out, v->string_value);
	else
		otlp_any_json(out, v);
}

static const otlp_any *sc_event_attr(const otlp_event *e, const char *key)
{
	for (size_t i = 0; i < e->n_attributes; i++)
		if (strcmp(e->attributes[i]->key, key) == 0)
			return e->attributes[i]->value;
	return NULL;
}

/* One {"role": ..., "content": ...} into a list being built in out. */
static void sc_message(cn_buf *out, const otlp_any *role, const char *default_role,
                       const otlp_any *content)
{
	cn_buf_putc(out, out->len ? ',' : '[');
	cn_buf_puts(out, "{\"role\":");
	if (sc_is_str(role))
		otlp_payload_json(out, role);
	else
		otlp_json_str(out, default_role, strlen(default_role));
	cn_buf_puts(out, ",\"content\":");
	otlp_payload_json(out, content);
	cn_buf_putc(out, '}');
}

static void sc_events(const otlp_span *s, otlp_semconv *sc)
{
	static const struct {
		const char *event, *role;
	} in[] = {{"gen_ai.system.message", "system"},
	          {"gen_ai.user.message", "user"},
	          {"gen_ai.assistant.message", "assistant"}};
	for (size_t i = 0; i < s->n_events; i++) {
		const otlp_event *e = s->events[i];
		const otlp_any *content = sc_event_attr(e, "content");
		if (!content || sc_empty(content))
			continue;
		for (size_t k = 0; k < sizeof in / sizeof *in; k++)
			if (strcmp(e->name, in[k].event) == 0)
				sc_message(&sc->event_inputs, NULL, in[k].role, content);
		if (strcmp(e->name, "gen_ai.choice") == 0)
			sc_message(&sc->event_outputs, sc_event_attr(e, "role"), "assistant",
			           content);
	}
	if (sc->event_inputs.len)
		cn_buf_putc(&sc->event_inputs, ']');
	if (sc->event_outputs.len)
		cn_buf_putc(&sc->event_outputs, ']');
}

void otlp_semconv_read(const otlp_span *s, otlp_semconv *sc)
{
	memset(sc, 0, sizeof *sc);
	const otlp_any *at[K_COUNT] = {0};
	for (size_t i = 0; i < s->n_attributes; i++) {
		const char *key = s->attributes[i]->key;
		/* Every key of interest starts with one of these letters. */
		if (!key[0] || !strchr("mogil", key[0]))
			continue;
		size_t len = strlen(key);
		for (int k = 0; k < K_COUNT; k++)
			if (len == sc_lens[k] && memcmp(key, sc_keys[k], len) == 0) {
				at[k] = s->attributes[i]->value;
				break;
			}
	}
	const otlp_any *t = at[K_MLFLOW_TYPE];
	sc->mlflow_encoded = (sc_is_str(t) && t->string_value[0] == '"') ||
	                     (sc_is_str(at[K_MLFLOW_REQUEST_ID]) &&
	                      at[K_MLFLOW_REQUEST_ID]->string_value[0] == '"');
	const char *type = NULL;
	size_t type_len = 0;
	/* Any mlflow.spanType the span has is kept as it is (never a second
	 * one); only a string one names the type. */
	sc->has_type_attr = t != NULL;
	if (sc_is_str(t) && t->string_value[0])
		type = sc_unquote(t, &type_len);
	if (!type && (type = sc_lookup(sc_oi, at[K_OI_KIND])))
		type_len = strlen(type);
	if (!type && (type = sc_lookup(sc_genai, at[K_GENAI_OP])))
		type_len = strlen(type);
	if (!type) {
		type = "UNKNOWN";
		type_len = 7;
	}
	sc->span_type = type;
	sc->span_type_len = type_len;

	for (int k = K_IN_FIRST; !at[K_MLFLOW_INPUTS] && !sc->inputs && k < K_OUT_FIRST; k++)
		if (!sc_empty(at[k]))
			sc->inputs = at[k];
	for (int k = K_OUT_FIRST; !at[K_MLFLOW_OUTPUTS] && !sc->outputs && k < K_OUT_END; k++)
		if (!sc_empty(at[k]))
			sc->outputs = at[k];
	if ((!at[K_MLFLOW_INPUTS] && !sc->inputs) || (!at[K_MLFLOW_OUTPUTS] && !sc->outputs)) {
		sc_events(s, sc);
		if (at[K_MLFLOW_INPUTS] || sc->inputs)
			cn_buf_reset(&sc->event_inputs);
		if (at[K_MLFLOW_OUTPUTS] || sc->outputs)
			cn_buf_reset(&sc->event_outputs);
	}

	if (!at[K_MLFLOW_USAGE]) {
		static const int tr[][3] = {
		        {K_OI_TOK_IN, K_OI_TOK_OUT, K_OI_TOK_TOTAL},
		        {K_GENAI_TOK_IN, K_GENAI_TOK_OUT, -1},
		        {K_GENAI_TOK_IN_OLD, K_GENAI_TOK_OUT_OLD, -1},
		};
		for (size_t i = 0; i < sizeof tr / sizeof *tr && !sc->has_usage; i++) {
			int64_t in = sc_count(at[tr[i][0]]), out = sc_count(at[tr[i][1]]);
			int64_t total = tr[i][2] >= 0 ? sc_count(at[tr[i][2]]) : 0;
			if (in > 0 && out > 0) {
				sc->tokens_in = in;
				sc->tokens_out = out;
				sc->tokens_total = total > 0 ? total : in + out;
				sc->has_usage = true;
			}
		}
	}
}

void otlp_semconv_free(otlp_semconv *sc)
{
	cn_buf_free(&sc->event_inputs);
	cn_buf_free(&sc->event_outputs);
}
