/*
 * gateway/artifacts.c: the artifact routes -- table, modes, and the calls
 * that are one store operation each (list, delete) or need the run first
 * (/mlflow/artifacts/list). Streams are in art_put.c and art_get.c.
 */
#include "gateway/art_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/log.h"
#include "schemas/cairn_schema.h"

/* ---- shared helpers ------------------------------------------------------- */

bool art_refuse_unserved(cn_gw_artifacts *ga, cn_gw_request *r)
{
	if (ga->serve && ga->arts)
		return false;
	size_t n;
	const char *path = cn_gw_path(r, &n);
	char msg[600];
	snprintf(msg, sizeof msg,
	         "Endpoint: %.400s disabled due to the Cairn server running with "
	         "serve_artifacts off (--no-serve-artifacts). To enable artifacts server "
	         "functionality, set serve_artifacts (--serve-artifacts)",
	         path);
	cn_gw_respond_error(r, CN_TEMPORARILY_UNAVAILABLE, msg);
	return true;
}

static bool art_refuse_no_tracking(cn_gw_artifacts *ga, cn_gw_request *r)
{
	if (!ga->artifacts_only && ga->arts)
		return false;
	size_t n;
	const char *path = cn_gw_path(r, &n);
	char msg[600];
	snprintf(msg, sizeof msg,
	         "Endpoint: %.400s disabled due to the Cairn server running in artifacts_only "
	         "mode (--artifacts-only). To enable tracking server functionality, run "
	         "without --artifacts-only",
	         path);
	cn_gw_respond_error(r, CN_TEMPORARILY_UNAVAILABLE, msg);
	return true;
}

bool art_param_path(cn_gw_request *r, bool trim, char *out, size_t cap)
{
	size_t len = 0;
	const char *raw = cn_gw_param_raw(r, "path", &len);
	cn_err err;
	cn_err_clear(&err);
	if (!raw) {
		raw = "";
		len = 0;
	}
	if (cn_art_path(raw, len, trim, false, out, cap, &err) != CN_OK) {
		art_reply_err(r, &err);
		return false;
	}
	return true;
}

cn_code art_locate(cn_gw_artifacts *ga, const char *uri, const char *path, cn_store **store,
                   char *out, size_t cap, cn_err *err)
{
	return cn_artifacts_locate(ga->arts, uri, path, store, out, cap, err);
}

void art_reply_err(cn_gw_request *r, const cn_err *err)
{
	cn_code code = err->code == CN_OK ? CN_INTERNAL_ERROR : err->code;
	/* Store and bus failures are the operator's business; bad paths are not. */
	if (cn_code_http_status(code) >= 500)
		CN_LOGW("ARTIFACT-ERROR", cn_gw_request_id(r), "%s: %s", cn_code_name(code),
		        err->msg);
	cn_gw_respond_error(r, code, err->msg);
}

void art_reply_fb(cn_gw_request *r, int table, cn_fb_builder *b, cn_fb_ref root)
{
	const uint8_t *buf = NULL;
	size_t len = 0;
	cn_buf out = {0};
	if (!cn_fb_finish(b, root, &buf, &len) ||
	    cn_json_encode(&cn_schema_cairn, table, cn_fb_root(buf), &out) != CN_OK ||
	    cn_buf_failed(&out)) {
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory encoding the reply");
	} else {
		cn_gw_respond(r, 200, "application/json", out.p ? out.p : "{}",
		              out.p ? out.len : 2);
	}
	cn_buf_free(&out);
}

/* ---- one-operation calls on the pool --------------------------------------- */

enum { ART_LIST, ART_DELETE, ART_RUN_LIST, ART_MODEL_LIST };

typedef struct art_call {
	cn_art_job job;
	cn_gw_artifacts *ga;
	cn_gw_request *r;
	int kind;
	char path[CAIRN_PATH_MAX + 1];
	char run_id[256];
} art_call;

