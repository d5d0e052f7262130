/*
 * core/codec/dtoa.c: shortest round-trip double -> decimal, by the Ryu
 * algorithm: Ulf Adams, "Ryū: fast float-to-string conversion", PLDI 2018
 * (doi:10.1145/3192366.3192369). Written for Cairn from the paper; the
 * power-of-five tables come from gen_dtoa_tables.py.
 *
 * Outline: the double is m2 * 2^e2. Its rounding interval (the reals that
 * read back as it) is [4*m2 - 1 - mmShift, 4*m2 + 2] * 2^(e2-2). Ryu maps
 * the interval's bounds and midpoint to base 10 with one 128-bit multiply
 * each, keeping exactness flags for the digits dropped by the multiply,
 * then drops digits while both bounds still differ: what remains is the
 * shortest decimal inside the interval, rounded to the one nearest the
 * exact value (ties to even). Bounds are inclusive when m2 is even, as
 * round-half-even reading (strtod) accepts them then.
 */
#include "core/codec/dtoa.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/codec/dtoa_tables.h"

#define DTOA_MBITS 52
#define DTOA_EBITS 11
#define DTOA_BIAS  1023

/* ceil(log2(5^e)), for e in [0, 3528] (1 for e == 0) */
static inline int dtoa_pow5bits(int e)
{
	return (int)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(log10(2^e)), e in [0, 1650] */
static inline uint32_t dtoa_log10_pow2(int e)
{
	return ((uint32_t)e * 78913u) >> 18;
}

/* floor(log10(5^e)), e in [0, 2620] */
static inline uint32_t dtoa_log10_pow5(int e)
{
	return ((uint32_t)e * 732923u) >> 20;
}

static inline bool dtoa_mult_pow5(uint64_t v, uint32_t p)
{
	uint32_t n = 0;
	while (v % 5 == 0) {
		v /= 5;
		n++;
	}
	return n >= p;
}

static inline bool dtoa_mult_pow2(uint64_t v, uint32_t p)
{
	return (v & ((1ull << p) - 1)) == 0;
}

/* (m * mul) >> j, mul a 128-bit (lo, hi) value, j > 64. */
static inline uint64_t dtoa_mulshift(uint64_t m, const uint64_t mul[2], int j)
{
	unsigned __int128 b0 = (unsigned __int128)m * mul[0];
	unsigned __int128 b2 = (unsigned __int128)m * mul[1];
	return (uint64_t)(((b0 >> 64) + b2) >> (j - 64));
}

static inline uint32_t dtoa_len17(uint64_t v)
{
	uint32_t n = 1;
	for (uint64_t p = 10; n < 20 && v >= p; p *= 10)
		n++;
	return n;
}

uint64_t cn_dtoa_shortest(double d, int *exp)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	uint64_t ieee_m = bits & ((1ull << DTOA_MBITS) - 1);
	uint32_t ieee_e = (uint32_t)((bits >> DTOA_MBITS) & ((1u << DTOA_EBITS) - 1));

	int e2;
	uint64_t m2;
	if (ieee_e == 0) {
		e2 = 1 - DTOA_BIAS - DTOA_MBITS - 2;
		m2 = ieee_m;
	} else {
		e2 = (int)ieee_e - DTOA_BIAS - DTOA_MBITS - 2;
		m2 = (1ull << DTOA_MBITS) | ieee_m;
	}
	bool accept_bounds = (m2 & 1) == 0;

	/* Interval: mv = 4*m2 in the middle; the lower gap is half as wide at
	 * a power of two (mantissa 0), except for the smallest exponents. */
	uint64_t mv = 4 * m2;
	uint32_t mm_shift = ieee_m != 0 || ieee_e <= 1;

	uint64_t vr, vp, vm;
	int e10;
	bool vm_tz = false, vr_tz = false;
	if (e2 >= 0) {
		uint32_t q = dtoa_log10_pow2(e2) - (e2 > 3);
		e10 = (int)q;
		int k = DTOA_POW5_BITS + dtoa_pow5bits((int)q) - 1;
		int i = -e2 + (int)q + k;
		vr = dtoa_mulshift(4 * m2, dtoa_pow5_inv[q], i);
		vp = dtoa_mulshift(4 * m2 + 2, dtoa_pow5_inv[q], i);
		vm = dtoa_mulshift(4 * m2 - 1 - mm_shift, dtoa_pow5_inv[q], i);
		/* value / 10^q = mv * 2^(e2-q) / 5^q: exact iff 5^q divides. */
		if (q <= 21) {
			if (mv % 5 == 0)
				vr_tz = dtoa_mult_pow5(mv, q);
			else if (accept_bounds)
				vm_tz = dtoa_mult_pow5(mv - 1 - mm_shift, q);
			else
				vp -= dtoa_mult_pow5(mv + 2, q); /* exclusive upper bound */
		}
	} else {
		uint32_t q = dtoa_log10_pow5(-e2) - (-e2 > 1);
		e10 = (int)q + e2;
		int i = -e2 - (int)q;
		int k = dtoa_pow5bits(i) - DTOA_POW5_BITS;
		int j = (int)q - k;
		vr = dtoa_mulshift(4 * m2, dtoa_pow5[i], j);
		vp = dtoa_mulshift(4 * m2 + 2, dtoa_pow5[i], j);
		vm = dtoa_mulshift(4 * m2 - 1 - mm_shift, dtoa_pow5[i], j);
		/* value / 10^e10 = mv * 5^i / 2^q: exact iff 2^q divides mv. */
		if (q <= 1) {
			vr_tz = true; /* mv has at least two trailing zero bits */
			if (accept_bounds)
				vm_tz = mm_shift == 1;
			else
				--vp;
		} else if (q < 63) {
			vr_tz = dtoa_mult_pow2(mv, q);
		}
	}

	int removed = 0;
	uint8_t last = 0; /* last digit dropped from vr */
	uint64_t out;
	if (vm_tz || vr_tz) {
		/* Rare: exactness matters for the lower bound or for ties. */
		while (vp / 10 > vm / 10) {
			vm_tz &= vm % 10 == 0;
			vr_tz &= last == 0;
			last = (uint8_t)(vr % 10);
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		if (vm_tz) {
			while (vm % 10 == 0) {
				vr_tz &= last == 0;
				last = (uint8_t)(vr % 10);
				vr /= 10;
				vp /= 10;
				vm /= 10;
				removed++;
			}
		}
		if (vr_tz && last == 5 && vr % 2 == 0)
			last = 4; /* exactly halfway: round to even */
		out = vr + ((vr == vm && (!accept_bounds || !vm_tz)) || last >= 5);
	} else {
		/* Common: neither bound is exact, no ties possible. */
		bool round_up = false;
		if (vp / 100 > vm / 100) {
			round_up = vr % 100 >= 50;
			vr /= 100;
			vp /= 100;
			vm /= 100;
			removed += 2;
		}
		while (vp / 10 > vm / 10) {
			round_up = vr % 10 >= 5;
			vr /= 10;
			vp /= 10;
			vm /= 10;
			removed++;
		}
		out = vr + (vr == vm || round_up);
	}
	*exp = e10 + removed;
	return out;
}

static const char dtoa_digits2[201] = "00010203040506070809"
                                      "10111213141516171819"
                                      "20212223242526272829"
                                      "30313233343536373839"
                                      "40414243444546474849"
                                      "50515253545556575859"
                                      "60616263646566676869"
                                      "70717273747576777879"
                                      "80818283848586878889"
                                      "90919293949596979899";

/* Writes the n decimal digits of v ending just before end. */
static inline void dtoa_put_digits(uint64_t v, char *end)
{
	while (v >= 100) {
		uint64_t q = v / 100;
		memcpy(end - 2, dtoa_digits2 + 2 * (v - q * 100), 2);
		end -= 2;
		v = q;
	}
	if (v >= 10)
		memcpy(end - 2, dtoa_digits2 + 2 * v, 2);
	else
		end[-1] = (char)('0' + v);
}

size_t cn_u64toa(uint64_t v, char *buf)
{
	size_t n = dtoa_len17(v);
	dtoa_put_digits(v, buf + n);
	return n;
}

size_t cn_i64toa(int64_t v, char *buf)
{
	if (v >= 0)
		return cn_u64toa((uint64_t)v, buf);
	buf[0] = '-';
	return 1 + cn_u64toa((uint64_t)0 - (uint64_t)v, buf + 1);
}

size_t cn_dtoa(double d, char *buf)
{
	char *p = buf;
	if (signbit(d))
		*p++ = '-';
	if (d == 0) {
		memcpy(p, "0.0", 4);
		return (size_t)(p - buf) + 3;
	}
	int exp;
	uint64_t digits = cn_dtoa_shortest(d, &exp);
	int n = (int)dtoa_len17(digits);
	int x = exp + n - 1;        /* exponent of the leading digit */
	int prec = n > 15 ? n : 15; /* the %.Ng precision that would have printed it */
	char dig[20];
	dtoa_put_digits(digits, dig + n);
	if (x < -4 || x >= prec) {
		/* d[.ddd]e±XX, as %g: at least two exponent digits */
		*p++ = dig[0];
		if (n > 1) {
			*p++ = '.';
			memcpy(p, dig + 1, (size_t)n - 1);
			p += n - 1;
		}
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		unsigned ax = (unsigned)(x < 0 ? -x : x);
		if (ax >= 100) {
			*p++ = (char)('0' + ax / 100);
			ax %= 100;
		}
		memcpy(p, dtoa_digits2 + 2 * ax, 2);
		p += 2;
	} else if (x < 0) {
		/* 0.000ddd */
		*p++ = '0';
		*p++ = '.';
		for (int i = -1; i > x; i--)
			*p++ = '0';
		memcpy(p, dig, (size_t)n);
		p += n;
	} else if (n <= x + 1) {
		/* integral: ddd000.0 */
		memcpy(p, dig, (size_t)n);
		p += n;
		for (int i = n; i <= x; i++)
			*p++ = '0';
		memcpy(p, ".0", 2);
		p += 2;
	} else {
		/* ddd.ddd */
		memcpy(p, dig, (size_t)x + 1);
		p += x + 1;
		*p++ = '.';
		memcpy(p, dig + x + 1, (size_t)(n - x - 1));
		p += n - x - 1;
	}
	*p = '\0';
	return (size_t)(p - buf);
}
