/*
 * plugins/store/azure/azure_store.c: the Azure Blob artifact store: open,
 * listing, stat, remove, and the plugin descriptor. Reading, writing,
 * multipart uploads and presigned URLs are in azure_io.c; settings and
 * credentials are described in azure_int.h.
 *
 * Layout: the artifact "a/b.txt" of the store wasbs://c@acct.../p is the
 * block blob "p/a/b.txt" of container c. Directories are not real: a
 * directory is a name prefix ending in '/' (List Blobs' BlobPrefix). On
 * ADLS Gen2 (hierarchical namespace) accounts a directory is also a blob
 * with metadata hdi_isfolder=true; those are reported as directories.
 */
#include "azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "1.0.0"
#endif

/* Largest List Blobs answer we hold (5000 entries with metadata fit). */
#define AZ_LIST_MAX_BYTES (32u << 20)
#define AZ_LIST_PAGE      1000

bool az_path_ok(const char *path, bool allow_root)
{
	if (!path)
		return false;
	size_t len = strlen(path);
	if (len == 0)
		return allow_root;
	if (len > CAIRN_PATH_MAX || path[0] == '/' || path[len - 1] == '/')
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)path[i] : '/';
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
		if (c != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && path[start] == '.') ||
		    (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

int az_bad_path(cairn_error *err, const char *path)
{
	return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
	                       path ? path : "(null)");
}

char *az_blob_name(const cairn_store *s, const char *path)
{
	size_t pl = strlen(s->cfg.prefix), n = strlen(path);
	char *b = malloc(pl + n + 2);
	if (b) {
		memcpy(b, s->cfg.prefix, pl);
		memcpy(b + pl, path, n + 1);
	}
	return b;
}

/* ------------------------------------------------------------------------ */
/* Open and close */

static int az_create_container(cairn_store *s, cairn_error *err)
{
	az_kv q[] = {{"restype", "container"}};
	az_call c = {.method = "PUT", .query = q, .nquery = 1};
	int rc = az_send(s->host, &s->cfg, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status == 201 || c.status == 409) /* made, or already there */
		return CAIRN_OK;
	return az_fail(&c, "create container", s->cfg.container, err);
}

static int az_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                   cairn_store **out, cairn_error *err)
{
	cairn_store *s = calloc(1, sizeof *s);
	if (!s)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	s->host = host;
	int rc = az_config_load(host, root_uri, &s->cfg, err);
	if (rc == CAIRN_OK && s->cfg.create_container) {
		rc = az_create_container(s, err);
		if (rc != CAIRN_OK)
			az_config_free(&s->cfg);
	}
	if (rc != CAIRN_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return CAIRN_OK;
}

static void az_close(cairn_store *s)
{
	az_config_free(&s->cfg);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* List Blobs */

/* One page of List Blobs under prefix (with the '/' delimiter when delim)
 * into out. next gets NextMarker ("" at the end). */
static int az_list_page(cairn_store *s, const char *prefix, bool delim, const char *marker,
                        size_t max, az_buf *out, char *next, size_t next_cap, cairn_error *err)
{
	char maxs[16];
	snprintf(maxs, sizeof maxs, "%zu", max);
	az_kv q[7];
	size_t nq = 0;
	q[nq++] = (az_kv){"restype", "container"};
	q[nq++] = (az_kv){"comp", "list"};
	q[nq++] = (az_kv){"prefix", prefix};
	q[nq++] = (az_kv){"maxresults", maxs};
	if (delim) {
		q[nq++] = (az_kv){"delimiter", "/"};
		q[nq++] = (az_kv){"include", "metadata"};
	}
	if (marker && marker[0])
		q[nq++] = (az_kv){"marker", marker};
	out->max = AZ_LIST_MAX_BYTES;
	az_call c = {.method = "GET", .query = q, .nquery = nq, .out = out};
	int rc = az_send(s->host, &s->cfg, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status != 200)
		return az_fail(&c, "list", prefix, err);
	const char *body = (const char *)out->p, *end = body + out->len, *v, *after;
	size_t vlen;
	next[0] = '\0';
	if (body && az_xml_elem(body, end, "NextMarker", &v, &vlen, &after) && vlen &&
	    az_xml_unescape(v, vlen, next, next_cap) == (size_t)-1)
		return cairn_error_set(err, CAIRN_ERR_IO,
		                       "list '%.300s': bad or overlong NextMarker", prefix);
	return CAIRN_OK;
}

typedef struct az_entry {
	char *path;
	int is_dir;
	int64_t size;
	int64_t mtime_ms;
} az_entry;

typedef struct az_entries {
	az_entry *v;
	size_t n, cap;
} az_entries;

static void az_entries_free(az_entries *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].path);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static bool az_entries_add(az_entries *a, const char *path, size_t len, int is_dir, int64_t size,
                           int64_t mtime)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		az_entry *v = realloc(a->v, cap * sizeof *v);
		if (!v)
			return false;
		a->v = v;
		a->cap = cap;
	}
	char *p = malloc(len + 1);
	if (!p)
		return false;
	memcpy(p, path, len);
	p[len] = '\0';
	a->v[a->n++] = (az_entry){p, is_dir, size, mtime};
	return true;
}