/* Entries of a listing, built into a FlatBuffer as they come. */
typedef struct art_list_acc {
	cn_fb_builder *b;
	cn_fb_ref *refs;
	size_t n, cap;
	size_t strip;       /* bytes of the store path not shown (the listed dir + '/') */
	const char *prefix; /* shown before the rest ("" or "<sub>/") */
	bool failed;
} art_list_acc;

static int art_list_entry(void *arg, const cairn_list_entry *e)
{
	art_list_acc *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		cn_fb_ref *v = realloc(a->refs, cap * sizeof *v);
		if (!v) {
			a->failed = true;
			return 1;
		}
		a->refs = v;
		a->cap = cap;
	}
	const char *rest = e->path + (strlen(e->path) >= a->strip ? a->strip : 0);
	char shown[2 * CAIRN_PATH_MAX + 2];
	snprintf(shown, sizeof shown, "%s%s", a->prefix, rest);
	cn_fb_ref p = cn_fb_create_cstr(a->b, shown);
	cn_ArtifactFileInfo_start(a->b);
	cn_ArtifactFileInfo_add_path(a->b, p);
	cn_ArtifactFileInfo_add_is_dir(a->b, e->is_dir != 0);
	if (!e->is_dir)
		cn_ArtifactFileInfo_add_file_size(a->b, e->size);
	a->refs[a->n++] = cn_ArtifactFileInfo_end(a->b);
	return 0;
}

/* List dir of store into acc (all pages). */
static cn_code art_list_all(cn_store *store, const char *dir, art_list_acc *acc, cn_err *err)
{
	char token[CAIRN_PAGE_TOKEN_MAX] = "";
	do {
		char next[CAIRN_PAGE_TOKEN_MAX];
		cn_code rc = cn_store_list(store, dir, token, 1000, art_list_entry, acc, next,
		                           sizeof next, err);
		if (acc->failed)
			return cn_err_set(err, CN_INTERNAL_ERROR,
			                  "out of memory listing artifacts");
		if (rc != CN_OK)
			return rc;
		memcpy(token, next, sizeof token);
	} while (token[0]);
	return CN_OK;
}

/* The artifact URI of a run (GetRun) or a logged model (GetLoggedModel,
 * when model is true), asked of the tracking service (blocking: worker). */
cn_code art_entity_uri(cn_gw_artifacts *ga, cn_gw_request *r, bool model, const char *id, char *uri,
                       size_t cap, cn_err *err)
{
	cn_bus_client *c = cn_gw_client(r->gw, "tracking");
	if (!c)
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "service 'tracking' has no address (set service.tracking)");
	cn_fb_builder *b = cn_fb_builder_new(256);
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_fb_ref idref = cn_fb_create_cstr(b, id);
	cn_fb_ref root;
	if (model) {
		cn_GetLoggedModel_start(b);
		cn_GetLoggedModel_add_model_id(b, idref);
		root = cn_GetLoggedModel_end(b);
	} else {
		cn_GetRun_start(b);
		cn_GetRun_add_run_id(b, idref);
		root = cn_GetRun_end(b);
	}
	const uint8_t *buf;
	size_t len;
	cn_code rc = CN_OK;
	if (!cn_fb_finish(b, root, &buf, &len)) {
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_bus_call call = {
	        .method = model ? "GetLoggedModel" : "GetRun",
	        .request_id = cn_gw_request_id(r),
	        .caller = "",
	        .deadline_ms = cn_now_ms() + ga->timeout_ms,
	        .payload = buf,
	        .payload_len = len,
	};
	cn_bus_reply rep = {0};
	rc = cn_bus_call_sync(c, &call, &rep, err);
	cn_fb_builder_free(b);
	if (rc != CN_OK)
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE, "%s", err->msg);
	int table = model ? CN_TABLE_GetLoggedModelResponse : CN_TABLE_GetRunResponse;
	if (rep.code != CN_OK) {
		rc = cn_err_set(err, rep.code, "%s", rep.message ? rep.message : "");
	} else if (cn_fb_verify(&cn_schema_cairn, table, rep.payload, rep.payload_len, err) !=
	           CN_OK) {
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "tracking sent a malformed reply");
	} else {
		cn_fb_table t = cn_fb_root(rep.payload);
		cn_fb_str u =
		        model ? cn_LoggedModelInfo_artifact_uri(
		                        cn_LoggedModel_info(cn_GetLoggedModelResponse_model(t)))
		              : cn_RunInfo_artifact_uri(cn_Run_info(cn_GetRunResponse_run(t)));
		if (!u.ptr || u.len == 0 || u.len >= cap)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "'%.100s' has no artifact URI", id);
		else {
			memcpy(uri, u.ptr, u.len);
			uri[u.len] = '\0';
		}
	}
	cn_bus_reply_free(&rep);
	return rc;
}

