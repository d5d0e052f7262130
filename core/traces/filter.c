/*
 * core/traces/filter.c: the simple trace filter SearchTracesV3 uses until
 * tracesearch's dialect (MLflow's full trace filter language, in
 * core/search) takes its place behind the same four functions
 * (traces_int.h): a conjunction of comparisons on tags.<key>,
 * metadata.<key>, status, name, timestamp_ms, execution_time_ms and run_id
 * (trace metadata mlflow.sourceRun, or a run the trace is linked to).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_MAX_CLAUSES 16

typedef enum { TF_TAG, TF_META, TF_STATUS, TF_TIME, TF_EXEC, TF_RUN, TF_NAME } trc_field;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } trc_op;

typedef struct trc_clause {
	trc_field field;
	trc_op op;
	char key[256];
	char sval[512];
	size_t slen;
	int64_t ival;
	bool is_num;
} trc_clause;

struct trc_filter {
	trc_clause c[TRC_MAX_CLAUSES];
	size_t n;
};

static cn_code trc_bad_filter(cn_err *err, const char *filter, const char *why)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid filter '%.200s': %s", filter,
	                  why);
}

static void trc_ws(const char **p)
{
	while (isspace((unsigned char)**p))
		(*p)++;
}

/* A quoted ('...', "...", `...`) or bare (letters, digits, _ . -) word. */
static bool trc_word(const char **p, char *out, size_t cap, size_t *len, bool *quoted, bool dots)
{
	trc_ws(p);
	size_t n = 0;
	*quoted = false;
	if (**p == '\'' || **p == '"' || **p == '`') {
		char q = *(*p)++;
		*quoted = true;
		while (**p && **p != q) {
			if (n + 1 >= cap)
				return false;
			out[n++] = *(*p)++;
		}
		if (**p != q)
			return false;
		(*p)++;
	} else {
		while (isalnum((unsigned char)**p) || **p == '_' || **p == '-' || **p == '+' ||
		       (dots && **p == '.')) {
			if (n + 1 >= cap)
				return false;
			out[n++] = *(*p)++;
		}
		if (!n)
			return false;
	}
	out[n] = '\0';
	*len = n;
	return true;
}

static cn_code trc_parse_filter(const char *f, trc_filter *out, cn_err *err)
{
	out->n = 0;
	const char *p = f;
	trc_ws(&p);
	if (!*p)
		return CN_OK;
	for (;;) {
		if (out->n == TRC_MAX_CLAUSES)
			return trc_bad_filter(err, f, "too many clauses");
		trc_clause *c = &out->c[out->n];
		memset(c, 0, sizeof *c);
		char ident[256];
		size_t n;
		bool q;
		if (!trc_word(&p, ident, sizeof ident, &n, &q, false))
			return trc_bad_filter(
			        err, f, "expected an attribute, tags.<key> or metadata.<key>");
		const char *prefix = ident;
		char *dot = strchr(ident, '.');
		bool keyed = false;
		if (dot && *p != '.') {
			/* "tags.key" in one bare word */
			*dot = '\0';
			snprintf(c->key, sizeof c->key, "%s", dot + 1);
			keyed = true;
		} else if (*p == '.') {
			p++;
			size_t kn;
			if (!trc_word(&p, c->key, sizeof c->key, &kn, &q, true))
				return trc_bad_filter(err, f, "expected a key after '.'");
			keyed = true;
		}
		if (keyed && (!strcmp(prefix, "tags") || !strcmp(prefix, "tag")))
			c->field = TF_TAG;
		else if (keyed &&
		         (!strcmp(prefix, "metadata") || !strcmp(prefix, "request_metadata")))
			c->field = TF_META;
		else {
			const char *attr = keyed && (!strcmp(prefix, "trace") ||
			                             !strcmp(prefix, "attributes") ||
			                             !strcmp(prefix, "attribute"))
			                           ? c->key
			                           : (keyed ? NULL : prefix);
			if (!attr)
				return trc_bad_filter(err, f, "unsupported entity");
			if (!strcmp(attr, "status") || !strcmp(attr, "state"))
				c->field = TF_STATUS;
			else if (!strcmp(attr, "timestamp_ms") || !strcmp(attr, "timestamp") ||
			         !strcmp(attr, "request_time"))
				c->field = TF_TIME;
			else if (!strcmp(attr, "execution_time_ms") ||
			         !strcmp(attr, "execution_duration"))
				c->field = TF_EXEC;
			else if (!strcmp(attr, "run_id"))
				c->field = TF_RUN;
			else if (!strcmp(attr, "name"))
				c->field = TF_NAME;
			else
				return trc_bad_filter(err, f, "unsupported attribute");
		}
		trc_ws(&p);
		if (!strncmp(p, "!=", 2)) {
			c->op = OP_NE;
			p += 2;
		} else if (!strncmp(p, "<=", 2)) {
			c->op = OP_LE;
			p += 2;
		} else if (!strncmp(p, ">=", 2)) {
			c->op = OP_GE;
			p += 2;
		} else if (*p == '=') {
			c->op = OP_EQ;
			p++;
		} else if (*p == '<') {
			c->op = OP_LT;
			p++;
		} else if (*p == '>') {
			c->op = OP_GT;
			p++;
		} else {
			return trc_bad_filter(err, f, "expected a comparison operator");
		}
		if (!trc_word(&p, c->sval, sizeof c->sval, &c->slen, &q, true))
			return trc_bad_filter(err, f, "expected a value");
		bool numeric_field = c->field == TF_TIME || c->field == TF_EXEC;
		if (numeric_field) {
			char *end;
			c->ival = strtoll(c->sval, &end, 10);
			if (q || *end || !c->slen)
				return trc_bad_filter(err, f, "expected a number");
			c->is_num = true;
		} else {
			if (!q)
				return trc_bad_filter(err, f, "string values must be quoted");
			if (c->op != OP_EQ && c->op != OP_NE)
				return trc_bad_filter(err, f, "only = and != compare strings");
		}
		out->n++;
		trc_ws(&p);
		if (!*p)
			return CN_OK;
		if (strncasecmp(p, "and", 3) != 0 || !isspace((unsigned char)p[3]))
			return trc_bad_filter(err, f, "clauses must be joined by AND");
		p += 3;
	}
}

