/*
 * core/traces/experiments.c: what the traces service needs to know about an
 * experiment (does it exist, is it active, its artifact location, its trace
 * time-to-live tag), asked of the tracking service over the bus and cached
 * for a few seconds, so span ingestion does not call tracking per request.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_EXP_SLOTS  256
#define TRC_EXP_TTL_MS 5000

typedef struct trc_exp_slot {
	char id[64];
	int64_t fetched_ms;
	trc_exp_facts facts;
} trc_exp_slot;

struct trc_exp_cache {
	cn_bus_client *tracking; /* NULL: no tracking service configured */
	int64_t timeout_ms;
	pthread_mutex_t mu;
	trc_exp_slot slots[TRC_EXP_SLOTS];
};

cn_code trc_exps_open(trc_state *s, const cn_config *cfg, cn_err *err)
{
	trc_exp_cache *c = calloc(1, sizeof *c);
	if (!c)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	c->timeout_ms = cfg->request_timeout_ms;
	const char *addr = cn_config_service_addr(cfg, "tracking");
	if (addr && *addr) {
		cn_bus_tls tls = {cfg->tls_cert[0] ? cfg->tls_cert : NULL,
		                  cfg->tls_key[0] ? cfg->tls_key : NULL,
		                  cfg->tls_ca[0] ? cfg->tls_ca : NULL, NULL};
		cn_code rc = cn_bus_client_open(&c->tracking, "tracking", addr, &tls, err);
		if (rc != CN_OK) {
			pthread_mutex_destroy(&c->mu);
			free(c);
			return rc;
		}
	}
	s->exps = c;
	return CN_OK;
}

void trc_exps_close(trc_state *s)
{
	trc_exp_cache *c = s->exps;
	if (!c)
		return;
	cn_bus_client_close(c->tracking);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->exps = NULL;
}

/* "30d", "12h", "90m", "3600s" or "3600" (seconds) -> ms; -1 when malformed. */
static int64_t trc_parse_ttl(const char *v, size_t n)
{
	size_t i = 0;
	int64_t x = 0;
	while (i < n && isdigit((unsigned char)v[i])) {
		if (x > (INT64_MAX / 1000) / 100000)
			return -1;
		x = x * 10 + (v[i++] - '0');
	}
	if (i == 0)
		return -1;
	int64_t unit = 1000;
	if (i < n) {
		switch (v[i++]) {
		case 's': unit = 1000; break;
		case 'm': unit = 60 * 1000; break;
		case 'h': unit = 3600 * 1000; break;
		case 'd': unit = 86400 * 1000; break;
		default: return -1;
		}
	}
	return i == n ? x * unit : -1;
}

static cn_code trc_exp_fetch(trc_state *s, const char *id, size_t len, trc_exp_facts *f,
                             cn_err *err)
{
	trc_exp_cache *c = s->exps;
	memset(f, 0, sizeof *f);
	f->ttl_ms = -1;
	if (!c->tracking) {
		f->exists = f->active = true;
		cn_buf loc = {0};
		cn_buf_printf(&loc, "%s/%.*s", s->artifact_root, (int)len, id);
		snprintf(f->artifact_location, sizeof f->artifact_location, "%s",
		         loc.p ? loc.p : "");
		cn_buf_free(&loc);
		return CN_OK;
	}
	cn_fb_builder *b = cn_fb_builder_new(256);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref ref = cn_fb_create_string(b, id, len);
	cn_GetExperiment_start(b);
	cn_GetExperiment_add_experiment_id(b, ref);
	cn_fb_ref root = cn_GetExperiment_end(b);
	const uint8_t *buf;
	size_t blen;
	cn_code rc = CN_OK;
	if (!cn_fb_finish(b, root, &buf, &blen)) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_bus_call call = {.method = "GetExperiment",
	                    .caller = "traces",
	                    .deadline_ms = cn_now_ms() + c->timeout_ms,
	                    .payload = buf,
	                    .payload_len = blen};
	cn_bus_reply reply = {0};
	rc = cn_bus_call_sync(c->tracking, &call, &reply, err);
	cn_fb_builder_free(b);
	if (rc != CN_OK)
		return rc;
	if (reply.code == CN_RESOURCE_DOES_NOT_EXIST) {
		cn_bus_reply_free(&reply);
		return CN_OK; /* exists = false */
	}
	if (reply.code != CN_OK) {
		rc = cn_err_set(err, reply.code, "%s", reply.message);
		cn_bus_reply_free(&reply);
		return rc;
	}
	rc = cn_fb_verify(&cn_schema_cairn, CN_TABLE_GetExperimentResponse, reply.payload,
	                  reply.payload_len, err);
	if (rc == CN_OK) {
		cn_fb_table e = cn_GetExperimentResponse_experiment(cn_fb_root(reply.payload));
		cn_fb_str loc = cn_Experiment_artifact_location(e);
		f->exists = true;
		f->active = !cn_fb_str_eq(cn_Experiment_lifecycle_stage(e), "deleted");
		snprintf(f->artifact_location, sizeof f->artifact_location, "%.*s", (int)loc.len,
		         loc.ptr ? loc.ptr : "");
		cn_fb_vec tags = cn_Experiment_tags(e);
		for (uint32_t i = 0; i < tags.n; i++) {
			cn_fb_table t = cn_fb_vec_table(tags, i);
			if (cn_fb_str_eq(cn_ExperimentTag_key(t), TRC_TTL_TAG)) {
				cn_fb_str v = cn_ExperimentTag_value(t);
				f->ttl_ms = trc_parse_ttl(v.ptr ? v.ptr : "", v.len);
			}
		}
	}
	cn_bus_reply_free(&reply);
	return rc;
}

cn_code trc_exp_facts_get(trc_state *s, const char *exp_id, size_t len, trc_exp_facts *out,
                          cn_err *err)
{
	trc_exp_cache *c = s->exps;
	if (len == 0 || len >= sizeof c->slots[0].id)
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                  "Could not find experiment with ID %.*s",
		                  (int)(len > 64 ? 64 : len), exp_id);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)exp_id[i]) * 16777619u;
	trc_exp_slot *slot = &c->slots[h % TRC_EXP_SLOTS];
	int64_t now = cn_mono_ms();
	pthread_mutex_lock(&c->mu);
	if (strlen(slot->id) == len && memcmp(slot->id, exp_id, len) == 0 &&
	    now - slot->fetched_ms < TRC_EXP_TTL_MS) {
		*out = slot->facts;
		pthread_mutex_unlock(&c->mu);
		return CN_OK;
	}
	pthread_mutex_unlock(&c->mu);
	trc_exp_facts f;
	cn_code rc = trc_exp_fetch(s, exp_id, len, &f, err);
	if (rc != CN_OK)
		return rc;
	pthread_mutex_lock(&c->mu);
	memcpy(slot->id, exp_id, len);
	slot->id[len] = '\0';
	slot->fetched_ms = now;
	slot->facts = f;
	pthread_mutex_unlock(&c->mu);
	*out = f;
	return CN_OK;
}
