/*
 * core/registry/source.c: MLflow's checks of a new model version's source
 * (mlflow/server/handlers.py: _create_model_version, _validate_source_run,
 * _validate_source_model, _validate_non_local_source_contains_relative_paths).
 *
 *  - MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX, when set, must
 *    match somewhere in the source (POSIX extended syntax here).
 *  - A local source (no scheme, or file:) is accepted only inside the
 *    artifact directory of the run named by run_id (or of the logged model
 *    named by model_id), and only when that directory is local too. The
 *    registry asks the tracking service over the bus (GetRun /
 *    GetLoggedModel) for it; tracking's own error (e.g. the run does not
 *    exist) is the answer. When tracking cannot be reached the call fails
 *    with TEMPORARILY_UNAVAILABLE rather than accept an unchecked local path:
 *    failing closed keeps a client from registering arbitrary server paths.
 *  - Any other source must not climb with `..` segments (plain or
 *    percent-encoded) nor hold a NUL.
 * Paths are compared after lexical normalization (., .., repeated /, made
 * absolute against the working directory); MLflow's Path.resolve() also
 * follows symlinks, which Cairn does not do for paths it never opens.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/codec/codec.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

#define SRC_MAX 4096

static bool src_is_local(const char *src, size_t len)
{
	const char *colon = memchr(src, ':', len);
	if (!colon || colon == src)
		return true;
	for (const char *p = src; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (p > src &&
		       ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
			return true;
	/* A Windows drive letter is a local path too. */
	if (colon - src == 1)
		return true;
	return (size_t)(colon - src) == 4 && !strncasecmp(src, "file", 4);
}

static int src_hex(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* Percent-decoding, repeated until stable (as MLflow unquotes). */
static void src_unquote(char *s)
{
	for (bool changed = true; changed;) {
		changed = false;
		char *w = s;
		for (char *r = s; *r; r++) {
			if (*r == '%' && src_hex(r[1]) >= 0 && src_hex(r[2]) >= 0) {
				*w++ = (char)(src_hex(r[1]) * 16 + src_hex(r[2]));
				r += 2;
				changed = true;
			} else if (*r == '+') {
				*w++ = ' ';
			} else {
				*w++ = *r;
			}
		}
		*w = '\0';
	}
}

/* file:///a/b, file://localhost/a/b or /a/b -> normalized absolute path in
 * out; false when it does not fit. */
bool reg_src_local_path(const char *uri, char *out, size_t cap)
{
	char tmp[SRC_MAX];
	const char *p = uri;
	if (!strncasecmp(p, "file:", 5)) {
		p += 5;
		if (!strncmp(p, "//", 2)) {
			p += 2;
			const char *slash = strchr(p, '/');
			p = slash ? slash : "/";
		}
	}
	int n = snprintf(tmp, sizeof tmp, "%s", p);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return false;
	src_unquote(tmp);
	char joined[SRC_MAX * 2];
	if (tmp[0] == '/') {
		snprintf(joined, sizeof joined, "%s", tmp);
	} else {
		char cwd[SRC_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return false;
		snprintf(joined, sizeof joined, "%s/%s", cwd, tmp);
	}
	/* Lexical normalization into out. */
	size_t o = 0;
	if (cap < 2)
		return false;
	out[o++] = '/';
	for (char *seg = joined; *seg;) {
		while (*seg == '/')
			seg++;
		char *end = seg;
		while (*end && *end != '/')
			end++;
		size_t sl = (size_t)(end - seg);
		if (sl == 0 || (sl == 1 && seg[0] == '.')) {
		} else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
		} else {
			if (o + sl + 2 > cap)
				return false;
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, seg, sl);
			o += sl;
		}
		seg = end;
	}
	out[o] = '\0';
	return true;
}

/* dir equals path or is one of its parents. */
bool reg_src_within(const char *dir, const char *path)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(dir, path, n) && (path[n] == '\0' || path[n] == '/');
}

static cn_code src_local_error(const char *src, const char *by, cn_err *err)
{
	/* MLflow says "of the run" for model_id too. */
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid model version source: '%s'. To use a local path as a model "
	                  "version source, the %s request parameter has to be specified and the "
	                  "local path has to be contained within the artifact directory of the run "
	                  "specified by the %s.",
	                  src, by, by);
}

static cn_code src_relative_error(const char *src, cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid model version source: '%s'. If supplying a source as an http, "
	                  "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
	                  "absolute path must be provided without relative path references "
	                  "present. Please provide an absolute path.",
	                  src);
}

/* The tracking client, opened on first use (the tracking service may start
 * after the registry; its address comes from the configuration). */
static cn_bus_client *src_tracking(reg_state *s, cn_err *err)
{
	pthread_mutex_lock(&s->tracking_mu);
	if (!s->tracking) {
		const char *addr = s->config ? cn_config_service_addr(s->config, "tracking") : NULL;
		if (!addr)
			cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
			           "Cannot validate the model version source: no tracking service "
			           "is configured");
		else if (cn_bus_client_open(&s->tracking, "tracking", addr, NULL, err) != CN_OK)
			s->tracking = NULL;
	}
	cn_bus_client *c = s->tracking;
	pthread_mutex_unlock(&s->tracking_mu);
	return c;
}

