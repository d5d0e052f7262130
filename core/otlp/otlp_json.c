/*
 * core/otlp/otlp_json.c: the OTLP JSON encoding into the request's
 * protobuf-c structures, so the rest of the decoder reads one form.
 *
 * The OTLP JSON mapping is protobuf's JSON mapping with OTLP's changes:
 * trace and span ids are hex strings (not base64), enums are integers,
 * field names lowerCamelCase (the proto names are accepted too, as
 * protobuf's parsers do), 64-bit integers are decimal strings or numbers,
 * and unknown fields are ignored. Wrong types are refused whole
 * (INVALID_PARAMETER_VALUE naming the field); ids that are not hex of the
 * right length make only their span rejected.
 */
#include "core/otlp/otlp_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct jctx {
	cn_otlp_req *r;
	cn_err *err;
	bool failed;
} jctx;

static bool jfail(jctx *c, cn_code code, const char *what, const char *field)
{
	if (!c->failed)
		cn_err_set(c->err, code, "Invalid OpenTelemetry JSON: '%s' %s", field, what);
	c->failed = true;
	return false;
}

/* The member named camel (or snake, its proto name); NULL when absent or null. */
static json_t *jget(json_t *o, const char *camel, const char *snake)
{
	json_t *v = json_object_get(o, camel);
	if (!v && snake)
		v = json_object_get(o, snake);
	return json_is_null(v) ? NULL : v;
}

static void jnomem(jctx *c)
{
	if (!c->failed)
		cn_err_set(
		        c->err, CN_INVALID_PARAMETER_VALUE,
		        "OTLP request too large once decoded (limit %zu MiB); send smaller batches",
		        c->r->lim.max_memory >> 20);
	c->failed = true;
}

static void *jalloc(jctx *c, size_t n)
{
	void *p = otlp_arena_alloc(&c->r->arena, n);
	if (!p)
		jnomem(c);
	return p;
}

static char *jstr(jctx *c, json_t *o, const char *camel, const char *snake)
{
	json_t *v = jget(o, camel, snake);
	if (!v)
		return (char *)protobuf_c_empty_string;
	if (!json_is_string(v)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a string", camel);
		return (char *)protobuf_c_empty_string;
	}
	char *s = otlp_arena_strndup(&c->r->arena, json_string_value(v), json_string_length(v));
	if (!s) {
		jnomem(c);
		return (char *)protobuf_c_empty_string;
	}
	return s;
}

/* 64-bit integer from a number or a decimal string. */
static bool jint(jctx *c, json_t *v, const char *field, bool is_unsigned, uint64_t *out)
{
	if (!v) {
		*out = 0;
		return true;
	}
	if (json_is_integer(v)) {
		if (is_unsigned && json_integer_value(v) < 0)
			return jfail(c, CN_INVALID_PARAMETER_VALUE, "must not be negative", field);
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || d < (is_unsigned ? 0 : -9.2e18) || d > 1.8e19)
			return jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an integer", field);
		*out = is_unsigned ? (uint64_t)d : (uint64_t)(int64_t)d;
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		if (is_unsigned && s[0] != '-')
			*out = strtoull(s, &end, 10);
		else if (!is_unsigned)
			*out = (uint64_t)strtoll(s, &end, 10);
		else
			end = (char *)s;
		if (errno || end == s || *end || (s[0] == ' ' || s[0] == '+'))
			return jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a decimal integer",
			             field);
		return true;
	}
	return jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an integer or a decimal string",
	             field);
}

