/*
 * plugins/store/s3/s3_store_test.c: the S3 plugin against s3rver (npm,
 * tests/peers/s3) behind serve.js, which checks every Signature V4: the
 * shared conformance suite in path-style and virtual-hosted addressing,
 * multipart uploads through the store and through presigned part URLs sent
 * with plain HTTP, presigned GET and PUT, wrong secrets and keys, every
 * credential source, and a server that is down or never answers.
 *
 * The peer must be installed (tests/peers/install.sh) and node on PATH (or
 * CAIRN_NODE): without them this test fails, it does not skip.
 * CAIRN_S3_TEST_BIG_MB sizes the conformance suite's big object (default 12,
 * so that it takes three 5 MiB parts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"
#include "core/plugin/store_conformance.h"

#define BUCKET "cairn"
#define AKID   "AKIDCAIRNTEST"
#define SECRET "cairn/test+secret=key"

typedef struct peer {
	pid_t pid;
	int stdin_fd;
	int s3_port, cred_port;
	char dir[64];
} peer;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static bool peer_start(peer *p)
{
	memset(p, 0, sizeof *p);
	const char *node = getenv("CAIRN_NODE");
	if (!node || !*node)
		node = "node";
	char script[1024], mod[1024];
	snprintf(script, sizeof script, "%s/serve.js", CN_S3_PEER_DIR);
	snprintf(mod, sizeof mod, "%s/node_modules/s3rver/package.json", CN_S3_PEER_DIR);
	if (access(mod, R_OK) != 0) {
		fprintf(stderr, "  s3rver is not installed in %s: run tests/peers/install.sh\n",
		        CN_S3_PEER_DIR);
		return false;
	}
	snprintf(p->dir, sizeof p->dir, "/tmp/cn-s3rver-XXXXXX");
	if (!mkdtemp(p->dir))
		return false;
	int in[2], out[2];
	if (pipe(in) != 0 || pipe(out) != 0)
		return false;
	p->pid = fork();
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp(node, node, script, p->dir, BUCKET, AKID, SECRET, (char *)NULL);
		fprintf(stderr, "  cannot run %s: %s\n", node, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->stdin_fd = in[1];
	char line[128];
	size_t n = 0;
	while (n + 1 < sizeof line) { /* one line, byte by byte: nothing is read past it */
		ssize_t r = read(out[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "READY %d %d", &p->s3_port, &p->cred_port) != 2) {
		fprintf(stderr, "  s3rver peer did not start (node '%s'): '%s'\n", node, line);
		return false;
	}
	return true;
}

