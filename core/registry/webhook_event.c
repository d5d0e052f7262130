/*
 * core/registry/webhook_event.c: MLflow 3's webhook vocabulary, without I/O:
 * which (entity, action) a registry change is, which subscriptions are
 * valid, the example payloads of the test call, the signed envelope, and
 * the retry schedule. Kept pure so registry_webhook_test.c checks each
 * against independently computed values.
 *
 * MLflow (mlflow/entities/webhook.py, mlflow/webhooks/types.py, delivery.py):
 * subscriptions name proto enum values (REGISTERED_MODEL, CREATED); the
 * payload names them in lower case; a registered model tagged
 * mlflow.prompt.is_prompt=true produces the PROMPT_* entities instead.
 * Retries are urllib3's Retry(total=max_retries, backoff_factor=1,
 * backoff_max=60, backoff_jitter=1, status_forcelist=[429, 500, 502, 503,
 * 504], respect_retry_after_header=True): the first retry is immediate, the
 * n-th waits 2^(n-1) s plus up to 1 s of jitter, and a Retry-After header on
 * 413, 429 or 503 replaces the backoff.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"
#include "core/registry/registry_int.h"

static const struct {
	const char *model, *prompt, *action;
} wh_kinds[REG_WH_KIND_COUNT_] = {
        [REG_WH_MODEL_CREATED] = {"REGISTERED_MODEL", "PROMPT", "CREATED"},
        [REG_WH_VERSION_CREATED] = {"MODEL_VERSION", "PROMPT_VERSION", "CREATED"},
        [REG_WH_VERSION_TAG_SET] = {"MODEL_VERSION_TAG", "PROMPT_VERSION_TAG", "SET"},
        [REG_WH_VERSION_TAG_DELETED] = {"MODEL_VERSION_TAG", "PROMPT_VERSION_TAG", "DELETED"},
        [REG_WH_ALIAS_CREATED] = {"MODEL_VERSION_ALIAS", "PROMPT_ALIAS", "CREATED"},
        [REG_WH_ALIAS_DELETED] = {"MODEL_VERSION_ALIAS", "PROMPT_ALIAS", "DELETED"},
        /* MLflow has no event for a registered model's tags, only a prompt's. */
        [REG_WH_MODEL_TAG_SET] = {NULL, "PROMPT_TAG", "SET"},
        [REG_WH_MODEL_TAG_DELETED] = {NULL, "PROMPT_TAG", "DELETED"},
};

bool reg_wh_event_of(reg_wh_kind kind, bool prompt, const char **entity, const char **action)
{
	if ((unsigned)kind >= REG_WH_KIND_COUNT_)
		return false;
	*entity = prompt ? wh_kinds[kind].prompt : wh_kinds[kind].model;
	*action = wh_kinds[kind].action;
	return *entity != NULL;
}

/* VALID_ENTITY_ACTIONS, in proto enum order; actions listed in the order
 * MLflow's message sorts them (by lower-case value). */
static const struct {
	const char *entity;
	const char *actions[3];
} wh_valid[] = {
        {"REGISTERED_MODEL", {"CREATED"}},
        {"MODEL_VERSION", {"CREATED"}},
        {"MODEL_VERSION_TAG", {"DELETED", "SET"}},
        {"MODEL_VERSION_ALIAS", {"CREATED", "DELETED"}},
        {"PROMPT", {"CREATED"}},
        {"PROMPT_VERSION", {"CREATED"}},
        {"PROMPT_TAG", {"DELETED", "SET"}},
        {"PROMPT_VERSION_TAG", {"DELETED", "SET"}},
        {"PROMPT_ALIAS", {"CREATED", "DELETED"}},
};
static const char *const wh_actions[] = {"CREATED", "UPDATED", "DELETED", "SET"};

static bool wh_is(const char *name, cn_fb_str v)
{
	return v.ptr && strlen(name) == v.len && memcmp(name, v.ptr, v.len) == 0;
}

