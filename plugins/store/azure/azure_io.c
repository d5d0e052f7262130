/*
 * plugins/store/azure/azure_io.c: reading and writing blobs, multipart
 * uploads on blocks, presigned (service SAS) URLs.
 *
 * Writing: a writer buffers one block (store.azure.block_size) at a time,
 * never the whole object. An object that fits in one block is one Put Blob
 * at commit; a bigger one is staged with Put Block as each block fills and
 * published with Put Block List at commit. Both are atomic: readers see the
 * old blob or the whole new one. Abort commits nothing; staged blocks that
 * are never committed are discarded by the service (after a week, or at the
 * blob's next commit) and are never visible. Because every commit drops
 * the blob's other staged blocks, two staged uploads of one blob at once
 * cannot both succeed: the first to commit wins whole and the other's
 * commit fails (IO, "another writer replaced the blob"); the blob is never
 * a mix. Objects up to one block are single Put Blobs and do not conflict.
 *
 * Block ids: base64 of "<upload id>-<part>-<block>" (32 hex digits, %05d,
 * %05d): one length for every block of every upload, as the service wants
 * of all blocks of a blob. A plain put is part 0 of its own random upload.
 *
 * Multipart: an upload id is 32 random hex digits and nothing on the
 * service. Part N is one or more blocks "<id>-N-0", "<id>-N-1", ... A part
 * written through Cairn returns the ETag "cairn-blocks-<count>"; a part
 * PUT by a client through a presigned URL is the single block "<id>-N-0".
 * Complete commits the blocks of the listed parts in part order.
 *
 * Reading: ranged Get Blob (x-ms-range) of store.azure.read_chunk bytes at
 * a time; every chunk after the first carries If-Match with the first's
 * ETag, so a blob replaced mid-read fails the read instead of mixing two
 * versions.
 */
#include "azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AZ_MPU_ETAG_PREFIX "cairn-blocks-"
#define AZ_PRESIGN_MAX_S   (7 * 24 * 3600)

struct cairn_store_writer {
	cairn_store *s;
	char *blob;
	char *path; /* for messages */
	char upload_id[AZ_UPLOAD_ID_LEN + 1];
	int part; /* 0: a plain put */
	int64_t part_size;
	int64_t written;
	uint8_t *buf;
	size_t len, cap, block;
	int nblocks;
};

struct cairn_store_reader {
	cairn_store *s;
	char *blob;
	char *path;
	char etag[128];
	int64_t next; /* offset of the next byte to fetch */
	int64_t end;  /* end of the range (exclusive) */
	az_buf buf;
	size_t off; /* bytes of buf already given */
};