static void peer_stop(peer *p)
{
	if (p->pid > 0) {
		close(p->stdin_fd);
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
	if (p->dir[0])
		nftw(p->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The settings and credentials of a store on the peer. */
static void configure(const peer *p, bool path_style)
{
	char ep[128];
	cn_err err;
	if (path_style)
		snprintf(ep, sizeof ep, "http://127.0.0.1:%d", p->s3_port);
	else
		snprintf(ep, sizeof ep, "http://s3.localhost:%d", p->s3_port);
	cn_plugin_host_config_set("store.s3.endpoint", ep, &err);
	cn_plugin_host_config_set("store.s3.path_style", path_style ? "true" : "false", &err);
	cn_plugin_host_config_set("store.s3.region", "us-east-1", &err);
	cn_plugin_host_config_set("store.s3.part_size_mb", "5", &err);
	cn_plugin_host_config_set("store.s3.timeout_ms", "30000", &err);
	setenv("AWS_ACCESS_KEY_ID", AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	/* Never reach for a real metadata address from a test. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

static cn_store *open_store(cn_plugin_registry *reg, const char *uri)
{
	cn_store *s = NULL;
	cn_err err = {0};
	cn_code rc = cn_store_open(reg, uri, &s, &err);
	if (rc != CN_OK)
		fprintf(stderr, "  open %s: %s\n", uri, err.msg);
	CN_CHECK_EQ_INT(rc, CN_OK);
	return s;
}

static int64_t big_bytes(void)
{
	const char *v = getenv("CAIRN_S3_TEST_BIG_MB");
	int mb = v ? atoi(v) : 12;
	return (int64_t)(mb > 0 ? mb : 12) << 20;
}

static void run_conformance(bool path_style, const char *label)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	if (up) {
		configure(&p, path_style);
		cn_store *s = open_store(reg, "s3://" BUCKET "/root/prefix");
		if (s) {
			CN_CHECK_STR(cn_plugin_name(cn_store_plugin(s)), "s3");
			/* s3rver, unlike S3, still accepts parts of an aborted
			 * upload, does not compare part ETags at complete and
			 * dies when asked to complete with a missing part. */
			cn_store_conformance_opts o = {.big_object_bytes = big_bytes(),
			                               .chunk_bytes = 256 << 10,
			                               .waive = CN_CONF_WAIVE_STATELESS_UPLOADS |
			                                        CN_CONF_WAIVE_UNCHECKED_ETAGS};
			CN_CHECK_EQ_INT(cn_store_conformance_run_opts(s, label, &o), 0);
			cn_store_close(s);
		}
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

CN_TEST(s3_conformance_path_style)
{
	run_conformance(true, "s3-path");
}

CN_TEST(s3_conformance_virtual_hosted)
{
	run_conformance(false, "s3-vhost");
}

/* ------------------------------------------------------------------------ */
/* Plain HTTP with the host's client, as a browser or MLflow's client does. */

typedef struct sink {
	char *p;
	size_t len, cap;
} sink;

static int sink_cb(void *arg, const void *data, size_t len)
{
	sink *s = arg;
	if (s->len + len > s->cap) {
		size_t cap = (s->len + len) * 2;
		char *np = realloc(s->p, cap);
		if (!np)
			return CAIRN_ERR_NO_MEMORY;
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, data, len);
	s->len += len;
	return CAIRN_OK;
}

static char etag_seen[CAIRN_ETAG_MAX];

static int etag_cb(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (nlen == 4 && strncasecmp(name, "ETag", 4) == 0 && vlen < sizeof etag_seen) {
		memcpy(etag_seen, value, vlen);
		etag_seen[vlen] = '\0';
	}
	return CAIRN_OK;
}

static int plain_http(const char *method, const char *url, const void *body, size_t len, sink *out)
{
	cairn_http_request req = {.size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .body = body,
	                          .body_len = len,
	                          .on_header = etag_cb,
	                          .on_body = out ? sink_cb : NULL,
	                          .response_arg = out,
	                          .timeout_ms = 30000};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	etag_seen[0] = '\0';
	int rc = cn_plugin_host_api()->http(&req, &resp, &e);
	return rc == CAIRN_OK ? resp.status : -rc;
}

static void fill(char *b, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)((i * 131 + (size_t)seed * 7) >> 3);
}

static bool read_all(cn_store *s, const char *path, sink *out)
{
	cn_store_reader *r = NULL;
	cn_err err;
	if (cn_store_get_open(s, path, 0, -1, &r, NULL, &err) != CN_OK) {
		fprintf(stderr, "  get %s: %s\n", path, err.msg);
		return false;
	}
	char buf[65536];
	size_t n;
	cn_code rc;
	while ((rc = cn_store_get_read(r, buf, sizeof buf, &n, &err)) == CN_OK && n)
		sink_cb(out, buf, n);
	cn_store_get_close(r);
	return rc == CN_OK;
}

CN_TEST(s3_multipart_and_presign)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	cn_store *s = NULL;
	if (up) {
		configure(&p, true);
		s = open_store(reg, "s3://" BUCKET "/mpu");
	}
	if (s) {
		CN_CHECK(cn_store_caps(s) & CAIRN_STORE_CAP_MULTIPART);
		CN_CHECK(cn_store_caps(s) & CAIRN_STORE_CAP_PRESIGN);
		const size_t part = 5 << 20, last = 12345;
		char *data = malloc(2 * part + last);
		fill(data, 2 * part + last, 1);
		char id[CAIRN_UPLOAD_ID_MAX], etag1[CAIRN_ETAG_MAX], url[4096];
		/* Part 1 through the store, part 2 and 3 through presigned URLs. */
		CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/model.bin", id, sizeof id, &err),
		                CN_OK);
		cn_store_writer *w = NULL;
		CN_CHECK_EQ_INT(
		        cn_store_mpu_part_begin(s, "big/model.bin", id, 1, (int64_t)part, &w, &err),
		        CN_OK);
		if (w) {
			for (size_t off = 0; off < part; off += 1 << 20)
				CN_CHECK_EQ_INT(cn_store_put_write(w, data + off, 1 << 20, &err),
				                CN_OK);
			CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag1, sizeof etag1, &err),
			                CN_OK);
		}
		char etag2[CAIRN_ETAG_MAX] = "", etag3[CAIRN_ETAG_MAX] = "";
		CN_CHECK_EQ_INT(cn_store_presign(s, "big/model.bin", "PUT", id, 2, 600, url,
		                                 sizeof url, &err),
		                CN_OK);
		CN_CHECK(strstr(url, "partNumber=2") && strstr(url, "uploadId="));
		CN_CHECK(strstr(url, SECRET) == NULL);
		CN_CHECK_EQ_INT(plain_http("PUT", url, data + part, part, NULL), 200);
		snprintf(etag2, sizeof etag2, "%s", etag_seen);
		CN_CHECK_EQ_INT(cn_store_presign(s, "big/model.bin", "PUT", id, 3, 600, url,
		                                 sizeof url, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(plain_http("PUT", url, data + 2 * part, last, NULL), 200);
		snprintf(etag3, sizeof etag3, "%s", etag_seen);
		CN_CHECK(etag2[0] && etag3[0]);
		/* Not visible before completion; parts given out of order. */
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, "big/model.bin", &info, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		cairn_mpu_part parts[] = {{3, etag3}, {1, etag1}, {2, etag2}};
		CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "big/model.bin", id, parts, 3, &err),
		                CN_OK);
		sink got = {0};
		CN_CHECK(read_all(s, "big/model.bin", &got));
		CN_CHECK_EQ_INT(got.len, 2 * part + last);
		CN_CHECK(got.p && memcmp(got.p, data, 2 * part + last) == 0);
		free(got.p);
		/* Presigned GET of what was assembled, a ranged part of it too. */
		CN_CHECK_EQ_INT(cn_store_presign(s, "big/model.bin", "GET", NULL, 0, 600, url,
		                                 sizeof url, &err),
		                CN_OK);
		sink dl = {0};
		CN_CHECK_EQ_INT(plain_http("GET", url, NULL, 0, &dl), 200);
		CN_CHECK(dl.len == 2 * part + last && memcmp(dl.p, data, dl.len) == 0);
		free(dl.p);
		/* Presigned PUT of a whole object, then read through the store. */
		CN_CHECK_EQ_INT(cn_store_presign(s, "up/direct.txt", "PUT", NULL, 0, 600, url,
		                                 sizeof url, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(plain_http("PUT", url, "direct bytes", 12, NULL), 200);
		sink small = {0};
		CN_CHECK(read_all(s, "up/direct.txt", &small));
		CN_CHECK(small.len == 12 && memcmp(small.p, "direct bytes", 12) == 0);
		free(small.p);
		/* A tampered presigned URL is refused by the signature check. */
		char *sig = strstr(url, "X-Amz-Signature=");
		if (sig) {
			char *c = sig + strlen("X-Amz-Signature=");
			*c = *c == '0' ? '1' : '0';
			CN_CHECK_EQ_INT(plain_http("PUT", url, "evil", 4, NULL), 403);
		}
		/* An aborted upload is gone; its object never appears. */
		CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/dropped.bin", id, sizeof id, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "big/dropped.bin", id, &err), CN_OK);
		cairn_mpu_part one[] = {{1, etag1}};
		CN_CHECK(cn_store_mpu_complete(s, "big/dropped.bin", id, one, 1, &err) != CN_OK);
		CN_CHECK_EQ_INT(cn_store_stat(s, "big/dropped.bin", &info, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		/* A part writer refuses more bytes than its size, and too few at commit. */
		CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/short.bin", id, sizeof id, &err),
		                CN_OK);
		w = NULL;
		CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/short.bin", id, 1, 10, &w, &err),
		                CN_OK);
		if (w) {
			CN_CHECK_EQ_INT(cn_store_put_write(w, data, 11, &err),
			                CN_INVALID_PARAMETER_VALUE);
			CN_CHECK_EQ_INT(cn_store_put_write(w, data, 9, &err), CN_OK);
			CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag1, sizeof etag1, &err),
			                CN_INVALID_PARAMETER_VALUE);
		}
		CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "big/short.bin", id, &err), CN_OK);
		/* Presign arguments. */
		CN_CHECK_EQ_INT(
		        cn_store_presign(s, "x", "DELETE", NULL, 0, 60, url, sizeof url, &err),
		        CN_INVALID_PARAMETER_VALUE);
		CN_CHECK_EQ_INT(cn_store_presign(s, "x", "GET", NULL, 0, 60, url, 20, &err),
		                CN_RESOURCE_EXHAUSTED);
		free(data);
		CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
		cn_store_close(s);
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

