/*
 * plugins/store/s3/s3_io.c: objects in and out of S3.
 *
 * Writing: a writer buffers at most one part (store.s3.part_size_mb). An
 * object that fits is one PutObject at commit; a bigger one becomes a
 * multipart upload, started when the buffer is full and more bytes come,
 * each full buffer sent as one part, completed at commit (S3 publishes it
 * atomically then) and aborted on abort or failure, so nothing is visible
 * before commit. Bodies are sent from memory, which lets each request be
 * signed with its payload's SHA-256 and retried.
 *
 * Reading: GETs of windows of up to 8 MiB with Range. The first is sent by
 * get_open, so errors (not found, denied) come from it and an object of up
 * to 8 MiB is one request, one version. Later windows carry If-Match with
 * the first reply's ETag, so a reader never mixes two versions of a bigger
 * object that is overwritten while it reads (S3 answers 412; we fail with
 * IO and say so).
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_READ_WINDOW    (8 << 20)
#define S3_PART_MAX_BYTES (512ll << 20) /* parts given through the ABI are buffered whole */

struct cairn_store_writer {
	cairn_store *s;
	s3_buf buf;
	bool is_part;      /* a part of a caller's multipart upload (mpu_part_begin) */
	int part_number;   /* is_part: its number; else the next part's */
	int64_t part_size; /* is_part: its exact size */
	char upload_id[CAIRN_UPLOAD_ID_MAX]; /* put: "" until the object needs parts */
	cairn_mpu_part *parts;
	size_t nparts, cap;
	char key[];
};

struct cairn_store_reader {
	cairn_store *s;
	char etag[CAIRN_ETAG_MAX];
	int64_t pos, end; /* next byte to fetch; end of the range (exclusive) */
	s3_buf win;
	size_t off; /* bytes of win already given */
	char key[];
};

bool s3_path_ok(const char *path, bool allow_root)
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

static int s3_bad_path(cairn_error *err, const char *path)
{
	return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
	                       path ? path : "(null)");
}

int s3_head(cairn_store *s, const char *key, s3_resp *resp, cairn_error *err)
{
	s3_req r = {.method = "HEAD", .key = key};
	return s3_call(s, &r, resp, err);
}

