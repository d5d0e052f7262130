/*
 * core/plugin/store.c: the artifact-store API over a store plugin's ops:
 * path checks, defaults for what a plugin lacks, error conversion.
 */
#include "core/plugin/store.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct cn_store {
	cn_plugin *plugin;
	const cairn_store_ops *ops;
	uint64_t caps;
	cairn_store *h;
};

struct cn_store_writer {
	cn_store *store;
	cairn_store_writer *h;
};

struct cn_store_reader {
	cn_store *store;
	cairn_store_reader *h;
	int64_t skip; /* range emulation: bytes still to drop */
	int64_t left; /* range emulation: bytes still to give; -1 = to the end */
};

cn_code cn_store_code_from_status(int status)
{
	switch (status) {
	case CAIRN_OK: return CN_OK;
	case CAIRN_ERR_NOT_FOUND: return CN_RESOURCE_DOES_NOT_EXIST;
	case CAIRN_ERR_INVALID: return CN_INVALID_PARAMETER_VALUE;
	case CAIRN_ERR_IO: return CN_INTERNAL_ERROR;
	case CAIRN_ERR_TIMEOUT: return CN_DEADLINE_EXCEEDED;
	case CAIRN_ERR_CANCELLED: return CN_CANCELLED;
	case CAIRN_ERR_PERMISSION: return CN_PERMISSION_DENIED;
	case CAIRN_ERR_UNSUPPORTED: return CN_NOT_IMPLEMENTED;
	case CAIRN_ERR_NO_MEMORY: return CN_RESOURCE_EXHAUSTED;
	case CAIRN_ERR_EXISTS: return CN_RESOURCE_ALREADY_EXISTS;
	}
	return CN_INTERNAL_ERROR;
}

/* Converts a failed op's status and message. */
static cn_code store_fail(const cn_store *s, int status, cairn_error *e, cn_err *err)
{
	e->message[sizeof e->message - 1] = '\0';
	cn_code code = cn_store_code_from_status(status);
	if (code == CN_OK) /* a plugin broke its contract: treat as internal */
		code = CN_INTERNAL_ERROR;
	return cn_err_set(err, code, "%s: %s", cn_plugin_name(s->plugin),
	                  e->message[0] ? e->message : cn_code_name(code));
}

static cn_code store_bad_path(const char *what, const char *path, cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "invalid artifact %s '%.200s': must be a relative '/'-separated path "
	                  "without '.', '..' or empty parts, backslashes or control characters",
	                  what, path ? path : "(null)");
}

static bool store_path_ok(const char *path, bool allow_root)
{
	return path && cn_artifact_path_is_safe(path, strlen(path), allow_root);
}

const char *cn_store_plugin_for_uri(const char *uri)
{
	if (!uri || !uri[0])
		return NULL;
	const char *colon = strchr(uri, ':');
	const char *slash = strchr(uri, '/');
	if (!colon || (slash && slash < colon))
		return "local"; /* a plain path */
	size_t n = (size_t)(colon - uri);
	for (size_t i = 0; i < n; i++) {
		char c = uri[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
		if (!ok)
			return "local"; /* not a scheme: "a b:c" is a file name */
	}
	static const struct {
		const char *scheme;
		const char *plugin;
	} map[] = {
	        {"file", "local"},  {"s3", "s3"},       {"gs", "gcs"},
	        {"wasbs", "azure"}, {"abfss", "azure"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strlen(map[i].scheme) == n && strncmp(uri, map[i].scheme, n) == 0)
			return map[i].plugin;
	return NULL;
}

cn_code cn_store_open_with(cn_plugin *plugin, const char *uri, cn_store **out, cn_err *err)
{
	if (!plugin || cn_plugin_kind(plugin) != CAIRN_PLUGIN_ARTIFACT_STORE)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "not an artifact store plugin");
	if (!uri || !uri[0])
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "empty artifact store URI");
	cn_store *s = calloc(1, sizeof *s);
	if (!s)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	s->plugin = plugin;
	s->ops = cn_plugin_store_ops(plugin);
	s->caps = cn_plugin_caps(plugin);
	cairn_error e = {0};
	int rc = s->ops->open(uri, cn_plugin_host_api(), cn_plugin_state(plugin), &s->h, &e);
	if (rc != CAIRN_OK || !s->h) {
		if (rc == CAIRN_OK)
			snprintf(e.message, sizeof e.message, "open returned no store");
		cn_code code = store_fail(s, rc, &e, err);
		free(s);
		return code;
	}
	*out = s;
	return CN_OK;
}

