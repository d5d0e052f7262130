/*
 * core/registry/webhook_log.c: the webhook delivery log, persisted in the
 * registry's webhook_deliveries column family so an operator can read what
 * happened after a restart.
 *
 * Key: the webhook id's 32 bytes, then a u64 sequence (big-endian, so a
 * webhook's records are one prefix in the order they were written). The
 * sequence is the write time in microseconds, bumped past the last one
 * issued, so it keeps rising across restarts without a stored counter.
 * Value: a WebhookDelivery FlatBuffer (schemas/registry/webhooks.fbs).
 *
 * Bounded per webhook: after each append the oldest records beyond
 * log_max (CAIRN_WEBHOOK_DELIVERY_LOG_MAX, 500 by default) are deleted.
 * The count per webhook is kept in memory, counted once from the store
 * the first time a webhook is logged to in this process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

#define WH_ID_LEN 32

typedef struct wh_count {
	char id[WH_ID_LEN];
	long n;
} wh_count;

/* Per-webhook counts, owned by the log (reg_state.log_mu). */
struct reg_wh_counts {
	wh_count *v;
	size_t n, cap;
};

static wh_count *wh_count_of(reg_state *s, struct reg_wh_counts *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (!memcmp(c->v[i].id, id, WH_ID_LEN))
			return &c->v[i];
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		wh_count *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return NULL;
		c->v = v, c->cap = cap;
	}
	wh_count *e = &c->v[c->n++];
	memcpy(e->id, id, WH_ID_LEN);
	e->n = 0;
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_DELIVERIES, id, WH_ID_LEN);
	if (it)
		cn_kv_iter_seek_first(it);
	for (; it && cn_kv_iter_valid(it); cn_kv_iter_next(it))
		e->n++;
	cn_kv_iter_free(it);
	return e;
}

static struct reg_wh_counts *wh_counts(reg_state *s)
{
	return s->log_counts;
}

void reg_wh_log(reg_state *s, const reg_wh_attempt *a)
{
	if (strlen(a->webhook_id) != WH_ID_LEN)
		return;
	json_t *d = json_pack("{s:s,s:s,s:s,s:i,s:I,s:I}", "delivery_id", a->delivery_id, "entity",
	                      a->entity, "action", a->action, "attempt", a->attempt, "timestamp",
	                      (json_int_t)a->at_ms, "duration_ms", (json_int_t)a->duration_ms);
	if (a->status)
		json_object_set_new(d, "status_code", json_integer(a->status));
	if (a->error && *a->error)
		json_object_set_new(d, "error", json_string(a->error));
	if (a->next_ms)
		json_object_set_new(d, "next_attempt_timestamp", json_integer(a->next_ms));
	pthread_mutex_lock(&s->log_mu);
	/* Deletes take log_mu too (reg_wh_delete): no record outlives its webhook. */
	cn_kv_val wv;
	cn_err gerr;
	if (cn_kv_get(s->db, REG_CF_WEBHOOKS, a->webhook_id, WH_ID_LEN, &wv, &gerr) != CN_OK) {
		pthread_mutex_unlock(&s->log_mu);
		json_decref(d);
		return;
	}
	cn_kv_val_release(&wv);
	uint64_t seq = (uint64_t)cn_now_ms() * 1000;
	s->log_seq = seq > s->log_seq ? seq : s->log_seq + 1;
	cn_key k;
	cn_key_init(&k);
	cn_key_raw(&k, a->webhook_id, WH_ID_LEN);
	cn_key_u64(&k, s->log_seq);
	cn_err err;
	cn_kv_batch *b = cn_kv_batch_new();
	wh_count *c = wh_count_of(s, wh_counts(s), a->webhook_id);
	cn_code rc = b ? reg_batch_put(b, REG_CF_DELIVERIES, k.b, k.len, CN_TABLE_WebhookDelivery,
	                               d, NULL, NULL, &err)
	               : CN_INTERNAL_ERROR;
	long drop = c ? c->n + 1 - s->log_max : 0;
	if (rc == CN_OK && drop > 0) {
		/* The oldest records are the first keys of the prefix. */
		cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_DELIVERIES, a->webhook_id, WH_ID_LEN);
		long n = 0;
		if (it)
			cn_kv_iter_seek_first(it);
		for (; it && cn_kv_iter_valid(it) && n < drop; cn_kv_iter_next(it), n++) {
			size_t kl;
			const uint8_t *old = cn_kv_iter_key(it, &kl);
			cn_kv_batch_del(b, REG_CF_DELIVERIES, old, kl);
		}
		cn_kv_iter_free(it);
		drop = n;
	}
	if (rc == CN_OK)
		rc = cn_kv_write(s->db, b, &err);
	if (rc == CN_OK && c)
		c->n += 1 - (drop > 0 ? drop : 0);
	pthread_mutex_unlock(&s->log_mu);
	cn_kv_batch_free(b);
	json_decref(d);
}