static void s3_buf_xml(s3_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': s3_buf_str(b, "&amp;"); break;
		case '<': s3_buf_str(b, "&lt;"); break;
		case '>': s3_buf_str(b, "&gt;"); break;
		case '"': s3_buf_str(b, "&quot;"); break;
		case '\'': s3_buf_str(b, "&apos;"); break;
		default: s3_buf_add(b, s, 1);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Multipart primitives */

static int s3_create_upload(cairn_store *s, const char *key, char *upload_id, size_t cap,
                            cairn_error *err)
{
	s3_param q[] = {{"uploads", ""}};
	s3_buf out = {.max = 1 << 20};
	s3_resp resp;
	s3_req r = {
	        .method = "POST", .key = key, .query = q, .nquery = 1, .sse = true, .out = &out};
	int rc = s3_call(s, &r, &resp, err);
	if (rc == CAIRN_OK &&
	    (!out.p || !s3_xml_text(out.p, out.len, "UploadId", upload_id, cap) || !upload_id[0]))
		rc = cairn_error_set(err, CAIRN_ERR_IO,
		                     "create multipart upload of %.300s: no UploadId in the reply",
		                     key);
	s3_buf_free(&out);
	return rc;
}

static int s3_upload_part(cairn_store *s, const char *key, const char *upload_id, int number,
                          const void *data, size_t len, char *etag, size_t cap, cairn_error *err)
{
	char num[16];
	snprintf(num, sizeof num, "%d", number);
	s3_param q[] = {{"partNumber", num}, {"uploadId", upload_id}};
	s3_resp resp;
	s3_req r = {.method = "PUT",
	            .key = key,
	            .query = q,
	            .nquery = 2,
	            .body = data,
	            .body_len = len};
	int rc = s3_call(s, &r, &resp, err);
	if (rc != CAIRN_OK)
		return rc;
	if (!resp.etag[0] || strlen(resp.etag) >= cap)
		return cairn_error_set(err, CAIRN_ERR_IO, "part %d of %.300s: no usable ETag",
		                       number, key);
	memcpy(etag, resp.etag, strlen(resp.etag) + 1);
	return CAIRN_OK;
}

static int s3_part_cmp(const void *a, const void *b)
{
	const cairn_mpu_part *x = a, *y = b;
	return (x->part_number > y->part_number) - (x->part_number < y->part_number);
}

static int s3_complete_upload(cairn_store *s, const char *key, const char *upload_id,
                              const cairn_mpu_part *parts_in, size_t n, cairn_error *err)
{
	if (n == 0 || n > 10000)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "a multipart upload needs 1..10000 parts");
	cairn_mpu_part *parts = malloc(n * sizeof *parts);
	if (!parts)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	memcpy(parts, parts_in, n * sizeof *parts);
	qsort(parts, n, sizeof *parts, s3_part_cmp);
	s3_buf body = {0}, out = {.max = 1 << 20};
	s3_buf_str(&body, "<CompleteMultipartUpload>");
	int rc = CAIRN_OK;
	for (size_t i = 0; i < n; i++) {
		if (!parts[i].etag || parts[i].part_number < 1 || parts[i].part_number > 10000 ||
		    (i && parts[i].part_number == parts[i - 1].part_number)) {
			rc = cairn_error_set(
			        err, CAIRN_ERR_INVALID,
			        "bad part list: numbers must be distinct, 1..10000, with "
			        "ETags");
			break;
		}
		s3_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>",
		              parts[i].part_number);
		s3_buf_xml(&body, parts[i].etag);
		s3_buf_str(&body, "</ETag></Part>");
	}
	s3_buf_str(&body, "</CompleteMultipartUpload>");
	free(parts);
	if (rc == CAIRN_OK && body.oom)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK) {
		s3_param q[] = {{"uploadId", upload_id}};
		s3_resp resp;
		s3_req r = {.method = "POST",
		            .key = key,
		            .query = q,
		            .nquery = 1,
		            .body = body.p,
		            .body_len = body.len,
		            .out = &out};
		rc = s3_call(s, &r, &resp, err);
		/* S3 may answer 200 and still fail: the error is then in the body. */
		char code[128], msg[300] = "";
		if (rc == CAIRN_OK && out.p &&
		    s3_xml_text(out.p, out.len, "Code", code, sizeof code)) {
			s3_xml_text(out.p, out.len, "Message", msg, sizeof msg);
			rc = cairn_error_set(err, s3_status_of(500, code),
			                     "complete multipart upload of %.300s: %s: %s", key,
			                     code, msg);
		}
	}
	s3_buf_free(&body);
	s3_buf_free(&out);
	return rc;
}

static int s3_abort_upload(cairn_store *s, const char *key, const char *upload_id, cairn_error *err)
{
	s3_param q[] = {{"uploadId", upload_id}};
	s3_resp resp;
	s3_req r = {.method = "DELETE", .key = key, .query = q, .nquery = 1};
	return s3_call(s, &r, &resp, err);
}

/* ------------------------------------------------------------------------ */
/* Writers */

static cairn_store_writer *s3_writer_new(cairn_store *s, const char *path)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_key_of(s, path, key, sizeof key))
		return NULL;
	cairn_store_writer *w = calloc(1, sizeof *w + strlen(key) + 1);
	if (!w)
		return NULL;
	w->s = s;
	memcpy(w->key, key, strlen(key) + 1);
	return w;
}

static void s3_writer_free(cairn_store_writer *w)
{
	for (size_t i = 0; i < w->nparts; i++)
		free((char *)w->parts[i].etag);
	free(w->parts);
	s3_buf_free(&w->buf);
	free(w);
}

int s3_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                 cairn_error *err)
{
	if (!s3_path_ok(path, false))
		return s3_bad_path(err, path);
	cairn_store_writer *w = s3_writer_new(s, path);
	if (!w)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	w->buf.max = (size_t)s->part_size;
	w->part_number = 1;
	*out = w;
	return CAIRN_OK;
}

