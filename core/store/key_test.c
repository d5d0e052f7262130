/* core/store/key_test.c: memcmp order of encoded keys equals logical order; decoding inverts. */
#include "core/store/key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"

/* Deterministic PRNG (xorshift64*) so failures reproduce. */
static uint64_t key_test_rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	key_test_rng ^= key_test_rng >> 12;
	key_test_rng ^= key_test_rng << 25;
	key_test_rng ^= key_test_rng >> 27;
	return key_test_rng * 0x2545f4914f6cdd1dULL;
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return sign(c);
	return al < bl ? -1 : al > bl;
}

static int key_cmp(const cn_key *a, const cn_key *b)
{
	return bytes_cmp(a->b, a->len, b->b, b->len);
}

static uint64_t u64_edge(int i)
{
	static const uint64_t e[] = {0,
	                             1,
	                             0xFF,
	                             0x100,
	                             UINT32_MAX,
	                             (uint64_t)UINT32_MAX + 1,
	                             INT64_MAX,
	                             (uint64_t)INT64_MAX + 1,
	                             UINT64_MAX - 1,
	                             UINT64_MAX};
	return i < 10 ? e[i] : rnd() >> (rnd() % 64);
}

CN_TEST(u64_order_and_roundtrip)
{
	for (int i = 0; i < 20000; i++) {
		/* all pairs of edge values first, then random magnitudes */
		uint64_t a = u64_edge(i < 100 ? i / 10 : 10), b = u64_edge(i < 100 ? i % 10 : 10);
		cn_key ka, kb;
		cn_key_init(&ka);
		cn_key_init(&kb);
		cn_key_u64(&ka, a);
		cn_key_u64(&kb, b);
		CN_CHECK_EQ_INT(key_cmp(&ka, &kb), a < b ? -1 : a > b);
		size_t pos = 0;
		uint64_t back = 0;
		CN_CHECK(cn_key_get_u64(ka.b, ka.len, &pos, &back));
		CN_CHECK(back == a);
		CN_CHECK_EQ_INT(pos, 8);
	}
}

static int64_t i64_edge(int i)
{
	static const int64_t e[] = {INT64_MIN, INT64_MIN + 1, -256,          -1,       0,
	                            1,         255,           INT64_MAX - 1, INT64_MAX};
	if (i < 9)
		return e[i];
	uint64_t r = rnd() >> (rnd() % 64);
	return (rnd() & 1) ? -(int64_t)(r >> 1) : (int64_t)(r >> 1);
}

CN_TEST(i64_order_and_roundtrip)
{
	for (int i = 0; i < 20000; i++) {
		int64_t a = i64_edge(i < 81 ? i / 9 : 9), b = i64_edge(i < 81 ? i % 9 : 9);
		cn_key ka, kb;
		cn_key_init(&ka);
		cn_key_init(&kb);
		cn_key_i64(&ka, a);
		cn_key_i64(&kb, b);
		CN_CHECK_EQ_INT(key_cmp(&ka, &kb), a < b ? -1 : a > b);
		size_t pos = 0;
		int64_t back = 0;
		CN_CHECK(cn_key_get_i64(ka.b, ka.len, &pos, &back));
		CN_CHECK(back == a);
	}
}

CN_TEST(u32_u8_roundtrip_and_order)
{
	cn_key k;
	cn_key_init(&k);
	cn_key_u8(&k, 7);
	cn_key_u32(&k, 0xA1B2C3D4u);
	cn_key_u8(&k, 255);
	CN_CHECK_EQ_INT(k.len, 6);
	CN_CHECK(k.b[1] == 0xA1 && k.b[4] == 0xD4); /* big-endian */
	size_t pos = 0;
	uint8_t a = 0, c = 0;
	uint32_t b = 0;
	CN_CHECK(cn_key_get_u8(k.b, k.len, &pos, &a));
	CN_CHECK(cn_key_get_u32(k.b, k.len, &pos, &b));
	CN_CHECK(cn_key_get_u8(k.b, k.len, &pos, &c));
	CN_CHECK(a == 7 && b == 0xA1B2C3D4u && c == 255);
	CN_CHECK(!cn_key_get_u8(k.b, k.len, &pos, &a)); /* past the end */
	cn_key x, y;
	cn_key_init(&x);
	cn_key_init(&y);
	cn_key_u32(&x, 0x00FFFFFF);
	cn_key_u32(&y, 0x01000000);
	CN_CHECK(key_cmp(&x, &y) < 0);
}

/* Random strings over an alphabet full of the bytes the escaping treats specially. */
static size_t rnd_str(char *s)
{
	static const char alpha[] = {'\0', '\x01', '\xFF', '\xFE', 'a', 'b'};
	size_t n = rnd() % 7;
	for (size_t i = 0; i < n; i++)
		s[i] = alpha[rnd() % sizeof alpha];
	return n;
}

CN_TEST(string_order_and_roundtrip)
{
	for (int i = 0; i < 20000; i++) {
		char a[8], b[8];
		size_t al = rnd_str(a), bl = rnd_str(b);
		cn_key ka, kb;
		cn_key_init(&ka);
		cn_key_init(&kb);
		cn_key_str(&ka, a, al);
		cn_key_str(&kb, b, bl);
		CN_CHECK_EQ_INT(key_cmp(&ka, &kb), bytes_cmp(a, al, b, bl));
		char out[16];
		size_t pos = 0, outlen = 99;
		CN_CHECK(cn_key_get_str(ka.b, ka.len, &pos, out, sizeof out, &outlen));
		CN_CHECK_EQ_INT(outlen, al);
		CN_CHECK(memcmp(out, a, al) == 0 && out[al] == '\0');
		CN_CHECK_EQ_INT(pos, ka.len);
	}
}

