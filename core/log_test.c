/* core/log_test.c: line format (logfmt and JSON), levels, and whole lines under threads. */
#include "core/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_test.h"

/* Points the log at a fresh temp file; capture_end returns its text (caller frees). */
static int capture_begin(int *prev)
{
	char path[] = "/tmp/cn-log-test-XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	*prev = cn_log_set_fd(fd);
	return fd;
}

static char *capture_end(int fd, int prev)
{
	cn_log_set_fd(prev);
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = malloc((size_t)n + 1);
	if (s && pread(fd, s, (size_t)n, 0) == n)
		s[n] = '\0';
	else if (s)
		s[0] = '\0';
	close(fd);
	return s;
}

static int is_ts(const char *p)
{
	/* 2026-11-25T08:31:17.123Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (int i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9') : p[i] != shape[i])
			return 0;
	}
	return 1;
}

CN_TEST(logfmt_line)
{
	cn_log_init(CN_LOG_DEBUG, 0);
	int prev, fd = capture_begin(&prev);
	errno = EAGAIN;
	cn_log(CN_LOG_WARN, "PLUGIN-ABI-MISMATCH", "0123abcd",
	       "plugin %s says \"v%d\"\nnext\\line\x01", "s3", 2);
	CN_CHECK_EQ_INT(errno, EAGAIN); /* logging keeps errno */
	CN_LOGI("NO-REQ", NULL, "plain");
	CN_LOGE("EMPTY-REQ", "", "%s", "");
	cn_log(CN_LOG_DEBUG, "has space=eq", "r 1", "x");
	char *s = capture_end(fd, prev);
	CN_CHECK(s != NULL);
	if (!s)
		return;
	char *l1 = s, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1,
	     *l4 = strchr(l3, '\n') + 1;
	CN_CHECK(strncmp(l1, "ts=", 3) == 0 && is_ts(l1 + 3));
	const char *want1 = " level=warn event=PLUGIN-ABI-MISMATCH req=0123abcd "
	                    "msg=\"plugin s3 says \\\"v2\\\"\\nnext\\\\line\\u0001\"\n";
	CN_CHECK(strncmp(l1 + 27, want1, strlen(want1)) == 0);
	CN_CHECK(strncmp(l2 + 27, " level=info event=NO-REQ msg=\"plain\"\n", 37) == 0);
	CN_CHECK(strncmp(l3 + 27, " level=error event=EMPTY-REQ msg=\"\"\n", 36) == 0);
	CN_CHECK(strncmp(l4 + 27, " level=debug event=\"has space=eq\" req=\"r 1\" msg=\"x\"\n",
	                 52) == 0);
	free(s);
}

CN_TEST(levels_filter)
{
	cn_log_init(CN_LOG_WARN, 0);
	CN_CHECK(!cn_log_enabled(CN_LOG_INFO));
	CN_CHECK(cn_log_enabled(CN_LOG_WARN) && cn_log_enabled(CN_LOG_ERROR));
	CN_CHECK(!cn_log_enabled(CN_LOG_OFF));
	int prev, fd = capture_begin(&prev);
	CN_LOGD("A", NULL, "debug");
	CN_LOGI("B", NULL, "info");
	CN_LOGW("C", NULL, "warn");
	cn_log_init(CN_LOG_OFF, 0);
	CN_LOGE("D", NULL, "error while off");
	char *s = capture_end(fd, prev);
	CN_CHECK(s && strstr(s, "event=C") && !strstr(s, "event=A") && !strstr(s, "event=B") &&
	         !strstr(s, "event=D"));
	free(s);
	cn_log_init((cn_log_level)42, 0); /* out of range: info */
	CN_CHECK(cn_log_enabled(CN_LOG_INFO) && !cn_log_enabled(CN_LOG_DEBUG));
}

