/*
 * core/traces/ids.c: trace ids and the wire forms MLflow's trace API uses:
 * "tr-" + the OTel trace id in hex, OTel ids as base64 bytes in proto JSON,
 * google.protobuf.Timestamp ("2025-01-02T03:04:05.678Z") and Duration
 * ("1.500s") text.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/traces/traces_int.h"

bool trc_valid_trace_id(const char *id, size_t len)
{
	if (len != 35 || memcmp(id, "tr-", 3) != 0)
		return false;
	for (size_t i = 3; i < len; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return false;
	return true;
}

cn_code trc_need_trace_id(cn_fb_str id, const char *param, cn_err *err)
{
	if (!id.ptr || id.len == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter '%s'. See the API docs for "
		                  "more information about request parameters.",
		                  param);
	return CN_OK;
}

bool trc_trace_id_from_otel(const char *hex, size_t len, char out[TRC_ID_MAX])
{
	if (len != 32)
		return false;
	memcpy(out, "tr-", 3);
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)hex[i]))
			return false;
		out[3 + i] = (char)tolower((unsigned char)hex[i]);
	}
	out[35] = '\0';
	return true;
}

void trc_hex_to_b64(const char *hex, size_t len, cn_buf *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t bytes[64];
	size_t n = 0;
	for (size_t i = 0; i + 1 < len && n < sizeof bytes; i += 2) {
		int hi = cn_hex_value(hex[i]), lo = cn_hex_value(hex[i + 1]);
		if (hi < 0 || lo < 0)
			break;
		bytes[n++] = (uint8_t)(hi << 4 | lo);
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)bytes[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)bytes[i + 1] << 8;
		if (i + 2 < n)
			v |= bytes[i + 2];
		char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63],
		             i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
		cn_buf_append(out, q, 4);
	}
}

void trc_fmt_timestamp(int64_t ms, char out[40])
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)secs * 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	/* protobuf prints 0, 3, 6 or 9 fraction digits */
	if (frac)
		snprintf(out + n, 40 - n, ".%03dZ", frac);
	else
		snprintf(out + n, 40 - n, "Z");
}

void trc_fmt_duration(int64_t ms, char out[40])
{
	int64_t s = ms / 1000, frac = ms % 1000;
	if (frac < 0)
		frac = -frac;
	if (frac)
		snprintf(out, 40, "%s%" PRId64 ".%03" PRId64 "s", ms < 0 && s == 0 ? "-" : "", s,
		         frac);
	else
		snprintf(out, 40, "%" PRId64 "s", s);
}

static bool trc_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || !isdigit((unsigned char)**p))
			return false;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's). */
static int64_t trc_days(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool trc_parse_timestamp(const char *s, size_t len, int64_t *ms)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, se;
	if (!trc_digits(&p, end, 4, &y) || p >= end || *p++ != '-' ||
	    !trc_digits(&p, end, 2, &mo) || p >= end || *p++ != '-' ||
	    !trc_digits(&p, end, 2, &d) || p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!trc_digits(&p, end, 2, &h) || p >= end || *p++ != ':' ||
	    !trc_digits(&p, end, 2, &mi) || p >= end || *p++ != ':' || !trc_digits(&p, end, 2, &se))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return false;
	int64_t frac_ms = 0;
	if (p < end && *p == '.') {
		p++;
		int digits = 0;
		while (p < end && isdigit((unsigned char)*p)) {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (!digits || digits > 9)
			return false;
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	int64_t off_min = 0;
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!trc_digits(&p, end, 2, &oh) || p >= end || *p++ != ':' ||
		    !trc_digits(&p, end, 2, &om))
			return false;
		off_min = sign * (oh * 60 + om);
	} else {
		return false;
	}
	if (p != end)
		return false;
	int64_t secs = trc_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off_min * 60;
	*ms = secs * 1000 + frac_ms;
	return true;
}

bool trc_parse_duration(const char *s, size_t len, int64_t *ms)
{
	const char *p = s, *end = s + len;
	bool neg = false;
	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	int64_t secs = 0;
	int digits = 0;
	while (p < end && isdigit((unsigned char)*p)) {
		if (secs > INT64_MAX / 10000)
			return false;
		secs = secs * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits)
		return false;
	int64_t frac_ms = 0;
	if (p < end && *p == '.') {
		p++;
		int fd = 0;
		while (p < end && isdigit((unsigned char)*p)) {
			if (fd < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			fd++;
			p++;
		}
		if (!fd || fd > 9)
			return false;
		for (; fd < 3; fd++)
			frac_ms *= 10;
	}
	if (p + 1 != end || *p != 's')
		return false;
	*ms = (secs * 1000 + frac_ms) * (neg ? -1 : 1);
	return true;
}
