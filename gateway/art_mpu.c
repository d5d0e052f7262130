/*
 * gateway/art_mpu.c: MLflow's proxied multipart upload
 * (POST /mlflow-artifacts/mpu/create|complete|abort/<dir>, body path = the
 * client's local file, whose base name is the object's name in <dir>).
 *
 * Credentials are part URLs the client PUTs each part to:
 *   - a store that can presign (S3, GCS, Azure plugins): its presigned part
 *     URLs, so the bytes go straight to the store, as with MLflow;
 *   - a store with multipart but no presigning (the local disk, or GCS with
 *     metadata-server credentials, which cannot sign): URLs of the
 *     gateway's own part route, PUT /api/2.0/mlflow-artifacts/mpu/part/<dir>/
 *     <name>?upload_id=&part_number=, streamed into the store's part writer
 *     (art_put.c), which answers the part's ETag as S3 does;
 *   - a store without multipart: 501 NOT_IMPLEMENTED with MLflow's message,
 *     on which MLflow's client falls back to one streamed PUT.
 */
#include "gateway/art_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "schemas/cairn_schema.h"

#define ART_MPU_MAX_PARTS    10000
#define ART_MPU_PRESIGN_SECS 3600
#define ART_MPU_UNSUPPORTED  "Multipart upload is not supported for the current artifact repository"

enum { ART_MPU_CREATE, ART_MPU_COMPLETE, ART_MPU_ABORT };

typedef struct art_mpu {
	cn_art_job job;
	cn_gw_artifacts *ga;
	cn_gw_request *r;
	int kind;
	char path[CAIRN_PATH_MAX + 1]; /* <dir>/<name> under the proxied root */
	char base_url[600];            /* scheme://host of this gateway */
	int64_t num_parts;
	char upload_id[CAIRN_UPLOAD_ID_MAX];
	size_t nparts;
	cairn_mpu_part *parts; /* etags point into etags */
	char *etags;
} art_mpu;

/* Percent-encode s (keeping '/' when keep_slash) onto out. */
static void art_mpu_enc(cn_buf *out, const char *s, bool keep_slash)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
			cn_buf_putc(out, (char)c);
		else
			cn_buf_printf(out, "%%%02X", c);
	}
}

static cn_code art_mpu_create_run(art_mpu *m, cn_store *store, const char *full, cn_err *err)
{
	uint64_t caps = cn_store_caps(store);
	if (!(caps & CAIRN_STORE_CAP_MULTIPART))
		return cn_err_set(err, CN_NOT_IMPLEMENTED, ART_MPU_UNSUPPORTED);
	char id[CAIRN_UPLOAD_ID_MAX];
	cn_code rc = cn_store_mpu_create(store, full, id, sizeof id, err);
	if (rc != CN_OK)
		return rc;
	cn_fb_builder *b = cn_fb_builder_new(1024 + (size_t)m->num_parts * 256);
	cn_fb_ref *creds = calloc((size_t)m->num_parts, sizeof *creds);
	cn_buf url = {0};
	if (!b || !creds)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	bool presign = (caps & CAIRN_STORE_CAP_PRESIGN) != 0;
	for (int64_t i = 1; rc == CN_OK && i <= m->num_parts; i++) {
		cn_buf_reset(&url);
		if (presign) {
			char signed_url[8192];
			rc = cn_store_presign(store, full, "PUT", id, (int)i, ART_MPU_PRESIGN_SECS,
			                      signed_url, sizeof signed_url, err);
			if (rc == CN_NOT_IMPLEMENTED && i == 1) {
				/* A store that presigns only with some credentials (GCS
				 * from the metadata server cannot): the gateway takes the
				 * parts itself. */
				presign = false;
				rc = CN_OK;
				cn_err_clear(err);
			} else {
				cn_buf_puts(&url, signed_url);
			}
		}
		if (!presign) {
			cn_buf_puts(&url, m->base_url);
			cn_buf_puts(&url, "/api/2.0/mlflow-artifacts/mpu/part/");
			art_mpu_enc(&url, m->path, true);
			cn_buf_puts(&url, "?upload_id=");
			art_mpu_enc(&url, id, false);
			cn_buf_printf(&url, "&part_number=%lld", (long long)i);
		}
		if (rc != CN_OK)
			break;
		cn_fb_ref u = cn_fb_create_string(b, url.p ? url.p : "", url.len);
		cn_MultipartUploadHeaders_start(b);
		cn_fb_ref h = cn_MultipartUploadHeaders_end(b);
		cn_MultipartUploadCredential_start(b);
		cn_MultipartUploadCredential_add_url(b, u);
		cn_MultipartUploadCredential_add_part_number(b, i);
		cn_MultipartUploadCredential_add_headers(b, h);
		creds[i - 1] = cn_MultipartUploadCredential_end(b);
	}
	if (rc == CN_OK && cn_buf_failed(&url))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		cn_fb_ref vec = cn_fb_create_vec_refs(b, creds, (size_t)m->num_parts);
		cn_fb_ref uid = cn_fb_create_cstr(b, id);
		cn_CreateMultipartUploadResponse_start(b);
		cn_CreateMultipartUploadResponse_add_upload_id(b, uid);
		cn_CreateMultipartUploadResponse_add_credentials(b, vec);
		art_reply_fb(m->r, CN_TABLE_CreateMultipartUploadResponse, b,
		             cn_CreateMultipartUploadResponse_end(b));
	} else {
		cn_err keep = *err;
		cn_store_mpu_abort(store, full, id, err); /* nothing half-made is left */
		*err = keep;
	}
	cn_buf_free(&url);
	free(creds);
	cn_fb_builder_free(b);
	return rc;
}