static void wh_lower(char *dst, size_t cap, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

cn_code reg_wh_check_event(cn_fb_str entity, cn_fb_str action, cn_err *err)
{
	size_t e = 0, ne = sizeof wh_valid / sizeof *wh_valid;
	while (e < ne && !wh_is(wh_valid[e].entity, entity))
		e++;
	if (e == ne)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value '%.*s' for parameter 'events.entity': must be one "
		                  "of REGISTERED_MODEL, MODEL_VERSION, MODEL_VERSION_TAG, "
		                  "MODEL_VERSION_ALIAS, PROMPT, PROMPT_VERSION, PROMPT_TAG, "
		                  "PROMPT_VERSION_TAG, PROMPT_ALIAS",
		                  entity.ptr ? (int)entity.len : 0, entity.ptr ? entity.ptr : "");
	bool known = false;
	for (size_t a = 0; a < sizeof wh_actions / sizeof *wh_actions; a++)
		known = known || wh_is(wh_actions[a], action);
	if (!known)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid value '%.*s' for parameter 'events.action': must be one "
		                  "of CREATED, UPDATED, DELETED, SET",
		                  action.ptr ? (int)action.len : 0, action.ptr ? action.ptr : "");
	char valid[64] = "", one[16], le[24], la[12];
	for (size_t a = 0; a < 3 && wh_valid[e].actions[a]; a++) {
		if (wh_is(wh_valid[e].actions[a], action))
			return CN_OK;
		wh_lower(one, sizeof one, wh_valid[e].actions[a]);
		size_t n = strlen(valid);
		snprintf(valid + n, sizeof valid - n, "%s'%s'", n ? ", " : "", one);
	}
	wh_lower(le, sizeof le, wh_valid[e].entity);
	snprintf(la, sizeof la, "%.*s", (int)action.len, action.ptr);
	wh_lower(la, sizeof la, la);
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid action '%s' for entity '%s'. Valid actions are: [%s]", la, le,
	                  valid);
}

/* MLflow's example payloads (mlflow/webhooks/types.py, `example()`), sent
 * by the test call. */
json_t *reg_wh_example(const char *entity, const char *action)
{
	bool prompt = !strncmp(entity, "PROMPT", 6);
	const char *name = prompt ? "example_prompt" : "example_model";
	json_t *tags = json_pack("{s:s}", "example_key", "example_value");
	json_t *d = json_pack("{s:s}", "name", name);
	bool version = !strcmp(entity, "MODEL_VERSION") || !strcmp(entity, "PROMPT_VERSION") ||
	               !strcmp(entity, "MODEL_VERSION_TAG") ||
	               !strcmp(entity, "PROMPT_VERSION_TAG");
	bool alias = strstr(entity, "ALIAS") != NULL, tag = strstr(entity, "TAG") != NULL;
	if (alias) {
		json_object_set_new(d, "alias", json_string("example_alias"));
		if (!strcmp(action, "CREATED"))
			json_object_set_new(d, "version", json_string("1"));
	} else if (tag) {
		if (version)
			json_object_set_new(d, "version", json_string("1"));
		json_object_set_new(d, "key", json_string("example_key"));
		if (!strcmp(action, "SET"))
			json_object_set_new(d, "value", json_string("example_value"));
	} else if (version) {
		json_object_set_new(d, "version", json_string("1"));
		if (prompt) {
			json_object_set_new(d, "template", json_string("Hello {{name}}!"));
		} else {
			json_object_set_new(d, "source", json_string("models:/123"));
			json_object_set_new(d, "run_id", json_string("abcd1234abcd5678"));
		}
		json_object_set(d, "tags", tags);
		json_object_set_new(d, "description",
		                    json_string(prompt ? "An example prompt version"
		                                       : "An example model version"));
	} else {
		json_object_set(d, "tags", tags);
		json_object_set_new(d, "description",
		                    json_string(prompt ? "An example prompt"
		                                       : "An example registered "
		                                         "model"));
	}
	json_decref(tags);
	return d;
}

