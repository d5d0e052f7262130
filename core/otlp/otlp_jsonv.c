/*
 * core/otlp/otlp_jsonv.c: "is this string one JSON value?", without
 * building anything. Inputs and outputs that arrive as JSON text
 * (input.value, gen_ai.input.messages) are stored as that JSON, as MLflow
 * reads them; the check runs for every such attribute of every span, so it
 * is a validating scanner (RFC 8259, UTF-8 checked) rather than a parse
 * into a tree. Nesting beyond OTLP_JSONV_DEPTH counts as not JSON (the
 * value is then stored as a string, which is still correct).
 */
#include "core/otlp/otlp_int.h"

#include <string.h>

#define OTLP_JSONV_DEPTH 64

typedef struct jv {
	const unsigned char *p, *end;
} jv;

static void jv_ws(jv *v)
{
	while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static bool jv_lit(jv *v, const char *lit, size_t n)
{
	if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n) != 0)
		return false;
	v->p += n;
	return true;
}

static bool jv_digits(jv *v)
{
	const unsigned char *s = v->p;
	while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s;
}

static bool jv_number(jv *v)
{
	if (v->p < v->end && *v->p == '-')
		v->p++;
	if (v->p < v->end && *v->p == '0')
		v->p++;
	else if (!jv_digits(v))
		return false;
	if (v->p < v->end && *v->p == '.') {
		v->p++;
		if (!jv_digits(v))
			return false;
	}
	if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
		v->p++;
		if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
			v->p++;
		if (!jv_digits(v))
			return false;
	}
	return true;
}

static bool jv_string(jv *v)
{
	v->p++; /* opening quote */
	while (v->p < v->end) {
		unsigned c = *v->p;
		if (c == '"') {
			v->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (v->end - v->p < 2)
				return false;
			c = v->p[1];
			if (c == 'u') {
				if (v->end - v->p < 6)
					return false;
				for (int i = 2; i < 6; i++)
					if (cn_hex_value((char)v->p[i]) < 0)
						return false;
				v->p += 6;
			} else if (strchr("\"\\/bfnrt", (int)c) && c) {
				v->p += 2;
			} else {
				return false;
			}
		} else if (c >= 0x80) {
			size_t k = otlp_utf8_seq(v->p, (size_t)(v->end - v->p));
			if (!k)
				return false;
			v->p += k;
		} else {
			v->p++;
		}
	}
	return false;
}

static bool jv_value(jv *v, int depth)
{
	jv_ws(v);
	if (v->p >= v->end)
		return false;
	switch (*v->p) {
	case '"': return jv_string(v);
	case 't': return jv_lit(v, "true", 4);
	case 'f': return jv_lit(v, "false", 5);
	case 'n': return jv_lit(v, "null", 4);
	case '[':
	case '{': {
		if (depth >= OTLP_JSONV_DEPTH)
			return false;
		bool obj = *v->p == '{';
		char close = obj ? '}' : ']';
		v->p++;
		jv_ws(v);
		if (v->p < v->end && *v->p == close) {
			v->p++;
			return true;
		}
		for (;;) {
			if (obj) {
				jv_ws(v);
				if (v->p >= v->end || *v->p != '"' || !jv_string(v))
					return false;
				jv_ws(v);
				if (v->p >= v->end || *v->p != ':')
					return false;
				v->p++;
			}
			if (!jv_value(v, depth + 1))
				return false;
			jv_ws(v);
			if (v->p >= v->end)
				return false;
			if (*v->p == close) {
				v->p++;
				return true;
			}
			if (*v->p != ',')
				return false;
			v->p++;
		}
	}
	default: return jv_number(v);
	}
}

bool otlp_is_json(const char *s, size_t n)
{
	jv v = {(const unsigned char *)s, (const unsigned char *)s + n};
	if (!jv_value(&v, 0))
		return false;
	jv_ws(&v);
	return v.p == v.end;
}
