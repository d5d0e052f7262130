/*
 * core/clock.h: time, the one place Cairn reads clocks.
 *
 * Wall time (cn_now_ms) is what MLflow stores: milliseconds since the Unix
 * epoch, UTC. It can jump (NTP, an operator), so deadlines, timeouts and
 * durations use the monotonic clock instead (cn_mono_*), which never goes
 * back and has an arbitrary origin. All functions are thread-safe, never
 * block and never fail.
 */
#ifndef CN_CLOCK_H
#define CN_CLOCK_H

#include <stdint.h>

/* Milliseconds since 1970-01-01T00:00:00Z (CLOCK_REALTIME). */
int64_t cn_now_ms(void);
/* Monotonic milliseconds and nanoseconds (CLOCK_MONOTONIC); only differences mean anything. */
int64_t cn_mono_ms(void);
int64_t cn_mono_ns(void);

/* Writes `ms` (epoch milliseconds, negative allowed) as UTC ISO-8601 with
 * milliseconds: "2026-11-25T08:31:17.123Z", NUL-terminated. Years outside
 * 0..9999 are written with more digits or a sign; out always fits 32 bytes. */
void cn_format_iso8601_ms(int64_t ms, char out[32]);

#endif
