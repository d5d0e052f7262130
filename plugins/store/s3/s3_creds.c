/*
 * plugins/store/s3/s3_creds.c: where the S3 plugin finds AWS credentials,
 * in the order AWS's SDKs use, after Cairn's own settings:
 *   0. the settings store.s3.access_key_id, store.s3.secret_access_key and
 *      (optional) store.s3.session_token (config file, flags, or
 *      CAIRN_STORE_S3_...; `cairn config` masks them);
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      (optional) AWS_SESSION_TOKEN;
 *   2. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials, section AWS_PROFILE (default "default"), keys
 *      aws_access_key_id, aws_secret_access_key, aws_session_token;
 *   3. the container endpoint (ECS, EKS Pod Identity):
 *      http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, or
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI with the token of
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) as Authorization;
 *   4. the EC2 instance metadata service, IMDSv2 (a session token from PUT
 *      /latest/api/token first), at AWS_EC2_METADATA_SERVICE_ENDPOINT or
 *      http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true skips it.
 * The result is cached; credentials with an expiry (3 and 4) are fetched
 * again once they expire within five minutes. Finding none is remembered
 * for ten seconds, so that requests fail fast instead of each probing the
 * metadata addresses. Secrets never reach a log
 * line or an error message.
 */
#include "s3_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_CREDS_REFRESH_MS (5 * 60 * 1000)
#define S3_CREDS_HTTP_MS    5000
#define S3_CREDS_RETRY_MS   10000 /* how long "no credentials" is remembered */

void s3_creds_init(s3_cred_provider *p, const cairn_host_api *host)
{
	memset(p, 0, sizeof *p);
	p->host = host;
	pthread_mutex_init(&p->mu, NULL);
	const char *profile = getenv("AWS_PROFILE");
	snprintf(p->profile, sizeof p->profile, "%s", profile && *profile ? profile : "default");
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *home = getenv("HOME");
	if (file && *file)
		snprintf(p->file, sizeof p->file, "%s", file);
	else if (home && *home)
		snprintf(p->file, sizeof p->file, "%s/.aws/credentials", home);
}

void s3_creds_fini(s3_cred_provider *p)
{
	memset(&p->cached, 0, sizeof p->cached);
	pthread_mutex_destroy(&p->mu);
}

static bool s3_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static bool s3_creds_env(s3_creds *c)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");
	if (!id || !*id || !secret || !*secret)
		return false;
	memset(c, 0, sizeof *c);
	snprintf(c->source, sizeof c->source, "environment");
	return s3_copy(c->access_key, sizeof c->access_key, id) &&
	       s3_copy(c->secret_key, sizeof c->secret_key, secret) &&
	       s3_copy(c->token, sizeof c->token, token ? token : "");
}

static bool s3_creds_settings(const cairn_host_api *h, s3_creds *c)
{
	if (!h->config_get)
		return false;
	const char *id = h->config_get("store.s3.access_key_id");
	const char *secret = h->config_get("store.s3.secret_access_key");
	const char *token = h->config_get("store.s3.session_token");
	if (!id || !*id || !secret || !*secret)
		return false;
	memset(c, 0, sizeof *c);
	snprintf(c->source, sizeof c->source, "settings");
	return s3_copy(c->access_key, sizeof c->access_key, id) &&
	       s3_copy(c->secret_key, sizeof c->secret_key, secret) &&
	       s3_copy(c->token, sizeof c->token, token ? token : "");
}

static char *s3_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The INI file's section [profile]: its three keys. */
static bool s3_creds_file(const s3_cred_provider *p, s3_creds *c)
{
	if (!p->file[0])
		return false;
	FILE *f = fopen(p->file, "re");
	if (!f)
		return false;
	memset(c, 0, sizeof *c);
	snprintf(c->source, sizeof c->source, "shared file");
	char line[4608];
	bool in = false;
	while (fgets(line, sizeof line, f)) {
		char *s = s3_trim(line);
		if (*s == '#' || *s == ';' || !*s)
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (end) {
				*end = '\0';
				in = strcmp(s3_trim(s + 1), p->profile) == 0;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		char *k = s3_trim(s), *v = s3_trim(eq + 1);
		if (!strcmp(k, "aws_access_key_id"))
			s3_copy(c->access_key, sizeof c->access_key, v);
		else if (!strcmp(k, "aws_secret_access_key"))
			s3_copy(c->secret_key, sizeof c->secret_key, v);
		else if (!strcmp(k, "aws_session_token"))
			s3_copy(c->token, sizeof c->token, v);
	}
	memset(line, 0, sizeof line);
	fclose(f);
	return c->access_key[0] && c->secret_key[0];
}

bool s3_json_string(const char *doc, size_t len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i + nlen + 2 <= len; i++) {
		if (doc[i] != '"' || memcmp(doc + i + 1, name, nlen) != 0 ||
		    doc[i + 1 + nlen] != '"')
			continue;
		size_t j = i + nlen + 2;
		while (j < len && isspace((unsigned char)doc[j]))
			j++;
		if (j >= len || doc[j] != ':')
			continue;
		j++;
		while (j < len && isspace((unsigned char)doc[j]))
			j++;
		if (j >= len || doc[j] != '"')
			return false;
		size_t o = 0;
		for (j++; j < len && doc[j] != '"'; j++) {
			char ch = doc[j];
			if (ch == '\\') {
				if (++j >= len)
					return false;
				ch = doc[j] == 'n' ? '\n' : doc[j] == 't' ? '\t' : doc[j];
				if (doc[j] == 'u') /* not used in credentials */
					return false;
			}
			if (o + 1 >= cap)
				return false;
			out[o++] = ch;
		}
		if (j >= len)
			return false;
		out[o] = '\0';
		return true;
	}
	return false;
}