/* Hex id; a wrong one leaves the id empty (the span is rejected later). */
static ProtobufCBinaryData jid(jctx *c, json_t *o, const char *camel, const char *snake)
{
	ProtobufCBinaryData b = {0, NULL};
	json_t *v = jget(o, camel, snake);
	if (!v)
		return b;
	if (!json_is_string(v)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a hex string", camel);
		return b;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n % 2 || n > 64)
		return b;
	uint8_t *p = jalloc(c, n / 2);
	if (!p)
		return b;
	for (size_t i = 0; i < n; i += 2) {
		int hi = cn_hex_value(s[i]), lo = cn_hex_value(s[i + 1]);
		if (hi < 0 || lo < 0)
			return b;
		p[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	b.len = n / 2;
	b.data = p;
	return b;
}

/* Enum from its number or its name (names listed in order of value). */
static int jenum(jctx *c, json_t *v, const char *field, const char *const *names, int n)
{
	if (!v)
		return 0;
	if (json_is_integer(v))
		return (int)json_integer_value(v);
	if (json_is_string(v))
		for (int i = 0; i < n; i++)
			if (strcmp(json_string_value(v), names[i]) == 0)
				return i;
	jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an enum number or name", field);
	return 0;
}

static bool jbase64(jctx *c, json_t *v, ProtobufCBinaryData *out)
{
	if (!json_is_string(v))
		return jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a base64 string",
		             "bytesValue");
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	uint8_t *p = jalloc(c, n / 4 * 3 + 3);
	if (!p)
		return false;
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *tab =
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *at = strchr(tab, s[i]);
		if (s[i] == '-' || s[i] == '_') /* base64url, which protobuf's parsers accept */
			at = tab + (s[i] == '-' ? 62 : 63);
		if (!at || !s[i])
			return jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a base64 string",
			             "bytesValue");
		acc = acc << 6 | (uint32_t)(at - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			p[k++] = (uint8_t)(acc >> bits);
		}
	}
	out->data = p;
	out->len = k;
	return true;
}

static otlp_kv **jkvs(jctx *c, json_t *arr, const char *field, size_t *n, int depth);

static otlp_any *jany(jctx *c, json_t *o, int depth)
{
	if (!o)
		return NULL;
	if (!json_is_object(o)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an object", "value");
		return NULL;
	}
	if (depth > c->r->lim.max_depth) {
		if (!c->failed)
			cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			           "Attribute values nest deeper than %d levels",
			           c->r->lim.max_depth);
		c->failed = true;
		return NULL;
	}
	otlp_any *a = jalloc(c, sizeof *a);
	if (!a)
		return NULL;
	opentelemetry__proto__common__v1__any_value__init(a);
	json_t *v;
	uint64_t u;
	if ((v = jget(o, "stringValue", "string_value"))) {
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		a->string_value = jstr(c, o, "stringValue", "string_value");
	} else if ((v = jget(o, "boolValue", "bool_value"))) {
		if (!json_is_boolean(v))
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a boolean", "boolValue");
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
		a->bool_value = json_is_true(v);
	} else if ((v = jget(o, "intValue", "int_value"))) {
		jint(c, v, "intValue", false, &u);
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		a->int_value = (int64_t)u;
	} else if ((v = jget(o, "doubleValue", "double_value"))) {
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (json_is_number(v))
			a->double_value = json_number_value(v);
		else if (strcmp(s, "NaN") == 0)
			a->double_value = NAN;
		else if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)
			a->double_value = s[0] == '-' ? -INFINITY : INFINITY;
		else
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must be a number", "doubleValue");
	} else if ((v = jget(o, "arrayValue", "array_value"))) {
		json_t *vals = json_is_object(v) ? jget(v, "values", NULL) : NULL;
		if (!json_is_object(v) || (vals && !json_is_array(vals))) {
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must be {\"values\": [...]}",
			      "arrayValue");
			return a;
		}
		otlp_array *arr = jalloc(c, sizeof *arr);
		size_t n = json_array_size(vals);
		otlp_any **items = jalloc(c, (n ? n : 1) * sizeof *items);
		if (!arr || !items)
			return a;
		opentelemetry__proto__common__v1__array_value__init(arr);
		for (size_t i = 0; i < n && !c->failed; i++) {
			items[i] = jany(c, json_array_get(vals, i), depth + 1);
			if (!items[i] && !c->failed) { /* null element: an empty value */
				items[i] = jalloc(c, sizeof **items);
				if (items[i])
					opentelemetry__proto__common__v1__any_value__init(items[i]);
			}
		}
		arr->n_values = c->failed ? 0 : n;
		arr->values = items;
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
		a->array_value = arr;
	} else if ((v = jget(o, "kvlistValue", "kvlist_value"))) {
		if (!json_is_object(v)) {
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must be {\"values\": [...]}",
			      "kvlistValue");
			return a;
		}
		otlp_kvlist *kl = jalloc(c, sizeof *kl);
		if (!kl)
			return a;
		opentelemetry__proto__common__v1__key_value_list__init(kl);
		kl->values = jkvs(c, jget(v, "values", NULL), "kvlistValue.values", &kl->n_values,
		                  depth + 1);
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
		a->kvlist_value = kl;
	} else if ((v = jget(o, "bytesValue", "bytes_value"))) {
		a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
		jbase64(c, v, &a->bytes_value);
	}
	return a;
}

