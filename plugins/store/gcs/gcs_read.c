/*
 * plugins/store/gcs/gcs_read.c: reading (ranged media GETs), listing
 * (objects.list with delimiter '/'), stat and remove.
 *
 * A reader fetches the object in ranged GETs of read_chunk bytes, so that
 * no more than one chunk is ever held. The first GET learns the object's
 * generation (x-goog-generation) and every later one asks for exactly that
 * generation: an object replaced while it is read fails the read (404 ->
 * IO "changed while being read") instead of mixing two objects' bytes.
 * Objects up to one chunk take a single request.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs.h"

struct cairn_store_reader {
	cairn_store *s;
	char *name;
	char generation[32];
	int64_t next; /* object offset of the next byte to fetch */
	int64_t end;  /* object offset the range ends at (exclusive) */
	gcs_resp chunk;
	size_t off; /* bytes of chunk.body already given */
};

static int gcs_any_under(cairn_store *s, const char *name_prefix, bool *any, cairn_error *err);

/* objects.get without alt=media: size, updated, generation. */
static int gcs_metadata(cairn_store *s, const char *name, int64_t *size, int64_t *mtime_ms,
                        cairn_error *err)
{
	gcs_buf url = {0};
	gcs_resp resp = {0};
	if (!gcs_object_url(s, name, "?fields=size%2Cupdated%2Cgeneration", &url))
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	gcs_req req = {.method = "GET", .url = url.p};
	int rc = gcs_call(s, &req, &resp, err);
	gcs_buf_free(&url);
	if (rc == CAIRN_OK && resp.status != 200)
		rc = gcs_fail_reply(&resp, "stat", name, err);
	if (rc == CAIRN_OK) {
		json_t *root = json_loadb(resp.body.p ? resp.body.p : "", resp.body.len, 0, NULL);
		const char *sz = json_string_value(json_object_get(root, "size"));
		if (!sz) /* GCS sends 64-bit numbers as strings; an emulator may not */
			*size = json_integer_value(json_object_get(root, "size"));
		else
			*size = strtoll(sz, NULL, 10);
		*mtime_ms = gcs_parse_time(json_string_value(json_object_get(root, "updated")));
		if (!root)
			rc = cairn_error_set(err, CAIRN_ERR_IO, "stat '%.300s': reply is not JSON",
			                     name);
		json_decref(root);
	}
	gcs_resp_free(&resp);
	return rc;
}

/* One ranged GET of [from, to) into r->chunk. first: learn the generation
 * and the object size (into *total) instead of pinning them. */
static int gcs_fetch(cairn_store_reader *r, int64_t from, int64_t to, bool first, int64_t *total,
                     cairn_error *err)
{
	cairn_store *s = r->s;
	gcs_buf url = {0};
	char range[80];
	snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)from, (long long)to - 1);
	bool ok = gcs_object_url(s, r->name, "?alt=media", &url);
	if (ok && !first)
		ok = GCS_LIT(&url, "&generation=") &&
		     gcs_buf_add(&url, r->generation, strlen(r->generation));
	if (!ok) {
		gcs_buf_free(&url);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	gcs_req req = {.method = "GET",
	               .url = url.p,
	               .range = range,
	               .max_body = (size_t)(to - from) + (1u << 20)};
	r->off = 0;
	int rc = gcs_call(s, &req, &r->chunk, err);
	gcs_buf_free(&url);
	if (rc != CAIRN_OK)
		return rc;
	int st = r->chunk.status;
	if (st == 416 && first)
		return CAIRN_ERR_INVALID; /* caller sorts out empty vs past the end */
	if (st == 404 && !first)
		return cairn_error_set(err, CAIRN_ERR_IO,
		                       "'%.300s' changed or vanished while being read", r->name);
	if (st != 206 && !(st == 200 && first))
		return gcs_fail_reply(&r->chunk, "read", r->name, err);
	if (first) {
		snprintf(r->generation, sizeof r->generation, "%s", r->chunk.generation);
		long long a = 0, b = 0, t = -1;
		if (st == 206 &&
		    sscanf(r->chunk.content_range, "bytes %lld-%lld/%lld", &a, &b, &t) == 3 &&
		    a == from) {
			*total = t;
		} else if (st == 200) {
			/* The whole object (a server that ignores Range): drop the head. */
			*total = (int64_t)r->chunk.body.len;
			r->off = (size_t)(from < *total ? from : *total);
		} else {
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "read '%.300s': bad Content-Range '%.60s'", r->name,
			                       r->chunk.content_range);
		}
		if (!r->generation[0] ||
		    strspn(r->generation, "0123456789") != strlen(r->generation))
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "read '%.300s': reply has no x-goog-generation",
			                       r->name);
	} else if ((int64_t)r->chunk.body.len != to - from) {
		return cairn_error_set(err, CAIRN_ERR_IO,
		                       "read '%.300s': short chunk (%zu of %lld)", r->name,
		                       r->chunk.body.len, (long long)(to - from));
	}
	return CAIRN_OK;
}

