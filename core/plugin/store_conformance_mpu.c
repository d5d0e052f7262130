/* core/plugin/store_conformance_mpu.c: the conformance suite's multipart, presigned-URL and
 * cancellation cases. */
#include "core/plugin/store_conformance_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Writes part n of an upload: size pattern bytes of seed, starting at byte
 * off of the whole object; the part's ETag goes to etag (CAIRN_ETAG_MAX). */
static cn_code mpu_put_part(cn_conf *c, const char *path, const char *id, int n, uint64_t seed,
                            int64_t off, int64_t size, char *etag, cn_err *err)
{
	cn_store_writer *w = NULL;
	cn_code rc = cn_store_mpu_part_begin(c->s, path, id, n, size, &w, err);
	if (rc != CN_OK)
		return rc;
	size_t chunk = c->o.chunk_bytes;
	uint8_t *buf = malloc(chunk);
	if (!buf)
		rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "no memory");
	for (int64_t done = 0; rc == CN_OK && done < size; done += (int64_t)chunk) {
		size_t k = (uint64_t)(size - done) < chunk ? (size_t)(size - done) : chunk;
		cn_conf_fill(buf, k, seed, (uint64_t)(off + done));
		rc = cn_store_put_write(w, buf, k, err);
	}
	free(buf);
	if (rc != CN_OK) {
		cn_store_put_abort(w);
		return rc;
	}
	return cn_store_mpu_part_commit(w, etag, CAIRN_ETAG_MAX, err);
}

/* The number of entries listed in dir (up to CN_CONF_LIST_MAX), -1 on error. */
static int conf_count(cn_conf *c, const char *dir)
{
	cn_conf_list l = {0};
	char tok[CAIRN_PAGE_TOKEN_MAX];
	cn_err err;
	if (!CN_CONF_OK(
	            c,
	            cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	            &err))
		return -1;
	return l.n;
}

/* Three parts written out of order and listed out of order: the object is
 * their bytes in part-number order, unseen until complete. */
static void mpu_basic(cn_conf *c)
{
	char p[256], dir[256], id[CAIRN_UPLOAD_ID_MAX], tags[3][CAIRN_ETAG_MAX];
	cn_err err;
	cn_store_info info;
	int64_t part = c->o.mpu_part_bytes, total = 0;
	int64_t size[3] = {part, part, 1007};
	int64_t off[3] = {0, part, 2 * part};
	bool match = false;
	cn_conf_path(c, dir, sizeof dir, "mpu/basic");
	cn_conf_path(c, p, sizeof p, "mpu/basic/object.bin");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	static const int order[3] = {2, 0, 1};
	for (int k = 0; k < 3; k++) {
		int i = order[k];
		if (!CN_CONF_OK(c,
		                mpu_put_part(c, p, id, i + 1, 11, off[i], size[i], tags[i], &err),
		                &err)) {
			CN_CONF_OK(c, cn_store_mpu_abort(c->s, p, id, &err), &err);
			return;
		}
	}
	/* Nothing visible before complete: no object, no staging entries. */
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CHECK(c, conf_count(c, dir) == 0);
	cairn_mpu_part parts[3] = {{2, tags[1]}, {3, tags[2]}, {1, tags[0]}};
	if (!CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, parts, 3, &err), &err))
		return;
	int64_t want = 2 * part + 1007;
	if (CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 11, 0, -1, 256 * 1024 + 1, &total, &match,
	                                    &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == want && match && info.size == want);
	cn_conf_list l = {0};
	char tok[CAIRN_PAGE_TOKEN_MAX];
	if (CN_CONF_OK(
	            c,
	            cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	            &err))
		CN_CONF_CHECK(c, l.n == 1 && strcmp(l.path[0], p) == 0 && l.size[0] == want);
}

