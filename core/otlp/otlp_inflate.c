/*
 * core/otlp/otlp_inflate.c: Content-Encoding gzip and deflate (zlib), with
 * the output capped so that a small compressed body cannot expand into
 * gigabytes (a "zip bomb").
 */
#include "core/otlp/otlp.h"

#include <zlib.h>

cn_code cn_otlp_inflate(const void *in, size_t len, size_t max, cn_buf *out, cn_err *err)
{
	z_stream z = {0};
	/* 15 + 32: zlib or gzip header, detected. */
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	z.next_in = (Bytef *)in;
	size_t left = len;
	size_t start = out->len;
	cn_code rc = CN_OK;
	int zr = Z_OK;
	while (zr != Z_STREAM_END) {
		if (z.avail_in == 0) {
			z.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
			left -= z.avail_in;
		}
		size_t have = out->len - start;
		if (have >= max) {
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "OTLP request body is over the limit of %zu bytes once "
			                "decompressed",
			                max);
			break;
		}
		size_t room = max - have < ((size_t)1 << 20) ? max - have + 1 : (size_t)1 << 20;
		if (!cn_buf_reserve(out, room + 1)) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		z.next_out = (Bytef *)out->p + out->len;
		z.avail_out = (uInt)room;
		zr = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		out->p[out->len] = '\0';
		if (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0)
			zr = Z_DATA_ERROR; /* truncated */
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			rc = cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Content-Encoding: the body is not valid gzip/deflate data");
			break;
		}
	}
	if (rc == CN_OK && out->len - start > max)
		rc = cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "OTLP request body is over the limit of %zu bytes once decompressed", max);
	inflateEnd(&z);
	return rc;
}
