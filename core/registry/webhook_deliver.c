/*
 * core/registry/webhook_deliver.c: webhook delivery off the request path.
 *
 * reg_publish hands each committed registry event to reg_webhook_enqueue,
 * which only copies it into a bounded queue (full: the event is dropped and
 * counted, never blocking a registry call). One delivery thread maps the
 * event to MLflow's (entity, action), finds the ACTIVE webhooks subscribed
 * to it and POSTs {entity, action, timestamp, data} through the plugin
 * host's HTTP client (libcurl, loaded on first use), signed as MLflow signs:
 * X-MLflow-Signature: v1,base64(HMAC-SHA256(secret, "id.ts.payload")).
 * Failures (connection errors, 429, 5xx) are retried with exponential
 * backoff, a Retry-After on 429/503 winning; MLflow's environment variables
 * MLFLOW_WEBHOOK_REQUEST_TIMEOUT (s) and MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES
 * set the limits. Each attempt goes to an in-memory delivery log (the last
 * WH_LOG_MAX attempts of the process), read by ListWebhookDeliveries.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/plugin/host_internal.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

#define WH_QUEUE_MAX 256
#define WH_LOG_MAX   1024

typedef struct wh_event {
	char *topic;
	json_t *doc;
} wh_event;

typedef struct wh_log_entry {
	char webhook_id[33];
	char delivery_id[33];
	char entity[24], action[12];
	int attempt, status;
	char error[160];
	int64_t at_ms;
} wh_log_entry;

struct reg_webhooks {
	reg_state *reg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	wh_event q[WH_QUEUE_MAX];
	size_t qhead, qlen;
	uint64_t dropped;
	wh_log_entry log[WH_LOG_MAX];
	size_t lhead, llen;
	long timeout_s, max_retries;
};

static long wh_env(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* Registry topic -> MLflow entity and action (NULL: no webhook event). */
static bool wh_map(const char *topic, json_t *doc, const char **entity, const char **action)
{
	bool prompt = reg_tag_get(doc, "tags", REG_PROMPT_TAG) != NULL;
	static const struct {
		const char *topic, *model, *prompt, *action;
	} map[] = {
	        {"registry.model.created", "REGISTERED_MODEL", "PROMPT", "CREATED"},
	        {"registry.version.created", "MODEL_VERSION", "PROMPT_VERSION", "CREATED"},
	        {"registry.version.tag_set", "MODEL_VERSION_TAG", "PROMPT_VERSION_TAG", "SET"},
	        {"registry.version.tag_deleted", "MODEL_VERSION_TAG", "PROMPT_VERSION_TAG",
	         "DELETED"},
	        {"registry.alias.set", "MODEL_VERSION_ALIAS", "PROMPT_ALIAS", "CREATED"},
	        {"registry.alias.deleted", "MODEL_VERSION_ALIAS", "PROMPT_ALIAS", "DELETED"},
	        {"registry.model.tag_set", NULL, "PROMPT_TAG", "SET"},
	        {"registry.model.tag_deleted", NULL, "PROMPT_TAG", "DELETED"},
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		if (strcmp(topic, map[i].topic))
			continue;
		*entity = prompt ? map[i].prompt : map[i].model;
		*action = map[i].action;
		return *entity != NULL;
	}
	return false;
}

/* The payload's data: the event's tree, aliases flattened to {alias}. */
static json_t *wh_data(const char *topic, json_t *doc)
{
	json_t *d = json_deep_copy(doc);
	if (!strncmp(topic, "registry.alias.", 15)) {
		json_t *a = json_array_get(json_object_get(d, "aliases"), 0);
		if (a)
			json_object_set(d, "alias", a);
		json_object_del(d, "aliases");
	}
	return d;
}

