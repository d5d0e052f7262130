/*
 * core/registry/webhook.c: MLflow 3's webhook CRUD on the registry service
 * (validation as MLflow's handlers do it). Webhooks live in the registry's
 * "webhooks" column family, keyed by id; the secret is stored but never
 * answered or logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

/* MLflow's _validate_webhook_name: 1 to 63 characters, letters, digits,
 * '.', '_' and '-', starting and ending with a letter or digit. */
static cn_code wh_check_name(cn_fb_str name, cn_err *err)
{
	bool ok = name.ptr && name.len >= 1 && name.len <= 63;
	for (uint32_t i = 0; ok && i < name.len; i++) {
		char c = name.ptr[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		ok = alnum || ((c == '.' || c == '_' || c == '-') && i > 0 && i + 1 < name.len);
	}
	if (ok)
		return CN_OK;
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Webhook name '%.*s' is invalid. It must start and end with a letter or "
	                  "digit, be less than 63 characters long, and contain only letters, "
	                  "digits, dots (.), underscores (_), and hyphens (-).",
	                  name.ptr ? (int)(name.len > 200 ? 200 : name.len) : 0,
	                  name.ptr ? name.ptr : "");
}

/* MLflow's _validate_webhook_url: not blank, an allowed scheme
 * (MLFLOW_WEBHOOK_ALLOWED_SCHEMES, comma-separated; Cairn's default is
 * http,https so receivers on a private network work without setup), a
 * host. */
static cn_code wh_check_url(cn_fb_str url, cn_err *err)
{
	bool blank = true;
	for (uint32_t i = 0; url.ptr && i < url.len; i++)
		blank = blank && (url.ptr[i] == ' ' || url.ptr[i] == '\t' || url.ptr[i] == '\n');
	if (blank)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Webhook URL cannot be empty or just whitespace: '%.*s'",
		                  url.ptr ? (int)url.len : 0, url.ptr ? url.ptr : "");
	const char *sep = memmem(url.ptr, url.len, "://", 3);
	size_t sl = sep ? (size_t)(sep - url.ptr) : 0;
	char scheme[32] = "";
	if (sl < sizeof scheme)
		for (size_t i = 0; i < sl; i++)
			scheme[i] = (char)(url.ptr[i] >= 'A' && url.ptr[i] <= 'Z' ? url.ptr[i] + 32
			                                                          : url.ptr[i]);
	const char *env = getenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES");
	char allowed[256];
	snprintf(allowed, sizeof allowed, "%s", env && *env ? env : "http,https");
	char shown[300] = "";
	bool ok = false;
	char *save = NULL;
	for (char *t = strtok_r(allowed, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n && t[n - 1] == ' ')
			t[--n] = '\0';
		if (!n)
			continue;
		ok = ok || (sl && !strcmp(scheme, t));
		size_t m = strlen(shown);
		snprintf(shown + m, sizeof shown - m, "%s%s", m ? ", " : "", t);
	}
	if (!ok)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid webhook URL scheme: '%s'. Allowed schemes are: %s.",
		                  scheme, shown);
	const char *host = sep + 3, *end = url.ptr + url.len;
	const char *at = host;
	while (at < end && *at != '/' && *at != '?' && *at != '#')
		at++;
	const char *cred = memchr(host, '@', (size_t)(at - host));
	if (cred)
		host = cred + 1;
	if (host == at || *host == ':')
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Webhook URL must include a hostname: '%.*s'", (int)url.len,
		                  url.ptr);
	return CN_OK;
}

static cn_code wh_check_events(cn_fb_vec ev, json_t **out, cn_err *err)
{
	if (ev.n == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Webhook events must be a non-empty list of WebhookEvent objects: "
		        "[].");
	json_t *arr = json_array();
	for (uint32_t i = 0; i < ev.n; i++) {
		cn_fb_table t = cn_fb_vec_table(ev, i);
		cn_fb_str e = cn_WebhookEvent_entity(t), a = cn_WebhookEvent_action(t);
		cn_code rc = reg_wh_check_event(e, a, err);
		if (rc != CN_OK) {
			json_decref(arr);
			return rc;
		}
		json_array_append_new(
		        arr, json_pack("{s:o,s:o}", "entity", reg_strn(e), "action", reg_strn(a)));
	}
	*out = arr;
	return CN_OK;
}

