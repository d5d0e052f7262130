/*
 * plugins/store/gcs/gcs_store_test.c: cairn_store_gcs.so, loaded with dlopen,
 * against the GCS fixture server (tests/peers/gcs_fixture): the shared
 * conformance suite, multipart uploads through compose, signed URLs used
 * with plain HTTP, and credentials (a key the server does not know, no
 * token, the metadata server), timeouts and URI forms.
 *
 * CN_GCS_BIG_BYTES (environment) sets the conformance suite's big object;
 * the sanitizer build uses a smaller one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"
#include "core/plugin/store_conformance.h"
#include "gcs_test_env.h"

/* Checks that call (which fills a cn_err named err) returned CN_OK; shows
 * the message when not. */
#define GCS_OK(call)                                                   \
	do {                                                           \
		cn_code rc_ = (call);                                  \
		if (rc_ != CN_OK)                                      \
			fprintf(stderr, "  %s: %s\n", #call, err.msg); \
		CN_CHECK_EQ_INT(rc_, CN_OK);                           \
	} while (0)

typedef struct gcs_t {
	gcs_test_env env;
	cn_plugin_registry *reg;
	bool up;
} gcs_t;

static void gcs_set(const char *key, const char *value)
{
	cn_err err;
	GCS_OK(cn_plugin_host_config_set(key, value, &err));
}

/* Starts the fixture and a registry; settings point the plugin at the
 * fixture with the good key, small chunks (many resumable requests, many
 * ranged reads). */
static bool gcs_t_start_life(gcs_t *t, int token_lifetime)
{
	memset(t, 0, sizeof *t);
	cn_err err;
	cn_plugin_host_config_reset();
	if (!gcs_test_env_start(&t->env, true, token_lifetime) ||
	    cn_plugin_registry_open(&t->reg, CN_TEST_PLUGIN_DIR, &err) != CN_OK) {
		CN_CHECK(!"gcs test environment");
		gcs_test_env_stop(&t->env);
		return false;
	}
	gcs_set("store.gcs.endpoint", t->env.endpoint);
	gcs_set("store.gcs.credentials_file", t->env.sa_file);
	gcs_set("store.gcs.auth", NULL);
	gcs_set("store.gcs.upload_chunk_bytes", "524288");
	gcs_set("store.gcs.read_chunk_bytes", "300001");
	gcs_set("store.gcs.timeout_ms", "30000");
	t->up = true;
	return true;
}

static bool gcs_t_start(gcs_t *t)
{
	return gcs_t_start_life(t, 0);
}

static void gcs_t_stop(gcs_t *t)
{
	cn_plugin_registry_close(t->reg);
	gcs_test_env_stop(&t->env);
	cn_plugin_host_config_reset();
}

static cn_store *gcs_t_open(gcs_t *t, const char *uri)
{
	cn_store *s = NULL;
	cn_err err = {0};
	cn_code rc = cn_store_open(t->reg, uri, &s, &err);
	if (rc != CN_OK)
		fprintf(stderr, "  open %s: %s\n", uri, err.msg);
	CN_CHECK_EQ_INT(rc, CN_OK);
	return s;
}

static bool gcs_t_read_all(cn_store *s, const char *path, char *out, size_t cap, size_t *n)
{
	cn_store_reader *r = NULL;
	cn_err err;
	*n = 0;
	if (cn_store_get_open(s, path, 0, -1, &r, NULL, &err) != CN_OK) {
		fprintf(stderr, "  get %s: %s\n", path, err.msg);
		return false;
	}
	bool ok = true;
	for (;;) {
		size_t got = 0;
		if (cn_store_get_read(r, out + *n, cap - *n, &got, &err) != CN_OK) {
			ok = false;
			break;
		}
		if (got == 0 || (*n += got) == cap)
			break;
	}
	cn_store_get_close(r);
	return ok;
}

CN_TEST(gcs_conformance)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/runs/conformance");
	if (s) {
		CN_CHECK_STR(cn_plugin_name(cn_store_plugin(s)), "gcs");
		CN_CHECK(cn_store_caps(s) & CAIRN_STORE_CAP_LIST_PAGED);
		const char *big = getenv("CN_GCS_BIG_BYTES");
		cn_store_conformance_opts o = {
		        .big_object_bytes = big ? atoll(big) : 6 << 20,
		        .chunk_bytes = 100000,
		        .threads = 4,
		};
		CN_CHECK_EQ_INT(cn_store_conformance_run_opts(s, "gcs", &o), 0);
		cn_store_close(s);
	}
	/* The whole bucket as the root works too. */
	s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET);
	if (s) {
		cn_store_conformance_opts o = {.big_object_bytes = 1 << 20, .threads = 2};
		CN_CHECK_EQ_INT(cn_store_conformance_run_opts(s, "gcs-bucket-root", &o), 0);
		cn_store_close(s);
	}
	gcs_t_stop(&t);
}