static int az_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const az_entry *)a)->path, ((const az_entry *)b)->path);
}

/* The entries of one List Blobs page, relative to the store root. Blobs
 * and BlobPrefixes come interleaved in name order; each kind is searched
 * once from where its last match ended, so the scan stays linear. */
static int az_parse_entries(const cairn_store *s, const az_buf *page, const char *list_prefix,
                            az_entries *out, cairn_error *err)
{
	const char *body = (const char *)page->p, *end = body + page->len, *blobs, *after;
	size_t blen;
	if (!body || !az_xml_elem(body, end, "Blobs", &blobs, &blen, &after))
		return CAIRN_OK; /* no entries */
	const char *bend = blobs + blen;
	size_t root_len = strlen(s->cfg.prefix), lp_len = strlen(list_prefix);
	char name[CAIRN_PATH_MAX * 2 + 4];
	const char *p[2] = {blobs, blobs}, *v[2] = {NULL, NULL}, *nx[2] = {NULL, NULL};
	size_t vl[2] = {0, 0};
	bool more[2] = {true, true};
	static const char *const tags[2] = {"Blob", "BlobPrefix"};
	for (;;) {
		for (int k = 0; k < 2; k++)
			if (more[k] && !v[k] &&
			    !az_xml_elem(p[k], bend, tags[k], &v[k], &vl[k], &nx[k]))
				more[k] = false;
		int k = v[0] && v[1] ? (v[0] < v[1] ? 0 : 1) : v[0] ? 0 : v[1] ? 1 : -1;
		if (k < 0)
			break;
		const char *ev = v[k], *eend = v[k] + vl[k], *nv, *na;
		size_t nvl;
		p[k] = nx[k];
		v[k] = NULL;
		if (!az_xml_elem(ev, eend, "Name", &nv, &nvl, &na))
			continue;
		size_t n = az_xml_unescape(nv, nvl, name, sizeof name);
		if (n == (size_t)-1 || n <= lp_len || strncmp(name, list_prefix, lp_len) != 0)
			continue; /* overlong, encoded or foreign names are not artifacts */
		int is_dir = k == 1;
		if (is_dir && name[n - 1] == '/')
			name[--n] = '\0';
		int64_t size = 0, mtime = 0;
		if (!is_dir) {
			const char *pv, *pa;
			size_t pvl;
			if (az_xml_elem(ev, eend, "Content-Length", &pv, &pvl, &pa) && pvl < 24) {
				char num[24];
				memcpy(num, pv, pvl);
				num[pvl] = '\0';
				size = strtoll(num, NULL, 10);
			}
			if (az_xml_elem(ev, eend, "Last-Modified", &pv, &pvl, &pa))
				mtime = az_parse_http_date(pv, pvl);
			if (az_xml_elem(ev, eend, "hdi_isfolder", &pv, &pvl, &pa) && pvl == 4 &&
			    memcmp(pv, "true", 4) == 0) {
				is_dir = 1;
				size = 0;
			}
		}
		if (n == root_len || name[n - 1] == '/')
			continue; /* "dir/" marker blobs */
		if (!az_entries_add(out, name + root_len, n - root_len, is_dir, size,
		                    mtime < 0 ? 0 : mtime))
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	/* Byte order of paths ("b" before "b.txt", which Azure's "b/" is not),
	 * and an ADLS folder blob and its prefix as one directory. */
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, az_entry_cmp);
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (w > 0 && strcmp(out->v[w - 1].path, out->v[i].path) == 0) {
			out->v[w - 1].is_dir |= out->v[i].is_dir;
			free(out->v[i].path);
			continue;
		}
		out->v[w++] = out->v[i];
	}
	out->n = w;
	return CAIRN_OK;
}