static bool az_upload_id_ok(const char *id)
{
	if (!id || strlen(id) != AZ_UPLOAD_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int az_new_upload_id(const cairn_host_api *host, char out[AZ_UPLOAD_ID_LEN + 1],
                            cairn_error *err)
{
	uint8_t rnd[AZ_UPLOAD_ID_LEN / 2];
	if (host->random_bytes(rnd, sizeof rnd) != CAIRN_OK)
		return cairn_error_set(err, CAIRN_ERR_IO, "no random bytes for an upload id");
	for (size_t i = 0; i < sizeof rnd; i++) {
		out[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	out[AZ_UPLOAD_ID_LEN] = '\0';
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* Writing */

static void az_writer_free(cairn_store_writer *w)
{
	free(w->buf);
	free(w->blob);
	free(w->path);
	free(w);
}

static int az_writer_new(cairn_store *s, const char *path, int64_t size_hint,
                         cairn_store_writer **out, cairn_error *err)
{
	cairn_store_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->blob = az_blob_name(s, path)) || !(w->path = strdup(path))) {
		if (w)
			az_writer_free(w);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	w->s = s;
	w->part_size = -1;
	/* Big enough that a known size fits in the service's 50,000 blocks. */
	int64_t block = (int64_t)s->cfg.block_size;
	if (size_hint > block * AZ_MAX_BLOCKS) {
		block = (size_hint + AZ_MAX_BLOCKS - 1) / AZ_MAX_BLOCKS;
		block = (block + (1 << 20) - 1) & ~(int64_t)((1 << 20) - 1);
		if (block > AZ_MAX_BLOCK_BYTES)
			block = AZ_MAX_BLOCK_BYTES;
	}
	w->block = (size_t)block;
	*out = w;
	return CAIRN_OK;
}

int az_put_begin(cairn_store *s, const char *path, int64_t size_hint, cairn_store_writer **out,
                 cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	cairn_store_writer *w = NULL;
	int rc = az_writer_new(s, path, size_hint, &w, err);
	if (rc == CAIRN_OK && (rc = az_new_upload_id(s->host, w->upload_id, err)) != CAIRN_OK)
		az_writer_free(w);
	if (rc == CAIRN_OK)
		*out = w;
	return rc;
}

/* Put Block of the buffered bytes as block number nblocks of the part. */
static int az_stage_block(cairn_store_writer *w, cairn_error *err)
{
	if (w->nblocks >= AZ_MAX_BLOCKS)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "'%.300s' needs more than %d blocks of %zu bytes", w->path,
		                       AZ_MAX_BLOCKS, w->block);
	char id[AZ_BLOCK_ID_B64_CAP + 8];
	az_block_id(w->upload_id, w->part, w->nblocks, id, sizeof id, w->s->host);
	az_kv q[] = {{"blockid", id}, {"comp", "block"}};
	az_call c = {.method = "PUT",
	             .blob = w->blob,
	             .query = q,
	             .nquery = 2,
	             .body = w->buf,
	             .body_len = w->len};
	int rc = az_send(w->s->host, &w->s->cfg, &c, err);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status != 201)
		return az_fail(&c, "put block of", w->path, err);
	w->nblocks++;
	w->len = 0;
	return CAIRN_OK;
}

int az_put_write(cairn_store_writer *w, const void *data, size_t len, cairn_error *err)
{
	const uint8_t *p = data;
	while (len > 0) {
		if (w->len == w->block) {
			int rc = az_stage_block(w, err);
			if (rc != CAIRN_OK)
				return rc;
		}
		if (w->len == w->cap) { /* grow toward one block, not past it */
			size_t cap = w->cap ? w->cap * 2 : 64 << 10;
			if (cap > w->block)
				cap = w->block;
			uint8_t *b = realloc(w->buf, cap);
			if (!b)
				return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
			w->buf = b;
			w->cap = cap;
		}
		size_t n = w->cap - w->len < len ? w->cap - w->len : len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		w->written += (int64_t)n;
		p += n;
		len -= n;
	}
	return CAIRN_OK;
}

/* Put Block List of ids (nids base64 block ids, in order); staged: a plain
 * put's own blocks (else a multipart upload's). */
static int az_commit_blocks(cairn_store *s, const char *blob, const char *path, char **ids,
                            size_t nids, bool staged, cairn_error *err)
{
	static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
	static const char tail[] = "</BlockList>";
	size_t cap = sizeof head + sizeof tail + nids * (AZ_BLOCK_ID_B64_CAP + 20);
	char *xml = malloc(cap);
	if (!xml)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	size_t n = (size_t)snprintf(xml, cap, "%s", head);
	for (size_t i = 0; i < nids; i++)
		n += (size_t)snprintf(xml + n, cap - n, "<Latest>%s</Latest>", ids[i]);
	n += (size_t)snprintf(xml + n, cap - n, "%s", tail);
	az_kv q[] = {{"comp", "blocklist"}};
	az_kv h[] = {{"x-ms-blob-content-type", "application/octet-stream"}};
	az_call c = {.method = "PUT",
	             .blob = blob,
	             .query = q,
	             .nquery = 1,
	             .headers = h,
	             .nheaders = 1,
	             .content_type = "application/xml",
	             .body = xml,
	             .body_len = n};
	int rc = az_send(s->host, &s->cfg, &c, err);
	free(xml);
	if (rc != CAIRN_OK)
		return rc;
	if (c.status == 201)
		return CAIRN_OK;
	if (c.status == 400 && strstr(c.err_body, "InvalidBlockList"))
		return staged ? cairn_error_set(err, CAIRN_ERR_IO,
		                                "commit '%.300s': another writer replaced the blob "
		                                "while this upload was staged (each commit drops "
		                                "the blob's staged blocks); nothing was published",
		                                path)
		              : cairn_error_set(err, CAIRN_ERR_NOT_FOUND,
		                                "commit '%.300s': a part of the upload is missing "
		                                "(never uploaded, or dropped because the blob was "
		                                "written since)",
		                                path);
	return az_fail(&c, "commit", path, err);
}

static void az_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The ids of blocks 0..count-1 of a part, appended to *ids. */
static int az_ids_add(const cairn_host_api *host, const char *upload_id, int part, int count,
                      char ***ids, size_t *n, cairn_error *err)
{
	char **v = realloc(*ids, (*n + (size_t)count) * sizeof *v);
	if (!v)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	*ids = v;
	for (int i = 0; i < count; i++) {
		char *id = malloc(AZ_BLOCK_ID_B64_CAP + 8);
		if (!id)
			return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
		az_block_id(upload_id, part, i, id, AZ_BLOCK_ID_B64_CAP + 8, host);
		v[(*n)++] = id;
	}
	return CAIRN_OK;
}

int az_put_commit(cairn_store_writer *w, cairn_error *err)
{
	int rc;
	if (w->nblocks == 0) {
		az_kv h[] = {{"x-ms-blob-type", "BlockBlob"}};
		az_call c = {.method = "PUT",
		             .blob = w->blob,
		             .headers = h,
		             .nheaders = 1,
		             .content_type = "application/octet-stream",
		             .body = w->buf,
		             .body_len = w->len};
		rc = az_send(w->s->host, &w->s->cfg, &c, err);
		if (rc == CAIRN_OK && c.status != 201)
			rc = az_fail(&c, "put", w->path, err);
	} else {
		rc = w->len ? az_stage_block(w, err) : CAIRN_OK;
		char **ids = NULL;
		size_t nids = 0;
		if (rc == CAIRN_OK)
			rc = az_ids_add(w->s->host, w->upload_id, 0, w->nblocks, &ids, &nids, err);
		if (rc == CAIRN_OK)
			rc = az_commit_blocks(w->s, w->blob, w->path, ids, nids, true, err);
		az_ids_free(ids, nids);
	}
	az_writer_free(w);
	return rc;
}

void az_put_abort(cairn_store_writer *w)
{
	az_writer_free(w); /* nothing was committed; staged blocks stay invisible */
}

/* ------------------------------------------------------------------------ */
/* Multipart */

int az_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (cap <= AZ_UPLOAD_ID_LEN)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "upload id buffer too small");
	return az_new_upload_id(s->host, upload_id, err);
}

