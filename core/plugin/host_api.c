/*
 * core/plugin/host_api.c: the table of host services handed to plugins:
 * logging, settings, clock, randomness, hashing, base64, RSA signing (the
 * HTTP client is in host_http.c).
 */
#include "core/plugin/loader.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "core/plugin/host_internal.h"

/* ------------------------------------------------------------------------ */
/* Settings: the process's one owned table, append-only until reset, so a
 * string config_get returned never changes or moves under a plugin. */

typedef struct host_setting {
	struct host_setting *next;
	char *key;
	char *value; /* NULL: explicitly unset (hides the environment) */
} host_setting;

static struct {
	pthread_mutex_t mu;
	host_setting *head; /* newest first: the first match wins */
} host_settings = {PTHREAD_MUTEX_INITIALIZER, NULL};

static host_setting *host_setting_new(const char *key, const char *value)
{
	host_setting *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->key = strdup(key);
	s->value = value ? strdup(value) : NULL;
	if (!s->key || (value && !s->value)) {
		free(s->key);
		free(s->value);
		free(s);
		return NULL;
	}
	return s;
}

cn_code cn_plugin_host_config_set(const char *key, const char *value, cn_err *err)
{
	if (!key || !key[0] || strlen(key) > 200)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "plugin setting key must be 1 to 200 bytes");
	host_setting *s = host_setting_new(key, value);
	if (!s)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	pthread_mutex_lock(&host_settings.mu);
	s->next = host_settings.head;
	host_settings.head = s;
	pthread_mutex_unlock(&host_settings.mu);
	return CN_OK;
}

void cn_plugin_host_config_reset(void)
{
	pthread_mutex_lock(&host_settings.mu);
	host_setting *s = host_settings.head;
	host_settings.head = NULL;
	pthread_mutex_unlock(&host_settings.mu);
	while (s) {
		host_setting *next = s->next;
		free(s->key);
		free(s->value);
		free(s);
		s = next;
	}
}

static const char *host_config_get(const char *key)
{
	if (!key || !key[0] || strlen(key) > 200)
		return NULL;
	const char *out = NULL;
	pthread_mutex_lock(&host_settings.mu);
	for (host_setting *s = host_settings.head; s; s = s->next) {
		if (strcmp(s->key, key) == 0) {
			out = s->value;
			goto done;
		}
	}
	/* Not configured: CAIRN_<KEY>, read once and interned so the pointer
	 * stays valid whatever the environment does later. */
	char env[224] = "CAIRN_";
	size_t n = strlen(env);
	for (const char *k = key; *k; k++)
		env[n++] = (*k == '.' || *k == '-') ? '_' : (char)toupper((unsigned char)*k);
	env[n] = '\0';
	const char *v = getenv(env);
	if (v) {
		host_setting *s = host_setting_new(key, v);
		if (s) {
			s->next = host_settings.head;
			host_settings.head = s;
			out = s->value;
		}
	}
done:
	pthread_mutex_unlock(&host_settings.mu);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Logging, clock, randomness */

static void host_log(int level, const char *event_id, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void host_log(int level, const char *event_id, const char *fmt, ...)
{
	cn_log_level l = level <= CAIRN_LOG_DEBUG  ? CN_LOG_DEBUG
	                 : level == CAIRN_LOG_INFO ? CN_LOG_INFO
	                 : level == CAIRN_LOG_WARN ? CN_LOG_WARN
	                                           : CN_LOG_ERROR;
	if (!cn_log_enabled(l) || !fmt)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cn_log(l, event_id && event_id[0] ? event_id : "PLUGIN-LOG", NULL, "%s", msg);
}

static int64_t host_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(p, chunk) != 1)
			return CAIRN_ERR_IO;
		p += chunk;
		len -= (size_t)chunk;
	}
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* Hashing and signing (OpenSSL) */

struct cairn_sha256_ctx {
	EVP_MD_CTX *md;
};

static void host_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

static cairn_sha256_ctx *host_sha256_begin(void)
{
	cairn_sha256_ctx *c = malloc(sizeof *c);
	if (!c)
		return NULL;
	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c->md);
		free(c);
		return NULL;
	}
	return c;
}