static void fixture_stats(const peer *p, char *out, size_t cap);

typedef struct names {
	char v[2048][32];
	int is_dir[2048];
	int n;
} names;

static int names_cb(void *arg, const cairn_list_entry *e)
{
	names *l = arg;
	if (l->n < 2048) {
		snprintf(l->v[l->n], sizeof l->v[0], "%s", e->path);
		l->is_dir[l->n++] = e->is_dir;
	}
	return 0;
}

/* Lists dir in pages of page (0 = one call) into out. */
static void list_paged(cn_store *s, const char *dir, size_t page, names *out)
{
	char tok[CAIRN_PAGE_TOKEN_MAX] = "", in[CAIRN_PAGE_TOKEN_MAX];
	cn_err err;
	out->n = 0;
	for (int calls = 0; calls < 4000; calls++) {
		snprintf(in, sizeof in, "%s", tok);
		int before = out->n;
		CN_CHECK_EQ_INT(cn_store_list(s, dir, calls ? in : NULL, page, names_cb, out, tok,
		                              sizeof tok, &err),
		                CN_OK);
		if (page)
			CN_CHECK(out->n - before <= (int)page);
		if (!tok[0])
			break;
	}
}

typedef struct put_job {
	cn_store *s;
	int from, to;
} put_job;