static int az_unknown_upload(cairn_error *err, const char *upload_id)
{
	return cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "unknown upload id '%.64s'",
	                       upload_id ? upload_id : "(null)");
}

int az_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id, int part_number,
                      int64_t size, cairn_store_writer **out, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (!az_upload_id_ok(upload_id))
		return az_unknown_upload(err, upload_id);
	if (part_number < 1 || part_number > 10000)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "part number %d not in 1..10000",
		                       part_number);
	cairn_store_writer *w = NULL;
	int rc = az_writer_new(s, path, -1, &w, err);
	if (rc != CAIRN_OK || !w)
		return rc != CAIRN_OK ? rc : cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "no writer");
	memcpy(w->upload_id, upload_id, AZ_UPLOAD_ID_LEN + 1);
	w->part = part_number;
	w->part_size = size;
	*out = w;
	return CAIRN_OK;
}

int az_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err)
{
	int rc = CAIRN_OK;
	if (w->part_size >= 0 && w->written != w->part_size)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "part %d of '%.300s': %lld bytes written, %lld announced",
		                     w->part, w->path, (long long)w->written,
		                     (long long)w->part_size);
	if (rc == CAIRN_OK && (w->len || w->nblocks == 0))
		rc = az_stage_block(w, err);
	if (rc == CAIRN_OK && snprintf(etag, cap, AZ_MPU_ETAG_PREFIX "%d", w->nblocks) >= (int)cap)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "ETag buffer too small");
	az_writer_free(w);
	return rc;
}

static int az_part_cmp(const void *a, const void *b)
{
	const cairn_mpu_part *x = a, *y = b;
	return (x->part_number > y->part_number) - (x->part_number < y->part_number);
}

int az_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                    const cairn_mpu_part *parts, size_t nparts, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (!az_upload_id_ok(upload_id))
		return az_unknown_upload(err, upload_id);
	if (nparts == 0 || nparts > 10000)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "%zu parts (want 1..10000)", nparts);
	cairn_mpu_part *sorted = malloc(nparts * sizeof *sorted);
	if (!sorted)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	memcpy(sorted, parts, nparts * sizeof *sorted);
	qsort(sorted, nparts, sizeof *sorted, az_part_cmp);
	char **ids = NULL;
	size_t nids = 0;
	int rc = CAIRN_OK;
	for (size_t i = 0; rc == CAIRN_OK && i < nparts; i++) {
		int pn = sorted[i].part_number, count = 1;
		if (pn < 1 || pn > 10000 || (i > 0 && pn == sorted[i - 1].part_number)) {
			rc = cairn_error_set(err, CAIRN_ERR_INVALID,
			                     "part number %d repeated or not in 1..10000", pn);
			break;
		}
		const char *e = sorted[i].etag;
		size_t pl = strlen(AZ_MPU_ETAG_PREFIX);
		if (e && strncmp(e, AZ_MPU_ETAG_PREFIX, pl) == 0) {
			char *end = NULL;
			long v = strtol(e + pl, &end, 10);
			if (*end || v < 1 || v > AZ_MAX_BLOCKS) {
				rc = cairn_error_set(err, CAIRN_ERR_INVALID, "bad ETag for part %d",
				                     pn);
				break;
			}
			count = (int)v;
		}
		rc = az_ids_add(s->host, upload_id, pn, count, &ids, &nids, err);
	}
	free(sorted);
	char *blob = rc == CAIRN_OK ? az_blob_name(s, path) : NULL;
	if (rc == CAIRN_OK && !blob)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK)
		rc = az_commit_blocks(s, blob, path, ids, nids, false, err);
	free(blob);
	az_ids_free(ids, nids);
	return rc;
}