/* Abort leaves nothing; the id is unknown afterwards. */
static void mpu_abort_and_unknown(cn_conf *c)
{
	char p[256], dir[256], id[CAIRN_UPLOAD_ID_MAX], tag[CAIRN_ETAG_MAX];
	cn_err err;
	cn_store_info info;
	cn_conf_path(c, dir, sizeof dir, "mpu/aborted");
	cn_conf_path(c, p, sizeof p, "mpu/aborted/object.bin");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	CN_CONF_OK(c, mpu_put_part(c, p, id, 1, 5, 0, 1000, tag, &err), &err);
	CN_CONF_OK(c, cn_store_mpu_abort(c->s, p, id, &err), &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CHECK(c, conf_count(c, dir) == 0);
	if (c->o.waive & CN_CONF_WAIVE_STATELESS_UPLOADS) {
		fprintf(stderr,
		        "  WAIVED [%s] an aborted upload id is unknown afterwards "
		        "(CN_CONF_WAIVE_STATELESS_UPLOADS)\n",
		        c->label);
		return;
	}
	/* The aborted id is unknown: a part (whichever step notices), complete, abort. */
	char tag2[CAIRN_ETAG_MAX];
	CN_CONF_CODE(c, mpu_put_part(c, p, id, 2, 5, 1000, 10, tag2, &err),
	             CN_RESOURCE_DOES_NOT_EXIST, &err);
	cairn_mpu_part part = {1, tag};
	CN_CONF_CODE(c, cn_store_mpu_complete(c->s, p, id, &part, 1, &err),
	             CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_mpu_abort(c->s, p, id, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	/* An id the store never made: not found, or refused as malformed. */
	cn_code rc =
	        cn_store_mpu_complete(c->s, p, "cn-conformance-no-such-upload", &part, 1, &err);
	CN_CONF_CHECK(c, rc == CN_RESOURCE_DOES_NOT_EXIST || rc == CN_INVALID_PARAMETER_VALUE);
}

/* Completing with an ETag the store did not give fails and publishes
 * nothing; the upload stays usable and completes with the right one. */
static void mpu_wrong_etag(cn_conf *c)
{
	char p[256], id[CAIRN_UPLOAD_ID_MAX], tag[CAIRN_ETAG_MAX];
	cn_err err;
	cn_store_info info;
	int64_t total = 0;
	bool match = false;
	cn_conf_path(c, p, sizeof p, "mpu/etag/object.bin");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	if (!CN_CONF_OK(c, mpu_put_part(c, p, id, 1, 9, 0, 4099, tag, &err), &err)) {
		cn_store_mpu_abort(c->s, p, id, &err);
		return;
	}
	char wrong[CAIRN_ETAG_MAX];
	snprintf(wrong, sizeof wrong, "%s", tag);
	size_t n = strlen(wrong);
	/* Flip one character, keeping the shape (hex stays hex, quotes stay). */
	for (size_t i = 0; i < n; i++) {
		if (wrong[i] != '"' && wrong[i] != '-') {
			wrong[i] = wrong[i] == '0' ? '1' : '0';
			break;
		}
	}
	cairn_mpu_part bad = {1, wrong};
	if (c->o.waive & CN_CONF_WAIVE_UNCHECKED_ETAGS) {
		fprintf(stderr,
		        "  WAIVED [%s] complete with a wrong ETag fails "
		        "(CN_CONF_WAIVE_UNCHECKED_ETAGS)\n",
		        c->label);
	} else {
		CN_CONF_CHECK(c, cn_store_mpu_complete(c->s, p, id, &bad, 1, &err) != CN_OK);
		CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST,
		             &err);
	}
	/* A part number never uploaded. */
	cairn_mpu_part missing[2] = {{1, tag}, {2, tag}};
	if (c->o.waive & CN_CONF_WAIVE_UNCHECKED_PARTS)
		fprintf(stderr,
		        "  WAIVED [%s] complete naming a part never uploaded fails "
		        "(CN_CONF_WAIVE_UNCHECKED_PARTS)\n",
		        c->label);
	else
		CN_CONF_CHECK(c, cn_store_mpu_complete(c->s, p, id, missing, 2, &err) != CN_OK);
	cairn_mpu_part good = {1, tag};
	if (CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, &good, 1, &err), &err) &&
	    CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 9, 0, -1, 1000, &total, &match, &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == 4099 && match);
}

