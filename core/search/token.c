/*
 * core/search/token.c: page tokens.
 *
 * A token is URL-safe base64 (no padding) of:
 *
 *   u8      version (1)
 *   varint  offset
 *   varint  key length, then the key bytes (sort key of the last item)
 *   u32 LE  FNV-1a of the query fingerprint the token continues
 *   u32 LE  FNV-1a of everything before it
 *
 * The checksum catches truncated or edited tokens; it is no secret, and a
 * token grants nothing a caller could not ask for directly. Clients treat
 * tokens as opaque, so the layout may change with the version byte.
 */
#include "core/search/search_int.h"

#include <string.h>

#define TOKEN_VERSION 1
/* version + two 10-byte varints + key + two u32 */
#define TOKEN_PAYLOAD_MAX (1 + 10 + 10 + CN_SEARCH_TOKEN_KEY_MAX + 8)

static const char token_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint32_t token_fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static size_t token_put_varint(unsigned char *out, uint64_t v)
{
	size_t n = 0;
	do {
		unsigned char byte = v & 0x7F;
		v >>= 7;
		out[n++] = (unsigned char)(byte | (v ? 0x80 : 0));
	} while (v);
	return n;
}

static bool token_get_varint(const unsigned char *p, size_t n, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64 && *pos < n; shift += 7) {
		unsigned char byte = p[(*pos)++];
		if (shift == 63 && byte > 1)
			return false;
		r |= (uint64_t)(byte & 0x7F) << shift;
		if (!(byte & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static void token_put_u32(unsigned char *out, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t token_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

cn_code cn_search_token_encode(const cn_search_token *t, const char *query, size_t query_len,
                               cn_buf *out, cn_err *err)
{
	unsigned char p[TOKEN_PAYLOAD_MAX];
	if (t->key_len > CN_SEARCH_TOKEN_KEY_MAX)
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "page token sort key is %zu bytes, longer than %d", t->key_len,
		                  CN_SEARCH_TOKEN_KEY_MAX);
	size_t n = 0;
	p[n++] = TOKEN_VERSION;
	n += token_put_varint(p + n, t->offset);
	n += token_put_varint(p + n, t->key_len);
	memcpy(p + n, t->key, t->key_len);
	n += t->key_len;
	token_put_u32(p + n, token_fnv(query, query ? query_len : 0));
	n += 4;
	token_put_u32(p + n, token_fnv(p, n));
	n += 4;

	if (!cn_buf_reserve(out, (n + 2) / 3 * 4))
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		size_t chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
		for (size_t k = 0; k < chars; k++)
			cn_buf_putc(out, token_b64[(v >> (18 - 6 * k)) & 0x3F]);
	}
	return cn_buf_failed(out) ? cn_err_set(err, CN_INTERNAL_ERROR, "out of memory") : CN_OK;
}

static int token_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* Either alphabet, padding optional; false on anything else. */
static bool token_b64_decode(const char *s, size_t len, unsigned char *out, size_t *olen)
{
	while (len && s[len - 1] == '=' && len % 4 != 1)
		len--;
	if (len % 4 == 1)
		return false;
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = token_b64_value((unsigned char)s[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*olen = o;
	return true;
}

/* MLflow's own tokens: base64 of {"offset": N}, N a positive integer,
 * possibly written as a string. */
static cn_code token_decode_mlflow(const unsigned char *p, size_t n, cn_search_token *out,
                                   cn_err *err)
{
	static const char key[] = "\"offset\"";
	size_t i = 0;
#define TOKEN_SKIP_WS()                                                                \
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) \
	i++
	TOKEN_SKIP_WS();
	bool ok = i < n && p[i++] == '{';
	TOKEN_SKIP_WS();
	ok = ok && n - i >= sizeof key - 1 && memcmp(p + i, key, sizeof key - 1) == 0;
	i += sizeof key - 1;
	TOKEN_SKIP_WS();
	ok = ok && i < n && p[i++] == ':';
	TOKEN_SKIP_WS();
	bool quoted = ok && i < n && p[i] == '"';
	i += quoted;
	uint64_t v = 0;
	size_t digits = 0;
	while (ok && i < n && p[i] >= '0' && p[i] <= '9' && digits < 19) {
		v = v * 10 + (uint64_t)(p[i++] - '0');
		digits++;
	}
	ok = ok && digits > 0 && (!quoted || (i < n && p[i++] == '"'));
	TOKEN_SKIP_WS();
	ok = ok && i < n && p[i++] == '}';
	TOKEN_SKIP_WS();
#undef TOKEN_SKIP_WS
	if (!ok || i != n || v == 0) {
		/* Echo the payload only when it is plain text. */
		bool printable = true;
		for (size_t k = 0; k < n; k++)
			printable = printable && p[k] >= 0x20 && p[k] < 0x7F;
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid page token, parsed value=%.*s", printable ? (int)n : 1,
		                  printable ? (const char *)p : "?");
	}
	out->offset = v;
	return CN_OK;
}

cn_code cn_search_token_decode(const char *text, size_t len, const char *query, size_t query_len,
                               cn_search_token *out, cn_err *err)
{
	unsigned char p[CN_SEARCH_TOKEN_MAX_LEN / 4 * 3 + 3];
	size_t n = 0;
	memset(out, 0, offsetof(cn_search_token, key));
	if (!text || len == 0)
		return CN_OK;
	if (len > CN_SEARCH_TOKEN_MAX_LEN || !token_b64_decode(text, len, p, &n) || n == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid page token, could not base64-decode");
	if (p[0] == '{')
		return token_decode_mlflow(p, n, out, err);

	size_t pos = 1;
	uint64_t offset = 0, key_len = 0;
	bool ok =
	        p[0] == TOKEN_VERSION && n >= 9 && token_fnv(p, n - 4) == token_get_u32(p + n - 4);
	ok = ok && token_get_varint(p, n - 8, &pos, &offset) &&
	     token_get_varint(p, n - 8, &pos, &key_len) && key_len <= CN_SEARCH_TOKEN_KEY_MAX &&
	     key_len == n - 8 - pos;
	if (!ok)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid page token, decoded value is not a page token of this "
		                  "server");
	if (token_get_u32(p + n - 8) != token_fnv(query, query ? query_len : 0))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid page token, it was issued for a different search request "
		        "(filter, order_by or scope changed)");
	out->offset = offset;
	out->key_len = (size_t)key_len;
	memcpy(out->key, p + pos, out->key_len);
	return CN_OK;
}