static void art_call_run(cn_art_job *job)
{
	art_call *c = (art_call *)job;
	cn_err err;
	cn_err_clear(&err);
	cn_store *store = NULL;
	char full[CAIRN_PATH_MAX + 1];
	char uri[CN_CFG_STR + 64];
	snprintf(uri, sizeof uri, "%s", ART_PROXY_ROOT);
	cn_code rc = CN_OK;
	bool entity = c->kind == ART_RUN_LIST || c->kind == ART_MODEL_LIST;
	if (entity)
		rc = art_entity_uri(c->ga, c->r, c->kind == ART_MODEL_LIST, c->run_id, uri,
		                    sizeof uri, &err);
	if (rc == CN_OK)
		rc = art_locate(c->ga, uri, c->path, &store, full, sizeof full, &err);
	if (rc == CN_OK && c->kind == ART_DELETE) {
		rc = cn_store_remove(store, full, true, &err);
		if (rc == CN_OK)
			cn_gw_respond(c->r, 200, "application/json", "{}", 2);
	} else if (rc == CN_OK) {
		art_list_acc acc = {.b = cn_fb_builder_new(4096)};
		char prefix[CAIRN_PATH_MAX + 2] = "";
		if (entity && c->path[0])
			snprintf(prefix, sizeof prefix, "%s/", c->path);
		acc.prefix = prefix;
		acc.strip = full[0] ? strlen(full) + 1 : 0;
		if (!acc.b)
			rc = cn_err_set(&err, CN_INTERNAL_ERROR, "out of memory");
		else
			rc = art_list_all(store, full, &acc, &err);
		if (rc == CN_OK) {
			cn_fb_ref files = acc.n ? cn_fb_create_vec_refs(acc.b, acc.refs, acc.n) : 0;
			if (entity) {
				cn_fb_ref root_uri = cn_fb_create_cstr(acc.b, uri);
				cn_ListRunArtifactsResponse_start(acc.b);
				cn_ListRunArtifactsResponse_add_root_uri(acc.b, root_uri);
				cn_ListRunArtifactsResponse_add_files(acc.b, files);
				art_reply_fb(c->r, CN_TABLE_ListRunArtifactsResponse, acc.b,
				             cn_ListRunArtifactsResponse_end(acc.b));
			} else {
				cn_ListProxiedArtifactsResponse_start(acc.b);
				cn_ListProxiedArtifactsResponse_add_files(acc.b, files);
				art_reply_fb(c->r, CN_TABLE_ListProxiedArtifactsResponse, acc.b,
				             cn_ListProxiedArtifactsResponse_end(acc.b));
			}
		}
		free(acc.refs);
		cn_fb_builder_free(acc.b);
	}
	if (rc != CN_OK)
		art_reply_err(c->r, &err);
	cn_gw_request_unref(c->r);
	free(c);
}

static void art_call_submit(cn_gw_artifacts *ga, cn_gw_request *r, art_call *c)
{
	c->ga = ga;
	c->r = r;
	c->job.fn = art_call_run;
	cn_gw_request_ref(r); /* the job's: it answers after the request may be gone */
	cn_art_pool_submit(ga->pool, &c->job);
}

