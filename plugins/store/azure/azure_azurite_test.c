/*
 * plugins/store/azure/azure_azurite_test.c: the Azure store plugin against
 * Azurite, the Azure Storage emulator (an npm test peer in tests/peers/azure,
 * which checks Shared Key and SAS signatures): the shared conformance suite,
 * staged uploads, multipart uploads mixing presigned and proxied parts,
 * presigned GET/PUT with plain HTTP, SAS-token credentials, a wrong key, a
 * missing container, a store that is down and one that never answers.
 *
 * Azurite runs on a free port with in-memory storage for the duration of
 * the test. Node.js or Azurite missing is a failure, not a skip.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "azure_int.h"
#include "cn_test.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"
#include "core/plugin/store_conformance.h"

#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define WASBS_ROOT "wasbs://cairn@" DEV_ACCOUNT ".blob.core.windows.net"
#define ABFSS_ROOT "abfss://cairn@" DEV_ACCOUNT ".dfs.core.windows.net"

typedef struct azurite {
	pid_t pid;
	int port;
	char dir[64];
	char log[96];
	char endpoint[96];
} azurite;

/* ------------------------------------------------------------------------ */
/* Azurite */

static bool az_test_find_node(char *out, size_t cap)
{
	const char *env = getenv("CAIRN_NODE");
	if (env && access(env, X_OK) == 0) {
		snprintf(out, cap, "%s", env);
		return true;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		snprintf(out, cap, "%.*s/node", (int)n, path);
		if (n && access(out, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static int az_test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool az_test_port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void az_test_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void az_test_show_log(const azurite *z)
{
	FILE *f = fopen(z->log, "r");
	char line[512];
	while (f && fgets(line, sizeof line, f))
		fprintf(stderr, "  azurite: %s", line);
	if (f)
		fclose(f);
}

/* Starts argv with output to log. The child dies with this process (a
 * sanitizer abort included), so Azurite never outlives its test. */
static pid_t az_test_spawn(const char *path, char *const argv[], const char *log)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int in = open("/dev/null", O_RDONLY);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	execv(path, argv);
	_exit(127);
}

static bool azurite_start(azurite *z)
{
	char node[512], main_js[512], port[16];
	memset(z, 0, sizeof *z);
	if (!az_test_find_node(node, sizeof node)) {
		cn_test_fail(__FILE__, __LINE__,
		             "node (Node.js) not found in PATH: deploy/install-deps.sh --test "
		             "installs it");
		return false;
	}
	snprintf(main_js, sizeof main_js, "%s/node_modules/azurite/dist/src/blob/main.js",
	         CN_AZURITE_DIR);
	if (access(main_js, R_OK) != 0) {
		cn_test_fail(__FILE__, __LINE__,
		             "Azurite is not installed in tests/peers/azure: run "
		             "tests/peers/install.sh");
		return false;
	}
	snprintf(z->dir, sizeof z->dir, "/tmp/cn-azurite-XXXXXX");
	if (!mkdtemp(z->dir)) {
		cn_test_fail(__FILE__, __LINE__, "mkdtemp");
		return false;
	}
	snprintf(z->log, sizeof z->log, "%s/azurite.log", z->dir);
	for (int attempt = 0; attempt < 3 && !z->pid; attempt++) {
		z->port = az_test_free_port();
		snprintf(port, sizeof port, "%d", z->port);
		char *argv[] = {node,
		                main_js,
		                "--blobHost",
		                "127.0.0.1",
		                "--blobPort",
		                port,
		                "--inMemoryPersistence",
		                "--silent",
		                "--disableTelemetry",
		                NULL};
		pid_t pid = az_test_spawn(node, argv, z->log);
		if (pid < 0) {
			cn_test_fail(__FILE__, __LINE__, "fork node");
			return false;
		}
		/* Up when the port answers; Node.js needs a second or two. */
		for (int i = 0; i < 600; i++) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = 0;
				break;
			}
			if (az_test_port_open(z->port)) {
				z->pid = pid;
				break;
			}
			az_test_sleep_ms(100);
		}
		if (!z->pid && pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	if (!z->pid) {
		az_test_show_log(z);
		cn_test_fail(__FILE__, __LINE__, "Azurite did not start");
		return false;
	}
	snprintf(z->endpoint, sizeof z->endpoint, "http://127.0.0.1:%d/" DEV_ACCOUNT, z->port);
	return true;
}

static void azurite_stop(azurite *z)
{
	if (z->pid > 0) {
		kill(z->pid, SIGTERM);
		int st = 0;
		for (int i = 0; i < 50 && waitpid(z->pid, &st, WNOHANG) == 0; i++)
			az_test_sleep_ms(100);
		if (kill(z->pid, 0) == 0) {
			kill(z->pid, SIGKILL);
			waitpid(z->pid, NULL, 0);
		}
	}
	if (z->dir[0]) {
		unlink(z->log);
		if (rmdir(z->dir) != 0)
			fprintf(stderr, "  note: %s left behind (%s)\n", z->dir, strerror(errno));
	}
}

/* ------------------------------------------------------------------------ */
/* Helpers */

static void az_test_set(const char *key, const char *value)
{
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_host_config_set(key, value, &err), CN_OK);
}

/* Settings for the emulator with the well-known key, small blocks and
 * chunks so that staged uploads and multi-chunk reads are exercised. */
static void az_test_settings(const azurite *z, const char *key)
{
	az_test_set("store.azure.endpoint", z->endpoint);
	az_test_set("store.azure.account_key", key);
	az_test_set("store.azure.sas_token", "");
	az_test_set("store.azure.create_container", "1");
	az_test_set("store.azure.block_size", "65536");
	az_test_set("store.azure.read_chunk", "100000");
	az_test_set("store.azure.timeout_ms", "60000");
}

static cn_store *az_test_open(cn_plugin_registry *reg, const char *uri)
{
	cn_store *s = NULL;
	cn_err err = {0};
	cn_code rc = cn_store_open(reg, uri, &s, &err);
	if (rc != CN_OK)
		fprintf(stderr, "  open %s: %s\n", uri, err.msg);
	CN_CHECK_EQ_INT(rc, CN_OK);
	return s;
}

/* The raw plugin store (for mpu and presign ops), opened with the current
 * settings. */
static cairn_store *az_test_raw(cn_plugin_registry *reg, const char *uri,
                                const cairn_store_ops **ops)
{
	cn_plugin *p = NULL;
	cn_err err;
	cairn_error e = {0};
	cairn_store *st = NULL;
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "azure", &p, &err), CN_OK);
	if (!p)
		return NULL;
	*ops = cn_plugin_store_ops(p);
	CN_CHECK_EQ_INT((*ops)->open(uri, cn_plugin_host_api(), cn_plugin_state(p), &st, &e),
	                CAIRN_OK);
	return st;
}

