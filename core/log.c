/*
 * core/log.c: the process's logger, a singleton owned by this file.
 *
 * A line is formatted into a private buffer first and then written with one
 * write(2) under the mutex, so lines from different threads never
 * interleave and formatting (the slow part) runs outside the lock.
 */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

/* Usable before cn_log_init: info level, logfmt, stderr. */
static struct {
	pthread_mutex_t mu; /* serialises write(2) of whole lines */
	atomic_int level;
	atomic_int json;
	atomic_int fd;
} log_state = {PTHREAD_MUTEX_INITIALIZER, CN_LOG_INFO, 0, STDERR_FILENO};

static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

void cn_log_init(cn_log_level level, int json_format)
{
	if ((unsigned)level > CN_LOG_OFF)
		level = CN_LOG_INFO;
	atomic_store(&log_state.level, (int)level);
	atomic_store(&log_state.json, json_format ? 1 : 0);
}

int cn_log_level_parse(const char *name, cn_log_level *out)
{
	if (!name)
		return 0;
	for (int i = 0; i <= CN_LOG_OFF; i++) {
		if (strcasecmp(name, log_names[i]) == 0) {
			*out = (cn_log_level)i;
			return 1;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = CN_LOG_WARN;
		return 1;
	}
	return 0;
}

cn_log_level cn_log_level_from_name(const char *name)
{
	cn_log_level l = CN_LOG_INFO;
	cn_log_level_parse(name, &l);
	return l;
}

const char *cn_log_level_name(cn_log_level level)
{
	return (unsigned)level <= CN_LOG_OFF ? log_names[level] : "info";
}

int cn_log_set_fd(int fd)
{
	return atomic_exchange(&log_state.fd, fd);
}

int cn_log_enabled(cn_log_level level)
{
	return level != CN_LOG_OFF && (int)level >= atomic_load(&log_state.level);
}

/* A logfmt value: bare when it is a plain token, else quoted with Go-style
 * escapes, so that `key=value` pairs always split unambiguously. */
static void log_logfmt_value(cn_buf *b, const char *s, size_t len, int force_quote)
{
	static const char hex[] = "0123456789abcdef";
	int quote = force_quote || len == 0;
	for (size_t i = 0; i < len && !quote; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
			quote = 1;
	}
	if (!quote) {
		cn_buf_append(b, s, len);
		return;
	}
	cn_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = {0};
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
		} else if (c == '\n') {
			memcpy(esc, "\\n", 2);
		} else if (c == '\r') {
			memcpy(esc, "\\r", 2);
		} else if (c == '\t') {
			memcpy(esc, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		} else {
			continue;
		}
		cn_buf_append(b, s + run, i - run);
		cn_buf_puts(b, esc);
		run = i + 1;
	}
	cn_buf_append(b, s + run, len - run);
	cn_buf_putc(b, '"');
}

static void log_format_line(cn_buf *b, int json, const char *ts, cn_log_level level,
                            const char *event, const char *req, const char *msg, size_t msglen)
{
	const char *lname = cn_log_level_name(level);
	if (json) {
		cn_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, lname);
		if (event) {
			cn_buf_puts(b, ",\"event\":");
			cn_buf_json_str(b, event, strlen(event));
		}
		if (req && *req) {
			cn_buf_puts(b, ",\"req\":");
			cn_buf_json_str(b, req, strlen(req));
		}
		cn_buf_puts(b, ",\"msg\":");
		cn_buf_json_str(b, msg, msglen);
		cn_buf_puts(b, "}\n");
		return;
	}
	cn_buf_printf(b, "ts=%s level=%s", ts, lname);
	if (event) {
		cn_buf_puts(b, " event=");
		log_logfmt_value(b, event, strlen(event), 0);
	}
	if (req && *req) {
		cn_buf_puts(b, " req=");
		log_logfmt_value(b, req, strlen(req), 0);
	}
	cn_buf_puts(b, " msg=");
	log_logfmt_value(b, msg, msglen, 1);
	cn_buf_putc(b, '\n');
}

/* Writes all of p under the lock; a short write (pipe full, signal) is
 * continued rather than letting another thread's line in between. */
static void log_write_all(const char *p, size_t len)
{
	pthread_mutex_lock(&log_state.mu);
	int fd = atomic_load(&log_state.fd);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere left to report a logging failure */
		p += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&log_state.mu);
}

void cn_vlog(cn_log_level level, const char *event, const char *request_id, const char *fmt,
             va_list ap)
{
	if (!cn_log_enabled(level))
		return;
	int saved_errno = errno;
	char ts[32];
	cn_format_iso8601_ms(cn_now_ms(), ts);

	/* Most messages fit the stack buffer; longer ones get a heap copy. */
	char small[512];
	char *msg = small;
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n < 0) {
		n = (int)strlen(strcpy(small, "(unformattable log message)"));
	} else if ((size_t)n >= sizeof small) {
		msg = malloc((size_t)n + 1);
		if (msg)
			vsnprintf(msg, (size_t)n + 1, fmt, ap2);
		else {
			msg = small; /* keep the truncated text rather than nothing */
			n = (int)sizeof small - 1;
		}
	}
	va_end(ap2);

	cn_buf line = CN_BUF_INIT;
	log_format_line(&line, atomic_load(&log_state.json), ts, level, event, request_id, msg,
	                (size_t)n);
	if (!cn_buf_failed(&line)) {
		log_write_all(line.p, line.len);
	} else {
		static const char oom[] =
		        "level=error event=LOG-OUT-OF-MEMORY msg=\"log line lost\"\n";
		log_write_all(oom, sizeof oom - 1);
	}
	cn_buf_free(&line);
	if (msg != small)
		free(msg);
	errno = saved_errno;
}

void cn_log(cn_log_level level, const char *event, const char *request_id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cn_vlog(level, event, request_id, fmt, ap);
	va_end(ap);
}