static void *put_range(void *arg)
{
	put_job *j = arg;
	cn_err err;
	for (int i = j->from; i < j->to; i++) {
		char p[64];
		snprintf(p, sizeof p, "wait/x.%04d", i);
		CN_CHECK_EQ_INT(cn_store_put_bytes(j->s, p, "1", 1, &err), CN_OK);
	}
	return NULL;
}

/* Directories sort by their name, as paths do ("b" < "b-c" < "b.txt"),
 * not as S3 keys ("b-c" < "b.txt" < "b/"), in every page size; and
 * enough names waiting on a directory make the plugin ask about it. */
CN_TEST(s3_listing_order_is_path_order)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	cn_store *s = NULL;
	if (up) {
		configure(&p, true);
		s = open_store(reg, "s3://" BUCKET "/order");
	}
	if (s) {
		static const char *const files[] = {"ord/b.txt", "ord/b/x",  "ord/a",  "ord/b-c",
		                                    "ord/c",     "ord/c!/y", "ord/c!z"};
		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, files[i], "1", 1, &err), CN_OK);
		static const char *const want[] = {"ord/a", "ord/b",  "ord/b-c", "ord/b.txt",
		                                   "ord/c", "ord/c!", "ord/c!z"};
		static const int want_dir[] = {0, 1, 0, 0, 0, 1, 0};
		static names got;
		for (size_t page = 0; page <= 4; page++) {
			list_paged(s, "ord", page, &got);
			CN_CHECK_EQ_INT(got.n, 7);
			for (int i = 0; i < got.n && i < 7; i++) {
				CN_CHECK_STR(got.v[i], want[i]);
				CN_CHECK_EQ_INT(got.is_dir[i], want_dir[i]);
			}
		}
		/* 1100 names "x.NNNN" wait on whether "x" is a directory. */
		pthread_t t[4];
		put_job jobs[4];
		for (int i = 0; i < 4; i++) {
			jobs[i] = (put_job){s, i * 275, (i + 1) * 275};
			pthread_create(&t[i], NULL, put_range, &jobs[i]);
		}
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "wait/x/inner", "1", 1, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "wait/y", "1", 1, &err), CN_OK);
		for (size_t page = 0; page <= 700; page += 700) {
			list_paged(s, "wait", page, &got);
			CN_CHECK_EQ_INT(got.n, 1102);
			CN_CHECK_STR(got.v[0], "wait/x");
			CN_CHECK(got.is_dir[0]);
			CN_CHECK_STR(got.v[1], "wait/x.0000");
			CN_CHECK_STR(got.v[1100], "wait/x.1099");
			CN_CHECK_STR(got.v[1101], "wait/y");
		}
		CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
		cn_store_close(s);
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