static cn_code wh_check_status(cn_fb_str st, cn_err *err)
{
	if (st.ptr && !(st.len == 6 && !memcmp(st.ptr, "ACTIVE", 6)) &&
	    !(st.len == 8 && !memcmp(st.ptr, "DISABLED", 8)))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value '%.*s' for parameter 'status': must be one of "
		                  "ACTIVE, DISABLED",
		                  (int)st.len, st.ptr);
	return CN_OK;
}

cn_code reg_webhook_load(reg_state *s, const char *id, size_t len, json_t **out, cn_err *err)
{
	cn_kv_val v;
	cn_code rc = cn_kv_get(s->db, REG_CF_WEBHOOKS, id, len, &v, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "Webhook with ID %.*s not found.", (int)len, id);
	if (rc != CN_OK)
		return rc;
	rc = reg_decode_value(CN_TABLE_Webhook, v.data, v.len, out, err);
	cn_kv_val_release(&v);
	return rc;
}

/* Answer one webhook, secret stripped. */
static cn_code wh_answer(json_t *wh, cn_fb_builder *b, cn_fb_ref *resp, cn_err *err)
{
	json_t *copy = json_deep_copy(wh);
	json_object_del(copy, "secret");
	json_t *doc = json_pack("{s:o}", "webhook", copy);
	cn_code rc = reg_answer(b, CN_TABLE_WebhookResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}

static cn_code wh_store(reg_state *s, json_t *wh, cn_err *err)
{
	const char *id = json_string_value(json_object_get(wh, "webhook_id"));
	cn_kv_batch *batch = cn_kv_batch_new();
	cn_code rc = reg_batch_put(batch, REG_CF_WEBHOOKS, id, strlen(id), CN_TABLE_Webhook, wh,
	                           NULL, NULL, err);
	if (rc == CN_OK)
		rc = reg_write(s, batch, err);
	cn_kv_batch_free(batch);
	return rc;
}

REG_METHOD(reg_create_webhook)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str name = cn_CreateWebhook_name(req), url = cn_CreateWebhook_url(req);
	cn_fb_str status = cn_CreateWebhook_status(req);
	json_t *events = NULL;
	cn_code rc = reg_need(name, "name", err);
	if (rc == CN_OK)
		rc = reg_need(url, "url", err);
	if (rc == CN_OK)
		rc = wh_check_name(name, err);
	if (rc == CN_OK)
		rc = wh_check_url(url, err);
	if (rc == CN_OK && status.ptr && status.len)
		rc = wh_check_status(status, err);
	if (rc == CN_OK)
		rc = wh_check_events(cn_CreateWebhook_events(req), &events, err);
	if (rc != CN_OK)
		return rc;
	char id[33];
	cn_id_hex32(id);
	int64_t now = cn_now_ms();
	json_t *wh =
	        json_pack("{s:s,s:o,s:o,s:o,s:s,s:I,s:I}", "webhook_id", id, "name", reg_strn(name),
	                  "url", reg_strn(url), "events", events, "status",
	                  status.ptr && status.len ? status.ptr : "ACTIVE", "creation_timestamp",
	                  (json_int_t)now, "last_updated_timestamp", (json_int_t)now);
	cn_fb_str desc = cn_CreateWebhook_description(req), sec = cn_CreateWebhook_secret(req);
	if (desc.ptr)
		json_object_set_new(wh, "description", reg_strn(desc));
	if (sec.ptr && sec.len)
		json_object_set_new(wh, "secret", reg_strn(sec));
	rc = wh_store(s, wh, err);
	if (rc == CN_OK)
		rc = wh_answer(wh, b, resp, err);
	json_decref(wh);
	return rc;
}

