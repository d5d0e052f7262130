/*
 * gateway/otlp.c: POST /v1/traces (see gateway/otlp.h).
 *
 * Runs on the HTTP thread up to the bus call (headers, inflate, decode and
 * the IngestSpans build: a 512-span batch takes well under a millisecond),
 * then the connection waits parked for the traces service, and the bus
 * callback answers.
 */
#include "gateway/otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/otlp/otlp.h"
#include "gateway/gw_int.h"
#include "schemas/cairn_schema.h"

#define OTLP_PATH          "/v1/traces"
#define OTLP_HEADER        "x-mlflow-experiment-id"
#define OTLP_RETRY_AFTER_S "1"
/* IngestSpans must fit one bus message, with room for the envelope. */
#define OTLP_MAX_FB (CN_BUS_MAX_MSG - ((size_t)1 << 20))

typedef struct otlp_call {
	cn_gw_request *r;
	cn_otlp_format fmt;
	size_t rejected;
	char error[256];
} otlp_call;

static const char *otlp_ctype(cn_otlp_format f)
{
	return f == CN_OTLP_JSON ? "application/json" : "application/x-protobuf";
}

/* An MLflow-shaped error; overload codes get Retry-After (429 or 503). */
static void otlp_error(cn_gw_request *r, cn_code code, const char *msg)
{
	if (code != CN_TEMPORARILY_UNAVAILABLE && code != CN_RESOURCE_EXHAUSTED &&
	    code != CN_REQUEST_LIMIT_EXCEEDED) {
		cn_gw_respond_error(r, code, msg);
		return;
	}
	cn_buf body = CN_BUF_INIT;
	cn_gw_error_json(&body, code, msg);
	cn_gw_hdr h = {"Retry-After", OTLP_RETRY_AFTER_S};
	if (cn_buf_failed(&body))
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
	else
		cn_gw_respond_full(r, cn_code_http_status(code), "application/json", &h, 1, body.p,
		                   body.len);
	cn_buf_free(&body);
}

static void otlp_success(cn_gw_request *r, cn_otlp_format fmt, size_t rejected, const char *why)
{
	cn_buf out = CN_BUF_INIT;
	char msg[320];
	snprintf(msg, sizeof msg, "%zu span(s) rejected: %s", rejected, why);
	cn_otlp_response(fmt, (int64_t)rejected, rejected ? msg : NULL, &out);
	if (cn_buf_failed(&out))
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
	else
		cn_gw_respond(r, 200, otlp_ctype(fmt), out.p ? out.p : "", out.len);
	cn_buf_free(&out);
}

/* Bus thread: the traces service's answer. */
static void otlp_done(void *arg, cn_code code, cn_bus_reply *rep, const cn_err *err)
{
	otlp_call *c = arg;
	cn_gw_request *r = c->r;
	if (code != CN_OK) {
		otlp_error(r, CN_TEMPORARILY_UNAVAILABLE, err->msg);
	} else if (rep->code != CN_OK) {
		otlp_error(r, rep->code, rep->message ? rep->message : "");
	} else {
		cn_err verr;
		if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_IngestSpansResponse, rep->payload,
		                 rep->payload_len, &verr) != CN_OK) {
			CN_LOGW("OTLP-BAD-REPLY", cn_gw_request_id(r), "%s", verr.msg);
			cn_gw_respond_error(r, CN_INTERNAL_ERROR, "traces sent a malformed reply");
		} else {
			otlp_success(r, c->fmt, c->rejected, c->error);
		}
	}
	if (code == CN_OK)
		cn_bus_reply_free(rep);
	free(c);
}

/* The body, inflated when Content-Encoding asks; NULL when r was answered. */
static const char *otlp_body(cn_gw_request *r, cn_buf *inflated, size_t max, size_t *len)
{
	const char *body = cn_gw_body(r, len);
	const char *enc = cn_gw_header(r, "Content-Encoding");
	if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
		return body;
	if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "deflate") != 0) {
		char msg[200];
		snprintf(
		        msg, sizeof msg,
		        "Unsupported Content-Encoding: %.100s. Expected: gzip, deflate or identity",
		        enc);
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE, msg);
		return NULL;
	}
	cn_err err;
	if (cn_otlp_inflate(body, *len, max, inflated, &err) != CN_OK) {
		cn_gw_respond_error(r, err.code, err.msg);
		return NULL;
	}
	*len = inflated->len;
	return inflated->p ? inflated->p : "";
}

