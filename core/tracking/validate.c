/*
 * core/tracking/validate.c: MLflow's input rules for experiments, with its
 * messages (mlflow/utils/validation.py), so clients see the same errors.
 */
#include <string.h>

#include "core/tracking/tracking_int.h"

#define TRK_MAX_EXPERIMENT_NAME   500
#define TRK_MAX_TAG_KEY           250
#define TRK_MAX_TAG_VALUE         5000
#define TRK_MAX_ARTIFACT_LOCATION 2048

cn_code trk_missing(cn_err *err, const char *param)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Missing value for required parameter '%s'. See the API docs for more "
	                  "information about request parameters.",
	                  param);
}

/* MLflow counts characters (code points), not bytes. */
static size_t trk_utf8_chars(cn_fb_str s)
{
	size_t n = 0;
	for (uint32_t i = 0; i < s.len; i++)
		if (((unsigned char)s.ptr[i] & 0xC0) != 0x80)
			n++;
	return n;
}

cn_code trk_validate_experiment_name(cn_fb_str name, cn_err *err)
{
	if (!name.ptr || name.len == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid experiment name: ''");
	if (trk_utf8_chars(name) > TRK_MAX_EXPERIMENT_NAME)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'name' exceeds the maximum length of %d characters",
		                  TRK_MAX_EXPERIMENT_NAME);
	return CN_OK;
}

/* Param, metric and tag names: alphanumerics (any script, as Python's \w),
 * underscores, dashes, periods, spaces, colons and slashes. */
static bool trk_name_chars_ok(cn_fb_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || strchr("_-. :/", c))
			continue;
		return false;
	}
	return true;
}

/* posixpath.normpath(name) != name, "." or a leading ".." or "/": such names
 * would alias other names when treated as file paths. */
static bool trk_path_not_unique(cn_fb_str s)
{
	if (s.len == 0)
		return true; /* normpath("") == "." */
	if (s.ptr[0] == '/' || s.ptr[s.len - 1] == '/')
		return true;
	uint32_t start = 0;
	for (uint32_t i = 0; i <= s.len; i++) {
		if (i == s.len || s.ptr[i] == '/') {
			uint32_t seg = i - start;
			if (seg == 0)
				return true; /* "//" */
			if (seg == 1 && s.ptr[start] == '.')
				return true;
			if (seg == 2 && s.ptr[start] == '.' && s.ptr[start + 1] == '.')
				return true;
			start = i + 1;
		}
	}
	return false;
}

static cn_code trk_invalid_value(cn_err *err, const char *path, cn_fb_str v, const char *msg)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid value \"%.*s\" for parameter '%s' supplied: %s", (int)v.len,
	                  v.ptr, path, msg);
}

cn_code trk_validate_experiment_tag(cn_fb_str key, cn_fb_str value, cn_err *err)
{
	if (!key.ptr)
		return trk_missing(err, "key");
	if (!trk_name_chars_ok(key))
		return trk_invalid_value(
		        err, "key", key,
		        "Names may only contain alphanumerics, underscores (_), "
		        "dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
	if (trk_path_not_unique(key))
		return trk_invalid_value(err, "key", key,
		                         "Names may be treated as files in certain cases, and must "
		                         "not resolve to other names when treated as such.");
	if (trk_utf8_chars(key) > TRK_MAX_TAG_KEY)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'key' exceeds the maximum length of %d characters",
		                  TRK_MAX_TAG_KEY);
	if (value.ptr && trk_utf8_chars(value) > TRK_MAX_TAG_VALUE)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'value' exceeds the maximum length of %d characters",
		                  TRK_MAX_TAG_VALUE);
	return CN_OK;
}

cn_code trk_validate_artifact_location(cn_fb_str loc, cn_err *err)
{
	if (!loc.ptr || loc.len == 0)
		return CN_OK;
	if (memchr(loc.ptr, '#', loc.len) || memchr(loc.ptr, ';', loc.len))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'artifact_location' URL can't include fragments or params.");
	const char *q = memchr(loc.ptr, '?', loc.len);
	if (q && memmem(q, loc.len - (size_t)(q - loc.ptr), "..", 2))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid query string");
	if (loc.len >= 5 && memcmp(loc.ptr, "runs:", 5) == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Artifact location cannot be a runs:/ URI. Given: '%.*s'",
		                  (int)loc.len, loc.ptr);
	if (loc.len > TRK_MAX_ARTIFACT_LOCATION)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid artifact path length. The length of the artifact path "
		                  "cannot be greater than %d characters.",
		                  TRK_MAX_ARTIFACT_LOCATION);
	return CN_OK;
}

cn_code trk_validate_length(cn_fb_str v, const char *entity, size_t limit, cn_err *err)
{
	size_t n = trk_utf8_chars(v);
	if (n <= limit)
		return CN_OK;
	/* value[:250] in characters */
	uint32_t cut = 0;
	size_t chars = 0;
	while (cut < v.len && !(chars == 250 && ((unsigned char)v.ptr[cut] & 0xC0) != 0x80)) {
		if (((unsigned char)v.ptr[cut] & 0xC0) != 0x80)
			chars++;
		cut++;
	}
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "%s '%.*s' had length %zu, which exceeded length limit of %zu", entity,
	                  (int)cut, v.ptr, n, limit);
}

cn_code trk_validate_entity_key(cn_fb_str key, const char *path, const char *entity, cn_err *err)
{
	if (!key.ptr)
		return trk_missing(err, path);
	if (!trk_name_chars_ok(key))
		return trk_invalid_value(
		        err, path, key,
		        "Names may only contain alphanumerics, underscores (_), "
		        "dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
	if (trk_path_not_unique(key))
		return trk_invalid_value(err, path, key,
		                         "Names may be treated as files in certain cases, and must "
		                         "not resolve to other names when treated as such.");
	return trk_validate_length(key, entity, TRK_MAX_TAG_KEY, err);
}