static void wh_lower(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

static char *wh_payload(const char *entity, const char *action, json_t *data)
{
	char e[24], a[12], ts[40];
	wh_lower(e, sizeof e, entity);
	wh_lower(a, sizeof a, action);
	int64_t ms = cn_now_ms();
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03d+00:00", (int)(ms % 1000));
	json_t *p = json_pack("{s:s,s:s,s:s,s:O}", "entity", e, "action", a, "timestamp", ts,
	                      "data", data);
	char *js = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return js;
}

typedef struct wh_resp {
	long retry_after;
	char body[256];
	size_t blen;
} wh_resp;

static int wh_on_header(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	wh_resp *r = arg;
	if (nl == 11 && !strncasecmp(n, "retry-after", 11) && vl < 16) {
		char tmp[16];
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		r->retry_after = strtol(tmp, NULL, 10);
	}
	return CAIRN_OK;
}

static int wh_on_body(void *arg, const void *p, size_t n)
{
	wh_resp *r = arg;
	size_t room = sizeof r->body - 1 - r->blen;
	size_t k = n < room ? n : room;
	memcpy(r->body + r->blen, p, k);
	r->blen += k;
	r->body[r->blen] = '\0';
	return CAIRN_OK;
}

/* One POST. Returns the HTTP status, or 0 with why set. */
static int wh_post(const char *url, const char *secret, const char *delivery_id,
                   const char *payload, long timeout_s, wh_resp *r, char *why, size_t whylen)
{
	char ts[24], sig[128] = "";
	snprintf(ts, sizeof ts, "%lld", (long long)(cn_now_ms() / 1000));
	/* No "Expect: 100-continue": receivers (Python's http.server among
	 * them) do not answer it and curl would wait a second per POST. */
	cairn_http_header h[5] = {{"Content-Type", "application/json"},
	                          {"Expect", ""},
	                          {"X-MLflow-Delivery-Id", delivery_id},
	                          {"X-MLflow-Timestamp", ts}};
	size_t nh = 4;
	if (secret && *secret) {
		size_t ml = strlen(delivery_id) + strlen(ts) + strlen(payload) + 3;
		char *msg = malloc(ml);
		if (!msg) {
			snprintf(why, whylen, "out of memory");
			return 0;
		}
		snprintf(msg, ml, "%s.%s.%s", delivery_id, ts, payload);
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
		     strlen(msg), mac, &maclen);
		free(msg);
		memcpy(sig, "v1,", 3);
		EVP_EncodeBlock((unsigned char *)sig + 3, mac, (int)maclen);
		h[nh++] = (cairn_http_header){"X-MLflow-Signature", sig};
	}
	cairn_http_request req = {.size = sizeof req,
	                          .method = "POST",
	                          .url = url,
	                          .headers = h,
	                          .nheaders = nh,
	                          .body = payload,
	                          .body_len = strlen(payload),
	                          .on_header = wh_on_header,
	                          .on_body = wh_on_body,
	                          .response_arg = r,
	                          .timeout_ms = timeout_s * 1000,
	                          .connect_timeout_ms = timeout_s * 1000};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	if (cn_host_http(&req, &resp, &e) != CAIRN_OK) {
		snprintf(why, whylen, "%.150s", e.message);
		return 0;
	}
	return resp.status;
}

static void wh_log(reg_webhooks *w, const char *wid, const char *did, const char *entity,
                   const char *action, int attempt, int status, const char *error)
{
	pthread_mutex_lock(&w->mu);
	size_t i = (w->lhead + w->llen) % WH_LOG_MAX;
	if (w->llen == WH_LOG_MAX)
		w->lhead = (w->lhead + 1) % WH_LOG_MAX;
	else
		w->llen++;
	wh_log_entry *l = &w->log[i];
	snprintf(l->webhook_id, sizeof l->webhook_id, "%s", wid);
	snprintf(l->delivery_id, sizeof l->delivery_id, "%s", did);
	snprintf(l->entity, sizeof l->entity, "%s", entity);
	snprintf(l->action, sizeof l->action, "%s", action);
	l->attempt = attempt;
	l->status = status;
	snprintf(l->error, sizeof l->error, "%s", error ? error : "");
	l->at_ms = cn_now_ms();
	pthread_mutex_unlock(&w->mu);
}