cn_code cn_store_open(cn_plugin_registry *reg, const char *uri, cn_store **out, cn_err *err)
{
	const char *name = cn_store_plugin_for_uri(uri);
	if (!name)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "no artifact store plugin serves '%.200s' (known: file://, plain "
		                  "paths, s3://, gs://, wasbs://, abfss://)",
		                  uri ? uri : "(null)");
	cn_plugin *p = NULL;
	cn_code rc = cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, name, &p, err);
	if (rc != CN_OK)
		return rc;
	return cn_store_open_with(p, uri, out, err);
}

void cn_store_close(cn_store *store)
{
	if (!store)
		return;
	store->ops->close(store->h);
	free(store);
}

uint64_t cn_store_caps(const cn_store *store)
{
	return store->caps;
}
const cn_plugin *cn_store_plugin(const cn_store *store)
{
	return store->plugin;
}

/* ------------------------------------------------------------------------ */
/* Writing */

cn_code cn_store_put_begin(cn_store *s, const char *path, int64_t size_hint, cn_store_writer **out,
                           cn_err *err)
{
	if (!store_path_ok(path, false))
		return store_bad_path("path", path, err);
	cn_store_writer *w = calloc(1, sizeof *w);
	if (!w)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	w->store = s;
	cairn_error e = {0};
	int rc = s->ops->put_begin(s->h, path, size_hint < 0 ? -1 : size_hint, &w->h, &e);
	if (rc != CAIRN_OK || !w->h) {
		if (rc == CAIRN_OK)
			snprintf(e.message, sizeof e.message, "put_begin returned no writer");
		free(w);
		return store_fail(s, rc, &e, err);
	}
	*out = w;
	return CN_OK;
}

cn_code cn_store_put_write(cn_store_writer *w, const void *buf, size_t len, cn_err *err)
{
	if (len == 0)
		return CN_OK;
	cairn_error e = {0};
	int rc = w->store->ops->put_write(w->h, buf, len, &e);
	return rc == CAIRN_OK ? CN_OK : store_fail(w->store, rc, &e, err);
}

cn_code cn_store_put_commit(cn_store_writer *w, cn_err *err)
{
	cn_store *s = w->store;
	cairn_error e = {0};
	int rc = s->ops->put_commit(w->h, &e);
	free(w);
	return rc == CAIRN_OK ? CN_OK : store_fail(s, rc, &e, err);
}

void cn_store_put_abort(cn_store_writer *w)
{
	if (!w)
		return;
	w->store->ops->put_abort(w->h);
	free(w);
}

cn_code cn_store_put_bytes(cn_store *s, const char *path, const void *data, size_t len, cn_err *err)
{
	cn_store_writer *w = NULL;
	cn_code rc = cn_store_put_begin(s, path, (int64_t)len, &w, err);
	if (rc != CN_OK)
		return rc;
	rc = cn_store_put_write(w, data, len, err);
	if (rc != CN_OK) {
		cn_store_put_abort(w);
		return rc;
	}
	return cn_store_put_commit(w, err);
}

/* ------------------------------------------------------------------------ */
/* Reading */

cn_code cn_store_get_open(cn_store *s, const char *path, int64_t offset, int64_t length,
                          cn_store_reader **out, cn_store_info *info, cn_err *err)
{
	if (!store_path_ok(path, false))
		return store_bad_path("path", path, err);
	if (offset < 0 || length < -1)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "invalid range: offset %lld, length %lld", (long long)offset,
		                  (long long)length);
	cn_store_reader *r = calloc(1, sizeof *r);
	if (!r)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	r->store = s;
	r->left = -1;
	bool ranged = s->caps & CAIRN_STORE_CAP_RANGE;
	cairn_object_info oi = {0};
	cairn_error e = {0};
	int rc = s->ops->get_open(s->h, path, ranged ? offset : 0, ranged ? length : -1, &r->h, &oi,
	                          &e);
	if (rc != CAIRN_OK || !r->h) {
		if (rc == CAIRN_OK)
			snprintf(e.message, sizeof e.message, "get_open returned no reader");
		free(r);
		return store_fail(s, rc, &e, err);
	}
	if (!ranged) {
		if (offset > oi.size) {
			s->ops->get_close(r->h);
			free(r);
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "range offset %lld is past the end of '%.200s' (%lld bytes)",
			        (long long)offset, path, (long long)oi.size);
		}
		r->skip = offset;
		r->left = length;
	}
	if (info)
		*info = oi;
	*out = r;
	return CN_OK;
}

