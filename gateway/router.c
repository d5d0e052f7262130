/*
 * gateway/router.c: method + path -> endpoint.
 *
 * A trie of path segments. Each node keeps its literal children sorted (a
 * binary search per segment), at most one parameter child ({x}: one
 * segment) and one rest child ({x...}: all remaining segments). A look-up
 * costs one binary search per segment whatever the number of routes, and
 * allocates nothing. Parameter names belong to the mounted endpoint, not to
 * the node, because two routes may name the same position differently
 * (/traces/{request_id}/info and /traces/{trace_id}).
 */
#include "gateway/gw_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct router_term {
	cn_gw_endpoint *ep;
	size_t nnames;
	char *names[CN_GW_MAX_PARAMS];
} router_term;

typedef struct router_node router_node;
struct router_node {
	char *seg; /* literal segment of a literal child */
	size_t seglen;
	router_node **lit; /* sorted by (seglen, memcmp) */
	size_t nlit, caplit;
	router_node *param;
	router_node *rest;
	router_term term[CN_GW_NMETHODS];
};

struct cn_gw_router {
	router_node root;
};

static const char *const router_methods[CN_GW_NMETHODS] = {"GET",   "HEAD",   "POST",    "PUT",
                                                           "PATCH", "DELETE", "OPTIONS", "OTHER"};

int cn_gw_method_parse(const char *name)
{
	for (int m = 0; m < CN_GW_OTHER; m++)
		if (strcmp(name, router_methods[m]) == 0)
			return m;
	return CN_GW_OTHER;
}

const char *cn_gw_method_name(int m)
{
	return (m >= 0 && m < CN_GW_NMETHODS) ? router_methods[m] : "OTHER";
}

static int router_segcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* Index of the literal child equal to seg, or -(insertion point) - 1. */
static long router_find(const router_node *n, const char *seg, size_t len)
{
	size_t lo = 0, hi = n->nlit;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = router_segcmp(n->lit[mid]->seg, n->lit[mid]->seglen, seg, len);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static router_node *router_literal_child(router_node *n, const char *seg, size_t len)
{
	long at = router_find(n, seg, len);
	if (at >= 0)
		return n->lit[at];
	size_t pos = (size_t)(-at - 1);
	if (n->nlit == n->caplit) {
		size_t cap = n->caplit ? 2 * n->caplit : 4;
		router_node **lit = realloc(n->lit, cap * sizeof *lit);
		if (!lit)
			return NULL;
		n->lit = lit;
		n->caplit = cap;
	}
	router_node *c = calloc(1, sizeof *c);
	if (!c || !(c->seg = strndup(seg, len))) {
		free(c);
		return NULL;
	}
	c->seglen = len;
	memmove(n->lit + pos + 1, n->lit + pos, (n->nlit - pos) * sizeof *n->lit);
	n->lit[pos] = c;
	n->nlit++;
	return c;
}

static router_node *router_special_child(router_node **slot)
{
	if (!*slot)
		*slot = calloc(1, sizeof **slot);
	return *slot;
}

cn_gw_router *cn_gw_router_new(void)
{
	return calloc(1, sizeof(cn_gw_router));
}

cn_code cn_gw_router_add(cn_gw_router *rt, int method, const char *path, cn_gw_endpoint *ep,
                         cn_err *err)
{
	if (!path || path[0] != '/' || method < 0 || method >= CN_GW_NMETHODS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "route path '%s' must start with '/'", path ? path : "(null)");
	router_node *n = &rt->root;
	const char *names[CN_GW_MAX_PARAMS];
	size_t namelen[CN_GW_MAX_PARAMS];
	size_t nnames = 0;
	const char *p = path;
	while (*p == '/') {
		const char *seg = p + 1;
		const char *end = strchr(seg, '/');
		if (!end)
			end = seg + strlen(seg);
		size_t len = (size_t)(end - seg);
		p = end;
		if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') {
			bool rest = len > 5 && memcmp(seg + len - 4, "...}", 4) == 0;
			size_t nlen = len - 2 - (rest ? 3 : 0);
			if (nlen == 0 || memchr(seg + 1, '{', nlen) || memchr(seg + 1, '}', nlen))
				return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                  "route '%s': malformed parameter segment", path);
			if (rest && *p)
				return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                  "route '%s': {name...} must be the last segment",
				                  path);
			if (nnames == CN_GW_MAX_PARAMS)
				return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                  "route '%s': more than %d parameters", path,
				                  CN_GW_MAX_PARAMS);
			names[nnames] = seg + 1;
			namelen[nnames++] = nlen;
			n = router_special_child(rest ? &n->rest : &n->param);
		} else {
			n = router_literal_child(n, seg, len);
		}
		if (!n)
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory building routes");
	}
	if (*p)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "route path '%s' is malformed",
		                  path);
	router_term *t = &n->term[method];
	if (t->ep)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "route %s %s is defined twice",
		                  cn_gw_method_name(method), path);
	for (size_t i = 0; i < nnames; i++) {
		t->names[i] = strndup(names[i], namelen[i]);
		if (!t->names[i]) {
			while (i--)
				free(t->names[i]);
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory building routes");
		}
	}
	t->nnames = nnames;
	t->ep = ep;
	return CN_OK;
}