CN_TEST(composite_order_string_then_number)
{
	/* (str, u64): the string decides first, even when one is a prefix of the other. */
	for (int i = 0; i < 20000; i++) {
		char a[8], b[8];
		size_t al = rnd_str(a), bl = rnd_str(b);
		uint64_t x = rnd(), y = rnd();
		cn_key ka, kb;
		cn_key_init(&ka);
		cn_key_init(&kb);
		cn_key_str(&ka, a, al);
		cn_key_u64(&ka, x);
		cn_key_str(&kb, b, bl);
		cn_key_u64(&kb, y);
		int want = bytes_cmp(a, al, b, bl);
		if (!want)
			want = x < y ? -1 : x > y;
		CN_CHECK_EQ_INT(key_cmp(&ka, &kb), want);
		size_t pos = 0;
		uint64_t back;
		CN_CHECK(cn_key_get_str(ka.b, ka.len, &pos, NULL, 0, NULL)); /* skip */
		CN_CHECK(cn_key_get_u64(ka.b, ka.len, &pos, &back) && back == x);
	}
}

CN_TEST(documented_string_examples)
{
	cn_key e, a, a0, ab;
	cn_key_init(&e);
	cn_key_init(&a);
	cn_key_init(&a0);
	cn_key_init(&ab);
	cn_key_str(&e, "", 0);
	cn_key_str(&a, "a", 1);
	cn_key_str(&a0, "a\0", 2);
	cn_key_str(&ab, "ab", 2);
	CN_CHECK(key_cmp(&e, &a) < 0);
	CN_CHECK(key_cmp(&a, &a0) < 0);
	CN_CHECK(key_cmp(&a0, &ab) < 0);
	static const uint8_t want[] = {'a', 0x00, 0xFF, 0x00, 0x01};
	CN_CHECK_EQ_INT(a0.len, sizeof want);
	CN_CHECK(memcmp(a0.b, want, sizeof want) == 0);
}

CN_TEST(overflow_is_sticky)
{
	cn_key k;
	cn_key_init(&k);
	uint8_t fill[CN_KEY_MAX - 4];
	memset(fill, 'x', sizeof fill);
	cn_key_raw(&k, fill, sizeof fill);
	CN_CHECK(!k.overflow);
	cn_key_u64(&k, 1); /* 8 bytes into 4 free: overflow */
	CN_CHECK(k.overflow);
	CN_CHECK_EQ_INT(k.len, CN_KEY_MAX - 4);
	cn_key_u8(&k, 1); /* would fit, but overflow is sticky */
	cn_key_u32(&k, 1);
	CN_CHECK(k.overflow);
	CN_CHECK_EQ_INT(k.len, CN_KEY_MAX - 4);

	cn_key s;
	cn_key_init(&s);
	char big[CN_KEY_MAX / 2 + 1];
	memset(big, 0, sizeof big); /* every NUL doubles: does not fit */
	cn_key_str(&s, big, sizeof big);
	CN_CHECK(s.overflow);
	CN_CHECK_EQ_INT(s.len, 0);

	cn_key full;
	cn_key_init(&full);
	uint8_t exact[CN_KEY_MAX];
	memset(exact, 1, sizeof exact);
	cn_key_raw(&full, exact, sizeof exact); /* exactly full is fine */
	CN_CHECK(!full.overflow);
	CN_CHECK_EQ_INT(full.len, CN_KEY_MAX);
}

CN_TEST(malformed_keys_are_rejected)
{
	static const uint8_t short_num[] = {1, 2, 3};
	size_t pos = 0;
	uint64_t u;
	int64_t i;
	uint32_t w;
	CN_CHECK(!cn_key_get_u64(short_num, sizeof short_num, &pos, &u));
	CN_CHECK(!cn_key_get_i64(short_num, sizeof short_num, &pos, &i));
	CN_CHECK(!cn_key_get_u32(short_num, sizeof short_num, &pos, &w));
	CN_CHECK_EQ_INT(pos, 0);

	char out[8];
	static const uint8_t unterminated[] = {'a', 'b'};
	CN_CHECK(!cn_key_get_str(unterminated, sizeof unterminated, &pos, out, sizeof out, NULL));
	static const uint8_t bad_escape[] = {'a', 0x00, 0x02};
	CN_CHECK(!cn_key_get_str(bad_escape, sizeof bad_escape, &pos, out, sizeof out, NULL));
	static const uint8_t lone_nul[] = {'a', 0x00};
	CN_CHECK(!cn_key_get_str(lone_nul, sizeof lone_nul, &pos, out, sizeof out, NULL));
	CN_CHECK_EQ_INT(pos, 0);

	cn_key k;
	cn_key_init(&k);
	cn_key_str(&k, "abcdefgh", 8);
	CN_CHECK(!cn_key_get_str(k.b, k.len, &pos, out, sizeof out, NULL)); /* 8 + NUL > 8 */
	CN_CHECK_EQ_INT(pos, 0);
	char fits[9];
	size_t n = 0;
	CN_CHECK(cn_key_get_str(k.b, k.len, &pos, fits, sizeof fits, &n));
	CN_CHECK_STR(fits, "abcdefgh");
	CN_CHECK_EQ_INT(n, 8);
	size_t far = k.len + 5;
	CN_CHECK(!cn_key_get_str(k.b, k.len, &far, fits, sizeof fits, NULL));
	CN_CHECK(!cn_key_get_u64(k.b, k.len, &far, &u));
}

CN_TEST_MAIN()
