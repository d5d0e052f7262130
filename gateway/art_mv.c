/*
 * gateway/art_mv.c: where a model version's files are, for the UI's
 * GET /model-versions/get-artifact. The registry keeps a version's source
 * as given; like MLflow's registry (which stores the resolved location at
 * creation), a runs:/<run_id>/<path> source means the run's artifact URI
 * plus path, and a models:/ source means the source of the version it names.
 * mlflow-artifacts:/ and direct store URIs are then located as any run's.
 */
#include "gateway/art_int.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "schemas/cairn_schema.h"

/* models:/ sources that name other models:/ sources: a bound, not a cycle. */
#define ART_MV_HOPS 4

/* One registry call whose answer is a string field: GetModelVersionDownloadUri
 * (name, version) or ResolveModelUri (name is the models:/ URI). */
static cn_code art_mv_call(cn_gw_artifacts *ga, cn_gw_request *r, const char *name,
                           const char *version, char *out, size_t cap, cn_err *err)
{
	cn_bus_client *c = cn_gw_client(r->gw, "registry");
	if (!c)
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "service 'registry' has no address (set service.registry)");
	cn_fb_builder *b = cn_fb_builder_new(256);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref nref = cn_fb_create_cstr(b, name);
	cn_fb_ref root;
	if (version) {
		cn_fb_ref vref = cn_fb_create_cstr(b, version);
		cn_GetModelVersionDownloadUri_start(b);
		cn_GetModelVersionDownloadUri_add_name(b, nref);
		cn_GetModelVersionDownloadUri_add_version(b, vref);
		root = cn_GetModelVersionDownloadUri_end(b);
	} else {
		cn_ResolveModelUri_start(b);
		cn_ResolveModelUri_add_uri(b, nref);
		root = cn_ResolveModelUri_end(b);
	}
	const uint8_t *buf;
	size_t len;
	if (!cn_fb_finish(b, root, &buf, &len)) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_bus_call call = {
	        .method = version ? "GetModelVersionDownloadUri" : "ResolveModelUri",
	        .request_id = cn_gw_request_id(r),
	        .caller = "",
	        .deadline_ms = cn_now_ms() + ga->timeout_ms,
	        .payload = buf,
	        .payload_len = len,
	};
	cn_bus_reply rep = {0};
	cn_code rc = cn_bus_call_sync(c, &call, &rep, err);
	cn_fb_builder_free(b);
	if (rc != CN_OK)
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE, "%s", err->msg);
	int table = version ? CN_TABLE_GetModelVersionDownloadUriResponse
	                    : CN_TABLE_ResolveModelUriResponse;
	if (rep.code != CN_OK) {
		rc = cn_err_set(err, rep.code, "%s", rep.message ? rep.message : "");
	} else if (cn_fb_verify(&cn_schema_cairn, table, rep.payload, rep.payload_len, err) !=
	           CN_OK) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "registry sent a malformed reply");
	} else {
		cn_fb_table t = cn_fb_root(rep.payload);
		cn_fb_str u = version ? cn_GetModelVersionDownloadUriResponse_artifact_uri(t)
		                      : cn_ResolveModelUriResponse_source(t);
		if (!u.ptr || u.len == 0 || u.len >= cap)
			rc = cn_err_set(err, CN_INTERNAL_ERROR,
			                "model '%.200s' has no usable source", name);
		else {
			memcpy(out, u.ptr, u.len);
			out[u.len] = '\0';
		}
	}
	cn_bus_reply_free(&rep);
	return rc;
}

/* runs:/<run_id>[/<path>] into the run's artifact URI [+ /path]. */
static cn_code art_mv_runs(cn_gw_artifacts *ga, cn_gw_request *r, const char *src, char *uri,
                           size_t cap, cn_err *err)
{
	const char *p = src + strlen("runs:");
	while (*p == '/')
		p++;
	const char *slash = strchr(p, '/');
	size_t idlen = slash ? (size_t)(slash - p) : strlen(p);
	char id[256];
	if (idlen == 0 || idlen >= sizeof id)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Not a valid runs:/ URI: %.300s",
		                  src);
	memcpy(id, p, idlen);
	id[idlen] = '\0';
	char sub[CAIRN_PATH_MAX + 1] = "";
	if (slash && slash[1] &&
	    cn_art_path(slash + 1, strlen(slash + 1), true, true, sub, sizeof sub, err) != CN_OK)
		return err->code;
	cn_code rc = art_entity_uri(ga, r, false, id, uri, cap, err);
	if (rc != CN_OK || !sub[0])
		return rc;
	size_t n = strlen(uri);
	while (n > 0 && uri[n - 1] == '/')
		uri[--n] = '\0';
	if (n + 1 + strlen(sub) >= cap)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "source path too long");
	snprintf(uri + n, cap - n, "/%s", sub);
	return CN_OK;
}

cn_code art_version_uri(cn_gw_artifacts *ga, cn_gw_request *r, const char *name,
                        const char *version, char *uri, size_t cap, cn_err *err)
{
	char src[CN_CFG_STR + 64];
	cn_code rc = art_mv_call(ga, r, name, version, src, sizeof src, err);
	for (int hop = 0; rc == CN_OK && strncmp(src, "models:", 7) == 0; hop++) {
		if (hop == ART_MV_HOPS)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "models:/ sources nest more than %d deep", ART_MV_HOPS);
		char next[sizeof src];
		rc = art_mv_call(ga, r, src, NULL, next, sizeof next, err);
		if (rc == CN_OK)
			memcpy(src, next, sizeof src);
	}
	if (rc != CN_OK)
		return rc;
	if (strncmp(src, "runs:", 5) == 0)
		return art_mv_runs(ga, r, src, uri, cap, err);
	if (strlen(src) >= cap)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "source too long");
	memcpy(uri, src, strlen(src) + 1);
	return CN_OK;
}
