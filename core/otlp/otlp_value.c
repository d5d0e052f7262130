/*
 * core/otlp/otlp_value.c: OTLP values as JSON text. Attribute values keep
 * their JSON types (int64 exactly, doubles shortest round-trip, arrays and
 * key-value lists as arrays and objects, bytes as base64); non-finite
 * doubles, which JSON cannot carry, become the strings protobuf's JSON
 * mapping uses ("NaN", "Infinity", "-Infinity").
 */
#include "core/otlp/otlp_int.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/codec/dtoa.h"

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
		min = 0x80;
	} else if (c < 0xf0) {
		len = 3;
		min = 0x800;
	} else if (c < 0xf5) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = c & (0xff >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void otlp_json_str(cn_buf *out, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	cn_buf_reserve(out, n + 2);
	cn_buf_putc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = utf8_seq(s + i, n - i);
			if (k) {
				i += k;
				continue;
			}
		}
		cn_buf_append(out, str + run, i - run);
		char esc[8] = {'\\', 0};
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			if (c < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
			} else {
				memcpy(esc, "\\ufffd", 6); /* invalid UTF-8 byte */
			}
		}
		cn_buf_puts(out, esc);
		run = ++i;
	}
	cn_buf_append(out, str + run, n - run);
	cn_buf_putc(out, '"');
}

static void otlp_base64(cn_buf *out, const uint8_t *p, size_t n)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (!cn_buf_reserve(out, 4 * ((n + 2) / 3) + 2))
		return;
	cn_buf_putc(out, '"');
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
		cn_buf_append(out, q, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63],
		             i + 1 < n ? tab[(v >> 6) & 63] : '=', '='};
		cn_buf_append(out, q, 4);
	}
	cn_buf_putc(out, '"');
}

void otlp_any_json(cn_buf *out, const otlp_any *v)
{
	char num[CN_DTOA_MAX];
	switch (v ? v->value_case : 0) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		otlp_json_str(out, v->string_value, strlen(v->string_value));
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		cn_buf_puts(out, v->bool_value ? "true" : "false");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		cn_buf_append(out, num, cn_i64toa(v->int_value, num));
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		if (isnan(v->double_value))
			cn_buf_puts(out, "\"NaN\"");
		else if (isinf(v->double_value))
			cn_buf_puts(out, v->double_value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		else
			cn_buf_append(out, num, cn_dtoa(v->double_value, num));
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
		cn_buf_putc(out, '[');
		for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++) {
			if (i)
				cn_buf_putc(out, ',');
			otlp_any_json(out, v->array_value->values[i]);
		}
		cn_buf_putc(out, ']');
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
		if (v->kvlist_value)
			otlp_kvs_json(out, v->kvlist_value->values, v->kvlist_value->n_values);
		else
			cn_buf_puts(out, "{}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
		otlp_base64(out, v->bytes_value.data, v->bytes_value.len);
		break;
	default: cn_buf_puts(out, "null");
	}
}

void otlp_kvs_json(cn_buf *out, otlp_kv *const *kvs, size_t n)
{
	cn_buf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			cn_buf_putc(out, ',');
		otlp_json_str(out, kvs[i]->key, strlen(kvs[i]->key));
		cn_buf_putc(out, ':');
		otlp_any_json(out, kvs[i]->value);
	}
	cn_buf_putc(out, '}');
}

void otlp_hex(cn_buf *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (!cn_buf_reserve(out, 2 * n))
		return;
	for (size_t i = 0; i < n; i++) {
		char d[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
		cn_buf_append(out, d, 2);
	}
}

bool otlp_is_json(const char *s, size_t n)
{
	/* Cheap refusals first: most plain strings fail on their first byte. */
	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
		s++;
		n--;
	}
	if (!n || !strchr("{[\"-0123456789tfn", *s))
		return false;
	json_error_t e;
	json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &e);
	if (!j)
		return false;
	json_decref(j);
	return true;
}