/* Writes part number n of upload id: size bytes of the byte n. */
static void gcs_t_part(cn_store *s, const char *path, const char *id, int n, size_t size,
                       cairn_mpu_part *part, char etag[CAIRN_ETAG_MAX])
{
	cn_err err = {0};
	cn_store_writer *w = NULL;
	char *buf = malloc(size ? size : 1);
	memset(buf, n, size);
	GCS_OK(cn_store_mpu_part_begin(s, path, id, n, (int64_t)size, &w, &err));
	if (w) {
		GCS_OK(cn_store_put_write(w, buf, size, &err));
		GCS_OK(cn_store_mpu_part_commit(w, etag, CAIRN_ETAG_MAX, &err));
	}
	free(buf);
	part->part_number = n;
	part->etag = etag;
}

static int gcs_t_count_cb(void *arg, const cairn_list_entry *e)
{
	(*(int *)arg)++;
	return 0;
}

CN_TEST(gcs_multipart_compose)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/mpu");
	if (!s) {
		gcs_t_stop(&t);
		return;
	}
	cn_err err = {0};
	char id[CAIRN_UPLOAD_ID_MAX], tok[CAIRN_PAGE_TOKEN_MAX];
	static char etags[40][CAIRN_ETAG_MAX];
	cairn_mpu_part parts[40];

	/* Three parts, written out of order, one of them bigger than a chunk. */
	GCS_OK(cn_store_mpu_create(s, "model/weights.bin", id, sizeof id, &err));
	gcs_t_part(s, "model/weights.bin", id, 3, 1, &parts[2], etags[2]);
	gcs_t_part(s, "model/weights.bin", id, 1, 300 * 1024, &parts[0], etags[0]);
	gcs_t_part(s, "model/weights.bin", id, 2, 700 * 1024 + 5, &parts[1], etags[1]);
	/* Not visible before complete, and its folder is hidden. */
	cn_store_info info;
	CN_CHECK_EQ_INT(cn_store_stat(s, "model/weights.bin", &info, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	int seen = 0;
	CN_CHECK_EQ_INT(cn_store_list(s, "", NULL, 0, gcs_t_count_cb, &seen, tok, sizeof tok, &err),
	                CN_OK);
	CN_CHECK_EQ_INT(seen, 0);
	GCS_OK(cn_store_mpu_complete(s, "model/weights.bin", id, parts, 3, &err));
	size_t total = 300 * 1024 + 700 * 1024 + 5 + 1, n = 0;
	char *buf = malloc(total + 10);
	CN_CHECK(gcs_t_read_all(s, "model/weights.bin", buf, total + 10, &n));
	CN_CHECK_EQ_INT(n, total);
	CN_CHECK(buf[0] == 1 && buf[300 * 1024 - 1] == 1 && buf[300 * 1024] == 2 &&
	         buf[total - 2] == 2 && buf[total - 1] == 3);
	free(buf);
	/* The upload is gone: its id is unknown now. */
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "model/weights.bin", id, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);

	/* 40 parts: more than compose's 32 sources, so composed in stages. */
	GCS_OK(cn_store_mpu_create(s, "staged.bin", id, sizeof id, &err));
	for (int i = 0; i < 40; i++)
		gcs_t_part(s, "staged.bin", id, i + 1, 1000, &parts[i], etags[i]);
	GCS_OK(cn_store_mpu_complete(s, "staged.bin", id, parts, 40, &err));
	buf = malloc(40 * 1000 + 1);
	CN_CHECK(gcs_t_read_all(s, "staged.bin", buf, 40 * 1000 + 1, &n));
	CN_CHECK_EQ_INT(n, 40 * 1000);
	bool in_order = n == 40 * 1000;
	for (size_t i = 0; in_order && i < n; i++)
		in_order = buf[i] == (char)(i / 1000 + 1);
	CN_CHECK(in_order);
	free(buf);

	/* A part replaced after its ETag was taken fails the upload. */
	GCS_OK(cn_store_mpu_create(s, "raced.bin", id, sizeof id, &err));
	gcs_t_part(s, "raced.bin", id, 1, 10, &parts[0], etags[0]);
	char old[CAIRN_ETAG_MAX];
	memcpy(old, etags[0], sizeof old);
	gcs_t_part(s, "raced.bin", id, 1, 20, &parts[0], etags[0]);
	parts[0].etag = old;
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "raced.bin", id, parts, 1, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_store_stat(s, "raced.bin", &info, &err), CN_RESOURCE_DOES_NOT_EXIST);
	/* Abort drops it; an id for another path or a made-up one is unknown. */
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "other.bin", id, &err), CN_RESOURCE_DOES_NOT_EXIST);
	GCS_OK(cn_store_mpu_abort(s, "raced.bin", id, &err));
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "raced.bin", id, parts, 1, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "x", "0123456789abcdef0123456789abcdef", &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "x", "../../etc", &err), CN_RESOURCE_DOES_NOT_EXIST);
	/* Nothing of the three uploads is left behind. */
	cn_store *raw = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/mpu/.cairn-mpu");
	if (raw) {
		seen = 0;
		CN_CHECK_EQ_INT(cn_store_list(raw, "", NULL, 0, gcs_t_count_cb, &seen, tok,
		                              sizeof tok, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(seen, 0);
		cn_store_close(raw);
	}
	GCS_OK(cn_store_remove(s, "", true, &err));
	cn_store_close(s);
	gcs_t_stop(&t);
}

static int gcs_t_collect(void *arg, const void *data, size_t len)
{
	char *out = arg;
	size_t have = strlen(out);
	if (have + len >= 256)
		return CAIRN_ERR_NO_MEMORY;
	memcpy(out + have, data, len);
	out[have + len] = '\0';
	return CAIRN_OK;
}

/* A plain HTTP request without credentials; the status, and the body into
 * out (256 bytes). */
static int gcs_t_http(const char *method, const char *url, const char *body, char *out)
{
	out[0] = '\0';
	cairn_http_request req = {.size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .body = body,
	                          .body_len = body ? strlen(body) : 0,
	                          .on_body = gcs_t_collect,
	                          .response_arg = out,
	                          .timeout_ms = 20000};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	int rc = cn_plugin_host_api()->http(&req, &resp, &e);
	return rc == CAIRN_OK ? resp.status : -rc;
}

CN_TEST(gcs_presigned_urls)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/presign");
	if (!s) {
		gcs_t_stop(&t);
		return;
	}
	cn_err err = {0};
	char url[4096], body[256], got[64];
	size_t n = 0;
	GCS_OK(cn_store_put_bytes(s, "dir/file name.txt", "signed hello", 12, &err));
	/* GET through the URL, with no token at all. */
	CN_CHECK_EQ_INT(cn_store_presign(s, "dir/file name.txt", "GET", NULL, 0, 600, url,
	                                 sizeof url, &err),
	                CN_OK);
	CN_CHECK(strncmp(url, t.env.endpoint, strlen(t.env.endpoint)) == 0);
	CN_CHECK(strstr(url, "X-Goog-Signature=") != NULL);
	CN_CHECK_EQ_INT(gcs_t_http("GET", url, NULL, body), 200);
	CN_CHECK_STR(body, "signed hello");
	/* The URL is for GET only, and any change breaks it. */
	CN_CHECK_EQ_INT(gcs_t_http("PUT", url, "x", body), 403);
	char *sig = strstr(url, "X-Goog-Signature=");
	if (sig) {
		sig += 17;
		*sig = *sig == 'a' ? 'b' : 'a';
		CN_CHECK_EQ_INT(gcs_t_http("GET", url, NULL, body), 403);
		CN_CHECK(strstr(body, "SignatureDoesNotMatch") != NULL);
	}
	/* PUT through a URL, read through the store. */
	CN_CHECK_EQ_INT(
	        cn_store_presign(s, "up/loaded.bin", "PUT", NULL, 0, 60, url, sizeof url, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(gcs_t_http("PUT", url, "put by url", body), 200);
	CN_CHECK(gcs_t_read_all(s, "up/loaded.bin", got, sizeof got, &n));
	CN_CHECK(n == 10 && memcmp(got, "put by url", 10) == 0);
	/* Parts of a multipart upload through URLs; the client reports the
	 * MD5 ETags the URL's PUT returned. */
	char id[CAIRN_UPLOAD_ID_MAX];
	GCS_OK(cn_store_mpu_create(s, "parts.txt", id, sizeof id, &err));
	static const char *const pieces[] = {"first-", "second-", "third"};
	cairn_mpu_part parts[3];
	for (int i = 0; i < 3; i++) {
		CN_CHECK_EQ_INT(cn_store_presign(s, "parts.txt", "PUT", id, i + 1, 60, url,
		                                 sizeof url, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(gcs_t_http("PUT", url, pieces[i], body), 200);
		parts[i] = (cairn_mpu_part){.part_number = i + 1, .etag = "\"md5-etag\""};
	}
	GCS_OK(cn_store_mpu_complete(s, "parts.txt", id, parts, 3, &err));
	CN_CHECK(gcs_t_read_all(s, "parts.txt", got, sizeof got, &n));
	CN_CHECK(n == 18 && memcmp(got, "first-second-third", 18) == 0);
	/* The store's own calls still need a token: a URL is not a key. */
	char api[512];
	snprintf(api, sizeof api, "%s/storage/v1/b/%s/o/presign%%2Fparts.txt?alt=media",
	         t.env.endpoint, GCS_TEST_BUCKET);
	CN_CHECK_EQ_INT(gcs_t_http("GET", api, NULL, body), 401);
	GCS_OK(cn_store_remove(s, "", true, &err));
	cn_store_close(s);
	gcs_t_stop(&t);
}

static int gcs_t_name_cb(void *arg, const cairn_list_entry *e)
{
	char *out = arg;
	snprintf(out, 256, "%s", e->path);
	return 0;
}

/* Names that need escaping in URLs and queries round-trip. */
CN_TEST(gcs_escaped_names)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/esc");
	if (!s) {
		gcs_t_stop(&t);
		return;
	}
	static const char *const names[] = {
	        "sp ace/a+b=c&d?e#f%25g.txt",
	        "caf\xc3\xa9/\xe2\x82\xac;$,@!'()*[]",
	        "~tilde/x:y",
	};
	cn_err err = {0};
	char got[64], tok[CAIRN_PAGE_TOKEN_MAX], listed[256], url[4096], body[256];
	size_t n = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *p = names[i];
		char dir[128];
		snprintf(dir, sizeof dir, "%.*s", (int)(strchr(p, '/') - p), p);
		GCS_OK(cn_store_put_bytes(s, p, p, strlen(p), &err));
		CN_CHECK(gcs_t_read_all(s, p, got, sizeof got, &n));
		CN_CHECK(n == strlen(p) && memcmp(got, p, n) == 0);
		listed[0] = '\0';
		GCS_OK(cn_store_list(s, dir, NULL, 0, gcs_t_name_cb, listed, tok, sizeof tok,
		                     &err));
		CN_CHECK_STR(listed, p);
		GCS_OK(cn_store_presign(s, p, "GET", NULL, 0, 60, url, sizeof url, &err));
		CN_CHECK_EQ_INT(gcs_t_http("GET", url, NULL, body), 200);
		CN_CHECK_STR(body, p);
		GCS_OK(cn_store_remove(s, p, false, &err));
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, dir, &info, &err), CN_RESOURCE_DOES_NOT_EXIST);
	}
	cn_store_close(s);
	gcs_t_stop(&t);
}