static void art_mpu_run(cn_art_job *job)
{
	art_mpu *m = (art_mpu *)job;
	cn_err err;
	cn_err_clear(&err);
	cn_store *store = NULL;
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = art_locate(m->ga, ART_PROXY_ROOT, m->path, &store, full, sizeof full, &err);
	if (rc == CN_OK && !(cn_store_caps(store) & CAIRN_STORE_CAP_MULTIPART))
		rc = cn_err_set(&err, CN_NOT_IMPLEMENTED, ART_MPU_UNSUPPORTED);
	if (rc == CN_OK && m->kind == ART_MPU_CREATE)
		rc = art_mpu_create_run(m, store, full, &err);
	else if (rc == CN_OK && m->kind == ART_MPU_COMPLETE)
		rc = cn_store_mpu_complete(store, full, m->upload_id, m->parts, m->nparts, &err);
	else if (rc == CN_OK)
		rc = cn_store_mpu_abort(store, full, m->upload_id, &err);
	if (rc != CN_OK)
		art_reply_err(m->r, &err);
	else if (m->kind != ART_MPU_CREATE)
		cn_gw_respond(m->r, 200, "application/json", "{}", 2);
	cn_gw_request_unref(m->r);
	free(m->parts);
	free(m->etags);
	free(m);
}

/* The object path: <dir> from the URL, the base name of the body's path. */
static bool art_mpu_target(art_mpu *m, cn_gw_request *r, cn_fb_str local, cn_err *err)
{
	char dir[CAIRN_PATH_MAX + 2];
	if (!art_param_path(r, true, dir, sizeof dir))
		return false;
	size_t b = local.len;
	while (b > 0 && local.ptr[b - 1] != '/' && local.ptr[b - 1] != '\\')
		b--;
	char name[CAIRN_PATH_MAX + 2];
	if (cn_art_path(local.ptr + b, local.len - b, false, false, name, sizeof name, err) !=
	    CN_OK) {
		art_reply_err(r, err);
		return false;
	}
	if ((size_t)snprintf(m->path, sizeof m->path, "%s/%s", dir, name) >= sizeof m->path) {
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
		                    "Invalid path: longer than the limit of 1024 bytes");
		return false;
	}
	return true;
}

