/*
 * tests/bench/otlp_bench.c: OTLP ingestion load (built as cn_otlp_bench).
 *
 *   cn_otlp_bench decode [ROUNDS]
 *       the decoder alone, in process: one 512-span GenAI batch (protobuf)
 *       decoded and built into IngestSpans ROUNDS times; spans/s.
 *   cn_otlp_bench http PORT EXPERIMENT_ID [SECONDS] [CONNECTIONS] [PATH]
 *       CONNECTIONS exporters (default 8), each a keep-alive HTTP/1.1
 *       connection to 127.0.0.1:PORT posting pre-encoded 512-span protobuf
 *       batches to PATH (/v1/traces) back to back for SECONDS; every batch
 *       gets fresh trace ids (8 traces of 64 spans), so nothing is a repeat.
 *       Prints spans/s accepted (200) and the count of each other status.
 *
 * The batch is what an agent emits: chat spans with model, token counts,
 * input and output messages (~200 bytes each), a tool span per trace.
 * Not a test; numbers depend on the machine.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/otlp/otlp.h"
#include "trace_service.pb-c.h"

#define BATCH      512
#define PER_TRACE  64
#define NATTR      8
#define MAX_STATUS 600

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;

static void set_str(kv_t *kv, any_t *v, const char *k, const char *s)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)k;
	kv->value = v;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = (char *)s;
}

static void set_int(kv_t *kv, any_t *v, const char *k, int64_t x)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)k;
	kv->value = v;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	v->int_value = x;
}

/* The packed batch; *tid_off gets the offset of each span's trace id. */
static uint8_t *make_batch(size_t *len, size_t *tid_off)
{
	static const char in_msgs[] =
	        "[{\"role\":\"system\",\"content\":\"You are a helpful weather assistant.\"},"
	        "{\"role\":\"user\",\"content\":\"What is the weather in Paris tomorrow, and "
	        "should "
	        "I take an umbrella?\"}]";
	static const char out_msgs[] =
	        "[{\"role\":\"assistant\",\"content\":\"Tomorrow in Paris: clear skies, 18 C, "
	        "light wind from the west. No umbrella needed.\"}]";
	Opentelemetry__Proto__Trace__V1__Span *spans = calloc(BATCH, sizeof *spans);
	Opentelemetry__Proto__Trace__V1__Span **sp = calloc(BATCH, sizeof *sp);
	kv_t *kvs = calloc(BATCH * NATTR, sizeof *kvs);
	kv_t **kvp = calloc(BATCH * NATTR, sizeof *kvp);
	any_t *vals = calloc(BATCH * NATTR, sizeof *vals);
	Opentelemetry__Proto__Trace__V1__Status *st = calloc(BATCH, sizeof *st);
	uint8_t *ids = calloc(BATCH, 24);
	for (int i = 0; i < BATCH; i++) {
		Opentelemetry__Proto__Trace__V1__Span *s = &spans[i];
		opentelemetry__proto__trace__v1__span__init(s);
		uint8_t *tid = ids + 24 * i, *sid = tid + 16;
		memset(tid, 0xa0 + i / PER_TRACE, 16);
		tid[15] = (uint8_t)(0x10 + i / PER_TRACE); /* unique 16-byte pattern per trace */
		memset(sid, 0, 8);
		sid[6] = (uint8_t)(i >> 8);
		sid[7] = (uint8_t)(i + 1);
		s->trace_id.data = tid;
		s->trace_id.len = 16;
		s->span_id.data = sid;
		s->span_id.len = 8;
		bool root = i % PER_TRACE == 0, tool = i % PER_TRACE == 3;
		if (!root) {
			s->parent_span_id.data = ids + 24 * (i - i % PER_TRACE) + 16;
			s->parent_span_id.len = 8;
		}
		s->name = root   ? "invoke_agent weather-bot"
		          : tool ? "execute_tool get_weather"
		                 : "chat gpt-4o";
		s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
		s->start_time_unix_nano = 1700000000000000000ULL + (uint64_t)i * 1000000;
		s->end_time_unix_nano = s->start_time_unix_nano + 900000;
		kv_t *k = kvs + NATTR * i;
		any_t *v = vals + NATTR * i;
		set_str(&k[0], &v[0], "gen_ai.operation.name",
		        root   ? "invoke_agent"
		        : tool ? "execute_tool"
		               : "chat");
		set_str(&k[1], &v[1], "gen_ai.request.model", "gpt-4o");
		set_str(&k[2], &v[2], "gen_ai.system", "openai");
		set_int(&k[3], &v[3], "gen_ai.usage.input_tokens", 120 + i);
		set_int(&k[4], &v[4], "gen_ai.usage.output_tokens", 40 + i);
		set_str(&k[5], &v[5], "gen_ai.input.messages", in_msgs);
		set_str(&k[6], &v[6], "gen_ai.output.messages", out_msgs);
		set_str(&k[7], &v[7], "server.address", "api.openai.com");
		for (int a = 0; a < NATTR; a++)
			kvp[NATTR * i + a] = &k[a];
		s->attributes = kvp + NATTR * i;
		s->n_attributes = NATTR;
		opentelemetry__proto__trace__v1__status__init(&st[i]);
		st[i].code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK;
		s->status = &st[i];
		sp[i] = s;
	}
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
	        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	scope.name = "cn-otlp-bench";
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
	        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
	ss.scope = &scope;
	ss.spans = sp;
	ss.n_spans = BATCH;
	kv_t rkv;
	any_t rv;
	kv_t *rkvp = &rkv;
	set_str(&rkv, &rv, "service.name", "bench-agent");
	Opentelemetry__Proto__Resource__V1__Resource res =
	        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	res.attributes = &rkvp;
	res.n_attributes = 1;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
	        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
	rs.resource = &res;
	rs.scope_spans = &ssp;
	rs.n_scope_spans = 1;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	req.resource_spans = &rsp;
	req.n_resource_spans = 1;
	*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
	        &req);
	uint8_t *out = malloc(*len);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out);
	/* Where each span's trace id sits: the spans are packed in order. */
	size_t from = 0;
	for (int i = 0; i < BATCH; i++) {
		uint8_t *tid = ids + 24 * i;
		uint8_t *at = memmem(out + from, *len - from, tid, 16);
		tid_off[i] = at ? (size_t)(at - out) : 0;
		from = at ? tid_off[i] + 16 : from;
	}
	free(spans);
	free(sp);
	free(kvs);
	free(kvp);
	free(vals);
	free(st);
	free(ids);
	return out;
}