/* A resumable upload aborted midway creates nothing and keeps the old object;
 * one that ends exactly on a chunk boundary is whole. */
CN_TEST(gcs_resumable_abort_and_boundaries)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/resumable");
	if (!s) {
		gcs_t_stop(&t);
		return;
	}
	cn_err err = {0};
	cn_store_info info;
	size_t big = 3 * 524288 + 17, n = 0;
	char *buf = malloc(big + 1);
	memset(buf, 'x', big);
	GCS_OK(cn_store_put_bytes(s, "obj", "old", 3, &err));
	cn_store_writer *w = NULL;
	GCS_OK(cn_store_put_begin(s, "obj", -1, &w, &err));
	if (w) {
		GCS_OK(cn_store_put_write(w, buf, big, &err)); /* two chunks sent */
		cn_store_put_abort(w);
	}
	char got[8];
	CN_CHECK(gcs_t_read_all(s, "obj", got, sizeof got, &n));
	CN_CHECK(n == 3 && memcmp(got, "old", 3) == 0);
	/* A directory is not readable as an object; a missing object is missing. */
	GCS_OK(cn_store_put_bytes(s, "d/inside", "i", 1, &err));
	cn_store_reader *r = NULL;
	CN_CHECK_EQ_INT(cn_store_get_open(s, "d", 0, -1, &r, NULL, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "is a directory") != NULL);
	CN_CHECK_EQ_INT(cn_store_get_open(s, "nothing", 0, -1, &r, NULL, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK(r == NULL);
	/* Exactly two chunks, written in odd pieces. */
	w = NULL;
	GCS_OK(cn_store_put_begin(s, "exact", 2 * 524288, &w, &err));
	for (size_t off = 0; w && off < 2 * 524288; off += 100000) {
		size_t len = 2 * 524288 - off < 100000 ? 2 * 524288 - off : 100000;
		GCS_OK(cn_store_put_write(w, buf, len, &err));
	}
	if (w)
		GCS_OK(cn_store_put_commit(w, &err));
	GCS_OK(cn_store_stat(s, "exact", &info, &err));
	CN_CHECK_EQ_INT(info.size, 2 * 524288);
	free(buf);
	GCS_OK(cn_store_remove(s, "", true, &err));
	cn_store_close(s);
	gcs_t_stop(&t);
}

CN_TEST(gcs_credentials)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_err err = {0};
	char got[16];
	size_t n = 0;
	/* A key the server does not know: PERMISSION, with Google's reason and
	 * no key material in the message. */
	gcs_set("store.gcs.credentials_file", t.env.bad_file);
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/creds");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a", "1", 1, &err), CN_PERMISSION_DENIED);
		CN_CHECK(strstr(err.msg, "Invalid JWT Signature") != NULL);
		CN_CHECK(strstr(err.msg, "PRIVATE KEY") == NULL);
		CN_CHECK(strstr(err.msg, "assertion") == NULL);
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, "a", &info, &err), CN_PERMISSION_DENIED);
		cn_store_close(s);
	}
	/* No credentials at all: the server's 401 is PERMISSION too. */
	gcs_set("store.gcs.auth", "none");
	s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/creds");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a", "1", 1, &err), CN_PERMISSION_DENIED);
		CN_CHECK(strstr(err.msg, "Invalid Credentials") != NULL);
		cn_store_close(s);
	}
	/* The metadata server (the fixture plays it, Metadata-Flavor checked). */
	gcs_set("store.gcs.auth", "metadata");
	gcs_set("store.gcs.metadata_host", t.env.host);
	s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/creds");
	if (s) {
		GCS_OK(cn_store_put_bytes(s, "md", "from metadata", 13, &err));
		CN_CHECK(gcs_t_read_all(s, "md", got, sizeof got, &n));
		CN_CHECK(n == 13 && memcmp(got, "from metadata", 13) == 0);
		/* Signing needs a key: presign says so, and the host proxies. */
		char url[1024];
		CN_CHECK_EQ_INT(
		        cn_store_presign(s, "md", "GET", NULL, 0, 60, url, sizeof url, &err),
		        CN_NOT_IMPLEMENTED);
		GCS_OK(cn_store_remove(s, "", true, &err));
		cn_store_close(s);
	}
	/* Google's environment variables alone: the emulator host (no scheme)
	 * and the key file. */
	gcs_set("store.gcs.auth", NULL);
	gcs_set("store.gcs.endpoint", NULL);
	gcs_set("store.gcs.credentials_file", NULL);
	setenv("STORAGE_EMULATOR_HOST", t.env.host, 1);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", t.env.sa_file, 1);
	s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/env");
	if (s) {
		GCS_OK(cn_store_put_bytes(s, "e", "env", 3, &err));
		CN_CHECK(gcs_t_read_all(s, "e", got, sizeof got, &n));
		CN_CHECK(n == 3 && memcmp(got, "env", 3) == 0);
		GCS_OK(cn_store_remove(s, "", true, &err));
		cn_store_close(s);
	}
	/* An emulator host and no key: anonymous, as Google's libraries are;
	 * this server wants a token, so PERMISSION. */
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/env");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "e", "env", 3, &err), CN_PERMISSION_DENIED);
		cn_store_close(s);
	}
	unsetenv("STORAGE_EMULATOR_HOST");
	gcs_set("store.gcs.endpoint", t.env.endpoint);

	/* A key file that is not one. */
	gcs_set("store.gcs.auth", NULL);
	gcs_set("store.gcs.credentials_file", t.env.pub);
	s = NULL;
	CN_CHECK_EQ_INT(cn_store_open(t.reg, "gs://" GCS_TEST_BUCKET, &s, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(s == NULL);
	gcs_t_stop(&t);
}

CN_TEST(gcs_timeout_and_uri_forms)
{
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_err err = {0};
	/* A server that accepts connections and never answers. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	CN_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 16) == 0 &&
	         getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));
	gcs_set("store.gcs.endpoint", ep);
	gcs_set("store.gcs.auth", "none");
	gcs_set("store.gcs.timeout_ms", "300");
	cn_store *s = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/slow");
	if (s) {
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, "x", &info, &err), CN_DEADLINE_EXCEEDED);
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "x", "1", 1, &err), CN_DEADLINE_EXCEEDED);
		cn_store_close(s);
	}
	close(fd);

	static const char *const bad[] = {
	        "gs://",          "gs://ab",       "gs://Upper",
	        "gs://b_ok/../x", "gs://bkt/a//b", "gs://bkt/.cairn-mpu",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		s = NULL;
		CN_CHECK_EQ_INT(cn_store_open(t.reg, bad[i], &s, &err), CN_INVALID_PARAMETER_VALUE);
		CN_CHECK(s == NULL);
	}
	/* Trailing slashes are dropped; a store of a bucket that does not exist
	 * opens (no call is made) and fails its calls with NOT_FOUND. */
	gcs_set("store.gcs.endpoint", t.env.endpoint);
	gcs_set("store.gcs.auth", NULL);
	gcs_set("store.gcs.timeout_ms", "30000");
	s = gcs_t_open(&t, "gs://no-such-bucket/p/");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a", "1", 1, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		CN_CHECK(strstr(err.msg, "bucket does not exist") != NULL);
		cn_store_close(s);
	}
	gcs_t_stop(&t);
}