/* Sends the full buffer as the next part, starting the upload if needed. */
static int s3_flush_part(cairn_store_writer *w, cairn_error *err)
{
	int rc = CAIRN_OK;
	if (!w->upload_id[0])
		rc = s3_create_upload(w->s, w->key, w->upload_id, sizeof w->upload_id, err);
	if (rc == CAIRN_OK && w->nparts == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		cairn_mpu_part *p = realloc(w->parts, cap * sizeof *p);
		if (!p)
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		w->parts = p;
		w->cap = cap;
	}
	if (rc == CAIRN_OK && w->part_number > 10000)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "object too large for 10000 parts of %lld MiB (raise "
		                     "store.s3.part_size_mb)",
		                     (long long)(w->s->part_size >> 20));
	char etag[CAIRN_ETAG_MAX];
	if (rc == CAIRN_OK)
		rc = s3_upload_part(w->s, w->key, w->upload_id, w->part_number, w->buf.p,
		                    w->buf.len, etag, sizeof etag, err);
	if (rc != CAIRN_OK)
		return rc;
	char *copy = strdup(etag);
	if (!copy)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	w->parts[w->nparts++] = (cairn_mpu_part){.part_number = w->part_number++, .etag = copy};
	w->buf.len = 0;
	return CAIRN_OK;
}

int s3_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err)
{
	const char *p = buf;
	if (w->is_part) {
		if ((int64_t)(w->buf.len + len) > w->part_size)
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "part %d: more than its %lld bytes written",
			                       w->part_number, (long long)w->part_size);
		s3_buf_add(&w->buf, p, len);
		return w->buf.oom ? cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory")
		                  : CAIRN_OK;
	}
	while (len > 0) {
		size_t room = (size_t)w->s->part_size - w->buf.len;
		if (room == 0) { /* full, and more is coming: it is a part */
			int rc = s3_flush_part(w, err);
			if (rc != CAIRN_OK)
				return rc;
			continue;
		}
		size_t take = len < room ? len : room;
		s3_buf_add(&w->buf, p, take);
		if (w->buf.oom)
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		p += take;
		len -= take;
	}
	return CAIRN_OK;
}

int s3_put_commit(cairn_store_writer *w, cairn_error *err)
{
	int rc;
	if (!w->upload_id[0]) {
		s3_resp resp;
		s3_req r = {.method = "PUT",
		            .key = w->key,
		            .body = w->buf.p ? w->buf.p : "",
		            .body_len = w->buf.len,
		            .sse = true};
		rc = s3_call(w->s, &r, &resp, err);
	} else {
		rc = w->buf.len ? s3_flush_part(w, err) : CAIRN_OK;
		if (rc == CAIRN_OK)
			rc = s3_complete_upload(w->s, w->key, w->upload_id, w->parts, w->nparts,
			                        err);
		if (rc != CAIRN_OK) {
			cairn_error ignored = {0};
			s3_abort_upload(w->s, w->key, w->upload_id, &ignored);
		}
	}
	s3_writer_free(w);
	return rc;
}

void s3_put_abort(cairn_store_writer *w)
{
	if (!w->is_part && w->upload_id[0]) {
		cairn_error e = {0};
		if (s3_abort_upload(w->s, w->key, w->upload_id, &e) != CAIRN_OK)
			w->s->host->log(
			        CAIRN_LOG_WARN, "STORE-S3-ABORT",
			        "s3: abort of an upload of %.300s failed (a bucket lifecycle "
			        "rule cleans it up): %s",
			        w->key, e.message);
	}
	s3_writer_free(w);
}

/* ------------------------------------------------------------------------ */
/* Multipart through the ABI */

static bool s3_upload_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n >= CAIRN_UPLOAD_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return false;
	return true;
}

int s3_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_path_ok(path, false) || !s3_key_of(s, path, key, sizeof key))
		return s3_bad_path(err, path);
	return s3_create_upload(s, key, upload_id, cap, err);
}

