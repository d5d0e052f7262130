/* core/plugin/host_api_test.c: the host services table, the HTTP client against a local server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cn_test.h"
#include "core/log.h"
#include "core/plugin/loader.h"

static const cairn_host_api *host(void)
{
	return cn_plugin_host_api();
}

/* CN_CHECK_STR for long buffers (its message buffer is sized for short ones). */
#define HOST_TEST_SAME(got, want)                                                         \
	do {                                                                              \
		if (strcmp((got), (want)) != 0) {                                         \
			fprintf(stderr, "  got  \"%s\"\n  want \"%s\"\n", (got), (want)); \
			cn_test_fail(__FILE__, __LINE__, #got " == " #want);              \
		}                                                                         \
	} while (0)

CN_TEST(host_table_header)
{
	const cairn_host_api *h = host();
	CN_CHECK_EQ_INT(h->size, sizeof(cairn_host_api));
	CN_CHECK_EQ_INT(h->abi_major, CAIRN_PLUGIN_ABI_MAJOR);
	CN_CHECK_EQ_INT(h->abi_minor, CAIRN_PLUGIN_ABI_MINOR);
	CN_CHECK(CAIRN_HOST_HAS(h, http));
	CN_CHECK(CAIRN_HOST_HAS(h, rsa_sha256_sign));
	int64_t now = h->now_ms();
	CN_CHECK(now > 1700000000000ll && now < 4102444800000ll);
}

CN_TEST(host_base64)
{
	static const struct {
		const char *in, *std, *url;
	} v[] = {
	        {"", "", ""},
	        {"f", "Zg==", "Zg"},
	        {"fo", "Zm8=", "Zm8"},
	        {"foo", "Zm9v", "Zm9v"},
	        {"foob", "Zm9vYg==", "Zm9vYg"},
	        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
	        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	        {"\xfb\xff", "+/8=", "-_8"},
	};
	const cairn_host_api *h = host();
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char out[32];
		size_t len = strlen(v[i].in);
		CN_CHECK_EQ_INT(h->base64_encode(v[i].in, len, NULL, 0, 0), strlen(v[i].std));
		CN_CHECK_EQ_INT(h->base64_encode(v[i].in, len, out, sizeof out, 0),
		                strlen(v[i].std));
		CN_CHECK_STR(out, v[i].std);
		CN_CHECK_EQ_INT(h->base64_encode(v[i].in, len, out, sizeof out, CAIRN_BASE64_URL),
		                strlen(v[i].url));
		CN_CHECK_STR(out, v[i].url);
		char dec[32];
		size_t n = 99;
		CN_CHECK_EQ_INT(
		        h->base64_decode(v[i].std, strlen(v[i].std), dec, sizeof dec, &n, 0),
		        CAIRN_OK);
		CN_CHECK(n == len && memcmp(dec, v[i].in, len) == 0);
		n = 99;
		CN_CHECK_EQ_INT(h->base64_decode(v[i].url, strlen(v[i].url), dec, sizeof dec, &n,
		                                 CAIRN_BASE64_URL),
		                CAIRN_OK);
		CN_CHECK(n == len && memcmp(dec, v[i].in, len) == 0);
	}
	/* Exactly the encoded length fits only with room for the NUL. */
	char small[5];
	CN_CHECK_EQ_INT(h->base64_encode("foo", 3, small, 4, 0), 4);
	CN_CHECK_EQ_INT(h->base64_encode("foo", 3, small, 5, 0), 4);
	CN_CHECK_STR(small, "Zm9v");
	char dec[8];
	size_t n = 0;
	CN_CHECK_EQ_INT(h->base64_decode("Zm9v!", 5, dec, sizeof dec, &n, 0), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(h->base64_decode("Z", 1, dec, sizeof dec, &n, 0), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(h->base64_decode("Zg=", 3, dec, sizeof dec, &n, 0), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(h->base64_decode("+/8=", 4, dec, sizeof dec, &n, CAIRN_BASE64_URL),
	                CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(h->base64_decode("Zm9vYmFy", 8, dec, 5, &n, 0), CAIRN_ERR_NO_MEMORY);
}

static void host_test_hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

CN_TEST(host_hashes_and_randomness)
{
	const cairn_host_api *h = host();
	uint8_t d[32], d2[32];
	char hex[65];
	h->sha256("abc", 3, d);
	host_test_hex(d, 32, hex);
	CN_CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cairn_sha256_ctx *c = h->sha256_begin();
	CN_CHECK(c != NULL);
	h->sha256_update(c, "a", 1);
	h->sha256_update(c, "", 0);
	h->sha256_update(c, "bc", 2);
	h->sha256_end(c, d2);
	CN_CHECK(memcmp(d, d2, 32) == 0);
	h->sha256_end(h->sha256_begin(), NULL); /* frees without a digest */
	/* RFC 4231 test case 2. */
	h->hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	host_test_hex(d, 32, hex);
	CN_CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	uint8_t r1[32] = {0}, r2[32] = {0}, zero[32] = {0};
	CN_CHECK_EQ_INT(h->random_bytes(r1, sizeof r1), CAIRN_OK);
	CN_CHECK_EQ_INT(h->random_bytes(r2, sizeof r2), CAIRN_OK);
	CN_CHECK(memcmp(r1, r2, 32) != 0 && memcmp(r1, zero, 32) != 0);
}

CN_TEST(host_rsa_sha256_sign)
{
	const cairn_host_api *h = host();
	EVP_PKEY *key = EVP_RSA_gen(2048);
	CN_CHECK(key != NULL);
	BIO *bio = BIO_new(BIO_s_mem());
	CN_CHECK(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1);
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(bio, &pem);
	const char *msg = "header.payload";
	uint8_t sig[512];
	size_t sig_len = 0;
	cairn_error err = {0};
	CN_CHECK_EQ_INT(h->rsa_sha256_sign(pem, (size_t)pem_len, msg, strlen(msg), sig, sizeof sig,
	                                   &sig_len, &err),
	                CAIRN_OK);
	CN_CHECK_EQ_INT(sig_len, 256);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	CN_CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1);
	CN_CHECK(EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, strlen(msg)) == 1);
	EVP_MD_CTX_free(md);
	/* Too small a buffer, not a key, and a key that is not RSA. */
	CN_CHECK_EQ_INT(h->rsa_sha256_sign(pem, (size_t)pem_len, msg, strlen(msg), sig, 100,
	                                   &sig_len, &err),
	                CAIRN_ERR_NO_MEMORY);
	CN_CHECK_EQ_INT(h->rsa_sha256_sign("garbage", 7, msg, 3, sig, sizeof sig, &sig_len, &err),
	                CAIRN_ERR_INVALID);
	CN_CHECK(strstr(err.message, "RSA") != NULL);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	BIO *ebio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(ebio, ec, NULL, NULL, 0, NULL, NULL);
	char *epem = NULL;
	long epem_len = BIO_get_mem_data(ebio, &epem);
	CN_CHECK_EQ_INT(
	        h->rsa_sha256_sign(epem, (size_t)epem_len, msg, 3, sig, sizeof sig, &sig_len, &err),
	        CAIRN_ERR_INVALID);
	BIO_free(ebio);
	EVP_PKEY_free(ec);
	BIO_free(bio);
	EVP_PKEY_free(key);
}

CN_TEST(host_config_get)
{
	const cairn_host_api *h = host();
	cn_err err;
	unsetenv("CAIRN_STORE_TEST_REGION");
	CN_CHECK(h->config_get("store.test.region") == NULL);
	setenv("CAIRN_STORE_TEST_REGION", "eu-west-1", 1);
	const char *v = h->config_get("store.test.region");
	CN_CHECK_STR(v, "eu-west-1");
	/* Read once: the pointer stays valid and unchanged. */
	setenv("CAIRN_STORE_TEST_REGION", "changed", 1);
	CN_CHECK(h->config_get("store.test.region") == v);
	CN_CHECK_STR(v, "eu-west-1");
	/* Configured values win over the environment. */
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.test.region", "us-east-2", &err), CN_OK);
	CN_CHECK_STR(h->config_get("store.test.region"), "us-east-2");
	CN_CHECK_STR(v, "eu-west-1");
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.test.region", NULL, &err), CN_OK);
	CN_CHECK(h->config_get("store.test.region") == NULL);
	setenv("CAIRN_DEPLOY_AZURE_OPENAI_KEY_FILE", "/k", 1);
	CN_CHECK_STR(h->config_get("deploy.azure-openai.key_file"), "/k");
	CN_CHECK(h->config_get("") == NULL);
	CN_CHECK(h->config_get(NULL) == NULL);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("", "x", &err), CN_INVALID_PARAMETER_VALUE);
	cn_plugin_host_config_reset();
	unsetenv("CAIRN_STORE_TEST_REGION");
	unsetenv("CAIRN_DEPLOY_AZURE_OPENAI_KEY_FILE");
	CN_CHECK(h->config_get("store.test.region") == NULL);
}

CN_TEST(host_log_goes_to_the_cairn_log)
{
	char path[] = "/tmp/cn-host-log-XXXXXX";
	int fd = mkstemp(path);
	CN_CHECK(fd >= 0);
	if (fd < 0)
		return;
	int saved = cn_log_set_fd(fd);
	host()->log(CAIRN_LOG_WARN, "STORE-TEST-EVENT", "retry %d of %s", 2, "put");
	host()->log(CAIRN_LOG_DEBUG, "STORE-TEST-HIDDEN", "below the level");
	host()->log(CAIRN_LOG_ERROR, NULL, "no event id");
	cn_log_set_fd(saved);
	char buf[2048] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	CN_CHECK(n > 0);
	CN_CHECK(strstr(buf, "level=warn event=STORE-TEST-EVENT") != NULL);
	CN_CHECK(strstr(buf, "retry 2 of put") != NULL);
	CN_CHECK(strstr(buf, "STORE-TEST-HIDDEN") == NULL);
	CN_CHECK(strstr(buf, "event=PLUGIN-LOG") != NULL);
	close(fd);
	unlink(path);
}

/* ------------------------------------------------------------------------ */
/* HTTP, against a libmicrohttpd server on 127.0.0.1 */

static uint8_t host_test_byte(uint64_t i)
{
	return (uint8_t)(i * 31 + 7);
}

static uint64_t host_test_fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

#define HOST_TEST_FNV0 14695981039346656037ull

typedef struct host_test_upload {
	uint64_t len;
	uint64_t fnv;
} host_test_upload;

static ssize_t host_test_bytes_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t total = *(uint64_t *)cls;
	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	size_t n = total - pos < max ? (size_t)(total - pos) : max;
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)host_test_byte(pos + i);
	return (ssize_t)n;
}

