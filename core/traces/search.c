/*
 * core/traces/search.c: SearchTracesV3 and the 2.0 SearchTraces.
 *
 * Each experiment searched is a cursor over an index in request-time order
 * (traces_by_time, or trace_tag_index / trace_metadata_index when the
 * filter has an equality on a tag or a metadata key, which makes
 * `tags.k = 'v'` one prefix scan however rare the value); the cursors are
 * merged, each candidate's record is read and checked against the whole
 * filter, and the page stops at max_results. Page tokens are keysets
 * (request time, trace id) of the last trace returned, so traces written
 * while paging neither shift nor repeat the pages.
 *
 * The filter is compiled and matched through the seam in traces_int.h
 * (filter.c today; tracesearch's dialect later).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_api.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_MAX_EXPS 100

/* ---- cursors ---- */

typedef struct trc_cursor {
	cn_kv_iter *it;
	cn_key prefix;
	bool valid;
	int64_t ms;
	char id[TRC_ID_MAX + 1];
	size_t idlen;
} trc_cursor;

static void trc_cursor_read(trc_cursor *c)
{
	c->valid = cn_kv_iter_valid(c->it);
	if (!c->valid)
		return;
	size_t klen, pos = c->prefix.len;
	const uint8_t *key = cn_kv_iter_key(c->it, &klen);
	int64_t neg;
	if (!cn_key_get_i64(key, klen, &pos, &neg) || klen - pos > TRC_ID_MAX) {
		c->valid = false;
		return;
	}
	c->ms = -neg;
	c->idlen = klen - pos;
	memcpy(c->id, key + pos, c->idlen);
	c->id[c->idlen] = '\0';
}

static void trc_cursor_step(trc_cursor *c, bool desc)
{
	if (desc)
		cn_kv_iter_next(c->it);
	else
		cn_kv_iter_prev(c->it);
	trc_cursor_read(c);
}

/* Position at the first entry after (ms, id) in the order (or the start). */
static void trc_cursor_start(trc_cursor *c, bool desc, bool has_after, int64_t ms, const char *id)
{
	if (!has_after) {
		if (desc)
			cn_kv_iter_seek_first(c->it);
		else
			cn_kv_iter_seek_last(c->it);
		trc_cursor_read(c);
		return;
	}
	cn_key k = c->prefix;
	cn_key_i64(&k, -ms);
	cn_key_raw(&k, id, strlen(id));
	if (desc)
		cn_kv_iter_seek(c->it, k.b, k.len);
	else
		cn_kv_iter_seek_for_prev(c->it, k.b, k.len);
	trc_cursor_read(c);
	if (c->valid && c->ms == ms && strcmp(c->id, id) == 0)
		trc_cursor_step(c, desc);
}

/* Does a come before b in the order? (DESC: newer first; ties by id.) */
static bool trc_before(const trc_cursor *a, const trc_cursor *b, bool desc)
{
	if (a->ms != b->ms)
		return desc ? a->ms > b->ms : a->ms < b->ms;
	int c = strcmp(a->id, b->id);
	return desc ? c < 0 : c > 0;
}

typedef struct trc_search_req {
	const char *exps[TRC_MAX_EXPS];
	size_t exp_len[TRC_MAX_EXPS];
	size_t nexps;
	const char *filter;
	int64_t max_results;
	bool desc;
	bool has_after;
	int64_t after_ms;
	char after_id[TRC_ID_MAX + 1];
} trc_search_req;

static cn_code trc_parse_order(cn_fb_vec ob, bool *desc, cn_err *err)
{
	*desc = true;
	for (uint32_t i = 0; i < ob.n; i++) {
		cn_fb_str o = cn_fb_vec_str(ob, i);
		char buf[128];
		snprintf(buf, sizeof buf, "%.*s", (int)(o.len < 120 ? o.len : 120),
		         o.ptr ? o.ptr : "");
		char col[64] = "", dir[16] = "";
		int n = sscanf(buf, "%63s %15s", col, dir);
		const char *c = col;
		if (!strncmp(c, "trace.", 6))
			c += 6;
		else if (!strncmp(c, "attributes.", 11))
			c += 11;
		if (n < 1 || (strcmp(c, "timestamp_ms") && strcmp(c, "timestamp") &&
		              strcmp(c, "request_time")))
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid order_by clause '%s': only timestamp_ms (ASC or DESC) "
			        "is supported",
			        buf);
		if (n == 2 && strcasecmp(dir, "ASC") && strcasecmp(dir, "DESC"))
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid order_by clause '%s': direction must be ASC or DESC", buf);
		if (i == 0)
			*desc = n < 2 || !strcasecmp(dir, "DESC");
	}
	return CN_OK;
}