typedef struct az_test_body {
	char *p;
	size_t len, cap;
} az_test_body;

static int az_test_collect(void *arg, const void *data, size_t len)
{
	az_test_body *b = arg;
	if (b->len + len > b->cap)
		return CAIRN_ERR_NO_MEMORY;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return CAIRN_OK;
}

/* A plain HTTP request (no credentials); returns the status, 0 on failure. */
static int az_test_http(const char *method, const char *url, const void *body, size_t len,
                        const cairn_http_header *h, size_t nh, az_test_body *out)
{
	cairn_http_request req = {.size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .headers = h,
	                          .nheaders = nh,
	                          .body = body,
	                          .body_len = len,
	                          .on_body = out ? az_test_collect : NULL,
	                          .response_arg = out,
	                          .timeout_ms = 30000};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	int rc = cn_plugin_host_api()->http(&req, &resp, &e);
	if (rc != CAIRN_OK)
		fprintf(stderr, "  %s: %s\n", method, e.message);
	return rc == CAIRN_OK ? resp.status : 0;
}

static void az_test_fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) & 0xff);
}

/* Reads path whole through the store; returns its length or -1. */
static long az_test_read(cn_store *s, const char *path, uint8_t *out, size_t cap)
{
	cn_store_reader *r = NULL;
	cn_err err;
	if (cn_store_get_open(s, path, 0, -1, &r, NULL, &err) != CN_OK) {
		fprintf(stderr, "  read %s: %s\n", path, err.msg);
		return -1;
	}
	size_t total = 0, n = 0;
	while (total < cap && cn_store_get_read(r, out + total, cap - total, &n, &err) == CN_OK &&
	       n)
		total += n;
	cn_store_get_close(r);
	return (long)total;
}