CN_TEST(level_names)
{
	CN_CHECK_EQ_INT(cn_log_level_from_name("debug"), CN_LOG_DEBUG);
	CN_CHECK_EQ_INT(cn_log_level_from_name("WARN"), CN_LOG_WARN);
	CN_CHECK_EQ_INT(cn_log_level_from_name("warning"), CN_LOG_WARN);
	CN_CHECK_EQ_INT(cn_log_level_from_name("off"), CN_LOG_OFF);
	CN_CHECK_EQ_INT(cn_log_level_from_name("bogus"), CN_LOG_INFO);
	CN_CHECK_EQ_INT(cn_log_level_from_name(NULL), CN_LOG_INFO);
	cn_log_level l = CN_LOG_ERROR;
	CN_CHECK(!cn_log_level_parse("verbose", &l));
	CN_CHECK_EQ_INT(l, CN_LOG_ERROR);
	CN_CHECK(cn_log_level_parse("Error", &l) && l == CN_LOG_ERROR);
	CN_CHECK_STR(cn_log_level_name(CN_LOG_WARN), "warn");
	CN_CHECK_STR(cn_log_level_name((cn_log_level)99), "info");
}

CN_TEST(json_lines)
{
	cn_log_init(CN_LOG_INFO, 1);
	int prev, fd = capture_begin(&prev);
	CN_LOGI("RUN-CREATED", "req42", "run \"%s\"\ttab\x02", "r1");
	CN_LOGE("NO-REQ", NULL, "x");
	char *s = capture_end(fd, prev);
	cn_log_init(CN_LOG_INFO, 0);
	CN_CHECK(s != NULL);
	if (!s)
		return;
	char *nl = strchr(s, '\n');
	CN_CHECK(nl != NULL);
	if (!nl)
		return;
	*nl = '\0';
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);
	CN_CHECK(j != NULL);
	if (j) {
		CN_CHECK(is_ts(json_string_value(json_object_get(j, "ts"))));
		CN_CHECK_STR(json_string_value(json_object_get(j, "level")), "info");
		CN_CHECK_STR(json_string_value(json_object_get(j, "event")), "RUN-CREATED");
		CN_CHECK_STR(json_string_value(json_object_get(j, "req")), "req42");
		CN_CHECK_STR(json_string_value(json_object_get(j, "msg")), "run \"r1\"\ttab\x02");
		json_decref(j);
	}
	j = json_loads(nl + 1, 0, &je);
	CN_CHECK(j != NULL);
	if (j) {
		CN_CHECK(json_object_get(j, "req") == NULL);
		CN_CHECK_STR(json_string_value(json_object_get(j, "level")), "error");
		json_decref(j);
	}
	free(s);
}

#define THREADS 8
#define LINES   300

static void *spam(void *p)
{
	int id = (int)(long)p;
	char body[900];
	memset(body, 'a' + id, sizeof body - 1); /* longer than the stack buffer */
	body[sizeof body - 1] = '\0';
	for (int i = 0; i < LINES; i++)
		CN_LOGI("SPAM", NULL, "%d %s", id, body);
	return NULL;
}

CN_TEST(threads_never_interleave_lines)
{
	cn_log_init(CN_LOG_INFO, 0);
	int prev, fd = capture_begin(&prev);
	pthread_t th[THREADS];
	for (long t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, spam, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	char *s = capture_end(fd, prev);
	CN_CHECK(s != NULL);
	if (!s)
		return;
	int lines = 0, bad = 0, per[THREADS] = {0};
	for (char *line = s; *line;) {
		char *nl = strchr(line, '\n');
		if (!nl) {
			bad++;
			break;
		}
		*nl = '\0';
		const char *m = strstr(line, " msg=\"");
		int id = m ? m[6] - '0' : -1;
		if (strncmp(line, "ts=", 3) != 0 || id < 0 || id >= THREADS ||
		    strlen(m) != 6 + 2 + 899 + 1)
			bad++;
		else {
			for (int i = 0; i < 899; i++)
				if (m[8 + i] != 'a' + id) {
					bad++;
					break;
				}
			per[id]++;
		}
		lines++;
		line = nl + 1;
	}
	CN_CHECK_EQ_INT(lines, THREADS * LINES);
	CN_CHECK_EQ_INT(bad, 0);
	for (int t = 0; t < THREADS; t++)
		CN_CHECK_EQ_INT(per[t], LINES);
	free(s);
}

CN_TEST_MAIN()