/* Terminal check at node n with vals[0..nv) collected. Returns true when
 * the method is served; otherwise records the methods the path accepts. */
static bool router_terminal(const router_node *n, int method, const cn_gw_pathval *vals, size_t nv,
                            cn_gw_match *m)
{
	const router_term *t = &n->term[method];
	if (!t->ep && method == CN_GW_HEAD)
		t = &n->term[CN_GW_GET];
	if (t->ep && t->nnames == nv) {
		m->ep = t->ep;
		m->status = 0;
		m->nparams = nv;
		for (size_t i = 0; i < nv; i++) {
			m->params[i] = vals[i];
			m->params[i].name = t->names[i];
		}
		return true;
	}
	for (int i = 0; i < CN_GW_NMETHODS; i++)
		if (n->term[i].ep)
			m->allow |= 1u << i;
	return false;
}

static bool router_walk(const router_node *n, const char *p, const char *end, int method,
                        cn_gw_pathval *vals, size_t nv, cn_gw_match *m)
{
	if (p == end)
		return router_terminal(n, method, vals, nv, m);
	if (*p != '/')
		return false;
	const char *seg = p + 1;
	const char *next = memchr(seg, '/', (size_t)(end - seg));
	if (!next)
		next = end;
	size_t len = (size_t)(next - seg);
	long at = router_find(n, seg, len);
	if (at >= 0 && router_walk(n->lit[at], next, end, method, vals, nv, m))
		return true;
	if (nv < CN_GW_MAX_PARAMS && len > 0) {
		vals[nv].val = seg;
		vals[nv].len = len;
		if (n->param && router_walk(n->param, next, end, method, vals, nv + 1, m))
			return true;
		vals[nv].len = (size_t)(end - seg);
		if (n->rest && router_terminal(n->rest, method, vals, nv + 1, m))
			return true;
	}
	return false;
}

void cn_gw_router_match(const cn_gw_router *rt, int method, const char *path, size_t len,
                        cn_gw_match *m)
{
	cn_gw_pathval vals[CN_GW_MAX_PARAMS];
	m->ep = NULL;
	m->allow = 0;
	m->nparams = 0;
	if (method < 0 || method >= CN_GW_NMETHODS)
		method = CN_GW_OTHER;
	/* Bound the work on absurd paths. The walk itself recurses no deeper
	 * than the longest route (a segment with no child ends it), so the bound
	 * only needs to let through artifact paths ({path...}: up to 1024 bytes,
	 * so at most 512 segments, after the route's own). */
	size_t slashes = 0;
	for (size_t i = 0; i < len; i++)
		slashes += path[i] == '/';
	if (len > 0 && path[0] == '/' && slashes <= 1024 &&
	    router_walk(&rt->root, path, path + len, method, vals, 0, m))
		return;
	m->ep = NULL;
	m->nparams = 0;
	m->status = m->allow ? 405 : 404;
}

static void router_node_free(router_node *n)
{
	for (size_t i = 0; i < n->nlit; i++) {
		router_node_free(n->lit[i]);
		free(n->lit[i]);
	}
	free(n->lit);
	free(n->seg);
	if (n->param) {
		router_node_free(n->param);
		free(n->param);
	}
	if (n->rest) {
		router_node_free(n->rest);
		free(n->rest);
	}
	for (int m = 0; m < CN_GW_NMETHODS; m++)
		for (size_t i = 0; i < n->term[m].nnames; i++)
			free(n->term[m].names[i]);
}

void cn_gw_router_free(cn_gw_router *rt)
{
	if (!rt)
		return;
	router_node_free(&rt->root);
	free(rt);
}