static void host_sha256_update(cairn_sha256_ctx *c, const void *data, size_t len)
{
	if (c && len)
		EVP_DigestUpdate(c->md, data, len);
}

static void host_sha256_end(cairn_sha256_ctx *c, uint8_t out[32])
{
	if (!c)
		return;
	if (out) {
		unsigned int n = 32;
		if (EVP_DigestFinal_ex(c->md, out, &n) != 1)
			memset(out, 0, 32);
	}
	EVP_MD_CTX_free(c->md);
	free(c);
}

static void host_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                             uint8_t out[32])
{
	unsigned int n = 32;
	static const unsigned char empty;
	if (key_len > INT_MAX || !HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len,
	                               len ? data : &empty, len, out, &n))
		memset(out, 0, 32);
}

static int host_rsa_sha256_sign(const char *pem_key, size_t pem_len, const void *data, size_t len,
                                uint8_t *sig, size_t cap, size_t *sig_len, cairn_error *err)
{
	if (!pem_key || pem_len == 0 || pem_len > INT_MAX)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "no PEM key given");
	int rc = CAIRN_ERR_INVALID;
	BIO *bio = BIO_new_mem_buf(pem_key, (int)pem_len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t need = 0;
	if (!bio || !md) {
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	} else if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "not a PEM RSA private key");
	} else if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	           EVP_DigestSign(md, NULL, &need, data, len) != 1) {
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "RSA signing failed");
	} else if (need > cap) {
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
		                     "signature needs %zu bytes, buffer has %zu", need, cap);
	} else if (EVP_DigestSign(md, sig, &need, data, len) != 1) {
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "RSA signing failed");
	} else {
		*sig_len = need;
		rc = CAIRN_OK;
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Base64 (RFC 4648): small enough to write out, and the URL alphabet without
 * padding (JWTs) is not something OpenSSL's block codec does. */

static const char host_b64_std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char host_b64_url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t host_base64_encode(const void *in, size_t len, char *out, size_t cap, unsigned flags)
{
	bool url = flags & CAIRN_BASE64_URL;
	const char *abc = url ? host_b64_url : host_b64_std;
	size_t need = url ? (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0) : (len + 2) / 3 * 4;
	if (!out || cap <= need)
		return need;
	const unsigned char *p = in;
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = abc[(v >> 6) & 63];
		out[o++] = abc[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		if (!url) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = abc[v >> 18];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = abc[(v >> 6) & 63];
		if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int host_b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int host_base64_decode(const char *in, size_t len, void *out, size_t cap, size_t *out_len,
                              unsigned flags)
{
	bool url = flags & CAIRN_BASE64_URL;
	size_t pad = 0;
	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len % 4 == 1 || (pad && (len + pad) % 4 != 0))
		return CAIRN_ERR_INVALID;
	size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	for (size_t i = 0; i < len; i++)
		if (host_b64_value(in[i], url) < 0)
			return CAIRN_ERR_INVALID;
	if (need > cap)
		return CAIRN_ERR_NO_MEMORY;
	unsigned char *o = out;
	uint32_t acc = 0; /* only its low 14 bits matter */
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 6) | (uint32_t)host_b64_value(in[i], url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = n;
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */

static const cairn_host_api host_api = {
        .size = sizeof(cairn_host_api),
        .abi_major = CAIRN_PLUGIN_ABI_MAJOR,
        .abi_minor = CAIRN_PLUGIN_ABI_MINOR,
        .log = host_log,
        .config_get = host_config_get,
        .now_ms = host_now_ms,
        .random_bytes = host_random_bytes,
        .sha256 = host_sha256,
        .sha256_begin = host_sha256_begin,
        .sha256_update = host_sha256_update,
        .sha256_end = host_sha256_end,
        .hmac_sha256 = host_hmac_sha256,
        .base64_encode = host_base64_encode,
        .base64_decode = host_base64_decode,
        .rsa_sha256_sign = host_rsa_sha256_sign,
        .http = cn_host_http,
};

const cairn_host_api *cn_plugin_host_api(void)
{
	return &host_api;
}