/* Sleep up to ms unless stopping; true when stopping. */
static bool wh_nap(reg_webhooks *w, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	bool stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

/* Deliver one payload to one webhook with retries; logs every attempt. */
static void wh_deliver(reg_webhooks *w, json_t *wh, const char *entity, const char *action,
                       const char *payload)
{
	const char *wid = json_string_value(json_object_get(wh, "webhook_id"));
	const char *url = json_string_value(json_object_get(wh, "url"));
	const char *secret = json_string_value(json_object_get(wh, "secret"));
	char did[33];
	cn_id_hex32(did);
	long backoff_ms = 500;
	for (int attempt = 1; attempt <= w->max_retries + 1; attempt++) {
		wh_resp r = {.retry_after = -1};
		char why[160] = "";
		int st = wh_post(url, secret, did, payload, w->timeout_s, &r, why, sizeof why);
		wh_log(w, wid, did, entity, action, attempt, st, st ? NULL : why);
		bool retry = st == 0 || st == 429 || st >= 500;
		if (!retry || attempt > w->max_retries)
			return;
		long wait = backoff_ms;
		if ((st == 429 || st == 503) && r.retry_after >= 0)
			wait = r.retry_after * 1000 > 60000 ? 60000 : r.retry_after * 1000;
		backoff_ms *= 2;
		if (wh_nap(w, wait))
			return;
	}
}

static const char *wh_str(json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

static void wh_dispatch(reg_webhooks *w, wh_event *ev)
{
	const char *entity, *action;
	if (!wh_map(ev->topic, ev->doc, &entity, &action))
		return;
	json_t *data = wh_data(ev->topic, ev->doc);
	char *payload = wh_payload(entity, action, data);
	json_decref(data);
	cn_kv_iter *it = cn_kv_iter_new(w->reg->db, REG_CF_WEBHOOKS, NULL, 0);
	for (cn_kv_iter_seek_first(it); payload && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vl;
		const uint8_t *v = cn_kv_iter_value(it, &vl);
		json_t *wh;
		cn_err err;
		if (reg_decode_value(CN_TABLE_Webhook, v, vl, &wh, &err) != CN_OK)
			continue;
		bool want = !strcmp(wh_str(json_object_get(wh, "status")), "ACTIVE");
		json_t *e;
		size_t i;
		bool hit = false;
		json_array_foreach(json_object_get(wh, "events"), i, e)
		{
			hit = hit || (!strcmp(wh_str(json_object_get(e, "entity")), entity) &&
			              !strcmp(wh_str(json_object_get(e, "action")), action));
		}
		if (want && hit)
			wh_deliver(w, wh, entity, action, payload);
		json_decref(wh);
	}
	cn_kv_iter_free(it);
	free(payload);
}

static void *wh_thread(void *arg)
{
	reg_webhooks *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->qlen == 0)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		wh_event ev = w->q[w->qhead];
		w->qhead = (w->qhead + 1) % WH_QUEUE_MAX;
		w->qlen--;
		pthread_mutex_unlock(&w->mu);
		wh_dispatch(w, &ev);
		free(ev.topic);
		json_decref(ev.doc);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

cn_code reg_webhooks_start(reg_state *s, cn_err *err)
{
	reg_webhooks *w = calloc(1, sizeof *w);
	if (!w)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	w->reg = s;
	w->timeout_s = wh_env("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", 30);
	w->max_retries = wh_env("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", 3);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, wh_thread, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot start the webhook thread");
	}
	s->webhooks = w;
	return CN_OK;
}

void reg_webhooks_stop(reg_state *s)
{
	reg_webhooks *w = s->webhooks;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	for (; w->qlen; w->qlen--, w->qhead = (w->qhead + 1) % WH_QUEUE_MAX) {
		free(w->q[w->qhead].topic);
		json_decref(w->q[w->qhead].doc);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	s->webhooks = NULL;
}

void reg_webhook_enqueue(reg_state *s, const char *topic, json_t *doc)
{
	reg_webhooks *w = s->webhooks;
	const char *e, *a;
	if (!w || !topic || !wh_map(topic, doc, &e, &a))
		return;
	pthread_mutex_lock(&w->mu);
	if (w->qlen == WH_QUEUE_MAX) {
		w->dropped++;
	} else {
		wh_event *ev = &w->q[(w->qhead + w->qlen) % WH_QUEUE_MAX];
		ev->topic = strdup(topic);
		ev->doc = json_deep_copy(doc);
		w->qlen++;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

REG_METHOD(reg_list_webhook_deliveries)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_ListWebhookDeliveries_webhook_id(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	if (rc == CN_OK)
		rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	json_decref(wh);
	reg_webhooks *w = s->webhooks;
	json_t *arr = json_array();
	pthread_mutex_lock(&w->mu);
	for (size_t k = 0; k < w->llen; k++) {
		wh_log_entry *l = &w->log[(w->lhead + k) % WH_LOG_MAX];
		if (strlen(l->webhook_id) != id.len || memcmp(l->webhook_id, id.ptr, id.len))
			continue;
		json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:I}", "delivery_id", l->delivery_id,
		                      "entity", l->entity, "action", l->action, "attempt",
		                      l->attempt, "timestamp", (json_int_t)l->at_ms);
		if (l->status)
			json_object_set_new(o, "status_code", json_integer(l->status));
		else
			json_object_set_new(o, "error", json_string(l->error));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&w->mu);
	json_t *doc = json_pack("{s:o}", "deliveries", arr);
	rc = reg_answer(b, CN_TABLE_ListWebhookDeliveriesResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}

/* MLflow's test: one synchronous signed POST of an example payload. */
REG_METHOD(reg_test_webhook)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_TestWebhook_webhook_id(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	if (rc == CN_OK)
		rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_table ev = cn_TestWebhook_event(req);
	cn_fb_str ce = ev.buf ? cn_WebhookEvent_entity(ev) : (cn_fb_str){0};
	cn_fb_str ca = ev.buf ? cn_WebhookEvent_action(ev) : (cn_fb_str){0};
	json_t *first = json_array_get(json_object_get(wh, "events"), 0);
	char entity[24], action[12];
	snprintf(entity, sizeof entity, "%s",
	         ce.ptr ? ce.ptr : json_string_value(json_object_get(first, "entity")));
	snprintf(action, sizeof action, "%s",
	         ca.ptr ? ca.ptr : json_string_value(json_object_get(first, "action")));
	json_t *data = json_pack("{s:s,s:s}", "name", "example_model", "version", "1");
	char *payload = wh_payload(entity, action, data);
	json_decref(data);
	char did[33], why[160] = "";
	cn_id_hex32(did);
	wh_resp r = {.retry_after = -1};
	int st2 = wh_post(json_string_value(json_object_get(wh, "url")),
	                  json_string_value(json_object_get(wh, "secret")), did,
	                  payload ? payload : "{}", s->webhooks->timeout_s, &r, why, sizeof why);
	free(payload);
	json_t *res = json_pack("{s:b}", "success", st2 >= 200 && st2 < 300);
	if (st2) {
		json_object_set_new(res, "response_status", json_integer(st2));
		json_object_set_new(res, "response_body", json_string(r.body));
	} else {
		json_object_set_new(res, "error_message", json_string(why));
	}
	json_decref(wh);
	json_t *doc = json_pack("{s:o}", "result", res);
	rc = reg_answer(b, CN_TABLE_TestWebhookResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}
