/* core/clock_test.c: ISO-8601 formatting and clock sanity (no timing assertions). */
#include "core/clock.h"

#include <string.h>

#include "cn_test.h"

CN_TEST(iso8601_known_values)
{
	char s[32];
	cn_format_iso8601_ms(0, s);
	CN_CHECK_STR(s, "1970-01-01T00:00:00.000Z");
	cn_format_iso8601_ms(1795595477123LL, s);
	CN_CHECK_STR(s, "2026-11-25T08:31:17.123Z");
	cn_format_iso8601_ms(951782400999LL, s); /* leap day 2000 */
	CN_CHECK_STR(s, "2000-02-29T00:00:00.999Z");
	cn_format_iso8601_ms(-1, s); /* floor, not truncation */
	CN_CHECK_STR(s, "1969-12-31T23:59:59.999Z");
	cn_format_iso8601_ms(-1000, s);
	CN_CHECK_STR(s, "1969-12-31T23:59:59.000Z");
	cn_format_iso8601_ms(253402300799999LL, s);
	CN_CHECK_STR(s, "9999-12-31T23:59:59.999Z");
	cn_format_iso8601_ms(INT64_MAX, s); /* out of range: still a string within 32 bytes */
	CN_CHECK(strlen(s) < 32);
	cn_format_iso8601_ms(INT64_MIN, s);
	CN_CHECK(strlen(s) < 32);
}

CN_TEST(clocks_are_plausible_and_monotonic)
{
	int64_t now = cn_now_ms();
	CN_CHECK(now > 1704067200000LL); /* after 2024-01-01: the clock is in ms, not s or us */
	int64_t a = cn_mono_ns(), b = cn_mono_ns();
	CN_CHECK(b >= a);
	int64_t m1 = cn_mono_ms(), m2 = cn_mono_ms();
	CN_CHECK(m2 >= m1);
	CN_CHECK(m1 >= 0);
}

CN_TEST_MAIN()
