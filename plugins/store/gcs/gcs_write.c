/*
 * plugins/store/gcs/gcs_write.c: uploads.
 *
 * The writer holds at most one chunk (upload_chunk bytes, a multiple of
 * 256 KiB). An object that fits in one chunk goes up in one media upload at
 * commit. A bigger one opens a resumable session when the first chunk is
 * full and more bytes come, and sends each full chunk with
 * "Content-Range: bytes a-b/ *"; Google answers 308 with the bytes it has
 * persisted ("Range: bytes=0-n"), and whatever it did not keep is sent again
 * at the head of the next request. commit sends the last chunk with the
 * total ("bytes a-b/total", or "bytes * /total" when nothing is left).
 * Either way the object appears whole or not at all: a session that is
 * never finished creates nothing, and abort cancels it (DELETE).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcs.h"

struct cairn_store_writer {
	cairn_store *s;
	char *name;
	uint8_t *buf;
	size_t len;    /* bytes in buf, which start at object offset sent */
	int64_t sent;  /* bytes the server has persisted */
	char *session; /* the resumable session URI, once there is one */
};

int gcs_writer_new(cairn_store *s, const char *name, cairn_store_writer **out, cairn_error *err)
{
	cairn_store_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->name = strdup(name)) || !(w->buf = malloc(s->upload_chunk))) {
		if (w)
			free(w->name);
		free(w);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	w->s = s;
	*out = w;
	return CAIRN_OK;
}

int gcs_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                  cairn_error *err)
{
	if (!gcs_path_ok(path, false))
		return gcs_bad_path(err, path);
	char *name = gcs_name(s, path);
	if (!name)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	int rc = gcs_writer_new(s, name, out, err);
	free(name);
	return rc;
}

static void gcs_writer_free(cairn_store_writer *w)
{
	free(w->name);
	free(w->buf);
	free(w->session);
	free(w);
}

/* The upload URL: "<endpoint>/upload/storage/v1/b/<bucket>/o?uploadType=<t>&name=<n>". */
static bool gcs_upload_url(cairn_store_writer *w, const char *type, gcs_buf *url)
{
	cairn_store *s = w->s;
	return gcs_buf_add(url, s->endpoint, strlen(s->endpoint)) &&
	       GCS_LIT(url, "/upload/storage/v1/b/") && gcs_pct(url, s->bucket, false) &&
	       GCS_LIT(url, "/o?uploadType=") && gcs_buf_add(url, type, strlen(type)) &&
	       GCS_LIT(url, "&name=") && gcs_pct(url, w->name, false);
}

/* The generation in an upload's JSON reply into gen (cap bytes, may be 0). */
static int gcs_reply_generation(cairn_store_writer *w, const gcs_resp *resp, char *gen, size_t cap,
                                cairn_error *err)
{
	if (!cap)
		return CAIRN_OK;
	json_t *root = json_loadb(resp->body.p ? resp->body.p : "", resp->body.len, 0, NULL);
	json_t *g = json_object_get(root, "generation");
	int rc = CAIRN_OK;
	if (json_is_string(g))
		snprintf(gen, cap, "%s", json_string_value(g));
	else if (json_is_integer(g))
		snprintf(gen, cap, "%lld", (long long)json_integer_value(g));
	else
		rc = cairn_error_set(err, CAIRN_ERR_IO,
		                     "upload of '%.300s': reply has no generation", w->name);
	json_decref(root);
	return rc;
}

static int gcs_start_session(cairn_store_writer *w, cairn_error *err)
{
	gcs_buf url = {0};
	gcs_resp resp = {0};
	if (!gcs_upload_url(w, "resumable", &url))
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	cairn_http_header extra[] = {{"X-Upload-Content-Type", "application/octet-stream"}};
	gcs_req req = {.method = "POST",
	               .url = url.p,
	               .content_type = "application/json; charset=UTF-8",
	               .body = "{}",
	               .body_len = 2,
	               .extra = extra,
	               .nextra = 1};
	int rc = gcs_call(w->s, &req, &resp, err);
	gcs_buf_free(&url);
	if (rc == CAIRN_OK && resp.status != 200)
		rc = gcs_fail_reply(&resp, "start upload of", w->name, err);
	if (rc == CAIRN_OK && !resp.location[0])
		rc = cairn_error_set(err, CAIRN_ERR_IO,
		                     "start upload of '%.300s': reply has no session Location",
		                     w->name);
	if (rc == CAIRN_OK && !(w->session = strdup(resp.location)))
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	gcs_resp_free(&resp);
	return rc;
}

/* Bytes persisted per a 308's "Range: bytes=0-n" (none: 0). */
static int64_t gcs_persisted(const gcs_resp *resp)
{
	long long a = 0, b = -1;
	if (sscanf(resp->range, "bytes=%lld-%lld", &a, &b) == 2 && a == 0)
		return b + 1;
	return 0;
}

