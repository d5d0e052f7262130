/*
 * core/buf.h: a growable byte buffer, the one string builder of Cairn.
 *
 * Owner: whoever declared the cn_buf; cn_buf_free releases its memory.
 * Allocation failure is sticky: after it, appends are ignored and
 * cn_buf_failed() is true, so callers check once at the end.
 * The contents are always NUL-terminated (p[len] == 0) when p != NULL.
 */
#ifndef CN_BUF_H
#define CN_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_buf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
} cn_buf;

#define CN_BUF_INIT               \
	{                         \
		NULL, 0, 0, false \
	}

void cn_buf_free(cn_buf *b);
void cn_buf_reset(cn_buf *b); /* len = 0, keeps memory */
bool cn_buf_reserve(cn_buf *b, size_t extra);
void cn_buf_append(cn_buf *b, const void *data, size_t len);
void cn_buf_puts(cn_buf *b, const char *s);
void cn_buf_putc(cn_buf *b, char c);
void cn_buf_printf(cn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included), escaping as RFC 8259 requires. */
void cn_buf_json_str(cn_buf *b, const char *s, size_t len);
static inline bool cn_buf_failed(const cn_buf *b)
{
	return b->failed;
}

/* Value of one hexadecimal digit, or -1 (percent-decoding, hex ids). */
static inline int cn_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
