/*
 * plugins/store/gcs/gcs_mpu.c: the ABI's multipart uploads on GCS, which has
 * none of its own in the JSON API: parts become temporary objects and
 * complete joins them with objects.compose.
 *
 * Layout under the store root: .cairn-mpu/<upload id>/upload holds the
 * target path (its existence is the upload's); part N is
 * .cairn-mpu/<id>/part-NNNNN. A part's ETag is its object generation, and
 * complete composes each part only at that generation (ifGenerationMatch),
 * so a part replaced meanwhile fails the upload rather than corrupting it.
 * compose takes at most 32 sources, so more parts are composed in stages:
 * groups of 32 into .cairn-mpu/<id>/stage-L-K, and so on, until one compose
 * into the target remains (10000 parts: 313, then 10, then the target).
 * The target appears in one step, whole. Then the upload's folder is
 * deleted. The folder is hidden from listings and refused as an artifact
 * path; an upload never completed or aborted stays there until a recursive
 * remove of the store root clears it (operators may also set a lifecycle
 * rule on the prefix).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs.h"

#define GCS_COMPOSE_MAX 32
#define GCS_ID_LEN      32

static bool gcs_id_ok(const char *id)
{
	return id && strlen(id) == GCS_ID_LEN && strspn(id, "0123456789abcdef") == GCS_ID_LEN;
}

/* "<prefix>.cairn-mpu/<id>/<leaf>" into a new string. */
static char *gcs_mpu_name(cairn_store *s, const char *id, const char *leaf)
{
	size_t n = strlen(s->prefix) + strlen(GCS_MPU_DIR) + strlen(id) + strlen(leaf) + 4;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s/%s/%s", s->prefix, GCS_MPU_DIR, id, leaf);
	return out;
}

int gcs_mpu_part_name(cairn_store *s, const char *upload_id, int part_number, gcs_buf *out,
                      cairn_error *err)
{
	if (!gcs_id_ok(upload_id))
		return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "unknown upload id");
	if (part_number < 1 || part_number > 10000)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "part number %d not in 1..10000",
		                       part_number);
	char leaf[32];
	snprintf(leaf, sizeof leaf, "part-%05d", part_number);
	char *n = gcs_mpu_name(s, upload_id, leaf);
	bool ok = n && gcs_buf_add(out, n, strlen(n));
	free(n);
	return ok ? CAIRN_OK : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
}

/* The target path recorded for the upload into out; NOT_FOUND when the
 * upload does not exist or was made for another path. */
static int gcs_mpu_check(cairn_store *s, const char *path, const char *id, cairn_error *err)
{
	if (!gcs_path_ok(path, false))
		return gcs_bad_path(err, path);
	if (!gcs_id_ok(id))
		return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "unknown upload id");
	char *name = gcs_mpu_name(s, id, "upload");
	gcs_buf url = {0};
	gcs_resp resp = {0};
	int rc = name && gcs_object_url(s, name, "?alt=media", &url)
	                 ? CAIRN_OK
	                 : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK) {
		gcs_req req = {.method = "GET", .url = url.p, .max_body = CAIRN_PATH_MAX + 1};
		rc = gcs_call(s, &req, &resp, err);
	}
	if (rc == CAIRN_OK && resp.status == 404)
		rc = cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no multipart upload %s", id);
	else if (rc == CAIRN_OK && resp.status != 200)
		rc = gcs_fail_reply(&resp, "read upload record", id, err);
	else if (rc == CAIRN_OK && strcmp(gcs_buf_str(&resp.body), path) != 0)
		rc = cairn_error_set(err, CAIRN_ERR_NOT_FOUND,
		                     "no multipart upload %s for '%.300s'", id, path);
	gcs_resp_free(&resp);
	gcs_buf_free(&url);
	free(name);
	return rc;
}

