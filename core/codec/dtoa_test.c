/*
 * core/codec/dtoa_test.c: cn_dtoa against the definition it replaces.
 *
 * For millions of doubles (random bit patterns, random "human" decimals,
 * powers of two and ten, subnormals and edges) the text must read back
 * (strtod) to the identical double, be no longer than the shortest of the
 * %.15g/%.16g/%.17g candidates that reads back, and equal the old "%.Ng"
 * loop's text except where Ryu finds a shorter one than %.17g's.
 * CN_DTOA_TEST_N scales the random rounds (default 1,000,000 each).
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/codec/dtoa.h"

/* The codec's old formatter: shortest of %.15g..%.17g that reads back,
 * ".0" on integral values. */
static int old_fmt(char *buf, size_t cap, double d)
{
	int prec;
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eEn"))
		strcat(buf, ".0");
	return prec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	/* splitmix64: a fixed seed keeps failures reproducible */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static long failures;
static void check_one(double d)
{
	if (!isfinite(d))
		return;
	char got[CN_DTOA_MAX + 8], want[64];
	size_t n = cn_dtoa(d, got);
	int prec = old_fmt(want, sizeof want, d);
	bool ok = n == strlen(got) && strtod(got, NULL) == d &&
	          signbit(strtod(got, NULL)) == signbit(d);
	ok = ok && n <= strlen(want);
	/* Identical to the old text unless the old loop needed %.17g and Ryu
	 * found a shorter string at a power-of-two boundary, or d is subnormal
	 * (fewer than 15 significant digits there, so %.15g is not shortest). */
	ok = ok &&
	     (strcmp(got, want) == 0 || ((prec == 17 || fabs(d) < DBL_MIN) && n < strlen(want)));
	if (!ok && failures++ < 10) {
		char m[200];
		uint64_t bits;
		memcpy(&bits, &d, 8);
		snprintf(m, sizeof m, "bits %016llx: got %s want %s", (unsigned long long)bits, got,
		         want);
		cn_test_fail(__FILE__, __LINE__, m);
	}
}

static long rounds(void)
{
	const char *e = getenv("CN_DTOA_TEST_N");
	long n = e ? atol(e) : 1000000;
	return n > 0 ? n : 1000000;
}

CN_TEST(dtoa_fixed_cases)
{
	char b[CN_DTOA_MAX];
	cn_dtoa(0.1, b);
	CN_CHECK_STR(b, "0.1");
	cn_dtoa(-0.0, b);
	CN_CHECK_STR(b, "-0.0");
	cn_dtoa(0.0, b);
	CN_CHECK_STR(b, "0.0");
	cn_dtoa(1e15, b);
	CN_CHECK_STR(b, "1e+15");
	cn_dtoa(1e14, b);
	CN_CHECK_STR(b, "100000000000000.0");
	cn_dtoa(123.456, b);
	CN_CHECK_STR(b, "123.456");
	cn_dtoa(1e-7, b);
	CN_CHECK_STR(b, "1e-07");
	cn_dtoa(0.0001, b);
	CN_CHECK_STR(b, "0.0001");
	cn_dtoa(DBL_MAX, b);
	CN_CHECK_STR(b, "1.7976931348623157e+308");
	cn_dtoa(4.9406564584124654e-324, b);
	CN_CHECK_STR(b, "5e-324");
	cn_dtoa(1.0 / 3.0, b);
	CN_CHECK_STR(b, "0.3333333333333333");
	failures = 0;
	double edges[] = {DBL_MIN,
	                  DBL_MAX,
	                  DBL_EPSILON,
	                  1.0,
	                  2.0,
	                  0.5,
	                  9007199254740992.0,
	                  9007199254740993.0,
	                  5e-324,
	                  2.2250738585072009e-308,
	                  1e23,
	                  1e22,
	                  8.41e21,
	                  5.0e-324,
	                  123456789012345680.0};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		check_one(edges[i]);
		check_one(-edges[i]);
	}
	for (int e = -1074; e <= 1023; e++) {
		check_one(ldexp(1.0, e));
		check_one(nextafter(ldexp(1.0, e), 0));
		check_one(nextafter(ldexp(1.0, e), INFINITY));
	}
	for (int e = -323; e <= 308; e++) {
		char t[16];
		snprintf(t, sizeof t, "1e%d", e);
		double p = strtod(t, NULL);
		check_one(p);
		check_one(nextafter(p, 0));
		check_one(nextafter(p, INFINITY));
	}
	CN_CHECK_EQ_INT(failures, 0);
}

CN_TEST(dtoa_random_bits)
{
	failures = 0;
	long n = rounds();
	for (long i = 0; i < n; i++) {
		uint64_t bits = rng();
		double d;
		memcpy(&d, &bits, 8);
		check_one(d);
	}
	CN_CHECK_EQ_INT(failures, 0);
}

CN_TEST(dtoa_random_human)
{
	/* Decimals with 1..17 significant digits and exponents people use. */
	failures = 0;
	long n = rounds();
	for (long i = 0; i < n; i++) {
		char t[48];
		int nd = 1 + (int)(rng() % 17);
		uint64_t m = rng() % 100000000000000000ull;
		for (int k = nd; k < 17; k++)
			m /= 10;
		int e = (int)(rng() % 40) - 25;
		snprintf(t, sizeof t, "%llue%d", (unsigned long long)m, e);
		check_one(strtod(t, NULL));
		check_one(-strtod(t, NULL));
	}
	CN_CHECK_EQ_INT(failures, 0);
}

CN_TEST(int_to_text)
{
	char b[24];
	int64_t cases[] = {0, 1, -1, 9, 10, 99, 100, 12345, -987654321, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char want[24];
		snprintf(want, sizeof want, "%lld", (long long)cases[i]);
		size_t n = cn_i64toa(cases[i], b);
		b[n] = '\0';
		CN_CHECK_STR(b, want);
	}
	size_t n = cn_u64toa(UINT64_MAX, b);
	b[n] = '\0';
	CN_CHECK_STR(b, "18446744073709551615");
	for (int i = 0; i < 100000; i++) {
		int64_t v = (int64_t)rng() >> (rng() % 63);
		char want[24];
		snprintf(want, sizeof want, "%lld", (long long)v);
		n = cn_i64toa(v, b);
		b[n] = '\0';
		CN_CHECK_STR(b, want);
	}
}

CN_TEST_MAIN()