static cn_code store_read_raw(cn_store_reader *r, void *buf, size_t cap, size_t *n, cn_err *err)
{
	cairn_error e = {0};
	size_t got = 0;
	int rc = r->store->ops->get_read(r->h, buf, cap, &got, &e);
	if (rc != CAIRN_OK)
		return store_fail(r->store, rc, &e, err);
	if (got > cap)
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: get_read returned more than asked",
		                  cn_plugin_name(r->store->plugin));
	*n = got;
	return CN_OK;
}

cn_code cn_store_get_read(cn_store_reader *r, void *buf, size_t cap, size_t *n, cn_err *err)
{
	*n = 0;
	if (cap == 0)
		return CN_OK;
	while (r->skip > 0) {
		/* The caller's buffer doubles as scratch for the bytes dropped. */
		size_t want = (uint64_t)r->skip < cap ? (size_t)r->skip : cap, got = 0;
		cn_code rc = store_read_raw(r, buf, want, &got, err);
		if (rc != CN_OK)
			return rc;
		if (got == 0) {
			r->skip = 0;
			r->left = 0;
		}
		r->skip -= (int64_t)got;
	}
	if (r->left == 0)
		return CN_OK;
	if (r->left > 0 && (uint64_t)r->left < cap)
		cap = (size_t)r->left;
	cn_code rc = store_read_raw(r, buf, cap, n, err);
	if (rc == CN_OK && r->left > 0)
		r->left -= (int64_t)*n;
	return rc;
}

void cn_store_get_close(cn_store_reader *r)
{
	if (!r)
		return;
	r->store->ops->get_close(r->h);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Listing */

typedef struct store_list_ctx {
	const cn_store *store;
	cairn_list_fn cb;
	void *cb_arg;
	bool emulate; /* page here: skip up to token, stop after max */
	const char *after;
	size_t max;
	size_t given;
	bool more;        /* emulation stopped the plugin: another page exists */
	bool caller_stop; /* the caller's cb stopped it */
	char last[CAIRN_PATH_MAX + 1];
} store_list_ctx;

static int store_list_cb(void *arg, const cairn_list_entry *entry)
{
	store_list_ctx *c = arg;
	if (!entry || !store_path_ok(entry->path, false)) {
		/* Keys written by other tools ("a//b", "../x") must not reach
		 * callers that turn entries into paths. */
		CN_LOGW("STORE-UNSAFE-PATH", NULL, "%s: skipped listed entry '%.200s'",
		        cn_plugin_name(c->store->plugin), entry && entry->path ? entry->path : "");
		return 0;
	}
	if (c->emulate) {
		if (c->after && strcmp(entry->path, c->after) <= 0)
			return 0;
		if (c->max && c->given == c->max) {
			c->more = true;
			return 1;
		}
	}
	c->given++;
	snprintf(c->last, sizeof c->last, "%s", entry->path);
	if (c->cb(c->cb_arg, entry) != 0) {
		c->caller_stop = true;
		return 1;
	}
	return 0;
}

cn_code cn_store_list(cn_store *s, const char *dir, const char *page_token, size_t max_entries,
                      cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
                      cn_err *err)
{
	if (!store_path_ok(dir, true))
		return store_bad_path("directory", dir, err);
	if (!cb || !next_token || next_token_cap == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "list needs a callback and a "
		                  "token buffer");
	if (page_token && strlen(page_token) >= CAIRN_PAGE_TOKEN_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "page token too long");
	next_token[0] = '\0';
	store_list_ctx c = {.store = s, .cb = cb, .cb_arg = cb_arg};
	c.emulate = !(s->caps & CAIRN_STORE_CAP_LIST_PAGED);
	c.after = page_token && page_token[0] ? page_token : NULL;
	c.max = max_entries;
	char token[CAIRN_PAGE_TOKEN_MAX] = "";
	cairn_error e = {0};
	int rc = s->ops->list(s->h, dir, c.emulate ? NULL : c.after, c.emulate ? 0 : max_entries,
	                      store_list_cb, &c, token, sizeof token, &e);
	if (c.caller_stop)
		return cn_err_set(err, CN_CANCELLED, "listing stopped by its callback");
	if (rc != CAIRN_OK && !(rc == CAIRN_ERR_CANCELLED && c.more))
		return store_fail(s, rc, &e, err);
	token[sizeof token - 1] = '\0';
	const char *next = c.emulate ? (c.more ? c.last : "") : token;
	if (strlen(next) >= next_token_cap)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "page token buffer too small");
	memcpy(next_token, next, strlen(next) + 1);
	return CN_OK;
}