static void art_mpu_begin(cn_gw_artifacts *ga, cn_gw_request *r, int kind)
{
	if (art_refuse_unserved(ga, r))
		return;
	static const int tables[] = {CN_TABLE_CreateMultipartUpload,
	                             CN_TABLE_CompleteMultipartUpload,
	                             CN_TABLE_AbortMultipartUpload};
	cn_err err;
	cn_err_clear(&err);
	art_mpu *m = calloc(1, sizeof *m);
	cn_fb_builder *b = cn_fb_builder_new(1024);
	size_t blen;
	const char *body = cn_gw_body(r, &blen);
	cn_fb_ref root = 0;
	const uint8_t *buf = NULL;
	size_t len = 0;
	if (!m || !b) {
		cn_err_set(&err, CN_INTERNAL_ERROR, "out of memory");
	} else if (cn_json_decode(&cn_schema_cairn, tables[kind], body, blen, NULL, 0, b, &root,
	                          &err) == CN_OK &&
	           !cn_fb_finish(b, root, &buf, &len)) {
		cn_err_set(&err, CN_INTERNAL_ERROR, "out of memory");
	}
	if (err.code != CN_OK) {
		art_reply_err(r, &err);
		goto fail;
	}
	m->ga = ga;
	m->r = r;
	m->kind = kind;
	cn_fb_table t = cn_fb_root(buf);
	cn_fb_str local = cn_fb_get_str(t, 0); /* path: field 0 of all three tables */
	if (!art_mpu_target(m, r, local, &err))
		goto fail;
	if (kind == ART_MPU_CREATE) {
		m->num_parts = cn_CreateMultipartUpload_has_num_parts(t)
		                       ? cn_CreateMultipartUpload_num_parts(t)
		                       : 1;
		if (m->num_parts < 1 || m->num_parts > ART_MPU_MAX_PARTS) {
			cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
			                    "num_parts must be between 1 and 10000");
			goto fail;
		}
		const char *host = cn_gw_header(r, "Host");
		const char *proto = cn_gw_header(r, "X-Forwarded-Proto");
		char fallback[64];
		if (!host || !*host || strpbrk(host, "/\\ @")) {
			snprintf(fallback, sizeof fallback, "127.0.0.1:%d", r->gw->port);
			host = fallback;
		}
		snprintf(m->base_url, sizeof m->base_url, "%s://%.500s",
		         proto && strcmp(proto, "https") == 0 ? "https" : "http", host);
	} else {
		cn_fb_str id = cn_fb_get_str(t, 1); /* upload_id: field 1 of both */
		if (!id.ptr || id.len == 0 || id.len >= sizeof m->upload_id) {
			cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
			                    "Missing value for required parameter 'upload_id'.");
			goto fail;
		}
		memcpy(m->upload_id, id.ptr, id.len);
	}
	if (kind == ART_MPU_COMPLETE) {
		cn_fb_vec v = cn_CompleteMultipartUpload_parts(t);
		m->nparts = v.n;
		size_t etags = 0;
		for (uint32_t i = 0; i < v.n; i++)
			etags += cn_MultipartUploadPart_etag(cn_fb_vec_table(v, i)).len + 1;
		m->parts = calloc(m->nparts ? m->nparts : 1, sizeof *m->parts);
		m->etags = malloc(etags ? etags : 1);
		if (!m->parts || !m->etags) {
			cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
			goto fail;
		}
		char *e = m->etags;
		for (uint32_t i = 0; i < v.n; i++) {
			cn_fb_table p = cn_fb_vec_table(v, i);
			int64_t n = cn_MultipartUploadPart_part_number(p);
			cn_fb_str et = cn_MultipartUploadPart_etag(p);
			if (n < 1 || n > ART_MPU_MAX_PARTS) {
				cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
				                    "part_number must be between 1 and 10000");
				goto fail;
			}
			memcpy(e, et.ptr ? et.ptr : "", et.len);
			e[et.len] = '\0';
			m->parts[i].part_number = (int)n;
			m->parts[i].etag = e;
			e += et.len + 1;
		}
	}
	cn_fb_builder_free(b);
	m->job.fn = art_mpu_run;
	cn_gw_request_ref(r);
	cn_art_pool_submit(ga->pool, &m->job);
	return;
fail:
	if (m) {
		free(m->parts);
		free(m->etags);
	}
	free(m);
	cn_fb_builder_free(b);
}

void art_mpu_create(void *arg, cn_gw_request *r)
{
	art_mpu_begin(arg, r, ART_MPU_CREATE);
}

void art_mpu_complete(void *arg, cn_gw_request *r)
{
	art_mpu_begin(arg, r, ART_MPU_COMPLETE);
}

void art_mpu_abort(void *arg, cn_gw_request *r)
{
	art_mpu_begin(arg, r, ART_MPU_ABORT);
}