int s3_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                      int64_t size, cairn_store_writer **out, cairn_error *err)
{
	if (!s3_path_ok(path, false))
		return s3_bad_path(err, path);
	if (!s3_upload_id_ok(upload_id) || part_number < 1 || part_number > 10000 || size < 0)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "bad upload id, part number or size");
	if (size > S3_PART_MAX_BYTES)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "part of %lld bytes: this store takes parts of at most %lld",
		                       (long long)size, S3_PART_MAX_BYTES);
	cairn_store_writer *w = s3_writer_new(s, path);
	if (!w)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	w->is_part = true;
	w->part_number = part_number;
	w->part_size = size;
	snprintf(w->upload_id, sizeof w->upload_id, "%s", upload_id);
	*out = w;
	return CAIRN_OK;
}

int s3_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err)
{
	int rc;
	if ((int64_t)w->buf.len != w->part_size)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "part %d: %zu of %lld bytes written",
		                     w->part_number, w->buf.len, (long long)w->part_size);
	else
		rc = s3_upload_part(w->s, w->key, w->upload_id, w->part_number,
		                    w->buf.p ? w->buf.p : "", w->buf.len, etag, cap, err);
	s3_writer_free(w);
	return rc;
}

int s3_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                    const cairn_mpu_part *parts, size_t nparts, cairn_error *err)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_path_ok(path, false) || !s3_key_of(s, path, key, sizeof key))
		return s3_bad_path(err, path);
	if (!s3_upload_id_ok(upload_id))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad upload id");
	return s3_complete_upload(s, key, upload_id, parts, nparts, err);
}

int s3_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_path_ok(path, false) || !s3_key_of(s, path, key, sizeof key))
		return s3_bad_path(err, path);
	if (!s3_upload_id_ok(upload_id))
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad upload id");
	return s3_abort_upload(s, key, upload_id, err);
}

int s3_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
               int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_path_ok(path, false) || !s3_key_of(s, path, key, sizeof key))
		return s3_bad_path(err, path);
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "presign: method must be GET or PUT");
	if (expires_s < 1 || expires_s > 604800)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "presign: expiry must be 1..604800 seconds (S3's limit)");
	if (!upload_id)
		return s3_presign_url(s, method, key, NULL, 0, expires_s, url, cap, err);
	if (strcmp(method, "PUT") != 0 || !s3_upload_id_ok(upload_id) || part_number < 1 ||
	    part_number > 10000)
		return cairn_error_set(
		        err, CAIRN_ERR_INVALID,
		        "presign of a part: PUT, a valid upload id and part 1..10000");
	char num[16];
	snprintf(num, sizeof num, "%d", part_number);
	s3_param q[] = {{"partNumber", num}, {"uploadId", upload_id}};
	return s3_presign_url(s, method, key, q, 2, expires_s, url, cap, err);
}

/* ------------------------------------------------------------------------ */
/* Readers */

/* GETs [r->pos, r->pos + want) into the window. The first window carries
 * no condition and learns the object's size and ETag from the reply; later
 * ones require that ETag (If-Match). */
static int s3_fetch_window(cairn_store_reader *r, int64_t want, bool first, s3_resp *resp,
                           cairn_error *err)
{
	char range[64];
	snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)r->pos,
	         (long long)(r->pos + want - 1));
	cairn_http_header h[2] = {{"Range", range}, {"If-Match", r->etag}};
	r->win.len = 0;
	r->win.max = (size_t)want;
	r->off = 0;
	s3_req q = {.method = "GET",
	            .key = r->key,
	            .headers = h,
	            .nheaders = !first && r->etag[0] ? 2 : 1,
	            .out = &r->win};
	int rc = s3_call(r->s, &q, resp, err);
	if (rc != CAIRN_OK && resp->status == 412)
		return cairn_error_set(err, CAIRN_ERR_IO,
		                       "%.300s changed while it was being read; read it again",
		                       r->key);
	if (rc != CAIRN_OK)
		return rc;
	if (resp->status == 200 && r->pos != 0)
		return cairn_error_set(err, CAIRN_ERR_IO, "GET %.300s: the server ignored Range",
		                       r->key);
	return CAIRN_OK;
}

