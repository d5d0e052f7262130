/*
 * core/search/trace_match.c: a parsed trace filter applied to one trace
 * view, and trace sort keys (see search_traces.h for the semantics).
 *
 * Span attributes and assessment values are JSON; they are decoded only
 * when a clause reads them, one span or assessment at a time, so a filter
 * without span clauses never touches span data.
 */
#include "core/search/search_traces.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TM_TRACE_NAME_TAG  "mlflow.traceName"
#define TM_SOURCE_RUN_META "mlflow.sourceRun"

static bool tm_is(const cn_search_clause *c, const char *key)
{
	return strcmp(c->key, key) == 0;
}

/* The single value v (NULL: missing) against c. */
static bool tm_one(const cn_search_clause *c, const cn_search_value *v)
{
	return cn_search_clause_match(c, v);
}

static bool tm_lookup(bool (*fn)(const void *, const char *, cn_search_value *), const void *ctx,
                      const char *key, cn_search_value *out)
{
	return fn && fn(ctx, key, out) && out->type != CN_SEARCH_V_NONE;
}

static bool tm_present(const cn_search_value *v)
{
	return v->type == CN_SEARCH_V_STRING || v->type == CN_SEARCH_V_NUMBER;
}

/* ---- JSON values: a string's text, or anything else's JSON text ---------- */

/* What a JSON value compares as. Owns its json_t (may be NULL). */
typedef struct tm_json_text {
	json_t *j;
	cn_search_value v;
} tm_json_text;

static void tm_json_text_set(tm_json_text *o, const char *text, size_t len)
{
	size_t b = 0, e = len;
	while (b < e && (text[b] == ' ' || text[b] == '\n' || text[b] == '\t' || text[b] == '\r'))
		b++;
	while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\n' || text[e - 1] == '\t' ||
	                 text[e - 1] == '\r'))
		e--;
	o->j = NULL;
	o->v = cn_search_value_strn(text + b, e - b);
	if (e > b && text[b] == '"') {
		o->j = json_loadb(text + b, e - b, JSON_DECODE_ANY, NULL);
		if (json_is_string(o->j))
			o->v = cn_search_value_strn(json_string_value(o->j),
			                            json_string_length(o->j));
	}
}

static void tm_json_text_free(tm_json_text *o)
{
	json_decref(o->j);
	o->j = NULL;
}

/* ---- spans ------------------------------------------------------------------ */

static cn_search_value tm_span_status(cn_search_value s)
{
	static const char prefix[] = "STATUS_CODE_";
	size_t n = sizeof prefix - 1;
	if (s.type == CN_SEARCH_V_STRING && s.len > n && memcmp(s.str, prefix, n) == 0) {
		s.str += n;
		s.len -= n;
	}
	return s;
}

/* The attribute name of a span.attributes.<name> clause, without the quotes
 * or backticks a user may have put around it. */
static cn_search_value tm_span_attr_name(const cn_search_clause *c)
{
	const char *k = c->key + strlen("attributes.");
	size_t n = strlen(k);
	if (n >= 2 && (k[0] == '`' || k[0] == '"' || k[0] == '\'') && k[n - 1] == k[0]) {
		k++;
		n -= 2;
	}
	return cn_search_value_strn(k, n);
}

/* Whether span s has attribute `name` satisfying c. */
static bool tm_span_attr(const cn_search_clause *c, cn_search_value name,
                         const cn_search_trace_span *s)
{
	if (!s->attributes || !s->attributes_len)
		return false;
	json_t *obj = json_loadb(s->attributes, s->attributes_len, 0, NULL);
	json_t *val = json_is_object(obj) ? json_object_getn(obj, name.str, name.len) : NULL;
	bool m = false;
	if (json_is_string(val)) {
		/* MLflow's form: the value is JSON-encoded inside a JSON string. */
		tm_json_text t;
		tm_json_text_set(&t, json_string_value(val), json_string_length(val));
		m = tm_one(c, &t.v);
		tm_json_text_free(&t);
	} else if (val) {
		char *txt = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
		if (txt) {
			cn_search_value v = cn_search_value_str(txt);
			m = tm_one(c, &v);
			free(txt);
		}
	}
	json_decref(obj);
	return m;
}