/* GetRun / GetLoggedModel over the bus: the artifact location in out. */
static cn_code src_artifact_uri(reg_state *s, bool model, const char *id, char *out, size_t cap,
                                cn_err *err)
{
	cn_bus_client *c = src_tracking(s, err);
	if (!c)
		return err->code ? err->code : CN_TEMPORARILY_UNAVAILABLE;
	cn_fb_builder *b = cn_fb_builder_new(256);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref idr = cn_fb_create_cstr(b, id), root;
	if (model) {
		cn_GetLoggedModel_start(b);
		cn_GetLoggedModel_add_model_id(b, idr);
		root = cn_GetLoggedModel_end(b);
	} else {
		cn_GetRun_start(b);
		cn_GetRun_add_run_id(b, idr);
		root = cn_GetRun_end(b);
	}
	const uint8_t *buf;
	size_t len;
	cn_code rc = cn_fb_finish(b, root, &buf, &len)
	                     ? CN_OK
	                     : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_bus_reply reply = {0};
	if (rc == CN_OK) {
		cn_bus_call call = {model ? "GetLoggedModel" : "GetRun",
		                    NULL,
		                    "registry",
		                    cn_now_ms() + 10000,
		                    buf,
		                    len};
		rc = cn_bus_call_sync(c, &call, &reply, err);
		if (rc != CN_OK)
			rc = cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
			                "Cannot validate the model version source: the tracking "
			                "service did not answer (%s)",
			                err->msg);
	}
	cn_fb_builder_free(b);
	if (rc == CN_OK && reply.code != CN_OK)
		rc = cn_err_set(err, reply.code, "%s", reply.message);
	int table = model ? CN_TABLE_GetLoggedModelResponse : CN_TABLE_GetRunResponse;
	if (rc == CN_OK &&
	    cn_fb_verify(&cn_schema_cairn, table, reply.payload, reply.payload_len, err) != CN_OK)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "malformed reply from tracking");
	if (rc == CN_OK) {
		cn_fb_table r = cn_fb_root(reply.payload);
		cn_fb_str uri =
		        model ? cn_LoggedModelInfo_artifact_uri(
		                        cn_LoggedModel_info(cn_GetLoggedModelResponse_model(r)))
		              : cn_RunInfo_artifact_uri(cn_Run_info(cn_GetRunResponse_run(r)));
		snprintf(out, cap, "%.*s", uri.ptr ? (int)uri.len : 0, uri.ptr ? uri.ptr : "");
	}
	cn_bus_reply_free(&reply);
	return rc;
}

static cn_code src_check_regex(const char *src, cn_err *err)
{
	const char *re = getenv("MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX");
	if (!re || !*re)
		return CN_OK;
	regex_t rx;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX is not a "
		                  "valid regular expression");
	bool ok = regexec(&rx, src, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok ? CN_OK
	          : cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                       "Invalid model version source: '%s'.", src);
}

/* After unquoting: a NUL, or a `..` or `.` path segment (MLflow compares
 * the path with its resolved form, which has neither). */
static bool src_climbs(const char *src)
{
	char tmp[SRC_MAX];
	size_t n = strlen(src);
	if (n >= sizeof tmp || strstr(src, "%00"))
		return true;
	memcpy(tmp, src, n + 1);
	src_unquote(tmp);
	/* The path starts after "scheme://host" or "scheme:". */
	char *p = strstr(tmp, "://");
	p = p ? strchr(p + 3, '/') : strchr(tmp, ':') + 1;
	for (char *seg = p; seg && *seg;) {
		char *end = strpbrk(seg, "/?#");
		size_t sl = end ? (size_t)(end - seg) : strlen(seg);
		if ((sl == 2 && seg[0] == '.' && seg[1] == '.') || (sl == 1 && seg[0] == '.'))
			return true;
		if (end && *end != '/')
			break;
		seg = end ? end + 1 : NULL;
	}
	return false;
}

cn_code reg_validate_source(reg_state *s, cn_fb_str source, cn_fb_str run_id, cn_fb_str model_id,
                            bool prompt, cn_err *err)
{
	char src[SRC_MAX];
	if (source.len >= sizeof src)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid model version source: longer than %d bytes",
		                  SRC_MAX - 1);
	snprintf(src, sizeof src, "%.*s", (int)source.len, source.ptr);
	cn_code rc = src_check_regex(src, err);
	/* Prompts' versions are not validated (MLflow). */
	if (rc != CN_OK || prompt)
		return rc;
	bool by_model = model_id.ptr && model_id.len;
	cn_fb_str id = by_model ? model_id : run_id;
	const char *by = by_model ? "model_id" : "run_id";
	if (!src_is_local(source.ptr, source.len))
		return src_climbs(src) ? src_relative_error(src, err) : CN_OK;
	if (!id.ptr || !id.len)
		return src_local_error(src, by, err);
	char idz[256], where[SRC_MAX], path[SRC_MAX], dir[SRC_MAX];
	snprintf(idz, sizeof idz, "%.*s", (int)(id.len < 255 ? id.len : 255), id.ptr);
	rc = src_artifact_uri(s, by_model, idz, where, sizeof where, err);
	if (rc != CN_OK)
		return rc;
	if (!reg_src_local_path(src, path, sizeof path))
		return src_local_error(src, by, err);
	if (src_is_local(where, strlen(where)) && reg_src_local_path(where, dir, sizeof dir) &&
	    reg_src_within(dir, path))
		return CN_OK;
	/* MLflow's message shows the resolved path. */
	return src_local_error(path, by, err);
}