/* Sends the buffered bytes to the session; with final, as the object's end.
 * Keeps what the server did not persist at the head of buf and resends it
 * while the server makes progress. gen gets the generation when final. */
static int gcs_send(cairn_store_writer *w, bool final, char *gen, size_t gen_cap, cairn_error *err)
{
	int stalls = 0;
	for (;;) {
		char cr[96];
		int64_t total = w->sent + (int64_t)w->len;
		if (w->len == 0)
			snprintf(cr, sizeof cr, "bytes */%lld", (long long)total);
		else if (final)
			snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)w->sent,
			         (long long)total - 1, (long long)total);
		else
			snprintf(cr, sizeof cr, "bytes %lld-%lld/*", (long long)w->sent,
			         (long long)total - 1);
		gcs_resp resp = {0};
		gcs_req req = {.method = "PUT",
		               .url = w->session,
		               .content_range = cr,
		               .body = w->buf,
		               .body_len = w->len};
		int rc = gcs_call(w->s, &req, &resp, err);
		if (rc != CAIRN_OK) {
			gcs_resp_free(&resp);
			return rc;
		}
		if (resp.status == 200 || resp.status == 201) {
			rc = final ? gcs_reply_generation(w, &resp, gen, gen_cap, err)
			           : cairn_error_set(err, CAIRN_ERR_IO,
			                             "upload of '%.300s' ended early", w->name);
			gcs_resp_free(&resp);
			if (rc == CAIRN_OK) {
				w->sent = total;
				w->len = 0;
			}
			return rc;
		}
		if (resp.status != 308) {
			rc = gcs_fail_reply(&resp, "upload", w->name, err);
			gcs_resp_free(&resp);
			return rc;
		}
		int64_t kept = gcs_persisted(&resp);
		gcs_resp_free(&resp);
		if (kept < w->sent || kept > total)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "upload of '%.300s': server reports %lld bytes, "
			                       "expected %lld..%lld",
			                       w->name, (long long)kept, (long long)w->sent,
			                       (long long)total);
		size_t took = (size_t)(kept - w->sent);
		memmove(w->buf, w->buf + took, w->len - took);
		w->len -= took;
		w->sent = kept;
		/* Not final: what was not kept goes again at the head of the next
		 * chunk (both stay multiples of 256 KiB, as Google keeps whole
		 * quanta). Final: send the rest now. */
		if (took > 0 && !final)
			return CAIRN_OK;
		if (took == 0 && ++stalls == 3)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "upload of '%.300s' makes no progress", w->name);
	}
}

int gcs_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err)
{
	const uint8_t *p = buf;
	size_t cap = w->s->upload_chunk;
	while (len > 0) {
		if (w->len == cap) {
			/* A full chunk and more to come: it is not the last. */
			int rc = w->session ? CAIRN_OK : gcs_start_session(w, err);
			if (rc == CAIRN_OK)
				rc = gcs_send(w, false, NULL, 0, err);
			if (rc != CAIRN_OK)
				return rc;
		}
		size_t n = cap - w->len < len ? cap - w->len : len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
	}
	return CAIRN_OK;
}

int gcs_put_commit_gen(cairn_store_writer *w, char *gen, size_t cap, cairn_error *err)
{
	int rc;
	if (w->session) {
		rc = gcs_send(w, true, gen, cap, err);
		if (rc != CAIRN_OK) {
			gcs_put_abort(w);
			return rc;
		}
	} else {
		gcs_buf url = {0};
		gcs_resp resp = {0};
		if (!gcs_upload_url(w, "media", &url)) {
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		} else {
			gcs_req req = {.method = "POST",
			               .url = url.p,
			               .content_type = "application/octet-stream",
			               .body = w->buf,
			               .body_len = w->len};
			rc = gcs_call(w->s, &req, &resp, err);
			if (rc == CAIRN_OK && resp.status != 200)
				rc = gcs_fail_reply(&resp, "upload", w->name, err);
			if (rc == CAIRN_OK)
				rc = gcs_reply_generation(w, &resp, gen, cap, err);
		}
		gcs_buf_free(&url);
		gcs_resp_free(&resp);
	}
	gcs_writer_free(w);
	return rc;
}

int gcs_put_commit(cairn_store_writer *w, cairn_error *err)
{
	return gcs_put_commit_gen(w, NULL, 0, err);
}

void gcs_put_abort(cairn_store_writer *w)
{
	if (w->session) {
		/* Cancel the session; Google answers 499. Failure only leaves a
		 * session that expires by itself in a week, creating nothing. */
		gcs_resp resp = {0};
		gcs_req req = {.method = "DELETE", .url = w->session, .no_retry = true};
		cairn_error e = {0};
		gcs_call(w->s, &req, &resp, &e);
		gcs_resp_free(&resp);
	}
	gcs_writer_free(w);
}