static bool tm_span_clause(const cn_search_clause *c, const cn_search_trace *t, bool content)
{
	bool attr = !content && strncmp(c->key, "attributes.", 11) == 0;
	cn_search_value attr_name = attr ? tm_span_attr_name(c) : cn_search_value_strn("", 0);
	cn_search_trace_span s;
	for (size_t i = 0; t->span && t->span(t->ctx, i, &s); i++) {
		bool m;
		if (content || tm_is(c, "content")) {
			cn_search_value v = cn_search_value_strn(s.content ? s.content : "",
			                                         s.content ? s.content_len : 0);
			m = tm_one(c, &v);
		} else if (attr) {
			m = tm_span_attr(c, attr_name, &s);
		} else {
			cn_search_value v = tm_is(c, "name")   ? s.name
			                    : tm_is(c, "type") ? s.type
			                                       : tm_span_status(s.status);
			m = tm_one(c, tm_present(&v) ? &v : NULL);
		}
		if (m)
			return true;
	}
	return false;
}

/* ---- assessments -------------------------------------------------------- */

static bool tm_assessment_clause(const cn_search_clause *c, const cn_search_trace *t)
{
	bool expectation = c->entity == CN_SEARCH_EXPECTATION;
	size_t klen = strlen(c->key);
	bool any = false;
	cn_search_trace_assessment a;
	for (size_t i = 0; t->assessment && t->assessment(t->ctx, i, &a); i++) {
		if (!a.valid || a.expectation != expectation || a.name_len != klen ||
		    memcmp(a.name, c->key, klen) != 0)
			continue;
		any = true;
		if (c->op == CN_SEARCH_IS_NULL || c->op == CN_SEARCH_IS_NOT_NULL)
			break;
		if (!a.value_json || !a.value_len)
			continue; /* no value: nothing to compare */
		tm_json_text v;
		tm_json_text_set(&v, a.value_json, a.value_len);
		bool m = tm_one(c, &v.v);
		tm_json_text_free(&v);
		if (m)
			return true;
	}
	if (c->op == CN_SEARCH_IS_NULL)
		return !any;
	return c->op == CN_SEARCH_IS_NOT_NULL && any;
}

/* ---- attributes ---------------------------------------------------------- */

static bool tm_attribute(const cn_search_trace *t, const char *key, cn_search_value *out)
{
	if (strcmp(key, "request_id") == 0)
		*out = t->trace_id;
	else if (strcmp(key, "client_request_id") == 0)
		*out = t->client_request_id;
	else if (strcmp(key, "status") == 0)
		*out = t->state;
	else if (strcmp(key, "experiment_id") == 0)
		*out = t->experiment_id;
	else if (strcmp(key, "timestamp_ms") == 0)
		*out = cn_search_value_int(t->timestamp_ms);
	else if (strcmp(key, "execution_time_ms") == 0 && t->has_execution_time)
		*out = cn_search_value_int(t->execution_time_ms);
	else if (strcmp(key, "end_time_ms") == 0 && t->has_execution_time)
		*out = cn_search_value_int(t->timestamp_ms + t->execution_time_ms);
	else if (strcmp(key, "name") == 0)
		return tm_lookup(t->tag, t->ctx, TM_TRACE_NAME_TAG, out);
	else if (strcmp(key, "run_id") == 0)
		return tm_lookup(t->metadata, t->ctx, TM_SOURCE_RUN_META, out);
	else
		return false;
	return tm_present(out);
}