cn_code reg_wh_delete(reg_state *s, const char *id, size_t len, cn_err *err)
{
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!batch)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_lock(&s->log_mu);
	cn_kv_batch_del(batch, REG_CF_WEBHOOKS, id, len);
	cn_kv_iter *it =
	        len == WH_ID_LEN ? cn_kv_iter_new(s->db, REG_CF_DELIVERIES, id, len) : NULL;
	if (it)
		cn_kv_iter_seek_first(it);
	for (; it && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t kl;
		const uint8_t *k = cn_kv_iter_key(it, &kl);
		cn_kv_batch_del(batch, REG_CF_DELIVERIES, k, kl);
	}
	cn_code rc = it ? cn_kv_iter_status(it, err) : CN_OK;
	cn_kv_iter_free(it);
	if (rc == CN_OK)
		rc = reg_write(s, batch, err);
	/* Forget the count: a webhook id is never reused. */
	struct reg_wh_counts *c = wh_counts(s);
	for (size_t i = 0; rc == CN_OK && len == WH_ID_LEN && i < c->n; i++)
		if (!memcmp(c->v[i].id, id, WH_ID_LEN)) {
			c->v[i] = c->v[--c->n];
			break;
		}
	pthread_mutex_unlock(&s->log_mu);
	cn_kv_batch_free(batch);
	return rc;
}

cn_code reg_wh_log_open(reg_state *s, cn_err *err)
{
	s->log_counts = calloc(1, sizeof(struct reg_wh_counts));
	if (!s->log_counts)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	const char *v = getenv("CAIRN_WEBHOOK_DELIVERY_LOG_MAX");
	s->log_max = v && *v ? strtol(v, NULL, 10) : 500;
	if (s->log_max < 1)
		s->log_max = 1;
	pthread_mutex_init(&s->log_mu, NULL);
	return CN_OK;
}

void reg_wh_log_close(reg_state *s)
{
	struct reg_wh_counts *c = wh_counts(s);
	if (!c)
		return;
	free(c->v);
	free(c);
	s->log_counts = NULL;
	pthread_mutex_destroy(&s->log_mu);
}

/* Page token: the sequence of the next record, 16 hex digits. */
REG_METHOD(reg_list_webhook_deliveries)
{
	(void)ctx;
	reg_state *s = st;
	cn_fb_str id = cn_ListWebhookDeliveries_webhook_id(req);
	int64_t max = cn_ListWebhookDeliveries_has_max_results(req)
	                      ? cn_ListWebhookDeliveries_max_results(req)
	                      : 100;
	cn_fb_str tok = cn_ListWebhookDeliveries_page_token(req);
	json_t *wh;
	cn_code rc = reg_need(id, "webhook_id", err);
	if (rc == CN_OK && (max < 1 || max > 1000))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "max_results must be between 1 and 1000, got %lld", (long long)max);
	uint64_t from = 0;
	if (rc == CN_OK && tok.ptr && tok.len) {
		char t[17];
		char *end = NULL;
		if (tok.len == 16) {
			memcpy(t, tok.ptr, 16);
			t[16] = '\0';
			from = strtoull(t, &end, 16);
		}
		if (!end || *end)
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid page token '%.*s'", (int)tok.len, tok.ptr);
	}
	if (rc == CN_OK)
		rc = reg_webhook_load(s, id.ptr, id.len, &wh, err);
	if (rc != CN_OK)
		return rc;
	json_decref(wh);
	json_t *arr = json_array(), *doc = json_object();
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_DELIVERIES, id.ptr, id.len);
	cn_key k;
	cn_key_init(&k);
	cn_key_raw(&k, id.ptr, id.len);
	cn_key_u64(&k, from);
	for (cn_kv_iter_seek(it, k.b, k.len); rc == CN_OK && cn_kv_iter_valid(it);
	     cn_kv_iter_next(it)) {
		size_t kl, vl, pos = id.len;
		const uint8_t *key = cn_kv_iter_key(it, &kl), *v = cn_kv_iter_value(it, &vl);
		if ((int64_t)json_array_size(arr) == max) {
			uint64_t seq = 0;
			char t[17];
			cn_key_get_u64(key, kl, &pos, &seq);
			snprintf(t, sizeof t, "%016llx", (unsigned long long)seq);
			json_object_set_new(doc, "next_page_token", json_string(t));
			break;
		}
		json_t *d;
		rc = reg_decode_value(CN_TABLE_WebhookDelivery, v, vl, &d, err);
		if (rc == CN_OK)
			json_array_append_new(arr, d);
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	json_object_set_new(doc, "deliveries", arr);
	if (rc == CN_OK)
		rc = reg_answer(b, CN_TABLE_ListWebhookDeliveriesResponse, doc, resp, err);
	json_decref(doc);
	return rc;
}
