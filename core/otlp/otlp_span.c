/*
 * core/otlp/otlp_span.c: one OTLP span into one SpanRecord.
 *
 * Attributes take MLflow's stored form, a JSON object whose every value is
 * itself JSON text: {"gen_ai.operation.name": "\"chat\"", "llm.token_count.
 * prompt": "12"}. Spans from MLflow's own exporter already carry JSON text in
 * their string values (mlflow.spanType = "\"LLM\""), so for those a string
 * that is valid JSON is kept as it is rather than encoded twice. What the
 * semantic conventions give (otlp_semconv.c) is added under MLflow's keys
 * when the span does not have them already.
 */
#include "core/otlp/otlp_int.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schemas/cairn_schema.h"

static bool span_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Unix nanoseconds as stored (int64): past year 2262 is clamped, not wrapped
 * negative. */
static int64_t span_time(uint64_t ns)
{
	return ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)ns;
}

static cn_fb_ref span_str(cn_fb_builder *b, const cn_buf *s)
{
	return cn_fb_create_string(b, s->p ? s->p : "", s->len);
}

/* "key": "<value as JSON text, escaped>" */
static void span_attr(cn_buf *out, cn_buf *val, const char *key, bool first)
{
	if (!first)
		cn_buf_putc(out, ',');
	otlp_json_str(out, key, strlen(key));
	cn_buf_putc(out, ':');
	otlp_json_str(out, val->p ? val->p : "", val->len);
}

static void span_attributes(cn_buf *out, cn_buf *val, const otlp_span *s, const otlp_semconv *sc)
{
	cn_buf_putc(out, '{');
	bool first = true;
	for (size_t i = 0; i < s->n_attributes; i++, first = false) {
		const otlp_any *v = s->attributes[i]->value;
		const char *key = s->attributes[i]->key;
		bool str = v &&
		           v->value_case ==
		                   OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		size_t n = str ? strlen(v->string_value) : 0;
		cn_buf_reset(val);
		if (str && !(sc->mlflow_encoded && otlp_is_json(v->string_value, n))) {
			/* The common case in one pass: "key": "\"text\"" */
			if (!first)
				cn_buf_putc(out, ',');
			otlp_json_str(out, key, strlen(key));
			cn_buf_putc(out, ':');
			otlp_json_str2(out, v->string_value, n);
			continue;
		}
		if (str)
			cn_buf_append(val, v->string_value,
			              n); /* already JSON (MLflow's exporter) */
		else
			otlp_any_json(val, v);
		span_attr(out, val, key, first);
	}
	if (!sc->has_type_attr) {
		cn_buf_reset(val);
		otlp_json_str(val, sc->span_type, sc->span_type_len);
		span_attr(out, val, "mlflow.spanType", first);
		first = false;
	}
	const cn_buf *ev[2] = {&sc->event_inputs, &sc->event_outputs};
	const otlp_any *from[2] = {sc->inputs, sc->outputs};
	static const char *const keys[2] = {"mlflow.spanInputs", "mlflow.spanOutputs"};
	for (int k = 0; k < 2; k++) {
		cn_buf_reset(val);
		if (from[k])
			otlp_payload_json(val, from[k]);
		else if (ev[k]->len)
			cn_buf_append(val, ev[k]->p, ev[k]->len);
		else
			continue;
		span_attr(out, val, keys[k], first);
		first = false;
	}
	if (sc->has_usage) {
		cn_buf_reset(val);
		cn_buf_printf(
		        val, "{\"input_tokens\":%lld,\"output_tokens\":%lld,\"total_tokens\":%lld}",
		        (long long)sc->tokens_in, (long long)sc->tokens_out,
		        (long long)sc->tokens_total);
		span_attr(out, val, "mlflow.chat.tokenUsage", first);
	}
	cn_buf_putc(out, '}');
}

static void span_events(cn_buf *out, const otlp_span *s)
{
	cn_buf_putc(out, '[');
	for (size_t i = 0; i < s->n_events; i++) {
		const otlp_event *e = s->events[i];
		if (i)
			cn_buf_putc(out, ',');
		cn_buf_puts(out, "{\"name\":");
		otlp_json_str(out, e->name, strlen(e->name));
		cn_buf_printf(out, ",\"time_unix_nano\":%lld,\"attributes\":",
		              (long long)span_time(e->time_unix_nano));
		otlp_kvs_json(out, e->attributes, e->n_attributes);
		cn_buf_putc(out, '}');
	}
	cn_buf_putc(out, ']');
}

static const char *span_status(const otlp_status *st)
{
	if (st && st->code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK)
		return "STATUS_CODE_OK";
	if (st &&
	    st->code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR)
		return "STATUS_CODE_ERROR";
	return "STATUS_CODE_UNSET";
}