/* ------------------------------------------------------------------------ */
/* Cases */

static void az_case_conformance(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, DEV_KEY);
	/* Blocks bigger than the suite's racing objects (128 KiB): concurrent
	 * staged uploads of one blob cannot all succeed on Azure (see
	 * az_case_staged_race); its big object is still staged in 80 blocks. */
	az_test_set("store.azure.block_size", "262144");
	az_test_set("store.azure.read_chunk", "200000");
	cn_store *s = az_test_open(reg, WASBS_ROOT "/suite/root");
	if (!s)
		return;
	CN_CHECK_STR(cn_plugin_name(cn_store_plugin(s)), "azure");
	CN_CHECK(cn_store_caps(s) & CAIRN_STORE_CAP_MULTIPART);
	/* Azure keeps no state per upload (staged blocks are only dropped by a
	 * commit or after a week) and takes any block list at commit. */
	cn_store_conformance_opts o = {.big_object_bytes = CN_AZURE_BIG_BYTES + 12345,
	                               .threads = 6,
	                               .waive = CN_CONF_WAIVE_STATELESS_UPLOADS |
	                                        CN_CONF_WAIVE_UNCHECKED_ETAGS};
	CN_CHECK_EQ_INT(cn_store_conformance_run_opts(s, "azure", &o), 0);
	cn_store_close(s);
}

typedef struct az_test_names {
	int n;
	char first[256];
} az_test_names;

static int az_test_names_cb(void *arg, const cairn_list_entry *e)
{
	az_test_names *l = arg;
	if (l->n++ == 0)
		snprintf(l->first, sizeof l->first, "%s", e->path);
	return 0;
}

/* abfss:// names the same blobs as wasbs:// through the Blob endpoint. */
static void az_case_abfss(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, DEV_KEY);
	cn_store *a = az_test_open(reg, ABFSS_ROOT "/same/");
	cn_store *w = az_test_open(reg, WASBS_ROOT "/same");
	cn_err err;
	uint8_t got[16];
	if (a && w) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(a, "d/x.txt", "via abfss", 9, &err), CN_OK);
		CN_CHECK_EQ_INT(az_test_read(w, "d/x.txt", got, sizeof got), 9);
		CN_CHECK(memcmp(got, "via abfss", 9) == 0);
		/* Names that need escaping in URLs and in the signed resource. */
		static const char odd[] = "odd/\xC3\xBC +%&=?#;'!@$,(x)[y]~.txt";
		CN_CHECK_EQ_INT(cn_store_put_bytes(w, odd, "odd", 3, &err), CN_OK);
		CN_CHECK_EQ_INT(az_test_read(a, odd, got, sizeof got), 3);
		az_test_names names = {0};
		char tok[CAIRN_PAGE_TOKEN_MAX];
		CN_CHECK_EQ_INT(cn_store_list(a, "odd", NULL, 0, az_test_names_cb, &names, tok,
		                              sizeof tok, &err),
		                CN_OK);
		CN_CHECK_EQ_INT(names.n, 1);
		CN_CHECK_STR(names.first, odd);
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(a, odd, &info, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_remove(a, odd, false, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_remove(w, "", true, &err), CN_OK);
	}
	cn_store_close(a);
	cn_store_close(w);
}

/* Credentials and endpoint from AZURE_STORAGE_CONNECTION_STRING alone, as
 * MLflow's users set it. */
static void az_case_connection_string(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, "");
	az_test_set("store.azure.endpoint", "");
	char cs[512];
	snprintf(cs, sizeof cs,
	         "DefaultEndpointsProtocol=http;AccountName=" DEV_ACCOUNT ";AccountKey=" DEV_KEY
	         ";BlobEndpoint=%s;",
	         z->endpoint);
	setenv("AZURE_STORAGE_CONNECTION_STRING", cs, 1);
	cn_store *s = az_test_open(reg, WASBS_ROOT "/cs");
	unsetenv("AZURE_STORAGE_CONNECTION_STRING");
	cn_err err;
	uint8_t got[16];
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "f.txt", "from env", 8, &err), CN_OK);
		CN_CHECK_EQ_INT(az_test_read(s, "f.txt", got, sizeof got), 8);
		CN_CHECK(memcmp(got, "from env", 8) == 0);
		CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
		cn_store_close(s);
	}
}