int az_mpu_abort(cairn_store *s, const char *path, const char *upload_id, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (!az_upload_id_ok(upload_id))
		return az_unknown_upload(err, upload_id);
	/* The service has no call to drop uncommitted blocks: they were never
	 * visible and are discarded at the blob's next commit or in a week. */
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* Presigned URLs */

int az_presign(cairn_store *s, const char *path, const char *method, const char *upload_id,
               int part_number, int64_t expires_s, char *url, size_t cap, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (!s->cfg.key_len)
		return cairn_error_set(err, CAIRN_ERR_UNSUPPORTED,
		                       "presigned URLs need the storage account key (a SAS token "
		                       "or anonymous access cannot sign new ones)");
	bool put = method && !strcmp(method, "PUT");
	if (!put && !(method && !strcmp(method, "GET")))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "presign: method must be GET or PUT");
	if (expires_s < 1 || expires_s > AZ_PRESIGN_MAX_S)
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "presign: expiry must be 1..%d seconds", AZ_PRESIGN_MAX_S);
	char block[AZ_BLOCK_ID_B64_CAP + 8] = "", block_enc[3 * sizeof block];
	if (upload_id) {
		if (!put)
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "presign: a part URL is for PUT");
		if (!az_upload_id_ok(upload_id))
			return az_unknown_upload(err, upload_id);
		if (part_number < 1 || part_number > 10000)
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "part number %d not in 1..10000", part_number);
		az_block_id(upload_id, part_number, 0, block, sizeof block, s->host);
		az_url_encode(block, strlen(block), false, block_enc, sizeof block_enc);
	}
	char *blob = az_blob_name(s, path);
	if (!blob)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	char expiry[24], sas[512];
	az_iso8601(s->host->now_ms() + expires_s * 1000, expiry);
	int rc = az_service_sas(s->host, s->cfg.account, s->cfg.key, s->cfg.key_len,
	                        s->cfg.container, blob, put ? "cw" : "r", expiry, sas, sizeof sas);
	size_t blen = strlen(blob), need = strlen(s->cfg.endpoint) + strlen(s->cfg.container) +
	                                   3 * blen + strlen(sas) + strlen(block_enc) + 32;
	char *enc = rc == CAIRN_OK ? malloc(3 * blen + 1) : NULL;
	if (rc == CAIRN_OK && !enc)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc == CAIRN_OK) {
		az_url_encode(blob, blen, true, enc, 3 * blen + 1);
		int n = upload_id ? snprintf(url, cap, "%s/%s/%s?comp=block&blockid=%s&%s",
		                             s->cfg.endpoint, s->cfg.container, enc, block_enc, sas)
		                  : snprintf(url, cap, "%s/%s/%s?%s", s->cfg.endpoint,
		                             s->cfg.container, enc, sas);
		if (n < 0 || (size_t)n >= cap) {
			if (cap)
				url[0] = '\0';
			rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
			                     "presign: URL buffer too small (%zu bytes needed)",
			                     need);
		}
	} else if (rc != CAIRN_OK && !(err && err->code)) {
		cairn_error_set(err, rc, "presign: SAS too long");
	}
	free(enc);
	free(blob);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading */

static void az_reader_free(cairn_store_reader *r)
{
	free(r->buf.p);
	free(r->blob);
	free(r->path);
	free(r);
}