static bool trc_cmp_i(int64_t a, trc_op op, int64_t b)
{
	switch (op) {
	case OP_EQ: return a == b;
	case OP_NE: return a != b;
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	default: return a >= b;
	}
}

static bool trc_str_match(cn_fb_str v, bool present, const trc_clause *c)
{
	bool eq = present && v.len == c->slen && memcmp(v.ptr, c->sval, c->slen) == 0;
	return c->op == OP_EQ ? eq : (present && !eq);
}

static bool trc_pair_lookup(cn_fb_vec v, const char *key, cn_fb_str *out)
{
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table e = cn_fb_vec_table(v, i);
		if (cn_fb_str_eq(cn_StringPair_key(e), key)) {
			*out = cn_StringPair_value(e);
			return true;
		}
	}
	return false;
}

static bool trc_run_linked(trc_state *s, cn_fb_str trace_id, const char *run)
{
	cn_key k;
	cn_key_init(&k);
	cn_key_u8(&k, 'r');
	cn_key_str(&k, run, strlen(run));
	cn_key_raw(&k, trace_id.ptr, trace_id.len);
	cn_kv_val v;
	cn_err err;
	if (cn_kv_get(s->db, TRC_CF_RUN_LINKS, k.b, k.len, &v, &err) != CN_OK)
		return false;
	cn_kv_val_release(&v);
	return true;
}

static const char *const trc_state_names[] = {"STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS"};

static bool trc_match(trc_state *s, cn_fb_table rec, const trc_filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const trc_clause *c = &f->c[i];
		cn_fb_str v = {0};
		bool ok;
		switch (c->field) {
		case TF_TAG: {
			bool has = trc_pair_lookup(cn_TraceRecord_tags(rec), c->key, &v);
			ok = trc_str_match(v, has, c);
			break;
		}
		case TF_META: {
			bool has = trc_pair_lookup(cn_TraceRecord_trace_metadata(rec), c->key, &v);
			ok = trc_str_match(v, has, c);
			break;
		}
		case TF_STATUS: {
			int32_t st = cn_TraceRecord_state(rec);
			const char *name = st >= 0 && st < 4 ? trc_state_names[st] : "";
			ok = trc_str_match((cn_fb_str){name, strlen(name)}, true, c);
			break;
		}
		case TF_NAME: {
			bool has =
			        trc_pair_lookup(cn_TraceRecord_tags(rec), "mlflow.traceName", &v);
			ok = trc_str_match(v, has, c);
			break;
		}
		case TF_TIME:
			ok = trc_cmp_i(cn_TraceRecord_request_time_ms(rec), c->op, c->ival);
			break;
		case TF_EXEC:
			ok = cn_TraceRecord_has_execution_duration_ms(rec) &&
			     trc_cmp_i(cn_TraceRecord_execution_duration_ms(rec), c->op, c->ival);
			break;
		case TF_RUN: {
			bool has = trc_pair_lookup(cn_TraceRecord_trace_metadata(rec),
			                           "mlflow.sourceRun", &v);
			bool eq = (has && v.len == c->slen && !memcmp(v.ptr, c->sval, c->slen)) ||
			          trc_run_linked(s, cn_TraceRecord_trace_id(rec), c->sval);
			ok = c->op == OP_EQ ? eq : !eq;
			break;
		}
		default: ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

cn_code trc_filter_compile(const char *text, trc_filter **out, cn_err *err)
{
	trc_filter *f = calloc(1, sizeof *f);
	if (!f)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = trc_parse_filter(text, f, err);
	if (rc != CN_OK) {
		free(f);
		return rc;
	}
	*out = f;
	return CN_OK;
}

bool trc_filter_match(trc_state *s, const trc_filter *f, cn_fb_table rec)
{
	return trc_match(s, rec, f);
}

bool trc_filter_index_hint(const trc_filter *f, trc_index_hint *hint)
{
	for (size_t i = 0; i < f->n; i++) {
		const trc_clause *c = &f->c[i];
		if ((c->field == TF_TAG || c->field == TF_META) && c->op == OP_EQ &&
		    c->slen < TRC_INDEX_VALUE_MAX) {
			hint->cf = c->field == TF_TAG ? TRC_CF_TAG_INDEX : TRC_CF_META_INDEX;
			hint->key = c->key;
			hint->value = c->sval;
			hint->value_len = c->slen;
			return true;
		}
	}
	return false;
}

void trc_filter_free(trc_filter *f)
{
	free(f);
}