int gcs_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                 cairn_store_reader **out, cairn_object_info *info, cairn_error *err)
{
	if (!gcs_path_ok(path, false))
		return gcs_bad_path(err, path);
	if (offset < 0 || length < -1)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad range");
	cairn_store_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->name = gcs_name(s, path))) {
		free(r);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	r->s = s;
	int64_t size = 0, mtime = 0;
	int rc;
	int64_t want =
	        length < 0 || (uint64_t)length > s->read_chunk ? (int64_t)s->read_chunk : length;
	if (want > 0) {
		rc = gcs_fetch(r, offset, offset + want, true, &size, err);
		if (rc == CAIRN_OK) {
			mtime = gcs_parse_time(r->chunk.last_modified);
		} else if (rc == CAIRN_ERR_INVALID) { /* 416: at or past the end */
			gcs_resp_free(&r->chunk);
			memset(&r->chunk, 0, sizeof r->chunk);
			rc = gcs_metadata(s, r->name, &size, &mtime, err);
		}
	} else { /* an empty range: only the size is wanted */
		rc = gcs_metadata(s, r->name, &size, &mtime, err);
	}
	if (rc == CAIRN_ERR_NOT_FOUND) {
		/* A "directory" is not an object: say so, as the local store does. */
		size_t nlen = strlen(r->name);
		char *dir = malloc(nlen + 2);
		bool any = false;
		if (dir) {
			memcpy(dir, r->name, nlen);
			memcpy(dir + nlen, "/", 2);
			if (gcs_any_under(s, dir, &any, NULL) == CAIRN_OK && any)
				rc = cairn_error_set(err, CAIRN_ERR_INVALID,
				                     "'%.300s' is a directory", path);
			free(dir);
		}
	}
	if (rc == CAIRN_OK && offset > size)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "range offset %lld is past the end of '%.300s' (%lld bytes)",
		                     (long long)offset, path, (long long)size);
	if (rc != CAIRN_OK) {
		gcs_get_close(r);
		return rc;
	}
	r->end = length < 0 || length > size - offset ? size : offset + length;
	/* What the first GET brought, cut to the range. */
	size_t have = r->chunk.body.len > r->off ? r->chunk.body.len - r->off : 0;
	if ((int64_t)have > r->end - offset)
		r->chunk.body.len = r->off + (size_t)(r->end - offset);
	r->next = offset + (int64_t)(r->chunk.body.len - r->off);
	info->size = size;
	info->mtime_ms = mtime;
	info->is_dir = 0;
	*out = r;
	return CAIRN_OK;
}

int gcs_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err)
{
	*n = 0;
	if (r->off == r->chunk.body.len && r->next < r->end) {
		int64_t to = r->end - r->next > (int64_t)r->s->read_chunk
		                     ? r->next + (int64_t)r->s->read_chunk
		                     : r->end;
		int64_t unused = 0;
		int rc = gcs_fetch(r, r->next, to, false, &unused, err);
		if (rc != CAIRN_OK)
			return rc;
		r->next = to;
	}
	size_t left = r->chunk.body.len - r->off;
	size_t give = left < cap ? left : cap;
	if (give)
		memcpy(buf, r->chunk.body.p + r->off, give);
	r->off += give;
	*n = give;
	return CAIRN_OK;
}