/* The ABI allows a part of 0 bytes: an upload of one empty part is an
 * empty object, and an empty last part adds nothing. */
static void mpu_zero(cn_conf *c)
{
	char p[256], id[CAIRN_UPLOAD_ID_MAX], tags[2][CAIRN_ETAG_MAX];
	cn_err err;
	cn_store_info info;
	int64_t total = 0;
	bool match = false;
	cn_conf_path(c, p, sizeof p, "mpu/zero/empty");
	if (CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err)) {
		if (CN_CONF_OK(c, mpu_put_part(c, p, id, 1, 1, 0, 0, tags[0], &err), &err)) {
			cairn_mpu_part part = {1, tags[0]};
			if (CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, &part, 1, &err),
			               &err) &&
			    CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err))
				CN_CONF_CHECK(c, info.size == 0 && !info.is_dir);
		} else {
			cn_store_mpu_abort(c->s, p, id, &err);
		}
	}
	cn_conf_path(c, p, sizeof p, "mpu/zero/tail");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	if (!CN_CONF_OK(c, mpu_put_part(c, p, id, 1, 4, 0, 777, tags[0], &err), &err) ||
	    !CN_CONF_OK(c, mpu_put_part(c, p, id, 2, 4, 777, 0, tags[1], &err), &err)) {
		cn_store_mpu_abort(c->s, p, id, &err);
		return;
	}
	cairn_mpu_part parts[2] = {{1, tags[0]}, {2, tags[1]}};
	if (CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, parts, 2, &err), &err) &&
	    CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 4, 0, -1, 4096, &total, &match, &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == 777 && match);
}

void cn_conf_multipart(cn_conf *c)
{
	if (!(cn_store_caps(c->s) & CAIRN_STORE_CAP_MULTIPART))
		return;
	mpu_basic(c);
	mpu_abort_and_unknown(c);
	mpu_wrong_etag(c);
	mpu_zero(c);
}

/* ------------------------------------------------------------------------ */
/* Presigned URLs, used through the host's HTTP client as a client would. */

typedef struct conf_http {
	char body[256];
	size_t n;
	bool overflow;
	char etag[CAIRN_ETAG_MAX];
} conf_http;

static int conf_http_body(void *arg, const void *data, size_t len)
{
	conf_http *h = arg;
	if (h->n + len > sizeof h->body) {
		h->overflow = true;
		return CAIRN_OK;
	}
	memcpy(h->body + h->n, data, len);
	h->n += len;
	return CAIRN_OK;
}

static int conf_http_header(void *arg, const char *name, size_t name_len, const char *value,
                            size_t value_len)
{
	conf_http *h = arg;
	if (name_len == 4 && strncasecmp(name, "etag", 4) == 0 && value_len < sizeof h->etag) {
		memcpy(h->etag, value, value_len);
		h->etag[value_len] = '\0';
	}
	return CAIRN_OK;
}

/* One request to url; returns the HTTP status, or -1 when none came. */
static int conf_http_do(cn_conf *c, const char *method, const char *url, const void *body,
                        size_t len, conf_http *h)
{
	/* What MLflow's client sends on a presigned PUT: Azure needs the blob
	 * type; S3 and GCS ignore a header they did not sign. */
	static const cairn_http_header put_headers[] = {{"x-ms-blob-type", "BlockBlob"}};
	bool put = strcmp(method, "PUT") == 0;
	cairn_http_request req = {.size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .headers = put ? put_headers : NULL,
	                          .nheaders = put ? 1 : 0,
	                          .body = body,
	                          .body_len = len,
	                          .on_header = conf_http_header,
	                          .on_body = conf_http_body,
	                          .response_arg = h,
	                          .timeout_ms = 60000};
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	memset(h, 0, sizeof *h);
	int rc = cn_plugin_host_api()->http(&req, &resp, &e);
	if (rc != CAIRN_OK) {
		char m[700];
		snprintf(m, sizeof m, "%s through a presigned URL: %s", method, e.message);
		cn_conf_report(c, false, __FILE__, __LINE__, m);
		return -1;
	}
	return resp.status;
}

