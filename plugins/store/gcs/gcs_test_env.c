/* plugins/store/gcs/gcs_test_env.c: keys, key files and the fixture server for the gcs tests. */
#include "gcs_test_env.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int gcs_test_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

bool gcs_test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

char *gcs_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *p = realloc(buf, cap);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool gcs_test_openssl_verify(const gcs_test_env *env, const void *data, size_t len, const void *sig,
                             size_t sig_len)
{
	char dpath[128], spath[128];
	snprintf(dpath, sizeof dpath, "%s/verify.data", env->dir);
	snprintf(spath, sizeof spath, "%s/verify.sig", env->dir);
	if (!gcs_test_write_file(dpath, data, len) || !gcs_test_write_file(spath, sig, sig_len))
		return false;
	return gcs_test_sh("openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1",
	                   env->pub, spath, dpath) == 0;
}

/* A service-account key file as Google's console makes one. */
static bool gcs_test_write_sa(const gcs_test_env *env, const char *path, const char *key_path)
{
	char *pem = gcs_test_read_file(key_path, NULL);
	char token_uri[128];
	snprintf(token_uri, sizeof token_uri, "%s/token", env->endpoint);
	json_t *sa =
	        pem ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
	                        "project_id", "cairn-project", "private_key_id", "0123456789abcdef",
	                        "private_key", pem, "client_email", GCS_TEST_EMAIL, "client_id",
	                        "1234567890", "token_uri", token_uri)
	            : NULL;
	bool ok = sa && json_dump_file(sa, path, JSON_INDENT(2)) == 0;
	json_decref(sa);
	free(pem);
	return ok;
}

static bool gcs_test_spawn(gcs_test_env *env)
{
	int in[2], out[2];
	if (pipe(in) != 0)
		return false;
	if (pipe(out) != 0) {
		close(in[0]);
		close(in[1]);
		return false;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		char life[24];
		snprintf(life, sizeof life, "%d",
		         env->token_lifetime > 0 ? env->token_lifetime : 3599);
		execlp("python3", "python3", CN_GCS_FIXTURE, "--public-key", env->pub,
		       "--client-email", GCS_TEST_EMAIL, "--bucket", GCS_TEST_BUCKET,
		       "--token-lifetime", life, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return false;
	}
	env->pid = pid;
	env->stdin_fd = in[1];
	char line[64] = "";
	size_t n = 0;
	while (n + 1 < sizeof line) {
		ssize_t got = read(out[0], line + n, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "PORT %d", &env->port) != 1) {
		fprintf(stderr, "  gcs fixture did not start (said '%s')\n", line);
		return false;
	}
	snprintf(env->host, sizeof env->host, "127.0.0.1:%d", env->port);
	snprintf(env->endpoint, sizeof env->endpoint, "http://%s", env->host);
	return true;
}

/* The keys: made once per process (RSA key generation is the slow part of
 * a test) in a directory removed at exit. */
static struct {
	char dir[64];
	bool tried, ok;
} gcs_test_keys;

static void gcs_test_keys_remove(void)
{
	if (gcs_test_keys.dir[0])
		gcs_test_sh("rm -rf %s", gcs_test_keys.dir);
}

static bool gcs_test_keys_make(void)
{
	if (gcs_test_keys.tried)
		return gcs_test_keys.ok;
	gcs_test_keys.tried = true;
	snprintf(gcs_test_keys.dir, sizeof gcs_test_keys.dir, "/tmp/cn-gcs-keys-XXXXXX");
	if (!mkdtemp(gcs_test_keys.dir)) {
		gcs_test_keys.dir[0] = '\0';
		fprintf(stderr, "  mkdtemp: %s\n", strerror(errno));
		return false;
	}
	atexit(gcs_test_keys_remove);
	const char *d = gcs_test_keys.dir;
	gcs_test_keys.ok =
	        gcs_test_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
	                    "%s/key.pem 2>/dev/null && openssl pkey -in %s/key.pem -pubout -out "
	                    "%s/pub.pem 2>/dev/null && openssl genpkey -algorithm RSA -pkeyopt "
	                    "rsa_keygen_bits:2048 -out %s/bad.pem 2>/dev/null",
	                    d, d, d, d) == 0;
	if (!gcs_test_keys.ok)
		fprintf(stderr, "  openssl could not make test keys\n");
	return gcs_test_keys.ok;
}

bool gcs_test_env_start(gcs_test_env *env, bool fixture, int token_lifetime)
{
	memset(env, 0, sizeof *env);
	env->token_lifetime = token_lifetime;
	env->pid = -1;
	env->stdin_fd = -1;
	if (!gcs_test_keys_make())
		return false;
	snprintf(env->dir, sizeof env->dir, "/tmp/cn-gcs-test-XXXXXX");
	if (!mkdtemp(env->dir)) {
		env->dir[0] = '\0';
		fprintf(stderr, "  mkdtemp: %s\n", strerror(errno));
		return false;
	}
	snprintf(env->key, sizeof env->key, "%s/key.pem", gcs_test_keys.dir);
	snprintf(env->pub, sizeof env->pub, "%s/pub.pem", gcs_test_keys.dir);
	snprintf(env->bad_key, sizeof env->bad_key, "%s/bad.pem", gcs_test_keys.dir);
	snprintf(env->sa_file, sizeof env->sa_file, "%s/sa.json", env->dir);
	snprintf(env->bad_file, sizeof env->bad_file, "%s/bad-sa.json", env->dir);
	if (!fixture)
		return true;
	if (!gcs_test_spawn(env))
		return false;
	return gcs_test_write_sa(env, env->sa_file, env->key) &&
	       gcs_test_write_sa(env, env->bad_file, env->bad_key);
}

void gcs_test_env_stop(gcs_test_env *env)
{
	if (env->stdin_fd >= 0)
		close(env->stdin_fd);
	if (env->pid > 0) {
		kill(env->pid, SIGTERM);
		waitpid(env->pid, NULL, 0);
	}
	if (env->dir[0])
		gcs_test_sh("rm -rf %s", env->dir);
}