static enum MHD_Result host_test_reply(struct MHD_Connection *c, unsigned status, const char *body,
                                       const char *h1, const char *v1)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (h1 && v1)
		MHD_add_response_header(r, h1, v1);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result host_test_handler(void *cls, struct MHD_Connection *c, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_size,
                                         void **con_cls)
{
	if (strcmp(url, "/echo") == 0) {
		host_test_upload *u = *con_cls;
		if (!u) {
			u = calloc(1, sizeof *u);
			u->fnv = HOST_TEST_FNV0;
			*con_cls = u;
			return MHD_YES;
		}
		if (*upload_size) {
			u->len += *upload_size;
			u->fnv = host_test_fnv(u->fnv, upload_data, *upload_size);
			*upload_size = 0;
			return MHD_YES;
		}
		const char *te =
		        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
		const char *xt = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
		const char *xe = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Empty");
		const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
		char body[256];
		snprintf(body, sizeof body,
		         "method=%s len=%llu fnv=%016llx te=%s empty=%s expect=%s", method,
		         (unsigned long long)u->len, (unsigned long long)u->fnv, te ? te : "-",
		         xe ? (xe[0] ? "value" : "yes") : "no", ex ? ex : "-");
		free(u);
		*con_cls = NULL;
		return host_test_reply(c, 200, body, "X-Echo-Test", xt ? xt : "none");
	}
	if (strncmp(url, "/bytes/", 7) == 0) {
		uint64_t *n = malloc(sizeof *n);
		*n = strtoull(url + 7, NULL, 10);
		struct MHD_Response *r = MHD_create_response_from_callback(
		        *n, 32 * 1024, host_test_bytes_cb, n, free);
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strncmp(url, "/slow/", 6) == 0) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 0};
		long ms = strtol(url + 6, NULL, 10);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
		return host_test_reply(c, 200, "late", NULL, NULL);
	}
	return host_test_reply(c, 404, "nope", "X-Reason", "no route");
}

