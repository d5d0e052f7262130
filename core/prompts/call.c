/*
 * core/prompts/call.c: the prompts service's side of the bus -- calls to
 * the registry and tracking as JSON trees, answers, events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/prompts/prompts_int.h"
#include "schemas/cairn_schema.h"

static const char *const pr_peer_names[PR_PEERS_] = {"registry", "tracking"};

/* Encode a tree as the FlatBuffer of table t, built in b. */
static cn_code pr_encode(int t, json_t *doc, cn_fb_builder *b, cn_fb_ref *root, cn_err *err)
{
	char *js = json_dumps(doc, JSON_COMPACT);
	if (!js)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = cn_json_decode(&cn_schema_cairn, t, js, strlen(js), NULL, 0, b, root, err);
	free(js);
	return rc;
}

/* Decode a FlatBuffer of table t (verified here) into a tree. */
static cn_code pr_decode(int t, const uint8_t *p, size_t n, json_t **out, cn_err *err)
{
	if (cn_fb_verify(&cn_schema_cairn, t, p, n, err) != CN_OK)
		return cn_err_set(err, CN_INTERNAL_ERROR, "malformed reply: %s", err->msg);
	cn_buf js = CN_BUF_INIT;
	cn_code rc = cn_json_encode(&cn_schema_cairn, t, cn_fb_root(p), &js);
	if (rc != CN_OK || cn_buf_failed(&js)) {
		cn_buf_free(&js);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	json_error_t je;
	*out = json_loadb(js.p, js.len, JSON_ALLOW_NUL, &je);
	cn_buf_free(&js);
	return *out ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "unreadable reply");
}

/* The reply table of request table t: its route's, else <Name>Response. */
static int pr_reply_table(int t)
{
	for (size_t i = 0; i < cn_schema_cairn.nroutes; i++)
		if (cn_schema_cairn.routes[i].request == t)
			return cn_schema_cairn.routes[i].response;
	char name[256];
	snprintf(name, sizeof name, "%sResponse", cn_schema_cairn.tables[t].short_name);
	return cn_schema_table_index(&cn_schema_cairn, name);
}

cn_code pr_call(pr_state *s, const cn_call_ctx *ctx, pr_peer peer, const char *method, json_t *req,
                json_t **reply, cn_err *err)
{
	*reply = NULL;
	if (!s->peers[peer])
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "the prompts service has no address for the %s service "
		                  "(set service.%s)",
		                  pr_peer_names[peer], pr_peer_names[peer]);
	int t = cn_schema_table_index(&cn_schema_cairn, method);
	int rt = t >= 0 ? pr_reply_table(t) : -1;
	if (t < 0 || rt < 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "no request table %s", method);
	cn_fb_builder *b = cn_fb_builder_new(1024);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref root;
	const uint8_t *p;
	size_t len;
	cn_code rc = pr_encode(t, req, b, &root, err);
	if (rc == CN_OK && !cn_fb_finish(b, root, &p, &len))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		int64_t deadline = ctx && ctx->deadline_ms > 0 ? ctx->deadline_ms
		                                               : cn_now_ms() + s->timeout_ms;
		cn_bus_call call = {
		        method, ctx ? ctx->request_id : NULL, ctx ? ctx->caller : NULL, deadline, p,
		        len};
		cn_bus_reply r;
		rc = cn_bus_call_sync(s->peers[peer], &call, &r, err);
		if (rc == CN_OK) {
			if (r.code != CN_OK)
				rc = cn_err_set(err, r.code, "%s", r.message);
			else
				rc = pr_decode(rt, r.payload, r.payload_len, reply, err);
			cn_bus_reply_free(&r);
		}
	}
	cn_fb_builder_free(b);
	return rc;
}

cn_code pr_request(const char *table, cn_fb_table req, json_t **out, cn_err *err)
{
	int t = cn_schema_table_index(&cn_schema_cairn, table);
	cn_buf js = CN_BUF_INIT;
	cn_code rc = cn_json_encode(&cn_schema_cairn, t, req, &js);
	if (rc != CN_OK || cn_buf_failed(&js)) {
		cn_buf_free(&js);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	json_error_t je;
	*out = json_loadb(js.p, js.len, JSON_ALLOW_NUL, &je);
	cn_buf_free(&js);
	return *out ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "unreadable request");
}

cn_code pr_answer(cn_fb_builder *b, const char *table, json_t *doc, cn_fb_ref *resp, cn_err *err)
{
	int t = cn_schema_table_index(&cn_schema_cairn, table);
	return pr_encode(t, doc, b, resp, err);
}

cn_fb_ref pr_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

static void pr_set(json_t *o, const char *k, const char *v)
{
	if (v && *v)
		json_object_set_new(o, k, json_string(v));
}

void pr_publish(pr_state *s, const cn_call_ctx *ctx, const char *topic, const char *name,
                const char *version, const char *alias, const char *key, const char *value,
                const char *template_type)
{
	if (!s->events)
		return;
	json_t *ev = json_object();
	pr_set(ev, "name", name);
	pr_set(ev, "version", version);
	pr_set(ev, "alias", alias);
	pr_set(ev, "key", key);
	pr_set(ev, "value", value);
	pr_set(ev, "template_type", template_type);
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref root;
	const uint8_t *p;
	size_t len;
	cn_err err;
	if (b && pr_encode(CN_TABLE_PromptEvent, ev, b, &root, &err) == CN_OK &&
	    cn_fb_finish(b, root, &p, &len))
		cn_bus_publish(s->events, topic, ctx ? ctx->request_id : NULL, p, len);
	cn_fb_builder_free(b);
	json_decref(ev);
}
