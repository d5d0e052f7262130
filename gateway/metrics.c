/*
 * gateway/metrics.c: what the gateway says about itself.
 *
 * Per-endpoint counters (by status) and a latency histogram, updated with
 * relaxed atomics on the request path (no locks; each endpoint on its own
 * cache lines), rendered on demand in the Prometheus text format 0.0.4 by
 * GET /metrics together with the bus clients' counters and the process's
 * memory, CPU and start time from /proc. Also the two other built-in
 * native routes: /health and /version.
 */
#include "gateway/gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Status codes counted under their own label; the rest under "other". */
static const int metrics_statuses[CN_GW_NSTATUS - 1] = {200, 201, 204, 304, 400, 401, 403, 404,
                                                        405, 409, 429, 499, 500, 501, 503, 504};

/* Histogram upper bounds in microseconds, and as Prometheus writes them. */
static const uint64_t metrics_bounds_us[CN_GW_NBUCKETS - 1] = {
        100,   250,    500,    1000,   2500,    5000,    10000,   25000,
        50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const char *const metrics_le[CN_GW_NBUCKETS] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
        "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf"};

void cn_gw_stats_record(cn_gw_stats *s, int status, uint64_t duration_us)
{
	int si = CN_GW_NSTATUS - 1;
	for (int i = 0; i < CN_GW_NSTATUS - 1; i++)
		if (metrics_statuses[i] == status) {
			si = i;
			break;
		}
	int bi = CN_GW_NBUCKETS - 1;
	for (int i = 0; i < CN_GW_NBUCKETS - 1; i++)
		if (duration_us <= metrics_bounds_us[i]) {
			bi = i;
			break;
		}
	atomic_fetch_add_explicit(&s->status[si], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bucket[bi], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, duration_us, memory_order_relaxed);
}

/* ---- rendering ---------------------------------------------------------- */

static void metrics_label(cn_buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			cn_buf_putc(out, '\\');
		if (*v == '\n') {
			cn_buf_puts(out, "\\n");
			continue;
		}
		cn_buf_putc(out, *v);
	}
}

static void metrics_route_labels(cn_buf *out, const cn_gw_endpoint *ep)
{
	cn_buf_puts(out, "route=\"");
	metrics_label(out, ep->label);
	cn_buf_puts(out, "\",method=\"");
	cn_buf_puts(out, cn_gw_method_name(ep->method));
	cn_buf_putc(out, '"');
}

static void metrics_family(cn_buf *out, const char *name, const char *type, const char *help)
{
	cn_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_http(cn_gateway *g, cn_buf *out)
{
	metrics_family(out, "cairn_http_requests_total", "counter",
	               "HTTP requests answered, by route, method and status.");
	for (size_t e = 0; e < g->neps; e++) {
		cn_gw_endpoint *ep = &g->eps[e];
		for (int i = 0; i < CN_GW_NSTATUS; i++) {
			uint64_t v =
			        atomic_load_explicit(&ep->stats.status[i], memory_order_relaxed);
			if (!v)
				continue;
			cn_buf_puts(out, "cairn_http_requests_total{");
			metrics_route_labels(out, ep);
			if (i < CN_GW_NSTATUS - 1)
				cn_buf_printf(out, ",status=\"%d\"} %llu\n", metrics_statuses[i],
				              (unsigned long long)v);
			else
				cn_buf_printf(out, ",status=\"other\"} %llu\n",
				              (unsigned long long)v);
		}
	}
	metrics_family(out, "cairn_http_request_duration_seconds", "histogram",
	               "Time from request line to response queued, by route and method.");
	for (size_t e = 0; e < g->neps; e++) {
		cn_gw_endpoint *ep = &g->eps[e];
		uint64_t b[CN_GW_NBUCKETS], total = 0;
		for (int i = 0; i < CN_GW_NBUCKETS; i++)
			total += b[i] =
			        atomic_load_explicit(&ep->stats.bucket[i], memory_order_relaxed);
		if (!total)
			continue;
		uint64_t cum = 0;
		for (int i = 0; i < CN_GW_NBUCKETS; i++) {
			cum += b[i];
			cn_buf_puts(out, "cairn_http_request_duration_seconds_bucket{");
			metrics_route_labels(out, ep);
			cn_buf_printf(out, ",le=\"%s\"} %llu\n", metrics_le[i],
			              (unsigned long long)cum);
		}
		uint64_t sum = atomic_load_explicit(&ep->stats.sum_us, memory_order_relaxed);
		cn_buf_puts(out, "cairn_http_request_duration_seconds_sum{");
		metrics_route_labels(out, ep);
		cn_buf_printf(out, "} %.6f\n", (double)sum / 1e6);
		cn_buf_puts(out, "cairn_http_request_duration_seconds_count{");
		metrics_route_labels(out, ep);
		cn_buf_printf(out, "} %llu\n", (unsigned long long)total);
	}
	metrics_family(out, "cairn_http_requests_in_flight", "gauge",
	               "HTTP requests received and not yet completed.");
	cn_buf_printf(out, "cairn_http_requests_in_flight %d\n", atomic_load(&g->in_flight));
}

static void metrics_bus(cn_gateway *g, cn_buf *out)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
	        {"cairn_bus_calls_total", "counter", "Bus calls started, by service."},
	        {"cairn_bus_replies_total", "counter", "Bus calls that got a reply, by service."},
	        {"cairn_bus_error_replies_total", "counter",
	         "Replies carrying an error, by service."},
	        {"cairn_bus_timeouts_total", "counter",
	         "Bus calls failed unavailable (deadline, no peer), by service."},
	        {"cairn_bus_errors_total", "counter", "Bus calls failed otherwise, by service."},
	        {"cairn_bus_calls_in_flight", "gauge", "Bus calls not yet completed, by service."},
	};
	cn_bus_stats st[CN_CFG_MAX_SERVICES];
	for (int s = 0; s < g->nsvc; s++)
		cn_bus_client_stats(g->svc[s].client, &st[s]);
	for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
		metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
		for (int s = 0; s < g->nsvc; s++) {
			const uint64_t v[] = {st[s].calls,    st[s].replies, st[s].error_replies,
			                      st[s].timeouts, st[s].errors,  st[s].in_flight};
			cn_buf_printf(out, "%s{service=\"", fams[f].name);
			metrics_label(out, g->svc[s].name);
			cn_buf_printf(out, "\"} %llu\n", (unsigned long long)v[f]);
		}
	}
}

