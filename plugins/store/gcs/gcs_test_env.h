/*
 * plugins/store/gcs/gcs_test_env.h: what the gcs store's tests share: fresh
 * RSA keys made with the openssl command, service-account key files, the
 * GCS fixture server (tests/peers/gcs_fixture/gcs_fixture.py) on a free
 * port, and signature checks with `openssl dgst -verify`.
 */
#ifndef CAIRN_GCS_TEST_ENV_H
#define CAIRN_GCS_TEST_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GCS_TEST_EMAIL  "cairn-test@cairn-project.iam.gserviceaccount.com"
#define GCS_TEST_BUCKET "cairn-test-bucket"

typedef struct gcs_test_env {
	char dir[64];       /* temp dir of this test: key files, scratch */
	char key[128];      /* private key (PEM) the fixture trusts */
	char pub[128];      /* its public key */
	char bad_key[128];  /* another private key, unknown to the fixture */
	char sa_file[128];  /* service-account file with key, token_uri at the fixture */
	char bad_file[128]; /* the same with bad_key */
	char endpoint[64];  /* http://127.0.0.1:<port> */
	char host[48];      /* 127.0.0.1:<port> */
	int port;
	pid_t pid;
	int stdin_fd;       /* the fixture exits when this closes */
	int token_lifetime; /* expires_in of the fixture's tokens; 0 = about an hour */
} gcs_test_env;

/* Makes keys; with fixture, starts the fixture (its tokens live
 * token_lifetime seconds, 0 = about an hour) and writes the key files.
 * Returns false (and reports why on stderr) on failure. */
bool gcs_test_env_start(gcs_test_env *env, bool fixture, int token_lifetime);
void gcs_test_env_stop(gcs_test_env *env);

/* Runs a shell command; returns its exit status (-1 when it did not run). */
int gcs_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes len bytes to path. */
bool gcs_test_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a new NUL-terminated buffer. */
char *gcs_test_read_file(const char *path, size_t *len);
/* True when `openssl dgst -sha256 -verify pub` accepts sig over data. */
bool gcs_test_openssl_verify(const gcs_test_env *env, const void *data, size_t len, const void *sig,
                             size_t sig_len);

#endif
