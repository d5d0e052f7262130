/*
 * core/registry/webhook_deliver.c: webhook delivery off the request path,
 * concurrent across webhooks.
 *
 * A registry method that committed a change calls reg_webhook_fire, which
 * only appends {kind, prompt, data} to a bounded event queue (full: the
 * event is dropped and counted; a registry call never waits). A small pool
 * of threads (MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS, 8 by default) does the
 * rest. A worker takes an event, finds the ACTIVE webhooks subscribed to its
 * (entity, action) and appends one job per webhook to that webhook's own
 * queue (bounded at WH_TARGET_MAX; beyond it the job is logged as dropped).
 * Events are fanned out one at a time, in the order they were fired, and
 * a worker takes a job only from a webhook that has none in flight, so a
 * webhook's deliveries keep the order of the events, and a slow or dead
 * receiver holds at most one worker while the others serve every other
 * webhook.
 *
 * A job is one MLflow delivery: a uuid4 delivery id, the payload and its
 * X-MLflow-Timestamp fixed once, re-sent unchanged on each retry (as
 * urllib3 does). Before each attempt the webhook is read again: deleted,
 * the job is dropped; DISABLED, it is abandoned (logged); its current URL
 * and secret are used. A retryable failure (transport error, 429, 500,
 * 502, 503, 504) puts the job back at the head of its webhook's queue with
 * a due time from the retry schedule (webhook_event.c; Retry-After on 413,
 * 429, 503 wins), so a waiting retry holds no thread. Every attempt goes to
 * the persisted delivery log (webhook_log.c).
 * MLFLOW_WEBHOOK_REQUEST_TIMEOUT (s, 30) and
 * MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES (3) set the limits, as in MLflow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/plugin/host_internal.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

#define WH_EVENTS_MAX      1024 /* events not yet fanned out */
#define WH_TARGET_MAX      256  /* jobs queued for one webhook */
#define WH_WORKERS_MAX     64
#define WH_BODY_MAX        4096     /* response body kept for the test call */
#define WH_RETRY_AFTER_MAX 3600000L /* ms */
#define WH_TEST_WAIT_MAX   60000L   /* ms: one wait of the synchronous test call */

typedef struct wh_event {
	reg_wh_kind kind;
	bool prompt;
	json_t *data;
} wh_event;

typedef struct wh_job {
	struct wh_job *next;
	char delivery_id[37];
	char entity[24], action[12];
	char ts[24]; /* X-MLflow-Timestamp, Unix seconds */
	char *payload;
	int attempts;   /* made so far */
	int64_t due_ms; /* not before */
} wh_job;

/* The jobs of one webhook; created on first use, freed when it is deleted. */
typedef struct wh_target {
	struct wh_target *next;
	char id[33];
	wh_job *head, *tail;
	size_t n;
	bool busy; /* a worker is attempting its head job */
} wh_target;

struct reg_webhooks {
	reg_state *reg;
	pthread_t threads[WH_WORKERS_MAX];
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool fanning; /* one fan-out at a time keeps each webhook's jobs in firing order */
	wh_event ev[WH_EVENTS_MAX];
	size_t evhead, evlen;
	uint64_t dropped;
	wh_target *targets;
	long timeout_s, max_retries;
	unsigned rand; /* jitter; under mu */
};

