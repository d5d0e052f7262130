/*
 * core/codec/fuzz_dtoa.c: libFuzzer target for cn_dtoa (Ryu). For the
 * fuzzer's 8-byte bit patterns: the text reads back (strtod) to the same
 * double, and is no longer than the shortest %.15g/%.16g/%.17g candidate
 * that reads back. Aborts on any violation.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/dtoa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t bits = 0;
	memcpy(&bits, data, size < 8 ? size : 8);
	double d;
	memcpy(&d, &bits, 8);
	if (!isfinite(d))
		return 0;
	char got[CN_DTOA_MAX];
	size_t n = cn_dtoa(d, got);
	if (n != strlen(got) || n >= CN_DTOA_MAX)
		abort();
	double back = strtod(got, NULL);
	if (back != d || signbit(back) != signbit(d))
		abort();
	char cand[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(cand, sizeof cand, "%.*g", prec, d);
		if (strtod(cand, NULL) == d)
			break;
	}
	size_t want = strlen(cand) + (strpbrk(cand, ".eEn") ? 0 : 2);
	if (n > want)
		abort();
	return 0;
}