int gcs_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err)
{
	if (!gcs_path_ok(path, false))
		return gcs_bad_path(err, path);
	if (cap <= GCS_ID_LEN)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "upload id buffer too small");
	uint8_t rnd[GCS_ID_LEN / 2];
	char id[GCS_ID_LEN + 1];
	if (s->host->random_bytes(rnd, sizeof rnd) != CAIRN_OK)
		return cairn_error_set(err, CAIRN_ERR_IO, "no random bytes for an upload id");
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	char *name = gcs_mpu_name(s, id, "upload");
	cairn_store_writer *w = NULL;
	int rc = name ? gcs_writer_new(s, name, &w, err)
	              : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	free(name);
	if (rc == CAIRN_OK)
		rc = gcs_put_write(w, path, strlen(path), err);
	if (rc == CAIRN_OK)
		rc = gcs_put_commit(w, err);
	else if (w)
		gcs_put_abort(w);
	if (rc == CAIRN_OK)
		memcpy(upload_id, id, GCS_ID_LEN + 1);
	return rc;
}

int gcs_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                       int64_t size, cairn_store_writer **out, cairn_error *err)
{
	gcs_buf name = {0};
	int rc = gcs_mpu_part_name(s, upload_id, part_number, &name, err);
	if (rc == CAIRN_OK)
		rc = gcs_mpu_check(s, path, upload_id, err);
	if (rc == CAIRN_OK)
		rc = gcs_writer_new(s, name.p, out, err);
	gcs_buf_free(&name);
	return rc;
}

int gcs_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err)
{
	char gen[32] = "";
	int rc = gcs_put_commit_gen(w, gen, sizeof gen, err);
	if (rc == CAIRN_OK && strlen(gen) >= cap)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "ETag buffer too small");
	if (rc == CAIRN_OK)
		memcpy(etag, gen, strlen(gen) + 1);
	return rc;
}

typedef struct gcs_src {
	char *name;
	char gen[32]; /* "" = any generation */
} gcs_src;

/* objects.compose of src[0..n) into dest; dest_gen gets its generation. */
static int gcs_compose(cairn_store *s, const gcs_src *src, size_t n, const char *dest,
                       char *dest_gen, size_t gen_cap, cairn_error *err)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < n; i++) {
		json_t *o = json_pack("{s:s}", "name", src[i].name);
		if (o && src[i].gen[0])
			json_object_set_new(o, "objectPreconditions",
			                    json_pack("{s:s}", "ifGenerationMatch", src[i].gen));
		json_array_append_new(list, o);
	}
	json_t *body = json_pack("{s:o, s:{s:s}}", "sourceObjects", list, "destination",
	                         "contentType", "application/octet-stream");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	gcs_buf url = {0};
	gcs_resp resp = {0};
	int rc = text && gcs_object_url(s, dest, "/compose", &url)
	                 ? CAIRN_OK
	                 : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK) {
		gcs_req req = {.method = "POST",
		               .url = url.p,
		               .content_type = "application/json; charset=UTF-8",
		               .body = text,
		               .body_len = strlen(text)};
		rc = gcs_call(s, &req, &resp, err);
	}
	if (rc == CAIRN_OK && (resp.status == 404 || resp.status == 412)) {
		gcs_fail_reply(&resp, "compose", dest, err);
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "a part is missing or was replaced since it was uploaded "
		                     "(%.300s)",
		                     err ? err->message : "");
	} else if (rc == CAIRN_OK && resp.status != 200) {
		rc = gcs_fail_reply(&resp, "compose", dest, err);
	}
	if (rc == CAIRN_OK) {
		json_t *root = json_loadb(resp.body.p ? resp.body.p : "", resp.body.len, 0, NULL);
		json_t *g = json_object_get(root, "generation");
		if (json_is_string(g))
			snprintf(dest_gen, gen_cap, "%s", json_string_value(g));
		else if (json_is_integer(g))
			snprintf(dest_gen, gen_cap, "%lld", (long long)json_integer_value(g));
		else
			dest_gen[0] = '\0';
		json_decref(root);
	}
	free(text);
	gcs_buf_free(&url);
	gcs_resp_free(&resp);
	return rc;
}

static int gcs_part_cmp(const void *a, const void *b)
{
	const cairn_mpu_part *x = a, *y = b;
	return (x->part_number > y->part_number) - (x->part_number < y->part_number);
}