static int bench_decode(int rounds)
{
	size_t len, off[BATCH];
	uint8_t *pb = make_batch(&len, off);
	cn_otlp_limits lim = cn_otlp_default_limits();
	cn_fb_builder *b = cn_fb_builder_new(1 << 20);
	int64_t t0 = cn_mono_ns();
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	size_t out_bytes = 0;
	for (int i = 0; i < rounds; i++) {
		cn_err err;
		cn_otlp_req *r = NULL;
		cn_fb_ref root;
		cn_otlp_result res;
		const uint8_t *buf;
		cn_fb_builder_reset(b);
		if (cn_otlp_parse(CN_OTLP_PROTOBUF, pb, len, &lim, &r, &err) != CN_OK ||
		    cn_otlp_build(r, "1", b, &root, &res, &err) != CN_OK ||
		    !cn_fb_finish(b, root, &buf, &out_bytes)) {
			fprintf(stderr, "decode failed: %s\n", err.msg);
			return 1;
		}
		cn_otlp_req_free(r);
	}
	double s = (double)(cn_mono_ns() - t0) / 1e9;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	/* CPU time too: on a shared machine the wall clock says more about the neighbours. */
	printf("decode protobuf: %d batches of %d spans (%zu bytes in, %zu out): %.2f s wall, "
	       "%.2f s CPU: %.0f spans/s wall, %.0f spans per CPU-second\n",
	       rounds, BATCH, len, out_bytes, s, cpu, rounds * (double)BATCH / s,
	       rounds * (double)BATCH / cpu);
	cn_fb_builder_free(b);
	free(pb);
	return 0;
}