void gcs_get_close(cairn_store_reader *r)
{
	if (!r)
		return;
	gcs_resp_free(&r->chunk);
	free(r->name);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Listing */

/* objects.list of prefix (with delimiter '/' when delim) from page_token,
 * at most max results; the parsed reply goes to *root (caller frees). */
static int gcs_list_page(cairn_store *s, const char *prefix, bool delim, const char *page_token,
                         size_t max, const char *fields, json_t **root, cairn_error *err)
{
	gcs_buf url = {0};
	char num[64];
	snprintf(num, sizeof num, "&maxResults=%zu", max ? max : 1000);
	bool ok = gcs_buf_add(&url, s->endpoint, strlen(s->endpoint)) &&
	          GCS_LIT(&url, "/storage/v1/b/") && gcs_pct(&url, s->bucket, false) &&
	          GCS_LIT(&url, "/o?prefix=") && gcs_pct(&url, prefix, false) &&
	          gcs_buf_add(&url, num, strlen(num)) && GCS_LIT(&url, "&fields=") &&
	          gcs_pct(&url, fields, false) && (!delim || GCS_LIT(&url, "&delimiter=%2F")) &&
	          (!page_token || !page_token[0] ||
	           (GCS_LIT(&url, "&pageToken=") && gcs_pct(&url, page_token, false)));
	if (!ok) {
		gcs_buf_free(&url);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	gcs_resp resp = {0};
	gcs_req req = {.method = "GET", .url = url.p, .max_body = 64u << 20};
	int rc = gcs_call(s, &req, &resp, err);
	gcs_buf_free(&url);
	if (rc == CAIRN_OK && resp.status != 200)
		rc = gcs_fail_reply(&resp, "list", prefix, err);
	if (rc == CAIRN_OK &&
	    !(*root = json_loadb(resp.body.p ? resp.body.p : "", resp.body.len, 0, NULL)))
		rc = cairn_error_set(err, CAIRN_ERR_IO, "list '%.300s': reply is not JSON", prefix);
	gcs_resp_free(&resp);
	return rc;
}

static int64_t gcs_json_size(json_t *v)
{
	const char *s = json_string_value(v);
	return s ? strtoll(s, NULL, 10) : json_integer_value(v);
}

int gcs_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
             cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
             cairn_error *err)
{
	if (!gcs_path_ok(dir, true))
		return gcs_bad_path(err, dir);
	if (next_token && next_token_cap)
		next_token[0] = '\0';
	size_t plen = strlen(s->prefix);
	char *lp = malloc(plen + strlen(dir) + 2);
	if (!lp)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	sprintf(lp, "%s%s%s", s->prefix, dir, dir[0] ? "/" : "");
	size_t lplen = strlen(lp);
	char *token = page_token && page_token[0] ? strdup(page_token) : NULL;
	size_t given = 0;
	int rc = CAIRN_OK;
	bool more = true;
	while (rc == CAIRN_OK && more && (!max_entries || given < max_entries)) {
		json_t *root = NULL;
		rc = gcs_list_page(s, lp, true, token, max_entries ? max_entries - given : 0,
		                   "items(name,size,updated),prefixes,nextPageToken", &root, err);
		if (rc != CAIRN_OK)
			break;
		free(token);
		const char *nt = json_string_value(json_object_get(root, "nextPageToken"));
		token = nt && nt[0] ? strdup(nt) : NULL;
		more = token != NULL;
		/* Merge objects and prefixes, both in name order, into one listing
		 * in GCS's order (a directory sorts as its name plus '/'). */
		json_t *items = json_object_get(root, "items");
		json_t *prefixes = json_object_get(root, "prefixes");
		size_t i = 0, j = 0, ni = json_array_size(items), nj = json_array_size(prefixes);
		while (rc == CAIRN_OK && (i < ni || j < nj)) {
			json_t *it = i < ni ? json_array_get(items, i) : NULL;
			const char *iname = json_string_value(json_object_get(it, "name"));
			const char *pname =
			        j < nj ? json_string_value(json_array_get(prefixes, j)) : NULL;
			bool take_dir = pname && (!it || !iname || strcmp(pname, iname) < 0);
			const char *full = take_dir ? pname : iname;
			take_dir ? j++ : i++;
			if (!full || strncmp(full, lp, lplen) != 0 || strlen(full) == lplen)
				continue; /* the folder placeholder "dir/" itself, or junk */
			char rel[CAIRN_PATH_MAX + 2];
			size_t rlen = strlen(full) - plen;
			if (take_dir)
				rlen--; /* without the '/' */
			if (rlen > CAIRN_PATH_MAX)
				continue; /* not addressable as an artifact path */
			memcpy(rel, full + plen, rlen);
			rel[rlen] = '\0';
			if (take_dir && !strcmp(rel, GCS_MPU_DIR))
				continue; /* multipart temporaries */
			cairn_list_entry e = {.path = rel, .is_dir = take_dir};
			if (!take_dir) {
				e.size = gcs_json_size(json_object_get(it, "size"));
				e.mtime_ms = gcs_parse_time(
				        json_string_value(json_object_get(it, "updated")));
			}
			given++;
			if (cb(cb_arg, &e) != 0)
				rc = cairn_error_set(err, CAIRN_ERR_CANCELLED,
				                     "listing stopped by callback");
		}
		json_decref(root);
	}
	if (rc == CAIRN_OK && more && token) {
		if (!next_token || strlen(token) >= next_token_cap)
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
			                     "GCS page token (%zu bytes) does not fit the buffer",
			                     strlen(token));
		else
			memcpy(next_token, token, strlen(token) + 1);
	}
	free(token);
	free(lp);
	return rc;
}

