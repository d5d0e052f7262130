/*
 * core/otlp/otlp_req.c: a parsed request's life (limits, parse, free) and
 * the checks both wire formats share.
 */
#include "core/otlp/otlp_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

cn_otlp_limits cn_otlp_default_limits(void)
{
	cn_otlp_limits l = {
	        .max_body = (size_t)64 << 20,
	        .max_memory = (size_t)512 << 20,
	        .max_depth = 16,
	        .max_key = 4096,
	        .max_name = 65536,
	        .max_spans = 200000,
	};
	return l;
}

int cn_otlp_format_of(const char *ct)
{
	if (!ct)
		return -1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == strlen("application/x-protobuf") &&
	    strncasecmp(ct, "application/x-protobuf", n) == 0)
		return CN_OTLP_PROTOBUF;
	if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
		return CN_OTLP_JSON;
	return -1;
}

static cn_code req_check_kvs(const cn_otlp_req *r, otlp_kv *const *kvs, size_t n, const char *what,
                             cn_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(kvs[i]->key) > r->lim.max_key)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "%s attribute key of %zu bytes is over the limit of %zu",
			                  what, strlen(kvs[i]->key), r->lim.max_key);
	return CN_OK;
}

cn_code otlp_check_limits(const cn_otlp_req *r, cn_err *err)
{
	size_t spans = 0;
	const otlp_export *m = r->msg;
	for (size_t i = 0; i < m->n_resource_spans; i++) {
		const otlp_rspans *rs = m->resource_spans[i];
		if (rs->resource && req_check_kvs(r, rs->resource->attributes,
		                                  rs->resource->n_attributes, "Resource", err))
			return err->code;
		for (size_t j = 0; j < rs->n_scope_spans; j++) {
			const otlp_sspans *ss = rs->scope_spans[j];
			spans += ss->n_spans;
			if (spans > r->lim.max_spans)
				return cn_err_set(
				        err, CN_INVALID_PARAMETER_VALUE,
				        "OTLP request has more than %zu spans; send smaller "
				        "batches",
				        r->lim.max_spans);
			for (size_t k = 0; k < ss->n_spans; k++) {
				const otlp_span *s = ss->spans[k];
				if (strlen(s->name) > r->lim.max_name)
					return cn_err_set(
					        err, CN_INVALID_PARAMETER_VALUE,
					        "Span name of %zu bytes is over the limit of %zu",
					        strlen(s->name), r->lim.max_name);
				if (req_check_kvs(r, s->attributes, s->n_attributes, "Span", err))
					return err->code;
				for (size_t e = 0; e < s->n_events; e++) {
					if (strlen(s->events[e]->name) > r->lim.max_name)
						return cn_err_set(
						        err, CN_INVALID_PARAMETER_VALUE,
						        "Event name over the limit of %zu bytes",
						        r->lim.max_name);
					if (req_check_kvs(r, s->events[e]->attributes,
					                  s->events[e]->n_attributes, "Event", err))
						return err->code;
				}
			}
		}
	}
	return CN_OK;
}

cn_code cn_otlp_parse(cn_otlp_format f, const void *body, size_t len, const cn_otlp_limits *lim,
                      cn_otlp_req **out, cn_err *err)
{
	*out = NULL;
	cn_otlp_limits l = lim ? *lim : cn_otlp_default_limits();
	if (len > l.max_body)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "OTLP request body of %zu bytes is over the limit of %zu", len,
		                  l.max_body);
	cn_otlp_req *r = calloc(1, sizeof *r);
	if (!r)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	r->lim = l;
	otlp_arena_init(&r->arena, l.max_memory);
	cn_code rc = f == CN_OTLP_JSON ? otlp_parse_json(r, body, len, err)
	                               : otlp_parse_pb(r, body, len, err);
	if (rc == CN_OK)
		rc = otlp_check_limits(r, err);
	if (rc != CN_OK) {
		cn_otlp_req_free(r);
		return rc;
	}
	*out = r;
	return CN_OK;
}

void cn_otlp_req_free(cn_otlp_req *r)
{
	if (!r)
		return;
	otlp_arena_free(&r->arena);
	free(r);
}

size_t cn_otlp_span_count(const cn_otlp_req *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->msg->n_resource_spans; i++)
		for (size_t j = 0; j < r->msg->resource_spans[i]->n_scope_spans; j++)
			n += r->msg->resource_spans[i]->scope_spans[j]->n_spans;
	return n;
}
