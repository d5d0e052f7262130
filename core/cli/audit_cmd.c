/*
 * core/cli/audit_cmd.c: `cairn audit` -- read the audit trail of a running
 * server (GET /api/2.0/cairn/audit/search, core/audit) by entity, caller,
 * service, method and time range, following page tokens. One line per
 * record, or the records as a JSON array with --json. HTTP goes through the
 * host's client (core/plugin/host_http.c), as `cairn gc` does.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/cli/cli.h"
#include "core/plugin/loader.h"

#define AUDIT_PAGE 500

typedef struct audit_opts {
	const char *entity, *caller, *service, *method, *since, *until, *tracking_uri;
	long long max; /* 0 = all */
	bool json, desc;
} audit_opts;

static void audit_usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn audit [--entity TYPE=ID] [--caller USER] [--service S] [--method M]\n"
	        "                   [--since T] [--until T] [--max N] [--desc] [--json]\n"
	        "                   [--tracking-uri URL]\n"
	        "\n"
	        "Print the audit trail: every mutating call, who made it, from where, when\n"
	        "and with what outcome (oldest first).\n"
	        "  --entity TYPE=ID     records naming that entity: experiment_id=1, run_id=...,\n"
	        "                       name=MODEL, model_version=MODEL/3, model_id=...\n"
	        "  --caller USER        only calls made by USER\n"
	        "  --service S, --method M   only that service / method (CreateRun)\n"
	        "  --since T, --until T time range, inclusive: Unix milliseconds or UTC\n"
	        "                       YYYY-MM-DD[THH:MM[:SS]][Z]\n"
	        "  --max N              at most N records\n"
	        "  --desc               newest first\n"
	        "  --json               the records as a JSON array\n"
	        "  --tracking-uri URL   the server (default $MLFLOW_TRACKING_URI, else\n"
	        "                       http://127.0.0.1:5000)\n");
}

/* Unix ms, or UTC date/time; -1 when neither. */
static long long audit_parse_time(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end && v >= 0)
		return v;
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return -1;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int m2 = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2)
			return -1;
		p += 1 + m2;
		if (*p == ':') {
			int m3 = 0;
			if (sscanf(p + 1, "%2d%n", &sec, &m3) != 1)
				return -1;
			p += 1 + m3;
		}
	}
	if (*p == 'Z')
		p++;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (long long)timegm(&tm) * 1000;
}

static void audit_param(cn_buf *u, const char *key, const char *v)
{
	if (!v)
		return;
	cn_buf_printf(u, "&%s=", key);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (isalnum(*p) || strchr("-_.~", *p))
			cn_buf_putc(u, (char)*p);
		else
			cn_buf_printf(u, "%%%02X", *p);
	}
}

static int audit_collect(void *arg, const void *data, size_t len)
{
	cn_buf_append(arg, data, len);
	return ((cn_buf *)arg)->failed ? CAIRN_ERR_NO_MEMORY : CAIRN_OK;
}

/* GET url; *out is the answer's JSON object. On failure prints why, -1. */
static int audit_get(const char *url, json_t **out)
{
	cn_buf resp = CN_BUF_INIT;
	cairn_http_request req = {.size = sizeof req,
	                          .method = "GET",
	                          .url = url,
	                          .on_body = audit_collect,
	                          .response_arg = &resp,
	                          .connect_timeout_ms = 10000};
	cairn_http_response r = {.size = sizeof r};
	cairn_error herr = {0};
	int rc = cn_plugin_host_api()->http(&req, &r, &herr);
	if (rc != CAIRN_OK) {
		fprintf(stderr, "cairn audit: %s: %s\n", url,
		        herr.message[0] ? herr.message : "failed");
		cn_buf_free(&resp);
		return -1;
	}
	json_error_t jerr;
	json_t *j = json_loadb(resp.p ? resp.p : "", resp.len, 0, &jerr);
	if (r.status != 200 || !json_is_object(j)) {
		const char *code = json_string_value(json_object_get(j, "error_code"));
		const char *msg = json_string_value(json_object_get(j, "message"));
		if (code && msg)
			fprintf(stderr, "cairn audit: %s: %s\n", code, msg);
		else
			fprintf(stderr, "cairn audit: %s answered %d: %.*s\n", url, r.status,
			        (int)(resp.len > 300 ? 300 : resp.len), resp.p ? resp.p : "");
		json_decref(j);
		cn_buf_free(&resp);
		return -1;
	}
	cn_buf_free(&resp);
	*out = j;
	return 0;
}

static const char *audit_s(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && *s ? s : "-";
}

static void audit_print(json_t *rec)
{
	json_t *tsj = json_object_get(rec, "timestamp_ms");
	long long ts =
	        json_is_string(tsj) ? atoll(json_string_value(tsj)) : json_integer_value(tsj);
	time_t secs = (time_t)(ts / 1000);
	struct tm tm;
	char when[32] = "?";
	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%03lldZ  %-12s %-21s %s.%s  %s", when, ts % 1000, audit_s(rec, "caller"),
	       audit_s(rec, "client_addr"), audit_s(rec, "service"), audit_s(rec, "method"),
	       audit_s(rec, "outcome"));
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(rec, "entities"), i, e)
	        printf(" %s=%s", audit_s(e, "type"), audit_s(e, "id"));
	const char *msg = json_string_value(json_object_get(rec, "error_message"));
	if (msg && *msg)
		printf("  (%s)", msg);
	putchar('\n');
}