/* Whether any object's name starts with name_prefix. */
static int gcs_any_under(cairn_store *s, const char *name_prefix, bool *any, cairn_error *err)
{
	json_t *root = NULL;
	int rc = gcs_list_page(s, name_prefix, false, NULL, 1, "items(name)", &root, err);
	if (rc == CAIRN_OK)
		*any = json_array_size(json_object_get(root, "items")) > 0;
	json_decref(root);
	return rc;
}

int gcs_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err)
{
	if (!gcs_path_ok(path, true))
		return gcs_bad_path(err, path);
	if (!path[0]) {
		info->is_dir = 1;
		return CAIRN_OK;
	}
	char *name = gcs_name(s, path);
	char *dir = name ? malloc(strlen(name) + 2) : NULL;
	if (!dir) {
		free(name);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	sprintf(dir, "%s/", name);
	int64_t size = 0, mtime = 0;
	int rc = gcs_metadata(s, name, &size, &mtime, err);
	if (rc == CAIRN_OK) {
		info->size = size;
		info->mtime_ms = mtime;
		info->is_dir = 0;
	} else if (rc == CAIRN_ERR_NOT_FOUND) {
		bool any = false;
		rc = gcs_any_under(s, dir, &any, err);
		if (rc == CAIRN_OK && any)
			info->is_dir = 1;
		else if (rc == CAIRN_OK)
			rc = cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no artifact at '%.300s'",
			                     path);
	}
	free(name);
	free(dir);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Removing */

int gcs_delete_object(cairn_store *s, const char *name, cairn_error *err)
{
	gcs_buf url = {0};
	gcs_resp resp = {0};
	if (!gcs_object_url(s, name, NULL, &url))
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	gcs_req req = {.method = "DELETE", .url = url.p};
	int rc = gcs_call(s, &req, &resp, err);
	gcs_buf_free(&url);
	if (rc == CAIRN_OK && resp.status != 204 && resp.status != 200)
		rc = gcs_fail_reply(&resp, "delete", name, err);
	gcs_resp_free(&resp);
	return rc;
}

int gcs_delete_prefix(cairn_store *s, const char *name_prefix, int *count, cairn_error *err)
{
	char *token = NULL;
	int rc = CAIRN_OK;
	*count = 0;
	do {
		json_t *root = NULL;
		rc = gcs_list_page(s, name_prefix, false, token, 1000, "items(name),nextPageToken",
		                   &root, err);
		free(token);
		token = NULL;
		if (rc != CAIRN_OK)
			break;
		json_t *items = json_object_get(root, "items");
		for (size_t i = 0; rc == CAIRN_OK && i < json_array_size(items); i++) {
			const char *n = json_string_value(
			        json_object_get(json_array_get(items, i), "name"));
			if (!n)
				continue;
			rc = gcs_delete_object(s, n, err);
			if (rc == CAIRN_ERR_NOT_FOUND) /* someone else removed it */
				rc = CAIRN_OK;
			else if (rc == CAIRN_OK)
				(*count)++;
		}
		const char *nt = json_string_value(json_object_get(root, "nextPageToken"));
		if (rc == CAIRN_OK && nt && nt[0] && !(token = strdup(nt)))
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		json_decref(root);
	} while (rc == CAIRN_OK && token);
	free(token);
	return rc;
}

int gcs_remove(cairn_store *s, const char *path, int recursive, cairn_error *err)
{
	if (!gcs_path_ok(path, recursive != 0))
		return gcs_bad_path(err, path);
	char *name = gcs_name(s, path);
	char *dir = name ? malloc(strlen(name) + 2) : NULL;
	if (!dir) {
		free(name);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	sprintf(dir, "%s%s", name, path[0] ? "/" : "");
	int rc, n = 0;
	if (recursive) {
		rc = path[0] ? gcs_delete_object(s, name, err) : CAIRN_OK;
		if (rc == CAIRN_ERR_NOT_FOUND)
			rc = CAIRN_OK;
		if (rc == CAIRN_OK)
			rc = gcs_delete_prefix(s, dir, &n, err);
	} else {
		rc = gcs_delete_object(s, name, err);
		bool any = false;
		if (rc == CAIRN_ERR_NOT_FOUND && gcs_any_under(s, dir, &any, NULL) == CAIRN_OK &&
		    any)
			rc = cairn_error_set(err, CAIRN_ERR_INVALID,
			                     "'%.300s' is a directory with contents; remove it "
			                     "recursively",
			                     path);
	}
	free(name);
	free(dir);
	return rc;
}
