/*
 * plugins/store/gcs/gcs_sign.c: V4 signed URLs (GOOG4-RSA-SHA256) for
 * presign, signed with the service account's key as Google documents
 * ("Signing process: V4"): a canonical request of the method, the path-style
 * resource "/<bucket>/<object>", the sorted X-Goog-* query and the host
 * header, with an unsigned payload; its SHA-256 in a string to sign with the
 * credential scope "<date>/auto/storage/goog4_request"; the RSA-SHA256
 * signature of that string in hex as X-Goog-Signature.
 *
 * Only a key can sign locally. With metadata-server credentials Google
 * would sign through the IAM signBlob API, which this plugin does not call:
 * presign then answers UNSUPPORTED and the host proxies the transfer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcs.h"

static void gcs_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int gcs_sign_url(cairn_store *s, const char *method, const char *name, int64_t expires_s,
                 int64_t now_s, gcs_buf *url, gcs_buf *canonical, cairn_error *err)
{
	const gcs_creds *c = s->creds;
	if (!c || c->kind != GCS_AUTH_KEY)
		return cairn_error_set(err, CAIRN_ERR_UNSUPPORTED,
		                       "signed URLs need a service-account key "
		                       "(store.gcs.credentials_file)");
	if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "cannot presign method '%.20s'",
		                       method);
	if (expires_s < 1 || expires_s > 604800)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "signed URL lifetime %lld s not in 1..604800 (7 days)",
		                       (long long)expires_s);
	const char *host = strstr(s->endpoint, "://") + 3;
	size_t hlen = strcspn(host, "/");
	char date[16], stamp[32];
	time_t t = (time_t)now_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y%m%d", &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	char scope[64];
	snprintf(scope, sizeof scope, "%s/auto/storage/goog4_request", date);

	gcs_buf path = {0}, query = {0}, cred = {0}, creq = {0}, sts = {0};
	char num[32];
	snprintf(num, sizeof num, "%lld", (long long)expires_s);
	bool ok = GCS_LIT(&path, "/") && gcs_pct(&path, s->bucket, false) && GCS_LIT(&path, "/") &&
	          gcs_pct(&path, name, true) &&
	          gcs_buf_add(&cred, c->client_email, strlen(c->client_email)) &&
	          GCS_LIT(&cred, "/") && gcs_buf_add(&cred, scope, strlen(scope)) &&
	          GCS_LIT(&query, "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=") &&
	          gcs_pct(&query, gcs_buf_str(&cred), false) && GCS_LIT(&query, "&X-Goog-Date=") &&
	          gcs_buf_add(&query, stamp, strlen(stamp)) &&
	          GCS_LIT(&query, "&X-Goog-Expires=") && gcs_buf_add(&query, num, strlen(num)) &&
	          GCS_LIT(&query, "&X-Goog-SignedHeaders=host");
	/* The canonical request. */
	ok = ok && gcs_buf_add(&creq, method, strlen(method)) && GCS_LIT(&creq, "\n") &&
	     gcs_buf_add(&creq, path.p, path.len) && GCS_LIT(&creq, "\n") &&
	     gcs_buf_add(&creq, query.p, query.len) && GCS_LIT(&creq, "\nhost:") &&
	     gcs_buf_add(&creq, host, hlen) && GCS_LIT(&creq, "\n\nhost\nUNSIGNED-PAYLOAD");
	uint8_t digest[32];
	char hex[2 * 512 + 1];
	if (ok) {
		s->host->sha256(creq.p, creq.len, digest);
		gcs_hex(digest, 32, hex);
		ok = GCS_LIT(&sts, "GOOG4-RSA-SHA256\n") &&
		     gcs_buf_add(&sts, stamp, strlen(stamp)) && GCS_LIT(&sts, "\n") &&
		     gcs_buf_add(&sts, scope, strlen(scope)) && GCS_LIT(&sts, "\n") &&
		     gcs_buf_add(&sts, hex, 64);
	}
	int rc = ok ? CAIRN_OK : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	uint8_t sig[512];
	size_t sig_len = 0;
	if (rc == CAIRN_OK)
		rc = s->host->rsa_sha256_sign(c->private_key, strlen(c->private_key), sts.p,
		                              sts.len, sig, sizeof sig, &sig_len, err);
	if (rc == CAIRN_OK) {
		gcs_hex(sig, sig_len, hex);
		ok = gcs_buf_add(url, s->endpoint, strlen(s->endpoint)) &&
		     gcs_buf_add(url, path.p, path.len) && GCS_LIT(url, "?") &&
		     gcs_buf_add(url, query.p, query.len) && GCS_LIT(url, "&X-Goog-Signature=") &&
		     gcs_buf_add(url, hex, 2 * sig_len) &&
		     (!canonical || gcs_buf_add(canonical, creq.p, creq.len));
		if (!ok)
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	gcs_buf_free(&path);
	gcs_buf_free(&query);
	gcs_buf_free(&cred);
	gcs_buf_free(&creq);
	gcs_buf_free(&sts);
	return rc;
}

int gcs_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
                int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err)
{
	if (!gcs_path_ok(path, false))
		return gcs_bad_path(err, path);
	if (!method)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "no method to presign");
	gcs_buf name = {0}, out = {0};
	int rc = CAIRN_OK;
	if (upload_id) {
		if (strcmp(method, "PUT") != 0)
			return cairn_error_set(err, CAIRN_ERR_INVALID, "a part URL is for PUT");
		rc = gcs_mpu_part_name(s, upload_id, part_number, &name, err);
	} else {
		char *n = gcs_name(s, path);
		if (!n || !gcs_buf_add(&name, n, strlen(n)))
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		free(n);
	}
	if (rc == CAIRN_OK)
		rc = gcs_sign_url(s, method, name.p, expires_s, s->host->now_ms() / 1000, &out,
		                  NULL, err);
	if (rc == CAIRN_OK && out.len >= cap)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
		                     "signed URL (%zu bytes) does not fit", out.len);
	if (rc == CAIRN_OK)
		memcpy(url, out.p, out.len + 1);
	gcs_buf_free(&name);
	gcs_buf_free(&out);
	return rc;
}
