/*
 * core/otlp/otlp_value.c: OTLP values as JSON text. Attribute values keep
 * their JSON types (int64 exactly, doubles shortest round-trip, arrays and
 * key-value lists as arrays and objects, bytes as base64); non-finite
 * doubles, which JSON cannot carry, become the strings protobuf's JSON
 * mapping uses ("NaN", "Infinity", "-Infinity").
 */
#include "core/otlp/otlp_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/codec/dtoa.h"

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
size_t otlp_utf8_seq(const unsigned char *s, size_t n)
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

/* How many leading bytes of s[0..n), in whole 8-byte words, need no
 * escaping (no control, quote, backslash or high bit): most of an
 * attribute's text, copied eight bytes at a time. */
static size_t value_plain(const unsigned char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;
	for (; n - i >= 8; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
		if ((w & high) | ((w - ones * 0x20) & ~w & high) | ((q - ones) & ~q & high) |
		    ((b - ones) & ~b & high))
			break;
	}
	return i;
}

/* The JSON escape of byte c (control, quote, backslash, or a byte that is
 * not valid UTF-8 where it stands) into o; returns its length (<= 6). */
static size_t value_esc(unsigned c, char *o)
{
	static const char hex[] = "0123456789abcdef";
	o[0] = '\\';
	switch (c) {
	case '"': o[1] = '"'; return 2;
	case '\\': o[1] = '\\'; return 2;
	case '\n': o[1] = 'n'; return 2;
	case '\r': o[1] = 'r'; return 2;
	case '\t': o[1] = 't'; return 2;
	default:
		if (c < 0x20) {
			memcpy(o + 1, "u00", 3);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
		} else {
			memcpy(o + 1, "ufffd", 5); /* invalid UTF-8 byte */
		}
		return 6;
	}
}

void otlp_json_str(cn_buf *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	/* Worst case six bytes out per byte in ("\u00XX", "\ufffd"); writing
	 * straight into the reserved space beats an append per escape. */
	if (n > (SIZE_MAX - 3) / 6 || !cn_buf_reserve(out, 6 * n + 3))
		return;
	char *o = out->p + out->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		size_t run = value_plain(s + i, n - i);
		memcpy(o, s + i, run);
		o += run;
		i += run;
		if (i >= n)
			break;
		unsigned c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = otlp_utf8_seq(s + i, n - i);
			if (k) {
				memcpy(o, s + i, k);
				o += k;
				i += k;
				continue;
			}
		}
		o += value_esc(c, o);
		i++;
	}
	*o++ = '"';
	out->len = (size_t)(o - out->p);
	out->p[out->len] = '\0';
}

void otlp_json_str2(cn_buf *out, const char *str, size_t n)
{
	/* Each byte's single escape (at most six bytes) escaped once more (each
	 * of those at most two): twelve bytes out per byte in, plus quotes. */
	if (n > (SIZE_MAX - 8) / 12 || !cn_buf_reserve(out, 12 * n + 8))
		return;
	const unsigned char *s = (const unsigned char *)str;
	char *o = out->p + out->len;
	memcpy(o, "\"\\\"", 3);
	o += 3;
	for (size_t i = 0; i < n;) {
		size_t run = value_plain(s + i, n - i);
		memcpy(o, s + i, run);
		o += run;
		i += run;
		if (i >= n)
			break;
		unsigned c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = otlp_utf8_seq(s + i, n - i);
			if (k) {
				memcpy(o, s + i, k);
				o += k;
				i += k;
				continue;
			}
		}
		/* The single escape, then each of its bytes escaped again. */
		char e[6];
		size_t k = value_esc(c, e);
		for (size_t j = 0; j < k; j++) {
			if (e[j] == '\\' || e[j] == '"')
				*o++ = '\\';
			*o++ = e[j];
		}
		i++;
	}
	memcpy(o, "\\\"\"", 3);
	o += 3;
	out->len = (size_t)(o - out->p);
	out->p[out->len] = '\0';
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