void cn_conf_presign(cn_conf *c)
{
	if (!(cn_store_caps(c->s) & CAIRN_STORE_CAP_PRESIGN))
		return;
	char p[256], url[4096], got[64];
	cn_err err;
	conf_http h;
	size_t n = 0;
	cn_conf_path(c, p, sizeof p, "presign/get.txt");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "presigned get", 13, &err), &err);
	if (CN_CONF_OK(c, cn_store_presign(c->s, p, "GET", NULL, 0, 300, url, sizeof url, &err),
	               &err)) {
		int status = conf_http_do(c, "GET", url, NULL, 0, &h);
		CN_CONF_CHECK(c, status == 200 && h.n == 13 &&
		                         memcmp(h.body, "presigned get", 13) == 0);
	}
	cn_conf_path(c, p, sizeof p, "presign/put.txt");
	if (CN_CONF_OK(c, cn_store_presign(c->s, p, "PUT", NULL, 0, 300, url, sizeof url, &err),
	               &err)) {
		int status = conf_http_do(c, "PUT", url, "presigned put", 13, &h);
		CN_CONF_CHECK(c, status >= 200 && status < 300);
		if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
			CN_CONF_CHECK(c, n == 13 && memcmp(got, "presigned put", 13) == 0);
	}
	/* A URL for an object that is not there does not produce one. */
	cn_conf_path(c, p, sizeof p, "presign/missing");
	if (CN_CONF_OK(c, cn_store_presign(c->s, p, "GET", NULL, 0, 300, url, sizeof url, &err),
	               &err)) {
		int status = conf_http_do(c, "GET", url, NULL, 0, &h);
		CN_CONF_CHECK(c, status >= 400);
	}
	if (!(cn_store_caps(c->s) & CAIRN_STORE_CAP_MULTIPART))
		return;
	/* A part PUT through its URL, completed with the ETag the response gave
	 * (stores whose part responses carry none accept a placeholder). */
	char id[CAIRN_UPLOAD_ID_MAX];
	uint8_t part[1500];
	cn_conf_fill(part, sizeof part, 21, 0);
	cn_conf_path(c, p, sizeof p, "presign/part.bin");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	int status = -1;
	if (CN_CONF_OK(c, cn_store_presign(c->s, p, "PUT", id, 1, 300, url, sizeof url, &err),
	               &err)) {
		status = conf_http_do(c, "PUT", url, part, sizeof part, &h);
		CN_CONF_CHECK(c, status >= 200 && status < 300);
	}
	cairn_mpu_part mp = {1, h.etag[0] ? h.etag : "presigned-part-1"};
	int64_t total = 0;
	bool match = false;
	cn_store_info info;
	if (status >= 200 && status < 300 &&
	    CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, &mp, 1, &err), &err) &&
	    CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 21, 0, -1, 4096, &total, &match, &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == (int64_t)sizeof part && match);
	else
		cn_store_mpu_abort(c->s, p, id, &err);
}

/* ------------------------------------------------------------------------ */
/* Cancellation */

static void cancel_listing(cn_conf *c)
{
	char tok[CAIRN_PAGE_TOKEN_MAX];
	cn_err err;
	/* Stopping at the very first entry, plain and paged. */
	cn_conf_list first = {.stop_after = 1};
	CN_CONF_CODE(c,
	             cn_store_list(c->s, c->base, NULL, 0, cn_conf_list_cb, &first, tok, sizeof tok,
	                           &err),
	             CN_CANCELLED, &err);
	CN_CONF_CHECK(c, first.n == 1);
	cn_conf_list paged = {.stop_after = 1};
	CN_CONF_CODE(c,
	             cn_store_list(c->s, c->base, NULL, 2, cn_conf_list_cb, &paged, tok, sizeof tok,
	                           &err),
	             CN_CANCELLED, &err);
	CN_CONF_CHECK(c, paged.n == 1);
}

