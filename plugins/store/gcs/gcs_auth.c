/*
 * plugins/store/gcs/gcs_auth.c: OAuth2 access tokens for Cloud Storage.
 *
 * Sources, in Google's order:
 *   1. a service-account key file (setting store.gcs.credentials_file, else
 *      GOOGLE_APPLICATION_CREDENTIALS): an RS256-signed JWT assertion
 *      (RFC 7523) is POSTed to the key's token_uri for a bearer token;
 *   2. none when STORAGE_EMULATOR_HOST is set (as Google's libraries do);
 *   3. the metadata server of the VM or pod (GCE_METADATA_HOST overrides
 *      metadata.google.internal).
 * store.gcs.auth ("key", "metadata", "none") forces one.
 *
 * A token is cached per source and fetched again 5 minutes before it
 * expires; the fetch holds the source's lock so that many threads wanting a
 * token make one request. Tokens and keys never reach a log or a message.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs.h"

#define GCS_TOKEN_MARGIN_MS (5 * 60 * 1000)
#define GCS_JWT_LIFETIME_S  3600
#define GCS_GRANT           "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
#define GCS_MD_TOKEN_PATH   "/computeMetadata/v1/instance/service-accounts/default/token"

static void gcs_creds_free(gcs_creds *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->client_email);
	if (c->private_key) /* a secret: do not leave it in freed memory */
		memset(c->private_key, 0, strlen(c->private_key));
	free(c->private_key);
	free(c->private_key_id);
	free(c->token_uri);
	memset(c->token, 0, sizeof c->token);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void gcs_creds_free_all(gcs_state *st)
{
	gcs_creds *c = st->creds;
	while (c) {
		gcs_creds *next = c->next;
		gcs_creds_free(c);
		c = next;
	}
	st->creds = NULL;
}

static char *gcs_strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int gcs_creds_load_key(gcs_creds *c, const char *path, cairn_error *err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		FILE *f = fopen(path, "r");
		int e = errno;
		if (f)
			fclose(f);
		return cairn_error_set(err,
		                       f ? CAIRN_ERR_INVALID
		                         : (e == EACCES ? CAIRN_ERR_PERMISSION : CAIRN_ERR_INVALID),
		                       "service-account key file '%.300s': %s", path,
		                       f ? "not valid JSON" : strerror(e));
	}
	const char *type = json_string_value(json_object_get(root, "type"));
	const char *email = json_string_value(json_object_get(root, "client_email"));
	const char *key = json_string_value(json_object_get(root, "private_key"));
	const char *kid = json_string_value(json_object_get(root, "private_key_id"));
	const char *uri = json_string_value(json_object_get(root, "token_uri"));
	int rc = CAIRN_OK;
	if (!type || strcmp(type, "service_account") != 0)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "'%.300s' is not a service-account key file (type \"%.40s\"); "
		                     "only service-account keys are supported",
		                     path, type ? type : "");
	else if (!email || !key)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "service-account key file '%.300s' lacks client_email or "
		                     "private_key",
		                     path);
	if (rc == CAIRN_OK) {
		c->client_email = strdup(email);
		c->private_key = strdup(key);
		c->private_key_id = gcs_strdup_or_null(kid);
		c->token_uri = strdup(uri ? uri : GCS_DEFAULT_TOKEN_URI);
		if (!c->client_email || !c->private_key || (kid && !c->private_key_id) ||
		    !c->token_uri)
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	json_decref(root);
	return rc;
}

