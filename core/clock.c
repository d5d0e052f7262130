/* core/clock.c: wall and monotonic clocks, ISO-8601 formatting. */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t clock_read_ns(clockid_t id)
{
	struct timespec ts;
	/* Both clocks are always present on Linux; a failure would leave ts unset. */
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cn_now_ms(void)
{
	return clock_read_ns(CLOCK_REALTIME) / 1000000;
}

int64_t cn_mono_ms(void)
{
	return clock_read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t cn_mono_ns(void)
{
	return clock_read_ns(CLOCK_MONOTONIC);
}

void cn_format_iso8601_ms(int64_t ms, char out[32])
{
	/* Floor division so that -1 ms is 1969-12-31T23:59:59.999Z, not .-01. */
	int64_t sec = ms / 1000, rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		sec -= 1;
	}
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 32, "invalid-time");
		return;
	}
	/* The modulos tell the compiler each field's width: with a year of at
	 * most 11 characters the whole string is at most 31 bytes. */
	snprintf(out, 32, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", tm.tm_year + 1900,
	         (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
	         (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
	         (unsigned)tm.tm_sec % 100u, (unsigned)rem % 1000u);
}