bool s3_iso8601_ms(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	int consumed = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int64_t t = (int64_t)timegm(&tm) * 1000;
	const char *r = s + consumed;
	if (*r == '.') {
		int64_t frac = 0, scale = 1000;
		for (r++; isdigit((unsigned char)*r); r++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*r - '0') * scale;
			}
		}
		t += frac;
	}
	if (*r == '+' || *r == '-') {
		int hh = 0, mm = 0;
		if (sscanf(r + 1, "%2d:%2d", &hh, &mm) != 2)
			return false;
		int64_t off = ((int64_t)hh * 60 + mm) * 60000;
		t += *r == '+' ? -off : off;
	}
	*ms = t;
	return true;
}

static int s3_cred_body_cb(void *arg, const void *data, size_t len)
{
	s3_buf *b = arg;
	s3_buf_add(b, data, len);
	return b->oom ? CAIRN_ERR_NO_MEMORY : CAIRN_OK;
}

/* One small request of the credential endpoints; the body into out. */
static int s3_cred_http(const cairn_host_api *h, const char *method, const char *url,
                        const cairn_http_header *hdrs, size_t nh, s3_buf *out, int *status,
                        cairn_error *err)
{
	out->max = 64 * 1024;
	cairn_http_request req = {
	        .size = sizeof req,
	        .method = method,
	        .url = url,
	        .headers = hdrs,
	        .nheaders = nh,
	        .on_body = s3_cred_body_cb,
	        .response_arg = out,
	        .timeout_ms = S3_CREDS_HTTP_MS,
	        .connect_timeout_ms = 1000,
	};
	cairn_http_response resp = {.size = sizeof resp};
	int rc = h->http(&req, &resp, err);
	*status = resp.status;
	return rc;
}

/* Credentials from a JSON document of the container or instance endpoint. */
static bool s3_creds_from_json(const s3_buf *b, s3_creds *c, const char *source)
{
	char exp[64] = "";
	memset(c, 0, sizeof *c);
	snprintf(c->source, sizeof c->source, "%s", source);
	if (!b->p ||
	    !s3_json_string(b->p, b->len, "AccessKeyId", c->access_key, sizeof c->access_key) ||
	    !s3_json_string(b->p, b->len, "SecretAccessKey", c->secret_key, sizeof c->secret_key))
		return false;
	s3_json_string(b->p, b->len, "Token", c->token, sizeof c->token);
	if (s3_json_string(b->p, b->len, "Expiration", exp, sizeof exp))
		s3_iso8601_ms(exp, &c->expires_ms);
	return true;
}

/* 1 found, 0 not configured, or a negative status (-rc) with err set. */
static int s3_creds_container(const cairn_host_api *h, s3_creds *c, cairn_error *err)
{
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char url[2048];
	if (rel && *rel)
		snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
	else if (full && *full)
		snprintf(url, sizeof url, "%s", full);
	else
		return 0;
	char token[4096] = "";
	const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *tok_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	if (tok_file && *tok_file) {
		FILE *f = fopen(tok_file, "re");
		if (f) {
			if (!fgets(token, sizeof token, f))
				token[0] = '\0';
			fclose(f);
		}
		char *t = s3_trim(token);
		memmove(token, t, strlen(t) + 1);
	} else if (tok && *tok) {
		snprintf(token, sizeof token, "%s", tok);
	}
	cairn_http_header hdr = {"Authorization", token};
	s3_buf body = {0};
	int status = 0;
	int rc = s3_cred_http(h, "GET", url, &hdr, token[0] ? 1 : 0, &body, &status, err);
	bool ok = rc == CAIRN_OK && status == 200 && s3_creds_from_json(&body, c, "container");
	memset(token, 0, sizeof token);
	s3_buf_free(&body);
	if (ok)
		return 1;
	if (rc == CAIRN_OK)
		cairn_error_set(err, CAIRN_ERR_PERMISSION,
		                "container credentials endpoint answered HTTP %d without usable "
		                "credentials",
		                status);
	return -(rc == CAIRN_OK ? CAIRN_ERR_PERMISSION : rc);
}