CN_TEST(s3_server_side_encryption_headers)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	if (up) {
		configure(&p, true);
		cn_plugin_host_config_set("store.s3.sse", "aws:kms", &err);
		cn_plugin_host_config_set("store.s3.sse_kms_key_id", "alias/cairn-test", &err);
		cn_store *s = open_store(reg, "s3://" BUCKET "/sse");
		if (s) {
			/* Signed with the object (the verifier checks), on PutObject... */
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "k.txt", "kms", 3, &err), CN_OK);
			char st[512];
			fixture_stats(&p, st, sizeof st);
			CN_CHECK(strstr(st, "\"sse\":\"aws:kms\"") != NULL);
			CN_CHECK(strstr(st, "\"kms\":\"alias/cairn-test\"") != NULL);
			/* ... and on CreateMultipartUpload. */
			cn_plugin_host_config_set("store.s3.sse", "AES256", &err);
			cn_plugin_host_config_set("store.s3.sse_kms_key_id", NULL, &err);
			cn_store_close(s);
			s = open_store(reg, "s3://" BUCKET "/sse");
			char id[CAIRN_UPLOAD_ID_MAX];
			if (s)
				CN_CHECK_EQ_INT(
				        cn_store_mpu_create(s, "m.bin", id, sizeof id, &err),
				        CN_OK);
			fixture_stats(&p, st, sizeof st);
			CN_CHECK(strstr(st, "\"sse\":\"AES256\"") != NULL);
			CN_CHECK(strstr(st, "\"kms\":\"\"") != NULL);
			if (s)
				CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "m.bin", id, &err), CN_OK);
			cn_store_close(s);
		}
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

static int count_cb(void *arg, const cairn_list_entry *e)
{
	return 0;
}

CN_TEST(s3_wrong_credentials_are_permission_errors)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	if (up) {
		configure(&p, true);
		setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all", 1);
		cn_store *s = open_store(reg, "s3://" BUCKET "/perm");
		if (s) {
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a.txt", "x", 1, &err),
			                CN_PERMISSION_DENIED);
			CN_CHECK(strstr(err.msg, "SignatureDoesNotMatch") != NULL);
			CN_CHECK(strstr(err.msg, "does not match") != NULL);
			CN_CHECK(strstr(err.msg, "not-the-secret") == NULL);
			char tok[CAIRN_PAGE_TOKEN_MAX];
			CN_CHECK_EQ_INT(cn_store_list(s, "", NULL, 0, count_cb, NULL, tok,
			                              sizeof tok, &err),
			                CN_PERMISSION_DENIED);
			cn_store_close(s);
		}
		setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
		s = open_store(reg, "s3://" BUCKET "/perm");
		if (s) {
			cn_store_info info;
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a.txt", "x", 1, &err),
			                CN_PERMISSION_DENIED);
			CN_CHECK(strstr(err.msg, "InvalidAccessKeyId") != NULL);
			/* HEAD errors have no body: the status alone decides. */
			CN_CHECK_EQ_INT(cn_store_stat(s, "a.txt", &info, &err),
			                CN_PERMISSION_DENIED);
			cn_store_close(s);
		}
		/* A bucket that does not exist. */
		configure(&p, true);
		s = open_store(reg, "s3://no-such-bucket/x");
		if (s) {
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a.txt", "x", 1, &err),
			                CN_RESOURCE_DOES_NOT_EXIST);
			CN_CHECK(strstr(err.msg, "NoSuchBucket") != NULL);
			cn_store_close(s);
		}
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