static art_call *art_call_new(cn_gw_request *r, int kind)
{
	art_call *c = calloc(1, sizeof *c);
	if (!c)
		cn_gw_respond_error(r, CN_INTERNAL_ERROR, "out of memory");
	else
		c->kind = kind;
	return c;
}

/* GET /mlflow-artifacts/artifacts?path= */
static void art_list_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (art_refuse_unserved(ga, r))
		return;
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	int has = cn_art_query(q, qlen, "path", raw, sizeof raw);
	art_call *c = NULL;
	cn_err err;
	cn_err_clear(&err);
	if (has < 0) {
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE, "Invalid path: too long");
		return;
	}
	if (!(c = art_call_new(r, ART_LIST)))
		return;
	if (has &&
	    cn_art_path(raw, strlen(raw), true, true, c->path, sizeof c->path, &err) != CN_OK) {
		free(c);
		art_reply_err(r, &err);
		return;
	}
	art_call_submit(ga, r, c);
}

/* DELETE /mlflow-artifacts/artifacts/<path> */
static void art_delete_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (art_refuse_unserved(ga, r))
		return;
	art_call *c = art_call_new(r, ART_DELETE);
	if (!c)
		return;
	if (!art_param_path(r, true, c->path, sizeof c->path)) {
		free(c);
		return;
	}
	art_call_submit(ga, r, c);
}

/* GET /mlflow/artifacts/list?run_id=&path=&page_token= */
static void art_run_list_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (art_refuse_no_tracking(ga, r))
		return;
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	art_call *c = art_call_new(r, ART_RUN_LIST);
	if (!c)
		return;
	if (cn_art_query(q, qlen, "run_id", c->run_id, sizeof c->run_id) <= 0 || !c->run_id[0])
		cn_art_query(q, qlen, "run_uuid", c->run_id, sizeof c->run_id);
	if (!c->run_id[0]) {
		free(c);
		cn_gw_respond_error(r, CN_INVALID_PARAMETER_VALUE,
		                    "Missing value for required parameter 'run_id'. See the API "
		                    "docs for more information about request parameters.");
		return;
	}
	int has = cn_art_query(q, qlen, "path", raw, sizeof raw);
	cn_err err;
	cn_err_clear(&err);
	if (has < 0 || (has && cn_art_path(raw, strlen(raw), true, true, c->path, sizeof c->path,
	                                   &err) != CN_OK)) {
		free(c);
		if (has < 0)
			cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "Invalid path: too long");
		art_reply_err(r, &err);
		return;
	}
	art_call_submit(ga, r, c);
}

/* GET /mlflow/logged-models/{model_id}/artifacts/directories?artifact_directory_path= */
static void art_model_list_complete(void *arg, cn_gw_request *r)
{
	cn_gw_artifacts *ga = arg;
	if (art_refuse_no_tracking(ga, r))
		return;
	const char *id = cn_gw_param(r, "model_id");
	size_t qlen;
	const char *q = cn_gw_query(r, &qlen);
	char raw[4 * CAIRN_PATH_MAX];
	art_call *c = art_call_new(r, ART_MODEL_LIST);
	if (!c)
		return;
	cn_err err;
	cn_err_clear(&err);
	int has = cn_art_query(q, qlen, "artifact_directory_path", raw, sizeof raw);
	if (!id || !id[0] || strlen(id) >= sizeof c->run_id)
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "Invalid model_id");
	else if (has < 0)
		cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "Invalid path: too long");
	else if (has)
		cn_art_path(raw, strlen(raw), true, true, c->path, sizeof c->path, &err);
	if (err.code != CN_OK) {
		free(c);
		art_reply_err(r, &err);
		return;
	}
	snprintf(c->run_id, sizeof c->run_id, "%s", id);
	art_call_submit(ga, r, c);
}

/* ---- routes ---------------------------------------------------------------- */