int gcs_creds_get(gcs_state *st, const cairn_host_api *host, gcs_creds **out, cairn_error *err)
{
	const char *mode = host->config_get("store.gcs.auth");
	const char *file = host->config_get("store.gcs.credentials_file");
	if (!file || !file[0])
		file = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	const char *md_host = host->config_get("store.gcs.metadata_host");
	if (!md_host || !md_host[0])
		md_host = getenv("GCE_METADATA_HOST");
	if (!md_host || !md_host[0])
		md_host = GCS_METADATA_HOST;
	const char *emulator = getenv("STORAGE_EMULATOR_HOST");

	gcs_auth_kind kind;
	if (mode && mode[0]) {
		if (!strcmp(mode, "key"))
			kind = GCS_AUTH_KEY;
		else if (!strcmp(mode, "metadata"))
			kind = GCS_AUTH_METADATA;
		else if (!strcmp(mode, "none"))
			kind = GCS_AUTH_NONE;
		else
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "store.gcs.auth must be key, metadata or none, not "
			                       "'%.60s'",
			                       mode);
	} else if (file && file[0]) {
		kind = GCS_AUTH_KEY;
	} else if (emulator && emulator[0]) {
		kind = GCS_AUTH_NONE;
	} else {
		kind = GCS_AUTH_METADATA;
	}
	if (kind == GCS_AUTH_KEY && (!file || !file[0]))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "store.gcs.auth is key but no key file is set "
		                       "(store.gcs.credentials_file or "
		                       "GOOGLE_APPLICATION_CREDENTIALS)");
	const char *what = kind == GCS_AUTH_KEY ? file : kind == GCS_AUTH_METADATA ? md_host : "";
	char source[1200];
	snprintf(source, sizeof source, "%d:%s", (int)kind, what);

	pthread_mutex_lock(&st->mu);
	gcs_creds *c = st->creds;
	while (c && strcmp(c->source, source) != 0)
		c = c->next;
	int rc = CAIRN_OK;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c || !(c->source = strdup(source))) {
			free(c);
			c = NULL;
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		} else {
			pthread_mutex_init(&c->mu, NULL);
			c->kind = kind;
			if (kind == GCS_AUTH_KEY)
				rc = gcs_creds_load_key(c, file, err);
			else if (kind == GCS_AUTH_METADATA && !(c->token_uri = strdup(md_host)))
				rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			if (rc != CAIRN_OK) {
				gcs_creds_free(c);
				c = NULL;
			} else {
				c->next = st->creds;
				st->creds = c;
			}
		}
	}
	pthread_mutex_unlock(&st->mu);
	if (c)
		*out = c;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The JWT assertion */

static bool gcs_b64url(const cairn_host_api *host, const void *data, size_t len, gcs_buf *out)
{
	size_t n = host->base64_encode(data, len, NULL, 0, CAIRN_BASE64_URL);
	char *tmp = malloc(n + 1);
	bool ok = tmp && host->base64_encode(data, len, tmp, n + 1, CAIRN_BASE64_URL) == n &&
	          gcs_buf_add(out, tmp, n);
	free(tmp);
	return ok;
}

int gcs_jwt_assertion(const cairn_host_api *host, const gcs_creds *c, int64_t now_s, gcs_buf *out,
                      cairn_error *err)
{
	json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	if (hdr && c->private_key_id)
		json_object_set_new(hdr, "kid", json_string(c->private_key_id));
	json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->client_email, "scope",
	                           GCS_SCOPE, "aud", c->token_uri, "iat", (json_int_t)now_s, "exp",
	                           (json_int_t)(now_s + GCS_JWT_LIFETIME_S));
	char *h = hdr ? json_dumps(hdr, JSON_COMPACT) : NULL;
	char *p = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
	json_decref(hdr);
	json_decref(claims);
	int rc = CAIRN_OK;
	if (!h || !p || !gcs_b64url(host, h, strlen(h), out) || !GCS_LIT(out, ".") ||
	    !gcs_b64url(host, p, strlen(p), out))
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	free(h);
	free(p);
	if (rc != CAIRN_OK)
		return rc;
	uint8_t sig[1024];
	size_t sig_len = 0;
	rc = host->rsa_sha256_sign(c->private_key, strlen(c->private_key), out->p, out->len, sig,
	                           sizeof sig, &sig_len, err);
	if (rc != CAIRN_OK)
		return cairn_error_set(err, rc, "cannot sign with the key of %.200s: %s",
		                       c->client_email, err ? err->message : "");
	if (!GCS_LIT(out, ".") || !gcs_b64url(host, sig, sig_len, out))
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* Fetching and caching */

static int gcs_collect(void *arg, const void *data, size_t len)
{
	return gcs_buf_add(arg, data, len) ? CAIRN_OK : CAIRN_ERR_NO_MEMORY;
}

