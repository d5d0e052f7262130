/*
 * plugins/store/azure/azure_auth.c: Shared Key request signing and service
 * SAS generation for the Blob service, as Microsoft's "Authorize with Shared
 * Key" and "Create a service SAS" pages define them, plus the URL, date and
 * time formats both need.
 */
#include "azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t az_url_encode(const char *in, size_t len, bool keep_slash, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
		             ch == '~' || (keep_slash && ch == '/');
		if (plain) {
			if (n + 1 < cap)
				out[n] = (char)ch;
			n++;
		} else {
			if (n + 3 < cap) {
				out[n] = '%';
				out[n + 1] = hex[ch >> 4];
				out[n + 2] = hex[ch & 15];
			}
			n += 3;
		}
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

void az_block_id(const char *upload_id, int part, int sub, char *b64, size_t cap,
                 const cairn_host_api *host)
{
	/* One length for every id: the service wants that of all blocks of a blob. */
	char raw[AZ_BLOCK_ID_RAW_LEN + 8];
	snprintf(raw, sizeof raw, "%.32s-%05d-%05d", upload_id, part, sub);
	host->base64_encode(raw, strlen(raw), b64, cap, 0);
}

static const char *const az_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const az_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Month and weekday names by hand: strftime's follow the locale. */
void az_http_date(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char tmp[96]; /* roomier than any real date, so the compiler sees no cut */
	snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", az_days[tm.tm_wday % 7],
	         tm.tm_mday, az_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
	snprintf(out, 32, "%.31s", tmp);
}

void az_iso8601(int64_t ms, char out[24])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char tmp[96];
	snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(out, 24, "%.23s", tmp);
}