static int az_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
                   cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
                   cairn_error *err)
{
	if (!az_path_ok(dir, true))
		return az_bad_path(err, dir);
	if (next_token_cap)
		next_token[0] = '\0';
	char *prefix = az_blob_name(s, dir);
	if (!prefix)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (dir[0])
		strcat(prefix, "/");
	char marker[CAIRN_PAGE_TOKEN_MAX] = "", next[CAIRN_PAGE_TOKEN_MAX] = "";
	if (page_token)
		snprintf(marker, sizeof marker, "%s", page_token);
	az_buf page = {0};
	int rc = CAIRN_OK;
	for (;;) {
		size_t want = max_entries && max_entries < 5000 ? max_entries
		              : max_entries                     ? 5000
		                                                : AZ_LIST_PAGE;
		rc = az_list_page(s, prefix, true, marker, want, &page, next, sizeof next, err);
		az_entries a = {0};
		if (rc == CAIRN_OK)
			rc = az_parse_entries(s, &page, prefix, &a, err);
		for (size_t i = 0; rc == CAIRN_OK && i < a.n; i++) {
			cairn_list_entry e = {a.v[i].path, a.v[i].is_dir, a.v[i].size,
			                      a.v[i].mtime_ms};
			if (cb && cb(cb_arg, &e) != 0)
				rc = cairn_error_set(err, CAIRN_ERR_CANCELLED,
				                     "listing stopped by callback");
		}
		az_entries_free(&a);
		if (rc != CAIRN_OK || !next[0])
			break;
		if (max_entries) { /* one page per call: hand the marker back */
			if (strlen(next) >= next_token_cap)
				rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
				                     "page token buffer too small");
			else
				memcpy(next_token, next, strlen(next) + 1);
			break;
		}
		memcpy(marker, next, sizeof marker);
	}
	free(page.p);
	free(prefix);
	return rc;
}

int az_has_children(cairn_store *s, const char *blob, bool *any, cairn_error *err)
{
	size_t n = strlen(blob);
	char *prefix = malloc(n + 2);
	if (!prefix)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	memcpy(prefix, blob, n);
	memcpy(prefix + n, "/", 2);
	az_buf page = {0};
	char next[CAIRN_PAGE_TOKEN_MAX];
	int rc = az_list_page(s, prefix, true, NULL, 1, &page, next, sizeof next, err);
	if (rc == CAIRN_OK) {
		const char *b = (const char *)page.p, *end = b + page.len, *v, *a;
		size_t vl;
		*any = b && (az_xml_elem(b, end, "Blob", &v, &vl, &a) ||
		             az_xml_elem(b, end, "BlobPrefix", &v, &vl, &a));
	}
	free(page.p);
	free(prefix);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Stat */

int az_head(cairn_store *s, const char *blob, const char *path, cairn_object_info *info, char *etag,
            size_t etag_cap, cairn_error *err)
{
	az_call c = {.method = "HEAD", .blob = blob};
	int rc = az_send(s->host, &s->cfg, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status != 200) {
		if (c.status == 404)
			return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no artifact at '%.300s'",
			                       path);
		return az_fail(&c, "stat", path, err);
	}
	info->is_dir = c.is_folder;
	info->size = c.is_folder || c.content_length < 0 ? 0 : c.content_length;
	int64_t m = az_parse_http_date(c.last_modified, strlen(c.last_modified));
	info->mtime_ms = m < 0 ? 0 : m;
	if (etag)
		snprintf(etag, etag_cap, "%s", c.etag);
	return CAIRN_OK;
}

