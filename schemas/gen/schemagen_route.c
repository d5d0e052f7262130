/*
 * schemas/gen/schemagen_route.c: route attributes of request tables.
 *
 * A table with any of the attributes service/http/response/since/max_body
 * is a request table; it needs `service` and `response`, and each
 * "METHOD /path" of `http` becomes one cn_route (core/fb/schema.h). Every
 * problem is reported with the table's name and the offending text.
 */
#include "schemas/gen/schemagen.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fb/schema.h"

static const char *route_attr(const sg_table *t, const char *key)
{
	for (size_t i = 0; i < t->nattrs; i++)
		if (strcmp(t->attrs[i].key, key) == 0)
			return t->attrs[i].value;
	return NULL;
}

static int route_find_table(const sg_schema *s, const char *qualified)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (strcmp(s->tables[i].name, qualified) == 0)
			return (int)i;
	return -1;
}

/* `response` is qualified ("cairn.Empty") or a short name in the request's namespace. */
static bool route_response(const sg_schema *s, const sg_table *t, const char *resp, int *out)
{
	if (strchr(resp, '.')) {
		*out = route_find_table(s, resp);
	} else {
		size_t nslen = (size_t)(t->short_name - t->name);
		size_t n = nslen + strlen(resp) + 1;
		char *q = malloc(n);
		if (!q)
			return sg_error("out of memory");
		snprintf(q, n, "%.*s%s", (int)nslen, t->name, resp);
		*out = route_find_table(s, q);
		free(q);
	}
	if (*out < 0)
		return sg_error("%s: %s: response table '%s' does not exist", t->file, t->name,
		                resp);
	return true;
}

/* Parse a decimal in [lo, hi]; false on anything else. */
static bool route_number(const char *txt, unsigned long lo, unsigned long hi, unsigned long *out)
{
	if (!*txt || !isdigit((unsigned char)*txt))
		return false;
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(txt, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool route_method_ok(const char *m, size_t n)
{
	static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE", "PUT"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strlen(methods[i]) == n && memcmp(methods[i], m, n) == 0)
			return true;
	return false;
}

/* Check a path: '/'-separated non-empty segments of URL-safe characters;
 * a segment "{name}" must name a scalar or string field of the table. */
static bool route_check_path(const sg_table *t, const char *spec, const char *path, size_t n)
{
	if (n < 2 || path[0] != '/')
		return sg_error("%s: %s: http \"%s\": path must start with '/' and not be empty",
		                t->file, t->name, spec);
	size_t i = 1;
	while (i <= n) {
		size_t start = i;
		while (i < n && path[i] != '/')
			i++;
		const char *seg = path + start;
		size_t len = i - start;
		if (len == 0)
			return sg_error("%s: %s: http \"%s\": empty path segment", t->file, t->name,
			                spec);
		bool brace = memchr(seg, '{', len) || memchr(seg, '}', len);
		if (brace) {
			if (len < 3 || seg[0] != '{' || seg[len - 1] != '}' ||
			    memchr(seg + 1, '{', len - 2) || memchr(seg + 1, '}', len - 2))
				return sg_error("%s: %s: http \"%s\": a path parameter is a whole "
				                "segment written {field}",
				                t->file, t->name, spec);
			const char *name = seg + 1;
			size_t nlen = len - 2;
			const sg_field *f = NULL;
			for (size_t k = 0; k < t->nfields; k++)
				if (strlen(t->fields[k].name) == nlen &&
				    memcmp(t->fields[k].name, name, nlen) == 0)
					f = &t->fields[k];
			if (!f || (f->flags & CN_FF_DEPRECATED))
				return sg_error(
				        "%s: %s: http \"%s\": path parameter {%.*s} is not a "
				        "field of %s",
				        t->file, t->name, spec, (int)nlen, name, t->short_name);
			if (f->type == CN_FT_TABLE || f->type == CN_FT_VECTOR)
				return sg_error(
				        "%s: %s: http \"%s\": path parameter {%.*s} must be a "
				        "scalar or string field",
				        t->file, t->name, spec, (int)nlen, name);
		} else {
			for (size_t k = 0; k < len; k++) {
				unsigned char c = (unsigned char)seg[k];
				if (!isalnum(c) && !strchr("-._~:@!$&'()*+,;=", c))
					return sg_error(
					        "%s: %s: http \"%s\": character '%c' is not "
					        "allowed in a path",
					        t->file, t->name, spec, c);
			}
		}
		i++; /* past the '/' (or past the end) */
	}
	if (path[n - 1] == '/')
		return sg_error("%s: %s: http \"%s\": trailing '/'", t->file, t->name, spec);
	return true;
}

static bool route_add(sg_schema *s, const sg_route *r)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		const sg_route *o = &s->routes[i];
		if (o->api_major == r->api_major && strcmp(o->method, r->method) == 0 &&
		    strcmp(o->path, r->path) == 0)
			return sg_error("route %s /api/%u.0%s is declared by both %s and %s",
			                r->method, r->api_major, r->path,
			                s->tables[o->request].name, s->tables[r->request].name);
	}
	sg_route *nr = realloc(s->routes, (s->nroutes + 1) * sizeof *nr);
	if (!nr)
		return sg_error("out of memory");
	s->routes = nr;
	s->routes[s->nroutes++] = *r;
	return true;
}