/* Get Blob of [from, to] (inclusive) into r->buf. */
static int az_fetch(cairn_store_reader *r, int64_t from, int64_t to, bool check_etag, az_call *c,
                    cairn_error *err)
{
	char range[64];
	snprintf(range, sizeof range, "bytes=%lld-%lld", (long long)from, (long long)to);
	az_kv h[] = {{"x-ms-range", range}};
	r->buf.max = (size_t)(to - from + 1);
	r->off = 0;
	*c = (az_call){.method = "GET",
	               .blob = r->blob,
	               .headers = h,
	               .nheaders = 1,
	               .if_match = check_etag && r->etag[0] ? r->etag : NULL,
	               .out = &r->buf};
	return az_send(r->s->host, &r->s->cfg, c, err);
}

/* The total size from "bytes a-b/total"; -1 when absent. */
static int64_t az_range_total(const char *cr)
{
	const char *slash = strchr(cr, '/');
	if (!slash || slash[1] == '*')
		return -1;
	return strtoll(slash + 1, NULL, 10);
}

int az_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                cairn_store_reader **out, cairn_object_info *info, cairn_error *err)
{
	if (!az_path_ok(path, false))
		return az_bad_path(err, path);
	if (offset < 0 || length < -1)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad range");
	cairn_store_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->blob = az_blob_name(s, path)) || !(r->path = strdup(path))) {
		if (r)
			az_reader_free(r);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	r->s = s;
	int64_t chunk = (int64_t)s->cfg.read_chunk;
	int64_t want_end = length < 0 || length > chunk ? offset + chunk : offset + length;
	az_call c;
	int rc = CAIRN_OK;
	bool need_head = length == 0;
	if (!need_head) {
		rc = az_fetch(r, offset, want_end - 1, false, &c, err);
		if (rc == CAIRN_OK && c.status == 206) {
			int64_t total = az_range_total(c.content_range);
			if (total < 0 || c.is_folder) {
				rc = c.is_folder ? cairn_error_set(err, CAIRN_ERR_INVALID,
				                                   "'%.300s' is a directory", path)
				                 : cairn_error_set(err, CAIRN_ERR_IO,
				                                   "get '%.300s': no Content-Range",
				                                   path);
			} else {
				snprintf(r->etag, sizeof r->etag, "%s", c.etag);
				info->size = total;
				int64_t m = az_parse_http_date(c.last_modified,
				                               strlen(c.last_modified));
				info->mtime_ms = m < 0 ? 0 : m;
				info->is_dir = 0;
				r->end = length < 0 || offset + length > total ? total
				                                               : offset + length;
				r->next = offset + (int64_t)r->buf.len;
			}
		} else if (rc == CAIRN_OK && c.status == 416) {
			need_head = true; /* offset at or past the end; an empty blob */
		} else if (rc == CAIRN_OK && c.status == 404) {
			rc = cairn_error_set(err, CAIRN_ERR_NOT_FOUND, "no artifact at '%.300s'",
			                     path);
		} else if (rc == CAIRN_OK) {
			rc = az_fail(&c, "get", path, err);
		}
	}
	if (rc == CAIRN_OK && need_head) {
		rc = az_head(s, r->blob, path, info, r->etag, sizeof r->etag, err);
		if (rc == CAIRN_OK && info->is_dir)
			rc = cairn_error_set(err, CAIRN_ERR_INVALID, "'%.300s' is a directory",
			                     path);
		else if (rc == CAIRN_OK && offset > info->size)
			rc = cairn_error_set(err, CAIRN_ERR_INVALID,
			                     "range offset %lld is past the end of '%.300s' (%lld "
			                     "bytes)",
			                     (long long)offset, path, (long long)info->size);
		r->next = r->end = offset;
		r->buf.len = 0;
	}
	if (rc != CAIRN_OK) {
		az_reader_free(r);
		return rc;
	}
	*out = r;
	return CAIRN_OK;
}

int az_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err)
{
	*n = 0;
	if (r->off == r->buf.len) {
		if (r->next >= r->end)
			return CAIRN_OK;
		int64_t to = r->next + (int64_t)r->s->cfg.read_chunk;
		if (to > r->end)
			to = r->end;
		az_call c;
		int rc = az_fetch(r, r->next, to - 1, true, &c, err);
		if (rc != CAIRN_OK)
			return rc;
		if (c.status == 412)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "'%.300s' was replaced while being read", r->path);
		if (c.status != 206)
			return az_fail(&c, "get", r->path, err);
		if (r->buf.len == 0)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "get '%.300s': empty range answer", r->path);
		r->next += (int64_t)r->buf.len;
	}
	size_t left = r->buf.len - r->off;
	size_t k = left < cap ? left : cap;
	memcpy(buf, r->buf.p + r->off, k);
	r->off += k;
	*n = k;
	return CAIRN_OK;
}

void az_get_close(cairn_store_reader *r)
{
	az_reader_free(r);
}