/* Decode and build; answers r and returns false on any refusal. */
static bool otlp_decode(cn_gw_request *r, int fmt, const char *exp, cn_fb_builder *b,
                        cn_fb_ref *root, cn_otlp_result *res)
{
	cn_otlp_limits lim = cn_otlp_default_limits();
	cn_buf inflated = CN_BUF_INIT;
	size_t len;
	const char *body = otlp_body(r, &inflated, lim.max_body, &len);
	if (!body) {
		cn_buf_free(&inflated);
		return false;
	}
	cn_err err;
	cn_otlp_req *req = NULL;
	cn_code rc = cn_otlp_parse((cn_otlp_format)fmt, body, len, &lim, &req, &err);
	if (rc == CN_OK)
		rc = cn_otlp_build(req, exp, b, root, res, &err);
	cn_otlp_req_free(req);
	cn_buf_free(&inflated);
	if (rc != CN_OK)
		cn_gw_respond_error(r, rc, err.msg);
	return rc == CN_OK;
}

static void otlp_complete(void *arg, cn_gw_request *r)
{
	cn_gateway *g = arg;
	const char *exp = cn_gw_header(r, OTLP_HEADER);
	if (!exp || !*exp) {
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
		                    "Missing required header: " OTLP_HEADER);
		return;
	}
	if (strlen(exp) > 256) {
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
		                    "Header " OTLP_HEADER " is longer than 256 characters");
		return;
	}
	const char *ct = cn_gw_header(r, "Content-Type");
	int fmt = cn_otlp_format_of(ct);
	if (fmt < 0) {
		char msg[200];
		snprintf(msg, sizeof msg,
		         "Invalid Content-Type: %.100s. Expected: application/x-protobuf or "
		         "application/json",
		         ct ? ct : "(none)");
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE, msg);
		return;
	}
	cn_fb_builder *b = cn_fb_builder_new(64 << 10);
	otlp_call *c = calloc(1, sizeof *c);
	if (!b || !c) {
		cn_fb_builder_free(b);
		free(c);
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
		return;
	}
	cn_fb_ref root;
	cn_otlp_result res;
	const uint8_t *buf = NULL;
	size_t len = 0;
	/* Bad input is refused as such even when the service is away. */
	cn_bus_client *client = cn_gw_client(g, "traces");
	if (!otlp_decode(r, fmt, exp, b, &root, &res)) {
		/* answered */
	} else if (!cn_fb_finish(b, root, &buf, &len)) {
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
	} else if (len > OTLP_MAX_FB) {
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
		                    "OTLP request too large once normalised for storage; send "
		                    "smaller batches");
	} else if (res.accepted == 0) {
		/* Nothing storable: no call, only the partial success. */
		otlp_success(r, (cn_otlp_format)fmt, res.rejected, res.error);
	} else if (!client) {
		otlp_error(r, CN_TEMPORARILY_UNAVAILABLE,
		           "service 'traces' has no address (set service.traces)");
	} else {
		c->r = r;
		c->fmt = (cn_otlp_format)fmt;
		c->rejected = res.rejected;
		memcpy(c->error, res.error, sizeof c->error);
		char caller[CN_GW_CALLER_MAX], addr[CN_GW_ADDR_MAX];
		cn_gw_identity(r, caller, sizeof caller, addr, sizeof addr);
		cn_bus_call call = {
		        .method = "IngestSpans",
		        .request_id = cn_gw_request_id(r),
		        .caller = caller,
		        .deadline_ms = cn_now_ms() + g->cfg.request_timeout_ms,
		        .payload = buf,
		        .payload_len = len,
		};
		cn_err err;
		if (cn_bus_call_async_from(client, &call, addr, otlp_done, c, &err) == CN_OK)
			c = NULL; /* otlp_done owns it and answers */
		else
			otlp_error(r, err.code, err.msg);
	}
	free(c);
	cn_fb_builder_free(b);
}

size_t cn_gw_otlp_routes(cn_gateway *g, cn_gw_route *out, size_t max)
{
	if (max < 1)
		return 0;
	cn_gw_route rt = {
	        .method = "POST",
	        .path = OTLP_PATH,
	        .max_body = (size_t)64 << 20,
	        .async = true,
	        .on_complete = otlp_complete,
	        .arg = g,
	};
	out[0] = rt;
	return 1;
}