typedef struct host_test_server {
	struct MHD_Daemon *d;
	int port;
} host_test_server;

static bool host_test_server_start(host_test_server *s)
{
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	                        NULL, NULL, host_test_handler, NULL, MHD_OPTION_END);
	if (!s->d)
		return false;
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = i ? i->port : 0;
	return s->port > 0;
}

/* Collects a response: body hash/length/first bytes, and named headers. */
typedef struct host_test_sink {
	uint64_t fnv;
	uint64_t len;
	char text[256];
	bool pattern_ok;
	char echo_test[64];
	char reason[64];
	int headers;
	int fail_after; /* > 0: on_body fails once len reaches it */
} host_test_sink;

static int host_test_on_body(void *arg, const void *data, size_t n)
{
	host_test_sink *s = arg;
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++)
		if (p[i] != host_test_byte(s->len + i))
			s->pattern_ok = false;
	if (s->len < sizeof s->text - 1) {
		size_t k = sizeof s->text - 1 - s->len < n ? sizeof s->text - 1 - s->len : n;
		memcpy(s->text + s->len, data, k);
	}
	s->fnv = host_test_fnv(s->fnv, data, n);
	s->len += n;
	if (s->fail_after && s->len >= (uint64_t)s->fail_after)
		return CAIRN_ERR_NO_MEMORY;
	return CAIRN_OK;
}