/* The fixture's /stats document into out (cap bytes). */
static void fixture_stats(const peer *p, char *out, size_t cap)
{
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", p->cred_port);
	sink s = {0};
	plain_http("GET", url, NULL, 0, &s);
	snprintf(out, cap, "%.*s", s.p ? (int)s.len : 0, s.p ? s.p : "");
	free(s.p);
}

static int fixture_stat(const peer *p, const char *what)
{
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", p->cred_port);
	sink out = {0};
	plain_http("GET", url, NULL, 0, &out);
	int n = -1;
	char key[32];
	snprintf(key, sizeof key, "\"%s\":", what);
	if (out.p) {
		sink_cb(&out, "", 1);
		const char *at = strstr(out.p, key);
		if (at)
			n = atoi(at + strlen(key));
	}
	free(out.p);
	return n;
}

/* A round trip with the credentials the environment leads to. */
static void roundtrip(cn_plugin_registry *reg, const char *what)
{
	cn_store *s = open_store(reg, "s3://" BUCKET "/creds");
	if (!s)
		return;
	cn_err err = {0};
	cn_code rc = cn_store_put_bytes(s, what, "v", 1, &err);
	if (rc != CN_OK)
		fprintf(stderr, "  %s: %s\n", what, err.msg);
	CN_CHECK_EQ_INT(rc, CN_OK);
	cn_store_info info;
	CN_CHECK_EQ_INT(cn_store_stat(s, what, &info, &err), CN_OK);
	cn_store_close(s);
}

CN_TEST(s3_credential_sources)
{
	peer p;
	bool up = peer_start(&p);
	CN_CHECK(up);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	if (up) {
		configure(&p, true);
		unsetenv("AWS_ACCESS_KEY_ID");
		unsetenv("AWS_SECRET_ACCESS_KEY");
		/* Cairn's settings come first. */
		cn_plugin_host_config_set("store.s3.access_key_id", AKID, &err);
		cn_plugin_host_config_set("store.s3.secret_access_key", SECRET, &err);
		roundtrip(reg, "from-settings");
		cn_plugin_host_config_set("store.s3.access_key_id", NULL, &err);
		cn_plugin_host_config_set("store.s3.secret_access_key", NULL, &err);
		/* The shared credentials file, profile "cairn". */
		char path[] = "/tmp/cn-s3-creds-XXXXXX";
		int fd = mkstemp(path);
		dprintf(fd,
		        "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
		        "[cairn]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		        AKID, SECRET);
		close(fd);
		setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
		setenv("AWS_PROFILE", "cairn", 1);
		roundtrip(reg, "from-file");
		unsetenv("AWS_PROFILE");
		setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
		unlink(path);
		/* The container endpoint, with its authorization token. */
		char url[128];
		snprintf(url, sizeof url, "http://127.0.0.1:%d/container", p.cred_port);
		setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
		setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "fixture-auth-token", 1);
		roundtrip(reg, "from-container");
		CN_CHECK(fixture_stat(&p, "container") == 1); /* cached for the store's life */
		/* Credentials that expire within the refresh margin are fetched
		 * again before each request. */
		snprintf(url, sizeof url, "http://127.0.0.1:%d/container?short=1", p.cred_port);
		setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
		roundtrip(reg, "from-container-short");
		CN_CHECK_EQ_INT(fixture_stat(&p, "container"), 3);
		setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token", 1);
		cn_store *s = open_store(reg, "s3://" BUCKET "/creds");
		if (s) {
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "x", "v", 1, &err),
			                CN_PERMISSION_DENIED);
			CN_CHECK(strstr(err.msg, "container") != NULL);
			CN_CHECK(strstr(err.msg, "wrong-token") == NULL);
			cn_store_close(s);
		}
		unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
		unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
		/* Instance metadata (IMDSv2: token, role, credentials). */
		snprintf(url, sizeof url, "http://127.0.0.1:%d", p.cred_port);
		setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
		unsetenv("AWS_EC2_METADATA_DISABLED");
		roundtrip(reg, "from-instance");
		CN_CHECK_EQ_INT(fixture_stat(&p, "token"), 1);
		CN_CHECK_EQ_INT(fixture_stat(&p, "creds"), 1);
		setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
		unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		/* Nothing anywhere: a clear PERMISSION error. */
		s = open_store(reg, "s3://" BUCKET "/creds");
		if (s) {
			CN_CHECK_EQ_INT(cn_store_put_bytes(s, "x", "v", 1, &err),
			                CN_PERMISSION_DENIED);
			CN_CHECK(strstr(err.msg, "no AWS credentials") != NULL);
			cn_store_close(s);
		}
	}
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
	peer_stop(&p);
}