static void az_case_multipart(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, DEV_KEY);
	cn_store *s = az_test_open(reg, WASBS_ROOT "/mpu");
	if (!s)
		return;
	enum { P1 = 70000, P2 = 150000, P3 = 10 };
	uint8_t *want = malloc(P1 + P2 + P3), *got = malloc(P1 + P2 + P3 + 1);
	az_test_fill(want, P1 + P2 + P3, 5);
	char id[CAIRN_UPLOAD_ID_MAX], url[4096], etag2[CAIRN_ETAG_MAX], etag3[CAIRN_ETAG_MAX];
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/model.bin", id, sizeof id, &err), CN_OK);

	/* Part 2 through Cairn: 150000 bytes are three staged blocks of 64 KiB. */
	cn_store_writer *w = NULL;
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/model.bin", id, 2, P2, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, want + P1, P2, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag2, sizeof etag2, &err), CN_OK);
		CN_CHECK_STR(etag2, "cairn-blocks-3");
	}
	/* Part 3 through Cairn, part 1 by a client with a presigned URL. */
	w = NULL;
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/model.bin", id, 3, P3, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, want + P1 + P2, P3, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag3, sizeof etag3, &err), CN_OK);
	}
	CN_CHECK_EQ_INT(
	        cn_store_presign(s, "big/model.bin", "PUT", id, 1, 600, url, sizeof url, &err),
	        CN_OK);
	CN_CHECK(strstr(url, "comp=block") != NULL && strstr(url, "sig=") != NULL);
	CN_CHECK(strstr(url, DEV_KEY) == NULL);
	CN_CHECK_EQ_INT(az_test_http("PUT", url, want, P1, NULL, 0, NULL), 201);

	/* Nothing is visible before complete. */
	cn_store_info info;
	CN_CHECK_EQ_INT(cn_store_stat(s, "big/model.bin", &info, &err), CN_RESOURCE_DOES_NOT_EXIST);
	/* Parts never uploaded: refused, nothing published. (A separate upload:
	 * Azurite 3.35 also fails a later complete of an upload whose earlier
	 * complete failed.) */
	char id3[CAIRN_UPLOAD_ID_MAX];
	CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/model.bin", id3, sizeof id3, &err), CN_OK);
	cairn_mpu_part bad[] = {{1, "x"}, {4, "x"}};
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "big/model.bin", id3, bad, 2, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_stat(s, "big/model.bin", &info, &err), CN_RESOURCE_DOES_NOT_EXIST);
	/* Parts in any order are committed in part order. */
	cairn_mpu_part parts[] = {{3, etag3}, {1, "\"0x1\""}, {2, etag2}};
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "big/model.bin", id, parts, 3, &err), CN_OK);
	CN_CHECK_EQ_INT(az_test_read(s, "big/model.bin", got, P1 + P2 + P3 + 1), P1 + P2 + P3);
	CN_CHECK(memcmp(got, want, P1 + P2 + P3) == 0);

	/* Bad ids and sizes. */
	w = NULL;
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/model.bin", "nope", 1, 1, &w, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "big/model.bin", "../x", parts, 3, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "big/model.bin", "nope", &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/model.bin", id, 5, 100, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, "short", 5, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag3, sizeof etag3, &err),
		                CN_INVALID_PARAMETER_VALUE);
	}
	/* Abort: nothing to undo on the service, the object stays as it was. */
	char id2[CAIRN_UPLOAD_ID_MAX];
	CN_CHECK_EQ_INT(cn_store_mpu_create(s, "big/model.bin", id2, sizeof id2, &err), CN_OK);
	CN_CHECK(strcmp(id, id2) != 0);
	w = NULL;
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "big/model.bin", id2, 1, 3, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, "new", 3, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, etag3, sizeof etag3, &err), CN_OK);
	}
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "big/model.bin", id2, &err), CN_OK);
	CN_CHECK_EQ_INT(az_test_read(s, "big/model.bin", got, P1 + P2 + P3 + 1), P1 + P2 + P3);

	/* A plain put bigger than a block is staged block by block. */
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "staged.bin", want, P1 + P2 + P3, &err), CN_OK);
	CN_CHECK_EQ_INT(az_test_read(s, "staged.bin", got, P1 + P2 + P3 + 1), P1 + P2 + P3);
	CN_CHECK(memcmp(got, want, P1 + P2 + P3) == 0);

	CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
	free(want);
	free(got);
	cn_store_close(s);
}