/* ------------------------------------------------------------------------ */
/* stat and remove, with defaults */

static int store_first_cb(void *arg, const cairn_list_entry *entry)
{
	*(bool *)arg = true;
	return 1;
}

/* True when dir has at least one child. */
static cn_code store_has_children(cn_store *s, const char *dir, bool *any, cn_err *err)
{
	char token[CAIRN_PAGE_TOKEN_MAX];
	*any = false;
	cn_code rc = cn_store_list(s, dir, NULL, 1, store_first_cb, any, token, sizeof token, err);
	return rc == CN_CANCELLED && *any ? CN_OK : rc;
}

cn_code cn_store_stat(cn_store *s, const char *path, cn_store_info *info, cn_err *err)
{
	if (!store_path_ok(path, true))
		return store_bad_path("path", path, err);
	cairn_object_info oi = {0};
	if (s->ops->stat) {
		cairn_error e = {0};
		int rc = s->ops->stat(s->h, path, &oi, &e);
		if (rc != CAIRN_OK)
			return store_fail(s, rc, &e, err);
		*info = oi;
		return CN_OK;
	}
	if (!path[0]) {
		memset(info, 0, sizeof *info);
		info->is_dir = 1;
		return CN_OK;
	}
	/* Default: an object if it opens, else a directory if it has children. */
	cairn_store_reader *r = NULL;
	cairn_error e = {0};
	int rc = s->ops->get_open(s->h, path, 0, (s->caps & CAIRN_STORE_CAP_RANGE) ? 0 : -1, &r,
	                          &oi, &e);
	if (rc == CAIRN_OK) {
		if (r)
			s->ops->get_close(r);
		*info = oi;
		return CN_OK;
	}
	if (rc != CAIRN_ERR_NOT_FOUND && rc != CAIRN_ERR_INVALID)
		return store_fail(s, rc, &e, err);
	bool any = false;
	cn_code lrc = store_has_children(s, path, &any, err);
	if (lrc != CN_OK)
		return lrc;
	if (!any)
		return cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST, "%s: no artifact at '%.200s'",
		                  cn_plugin_name(s->plugin), path);
	memset(info, 0, sizeof *info);
	info->is_dir = 1;
	return CN_OK;
}

typedef struct store_names {
	char **v;
	size_t n, cap;
	bool *is_dir;
	bool failed;
} store_names;

static int store_collect_cb(void *arg, const cairn_list_entry *entry)
{
	store_names *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, cap * sizeof *v);
		if (v)
			a->v = v;
		bool *d = v ? realloc(a->is_dir, cap * sizeof *d) : NULL;
		if (!v || !d) {
			a->failed = true;
			return 1;
		}
		a->is_dir = d;
		a->cap = cap;
	}
	a->v[a->n] = strdup(entry->path);
	if (!a->v[a->n]) {
		a->failed = true;
		return 1;
	}
	a->is_dir[a->n++] = entry->is_dir != 0;
	return 0;
}

static void store_names_free(store_names *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	free(a->is_dir);
}

static cn_code store_remove_one(cn_store *s, const char *path, int recursive, cn_err *err)
{
	cairn_error e = {0};
	int rc = s->ops->remove(s->h, path, recursive, &e);
	return rc == CAIRN_OK ? CN_OK : store_fail(s, rc, &e, err);
}

/* Recursive remove for plugins without CAIRN_STORE_CAP_DELETE_RECURSIVE.
 * Children are collected before any is removed: removing while a listing
 * runs is not something every store allows. */