REG_METHOD(reg_get_webhook)
{
	(void)ctx;
	cn_fb_str id = cn_GetWebhook_webhook_id(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	if (rc == CN_OK)
		rc = reg_webhook_load(st, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	rc = wh_answer(wh, b, resp, err);
	json_decref(wh);
	return rc;
}

REG_METHOD(reg_update_webhook)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_UpdateWebhook_webhook_id(req);
	cn_fb_str name = cn_UpdateWebhook_name(req), url = cn_UpdateWebhook_url(req);
	cn_fb_str status = cn_UpdateWebhook_status(req), desc = cn_UpdateWebhook_description(req);
	cn_fb_str sec = cn_UpdateWebhook_secret(req);
	cn_fb_vec ev = cn_UpdateWebhook_events(req);
	json_t *events = NULL, *wh = NULL;
	cn_code rc = reg_need(id, "webhook_id", err);
	/* MLflow's handler reads "" as "not given" for every field. */
	if (rc == CN_OK && name.ptr && name.len)
		rc = wh_check_name(name, err);
	if (rc == CN_OK && url.ptr && url.len)
		rc = wh_check_url(url, err);
	if (rc == CN_OK && status.ptr && status.len)
		rc = wh_check_status(status, err);
	if (rc == CN_OK && ev.buf && ev.n)
		rc = wh_check_events(ev, &events, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc == CN_OK) {
		if (name.ptr && name.len)
			json_object_set_new(wh, "name", reg_strn(name));
		if (url.ptr && url.len)
			json_object_set_new(wh, "url", reg_strn(url));
		if (status.ptr && status.len)
			json_object_set_new(wh, "status", reg_strn(status));
		if (desc.ptr && desc.len)
			json_object_set_new(wh, "description", reg_strn(desc));
		if (sec.ptr && sec.len)
			json_object_set_new(wh, "secret", reg_strn(sec));
		if (events)
			json_object_set(wh, "events", events);
		json_object_set_new(wh, "last_updated_timestamp", json_integer(cn_now_ms()));
		rc = wh_store(s, wh, err);
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(events);
	if (rc == CN_OK)
		rc = wh_answer(wh, b, resp, err);
	json_decref(wh);
	return rc;
}

REG_METHOD(reg_delete_webhook)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_DeleteWebhook_webhook_id(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	if (rc == CN_OK)
		rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	json_decref(wh);
	/* The webhook and its delivery log go in one batch. */
	rc = reg_wh_delete(s, id.ptr, id.len, err);
	if (rc == CN_OK) {
		char wid[33];
		snprintf(wid, sizeof wid, "%.*s", (int)id.len, id.ptr);
		reg_webhook_forget(s, wid);
		*resp = reg_empty(b);
	}
	return rc;
}

/* MLflow's list is paged by an offset token; Cairn's is the last id seen. */
REG_METHOD(reg_list_webhooks)
{
	(void)ctx;
	reg_state *s = st;
	int64_t max = cn_ListWebhooks_has_max_results(req) ? cn_ListWebhooks_max_results(req) : 100;
	if (max < 1 || max > 1000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "max_results must be between 1 and 1000, got %lld",
		                  (long long)max);
	cn_fb_str tok = cn_ListWebhooks_page_token(req);
	json_t *arr = json_array(), *doc = json_object();
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_WEBHOOKS, NULL, 0);
	if (tok.ptr && tok.len)
		cn_kv_iter_seek(it, tok.ptr, tok.len);
	else
		cn_kv_iter_seek_first(it);
	cn_code rc = CN_OK;
	for (; rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = cn_kv_iter_key(it, &kl), *v = cn_kv_iter_value(it, &vl);
		if ((int64_t)json_array_size(arr) == max) {
			json_object_set_new(doc, "next_page_token",
			                    json_stringn((const char *)k, kl));
			break;
		}
		json_t *wh;
		rc = reg_decode_value(CN_TABLE_Webhook, v, vl, &wh, err);
		if (rc == CN_OK) {
			json_object_del(wh, "secret");
			json_array_append_new(arr, wh);
		}
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	json_object_set_new(doc, "webhooks", arr);
	if (rc == CN_OK)
		rc = reg_answer(b, CN_TABLE_ListWebhooksResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}