/* datetime.now(timezone.utc).isoformat(): microseconds unless zero. */
void reg_wh_isotime(int64_t now_us, char out[40])
{
	time_t t = (time_t)(now_us / 1000000);
	int us = (int)(now_us % 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (us)
		n += (size_t)snprintf(out + n, 40 - n, ".%06d", us);
	snprintf(out + n, 40 - n, "+00:00");
}

char *reg_wh_payload(const char *entity, const char *action, json_t *data, int64_t now_us)
{
	char e[24], a[12], ts[40];
	wh_lower(e, sizeof e, entity);
	wh_lower(a, sizeof a, action);
	reg_wh_isotime(now_us, ts);
	json_t *p = json_pack("{s:s,s:s,s:s,s:O}", "entity", e, "action", a, "timestamp", ts,
	                      "data", data);
	/* json.dumps' defaults: ", " and ": " separators, non-ASCII escaped,
	 * keys in insertion order. */
	char *js = p ? json_dumps(p, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
	json_decref(p);
	/* Python writes \u escapes in lower-case hex, jansson in upper. */
	for (char *c = js; c && *c; c++) {
		if (*c != '\\')
			continue;
		if (c[1] == 'u')
			for (int i = 2; i < 6 && c[i]; i++)
				c[i] = (char)(c[i] >= 'A' && c[i] <= 'F' ? c[i] + 32 : c[i]);
		c++;
	}
	return js;
}

bool reg_wh_sign(const char *secret, const char *delivery_id, const char *ts, const char *payload,
                 char out[REG_WH_SIG_MAX])
{
	size_t ml = strlen(delivery_id) + strlen(ts) + strlen(payload) + 3;
	char *msg = malloc(ml);
	if (!msg)
		return false;
	snprintf(msg, ml, "%s.%s.%s", delivery_id, ts, payload);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
	               strlen(msg), mac, &maclen) != NULL;
	free(msg);
	if (!ok)
		return false;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
	return true;
}

bool reg_wh_retryable(int status)
{
	return status == 0 || status == 429 || status == 500 || status == 502 || status == 503 ||
	       status == 504;
}

bool reg_wh_honours_retry_after(int status)
{
	return status == 413 || status == 429 || status == 503;
}

long reg_wh_backoff_ms(int failures, double jitter01)
{
	if (failures <= 1)
		return 0;
	double s = 1.0;
	for (int i = 1; i < failures && s < 60.0; i++)
		s *= 2.0;
	s += jitter01;
	return (long)((s > 60.0 ? 60.0 : s) * 1000.0);
}

long reg_wh_retry_after_ms(const char *v, size_t len, int64_t now_ms)
{
	char tmp[64];
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r'))
		len--;
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	bool digits = true;
	for (size_t i = 0; i < len; i++)
		digits = digits && tmp[i] >= '0' && tmp[i] <= '9';
	if (digits)
		return len > 9 ? -1 : strtol(tmp, NULL, 10) * 1000L;
	/* An HTTP-date (IMF-fixdate); a date in the past means now. */
	struct tm tm = {0};
	const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	int64_t at = (int64_t)timegm(&tm) * 1000;
	return at > now_ms ? (long)(at - now_ms) : 0;
}

void reg_wh_uuid4(char out[37])
{
	char h[33];
	cn_id_hex32(h);
	h[12] = '4';
	h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static json_t *wh_tag_dict(json_t *obj)
{
	json_t *d = json_object(), *t;
	size_t i;
	json_array_foreach(json_object_get(obj, "tags"), i, t)
	{
		const char *k = json_string_value(json_object_get(t, "key"));
		json_t *v = json_object_get(t, "value");
		if (k)
			json_object_set_new(
			        d, k, json_string(json_is_string(v) ? json_string_value(v) : ""));
	}
	return d;
}

json_t *reg_wh_data_model(json_t *model)
{
	/* The handler passes the request's description: "" when not given. */
	json_t *desc = json_object_get(model, "description");
	return json_pack("{s:O,s:o,s:s}", "name", json_object_get(model, "name"), "tags",
	                 wh_tag_dict(model), "description",
	                 json_is_string(desc) ? json_string_value(desc) : "");
}

json_t *reg_wh_data_version(json_t *v, bool prompt)
{
	json_t *d = json_pack("{s:O,s:O}", "name", json_object_get(v, "name"), "version",
	                      json_object_get(v, "version"));
	if (prompt) {
		const char *tpl = reg_tag_get(v, "tags", REG_PROMPT_TEXT_TAG);
		json_object_set_new(d, "template", json_string(tpl ? tpl : ""));
	} else {
		json_object_set(d, "source", json_object_get(v, "source"));
		json_t *run = json_object_get(v, "run_id");
		json_object_set(d, "run_id", json_is_string(run) ? run : json_null());
	}
	json_object_set_new(d, "tags", wh_tag_dict(v));
	json_t *desc = json_object_get(v, "description");
	json_object_set(d, "description",
	                json_is_string(desc) && json_string_length(desc) ? desc : json_null());
	return d;
}
