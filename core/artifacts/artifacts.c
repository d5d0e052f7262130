/*
 * core/artifacts/artifacts.c: artifact URI -> (store, path), with a cache of
 * open stores keyed by root URI.
 */
#include "core/artifacts/artifacts.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"

#define ART_SCHEME "mlflow-artifacts:"

typedef struct art_entry {
	char *root; /* owned */
	cn_store *store;
	struct art_entry *next;
} art_entry;

struct cn_artifacts {
	cn_plugin_registry *reg;
	char *destination; /* owned */
	pthread_mutex_t mu;
	art_entry *stores;
};

cn_code cn_artifacts_open(cn_artifacts **out, cn_plugin_registry *reg, const char *destination,
                          cn_err *err)
{
	if (!destination || !destination[0])
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "empty artifacts destination");
	cn_artifacts *a = calloc(1, sizeof *a);
	if (!a || !(a->destination = strdup(destination))) {
		free(a);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	}
	a->reg = reg;
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return CN_OK;
}

void cn_artifacts_close(cn_artifacts *a)
{
	if (!a)
		return;
	for (art_entry *e = a->stores, *next; e; e = next) {
		next = e->next;
		cn_store_close(e->store);
		free(e->root);
		free(e);
	}
	pthread_mutex_destroy(&a->mu);
	free(a->destination);
	free(a);
}

int cn_artifacts_is_proxied(const char *uri)
{
	return uri && strncmp(uri, ART_SCHEME, strlen(ART_SCHEME)) == 0;
}

/* The cached store for root, opened on first use. Opening happens under the
 * lock so that two requests never open the same root twice; opens are
 * rare (once per root per process). */
static cn_code art_store(cn_artifacts *a, const char *root, size_t rlen, cn_store **out,
                         cn_err *err)
{
	pthread_mutex_lock(&a->mu);
	for (art_entry *e = a->stores; e; e = e->next) {
		if (strlen(e->root) == rlen && memcmp(e->root, root, rlen) == 0) {
			*out = e->store;
			pthread_mutex_unlock(&a->mu);
			return CN_OK;
		}
	}
	cn_code rc = CN_RESOURCE_EXHAUSTED;
	art_entry *e = calloc(1, sizeof *e);
	if (e && (e->root = strndup(root, rlen)) != NULL)
		rc = cn_store_open(a->reg, e->root, &e->store, err);
	else
		cn_err_set(err, rc, "out of memory");
	if (rc != CN_OK) {
		if (e)
			free(e->root);
		free(e);
		pthread_mutex_unlock(&a->mu);
		return rc;
	}
	e->next = a->stores;
	a->stores = e;
	*out = e->store;
	pthread_mutex_unlock(&a->mu);
	return CN_OK;
}

/* Append part (len bytes, no leading or trailing '/') to path. */
static cn_code art_join(char *path, size_t cap, const char *part, size_t len, cn_err *err)
{
	size_t have = strlen(path);
	size_t need = have + (have && len ? 1 : 0) + len;
	if (need > CAIRN_PATH_MAX || need + 1 > cap)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "artifact path is longer than %d bytes", CAIRN_PATH_MAX);
	if (have && len)
		path[have++] = '/';
	memcpy(path + have, part, len);
	path[have + len] = '\0';
	return CN_OK;
}

static cn_code art_bad(const char *what, const char *p, cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "invalid artifact %s '%.200s': must be a relative '/'-separated path "
	                  "without '.', '..' or empty parts, backslashes or control characters",
	                  what, p);
}

/* The directory a local store root names ("file:///p", "file://localhost/p",
 * "file:/p" or a plain path), percent-decoded for URIs. False when it is not
 * a local root or does not fit. */