static int audit_parse_args(int argc, char **argv, audit_opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			audit_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
			continue;
		} else if (!strcmp(a, "--desc")) {
			o->desc = true;
			continue;
		} else if (!strcmp(a, "--entity")) {
			slot = &o->entity;
		} else if (!strcmp(a, "--caller")) {
			slot = &o->caller;
		} else if (!strcmp(a, "--service")) {
			slot = &o->service;
		} else if (!strcmp(a, "--method")) {
			slot = &o->method;
		} else if (!strcmp(a, "--since")) {
			slot = &o->since;
		} else if (!strcmp(a, "--until")) {
			slot = &o->until;
		} else if (!strcmp(a, "--tracking-uri")) {
			slot = &o->tracking_uri;
		} else if (!strcmp(a, "--max")) {
			char *end;
			if (i + 1 >= argc || (o->max = strtoll(argv[++i], &end, 10)) < 1 || *end) {
				fprintf(stderr, "cairn audit: --max needs a positive number\n");
				return 2;
			}
			continue;
		} else {
			fprintf(stderr, "cairn audit: unknown option '%s'\n", a);
			audit_usage(stderr);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "cairn audit: %s needs a value\n", a);
			return 2;
		}
		*slot = argv[++i];
	}
	return -1;
}

/* The query string (without page token) into q; 2 on bad options. */
static int audit_query(const audit_opts *o, cn_buf *q)
{
	char since[24], until[24], type[128];
	const char *id = NULL;
	if (o->entity) {
		const char *eq = strchr(o->entity, '=');
		if (!eq || eq == o->entity || !eq[1] || (size_t)(eq - o->entity) >= sizeof type) {
			fprintf(stderr, "cairn audit: --entity wants TYPE=ID, got '%s'\n",
			        o->entity);
			return 2;
		}
		memcpy(type, o->entity, (size_t)(eq - o->entity));
		type[eq - o->entity] = '\0';
		id = eq + 1;
	}
	const char *tv[2] = {o->since, o->until};
	char *tb[2] = {since, until};
	for (int k = 0; k < 2; k++) {
		if (!tv[k])
			continue;
		long long ms = audit_parse_time(tv[k]);
		if (ms < 0) {
			fprintf(stderr,
			        "cairn audit: bad time '%s' (Unix ms or YYYY-MM-DDTHH:MM:SSZ)\n",
			        tv[k]);
			return 2;
		}
		snprintf(tb[k], 24, "%lld", ms);
	}
	if (o->entity) {
		audit_param(q, "entity_type", type);
		audit_param(q, "entity_id", id);
	}
	audit_param(q, "caller", o->caller);
	audit_param(q, "service", o->service);
	audit_param(q, "method", o->method);
	audit_param(q, "since", o->since ? since : NULL);
	audit_param(q, "until", o->until ? until : NULL);
	audit_param(q, "order", o->desc ? "desc" : NULL);
	return 0;
}

int cli_run_audit(int argc, char **argv)
{
	audit_opts o = {0};
	int prc = audit_parse_args(argc, argv, &o);
	if (prc >= 0)
		return prc;
	const char *u = o.tracking_uri ? o.tracking_uri : getenv("MLFLOW_TRACKING_URI");
	char uri[1024];
	snprintf(uri, sizeof uri, "%s", u && *u ? u : "http://127.0.0.1:5000");
	size_t ul = strlen(uri);
	while (ul && uri[ul - 1] == '/')
		uri[--ul] = '\0';
	if (strncmp(uri, "http://", 7) && strncmp(uri, "https://", 8)) {
		fprintf(stderr,
		        "cairn audit: the tracking URI must be http:// or https://, got '%s'\n",
		        uri);
		return 2;
	}
	cn_buf q = CN_BUF_INIT;
	if (audit_query(&o, &q) != 0) {
		cn_buf_free(&q);
		return 2;
	}
	json_t *all = json_array();
	char *token = NULL;
	int status = 0;
	long long got = 0;
	do {
		long long want = o.max ? o.max - got : AUDIT_PAGE;
		cn_buf url = CN_BUF_INIT;
		cn_buf_printf(&url, "%s/api/2.0/cairn/audit/search?max_results=%lld", uri,
		              want < AUDIT_PAGE ? want : AUDIT_PAGE);
		cn_buf_append(&url, q.p ? q.p : "", q.len);
		audit_param(&url, "page_token", token);
		cn_buf_putc(&url, '\0');
		json_t *ans = NULL;
		int rc = url.failed ? -1 : audit_get(url.p, &ans);
		cn_buf_free(&url);
		free(token);
		token = NULL;
		if (rc != 0) {
			status = 1;
			break;
		}
		size_t i;
		json_t *rec;
		json_array_foreach(json_object_get(ans, "records"), i, rec)
		{
			got++;
			if (o.json)
				json_array_append(all, rec);
			else
				audit_print(rec);
		}
		const char *nt = json_string_value(json_object_get(ans, "next_page_token"));
		if (nt && *nt && (!o.max || got < o.max))
			token = strdup(nt);
		json_decref(ans);
	} while (token);
	if (status == 0 && o.json) {
		json_dumpf(all, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(all);
	cn_buf_free(&q);
	return status;
}