static void cancel_reader(cn_conf *c)
{
	char p[256], got[16];
	cn_err err;
	cn_store_info info;
	int64_t size = 3 * (int64_t)c->o.chunk_bytes + 5, total = 0;
	bool match = false;
	size_t n = 0;
	cn_conf_path(c, p, sizeof p, "cancel/reader");
	if (!CN_CONF_OK(c, cn_conf_put_pattern(c->s, p, 31, size, c->o.chunk_bytes, NULL, &err),
	                &err))
		return;
	/* Closed after part of the object, and before any byte. */
	cn_store_reader *r = NULL;
	if (CN_CONF_OK(c, cn_store_get_open(c->s, p, 0, -1, &r, &info, &err), &err)) {
		uint8_t buf[4096];
		CN_CONF_OK(c, cn_store_get_read(r, buf, sizeof buf, &n, &err), &err);
		CN_CONF_CHECK(c, n > 0);
		cn_store_get_close(r);
	}
	if (CN_CONF_OK(c, cn_store_get_open(c->s, p, 10, 1000, &r, &info, &err), &err))
		cn_store_get_close(r);
	/* The object is untouched and the store still serves, rewrites and removes it. */
	if (CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 31, 0, -1, 65536, &total, &match, &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == size && match);
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "after", 5, &err), &err);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 5 && memcmp(got, "after", 5) == 0);
	CN_CONF_OK(c, cn_store_remove(c->s, p, false, &err), &err);
}

/* Writes chunks of pattern to w, then aborts it: a writer cancelled
 * mid-stream, with more announced than written. */
static void cancel_write_some(cn_conf *c, cn_store_writer *w, int chunks)
{
	cn_err err;
	size_t chunk = c->o.chunk_bytes;
	uint8_t *buf = malloc(chunk);
	for (int i = 0; buf && i < chunks; i++) {
		cn_conf_fill(buf, chunk, 41, (uint64_t)i * chunk);
		if (!CN_CONF_OK(c, cn_store_put_write(w, buf, chunk, &err), &err))
			break;
	}
	free(buf);
	cn_store_put_abort(w);
}

static void cancel_writers(cn_conf *c)
{
	char p[256], dir[256], got[16], id[CAIRN_UPLOAD_ID_MAX], tag[CAIRN_ETAG_MAX];
	cn_err err;
	cn_store_info info;
	size_t n = 0;
	int64_t big = 8 * (int64_t)c->o.chunk_bytes;
	cn_conf_path(c, dir, sizeof dir, "cancel/w");
	cn_conf_path(c, p, sizeof p, "cancel/w/old");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "old", 3, &err), &err);
	cn_store_writer *w = NULL;
	if (CN_CONF_OK(c, cn_store_put_begin(c->s, p, big, &w, &err), &err))
		cancel_write_some(c, w, 3);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 3 && memcmp(got, "old", 3) == 0);
	cn_conf_path(c, p, sizeof p, "cancel/w/new");
	if (CN_CONF_OK(c, cn_store_put_begin(c->s, p, big, &w, &err), &err))
		cancel_write_some(c, w, 3);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CHECK(c, conf_count(c, dir) == 1);
	if (!(cn_store_caps(c->s) & CAIRN_STORE_CAP_MULTIPART))
		return;
	/* A part aborted mid-stream, then sent again whole. */
	cn_conf_path(c, p, sizeof p, "cancel/w/mpu");
	if (!CN_CONF_OK(c, cn_store_mpu_create(c->s, p, id, sizeof id, &err), &err))
		return;
	if (CN_CONF_OK(c, cn_store_mpu_part_begin(c->s, p, id, 1, big, &w, &err), &err))
		cancel_write_some(c, w, 2);
	int64_t total = 0;
	bool match = false;
	if (!CN_CONF_OK(c, mpu_put_part(c, p, id, 1, 41, 0, big, tag, &err), &err)) {
		cn_store_mpu_abort(c->s, p, id, &err);
		return;
	}
	cairn_mpu_part part = {1, tag};
	if (CN_CONF_OK(c, cn_store_mpu_complete(c->s, p, id, &part, 1, &err), &err) &&
	    CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 41, 0, -1, 65536, &total, &match, &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == big && match);
}

void cn_conf_cancel(cn_conf *c)
{
	cancel_listing(c);
	cancel_reader(c);
	cancel_writers(c);
}