/* Text with invalid UTF-8 replaced, as a FlatBuffer string. */
static cn_fb_ref span_text(cn_fb_builder *b, cn_buf *tmp, const char *s)
{
	size_t n = strlen(s);
	bool plain = true;
	for (size_t i = 0; i < n && plain; i++)
		plain = (unsigned char)s[i] < 0x80;
	if (plain)
		return cn_fb_create_string(b, s, n);
	/* Reuse the JSON escaper's UTF-8 repair, then strip it back to text:
	 * cheaper to validate with jansson's reader than to write another. */
	cn_buf_reset(tmp);
	otlp_json_str(tmp, s, n);
	json_error_t e;
	json_t *j = json_loadb(tmp->p, tmp->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	cn_fb_ref r = j ? cn_fb_create_string(b, json_string_value(j), json_string_length(j))
	                : cn_fb_create_string(b, "", 0);
	json_decref(j);
	return r;
}

cn_fb_ref otlp_span_record(cn_fb_builder *b, const otlp_span *s, cn_fb_ref scope_name,
                           cn_fb_ref resource_json, cn_buf *tmp, cn_buf *val, char *why,
                           size_t why_cap)
{
	if (s->trace_id.len != 16 || span_zero(s->trace_id.data, 16)) {
		snprintf(why, why_cap, "span '%.100s': trace id must be 16 bytes, not all zero",
		         s->name);
		return 0;
	}
	if (s->span_id.len != 8 || span_zero(s->span_id.data, 8)) {
		snprintf(why, why_cap, "span '%.100s': span id must be 8 bytes, not all zero",
		         s->name);
		return 0;
	}
	if (s->parent_span_id.len != 0 && s->parent_span_id.len != 8) {
		snprintf(why, why_cap, "span '%.100s': parent span id must be 8 bytes or empty",
		         s->name);
		return 0;
	}
	otlp_semconv sc;
	otlp_semconv_read(s, &sc);

	cn_buf_reset(tmp);
	otlp_hex(tmp, s->trace_id.data, 16);
	cn_fb_ref trace_id = span_str(b, tmp);
	cn_buf_reset(tmp);
	otlp_hex(tmp, s->span_id.data, 8);
	cn_fb_ref span_id = span_str(b, tmp);
	cn_fb_ref parent = 0;
	if (s->parent_span_id.len == 8 && !span_zero(s->parent_span_id.data, 8)) {
		cn_buf_reset(tmp);
		otlp_hex(tmp, s->parent_span_id.data, 8);
		parent = span_str(b, tmp);
	}
	cn_fb_ref name = span_text(b, tmp, s->name);
	cn_fb_ref type = cn_fb_create_string(b, sc.span_type, sc.span_type_len);
	cn_fb_ref status = cn_fb_create_cstr(b, span_status(s->status));
	cn_fb_ref message =
	        s->status && s->status->message[0] ? span_text(b, tmp, s->status->message) : 0;
	cn_buf_reset(tmp);
	span_attributes(tmp, val, s, &sc);
	cn_fb_ref attrs = span_str(b, tmp);
	cn_buf_reset(tmp);
	span_events(tmp, s);
	cn_fb_ref events = span_str(b, tmp);
	cn_fb_ref state = s->trace_state[0] ? span_text(b, tmp, s->trace_state) : 0;
	bool failed = cn_buf_failed(tmp) || cn_buf_failed(val);
	otlp_semconv_free(&sc);
	if (failed) {
		snprintf(why, why_cap, "out of memory");
		return 0;
	}

	cn_SpanRecord_start(b);
	cn_SpanRecord_add_trace_id(b, trace_id);
	cn_SpanRecord_add_span_id(b, span_id);
	cn_SpanRecord_add_parent_span_id(b, parent);
	cn_SpanRecord_add_name(b, name);
	cn_SpanRecord_add_span_type(b, type);
	cn_SpanRecord_add_start_time_unix_nano(b, span_time(s->start_time_unix_nano));
	cn_SpanRecord_add_end_time_unix_nano(b, span_time(s->end_time_unix_nano));
	cn_SpanRecord_add_status_code(b, status);
	cn_SpanRecord_add_status_message(b, message);
	cn_SpanRecord_add_attributes(b, attrs);
	cn_SpanRecord_add_events(b, events);
	cn_SpanRecord_add_trace_state(b, state);
	cn_SpanRecord_add_resource_attributes(b, resource_json);
	cn_SpanRecord_add_scope_name(b, scope_name);
	return cn_SpanRecord_end(b);
}