static void gcs_srcs_free(gcs_src *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int gcs_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                     const cairn_mpu_part *parts, size_t nparts, cairn_error *err)
{
	int rc = gcs_mpu_check(s, path, upload_id, err);
	if (rc != CAIRN_OK)
		return rc;
	if (nparts == 0 || nparts > 10000)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "%zu parts (want 1..10000)", nparts);
	cairn_mpu_part *sorted = malloc(nparts * sizeof *sorted);
	gcs_src *src = calloc(nparts, sizeof *src);
	if (!sorted || !src) {
		free(sorted);
		free(src);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	memcpy(sorted, parts, nparts * sizeof *sorted);
	qsort(sorted, nparts, sizeof *sorted, gcs_part_cmp);
	size_t n = 0;
	for (; rc == CAIRN_OK && n < nparts; n++) {
		if (n > 0 && sorted[n].part_number == sorted[n - 1].part_number) {
			rc = cairn_error_set(err, CAIRN_ERR_INVALID, "part %d given twice",
			                     sorted[n].part_number);
			break;
		}
		gcs_buf name = {0};
		rc = gcs_mpu_part_name(s, upload_id, sorted[n].part_number, &name, err);
		src[n].name = name.p;
		/* Our ETags are generations; a client that uploaded through a
		 * presigned URL reports Google's MD5 ETag, which pins nothing. */
		const char *e = sorted[n].etag;
		if (e && e[0] && strlen(e) < sizeof src[n].gen &&
		    strspn(e, "0123456789") == strlen(e))
			memcpy(src[n].gen, e, strlen(e) + 1);
		if (rc != CAIRN_OK) {
			n++;
			break;
		}
	}
	free(sorted);
	char *dest = gcs_name(s, path);
	if (rc == CAIRN_OK && !dest)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	/* Stages of at most 32 sources until one compose is left. */
	for (int level = 0; rc == CAIRN_OK && n > GCS_COMPOSE_MAX; level++) {
		size_t groups = (n + GCS_COMPOSE_MAX - 1) / GCS_COMPOSE_MAX;
		gcs_src *next = calloc(groups, sizeof *next);
		if (!next) {
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			break;
		}
		for (size_t g = 0; rc == CAIRN_OK && g < groups; g++) {
			char leaf[48];
			snprintf(leaf, sizeof leaf, "stage-%d-%05zu", level, g);
			next[g].name = gcs_mpu_name(s, upload_id, leaf);
			size_t from = g * GCS_COMPOSE_MAX;
			size_t cnt = n - from < GCS_COMPOSE_MAX ? n - from : GCS_COMPOSE_MAX;
			rc = next[g].name
			             ? gcs_compose(s, src + from, cnt, next[g].name, next[g].gen,
			                           sizeof next[g].gen, err)
			             : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		}
		gcs_srcs_free(src, n);
		src = next;
		n = groups;
	}
	char gen[32];
	if (rc == CAIRN_OK)
		rc = gcs_compose(s, src, n, dest, gen, sizeof gen, err);
	gcs_srcs_free(src, n);
	free(dest);
	if (rc == CAIRN_OK) {
		/* The object is published; leftovers are only garbage. */
		char *dir = gcs_mpu_name(s, upload_id, "");
		int removed = 0;
		cairn_error e = {0};
		if (!dir || gcs_delete_prefix(s, dir, &removed, &e) != CAIRN_OK)
			s->host->log(
			        CAIRN_LOG_WARN, "STORE-GCS-MPU-CLEANUP",
			        "gcs: upload %s completed but its parts were not all deleted: %s",
			        upload_id, e.message);
		free(dir);
	}
	return rc;
}

int gcs_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err)
{
	int rc = gcs_mpu_check(s, path, upload_id, err);
	if (rc != CAIRN_OK)
		return rc;
	char *dir = gcs_mpu_name(s, upload_id, "");
	int removed = 0;
	rc = dir ? gcs_delete_prefix(s, dir, &removed, err)
	         : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	free(dir);
	return rc;
}
