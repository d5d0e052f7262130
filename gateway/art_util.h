/*
 * gateway/art_util.h: the pure parts of the artifact routes, kept apart so
 * that they can be unit-tested and fuzzed: artifact paths from URLs, query
 * values, Range headers, content types.
 */
#ifndef CN_GW_ART_UTIL_H
#define CN_GW_ART_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/*
 * An artifact path as a client sent it (percent-encoded, len bytes, not
 * NUL-terminated) into out (cap > CAIRN_PATH_MAX). As MLflow's
 * validate_path_is_safe, the path is percent-decoded until it stops
 * changing (so "%252e%252e" is "..") and then checked: no ".." or "."
 * component, not absolute, no backslash, no '#', no control character
 * (so no NUL), no empty component, at most CAIRN_PATH_MAX bytes. With
 * trim, trailing '/' are dropped first (directory arguments). "" is
 * allowed only with allow_root. Errors: CN_INVALID_PARAMETER_VALUE
 * "Invalid path ...".
 */
cn_code cn_art_path(const char *raw, size_t len, bool trim, bool allow_root, char *out, size_t cap,
                    cn_err *err);

/*
 * Value of key in a query string ("a=1&path=x%2Fy"), form-decoded once
 * ('+' is a space, %XX a byte) into out. Returns 1 when present, 0 when
 * absent, -1 when the decoded value does not fit or contains NUL.
 */
int cn_art_query(const char *q, size_t qlen, const char *key, char *out, size_t cap);

/*
 * A Range header against an object of size bytes:
 *   CN_ART_RANGE_NONE   no header, another unit, several ranges or a
 *                       malformed value: serve the whole object (RFC 9110
 *                       lets a server ignore Range)
 *   CN_ART_RANGE_OK     *first..*last (inclusive) to send with 206
 *   CN_ART_RANGE_UNSAT  a valid range that misses the object: 416
 */
enum { CN_ART_RANGE_NONE, CN_ART_RANGE_OK, CN_ART_RANGE_UNSAT };
int cn_art_range(const char *hdr, uint64_t size, uint64_t *first, uint64_t *last);

/* MLflow's content type for a file name (mlflow/utils/mime_type_utils.py):
 * text/plain for its text extensions and MLmodel/MLproject, the usual type
 * for known extensions, application/octet-stream otherwise. */
const char *cn_art_content_type(const char *name);

#endif