static int s3_creds_imds(const cairn_host_api *h, s3_creds *c, cairn_error *err)
{
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	if (off && !strcmp(off, "true"))
		return 0;
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char base[512], url[1024], token[1024] = "";
	snprintf(base, sizeof base, "%s", ep && *ep ? ep : "http://169.254.169.254");
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	s3_buf body = {0};
	int status = 0;
	/* IMDSv2: a session token first. */
	cairn_http_header ttl = {"X-aws-ec2-metadata-token-ttl-seconds", "21600"};
	snprintf(url, sizeof url, "%s/latest/api/token", base);
	int rc = s3_cred_http(h, "PUT", url, &ttl, 1, &body, &status, err);
	if (rc != CAIRN_OK) {
		s3_buf_free(&body);
		return 0; /* no metadata service here: not an error, just no source */
	}
	if (status == 200 && body.len < sizeof token)
		snprintf(token, sizeof token, "%s", s3_buf_cstr(&body));
	s3_buf_free(&body);
	if (!token[0]) {
		cairn_error_set(err, CAIRN_ERR_PERMISSION,
		                "instance metadata service refused a session token (HTTP %d)",
		                status);
		return -CAIRN_ERR_PERMISSION;
	}
	cairn_http_header auth = {"X-aws-ec2-metadata-token", token};
	snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
	rc = s3_cred_http(h, "GET", url, &auth, 1, &body, &status, err);
	char role[256] = "";
	if (rc == CAIRN_OK && status == 200 && body.len > 0 && body.len < sizeof role) {
		snprintf(role, sizeof role, "%s", s3_buf_cstr(&body));
		char *nl = strchr(role, '\n');
		if (nl)
			*nl = '\0';
	}
	s3_buf_free(&body);
	bool ok = false;
	if (role[0]) {
		snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base,
		         role);
		rc = s3_cred_http(h, "GET", url, &auth, 1, &body, &status, err);
		ok = rc == CAIRN_OK && status == 200 && s3_creds_from_json(&body, c, "instance");
		s3_buf_free(&body);
	}
	memset(token, 0, sizeof token);
	if (ok)
		return 1;
	cairn_error_set(err, CAIRN_ERR_PERMISSION,
	                "instance metadata service has no role credentials%s",
	                role[0] ? "" : " (no role attached)");
	return -CAIRN_ERR_PERMISSION;
}

int s3_creds_get(s3_cred_provider *p, s3_creds *out, cairn_error *err)
{
	pthread_mutex_lock(&p->mu);
	int64_t now = p->host->now_ms();
	if (p->have &&
	    (p->cached.expires_ms == 0 || now < p->cached.expires_ms - S3_CREDS_REFRESH_MS)) {
		*out = p->cached;
		pthread_mutex_unlock(&p->mu);
		return CAIRN_OK;
	}
	if (!p->have && now < p->fail_until_ms) {
		int st = cairn_error_set(err, p->fail_status, "%s", p->fail_msg);
		pthread_mutex_unlock(&p->mu);
		return st;
	}
	s3_creds c;
	int rc = CAIRN_OK;
	int found = s3_creds_settings(p->host, &c) || s3_creds_env(&c) || s3_creds_file(p, &c);
	if (!found)
		found = s3_creds_container(p->host, &c, err);
	if (found == 0)
		found = s3_creds_imds(p->host, &c, err);
	if (found > 0) {
		if (p->have && strcmp(p->cached.source, c.source) != 0)
			p->host->log(CAIRN_LOG_INFO, "STORE-S3-CREDENTIALS",
			             "s3: credentials now from the %s", c.source);
		else if (!p->have)
			p->host->log(CAIRN_LOG_INFO, "STORE-S3-CREDENTIALS",
			             "s3: credentials from the %s", c.source);
		p->cached = c;
		p->have = true;
		*out = c;
	} else if (found < 0 && p->have && now < p->cached.expires_ms) {
		/* Refresh failed but what we hold is still good for a while. */
		p->host->log(CAIRN_LOG_WARN, "STORE-S3-CREDENTIALS-REFRESH",
		             "s3: refreshing %s credentials failed (%s); using the current ones",
		             p->cached.source, err ? err->message : "");
		*out = p->cached;
	} else if (found < 0) {
		rc = -found;
	} else {
		rc = cairn_error_set(err, CAIRN_ERR_PERMISSION,
		                     "no AWS credentials found (environment, shared credentials "
		                     "file profile '%s', container or instance metadata)",
		                     p->profile);
	}
	if (rc != CAIRN_OK && !p->have) {
		p->fail_until_ms = now + S3_CREDS_RETRY_MS;
		p->fail_status = rc;
		snprintf(p->fail_msg, sizeof p->fail_msg, "%.500s",
		         err ? err->message : "no credentials");
	}
	memset(&c, 0, sizeof c);
	pthread_mutex_unlock(&p->mu);
	return rc;
}
