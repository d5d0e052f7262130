/*
 * core/log.h: structured logging.
 *
 * One line per event in logfmt to stderr:
 *   ts=2026-11-25T08:31:17.123Z level=warn event=PLUGIN-ABI-MISMATCH req=… msg="…"
 * `event` is a stable id per kind of event (never reworded), so operators
 * can alert on it; `req` is the request id when there is one. The logger is
 * the process's one owned singleton for output: cn_log_init sets its level
 * and format once at start-up; logging is thread-safe.
 */
#ifndef CN_LOG_H
#define CN_LOG_H

#include <stdarg.h>

typedef enum cn_log_level {
	CN_LOG_DEBUG = 0,
	CN_LOG_INFO,
	CN_LOG_WARN,
	CN_LOG_ERROR,
	CN_LOG_OFF
} cn_log_level;

void cn_log_init(cn_log_level level, int json_format);
cn_log_level
cn_log_level_from_name(const char *name); /* "debug"|"info"|"warn"|"error"|"off"; info if unknown */
int cn_log_enabled(cn_log_level level);
/* Strict form of cn_log_level_from_name for validating configuration:
 * false (and *out untouched) if `name` is not a level name. Case-insensitive;
 * "warning" is accepted for "warn". */
int cn_log_level_parse(const char *name, cn_log_level *out);
/* "debug", "info", "warn", "error" or "off". */
const char *cn_log_level_name(cn_log_level level);
/* Sends log lines to `fd` instead of stderr (tests, log files); returns the
 * previous fd. The caller keeps ownership of fd and must keep it open while
 * it is the log's destination. */
int cn_log_set_fd(int fd);
/* Writes one line: ts, level, event, req (omitted when NULL or empty), msg.
 * Never blocks on other loggers for longer than one write(2); keeps errno. */
void cn_log(cn_log_level level, const char *event, const char *request_id, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* cn_log with a va_list (for the plugin host's log service). */
void cn_vlog(cn_log_level level, const char *event, const char *request_id, const char *fmt,
             va_list ap) __attribute__((format(printf, 4, 0)));

#define CN_LOGD(ev, req, ...) cn_log(CN_LOG_DEBUG, ev, req, __VA_ARGS__)
#define CN_LOGI(ev, req, ...) cn_log(CN_LOG_INFO, ev, req, __VA_ARGS__)
#define CN_LOGW(ev, req, ...) cn_log(CN_LOG_WARN, ev, req, __VA_ARGS__)
#define CN_LOGE(ev, req, ...) cn_log(CN_LOG_ERROR, ev, req, __VA_ARGS__)

#endif