static otlp_kv **jkvs(jctx *c, json_t *arr, const char *field, size_t *n, int depth)
{
	*n = 0;
	if (!arr)
		return NULL;
	if (!json_is_array(arr)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an array", field);
		return NULL;
	}
	size_t len = json_array_size(arr);
	otlp_kv **kvs = jalloc(c, (len ? len : 1) * sizeof *kvs);
	for (size_t i = 0; kvs && i < len && !c->failed; i++) {
		json_t *o = json_array_get(arr, i);
		if (!json_is_object(o)) {
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must hold objects", field);
			break;
		}
		otlp_kv *kv = jalloc(c, sizeof *kv);
		if (!kv)
			break;
		opentelemetry__proto__common__v1__key_value__init(kv);
		kv->key = jstr(c, o, "key", NULL);
		kv->value = jany(c, jget(o, "value", NULL), depth);
		kvs[i] = kv;
	}
	*n = c->failed ? 0 : len;
	return kvs;
}

/* The array member named camel/snake: its size and elements, checked to be objects. */
static json_t *jarr(jctx *c, json_t *o, const char *camel, const char *snake, size_t *n)
{
	json_t *v = jget(o, camel, snake);
	*n = 0;
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an array", camel);
		return NULL;
	}
	*n = json_array_size(v);
	for (size_t i = 0; i < *n; i++)
		if (!json_is_object(json_array_get(v, i))) {
			jfail(c, CN_INVALID_PARAMETER_VALUE, "must hold objects", camel);
			*n = 0;
			return NULL;
		}
	return v;
}

static otlp_event *jevent(jctx *c, json_t *o)
{
	otlp_event *e = jalloc(c, sizeof *e);
	if (!e)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(e);
	uint64_t t;
	if (jint(c, jget(o, "timeUnixNano", "time_unix_nano"), "timeUnixNano", true, &t))
		e->time_unix_nano = t;
	e->name = jstr(c, o, "name", NULL);
	e->attributes = jkvs(c, jget(o, "attributes", NULL), "attributes", &e->n_attributes, 1);
	return e;
}