static int az_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err)
{
	if (!az_path_ok(path, true))
		return az_bad_path(err, path);
	if (!path[0]) {
		info->is_dir = 1;
		info->size = 0;
		info->mtime_ms = 0;
		return CAIRN_OK;
	}
	char *blob = az_blob_name(s, path);
	if (!blob)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	int rc = az_head(s, blob, path, info, NULL, 0, err);
	if (rc == CAIRN_ERR_NOT_FOUND) {
		bool any = false;
		cairn_error e2 = {0};
		int lrc = az_has_children(s, blob, &any, &e2);
		if (lrc != CAIRN_OK) {
			rc = lrc;
			if (err)
				*err = e2;
		} else if (any) {
			rc = CAIRN_OK;
			info->is_dir = 1;
			info->size = 0;
			info->mtime_ms = 0;
		}
	}
	free(blob);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Remove */

/* Delete Blob (with its snapshots); *missing says whether it was absent. */
static int az_delete_blob(cairn_store *s, const char *blob, const char *path, bool *missing,
                          cairn_error *err)
{
	az_kv h[] = {{"x-ms-delete-snapshots", "include"}};
	az_call c = {.method = "DELETE", .blob = blob, .headers = h, .nheaders = 1};
	*missing = false;
	int rc = az_send(s->host, &s->cfg, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status == 202 || c.status == 200)
		return CAIRN_OK;
	if (c.status == 404) {
		*missing = true;
		return CAIRN_OK;
	}
	return az_fail(&c, "remove", path, err);
}

/* Deletes every blob under "<prefix>" (a flat listing, page by page; the
 * names of a page are deleted deepest first, as ADLS folders need). */
static int az_delete_under(cairn_store *s, const char *prefix, cairn_error *err)
{
	az_buf page = {0};
	char marker[CAIRN_PAGE_TOKEN_MAX] = "", next[CAIRN_PAGE_TOKEN_MAX];
	size_t root_len = strlen(s->cfg.prefix);
	int rc = CAIRN_OK;
	do {
		rc = az_list_page(s, prefix, false, marker, AZ_LIST_PAGE, &page, next, sizeof next,
		                  err);
		az_entries a = {0};
		if (rc == CAIRN_OK)
			rc = az_parse_entries(s, &page, prefix, &a, err);
		for (size_t i = a.n; rc == CAIRN_OK && i > 0; i--) {
			char *blob = az_blob_name(s, a.v[i - 1].path);
			bool missing;
			rc = blob ? az_delete_blob(s, blob, blob + root_len, &missing, err)
			          : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			free(blob);
		}
		az_entries_free(&a);
		memcpy(marker, next, sizeof marker);
	} while (rc == CAIRN_OK && marker[0]);
	free(page.p);
	return rc;
}

static int az_remove(cairn_store *s, const char *path, int recursive, cairn_error *err)
{
	if (!az_path_ok(path, recursive != 0))
		return az_bad_path(err, path);
	char *blob = az_blob_name(s, path);
	if (!blob)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	int rc = CAIRN_OK;
	bool missing = true;
	if (recursive) {
		char *prefix = malloc(strlen(blob) + 2);
		if (!prefix) {
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		} else {
			strcpy(prefix, blob);
			if (path[0])
				strcat(prefix, "/");
			rc = az_delete_under(s, prefix, err);
			free(prefix);
		}
		if (rc == CAIRN_OK && path[0])
			rc = az_delete_blob(s, blob, path, &missing, err);
		free(blob);
		return rc;
	}
	rc = az_delete_blob(s, blob, path, &missing, err);
	if (rc == CAIRN_OK && missing) {
		bool any = false;
		rc = az_has_children(s, blob, &any, err);
		if (rc == CAIRN_OK)
			rc = any ? cairn_error_set(
			                   err, CAIRN_ERR_INVALID,
			                   "'%.300s' is a directory with contents; remove it "
			                   "recursively",
			                   path)
			         : cairn_error_set(err, CAIRN_ERR_NOT_FOUND,
			                           "no artifact at '%.300s'", path);
	}
	free(blob);
	return rc;
}

/* ------------------------------------------------------------------------ */

static const cairn_store_ops az_ops = {
        .size = sizeof(cairn_store_ops),
        .open = az_open,
        .close = az_close,
        .put_begin = az_put_begin,
        .put_write = az_put_write,
        .put_commit = az_put_commit,
        .put_abort = az_put_abort,
        .get_open = az_get_open,
        .get_read = az_get_read,
        .get_close = az_get_close,
        .list = az_list,
        .stat = az_stat,
        .remove = az_remove,
        .mpu_create = az_mpu_create,
        .mpu_part_begin = az_mpu_part_begin,
        .mpu_part_commit = az_mpu_part_commit,
        .mpu_complete = az_mpu_complete,
        .mpu_abort = az_mpu_abort,
        .presign = az_presign,
};

static const cairn_plugin_descriptor az_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "azure",
        .version = CAIRN_VERSION,
        .capabilities = CAIRN_STORE_CAP_RANGE | CAIRN_STORE_CAP_MULTIPART |
                        CAIRN_STORE_CAP_PRESIGN | CAIRN_STORE_CAP_LIST_PAGED |
                        CAIRN_STORE_CAP_DELETE_RECURSIVE,
        .ops = &az_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &az_descriptor;
}