/* The fixture's count of token requests. */
static int gcs_t_token_requests(gcs_t *t)
{
	char url[128], body[256];
	snprintf(url, sizeof url, "%s/_fixture/stats", t->env.endpoint);
	if (gcs_t_http("GET", url, NULL, body) != 200)
		return -1;
	const char *n = strstr(body, "\"token_requests\": ");
	return n ? atoi(n + 18) : -1;
}

CN_TEST(gcs_token_cache_refresh_and_revocation)
{
	/* Tokens that live an hour: one token request for many calls, shared
	 * by every store opened with the same key. */
	gcs_t t;
	if (!gcs_t_start(&t))
		return;
	cn_err err = {0};
	cn_store_info info;
	cn_store *a = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/tok/a");
	cn_store *b = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/tok/b");
	if (a && b) {
		for (int i = 0; i < 5; i++) {
			GCS_OK(cn_store_put_bytes(a, "x", "1", 1, &err));
			CN_CHECK_EQ_INT(cn_store_stat(b, "x", &info, &err),
			                CN_RESOURCE_DOES_NOT_EXIST);
		}
		CN_CHECK_EQ_INT(gcs_t_token_requests(&t), 1);
		/* A revoked token: the 401 makes the plugin fetch a new one, once. */
		char url[128], body[256];
		snprintf(url, sizeof url, "%s/_fixture/revoke", t.env.endpoint);
		CN_CHECK_EQ_INT(gcs_t_http("POST", url, "", body), 204);
		GCS_OK(cn_store_stat(a, "x", &info, &err));
		GCS_OK(cn_store_put_bytes(b, "y", "2", 1, &err));
		CN_CHECK_EQ_INT(gcs_t_token_requests(&t), 2);
		GCS_OK(cn_store_remove(a, "", true, &err));
	}
	cn_store_close(a);
	cn_store_close(b);
	gcs_t_stop(&t);

	/* Tokens that expire within the refresh margin (5 minutes) are
	 * fetched again before each use. */
	if (!gcs_t_start_life(&t, 120))
		return;
	a = gcs_t_open(&t, "gs://" GCS_TEST_BUCKET "/tok/short");
	if (a) {
		GCS_OK(cn_store_put_bytes(a, "x", "1", 1, &err));
		for (int i = 0; i < 3; i++)
			GCS_OK(cn_store_stat(a, "x", &info, &err));
		/* Not an object, so also a listing: two calls. */
		CN_CHECK_EQ_INT(cn_store_stat(a, "missing", &info, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		CN_CHECK_EQ_INT(gcs_t_token_requests(&t), 1 + 3 + 2);
	}
	cn_store_close(a);
	gcs_t_stop(&t);
}

CN_TEST_MAIN()
