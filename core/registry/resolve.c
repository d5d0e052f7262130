/*
 * core/registry/resolve.c: models:/ URIs to model versions, as MLflow's
 * client resolves them (mlflow/store/artifact/utils/models.py), for other
 * services over the bus (serving) and for operators over HTTP:
 *   models:/<name>/<version>   that version
 *   models:/<name>@<alias>     the version the alias names
 *   models:/<name>/<stage>     the latest version in that stage (any case)
 *   models:/<name>/latest      the latest version of the model
 * The answer is the version and its source (where its files are).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

static cn_code reg_bad_uri(cn_fb_str uri, cn_err *err)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Not a proper models:/ URI: %.*s. Models URIs must be of the form "
	                  "'models:/model_name/suffix' or 'models:/model_name@alias' where suffix "
	                  "is a model version, stage, or the string 'latest' and where alias is a "
	                  "registered model alias. Only one of suffix or alias can be defined at a "
	                  "time.",
	                  (int)uri.len, uri.ptr);
}

/* The newest version of `name` in `stage` (NULL: any stage). */
static cn_code reg_latest_in(reg_state *s, cn_fb_str name, const char *stage, json_t **out,
                             cn_err *err)
{
	json_t *model = NULL, *vers = NULL;
	cn_code rc = reg_model_load(s, name.ptr, name.len, &model, err);
	if (rc == CN_OK)
		rc = reg_versions_list(s, name.ptr, name.len, &vers, err);
	json_t *found = NULL;
	size_t i;
	json_t *v;
	json_array_foreach(vers, i, v)
	{
		const char *cs = json_string_value(json_object_get(v, "current_stage"));
		if (!stage || (cs && strcmp(cs, stage) == 0))
			found = v; /* versions come in version order: keep the last */
	}
	if (rc == CN_OK && !found)
		rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
		                "No versions of model with name '%.*s' and stage '%s' found",
		                (int)name.len, name.ptr, stage ? stage : "None");
	if (rc == CN_OK) {
		*out = json_incref(found);
		reg_version_aliases(model, *out);
	}
	json_decref(vers);
	json_decref(model);
	return rc;
}

REG_METHOD(reg_resolve_uri)
{
	reg_state *s = st;
	cn_fb_str uri = cn_ResolveModelUri_uri(req);
	cn_code rc = reg_need(uri, "uri", err);
	if (rc != CN_OK)
		return rc;
	static const char pre[] = "models:/";
	if (uri.len <= sizeof pre - 1 || strncmp(uri.ptr, pre, sizeof pre - 1) != 0)
		return reg_bad_uri(uri, err);
	const char *p = uri.ptr + sizeof pre - 1, *end = uri.ptr + uri.len;
	while (p < end && *p == '/')
		p++;
	json_t *v = NULL;
	const char *at = memrchr(p, '@', (size_t)(end - p));
	const char *slash = memrchr(p, '/', (size_t)(end - p));
	if (at && !slash) {
		cn_fb_str name = {p, (uint32_t)(at - p)},
		          alias = {at + 1, (uint32_t)(end - at - 1)};
		if (!name.len || !alias.len)
			return reg_bad_uri(uri, err);
		rc = reg_version_by_alias(s, name, alias, &v, err);
	} else if (slash && slash > p && slash + 1 < end) {
		cn_fb_str name = {p, (uint32_t)(slash - p)};
		cn_fb_str suffix = {slash + 1, (uint32_t)(end - slash - 1)};
		bool digits = true;
		for (uint32_t i = 0; i < suffix.len; i++)
			digits = digits && suffix.ptr[i] >= '0' && suffix.ptr[i] <= '9';
		if (digits) {
			uint64_t ver;
			rc = reg_parse_version(suffix, &ver, err);
			if (rc == CN_OK)
				rc = reg_version_load(s, name.ptr, name.len, ver, &v, err);
			json_t *model = NULL;
			if (rc == CN_OK &&
			    (rc = reg_model_load(s, name.ptr, name.len, &model, err)) == CN_OK)
				reg_version_aliases(model, v);
			json_decref(model);
		} else if (suffix.len == 6 && strncasecmp(suffix.ptr, "latest", 6) == 0) {
			rc = reg_latest_in(s, name, NULL, &v, err);
		} else {
			const char *stage;
			rc = reg_canonical_stage(suffix, &stage, err);
			if (rc == CN_OK)
				rc = reg_latest_in(s, name, stage, &v, err);
		}
	} else {
		return reg_bad_uri(uri, err);
	}
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O,s:O}", "model_version", v, "source",
		                        json_object_get(v, "source"));
		rc = reg_answer(b, CN_TABLE_ResolveModelUriResponse, doc, resp, err);
		json_decref(doc);
	}
	json_decref(v);
	return rc;
}
