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
			rc = az_parse_list((const char *)page.p, page.len, s->cfg.prefix, prefix,
			                   false, &a, err);
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
			rc = az_parse_list((const char *)page.p, page.len, s->cfg.prefix, prefix,
			                   true, &a, err);
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
