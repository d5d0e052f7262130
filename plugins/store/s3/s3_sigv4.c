/*
 * plugins/store/s3/s3_sigv4.c: AWS Signature Version 4 (header and query
 * forms), on the host's SHA-256 and HMAC-SHA-256. Pure functions: the same
 * inputs give the same signature, so AWS's published examples test them.
 */
#include "s3_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void s3_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3_amz_date(int64_t now_ms, char out[17])
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

typedef struct s3_kv {
	char *k, *v; /* encoded (query) or lower-cased and trimmed (headers) */
} s3_kv;

static int s3_kv_cmp(const void *a, const void *b)
{
	const s3_kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

static void s3_kv_free(s3_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].k);
		free(kv[i].v);
	}
	free(kv);
}

static char *s3_encoded(const char *s)
{
	s3_buf b = {0};
	s3_buf_uri_encode(&b, s, strlen(s), false);
	s3_buf_add(&b, "", 0);
	if (b.oom) {
		s3_buf_free(&b);
		return NULL;
	}
	return b.p;
}

void s3_query_build(s3_buf *out, const s3_param *params, size_t n)
{
	if (n == 0)
		return;
	s3_kv *kv = calloc(n, sizeof *kv);
	if (!kv) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		kv[i].k = s3_encoded(params[i].name);
		kv[i].v = s3_encoded(params[i].value ? params[i].value : "");
		if (!kv[i].k || !kv[i].v) {
			out->oom = true;
			s3_kv_free(kv, n);
			return;
		}
	}
	qsort(kv, n, sizeof *kv, s3_kv_cmp);
	for (size_t i = 0; i < n; i++)
		s3_buf_printf(out, "%s%s=%s", i ? "&" : "", kv[i].k, kv[i].v);
	s3_kv_free(kv, n);
}

/* Lower-cased name; value trimmed with inner runs of spaces made one. */
static bool s3_canon_header(const cairn_http_header *h, s3_kv *out)
{
	size_t nl = strlen(h->name);
	out->k = malloc(nl + 1);
	out->v = malloc(strlen(h->value) + 1);
	if (!out->k || !out->v)
		return false;
	for (size_t i = 0; i <= nl; i++) {
		char c = h->name[i];
		out->k[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	const char *v = h->value;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t o = 0;
	bool space = false;
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space && o)
			out->v[o++] = ' ';
		space = false;
		out->v[o++] = *v;
	}
	out->v[o] = '\0';
	return true;
}

bool s3_sign(const cairn_host_api *h, const s3_sign_in *in, char *signed_headers, size_t sh_cap,
             char sig_hex[65])
{
	s3_kv *kv = calloc(in->nheaders ? in->nheaders : 1, sizeof *kv);
	s3_buf creq = {0}, sh = {0};
	bool ok = kv != NULL;
	for (size_t i = 0; ok && i < in->nheaders; i++)
		ok = s3_canon_header(&in->headers[i], &kv[i]);
	if (ok) {
		qsort(kv, in->nheaders, sizeof *kv, s3_kv_cmp);
		s3_buf_printf(&creq, "%s\n%s\n%s\n", in->method, in->canonical_uri,
		              in->canonical_query ? in->canonical_query : "");
		for (size_t i = 0; i < in->nheaders; i++) {
			s3_buf_printf(&creq, "%s:%s\n", kv[i].k, kv[i].v);
			s3_buf_printf(&sh, "%s%s", i ? ";" : "", kv[i].k);
		}
		s3_buf_printf(&creq, "\n%s\n%s", s3_buf_cstr(&sh), in->payload_hash);
		ok = !creq.oom && !sh.oom && sh.len < sh_cap;
	}
	if (ok) {
		memcpy(signed_headers, sh.p, sh.len + 1);
		uint8_t d[32], k[32];
		char creq_hex[65], date8[9];
		h->sha256(creq.p, creq.len, d);
		s3_hex(d, 32, creq_hex);
		memcpy(date8, in->amz_date, 8);
		date8[8] = '\0';
		s3_buf sts = {0};
		s3_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", in->amz_date,
		              date8, in->region, in->service, creq_hex);
		s3_buf key = {0};
		s3_buf_printf(&key, "AWS4%s", in->secret_key);
		ok = !sts.oom && !key.oom;
		if (ok) {
			h->hmac_sha256(key.p, key.len, date8, 8, k);
			h->hmac_sha256(k, 32, in->region, strlen(in->region), k);
			h->hmac_sha256(k, 32, in->service, strlen(in->service), k);
			h->hmac_sha256(k, 32, "aws4_request", 12, k);
			h->hmac_sha256(k, 32, sts.p, sts.len, d);
			s3_hex(d, 32, sig_hex);
		}
		/* The key material is secret: do not leave it in freed memory. */
		if (key.p)
			memset(key.p, 0, key.cap);
		memset(k, 0, sizeof k);
		s3_buf_free(&key);
		s3_buf_free(&sts);
	}
	s3_kv_free(kv, in->nheaders);
	s3_buf_free(&creq);
	s3_buf_free(&sh);
	return ok;
}

bool s3_sign_authorization(const cairn_host_api *h, const s3_sign_in *in, char *out, size_t cap)
{
	char sh[1024], sig[65], date8[9];
	if (!s3_sign(h, in, sh, sizeof sh, sig))
		return false;
	memcpy(date8, in->amz_date, 8);
	date8[8] = '\0';
	int n = snprintf(out, cap,
	                 "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
	                 "Signature=%s",
	                 in->access_key, date8, in->region, in->service, sh, sig);
	return n > 0 && (size_t)n < cap;
}