static cn_code store_remove_tree(cn_store *s, const char *dir, cn_err *err)
{
	store_names a = {0};
	char token[CAIRN_PAGE_TOKEN_MAX];
	cn_code rc = cn_store_list(s, dir, NULL, 0, store_collect_cb, &a, token, sizeof token, err);
	if (a.failed)
		rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; rc == CN_OK && i < a.n; i++) {
		rc = a.is_dir[i] ? store_remove_tree(s, a.v[i], err)
		                 : store_remove_one(s, a.v[i], 0, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST) /* someone else removed it */
			rc = CN_OK;
	}
	store_names_free(&a);
	if (rc == CN_OK && dir[0]) {
		/* The directory itself, where the store has real directories. */
		rc = store_remove_one(s, dir, 0, err);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST)
			rc = CN_OK;
	}
	return rc;
}

cn_code cn_store_remove(cn_store *s, const char *path, bool recursive, cn_err *err)
{
	if (!store_path_ok(path, recursive))
		return store_bad_path("path", path, err);
	if (!recursive)
		return store_remove_one(s, path, 0, err);
	if (s->caps & CAIRN_STORE_CAP_DELETE_RECURSIVE)
		return store_remove_one(s, path, 1, err);
	cn_store_info info;
	cn_err serr;
	cn_code rc = cn_store_stat(s, path, &info, &serr);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return CN_OK;
	if (rc != CN_OK) {
		if (err)
			*err = serr;
		return rc;
	}
	return info.is_dir ? store_remove_tree(s, path, err) : store_remove_one(s, path, 0, err);
}

/* ------------------------------------------------------------------------ */
/* Multipart uploads and presigned URLs */

static cn_code store_lacks(const cn_store *s, const char *what, cn_err *err)
{
	return cn_err_set(err, CN_NOT_IMPLEMENTED, "%s: this artifact store does not support %s",
	                  cn_plugin_name(s->plugin), what);
}

static bool store_mpu_ok(const cn_store *s)
{
	const cairn_store_ops *o = s->ops;
	return (s->caps & CAIRN_STORE_CAP_MULTIPART) && o->mpu_create && o->mpu_part_begin &&
	       o->mpu_part_commit && o->mpu_complete && o->mpu_abort;
}

static cn_code store_check_upload(const char *path, const char *upload_id, cn_err *err)
{
	if (!store_path_ok(path, false))
		return store_bad_path("path", path, err);
	if (!upload_id || !upload_id[0] || strlen(upload_id) >= CAIRN_UPLOAD_ID_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "invalid multipart upload id");
	return CN_OK;
}

cn_code cn_store_mpu_create(cn_store *s, const char *path, char *upload_id, size_t cap, cn_err *err)
{
	if (!store_mpu_ok(s))
		return store_lacks(s, "multipart uploads", err);
	if (!store_path_ok(path, false))
		return store_bad_path("path", path, err);
	if (cap < CAIRN_UPLOAD_ID_MAX)
		return cn_err_set(err, CN_INTERNAL_ERROR, "upload id buffer too small");
	char id[CAIRN_UPLOAD_ID_MAX] = "";
	cairn_error e = {0};
	int rc = s->ops->mpu_create(s->h, path, id, sizeof id, &e);
	if (rc != CAIRN_OK)
		return store_fail(s, rc, &e, err);
	id[sizeof id - 1] = '\0';
	if (!id[0])
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: mpu_create returned no upload id",
		                  cn_plugin_name(s->plugin));
	memcpy(upload_id, id, strlen(id) + 1);
	return CN_OK;
}

cn_code cn_store_mpu_part_begin(cn_store *s, const char *path, const char *upload_id,
                                int part_number, int64_t size, cn_store_writer **out, cn_err *err)
{
	if (!store_mpu_ok(s))
		return store_lacks(s, "multipart uploads", err);
	cn_code code = store_check_upload(path, upload_id, err);
	if (code != CN_OK)
		return code;
	if (part_number < 1 || part_number > 10000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "part number %d is out of range 1..10000", part_number);
	if (size < 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "negative part size");
	cn_store_writer *w = calloc(1, sizeof *w);
	if (!w)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	w->store = s;
	cairn_error e = {0};
	int rc = s->ops->mpu_part_begin(s->h, path, upload_id, part_number, size, &w->h, &e);
	if (rc != CAIRN_OK || !w->h) {
		if (rc == CAIRN_OK)
			snprintf(e.message, sizeof e.message, "mpu_part_begin returned no writer");
		free(w);
		return store_fail(s, rc, &e, err);
	}
	*out = w;
	return CN_OK;
}