cn_code cn_gw_artifacts_new(cn_gw_artifacts **out, cn_artifacts *arts, const cn_config *cfg,
                            cn_err *err)
{
	cn_gw_artifacts *ga = calloc(1, sizeof *ga);
	if (!ga)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	ga->arts = arts;
	ga->serve = cfg->serve_artifacts;
	ga->artifacts_only = cfg->artifacts_only;
	ga->timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 30000;
	cn_code rc = cn_art_pool_start(&ga->pool,
	                               cfg->artifact_workers > 0 ? cfg->artifact_workers : 8, err);
	if (rc != CN_OK) {
		free(ga);
		return rc;
	}
	*out = ga;
	return CN_OK;
}

void cn_gw_artifacts_free(cn_gw_artifacts *ga)
{
	if (!ga)
		return;
	cn_art_pool_stop(ga->pool);
	free(ga);
}

size_t cn_gw_artifacts_routes(cn_gw_artifacts *ga, cn_gw_route *out, size_t cap)
{
	static const char *const prefixes[] = {"/api/2.0", "/ajax-api/2.0"};
	/* label, method, path (after the prefix), body limit, chunk fn, complete, closed */
	const struct {
		const char *method, *path;
		size_t max_body;
		cn_gw_body_fn chunk;
		cn_gw_complete_fn complete;
		void (*closed)(void *, cn_gw_request *);
	} t[] = {
	        {"GET", "/mlflow-artifacts/artifacts/{path...}", 0, NULL, art_get_complete, NULL},
	        {"PUT", "/mlflow-artifacts/artifacts/{path...}", CN_GW_UNLIMITED, art_put_chunk,
	         art_put_complete, art_put_closed},
	        {"DELETE", "/mlflow-artifacts/artifacts/{path...}", 0, NULL, art_delete_complete,
	         NULL},
	        {"GET", "/mlflow-artifacts/artifacts", 0, NULL, art_list_complete, NULL},
	        {"POST", "/mlflow-artifacts/mpu/create/{path...}", 0, NULL, art_mpu_create, NULL},
	        {"POST", "/mlflow-artifacts/mpu/complete/{path...}", 0, NULL, art_mpu_complete,
	         NULL},
	        {"POST", "/mlflow-artifacts/mpu/abort/{path...}", 0, NULL, art_mpu_abort, NULL},
	        {"PUT", "/mlflow-artifacts/mpu/part/{path...}", CN_GW_UNLIMITED, art_part_chunk,
	         art_put_complete, art_put_closed},
	        {"GET", "/mlflow/artifacts/list", 0, NULL, art_run_list_complete, NULL},
	        {"GET", "/mlflow/logged-models/{model_id}/artifacts/directories", 0, NULL,
	         art_model_list_complete, NULL},
	        {"GET", "/mlflow/logged-models/{model_id}/artifacts/files", 0, NULL,
	         art_get_model_complete, NULL},
	};
	size_t n = 0;
	for (size_t p = 0; p < 2; p++)
		for (size_t i = 0;
		     i < sizeof t / sizeof t[0] && n < cap && n < CN_GW_ARTIFACT_ROUTES; i++) {
			snprintf(ga->paths[n], sizeof ga->paths[n], "%s%s", prefixes[p], t[i].path);
			out[n] = (cn_gw_route){.method = t[i].method,
			                       .path = ga->paths[n],
			                       .max_body = t[i].max_body,
			                       .async = true,
			                       .on_body_chunk = t[i].chunk,
			                       .on_complete = t[i].complete,
			                       .arg = ga,
			                       .on_closed = t[i].closed};
			n++;
		}
	if (n < cap)
		out[n++] = (cn_gw_route){.method = "GET",
		                         .path = "/get-artifact",
		                         .async = true,
		                         .on_complete = art_get_run_complete,
		                         .arg = ga};
	if (n < cap)
		out[n++] = (cn_gw_route){.method = "GET",
		                         .path = "/model-versions/get-artifact",
		                         .async = true,
		                         .on_complete = art_get_version_complete,
		                         .arg = ga};
	return n;
}
