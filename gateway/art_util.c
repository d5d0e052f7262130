/*
 * gateway/art_util.c: artifact paths from URLs, query values, Range
 * headers and content types. No I/O, no allocation.
 */
#include "gateway/art_util.h"

#include <string.h>
#include <strings.h>

#include "cairn/plugin.h"
#include "core/buf.h"
#include "core/plugin/loader.h"

/* MLflow decodes at most this many times before giving up. */
#define ART_DECODE_ROUNDS 10

/* One round of percent-decoding of s[0..n) in place; returns the new length
 * and sets *changed. */
static size_t art_unquote(char *s, size_t n, bool *changed)
{
	size_t o = 0;
	*changed = false;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = cn_hex_value(s[i + 1])) >= 0 &&
		    (lo = cn_hex_value(s[i + 2])) >= 0) {
			s[o++] = (char)(hi * 16 + lo);
			i += 2;
			*changed = true;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static cn_code art_invalid(cn_err *err, const char *why)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid path: %s", why);
}

cn_code cn_art_path(const char *raw, size_t len, bool trim, bool allow_root, char *out, size_t cap,
                    cn_err *err)
{
	/* Room for a path a little over the limit, so that "too long" is
	 * told apart from the rest; decoding only shrinks. */
	if (len >= cap)
		return art_invalid(err, "longer than the limit of 1024 bytes");
	memcpy(out, raw, len);
	size_t n = len;
	bool changed = true;
	for (int round = 0; changed; round++) {
		if (round == ART_DECODE_ROUNDS)
			return art_invalid(err, "too many levels of percent-encoding");
		n = art_unquote(out, n, &changed);
	}
	if (memchr(out, '\0', n))
		return art_invalid(err, "NUL byte");
	if (memchr(out, '#', n))
		return art_invalid(err, "'#' is not allowed");
	if (n > 0 && out[0] == '/')
		return art_invalid(err, "absolute paths are not allowed");
	while (trim && n > 0 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
	if (n == 0) {
		if (allow_root)
			return CN_OK;
		return art_invalid(err, "empty");
	}
	if (n > CAIRN_PATH_MAX)
		return art_invalid(err, "longer than the limit of 1024 bytes");
	if (out[0] == '/')
		return art_invalid(err, "absolute paths are not allowed");
	if (memchr(out, '\\', n))
		return art_invalid(err, "backslashes are not allowed");
	if (!cn_artifact_path_is_safe(out, n, false))
		return art_invalid(err, "'..', '.', empty components and control characters are "
		                        "not allowed");
	return CN_OK;
}

int cn_art_query(const char *q, size_t qlen, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *end = q + qlen;
	for (const char *p = q; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ke = eq ? eq : pe;
		if ((size_t)(ke - p) == klen && memcmp(p, key, klen) == 0) {
			size_t o = 0;
			for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
				char c = *v;
				int hi, lo;
				if (c == '+') {
					c = ' ';
				} else if (c == '%' && pe - v > 2 &&
				           (hi = cn_hex_value(v[1])) >= 0 &&
				           (lo = cn_hex_value(v[2])) >= 0) {
					c = (char)(hi * 16 + lo);
					v += 2;
				}
				if (c == '\0' || o + 1 >= cap)
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 1;
		}
		p = pe + 1;
	}
	return 0;
}

/* Decimal digits at *p into *v; false when none or on overflow. */
static bool art_num(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return true;
}

static const char *art_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int cn_art_range(const char *hdr, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!hdr)
		return CN_ART_RANGE_NONE;
	const char *p = art_ws(hdr);
	if (strncasecmp(p, "bytes", 5) != 0)
		return CN_ART_RANGE_NONE;
	p = art_ws(p + 5);
	if (*p++ != '=')
		return CN_ART_RANGE_NONE;
	p = art_ws(p);
	uint64_t a = 0, b = 0;
	bool suffix = *p == '-', has_b = false;
	if (suffix) {
		p++;
		if (!art_num(&p, &b))
			return CN_ART_RANGE_NONE;
	} else {
		if (!art_num(&p, &a) || *p++ != '-')
			return CN_ART_RANGE_NONE;
		has_b = art_num(&p, &b);
	}
	p = art_ws(p);
	if (*p != '\0')
		return CN_ART_RANGE_NONE; /* several ranges, or trailing junk */
	if (suffix) {
		if (b == 0 || size == 0)
			return CN_ART_RANGE_UNSAT;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return CN_ART_RANGE_OK;
	}
	if (has_b && b < a)
		return CN_ART_RANGE_NONE; /* invalid: ignored, as RFC 9110 says */
	if (a >= size)
		return CN_ART_RANGE_UNSAT;
	*first = a;
	*last = (!has_b || b >= size) ? size - 1 : b;
	return CN_ART_RANGE_OK;
}

/* MLflow's text extensions, compared as MLflow does (case-sensitive). */
static const char *const art_text_ext[] = {
        "txt",  "log",   "err",  "cfg",  "conf", "cnf",     "cf",        "ini", "properties",
        "prop", "hocon", "toml", "yaml", "yml",  "xml",     "json",      "js",  "py",
        "py3",  "csv",   "tsv",  "md",   "rst",  "MLmodel", "MLproject", NULL};

/* What Python's mimetypes answers for common artifact extensions. */
static const struct {
	const char *ext, *type;
} art_types[] = {{"png", "image/png"},         {"jpg", "image/jpeg"},
                 {"jpeg", "image/jpeg"},       {"jpe", "image/jpeg"},
                 {"gif", "image/gif"},         {"bmp", "image/bmp"},
                 {"svg", "image/svg+xml"},     {"tif", "image/tiff"},
                 {"tiff", "image/tiff"},       {"ico", "image/vnd.microsoft.icon"},
                 {"webp", "image/webp"},       {"html", "text/html"},
                 {"htm", "text/html"},         {"css", "text/css"},
                 {"pdf", "application/pdf"},   {"zip", "application/zip"},
                 {"tar", "application/x-tar"}, {"mp3", "audio/mpeg"},
                 {"wav", "audio/x-wav"},       {"mp4", "video/mp4"},
                 {"sh", "application/x-sh"},   {NULL, NULL}};

const char *cn_art_content_type(const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	const char *dot = strrchr(base, '.');
	/* A leading dot is no extension; no extension means the whole name
	 * (MLmodel, MLproject), as MLflow does. */
	const char *ext = (dot && dot != base) ? dot + 1 : base;
	for (size_t i = 0; art_text_ext[i]; i++)
		if (strcmp(ext, art_text_ext[i]) == 0)
			return "text/plain";
	if (dot && dot != base)
		for (size_t i = 0; art_types[i].ext; i++)
			if (strcasecmp(ext, art_types[i].ext) == 0)
				return art_types[i].type;
	return "application/octet-stream";
}