/* Reads a small /proc file into buf (NUL-terminated); false on failure. */
static bool metrics_read(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n > 0;
}

static void metrics_process(cn_buf *out)
{
	char buf[4096];
	long page = sysconf(_SC_PAGESIZE), tick = sysconf(_SC_CLK_TCK);
	unsigned long long size = 0, rss = 0;
	if (metrics_read("/proc/self/statm", buf, sizeof buf) &&
	    sscanf(buf, "%llu %llu", &size, &rss) == 2) {
		metrics_family(out, "process_resident_memory_bytes", "gauge",
		               "Resident memory size in bytes.");
		cn_buf_printf(out, "process_resident_memory_bytes %llu\n",
		              rss * (unsigned long long)page);
		metrics_family(out, "process_virtual_memory_bytes", "gauge",
		               "Virtual memory size in bytes.");
		cn_buf_printf(out, "process_virtual_memory_bytes %llu\n",
		              size * (unsigned long long)page);
	}
	/* Fields after the command name, which may itself hold spaces or ')'. */
	char *p = metrics_read("/proc/self/stat", buf, sizeof buf) ? strrchr(buf, ')') : NULL;
	unsigned long long utime = 0, stime = 0, start = 0;
	if (!p ||
	    sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
	           "%*d %*d %*d %llu",
	           &utime, &stime, &start) != 3 ||
	    tick <= 0)
		return;
	metrics_family(out, "process_cpu_seconds_total", "counter",
	               "Total user and system CPU time spent in seconds.");
	cn_buf_printf(out, "process_cpu_seconds_total %.2f\n",
	              (double)(utime + stime) / (double)tick);
	unsigned long long btime = 0;
	const char *bt =
	        metrics_read("/proc/stat", buf, sizeof buf) ? strstr(buf, "\nbtime ") : NULL;
	if (bt && sscanf(bt + 7, "%llu", &btime) == 1) {
		metrics_family(out, "process_start_time_seconds", "gauge",
		               "Start time of the process since unix epoch in seconds.");
		cn_buf_printf(out, "process_start_time_seconds %.2f\n",
		              (double)btime + (double)start / (double)tick);
	}
}

void cn_gw_metrics_render(cn_gateway *g, cn_buf *out)
{
	metrics_http(g, out);
	metrics_bus(g, out);
	metrics_process(out);
}

/* ---- built-in routes -------------------------------------------------------- */

static void metrics_health(void *arg, cn_gw_request *r)
{
	cn_gw_respond(r, 200, "text/plain; charset=utf-8", "OK", 2);
}

static void metrics_version(void *arg, cn_gw_request *r)
{
	/* MLflow's clients gate features on this (OTLP span export needs >= 3.4). */
	cn_gw_respond(r, 200, "text/plain; charset=utf-8", CAIRN_MLFLOW_API_VERSION,
	              strlen(CAIRN_MLFLOW_API_VERSION));
}

static void metrics_scrape(void *arg, cn_gw_request *r)
{
	cn_buf *b = cn_gw_response_buf(r);
	cn_buf_reset(b);
	cn_gw_metrics_render(arg, b);
	cn_gw_respond_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8");
}

size_t cn_gw_builtin_routes(cn_gateway *g, cn_gw_route *out, size_t max)
{
	const cn_gw_route routes[] = {
	        {.method = "GET", .path = "/health", .on_complete = metrics_health, .arg = g},
	        {.method = "GET", .path = "/version", .on_complete = metrics_version, .arg = g},
	        {.method = "GET", .path = "/metrics", .on_complete = metrics_scrape, .arg = g},
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof routes[0]);
	return n;
}