static cn_code trc_parse_token(cn_fb_str tok, trc_search_req *r, cn_err *err)
{
	if (!tok.len)
		return CN_OK;
	char buf[128];
	if (tok.len >= sizeof buf)
		goto bad;
	memcpy(buf, tok.ptr, tok.len);
	buf[tok.len] = '\0';
	char id[TRC_ID_MAX + 1];
	long long ms;
	if (sscanf(buf, "t1.%lld.%64s", &ms, id) != 2 || !trc_valid_trace_id(id, strlen(id)))
		goto bad;
	r->has_after = true;
	r->after_ms = ms;
	snprintf(r->after_id, sizeof r->after_id, "%s", id);
	return CN_OK;
bad:
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid page token");
}

/* Run the search; fills out[] with pinned records (caller releases). */
static cn_code trc_search_run(trc_state *s, trc_search_req *r, trc_info *out, size_t *nout,
                              bool *full, cn_err *err)
{
	trc_filter *f = NULL;
	cn_code rc = trc_filter_compile(r->filter, &f, err);
	if (rc != CN_OK)
		return rc;
	/* A tag or metadata equality picks the index to walk. */
	trc_index_hint hint;
	bool ix = trc_filter_index_hint(f, &hint);
	trc_cursor *cur = calloc(r->nexps ? r->nexps : 1, sizeof *cur);
	if (!cur) {
		trc_filter_free(f);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	for (size_t e = 0; e < r->nexps; e++) {
		cn_key_init(&cur[e].prefix);
		cn_key_str(&cur[e].prefix, r->exps[e], r->exp_len[e]);
		int cf = TRC_CF_BY_TIME;
		if (ix) {
			cf = hint.cf;
			cn_key_str(&cur[e].prefix, hint.key, strlen(hint.key));
			cn_key_str(&cur[e].prefix, hint.value, hint.value_len);
		}
		cur[e].it = cn_kv_iter_new(s->db, cf, cur[e].prefix.b, cur[e].prefix.len);
		if (!cur[e].it) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		trc_cursor_start(&cur[e], r->desc, r->has_after, r->after_ms, r->after_id);
	}
	*nout = 0;
	while (rc == CN_OK && *nout < (size_t)r->max_results) {
		trc_cursor *best = NULL;
		for (size_t e = 0; e < r->nexps; e++)
			if (cur[e].valid && (!best || trc_before(&cur[e], best, r->desc)))
				best = &cur[e];
		if (!best)
			break;
		trc_info info;
		cn_code g = trc_info_get(s, best->id, best->idlen, &info, err);
		if (g == CN_OK) {
			/* The index entry may be stale by a moment; the record decides. */
			if (cn_TraceRecord_request_time_ms(info.t) == best->ms &&
			    trc_filter_match(s, f, info.t))
				out[(*nout)++] = info;
			else
				trc_info_release(&info);
		} else if (g != CN_RESOURCE_DOES_NOT_EXIST) {
			rc = g;
		}
		trc_cursor_step(best, r->desc);
	}
	for (size_t e = 0; e < r->nexps; e++) {
		if (rc == CN_OK && cur[e].it)
			rc = cn_kv_iter_status(cur[e].it, err);
		cn_kv_iter_free(cur[e].it);
	}
	free(cur);
	trc_filter_free(f);
	*full = *nout == (size_t)r->max_results;
	if (rc != CN_OK) {
		for (size_t i = 0; i < *nout; i++)
			trc_info_release(&out[i]);
		*nout = 0;
	}
	return rc;
}

static cn_code trc_max_results(bool has, int32_t v, int64_t *out, cn_err *err)
{
	*out = has ? v : TRC_SEARCH_DEFAULT;
	if (*out < 1 || *out > TRC_SEARCH_MAX)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid value %lld for parameter 'max_results' supplied. It must be "
		        "a positive integer at most %d",
		        (long long)*out, TRC_SEARCH_MAX);
	return CN_OK;
}

