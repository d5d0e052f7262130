/* bus/bus_testutil.c: the test service and helpers the bus tests share. */
#include "bus/bus_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/codec/codec.h"
#include "schemas/cairn_schema.h"

uint8_t *tu_payload(const char *text, int64_t num, size_t *len)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref s = cn_fb_create_cstr(b, text);
	cn_Envelope_start(b);
	cn_Envelope_add_method(b, s);
	cn_Envelope_add_deadline_ms(b, num);
	cn_fb_ref root = cn_Envelope_end(b);
	const uint8_t *p;
	uint8_t *copy = NULL;
	*len = 0;
	if (cn_fb_finish(b, root, &p, len)) {
		copy = malloc(*len);
		if (copy)
			memcpy(copy, p, *len);
	}
	cn_fb_builder_free(b);
	return copy;
}

/* Verify and read (text, num) from a payload. */
static int tu_read(const uint8_t *p, size_t len, cn_fb_str *text, int64_t *num)
{
	cn_err err;
	if (!p || cn_fb_verify(&cn_schema_cairn, CN_TABLE_Envelope, p, len, &err) != CN_OK)
		return -1;
	cn_fb_table t = cn_fb_root(p);
	*text = cn_Envelope_method(t);
	*num = cn_Envelope_deadline_ms(t);
	return 0;
}

const char *tu_payload_text(const uint8_t *p, size_t len, char *out, size_t cap)
{
	cn_fb_str s;
	int64_t n;
	if (tu_read(p, len, &s, &n) != 0)
		return NULL;
	snprintf(out, cap, "%.*s", (int)s.len, s.ptr ? s.ptr : "");
	return out;
}

static cn_fb_ref tu_reply(cn_fb_builder *b, const char *text, size_t n)
{
	cn_fb_ref s = cn_fb_create_string(b, text, n);
	cn_Envelope_start(b);
	cn_Envelope_add_method(b, s);
	return cn_Envelope_end(b);
}

/* State of the Gate method: shared by every host in the process. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inside;
	int opened;
} tu_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static int tu_gate_wait(int64_t want)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&tu_gate.mu);
	tu_gate.inside++;
	if (tu_gate.inside >= want)
		tu_gate.opened = 1;
	pthread_cond_broadcast(&tu_gate.cv);
	int rc = 0;
	while (!tu_gate.opened && rc == 0)
		rc = pthread_cond_timedwait(&tu_gate.cv, &tu_gate.mu, &until);
	int open = tu_gate.opened;
	if (--tu_gate.inside == 0)
		tu_gate.opened = 0;
	pthread_mutex_unlock(&tu_gate.mu);
	return open;
}

cn_code tu_handler(void *arg, const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp,
                   cn_err *err)
{
	cn_fb_str text = {NULL, 0};
	int64_t num = 0;
	if (tu_read(req->payload, req->payload_len, &text, &num) != 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "payload is not valid");
	const char *t = text.ptr ? text.ptr : "";
	if (strcmp(req->method, "Echo") == 0) {
		*resp = tu_reply(b, t, text.len);
	} else if (strcmp(req->method, "Who") == 0) {
		char who[256];
		int n = snprintf(who, sizeof who, "%s|%s", req->request_id, req->caller);
		*resp = tu_reply(b, who, (size_t)n);
	} else if (strcmp(req->method, "Fail") == 0) {
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST, "Experiment '%s' does not exist",
		                  t);
	} else if (strcmp(req->method, "NoReply") == 0) {
		*resp = 0;
	} else if (strcmp(req->method, "Sleep") == 0) {
		tu_sleep_ms((int)num);
		*resp = tu_reply(b, t, text.len);
	} else if (strcmp(req->method, "Gate") == 0) {
		const char *r = tu_gate_wait(num) ? "open" : "timeout";
		*resp = tu_reply(b, r, strlen(r));
	} else {
		return cn_err_set(err, CN_ENDPOINT_NOT_FOUND, "no method %s", req->method);
	}
	return CN_OK;
}

int tu_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

void tu_tmpdir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/cn-bus-test-XXXXXX");
	if (!mkdtemp(out))
		out[0] = '\0';
}

void tu_rmtree(const char *dir)
{
	if (!dir[0] || strncmp(dir, "/tmp/cn-bus-test-", 17) != 0)
		return; /* never remove anything else */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int tu_has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

int64_t tu_now_ms(void)
{
	return cn_mono_ms();
}

void tu_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

cn_code tu_call(cn_bus_client *c, const char *method, const char *text, int64_t num,
                int64_t timeout_ms, cn_bus_reply *reply, cn_err *err)
{
	size_t len;
	uint8_t *p = tu_payload(text, num, &len);
	cn_bus_call call = {
	        .method = method,
	        .deadline_ms = cn_now_ms() + timeout_ms,
	        .payload = p,
	        .payload_len = len,
	};
	cn_code rc = cn_bus_call_sync(c, &call, reply, err);
	free(p);
	return rc;
}

cn_code tu_host(cn_bus_host **h, const char *addr, const cn_bus_tls *tls, int workers, cn_err *err)
{
	cn_code rc = CN_INTERNAL_ERROR;
	for (int i = 0; i < 50; i++) {
		rc = cn_bus_host_start(h, addr, tls, workers, tu_handler, NULL, err);
		if (rc != CN_INTERNAL_ERROR)
			break;
		tu_sleep_ms(100);
	}
	return rc;
}