static int host_test_on_header(void *arg, const char *name, size_t nlen, const char *value,
                               size_t vlen)
{
	host_test_sink *s = arg;
	s->headers++;
	if (nlen == 11 && strncasecmp(name, "X-Echo-Test", 11) == 0)
		snprintf(s->echo_test, sizeof s->echo_test, "%.*s", (int)vlen, value);
	if (nlen == 8 && strncasecmp(name, "X-Reason", 8) == 0)
		snprintf(s->reason, sizeof s->reason, "%.*s", (int)vlen, value);
	return CAIRN_OK;
}

typedef struct host_test_source {
	uint64_t total, sent, fnv;
} host_test_source;

static int host_test_body_read(void *arg, void *buf, size_t cap, size_t *n)
{
	host_test_source *s = arg;
	size_t k = s->total - s->sent < cap ? (size_t)(s->total - s->sent) : cap;
	if (k > 7777)
		k = 7777; /* uneven pieces */
	uint8_t *p = buf;
	for (size_t i = 0; i < k; i++)
		p[i] = host_test_byte(s->sent + i);
	s->fnv = host_test_fnv(s->fnv, buf, k);
	s->sent += k;
	*n = k;
	return CAIRN_OK;
}

static int host_test_body_rewind(void *arg)
{
	host_test_source *s = arg;
	s->sent = 0;
	s->fnv = HOST_TEST_FNV0;
	return CAIRN_OK;
}

