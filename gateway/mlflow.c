/*
 * gateway/mlflow.c: MLflow routes, from HTTP to the bus and back.
 *
 * Decode (query string or JSON body, plus path parameters) straight into
 * the route's request FlatBuffer, park the connection, call the route's
 * service asynchronously; when the reply comes back on the HTTP thread,
 * verify it against the route's response table and encode it to JSON. The
 * codecs do all per-endpoint work from the schema descriptors, so nothing
 * here knows any endpoint.
 */
#include "gateway/gw_int.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

/* Builders start at this size and keep what they grew to. */
#define MLFLOW_BUILDER_BYTES 4096

/* Keep the bus's words on a failed call for the answer. */
static void mlflow_keep_msg(cn_gw_request *r, const cn_err *err)
{
	const char *m = err && err->msg[0] ? err->msg : "service unavailable";
	size_t n = strnlen(m, sizeof r->bus_msg - 1);
	memcpy(r->bus_msg, m, n);
	r->bus_msg[n] = '\0';
}

/* Bus completion, on a bus thread (nng's, or on inproc:// the service
 * worker that served the call): store the result, resume. */
static void mlflow_done(void *arg, cn_code code, cn_bus_reply *reply, const cn_err *err)
{
	cn_gw_request *r = arg;
	bool claimed = cn_gw_claim(r);
	if (claimed) {
		r->bus_code = code;
		if (code == CN_OK) {
			r->reply = *reply;
		} else {
			mlflow_keep_msg(r, err);
		}
	} else if (code == CN_OK) {
		cn_bus_reply_free(reply); /* nobody waits for it any more */
	}
	cn_gw_unpark(r, claimed);
}

static bool mlflow_use_query(const cn_gw_request *r)
{
	if (r->method == CN_GW_GET || r->method == CN_GW_HEAD)
		return true;
	/* MLflow's clients sometimes put DELETE parameters in the query. */
	return r->method == CN_GW_DELETE && r->body.len == 0;
}

void cn_gw_mlflow_dispatch(cn_gw_request *r)
{
	cn_gateway *g = r->gw;
	const cn_gw_endpoint *ep = r->ep;
	const cn_route *rt = ep->route;
	if (g->cfg.artifacts_only) {
		/* As MLflow's --artifacts-only: tracking and registry are off here. */
		size_t n = r->path_len > 400 ? 400 : r->path_len;
		cn_gw_set_error(r, CN_TEMPORARILY_UNAVAILABLE,
		                "Endpoint: %.*s disabled due to the Cairn server running in "
		                "artifacts_only mode (--artifacts-only). To enable tracking server "
		                "functionality, run without --artifacts-only",
		                (int)n, r->uri.p ? r->uri.p : "");
		return;
	}
	if (!ep->client) {
		cn_gw_set_error(r, CN_TEMPORARILY_UNAVAILABLE,
		                "service '%s' has no address (set service.%s)", rt->service,
		                rt->service);
		return;
	}
	if (r->fb)
		cn_fb_builder_reset(r->fb);
	else if (!(r->fb = cn_fb_builder_new(MLFLOW_BUILDER_BYTES))) {
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory");
		return;
	}
	cn_err err;
	cn_err_clear(&err);
	cn_fb_ref root = 0;
	cn_code code;
	if (mlflow_use_query(r))
		code = cn_query_decode(&cn_schema_cairn, rt->request, r->query, r->query_len,
		                       r->params, r->nparams, r->fb, &root, &err);
	else
		code = cn_json_decode(&cn_schema_cairn, rt->request, r->body.p ? r->body.p : "",
		                      r->body.len, r->params, r->nparams, r->fb, &root, &err);
	if (code != CN_OK) {
		cn_gw_set_error(r, code, "%s", err.msg);
		return;
	}
	const uint8_t *buf = NULL;
	size_t len = 0;
	if (!cn_fb_finish(r->fb, root, &buf, &len)) {
		cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory building the request");
		return;
	}
	char caller[CN_GW_CALLER_MAX], client_addr[CN_GW_ADDR_MAX];
	cn_gw_identity(r, caller, sizeof caller, client_addr, sizeof client_addr);
	cn_bus_call call = {
	        .method = cn_schema_cairn.tables[rt->request].short_name,
	        .request_id = r->req_id,
	        .caller = caller,
	        .deadline_ms = cn_now_ms() + g->cfg.request_timeout_ms,
	        .payload = buf,
	        .payload_len = len,
	};
	if (g->per_connection) {
		/* This connection has its own thread: serve the call on it (or,
		 * for a service in another process, wait for it here). */
		if (!r->reply_fb && !(r->reply_fb = cn_fb_builder_new(MLFLOW_BUILDER_BYTES))) {
			cn_gw_set_error(r, CN_INTERNAL_ERROR, "out of memory");
			return;
		}
		atomic_fetch_add(&g->serving, 1);
		r->bus_code = cn_bus_call_here(ep->client, &call, client_addr, r->reply_fb,
		                               &r->reply, &err);
		atomic_fetch_sub(&g->serving, 1);
		if (r->bus_code != CN_OK)
			mlflow_keep_msg(r, &err);
		cn_gw_mlflow_reply(r);
		return;
	}
	r->bus_pending = true;
	if (!cn_gw_park(r))
		return; /* shutting down: answered 503 on resume */
	code = cn_bus_call_async_from(ep->client, &call, client_addr, mlflow_done, r, &err);
	if (code != CN_OK)
		mlflow_done(r, code, NULL, &err); /* done never runs: complete it here */
}

void cn_gw_mlflow_reply(cn_gw_request *r)
{
	const cn_route *rt = r->ep->route;
	r->bus_pending = false;
	if (r->bus_code != CN_OK) {
		/* Unreachable, too slow, or gone: the bus's own words. */
		cn_gw_set_error(r, CN_TEMPORARILY_UNAVAILABLE, "%s", r->bus_msg);
		return;
	}
	cn_bus_reply *rep = &r->reply;
	if (rep->code != CN_OK) {
		cn_gw_set_error(r, rep->code, "%s", rep->message ? rep->message : "");
	} else {
		cn_err err;
		cn_err_clear(&err);
		if (cn_fb_verify(&cn_schema_cairn, rt->response, rep->payload, rep->payload_len,
		                 &err) != CN_OK) {
			CN_LOGE("GATEWAY-BAD-REPLY", r->req_id, "service=%s method=%s: %s",
			        rt->service, cn_schema_cairn.tables[rt->request].short_name,
			        err.msg);
			cn_gw_set_error(r, CN_INTERNAL_ERROR,
			                "service '%s' sent a malformed reply: %s", rt->service,
			                err.msg);
		} else {
			cn_buf_reset(&r->out);
			if (cn_json_encode(&cn_schema_cairn, rt->response, cn_fb_root(rep->payload),
			                   &r->out) != CN_OK)
				cn_gw_set_error(r, CN_INTERNAL_ERROR,
				                "out of memory encoding the reply");
			else {
				r->status = 200;
				memcpy(r->ctype, "application/json", sizeof "application/json");
				r->responded = true;
			}
		}
	}
	cn_bus_reply_free(rep);
	memset(rep, 0, sizeof *rep);
}