static cn_code trc_search_common(trc_state *s, trc_search_req *r, cn_fb_vec order, cn_fb_str token,
                                 cn_fb_builder *b, bool v3, cn_fb_ref *vec, cn_fb_ref *next,
                                 cn_err *err)
{
	cn_code rc = trc_parse_order(order, &r->desc, err);
	if (rc == CN_OK)
		rc = trc_parse_token(token, r, err);
	if (rc != CN_OK)
		return rc;
	trc_info *found = calloc((size_t)r->max_results, sizeof *found);
	cn_fb_ref *refs = calloc((size_t)r->max_results, sizeof *refs);
	size_t n = 0;
	bool full = false;
	if (!found || !refs)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	else
		rc = trc_search_run(s, r, found, &n, &full, err);
	*next = 0;
	if (rc == CN_OK) {
		for (size_t i = 0; i < n; i++)
			refs[i] = v3 ? trc_build_info_v3(b, found[i].t)
			             : trc_build_info_v2(b, found[i].t);
		*vec = cn_fb_create_vec_refs(b, refs, n);
		if (full && n) {
			cn_fb_table last = found[n - 1].t;
			cn_fb_str id = cn_TraceRecord_trace_id(last);
			char tok[128];
			snprintf(tok, sizeof tok, "t1.%" PRId64 ".%.*s",
			         cn_TraceRecord_request_time_ms(last), (int)id.len, id.ptr);
			*next = cn_fb_create_cstr(b, tok);
		}
		for (size_t i = 0; i < n; i++)
			trc_info_release(&found[i]);
	}
	free(found);
	free(refs);
	return rc;
}

TRC_METHOD(trc_search_traces_v3)
{
	(void)ctx;
	trc_state *s = st;
	trc_search_req r = {0};
	cn_fb_vec locs = cn_SearchTracesV3_locations(req);
	if (locs.n == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At least one trace location (experiment) must be specified.");
	if (locs.n > TRC_MAX_EXPS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d locations may be searched at once", TRC_MAX_EXPS);
	for (uint32_t i = 0; i < locs.n; i++) {
		cn_fb_str e = cn_MlflowExperimentLocation_experiment_id(
		        cn_TraceLocation_mlflow_experiment(cn_fb_vec_table(locs, i)));
		if (!e.len)
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Only MLFLOW_EXPERIMENT trace locations with an experiment_id "
			        "are supported");
		r.exps[r.nexps] = e.ptr;
		r.exp_len[r.nexps++] = e.len;
	}
	cn_fb_str f = cn_SearchTracesV3_filter(req);
	char *filter = strndup(f.ptr ? f.ptr : "", f.len);
	if (!filter)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	r.filter = filter;
	cn_code rc = trc_max_results(cn_SearchTracesV3_has_max_results(req),
	                             cn_SearchTracesV3_max_results(req), &r.max_results, err);
	cn_fb_ref vec = 0, next = 0;
	if (rc == CN_OK)
		rc = trc_search_common(s, &r, cn_SearchTracesV3_order_by(req),
		                       cn_SearchTracesV3_page_token(req), b, true, &vec, &next,
		                       err);
	free(filter);
	if (rc != CN_OK)
		return rc;
	cn_SearchTracesV3Response_start(b);
	cn_SearchTracesV3Response_add_traces(b, vec);
	if (next)
		cn_SearchTracesV3Response_add_next_page_token(b, next);
	*resp = cn_SearchTracesV3Response_end(b);
	return CN_OK;
}

TRC_METHOD(trc_search_traces_v2)
{
	(void)ctx;
	trc_state *s = st;
	trc_search_req r = {0};
	cn_fb_vec exps = cn_SearchTraces_experiment_ids(req);
	if (exps.n == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At least one experiment ID must be specified.");
	if (exps.n > TRC_MAX_EXPS)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d experiments may be searched at once", TRC_MAX_EXPS);
	for (uint32_t i = 0; i < exps.n; i++) {
		cn_fb_str e = cn_fb_vec_str(exps, i);
		r.exps[r.nexps] = e.ptr;
		r.exp_len[r.nexps++] = e.len;
	}
	cn_fb_str f = cn_SearchTraces_filter(req);
	char *filter = strndup(f.ptr ? f.ptr : "", f.len);
	if (!filter)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	r.filter = filter;
	cn_code rc = trc_max_results(cn_SearchTraces_has_max_results(req),
	                             cn_SearchTraces_max_results(req), &r.max_results, err);
	cn_fb_ref vec = 0, next = 0;
	if (rc == CN_OK)
		rc = trc_search_common(s, &r, cn_SearchTraces_order_by(req),
		                       cn_SearchTraces_page_token(req), b, false, &vec, &next, err);
	free(filter);
	if (rc != CN_OK)
		return rc;
	cn_SearchTracesResponse_start(b);
	cn_SearchTracesResponse_add_traces(b, vec);
	if (next)
		cn_SearchTracesResponse_add_next_page_token(b, next);
	*resp = cn_SearchTracesResponse_end(b);
	return CN_OK;
}