static bool art_local_dir(const char *root, size_t rlen, char *out, size_t cap)
{
	const char *p = root, *end = root + rlen;
	bool uri = rlen >= 5 && strncmp(root, "file:", 5) == 0;
	if (uri) {
		p += 5;
		if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
			p += 2;
			if (end - p >= 9 && strncmp(p, "localhost", 9) == 0)
				p += 9;
		}
	}
	size_t n = 0;
	for (; p < end; p++) {
		char c = *p;
		int hi, lo;
		if (uri && c == '%' && end - p > 2 && (hi = cn_hex_value(p[1])) >= 0 &&
		    (lo = cn_hex_value(p[2])) >= 0) {
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if (c == '\0' || n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0;
}

/* A symbolic link inside a local store must not lead out of its root (the
 * local plugin follows links): walk path's existing components and refuse
 * any link that resolves outside the real root, or nowhere. Links cannot be
 * made through the API; this guards against ones an operator or another
 * local user left in the destination. */
static cn_code art_confined(const char *root, size_t rlen, const char *path, cn_err *err)
{
	char dir[PATH_MAX], real_root[PATH_MAX], cur[PATH_MAX], real[PATH_MAX];
	if (!path[0] || !art_local_dir(root, rlen, dir, sizeof dir))
		return CN_OK;
	if (!realpath(dir, real_root))
		return CN_OK; /* not there yet: the store creates it, nothing to follow */
	size_t rr = strlen(real_root);
	size_t n = strlen(dir);
	if (n + 1 + strlen(path) >= sizeof cur)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid path: too long");
	memcpy(cur, dir, n);
	for (const char *p = path; *p;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		cur[n++] = '/';
		memcpy(cur + n, p, clen);
		n += clen;
		cur[n] = '\0';
		struct stat st;
		if (lstat(cur, &st) != 0)
			return CN_OK; /* the rest does not exist: the store creates real directories
			               */
		if (S_ISLNK(st.st_mode)) {
			bool inside = realpath(cur, real) != NULL &&
			              strncmp(real, real_root, rr) == 0 &&
			              (real[rr] == '\0' || real[rr] == '/' || rr == 1);
			if (!inside)
				return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                  "Invalid path: a symbolic link in '%.200s' leads "
				                  "outside the artifact root",
				                  path);
		}
		p += clen;
		if (*p == '/')
			p++;
	}
	return CN_OK;
}

cn_code cn_artifacts_locate(cn_artifacts *a, const char *uri, const char *sub, cn_store **store,
                            char *path, size_t cap, cn_err *err)
{
	if (!uri || !uri[0])
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "empty artifact URI");
	if (cap == 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "artifact path buffer too small");
	path[0] = '\0';
	const char *root = uri;
	size_t rlen = strlen(uri);
	if (cn_artifacts_is_proxied(uri)) {
		/* mlflow-artifacts:/p, mlflow-artifacts:///p or
		 * mlflow-artifacts://host:port/p: the authority names the server
		 * the client talked to, which is us. */
		const char *p = uri + strlen(ART_SCHEME);
		if (strncmp(p, "//", 2) == 0) {
			p += 2;
			p += strcspn(p, "/");
		}
		while (*p == '/')
			p++;
		size_t plen = strlen(p);
		while (plen && p[plen - 1] == '/')
			plen--;
		if (plen && !cn_artifact_path_is_safe(p, plen, false))
			return art_bad("URI", uri, err);
		cn_code rc = art_join(path, cap, p, plen, err);
		if (rc != CN_OK)
			return rc;
		root = a->destination;
		rlen = strlen(root);
	}
	while (rlen > 1 && root[rlen - 1] == '/' && !(rlen >= 3 && root[rlen - 2] == '/'))
		rlen--; /* "s3://b/p/" and "s3://b/p" are one root; keep "s3://" */
	if (sub && sub[0]) {
		size_t slen = strlen(sub);
		if (!cn_artifact_path_is_safe(sub, slen, false))
			return art_bad("path", sub, err);
		cn_code rc = art_join(path, cap, sub, slen, err);
		if (rc != CN_OK)
			return rc;
	}
	const char *plugin = cn_store_plugin_for_uri(root);
	if (plugin && strcmp(plugin, "local") == 0) {
		cn_code rc = art_confined(root, rlen, path, err);
		if (rc != CN_OK)
			return rc;
	}
	return art_store(a, root, rlen, store, err);
}