/* run_id: the source run metadata, or a linked run. */
static bool tm_run_id(const cn_search_clause *c, const cn_search_trace *t)
{
	cn_search_value v;
	bool have = tm_attribute(t, "run_id", &v);
	bool negated = c->op == CN_SEARCH_NE || c->op == CN_SEARCH_NOT_IN;
	cn_search_clause pos = *c;
	if (negated)
		pos.op = c->op == CN_SEARCH_NE ? CN_SEARCH_EQ : CN_SEARCH_IN;
	bool eq = have && cn_search_clause_match(&pos, &v);
	if (!eq && t->run_linked) {
		const cn_search_value *w = &c->value;
		if (w->type == CN_SEARCH_V_LIST)
			for (size_t i = 0; i < w->count && !eq; i++)
				eq = t->run_linked(t->ctx, w->items[i], w->item_lens[i]);
		else if (w->type == CN_SEARCH_V_STRING)
			eq = t->run_linked(t->ctx, w->str, w->len);
	}
	return negated ? have && !eq : eq;
}

static bool tm_clause(const cn_search_clause *c, const cn_search_trace *t)
{
	cn_search_value v;
	bool have;
	switch (c->entity) {
	case CN_SEARCH_ATTRIBUTE:
		if (tm_is(c, "text"))
			return tm_span_clause(c, t, true);
		if (tm_is(c, "run_id"))
			return tm_run_id(c, t);
		have = tm_attribute(t, c->key, &v);
		break;
	case CN_SEARCH_TAG: have = tm_lookup(t->tag, t->ctx, c->key, &v); break;
	case CN_SEARCH_METADATA: have = tm_lookup(t->metadata, t->ctx, c->key, &v); break;
	case CN_SEARCH_SPAN: return tm_span_clause(c, t, false);
	case CN_SEARCH_FEEDBACK:
	case CN_SEARCH_EXPECTATION: return tm_assessment_clause(c, t);
	default: return false;
	}
	return tm_one(c, have ? &v : NULL);
}

bool cn_search_trace_match(const cn_search_filter *f, const cn_search_trace *t)
{
	size_t n = cn_search_filter_count(f);
	for (size_t i = 0; i < n; i++)
		if (!tm_clause(cn_search_filter_clause(f, i), t))
			return false;
	return true;
}

unsigned cn_search_trace_needs(const cn_search_filter *f)
{
	unsigned needs = 0;
	size_t n = cn_search_filter_count(f);
	for (size_t i = 0; i < n; i++) {
		const cn_search_clause *c = cn_search_filter_clause(f, i);
		if (c->entity == CN_SEARCH_SPAN ||
		    (c->entity == CN_SEARCH_ATTRIBUTE && strcmp(c->key, "text") == 0))
			needs |= CN_SEARCH_TRACE_NEEDS_SPANS;
		if (c->entity == CN_SEARCH_FEEDBACK || c->entity == CN_SEARCH_EXPECTATION)
			needs |= CN_SEARCH_TRACE_NEEDS_ASSESSMENTS;
	}
	return needs;
}

bool cn_search_trace_order_value(const cn_search_order *o, const cn_search_trace *t,
                                 cn_search_value *out)
{
	switch (o->entity) {
	case CN_SEARCH_ATTRIBUTE:
		if (!tm_attribute(t, o->key, out))
			return false;
		/* Experiment ids order as numbers ("9" before "10"). */
		if (o->kind == CN_SEARCH_NUMERIC && out->type == CN_SEARCH_V_STRING) {
			char buf[32], *end;
			if (out->len == 0 || out->len >= sizeof buf)
				return true;
			memcpy(buf, out->str, out->len);
			buf[out->len] = '\0';
			long long ll = strtoll(buf, &end, 10);
			if (*end == '\0')
				*out = cn_search_value_int(ll);
		}
		return true;
	case CN_SEARCH_TAG: return tm_lookup(t->tag, t->ctx, o->key, out);
	case CN_SEARCH_METADATA: return tm_lookup(t->metadata, t->ctx, o->key, out);
	default: return false;
	}
}