typedef struct conn_arg {
	int port, id;
	const char *exp, *path;
	int64_t until_ns;
	size_t len;
	const uint8_t *body;
	const size_t *off;
	uint64_t status[MAX_STATUS];
	uint64_t errors;
} conn_arg;

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads one response; returns its status, 0 on a broken connection. */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t have = 0;
	char *end = NULL;
	while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
		ssize_t r = read(fd, buf + have, cap - have - 1);
		if (r <= 0)
			return 0;
		have += (size_t)r;
		buf[have] = 0;
	}
	int status = atoi(buf + 9);
	char *cl = strcasestr(buf, "content-length:");
	size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t got = have - (size_t)(end + 4 - buf);
	while (got < body) {
		ssize_t r = read(fd, buf, cap);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return status;
}

static void *conn_main(void *p)
{
	conn_arg *a = p;
	uint8_t *body = malloc(a->len);
	memcpy(body, a->body, a->len);
	char hdr[512], resp[65536];
	int fd = dial(a->port);
	for (uint64_t n = 0; cn_mono_ns() < a->until_ns; n++) {
		if (fd < 0 && (fd = dial(a->port)) < 0) {
			a->errors++;
			continue;
		}
		/* Fresh trace ids: connection id and request number in the first bytes. */
		for (int i = 0; i < BATCH; i++) {
			uint8_t *t = body + a->off[i];
			t[0] = (uint8_t)a->id;
			memcpy(t + 1, &n, 8);
		}
		int h = snprintf(hdr, sizeof hdr,
		                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
		                 "application/x-protobuf\r\nx-mlflow-experiment-id: %s\r\n"
		                 "Content-Length: %zu\r\n\r\n",
		                 a->path, a->exp, a->len);
		int st = 0;
		if (write_all(fd, hdr, (size_t)h) && write_all(fd, body, a->len))
			st = read_response(fd, resp, sizeof resp);
		if (st <= 0 || st >= MAX_STATUS) {
			a->errors++;
			close(fd);
			fd = -1;
			continue;
		}
		a->status[st]++;
	}
	if (fd >= 0)
		close(fd);
	free(body);
	return NULL;
}

static int bench_http(int port, const char *exp, int secs, int conns, const char *path)
{
	size_t len, off[BATCH];
	uint8_t *pb = make_batch(&len, off);
	conn_arg *args = calloc((size_t)conns, sizeof *args);
	pthread_t *th = calloc((size_t)conns, sizeof *th);
	int64_t t0 = cn_mono_ns();
	for (int i = 0; i < conns; i++) {
		args[i] = (conn_arg){.port = port,
		                     .id = i,
		                     .exp = exp,
		                     .path = path,
		                     .until_ns = t0 + (int64_t)secs * 1000000000LL,
		                     .len = len,
		                     .body = pb,
		                     .off = off};
		pthread_create(&th[i], NULL, conn_main, &args[i]);
	}
	uint64_t status[MAX_STATUS] = {0}, errors = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(th[i], NULL);
		for (int s = 0; s < MAX_STATUS; s++)
			status[s] += args[i].status[s];
		errors += args[i].errors;
	}
	double el = (double)(cn_mono_ns() - t0) / 1e9;
	printf("http %s: %d connections, %d-span batches of %zu bytes, %.1f s: %.0f spans/s "
	       "accepted (%.0f batches/s)",
	       path, conns, BATCH, len, el, status[200] * (double)BATCH / el, status[200] / el);
	for (int s = 0; s < MAX_STATUS; s++)
		if (s != 200 && status[s])
			printf(", %llu x %d", (unsigned long long)status[s], s);
	printf(", %llu connection errors\n", (unsigned long long)errors);
	free(args);
	free(th);
	free(pb);
	return status[200] ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "decode") == 0)
		return bench_decode(argc > 2 ? atoi(argv[2]) : 200);
	if (argc >= 4 && strcmp(argv[1], "http") == 0)
		return bench_http(atoi(argv[2]), argv[3], argc > 4 ? atoi(argv[4]) : 10,
		                  argc > 5 ? atoi(argv[5]) : 8, argc > 6 ? argv[6] : "/v1/traces");
	fprintf(stderr, "usage: cn_otlp_bench decode [ROUNDS]\n"
	                "       cn_otlp_bench http PORT EXPERIMENT_ID [SECONDS] [CONNS] [PATH]\n");
	return 2;
}
