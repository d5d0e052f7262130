/*
 * core/codec/dtoa.h: shortest round-trip text of a double (Ryu) and fast
 * integer text, for the JSON encoder.
 *
 * cn_dtoa() prints exactly what the old "%.Ng" loop printed (N = 15, 16 or
 * 17, the first that reads back): the shortest digits, in printf's %g layout
 * with precision max(15, digits), plus ".0" on integral fixed-point values
 * (Python's repr style that MLflow clients see). Finite values only.
 */
#ifndef CN_DTOA_H
#define CN_DTOA_H

#include <stddef.h>
#include <stdint.h>

/* Longest output of cn_dtoa ("-2.2250738585072014e-308" plus NUL, rounded up). */
#define CN_DTOA_MAX 32

/* Writes d (finite) to buf (CN_DTOA_MAX bytes), NUL-terminated; returns the length. */
size_t cn_dtoa(double d, char *buf);

/* Shortest decimal digits of finite, non-zero |d|: d = digits * 10^exp.
 * Returns the digit value (at most 17 digits). */
uint64_t cn_dtoa_shortest(double d, int *exp);

/* Decimal text of v; buf needs 21 bytes. Returns the length (no NUL written). */
size_t cn_u64toa(uint64_t v, char *buf);
size_t cn_i64toa(int64_t v, char *buf);

#endif