static cairn_http_request host_test_req(const char *method, const char *url, host_test_sink *s)
{
	*s = (host_test_sink){.fnv = HOST_TEST_FNV0, .pattern_ok = true};
	return (cairn_http_request){
	        .size = sizeof(cairn_http_request),
	        .method = method,
	        .url = url,
	        .on_body = host_test_on_body,
	        .on_header = host_test_on_header,
	        .response_arg = s,
	        .timeout_ms = 20000,
	};
}

CN_TEST(host_http_requests)
{
	host_test_server srv = {0};
	CN_CHECK(host_test_server_start(&srv));
	if (!srv.d)
		return;
	const cairn_host_api *h = host();
	char url[128];
	host_test_sink s;
	cairn_error err = {0};
	cairn_http_response resp = {.size = sizeof resp};

	/* GET of a streamed 3 MiB body. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/bytes/%d", srv.port, 3 << 20);
	cairn_http_request req = host_test_req("GET", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK_EQ_INT(resp.status, 200);
	CN_CHECK_EQ_INT(resp.body_bytes, 3 << 20);
	CN_CHECK_EQ_INT(s.len, 3 << 20);
	CN_CHECK(s.pattern_ok);
	CN_CHECK(s.headers >= 2);

	/* HEAD: headers, no body. */
	req = host_test_req("HEAD", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK_EQ_INT(resp.status, 200);
	CN_CHECK_EQ_INT(s.len, 0);

	/* PUT streamed with a known size, headers in and out; no "Expect:
	 * 100-continue" although libcurl sends one by default past 1 MiB. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", srv.port);
	host_test_source src = {.total = 3 << 20, .fnv = HOST_TEST_FNV0};
	cairn_http_header hdrs[] = {{"X-Test", "hello there"}, {"X-Empty", ""}};
	req = host_test_req("PUT", url, &s);
	req.headers = hdrs;
	req.nheaders = 2;
	req.body_read = host_test_body_read;
	req.body_rewind = host_test_body_rewind;
	req.body_arg = &src;
	req.body_size = (int64_t)src.total;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK_EQ_INT(resp.status, 200);
	char want[256];
	snprintf(want, sizeof want, "method=PUT len=%d fnv=%016llx te=- empty=yes expect=-",
	         3 << 20, (unsigned long long)src.fnv);
	HOST_TEST_SAME(s.text, want);
	CN_CHECK_STR(s.echo_test, "hello there");

	/* POST of unknown length goes chunked. */
	src = (host_test_source){.total = 100000, .fnv = HOST_TEST_FNV0};
	req = host_test_req("POST", url, &s);
	req.body_read = host_test_body_read;
	req.body_arg = &src;
	req.body_size = -1;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	snprintf(want, sizeof want,
	         "method=POST len=100000 fnv=%016llx te=chunked empty=no expect=-",
	         (unsigned long long)src.fnv);
	HOST_TEST_SAME(s.text, want);
	CN_CHECK_STR(s.echo_test, "none");

	/* In-memory body; DELETE without one; an empty POST. */
	req = host_test_req("PATCH", url, &s);
	req.body = "hello";
	req.body_len = 5;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	snprintf(want, sizeof want, "method=PATCH len=5 fnv=%016llx te=- empty=no expect=-",
	         (unsigned long long)host_test_fnv(HOST_TEST_FNV0, "hello", 5));
	HOST_TEST_SAME(s.text, want);
	req = host_test_req("DELETE", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK(strncmp(s.text, "method=DELETE len=0 ", 20) == 0);
	req = host_test_req("POST", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK(strncmp(s.text, "method=POST len=0 ", 18) == 0);

	/* A 404 is a response, not a failure. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/missing", srv.port);
	req = host_test_req("GET", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_OK);
	CN_CHECK_EQ_INT(resp.status, 404);
	HOST_TEST_SAME(s.text, "nope");
	CN_CHECK_STR(s.reason, "no route");

	/* A body callback's status stops the transfer and is returned. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/bytes/%d", srv.port, 1 << 20);
	req = host_test_req("GET", url, &s);
	s.fail_after = 1000;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_NO_MEMORY);
	CN_CHECK(s.len < (1 << 20));
	MHD_stop_daemon(srv.d);
}

static int host_test_cancel_after(void *arg)
{
	const int64_t *deadline = arg;
	return host()->now_ms() >= *deadline;
}

CN_TEST(host_http_timeout_cancel_and_errors)
{
	host_test_server srv = {0};
	CN_CHECK(host_test_server_start(&srv));
	if (!srv.d)
		return;
	const cairn_host_api *h = host();
	char url[128];
	host_test_sink s;
	cairn_error err = {0};
	cairn_http_response resp = {.size = sizeof resp};

	snprintf(url, sizeof url, "http://127.0.0.1:%d/slow/2000", srv.port);
	cairn_http_request req = host_test_req("GET", url, &s);
	req.timeout_ms = 200;
	int64_t t0 = h->now_ms();
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_TIMEOUT);
	CN_CHECK(h->now_ms() - t0 < 1900);
	CN_CHECK_EQ_INT(err.code, CAIRN_ERR_TIMEOUT);

	req = host_test_req("GET", url, &s);
	int64_t deadline = h->now_ms() + 150;
	req.is_cancelled = host_test_cancel_after;
	req.cancel_arg = &deadline;
	t0 = h->now_ms();
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_CANCELLED);
	CN_CHECK(h->now_ms() - t0 < 1900);
	CN_CHECK(strstr(err.message, "cancelled") != NULL);

	/* Bad requests never reach the network. */
	req = host_test_req("GET", "ftp://127.0.0.1/x", &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_INVALID);
	req = host_test_req("get", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_INVALID);
	cairn_http_header evil[] = {{"X-A", "v\r\nInjected: 1"}};
	req = host_test_req("GET", url, &s);
	req.headers = evil;
	req.nheaders = 1;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_INVALID);
	cairn_http_header badname[] = {{"X:A", "v"}};
	req.headers = badname;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_INVALID);
	req = host_test_req("GET", url, &s);
	req.size = 8;
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_INVALID);
	CN_CHECK_EQ_INT(h->http(NULL, &resp, &err), CAIRN_ERR_INVALID);

	/* Nobody listening. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &alen);
	close(fd);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
	req = host_test_req("GET", url, &s);
	CN_CHECK_EQ_INT(h->http(&req, &resp, &err), CAIRN_ERR_IO);
	CN_CHECK(err.message[0] != '\0');
	MHD_stop_daemon(srv.d);
}

typedef struct host_test_client {
	int port;
	int bad;
} host_test_client;

static void *host_test_client_main(void *arg)
{
	host_test_client *c = arg;
	char url[128];
	for (int i = 0; i < 10; i++) {
		int n = 50000 + 1000 * i;
		snprintf(url, sizeof url, "http://127.0.0.1:%d/bytes/%d", c->port, n);
		host_test_sink s;
		cairn_http_request req = host_test_req("GET", url, &s);
		cairn_http_response resp = {.size = sizeof resp};
		cairn_error err = {0};
		if (host()->http(&req, &resp, &err) != CAIRN_OK || resp.status != 200 ||
		    s.len != (uint64_t)n || !s.pattern_ok)
			c->bad++;
	}
	return NULL;
}

CN_TEST(host_http_from_many_threads)
{
	host_test_server srv = {0};
	CN_CHECK(host_test_server_start(&srv));
	if (!srv.d)
		return;
	pthread_t t[8];
	host_test_client c[8];
	for (int i = 0; i < 8; i++) {
		c[i] = (host_test_client){.port = srv.port};
		CN_CHECK_EQ_INT(pthread_create(&t[i], NULL, host_test_client_main, &c[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CN_CHECK_EQ_INT(c[i].bad, 0);
	}
	MHD_stop_daemon(srv.d);
}

CN_TEST_MAIN()