int64_t az_parse_http_date(const char *s, size_t len)
{
	char buf[64], mon[4] = "";
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	const char *p = strchr(buf, ',');
	if (!p)
		return -1;
	struct tm tm = {0};
	int n = 0;
	if (sscanf(p + 1, " %2d %3s %4d %2d:%2d:%2d GMT%n", &tm.tm_mday, mon, &tm.tm_year,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n == 0)
		return -1;
	tm.tm_mon = -1;
	for (int i = 0; i < 12; i++)
		if (strcmp(mon, az_months[i]) == 0)
			tm.tm_mon = i;
	if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

/* ------------------------------------------------------------------------ */
/* A small string builder that remembers running out of memory. */

typedef struct az_sb {
	char *p;
	size_t len, cap;
	bool failed;
} az_sb;

static void az_sb_add(az_sb *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void az_sb_str(az_sb *b, const char *s)
{
	az_sb_add(b, s ? s : "", s ? strlen(s) : 0);
}

static int az_kv_cmp(const void *a, const void *b)
{
	return strcmp(((const az_kv *)a)->name, ((const az_kv *)b)->name);
}

char *az_string_to_sign(const az_sign_input *in)
{
	az_sb b = {0};
	char len[24] = "";
	if (in->content_length > 0)
		snprintf(len, sizeof len, "%lld", (long long)in->content_length);
	/* VERB, Content-Encoding, Content-Language, Content-Length, Content-MD5,
	 * Content-Type, Date, If-Modified-Since, If-Match, If-None-Match,
	 * If-Unmodified-Since, Range: one line each, empty when not sent (the
	 * date goes in x-ms-date, the range in x-ms-range). */
	az_sb_str(&b, in->method);
	az_sb_str(&b, "\n\n\n");
	az_sb_str(&b, len);
	az_sb_str(&b, "\n\n");
	az_sb_str(&b, in->content_type);
	az_sb_str(&b, "\n\n\n");
	az_sb_str(&b, in->if_match);
	az_sb_str(&b, "\n\n\n\n");
	/* Canonicalized headers: x-ms-* by name. Names are distinct and already
	 * lower case, values have no line breaks (the host refuses them). */
	az_kv *h = in->nheaders ? malloc(in->nheaders * sizeof *h) : NULL;
	if (in->nheaders && !h) {
		free(b.p);
		return NULL;
	}
	if (h) {
		memcpy(h, in->headers, in->nheaders * sizeof *h);
		qsort(h, in->nheaders, sizeof *h, az_kv_cmp);
	}
	for (size_t i = 0; i < in->nheaders; i++) {
		az_sb_str(&b, h[i].name);
		az_sb_str(&b, ":");
		az_sb_str(&b, h[i].value);
		az_sb_str(&b, "\n");
	}
	free(h);
	/* Canonicalized resource: /<account><encoded path>, then each query
	 * parameter as "\n<name>:<decoded value>" sorted by name. Our names are
	 * lower case and never repeated. */
	az_sb_str(&b, "/");
	az_sb_str(&b, in->account);
	az_sb_str(&b, in->path);
	az_kv *q = in->nquery ? malloc(in->nquery * sizeof *q) : NULL;
	if (in->nquery && !q) {
		free(b.p);
		return NULL;
	}
	if (q && in->nquery) {
		memcpy(q, in->query, in->nquery * sizeof *q);
		qsort(q, in->nquery, sizeof *q, az_kv_cmp);
	}
	for (size_t i = 0; i < in->nquery; i++) {
		az_sb_str(&b, "\n");
		az_sb_str(&b, q[i].name);
		az_sb_str(&b, ":");
		az_sb_str(&b, q[i].value);
	}
	free(q);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int az_shared_key_header(const cairn_host_api *host, const char *account, const uint8_t *key,
                         size_t key_len, const char *sts, char *out, size_t cap)
{
	uint8_t mac[32];
	char sig[64];
	host->hmac_sha256(key, key_len, sts, strlen(sts), mac);
	host->base64_encode(mac, sizeof mac, sig, sizeof sig, 0);
	int n = snprintf(out, cap, "SharedKey %s:%s", account, sig);
	return n > 0 && (size_t)n < cap ? CAIRN_OK : CAIRN_ERR_NO_MEMORY;
}

int az_service_sas(const cairn_host_api *host, const char *account, const uint8_t *key,
                   size_t key_len, const char *container, const char *blob, const char *permissions,
                   const char *expiry_iso, char *out, size_t cap)
{
	/* The 2020-12-06+ service SAS string to sign: sp, st, se, canonical
	 * resource, si, sip, spr, sv, sr, snapshot time, encryption scope,
	 * rscc, rscd, rsce, rscl, rsct. We sign only sp, se, sv and sr=b. */
	az_sb b = {0};
	az_sb_str(&b, permissions);
	az_sb_str(&b, "\n\n");
	az_sb_str(&b, expiry_iso);
	az_sb_str(&b, "\n/blob/");
	az_sb_str(&b, account);
	az_sb_str(&b, "/");
	az_sb_str(&b, container);
	az_sb_str(&b, "/");
	az_sb_str(&b, blob);
	az_sb_str(&b, "\n\n\n\n" AZ_API_VERSION "\nb\n\n\n\n\n\n\n");
	if (b.failed) {
		free(b.p);
		return CAIRN_ERR_NO_MEMORY;
	}
	uint8_t mac[32];
	char sig[64], sig_enc[128], se_enc[64];
	host->hmac_sha256(key, key_len, b.p, b.len, mac);
	free(b.p);
	host->base64_encode(mac, sizeof mac, sig, sizeof sig, 0);
	az_url_encode(sig, strlen(sig), false, sig_enc, sizeof sig_enc);
	az_url_encode(expiry_iso, strlen(expiry_iso), false, se_enc, sizeof se_enc);
	int n = snprintf(out, cap, "sv=%s&se=%s&sr=b&sp=%s&sig=%s", AZ_API_VERSION, se_enc,
	                 permissions, sig_enc);
	return n > 0 && (size_t)n < cap ? CAIRN_OK : CAIRN_ERR_NO_MEMORY;
}