/* One "METHOD /path" of the http attribute (spec points at n bytes). */
static bool route_parse_one(sg_schema *s, int ti, const char *full, const char *spec, size_t n,
                            const sg_route *tmpl)
{
	const sg_table *t = &s->tables[ti];
	while (n && isspace((unsigned char)*spec))
		spec++, n--;
	while (n && isspace((unsigned char)spec[n - 1]))
		n--;
	size_t mlen = 0;
	while (mlen < n && !isspace((unsigned char)spec[mlen]))
		mlen++;
	size_t p = mlen;
	while (p < n && isspace((unsigned char)spec[p]))
		p++;
	if (!route_method_ok(spec, mlen) || p == mlen || p == n)
		return sg_error("%s: %s: malformed http \"%s\": each '|'-separated part must be "
		                "\"METHOD /path\" with METHOD one of GET POST PATCH DELETE PUT",
		                t->file, t->name, full);
	for (size_t k = p; k < n; k++)
		if (isspace((unsigned char)spec[k]))
			return sg_error("%s: %s: malformed http \"%s\": space inside a path",
			                t->file, t->name, full);
	if (!route_check_path(t, full, spec + p, n - p))
		return false;
	sg_route r = *tmpl;
	r.method = strndup(spec, mlen);
	r.path = strndup(spec + p, n - p);
	if (!r.method || !r.path || !route_add(s, &r)) {
		free(r.method);
		free(r.path);
		return r.method && r.path ? false : sg_error("out of memory");
	}
	return true;
}

static bool route_table(sg_schema *s, int ti)
{
	const sg_table *t = &s->tables[ti];
	const char *service = route_attr(t, "service");
	const char *http = route_attr(t, "http");
	const char *response = route_attr(t, "response");
	const char *since = route_attr(t, "since");
	const char *max_body = route_attr(t, "max_body");
	if (!service && !http && !response && !since && !max_body)
		return true;
	if (!service || !*service)
		return sg_error("%s: %s: a request table needs a `service` attribute", t->file,
		                t->name);
	if (!response || !*response)
		return sg_error("%s: %s: a request table needs a `response` attribute", t->file,
		                t->name);
	sg_route tmpl = {.service = service, .request = ti, .api_major = 2};
	if (!route_response(s, t, response, &tmpl.response))
		return false;
	unsigned long v;
	if (since) {
		if (!route_number(since, 1, 99, &v))
			return sg_error("%s: %s: since \"%s\" must be an API major version (2, 3)",
			                t->file, t->name, since);
		tmpl.api_major = (unsigned)v;
	}
	if (max_body) {
		if (!route_number(max_body, 1, UINT32_MAX, &v))
			return sg_error("%s: %s: max_body \"%s\" must be a byte count (1 to %u)",
			                t->file, t->name, max_body, UINT32_MAX);
		tmpl.max_body = (uint32_t)v;
	}
	if (!http)
		return true; /* a bus-only call: no HTTP route */
	const char *p = http;
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (!route_parse_one(s, ti, http, p, n, &tmpl))
			return false;
		if (!bar)
			break;
		p = bar + 1;
	}
	return true;
}

bool sg_build_routes(sg_schema *s)
{
	bool ok = true;
	for (size_t i = 0; i < s->ntables; i++)
		if (!route_table(s, (int)i))
			ok = false;
	return ok;
}