int s3_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                cairn_store_reader **out, cairn_object_info *info, cairn_error *err)
{
	char key[2 * CAIRN_PATH_MAX + 2];
	if (!s3_path_ok(path, false) || !s3_key_of(s, path, key, sizeof key))
		return s3_bad_path(err, path);
	if (offset < 0 || length < -1)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad range");
	cairn_store_reader *r = calloc(1, sizeof *r + strlen(key) + 1);
	if (!r)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	r->s = s;
	memcpy(r->key, key, strlen(key) + 1);
	r->pos = offset;
	s3_resp resp;
	int64_t size = -1;
	int rc = CAIRN_ERR_INVALID;
	if (length != 0) {
		/* One request for a small object: the data and the size of one
		 * version, with no window for an overwrite between two requests. */
		int64_t want = length < 0 || length > S3_READ_WINDOW ? S3_READ_WINDOW : length;
		rc = s3_fetch_window(r, want, true, &resp, err);
		if (rc == CAIRN_OK) {
			size = resp.status == 206 ? resp.range_total : resp.content_length;
			snprintf(r->etag, sizeof r->etag, "%s", resp.etag);
			if (size < 0)
				rc = cairn_error_set(err, CAIRN_ERR_IO,
				                     "GET %.300s: no object size", key);
		}
	}
	/* Nothing asked for, or nothing there to give (S3 refuses any range of
	 * an empty object, and ranges at the end, with 416): HEAD for the size. */
	if (length == 0 || (rc != CAIRN_OK && resp.status == 416)) {
		r->win.len = 0;
		rc = s3_head(s, key, &resp, err);
		size = resp.content_length;
		if (rc == CAIRN_OK && size < 0)
			rc = cairn_error_set(err, CAIRN_ERR_IO, "HEAD %.300s: no Content-Length",
			                     key);
		snprintf(r->etag, sizeof r->etag, "%s", resp.etag);
	}
	if (rc == CAIRN_OK && offset > size)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "range offset %lld is past the end of '%.300s' (%lld bytes)",
		                     (long long)offset, path, (long long)size);
	if (rc != CAIRN_OK) {
		s3_get_close(r);
		return rc;
	}
	r->end = (length < 0 || length > size - offset) ? size : offset + length;
	int64_t got = (int64_t)r->win.len;
	if (got != (r->end - offset < S3_READ_WINDOW ? r->end - offset : S3_READ_WINDOW) &&
	    length != 0) {
		rc = cairn_error_set(err, CAIRN_ERR_IO,
		                     "GET %.300s: %lld bytes for a range of %lld", key,
		                     (long long)got, (long long)(r->end - offset));
		s3_get_close(r);
		return rc;
	}
	r->pos = offset + got;
	info->size = size;
	info->mtime_ms = resp.mtime_ms;
	info->is_dir = 0;
	*out = r;
	return CAIRN_OK;
}

int s3_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err)
{
	*n = 0;
	if (r->off == r->win.len) {
		if (r->pos >= r->end || cap == 0)
			return CAIRN_OK;
		int64_t want = r->end - r->pos;
		if (want > S3_READ_WINDOW)
			want = S3_READ_WINDOW;
		s3_resp resp;
		int rc = s3_fetch_window(r, want, false, &resp, err);
		if (rc != CAIRN_OK)
			return rc;
		if ((int64_t)r->win.len != want)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "GET %.300s: %zu bytes for a range of %lld", r->key,
			                       r->win.len, (long long)want);
		r->pos += want;
	}
	size_t left = r->win.len - r->off;
	size_t give = left < cap ? left : cap;
	memcpy(buf, r->win.p + r->off, give);
	r->off += give;
	*n = give;
	return CAIRN_OK;
}

void s3_get_close(cairn_store_reader *r)
{
	s3_buf_free(&r->win);
	free(r);
}