cn_code cn_store_mpu_part_commit(cn_store_writer *w, char *etag, size_t cap, cn_err *err)
{
	cn_store *s = w->store;
	char tag[CAIRN_ETAG_MAX] = "";
	cairn_error e = {0};
	int rc = s->ops->mpu_part_commit(w->h, tag, sizeof tag, &e);
	free(w);
	if (rc != CAIRN_OK)
		return store_fail(s, rc, &e, err);
	tag[sizeof tag - 1] = '\0';
	size_t n = strlen(tag);
	if (n >= cap)
		return cn_err_set(err, CN_INTERNAL_ERROR, "ETag buffer too small");
	memcpy(etag, tag, n + 1);
	return CN_OK;
}

static int store_part_cmp(const void *a, const void *b)
{
	int x = ((const cairn_mpu_part *)a)->part_number;
	int y = ((const cairn_mpu_part *)b)->part_number;
	return (x > y) - (x < y);
}

cn_code cn_store_mpu_complete(cn_store *s, const char *path, const char *upload_id,
                              const cairn_mpu_part *parts, size_t nparts, cn_err *err)
{
	if (!store_mpu_ok(s))
		return store_lacks(s, "multipart uploads", err);
	cn_code code = store_check_upload(path, upload_id, err);
	if (code != CN_OK)
		return code;
	if (nparts == 0 || nparts > 10000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "a multipart upload needs 1 to 10000 parts, got %zu", nparts);
	/* Plugins get the parts in part_number order, each number once, so
	 * none of them has to sort or deduplicate. */
	cairn_mpu_part *sorted = malloc(nparts * sizeof *sorted);
	if (!sorted)
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	memcpy(sorted, parts, nparts * sizeof *sorted);
	qsort(sorted, nparts, sizeof *sorted, store_part_cmp);
	for (size_t i = 0; i < nparts; i++) {
		const cairn_mpu_part *p = &sorted[i];
		const char *bad = NULL;
		if (p->part_number < 1 || p->part_number > 10000)
			bad = "out of range 1..10000";
		else if (i > 0 && sorted[i - 1].part_number == p->part_number)
			bad = "listed twice";
		else if (!p->etag || !p->etag[0] || strlen(p->etag) >= CAIRN_ETAG_MAX)
			bad = "without a valid ETag";
		if (bad) {
			code = cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "part number %d is %s",
			                  p->part_number, bad);
			free(sorted);
			return code;
		}
	}
	cairn_error e = {0};
	int rc = s->ops->mpu_complete(s->h, path, upload_id, sorted, nparts, &e);
	free(sorted);
	return rc == CAIRN_OK ? CN_OK : store_fail(s, rc, &e, err);
}

cn_code cn_store_mpu_abort(cn_store *s, const char *path, const char *upload_id, cn_err *err)
{
	if (!store_mpu_ok(s))
		return store_lacks(s, "multipart uploads", err);
	cn_code code = store_check_upload(path, upload_id, err);
	if (code != CN_OK)
		return code;
	cairn_error e = {0};
	int rc = s->ops->mpu_abort(s->h, path, upload_id, &e);
	return rc == CAIRN_OK ? CN_OK : store_fail(s, rc, &e, err);
}

cn_code cn_store_presign(cn_store *s, const char *path, const char *method, const char *upload_id,
                         int part_number, int64_t expires_s, char *url, size_t cap, cn_err *err)
{
	if (!(s->caps & CAIRN_STORE_CAP_PRESIGN) || !s->ops->presign)
		return store_lacks(s, "presigned URLs", err);
	if (!store_path_ok(path, false))
		return store_bad_path("path", path, err);
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "presigned URLs are for GET or PUT");
	if (expires_s < 1 || expires_s > 604800)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "presigned URL lifetime must be 1..604800 seconds");
	if (upload_id) {
		cn_code code = store_check_upload(path, upload_id, err);
		if (code != CN_OK)
			return code;
		if (strcmp(method, "PUT") != 0 || part_number < 1 || part_number > 10000)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "a part URL is a PUT of part 1..10000");
	}
	if (cap == 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "URL buffer too small");
	cairn_error e = {0};
	url[0] = '\0';
	int rc = s->ops->presign(s->h, path, method, upload_id, part_number, expires_s, url, cap,
	                         &e);
	if (rc != CAIRN_OK)
		return store_fail(s, rc, &e, err);
	url[cap - 1] = '\0';
	if (!url[0])
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: presign returned no URL",
		                  cn_plugin_name(s->plugin));
	return CN_OK;
}
