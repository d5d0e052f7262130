/* plugins/store/s3/s3_buf.c: the growable buffer the S3 plugin builds requests in. */
#include "s3_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s3_buf_reserve(s3_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (more > SIZE_MAX - b->len - 1 || (b->max && b->len + more > b->max)) {
		b->oom = true;
		return false;
	}
	size_t need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->max && cap > b->max + 1) /* a bounded buffer never grows past its bound */
		cap = b->max + 1 > need ? b->max + 1 : need;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void s3_buf_add(s3_buf *b, const void *data, size_t len)
{
	if (!s3_buf_reserve(b, len))
		return;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void s3_buf_str(s3_buf *b, const char *s)
{
	s3_buf_add(b, s, strlen(s));
}

void s3_buf_printf(s3_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !s3_buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void s3_buf_uri_encode(s3_buf *b, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		             c == '~' || (keep_slash && c == '/');
		if (plain) {
			s3_buf_add(b, &s[i], 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			s3_buf_add(b, e, 3);
		}
	}
}

const char *s3_buf_cstr(s3_buf *b)
{
	return b->p && !b->oom ? b->p : "";
}

void s3_buf_free(s3_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
