/*
 * core/artifacts/artifacts.c: artifact URI -> (store, path), with a cache of
 * open stores keyed by root URI.
 */
#include "core/artifacts/artifacts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
	return art_store(a, root, rlen, store, err);
}