/* Wall time in microseconds (the payload's timestamp has them). */
static int64_t wh_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long wh_env(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void wh_job_free(wh_job *j)
{
	if (j) {
		free(j->payload);
		free(j);
	}
}

typedef struct wh_resp {
	long retry_after_ms;
	int64_t now_ms;
	char body[WH_BODY_MAX];
	size_t blen;
} wh_resp;

static int wh_on_header(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	wh_resp *r = arg;
	if (nl == 11 && !strncasecmp(n, "retry-after", 11))
		r->retry_after_ms = reg_wh_retry_after_ms(v, vl, r->now_ms);
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

/* Shutdown cancels attempts in flight instead of waiting out the timeout.
 * Reads stop without mu: a stale false only delays the cancel by a poll. */
static int wh_cancelled(void *arg)
{
	const reg_webhooks *w = arg;
	return w && __atomic_load_n(&w->stop, __ATOMIC_RELAXED);
}

/* One signed POST. Returns the HTTP status, or 0 with why set. w may be
 * NULL (the test call: no cancel). */
static int wh_post(reg_webhooks *w, const char *url, const char *secret, const wh_job *j,
                   long timeout_s, wh_resp *r, char *why, size_t whylen)
{
	char sig[REG_WH_SIG_MAX];
	/* No "Expect: 100-continue": receivers (Python's http.server among
	 * them) do not answer it and curl would wait a second per POST. */
	cairn_http_header h[5] = {{"Content-Type", "application/json"},
	                          {"Expect", ""},
	                          {"X-MLflow-Delivery-Id", j->delivery_id},
	                          {"X-MLflow-Timestamp", j->ts}};
	size_t nh = 4;
	if (secret && *secret) {
		if (!reg_wh_sign(secret, j->delivery_id, j->ts, j->payload, sig)) {
			snprintf(why, whylen, "cannot sign the payload");
			return 0;
		}
		h[nh++] = (cairn_http_header){"X-MLflow-Signature", sig};
	}
	cairn_http_request req = {.size = sizeof req,
	                          .method = "POST",
	                          .url = url,
	                          .headers = h,
	                          .nheaders = nh,
	                          .body = j->payload,
	                          .body_len = strlen(j->payload),
	                          .on_header = wh_on_header,
	                          .on_body = wh_on_body,
	                          .response_arg = r,
	                          .timeout_ms = timeout_s * 1000,
	                          .connect_timeout_ms = timeout_s * 1000,
	                          .is_cancelled = w ? wh_cancelled : NULL,
	                          .cancel_arg = w};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	r->now_ms = cn_now_ms();
	if (cn_host_http(&req, &resp, &e) != CAIRN_OK) {
		snprintf(why, whylen, "%.200s", e.message);
		return 0;
	}
	return resp.status;
}

static const char *wh_str(json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

static wh_job *wh_job_new(const char *entity, const char *action, json_t *data)
{
	wh_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	int64_t us = wh_now_us();
	j->payload = reg_wh_payload(entity, action, data, us);
	if (!j->payload) {
		free(j);
		return NULL;
	}
	reg_wh_uuid4(j->delivery_id);
	snprintf(j->ts, sizeof j->ts, "%lld", (long long)(us / 1000000));
	snprintf(j->entity, sizeof j->entity, "%s", entity);
	snprintf(j->action, sizeof j->action, "%s", action);
	return j;
}

static wh_target *wh_target_get(reg_webhooks *w, const char *id)
{
	for (wh_target *t = w->targets; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	wh_target *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	snprintf(t->id, sizeof t->id, "%s", id);
	t->next = w->targets;
	w->targets = t;
	return t;
}

static bool wh_subscribed(json_t *wh, const char *entity, const char *action)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(wh, "events"), i, e)
	{
		if (!strcmp(wh_str(json_object_get(e, "entity")), entity) &&
		    !strcmp(wh_str(json_object_get(e, "action")), action))
			return true;
	}
	return false;
}

static void wh_log_simple(reg_webhooks *w, const char *wid, const wh_job *j, const char *why)
{
	reg_wh_attempt a = {.webhook_id = wid,
	                    .delivery_id = j->delivery_id,
	                    .entity = j->entity,
	                    .action = j->action,
	                    .attempt = j->attempts,
	                    .error = why,
	                    .at_ms = cn_now_ms()};
	reg_wh_log(w->reg, &a);
}

/* One event -> one job per subscribed ACTIVE webhook. Called without mu. */
static void wh_fanout(reg_webhooks *w, wh_event *ev)
{
	const char *entity, *action;
	if (!reg_wh_event_of(ev->kind, ev->prompt, &entity, &action))
		return;
	cn_kv_iter *it = cn_kv_iter_new(w->reg->db, REG_CF_WEBHOOKS, NULL, 0);
	if (it)
		cn_kv_iter_seek_first(it);
	for (; it && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vl;
		const uint8_t *v = cn_kv_iter_value(it, &vl);
		json_t *wh;
		cn_err err;
		if (reg_decode_value(CN_TABLE_Webhook, v, vl, &wh, &err) != CN_OK)
			continue;
		const char *wid = wh_str(json_object_get(wh, "webhook_id"));
		if (!strcmp(wh_str(json_object_get(wh, "status")), "ACTIVE") &&
		    wh_subscribed(wh, entity, action)) {
			/* Each webhook gets its own delivery id and timestamp, as
			 * MLflow builds them per request. */
			wh_job *j = wh_job_new(entity, action, ev->data);
			bool queued = false;
			pthread_mutex_lock(&w->mu);
			wh_target *t = j ? wh_target_get(w, wid) : NULL;
			if (t && t->n < WH_TARGET_MAX) {
				if (t->tail)
					t->tail->next = j;
				else
					t->head = j;
				t->tail = j;
				t->n++;
				queued = true;
				pthread_cond_broadcast(&w->cv);
			}
			pthread_mutex_unlock(&w->mu);
			if (!queued && j) {
				wh_log_simple(w, wid, j, "dropped: the webhook's queue is full");
				wh_job_free(j);
			}
		}
		json_decref(wh);
	}
	cn_kv_iter_free(it);
}

/* One attempt of a target's head job (the target is busy). Returns true
 * when the job is finished (delivered, given up or dropped). */
static bool wh_attempt(reg_webhooks *w, const char *wid, wh_job *j, int64_t *due)
{
	json_t *wh;
	cn_err err;
	if (reg_webhook_load(w->reg, wid, strlen(wid), &wh, &err) != CN_OK)
		return true; /* deleted: its log went with it */
	if (strcmp(wh_str(json_object_get(wh, "status")), "ACTIVE") != 0) {
		wh_log_simple(w, wid, j, "abandoned: the webhook is DISABLED");
		json_decref(wh);
		return true;
	}
	wh_resp *r = calloc(1, sizeof *r);
	if (!r) {
		json_decref(wh);
		*due = cn_now_ms() + 1000; /* out of memory: try again in a while */
		return false;
	}
	r->retry_after_ms = -1;
	char why[256] = "";
	int64_t t0 = cn_now_ms();
	int st = wh_post(w, wh_str(json_object_get(wh, "url")),
	                 json_string_value(json_object_get(wh, "secret")), j, w->timeout_s, r, why,
	                 sizeof why);
	int64_t t1 = cn_now_ms();
	json_decref(wh);
	j->attempts++;
	bool again = reg_wh_retryable(st) && j->attempts <= w->max_retries;
	reg_wh_attempt a = {.webhook_id = wid,
	                    .delivery_id = j->delivery_id,
	                    .entity = j->entity,
	                    .action = j->action,
	                    .attempt = j->attempts,
	                    .status = st,
	                    .error = st ? NULL : why,
	                    .at_ms = t0,
	                    .duration_ms = t1 - t0};
	if (again) {
		long wait = -1;
		/* A waiting retry holds no thread, so a long Retry-After is kept
		 * (up to an hour, against a receiver's nonsense). */
		if (reg_wh_honours_retry_after(st))
			wait = r->retry_after_ms > WH_RETRY_AFTER_MAX ? WH_RETRY_AFTER_MAX
			                                              : r->retry_after_ms;
		if (wait < 0) {
			pthread_mutex_lock(&w->mu);
			double jitter = (double)(rand_r(&w->rand) % 1000) / 1000.0;
			pthread_mutex_unlock(&w->mu);
			wait = reg_wh_backoff_ms(j->attempts, jitter);
		}
		*due = t1 + wait;
		a.next_ms = *due;
	}
	free(r);
	reg_wh_log(w->reg, &a);
	return !again;
}

/* A target whose head job is due and not in flight; else the earliest due
 * time of the waiting ones in *next (0: none). Under mu. */
static wh_target *wh_ready(reg_webhooks *w, int64_t now, int64_t *next)
{
	*next = 0;
	for (wh_target *t = w->targets; t; t = t->next) {
		if (t->busy || !t->head)
			continue;
		if (t->head->due_ms <= now)
			return t;
		if (!*next || t->head->due_ms < *next)
			*next = t->head->due_ms;
	}
	return NULL;
}

static void wh_timedwait(reg_webhooks *w, int64_t until_ms)
{
	struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
	                      .tv_nsec = (long)(until_ms % 1000) * 1000000L};
	pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *wh_worker(void *arg)
{
	reg_webhooks *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (w->evlen && !w->fanning) {
			wh_event ev = w->ev[w->evhead];
			w->evhead = (w->evhead + 1) % WH_EVENTS_MAX;
			w->evlen--;
			w->fanning = true;
			pthread_mutex_unlock(&w->mu);
			wh_fanout(w, &ev);
			json_decref(ev.data);
			pthread_mutex_lock(&w->mu);
			w->fanning = false;
			pthread_cond_broadcast(&w->cv);
			continue;
		}
		int64_t next;
		wh_target *t = wh_ready(w, cn_now_ms(), &next);
		if (!t) {
			if (next)
				wh_timedwait(w, next);
			else
				pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		t->busy = true;
		wh_job *j = t->head;
		char wid[33];
		snprintf(wid, sizeof wid, "%s", t->id);
		pthread_mutex_unlock(&w->mu);
		int64_t due = 0;
		bool done = wh_attempt(w, wid, j, &due);
		pthread_mutex_lock(&w->mu);
		t->busy = false;
		if (done) {
			t->head = j->next;
			if (!t->head)
				t->tail = NULL;
			t->n--;
			wh_job_free(j);
		} else {
			j->due_ms = due;
		}
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void wh_target_clear(wh_target *t)
{
	while (t->head) {
		wh_job *j = t->head;
		t->head = j->next;
		wh_job_free(j);
	}
	t->tail = NULL;
	t->n = 0;
}

cn_code reg_webhooks_start(reg_state *s, cn_err *err)
{
	reg_webhooks *w = calloc(1, sizeof *w);
	if (!w)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	w->reg = s;
	w->timeout_s = wh_env("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", 30);
	w->max_retries = wh_env("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", 3);
	long n = wh_env("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS", 8);
	n = n < 1 ? 1 : n > WH_WORKERS_MAX ? WH_WORKERS_MAX : n;
	w->rand = (unsigned)wh_now_us();
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	s->webhooks = w;
	for (; w->nthreads < n; w->nthreads++)
		if (pthread_create(&w->threads[w->nthreads], NULL, wh_worker, w) != 0)
			break;
	if (w->nthreads == 0) {
		reg_webhooks_stop(s);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot start the webhook workers");
	}
	return CN_OK;
}

void reg_webhooks_stop(reg_state *s)
{
	reg_webhooks *w = s->webhooks;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (; w->evlen; w->evlen--, w->evhead = (w->evhead + 1) % WH_EVENTS_MAX)
		json_decref(w->ev[w->evhead].data);
	while (w->targets) {
		wh_target *t = w->targets;
		w->targets = t->next;
		wh_target_clear(t);
		free(t);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	s->webhooks = NULL;
}

void reg_webhook_fire(reg_state *s, reg_wh_kind kind, bool prompt, json_t *data)
{
	reg_webhooks *w = s->webhooks;
	const char *e, *a;
	if (!w || !data || !reg_wh_event_of(kind, prompt, &e, &a)) {
		json_decref(data);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (w->evlen == WH_EVENTS_MAX) {
		w->dropped++;
		json_decref(data);
	} else {
		w->ev[(w->evhead + w->evlen) % WH_EVENTS_MAX] =
		        (wh_event){.kind = kind, .prompt = prompt, .data = data};
		w->evlen++;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

void reg_webhook_forget(reg_state *s, const char *id)
{
	reg_webhooks *w = s->webhooks;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	for (wh_target **p = &w->targets; *p; p = &(*p)->next) {
		wh_target *t = *p;
		if (strcmp(t->id, id) != 0)
			continue;
		if (t->busy) {
			/* Its worker drops the job on finding the webhook gone;
			 * the rest can go now. */
			wh_job *keep = t->head;
			wh_job *rest = keep->next;
			keep->next = NULL;
			t->tail = keep;
			t->n = 1;
			while (rest) {
				wh_job *j = rest;
				rest = j->next;
				wh_job_free(j);
			}
		} else {
			*p = t->next;
			wh_target_clear(t);
			free(t);
		}
		break;
	}
	pthread_mutex_unlock(&w->mu);
}

/* MLflow's test: a synchronous signed POST of the event's example payload,
 * with the same retries as a delivery; success below 400. */
REG_METHOD(reg_test_webhook)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_TestWebhook_webhook_id(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	cn_fb_table ev = cn_TestWebhook_event(req);
	cn_fb_str ce = ev.buf ? cn_WebhookEvent_entity(ev) : (cn_fb_str){0};
	cn_fb_str ca = ev.buf ? cn_WebhookEvent_action(ev) : (cn_fb_str){0};
	if (rc == CN_OK && ev.buf)
		rc = reg_wh_check_event(ce, ca, err);
	if (rc == CN_OK)
		rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	json_t *first = json_array_get(json_object_get(wh, "events"), 0);
	char entity[24], action[12];
	if (ev.buf) {
		snprintf(entity, sizeof entity, "%.*s", (int)ce.len, ce.ptr);
		snprintf(action, sizeof action, "%.*s", (int)ca.len, ca.ptr);
	} else {
		snprintf(entity, sizeof entity, "%s", wh_str(json_object_get(first, "entity")));
		snprintf(action, sizeof action, "%s", wh_str(json_object_get(first, "action")));
	}
	json_t *data = reg_wh_example(entity, action);
	wh_job *j = wh_job_new(entity, action, data);
	json_decref(data);
	wh_resp *r = calloc(1, sizeof *r);
	json_t *res = NULL;
	if (!j || !r) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	} else {
		char why[256] = "";
		int status;
		for (;;) {
			r->retry_after_ms = -1;
			r->blen = 0;
			r->body[0] = '\0';
			status = wh_post(NULL, wh_str(json_object_get(wh, "url")),
			                 json_string_value(json_object_get(wh, "secret")), j,
			                 s->webhooks->timeout_s, r, why, sizeof why);
			j->attempts++;
			if (!reg_wh_retryable(status) || j->attempts > s->webhooks->max_retries)
				break;
			/* The caller waits here: Retry-After capped at a minute. */
			long wait = reg_wh_honours_retry_after(status) ? r->retry_after_ms : -1;
			if (wait < 0)
				wait = reg_wh_backoff_ms(j->attempts, 0.5);
			if (wait > WH_TEST_WAIT_MAX)
				wait = WH_TEST_WAIT_MAX;
			struct timespec ts = {.tv_sec = wait / 1000,
			                      .tv_nsec = (wait % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		res = json_pack("{s:b}", "success", status > 0 && status < 400);
		if (status) {
			json_object_set_new(res, "response_status", json_integer(status));
			/* A body that is not UTF-8 cannot travel as a JSON string. */
			json_t *body = json_string(r->body);
			json_object_set_new(res, "response_body", body ? body : json_string(""));
		} else {
			char msg[300];
			snprintf(msg, sizeof msg, "Failed to test webhook: %s", why);
			json_object_set_new(res, "error_message", json_string(msg));
		}
	}
	wh_job_free(j);
	free(r);
	json_decref(wh);
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:o}", "result", res);
		rc = reg_answer(b, CN_TABLE_TestWebhookResponse, doc, resp, err);
		json_decref(doc);
	}
	return rc;
}