/* Two staged uploads of one blob: Azure drops every staged block at each
 * commit, so the first to commit wins whole and the other fails clearly;
 * the blob is never a mix. */
static void az_case_staged_race(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, DEV_KEY);
	cn_store *s = az_test_open(reg, WASBS_ROOT "/race");
	if (!s)
		return;
	enum { N = 200000 };
	uint8_t *a = malloc(N), *b = malloc(N), *got = malloc(N + 1);
	memset(a, 'a', N);
	memset(b, 'b', N);
	cn_store_writer *wa = NULL, *wb = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_store_put_begin(s, "same", N, &wa, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_store_put_begin(s, "same", N, &wb, &err), CN_OK);
	if (wa && wb) {
		CN_CHECK_EQ_INT(cn_store_put_write(wa, a, N, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_put_write(wb, b, N, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_put_commit(wa, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_put_commit(wb, &err), CN_INTERNAL_ERROR);
		CN_CHECK(strstr(err.msg, "another writer") != NULL);
	}
	CN_CHECK_EQ_INT(az_test_read(s, "same", got, N + 1), N);
	CN_CHECK(memcmp(got, a, N) == 0);
	CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
	free(a);
	free(b);
	free(got);
	cn_store_close(s);
}

static void az_case_presign(cn_plugin_registry *reg, const azurite *z)
{
	az_test_settings(z, DEV_KEY);
	cn_store *s = az_test_open(reg, WASBS_ROOT "/pre");
	if (!s)
		return;
	char url[4096], bad[4096];
	char buf[64];
	az_test_body body = {buf, 0, sizeof buf};
	cn_err err;
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "dir/a b.txt", "presigned!", 10, &err), CN_OK);
	CN_CHECK_EQ_INT(
	        cn_store_presign(s, "dir/a b.txt", "GET", NULL, 0, 300, url, sizeof url, &err),
	        CN_OK);
	CN_CHECK(strstr(url, z->endpoint) == url);
	CN_CHECK(strstr(url, "/cairn/pre/dir/a%20b.txt?") != NULL);
	CN_CHECK_EQ_INT(az_test_http("GET", url, NULL, 0, NULL, 0, &body), 200);
	CN_CHECK(body.len == 10 && memcmp(buf, "presigned!", 10) == 0);
	/* A read URL does not write; a tampered one does not read. */
	cairn_http_header bt[] = {{"x-ms-blob-type", "BlockBlob"}};
	CN_CHECK_EQ_INT(az_test_http("PUT", url, "x", 1, bt, 1, NULL), 403);
	snprintf(bad, sizeof bad, "%s", url);
	char *sp = strstr(bad, "&sp=r");
	if (sp)
		memcpy(sp, "&sp=w", 5);
	CN_CHECK_EQ_INT(az_test_http("GET", bad, NULL, 0, NULL, 0, NULL), 403);

	/* PUT through a write URL with plain HTTP, then read back. */
	CN_CHECK_EQ_INT(
	        cn_store_presign(s, "up/new.bin", "PUT", NULL, 0, 300, url, sizeof url, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(az_test_http("PUT", url, "uploaded", 8, bt, 1, NULL), 201);
	uint8_t got[16];
	CN_CHECK_EQ_INT(az_test_read(s, "up/new.bin", got, sizeof got), 8);
	CN_CHECK(memcmp(got, "uploaded", 8) == 0);

	/* Refusals, by the host and by the plugin (its own checks, called raw). */
	CN_CHECK_EQ_INT(cn_store_presign(s, "x", "DELETE", NULL, 0, 300, url, sizeof url, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_store_presign(s, "x", "GET", NULL, 0, 0, url, sizeof url, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_store_presign(s, "../x", "GET", NULL, 0, 300, url, sizeof url, &err),
	                CN_INVALID_PARAMETER_VALUE);
	const cairn_store_ops *ops = NULL;
	cairn_store *st = az_test_raw(reg, WASBS_ROOT "/pre", &ops);
	if (st) {
		cairn_error e = {0};
		CN_CHECK_EQ_INT(ops->presign(st, "../x", "GET", NULL, 0, 300, url, sizeof url, &e),
		                CAIRN_ERR_INVALID);
		CN_CHECK_EQ_INT(ops->presign(st, "x", "POST", NULL, 0, 300, url, sizeof url, &e),
		                CAIRN_ERR_INVALID);
		CN_CHECK_EQ_INT(ops->presign(st, "x", "GET", "0123456789abcdef0123456789abcdef", 1,
		                             300, url, sizeof url, &e),
		                CAIRN_ERR_INVALID);
		CN_CHECK_EQ_INT(ops->presign(st, "x", "GET", NULL, 0, 300, url, 40, &e),
		                CAIRN_ERR_NO_MEMORY);
		ops->close(st);
	}
	CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
	cn_store_close(s);
}

/* A container SAS (sr=c) made here from the key, as an operator would
 * configure one; written out independently of the plugin's blob SAS. */
static void az_test_container_sas(const char *perms, char *out, size_t cap)
{
	const cairn_host_api *host = cn_plugin_host_api();
	char sts[512], sig[64], sig_enc[128];
	int n = snprintf(sts, sizeof sts,
	                 "%s\n\n2099-01-01T00:00:00Z\n/blob/" DEV_ACCOUNT
	                 "/cairn\n\n\n\n" AZ_API_VERSION "\nc\n\n\n\n\n\n\n",
	                 perms);
	uint8_t key[96], mac[32];
	size_t klen = 0;
	host->base64_decode(DEV_KEY, strlen(DEV_KEY), key, sizeof key, &klen, 0);
	host->hmac_sha256(key, klen, sts, (size_t)n, mac);
	host->base64_encode(mac, sizeof mac, sig, sizeof sig, 0);
	size_t k = 0; /* base64's '+', '/' and '=' are the only bytes to escape */
	for (const char *q = sig; *q && k + 4 < sizeof sig_enc; q++)
		k += (size_t)(*q == '+'   ? snprintf(sig_enc + k, 4, "%%2B")
		              : *q == '/' ? snprintf(sig_enc + k, 4, "%%2F")
		              : *q == '=' ? snprintf(sig_enc + k, 4, "%%3D")
		                          : snprintf(sig_enc + k, 2, "%c", *q));
	snprintf(out, cap, "sv=" AZ_API_VERSION "&se=2099-01-01T00%%3A00%%3A00Z&sr=c&sp=%s&sig=%s",
	         perms, sig_enc);
}

static int az_test_count_cb(void *arg, const cairn_list_entry *e)
{
	(*(int *)arg)++;
	return 0;
}

static void az_case_sas_token(cn_plugin_registry *reg, const azurite *z)
{
	char sas[512];
	cn_err err;
	uint8_t got[16];
	char tok[CAIRN_PAGE_TOKEN_MAX];
	az_test_settings(z, "");
	az_test_set("store.azure.create_container", "0");
	az_test_container_sas("racwdl", sas, sizeof sas);
	az_test_set("store.azure.sas_token", sas);
	cn_store *s = az_test_open(reg, WASBS_ROOT "/sas");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "k/v.txt", "by sas", 6, &err), CN_OK);
		CN_CHECK_EQ_INT(az_test_read(s, "k/v.txt", got, sizeof got), 6);
		int n = 0;
		CN_CHECK_EQ_INT(
		        cn_store_list(s, "k", NULL, 0, az_test_count_cb, &n, tok, sizeof tok, &err),
		        CN_OK);
		CN_CHECK_EQ_INT(n, 1);
	}
	/* Without the key there is nothing to sign presigned URLs with. */
	if (s) {
		char url[1024];
		CN_CHECK_EQ_INT(
		        cn_store_presign(s, "k/v.txt", "GET", NULL, 0, 60, url, sizeof url, &err),
		        CN_NOT_IMPLEMENTED);
		CN_CHECK(strstr(err.msg, "account key") != NULL);
	}
	/* A read-only SAS reads but does not write. */
	az_test_container_sas("rl", sas, sizeof sas);
	az_test_set("store.azure.sas_token", sas);
	cn_store *ro = az_test_open(reg, WASBS_ROOT "/sas");
	if (ro) {
		CN_CHECK_EQ_INT(az_test_read(ro, "k/v.txt", got, sizeof got), 6);
		CN_CHECK_EQ_INT(cn_store_put_bytes(ro, "k/w.txt", "no", 2, &err),
		                CN_PERMISSION_DENIED);
		CN_CHECK(strstr(err.msg, "sig=") == NULL);
		cn_store_close(ro);
	}
	if (s) {
		CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
		cn_store_close(s);
	}
}

static void az_case_errors(cn_plugin_registry *reg, const azurite *z)
{
	cn_err err;
	/* A wrong key: PERMISSION with Azure's reason, and no key in it. */
	static const char wrong[] =
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	        "AAAAAAAAAAAAAAAAAAAAAA==";
	az_test_settings(z, DEV_KEY);
	cn_store *good = az_test_open(reg, WASBS_ROOT "/errors");
	az_test_settings(z, wrong);
	az_test_set("store.azure.create_container", "0");
	cn_store *s = az_test_open(reg, WASBS_ROOT "/errors");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "f", "x", 1, &err), CN_PERMISSION_DENIED);
		CN_CHECK(strstr(err.msg, "permission denied") != NULL);
		CN_CHECK(strstr(err.msg, wrong) == NULL && strstr(err.msg, DEV_KEY) == NULL);
		cn_store_info info;
		CN_CHECK_EQ_INT(cn_store_stat(s, "f", &info, &err), CN_PERMISSION_DENIED);
		cn_store_close(s);
	}
	cn_store_close(good);

	/* A container that does not exist. */
	az_test_settings(z, DEV_KEY);
	az_test_set("store.azure.create_container", "0");
	s = az_test_open(reg, "wasbs://no-such-container@" DEV_ACCOUNT ".blob.core.windows.net");
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "f", "x", 1, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		CN_CHECK(strstr(err.msg, "container") != NULL);
		cn_store_close(s);
	}

	/* A store that is down: a clear error, quickly (no listener there). */
	char url[96];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/" DEV_ACCOUNT, az_test_free_port());
	az_test_set("store.azure.endpoint", url);
	s = az_test_open(reg, WASBS_ROOT);
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "f", "x", 1, &err), CN_INTERNAL_ERROR);
		cn_store_close(s);
	}

	/* A store that accepts and never answers: the request deadline. */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	CN_CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 &&
	         listen(lfd, 8) == 0 && getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/" DEV_ACCOUNT, ntohs(a.sin_port));
	az_test_set("store.azure.endpoint", url);
	az_test_set("store.azure.timeout_ms", "300");
	s = az_test_open(reg, WASBS_ROOT);
	if (s) {
		cn_store_reader *r = NULL;
		CN_CHECK_EQ_INT(cn_store_get_open(s, "f", 0, -1, &r, NULL, &err),
		                CN_DEADLINE_EXCEEDED);
		cn_store_close(s);
	}
	if (lfd >= 0)
		close(lfd);
}

CN_TEST(azure_store_against_azurite)
{
	azurite z;
	if (!azurite_start(&z)) {
		azurite_stop(&z);
		return;
	}
	cn_plugin_registry *reg = NULL;
	cn_err err;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	if (reg) {
		az_case_conformance(reg, &z);
		az_case_abfss(reg, &z);
		az_case_connection_string(reg, &z);
		az_case_multipart(reg, &z);
		az_case_staged_race(reg, &z);
		az_case_presign(reg, &z);
		az_case_sas_token(reg, &z);
		az_case_errors(reg, &z);
		cn_plugin_registry_close(reg);
	}
	cn_plugin_host_config_reset();
	azurite_stop(&z);
}

CN_TEST_MAIN()
