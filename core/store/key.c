/* core/store/key.c: order-preserving composite keys (see key.h for the encoding). */
#include "core/store/key.h"

#include <string.h>

/* Reserves n bytes at the end of k, or marks overflow (sticky) and returns NULL. */
static uint8_t *key_room(cn_key *k, size_t n)
{
	if (k->overflow || n > CN_KEY_MAX - k->len) {
		k->overflow = true;
		return NULL;
	}
	uint8_t *p = k->b + k->len;
	k->len += n;
	return p;
}

static void key_put_be(cn_key *k, uint64_t v, size_t n)
{
	uint8_t *p = key_room(k, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void cn_key_u8(cn_key *k, uint8_t v)
{
	key_put_be(k, v, 1);
}

void cn_key_u32(cn_key *k, uint32_t v)
{
	key_put_be(k, v, 4);
}

void cn_key_u64(cn_key *k, uint64_t v)
{
	key_put_be(k, v, 8);
}

/* Flipping the sign bit maps INT64_MIN..INT64_MAX onto 0..UINT64_MAX in order. */
void cn_key_i64(cn_key *k, int64_t v)
{
	key_put_be(k, (uint64_t)v ^ (UINT64_C(1) << 63), 8);
}

void cn_key_str(cn_key *k, const char *s, size_t len)
{
	size_t nul = 0;
	for (size_t i = 0; i < len; i++)
		nul += s[i] == '\0';
	uint8_t *p = key_room(k, len + nul + 2);
	if (!p)
		return;
	for (size_t i = 0; i < len; i++) {
		*p++ = (uint8_t)s[i];
		if (s[i] == '\0')
			*p++ = 0xFF;
	}
	p[0] = 0x00;
	p[1] = 0x01;
}

void cn_key_raw(cn_key *k, const void *data, size_t len)
{
	uint8_t *p = key_room(k, len);
	if (p && len)
		memcpy(p, data, len);
}

static bool key_get_be(const uint8_t *k, size_t len, size_t *pos, size_t n, uint64_t *v)
{
	if (*pos > len || len - *pos < n)
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | k[*pos + i];
	*pos += n;
	*v = x;
	return true;
}

bool cn_key_get_u8(const uint8_t *k, size_t len, size_t *pos, uint8_t *v)
{
	uint64_t x;
	if (!key_get_be(k, len, pos, 1, &x))
		return false;
	*v = (uint8_t)x;
	return true;
}

bool cn_key_get_u32(const uint8_t *k, size_t len, size_t *pos, uint32_t *v)
{
	uint64_t x;
	if (!key_get_be(k, len, pos, 4, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool cn_key_get_u64(const uint8_t *k, size_t len, size_t *pos, uint64_t *v)
{
	return key_get_be(k, len, pos, 8, v);
}

bool cn_key_get_i64(const uint8_t *k, size_t len, size_t *pos, int64_t *v)
{
	uint64_t x;
	if (!key_get_be(k, len, pos, 8, &x))
		return false;
	x ^= UINT64_C(1) << 63;
	memcpy(v, &x, sizeof x); /* two's complement reinterpretation, no UB */
	return true;
}

bool cn_key_get_str(const uint8_t *k, size_t len, size_t *pos, char *out, size_t cap,
                    size_t *outlen)
{
	size_t i = *pos, o = 0;
	if (i > len)
		return false;
	for (;;) {
		if (i >= len)
			return false; /* no terminator */
		uint8_t c = k[i++];
		if (c == 0x00) {
			if (i >= len)
				return false;
			uint8_t t = k[i++];
			if (t == 0x01)
				break;
			if (t != 0xFF)
				return false; /* 0x00 followed by anything else is not ours */
		}
		if (out) {
			if (o + 1 >= cap)
				return false;
			out[o] = (char)c;
		}
		o++;
	}
	if (out) {
		if (o >= cap)
			return false;
		out[o] = '\0';
	}
	if (outlen)
		*outlen = o;
	*pos = i;
	return true;
}