/* One token request; on success fills c->token and c->expires_ms. */
static int gcs_fetch_token(cairn_store *s, gcs_creds *c, cairn_error *err)
{
	const cairn_host_api *host = s->host;
	gcs_buf url = {0}, form = {0}, body = {.max = 64 * 1024};
	cairn_http_header hdrs[1];
	cairn_http_request req = {.size = sizeof req,
	                          .headers = hdrs,
	                          .nheaders = 1,
	                          .on_body = gcs_collect,
	                          .response_arg = &body,
	                          .timeout_ms = s->timeout_ms,
	                          .connect_timeout_ms = s->connect_timeout_ms};
	int rc = CAIRN_OK;
	const char *where;
	if (c->kind == GCS_AUTH_KEY) {
		gcs_buf jwt = {0};
		rc = gcs_jwt_assertion(host, c, host->now_ms() / 1000, &jwt, err);
		if (rc == CAIRN_OK && !(gcs_buf_add(&form, GCS_GRANT, strlen(GCS_GRANT)) &&
		                        gcs_pct(&form, gcs_buf_str(&jwt), false)))
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		gcs_buf_free(&jwt);
		hdrs[0] = (cairn_http_header){"Content-Type", "application/x-www-form-urlencoded"};
		req.method = "POST";
		req.url = c->token_uri;
		req.body = form.p;
		req.body_len = form.len;
		where = c->token_uri;
	} else {
		bool has_scheme = strstr(c->token_uri, "://") != NULL;
		if (!gcs_buf_add(&url, "http://", has_scheme ? 0 : 7) ||
		    !gcs_buf_add(&url, c->token_uri, strlen(c->token_uri)) ||
		    !gcs_buf_add(&url, GCS_MD_TOKEN_PATH, strlen(GCS_MD_TOKEN_PATH)))
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		hdrs[0] = (cairn_http_header){"Metadata-Flavor", "Google"};
		req.method = "GET";
		req.url = gcs_buf_str(&url);
		where = "the metadata server";
	}
	cairn_http_response resp = {.size = sizeof resp};
	if (rc == CAIRN_OK) {
		rc = host->http(&req, &resp, err);
		if (rc != CAIRN_OK)
			rc = cairn_error_set(err, rc, "token request to %.200s failed: %s", where,
			                     err ? err->message : "");
	}
	if (form.p) /* holds the signed assertion */
		memset(form.p, 0, form.len);
	gcs_buf_free(&form);
	gcs_buf_free(&url);
	if (rc == CAIRN_OK && resp.status != 200) {
		gcs_resp r = {.status = resp.status, .body = body};
		rc = gcs_fail_reply(&r, "token request refused by", where, err);
		/* Any refusal of our credentials is a permission problem to the
		 * caller, whatever code the token endpoint chose. */
		if (resp.status >= 400 && resp.status < 500 && err)
			err->code = rc = CAIRN_ERR_PERMISSION;
	}
	if (rc == CAIRN_OK) {
		json_t *root = json_loadb(body.p ? body.p : "", body.len, 0, NULL);
		const char *tok = json_string_value(json_object_get(root, "access_token"));
		json_int_t expires = json_integer_value(json_object_get(root, "expires_in"));
		if (!tok || !tok[0] || strlen(tok) >= sizeof c->token || expires <= 0) {
			rc = cairn_error_set(err, CAIRN_ERR_IO,
			                     "token reply from %.200s has no usable access_token "
			                     "and expires_in",
			                     where);
		} else {
			snprintf(c->token, sizeof c->token, "%s", tok);
			c->expires_ms = host->now_ms() + (int64_t)expires * 1000;
		}
		json_decref(root);
	}
	if (body.p)
		memset(body.p, 0, body.len);
	gcs_buf_free(&body);
	return rc;
}

int gcs_token(cairn_store *s, char *buf, size_t cap, cairn_error *err)
{
	gcs_creds *c = s->creds;
	if (c->kind == GCS_AUTH_NONE) {
		buf[0] = '\0';
		return CAIRN_OK;
	}
	pthread_mutex_lock(&c->mu);
	int rc = CAIRN_OK;
	if (c->expires_ms == 0 || s->host->now_ms() + GCS_TOKEN_MARGIN_MS >= c->expires_ms) {
		c->expires_ms = 0;
		rc = gcs_fetch_token(s, c, err);
	}
	if (rc == CAIRN_OK) {
		if (strlen(c->token) >= cap)
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "token buffer too small");
		else
			memcpy(buf, c->token, strlen(c->token) + 1);
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void gcs_token_forget(cairn_store *s)
{
	pthread_mutex_lock(&s->creds->mu);
	s->creds->expires_ms = 0;
	pthread_mutex_unlock(&s->creds->mu);
}