static otlp_span *jspan(jctx *c, json_t *o)
{
	static const char *const codes[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
	                                    "STATUS_CODE_ERROR"};
	static const char *const kinds[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
	                                    "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
	                                    "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
	otlp_span *s = jalloc(c, sizeof *s);
	if (!s)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(s);
	s->trace_id = jid(c, o, "traceId", "trace_id");
	s->span_id = jid(c, o, "spanId", "span_id");
	s->parent_span_id = jid(c, o, "parentSpanId", "parent_span_id");
	json_t *pv = jget(o, "parentSpanId", "parent_span_id");
	if (json_is_string(pv) && json_string_length(pv) && !s->parent_span_id.len)
		s->parent_span_id.len = 1; /* present but not hex: rejected as malformed */
	s->trace_state = jstr(c, o, "traceState", "trace_state");
	s->name = jstr(c, o, "name", NULL);
	s->kind = jenum(c, jget(o, "kind", NULL), "kind", kinds, 6);
	uint64_t t;
	if (jint(c, jget(o, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano", true,
	         &t))
		s->start_time_unix_nano = t;
	if (jint(c, jget(o, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano", true, &t))
		s->end_time_unix_nano = t;
	s->attributes = jkvs(c, jget(o, "attributes", NULL), "attributes", &s->n_attributes, 1);
	size_t n;
	json_t *evs = jarr(c, o, "events", NULL, &n);
	s->events = jalloc(c, (n ? n : 1) * sizeof *s->events);
	for (size_t i = 0; s->events && i < n && !c->failed; i++)
		s->events[s->n_events++] = jevent(c, json_array_get(evs, i));
	json_t *st = jget(o, "status", NULL);
	if (st && !json_is_object(st)) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "must be an object", "status");
	} else if (st) {
		s->status = jalloc(c, sizeof *s->status);
		if (s->status) {
			opentelemetry__proto__trace__v1__status__init(s->status);
			s->status->message = jstr(c, st, "message", NULL);
			s->status->code = jenum(c, jget(st, "code", NULL), "code", codes, 3);
		}
	}
	return s;
}

static otlp_sspans *jscope_spans(jctx *c, json_t *o)
{
	otlp_sspans *ss = jalloc(c, sizeof *ss);
	if (!ss)
		return NULL;
	opentelemetry__proto__trace__v1__scope_spans__init(ss);
	json_t *sc = jget(o, "scope", NULL);
	if (json_is_object(sc)) {
		ss->scope = jalloc(c, sizeof *ss->scope);
		if (ss->scope) {
			opentelemetry__proto__common__v1__instrumentation_scope__init(ss->scope);
			ss->scope->name = jstr(c, sc, "name", NULL);
			ss->scope->version = jstr(c, sc, "version", NULL);
		}
	}
	size_t n;
	json_t *spans = jarr(c, o, "spans", NULL, &n);
	if (n > c->r->lim.max_spans) {
		jfail(c, CN_INVALID_PARAMETER_VALUE, "has too many spans; send smaller batches",
		      "spans");
		return ss;
	}
	ss->spans = jalloc(c, (n ? n : 1) * sizeof *ss->spans);
	for (size_t i = 0; ss->spans && i < n && !c->failed; i++)
		ss->spans[ss->n_spans++] = jspan(c, json_array_get(spans, i));
	return ss;
}

static otlp_rspans *jresource_spans(jctx *c, json_t *o)
{
	otlp_rspans *rs = jalloc(c, sizeof *rs);
	if (!rs)
		return NULL;
	opentelemetry__proto__trace__v1__resource_spans__init(rs);
	json_t *res = jget(o, "resource", NULL);
	if (json_is_object(res)) {
		rs->resource = jalloc(c, sizeof *rs->resource);
		if (rs->resource) {
			opentelemetry__proto__resource__v1__resource__init(rs->resource);
			rs->resource->attributes =
			        jkvs(c, jget(res, "attributes", NULL), "attributes",
			             &rs->resource->n_attributes, 1);
		}
	}
	size_t n;
	json_t *arr = jarr(c, o, "scopeSpans", "scope_spans", &n);
	rs->scope_spans = jalloc(c, (n ? n : 1) * sizeof *rs->scope_spans);
	for (size_t i = 0; rs->scope_spans && i < n && !c->failed; i++)
		rs->scope_spans[rs->n_scope_spans++] = jscope_spans(c, json_array_get(arr, i));
	return rs;
}

cn_code otlp_parse_json(cn_otlp_req *r, const void *body, size_t len, cn_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, 0, &je);
	if (!root)
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Invalid OpenTelemetry JSON format: %s (line %d, column %d)",
		                  je.text, je.line, je.column);
	jctx c = {r, err, false};
	otlp_export *m = jalloc(&c, sizeof *m);
	if (m) {
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(m);
		size_t n;
		json_t *arr = jarr(&c, root, "resourceSpans", "resource_spans", &n);
		m->resource_spans = jalloc(&c, (n ? n : 1) * sizeof *m->resource_spans);
		for (size_t i = 0; m->resource_spans && i < n && !c.failed; i++)
			m->resource_spans[m->n_resource_spans++] =
			        jresource_spans(&c, json_array_get(arr, i));
	}
	json_decref(root);
	if (c.failed)
		return err->code;
	r->msg = m;
	if (m->n_resource_spans == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid OpenTelemetry JSON format - no spans found");
	return CN_OK;
}