/* A port on 127.0.0.1 that refuses connections (bound, then closed) or
 * accepts them and never answers (listening, never accepting). */
static int local_port(int *keep_fd)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	if (keep_fd && listen(fd, 16) == 0)
		*keep_fd = fd;
	else
		close(fd);
	return ntohs(a.sin_port);
}

CN_TEST(s3_down_or_silent_server_fails_within_deadline)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	peer none = {0};
	configure(&none, true);
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", local_port(NULL));
	cn_plugin_host_config_set("store.s3.endpoint", ep, &err);
	cn_store *s = open_store(reg, "s3://" BUCKET "/down");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "a", "x", 1, &err), CN_INTERNAL_ERROR);
		CN_CHECK(strstr(err.msg, "PUT") != NULL);
		cn_store_close(s);
	}
	int silent = -1;
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", local_port(&silent));
	cn_plugin_host_config_set("store.s3.endpoint", ep, &err);
	cn_plugin_host_config_set("store.s3.timeout_ms", "300", &err);
	s = open_store(reg, "s3://" BUCKET "/silent");
	if (s) {
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, "a", &info, &err), CN_DEADLINE_EXCEEDED);
		cn_store_close(s);
	}
	if (silent >= 0)
		close(silent);
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
}

CN_TEST(s3_uri_and_settings)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	cn_store *s = NULL;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	static const char *const bad[] = {"s3://", "s3:///x", "s3://bad bucket/x", "s3://b/a//c",
	                                  "gs://b/x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cn_plugin *pl = NULL;
		CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "s3", &pl, &err),
		                CN_OK);
		s = NULL;
		CN_CHECK_EQ_INT(cn_store_open_with(pl, bad[i], &s, &err),
		                CN_INVALID_PARAMETER_VALUE);
		CN_CHECK(s == NULL);
	}
	cn_plugin_host_config_set("store.s3.sse", "rot13", &err);
	CN_CHECK_EQ_INT(cn_store_open(reg, "s3://b/x", &s, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "AES256") != NULL);
	cn_plugin_host_config_set("store.s3.sse", "AES256", &err);
	cn_plugin_host_config_set("store.s3.sse_kms_key_id", "k", &err);
	CN_CHECK_EQ_INT(cn_store_open(reg, "s3://b/x", &s, &err), CN_INVALID_PARAMETER_VALUE);
	cn_plugin_host_config_set("store.s3.sse", "aws:kms", &err);
	CN_CHECK_EQ_INT(cn_store_open(reg, "s3://b/x", &s, &err), CN_OK);
	cn_store_close(s);
	cn_plugin_host_config_set("store.s3.endpoint", "ftp://host", &err);
	CN_CHECK_EQ_INT(cn_store_open(reg, "s3://b/x", &s, &err), CN_INVALID_PARAMETER_VALUE);
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
}

CN_TEST_MAIN()
