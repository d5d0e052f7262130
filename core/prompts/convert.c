/*
 * core/prompts/convert.c: registry records read as prompts. A prompt is a
 * RegisteredModel tagged mlflow.prompt.is_prompt=true; a version is a
 * ModelVersion whose tags hold the template (mlflow.prompt.text), its type
 * (_mlflow_prompt_type), response format and model configuration, as
 * MLflow's client writes them (mlflow/prompt/constants.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/prompts/prompts_int.h"
#include "core/prompts/template.h"

const char *pr_str(json_t *obj, const char *field)
{
	const char *v = json_string_value(json_object_get(obj, field));
	return v ? v : "";
}

const char *pr_tag(json_t *obj, const char *field, const char *key)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(obj, field), i, t)
	{
		if (!strcmp(pr_str(t, "key"), key))
			return pr_str(t, "value");
	}
	return NULL;
}

bool pr_is_prompt_model(json_t *model)
{
	const char *v = pr_tag(model, "tags", PR_TAG_IS_PROMPT);
	return v && !strcmp(v, "true");
}

bool pr_is_reserved_key(const char *key)
{
	return !strncmp(key, "mlflow.prompt.", 14) || !strncmp(key, "_mlflow_prompt_", 15);
}

cn_code pr_check_name(const char *name, cn_err *err)
{
	size_t n = strlen(name);
	if (n == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'name'. Prompt name must be "
		        "a non-empty string.");
	if (n > PR_NAME_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Prompt name is %zu bytes; the maximum length is %d bytes", n,
		                  PR_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Invalid prompt name '%.200s': prompt names can only contain "
			        "alphanumeric characters, hyphens, underscores, and dots.",
			        name);
	}
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid prompt name '%s': it would resolve to another path.",
		                  name);
	return CN_OK;
}

cn_code pr_check_version(const char *v, const char *param, cn_err *err)
{
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 18;
	for (size_t i = 0; ok && i < n; i++)
		ok = v[i] >= '0' && v[i] <= '9';
	if (!ok)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Parameter '%s' must be an integer, got '%.64s'.", param, v);
	return CN_OK;
}

static json_t *pr_user_tags(json_t *tags)
{
	json_t *out = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		const char *k = pr_str(t, "key");
		if (!pr_is_reserved_key(k))
			json_array_append_new(
			        out, json_pack("{s:s,s:s}", "key", k, "value", pr_str(t, "value")));
	}
	return out;
}

json_t *pr_prompt_of(json_t *model)
{
	json_t *p = json_pack("{s:s,s:o}", "name", pr_str(model, "name"), "tags",
	                      pr_user_tags(json_object_get(model, "tags")));
	const char *keys[] = {"description", "creation_timestamp", "last_updated_timestamp",
	                      "aliases"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (json_object_get(model, keys[i]))
			json_object_set(p, keys[i], json_object_get(model, keys[i]));
	unsigned long long latest = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(model, "latest_versions"), i, v)
	{
		unsigned long long n = strtoull(pr_str(v, "version"), NULL, 10);
		if (n > latest)
			latest = n;
	}
	if (latest) {
		char s[24];
		snprintf(s, sizeof s, "%llu", latest);
		json_object_set_new(p, "latest_version", json_string(s));
	}
	return p;
}

/* Variables of one text, appended to arr (names new to `seen`). */
static void pr_add_name(void *arg, const char *name, size_t len)
{
	json_array_append_new(arg, json_stringn(name, len));
}

static cn_code pr_vars_of(const char *text, cn_buf *seen, json_t *arr, cn_err *err)
{
	pr_parsed p;
	cn_code rc = pr_parse_lenient(text, strlen(text), &p, err);
	if (rc == CN_OK)
		pr_each_new_name(text, &p, seen, pr_add_name, arr);
	pr_parsed_free(&p);
	return rc;
}

/* Only the configuration keys the schema knows, with the right types. */
static json_t *pr_model_config(const char *js)
{
	json_error_t je;
	json_t *in = json_loads(js, 0, &je);
	if (!json_is_object(in)) {
		json_decref(in);
		return NULL;
	}
	json_t *out = json_object();
	const char *strs[] = {"provider", "model_name"};
	for (size_t i = 0; i < 2; i++)
		if (json_is_string(json_object_get(in, strs[i])))
			json_object_set(out, strs[i], json_object_get(in, strs[i]));
	const char *nums[] = {"temperature", "top_p"};
	for (size_t i = 0; i < 2; i++)
		if (json_is_number(json_object_get(in, nums[i])))
			json_object_set(out, nums[i], json_object_get(in, nums[i]));
	if (json_is_integer(json_object_get(in, "max_tokens")))
		json_object_set(out, "max_tokens", json_object_get(in, "max_tokens"));
	json_decref(in);
	return out;
}

json_t *pr_version_of(json_t *mv, json_t *model, cn_err *err)
{
	(void)model;
	const char *name = pr_str(mv, "name"), *ver = pr_str(mv, "version");
	const char *text = pr_tag(mv, "tags", PR_TAG_TEXT);
	const char *type = pr_tag(mv, "tags", PR_TAG_TYPE);
	char uri[PR_NAME_MAX + 64];
	snprintf(uri, sizeof uri, "prompts:/%s/%s", name, ver);
	json_t *pv = json_pack("{s:s,s:s,s:s}", "name", name, "version", ver, "uri", uri);
	json_t *vars = json_array();
	cn_buf seen = CN_BUF_INIT;
	cn_code rc = CN_OK;
	json_t *msgs = NULL;
	if (type && !strcmp(type, "chat") && text) {
		json_error_t je;
		json_t *arr = json_loads(text, 0, &je);
		if (json_is_array(arr)) {
			msgs = json_array();
			size_t i;
			json_t *m;
			json_array_foreach(arr, i, m)
			{
				json_t *c = json_object_get(m, "content");
				char *cs = json_is_string(c)
				                   ? strdup(json_string_value(c))
				                   : json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
				json_array_append_new(msgs, json_pack("{s:s,s:s}", "role",
				                                      pr_str(m, "role"), "content",
				                                      cs ? cs : ""));
				if (rc == CN_OK && cs)
					rc = pr_vars_of(cs, &seen, vars, err);
				free(cs);
			}
		}
		json_decref(arr);
	}
	if (msgs) {
		json_object_set_new(pv, "template_type", json_string("chat"));
		json_object_set_new(pv, "messages", msgs);
	} else {
		json_object_set_new(pv, "template_type", json_string("text"));
		json_object_set_new(pv, "template", json_string(text ? text : ""));
		if (text)
			rc = pr_vars_of(text, &seen, vars, err);
	}
	cn_buf_free(&seen);
	json_object_set_new(pv, "variables", vars);
	const char *rf = pr_tag(mv, "tags", PR_TAG_RESPONSE);
	if (rf)
		json_object_set_new(pv, "response_format", json_string(rf));
	const char *mc = pr_tag(mv, "tags", PR_TAG_MODEL_CONFIG);
	json_t *cfg = mc ? pr_model_config(mc) : NULL;
	if (cfg)
		json_object_set_new(pv, "model_config", cfg);
	if (json_object_get(mv, "description"))
		json_object_set(pv, "commit_message", json_object_get(mv, "description"));
	json_object_set_new(pv, "tags", pr_user_tags(json_object_get(mv, "tags")));
	const char *keys[] = {"aliases", "creation_timestamp", "last_updated_timestamp", "user_id"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (json_object_get(mv, keys[i]))
			json_object_set(pv, keys[i], json_object_get(mv, keys[i]));
	if (rc != CN_OK) {
		json_decref(pv);
		return NULL;
	}
	return pv;
}

char *pr_version_text(json_t *pv, size_t *len)
{
	cn_buf b = CN_BUF_INIT;
	json_t *msgs = json_object_get(pv, "messages");
	if (json_is_array(msgs)) {
		size_t i;
		json_t *m;
		json_array_foreach(msgs, i, m)
		{
			cn_buf_printf(&b, "role: %s\n", pr_str(m, "role"));
			cn_buf_puts(&b, pr_str(m, "content"));
			cn_buf_putc(&b, '\n');
		}
	} else {
		cn_buf_puts(&b, pr_str(pv, "template"));
	}
	cn_buf_putc(&b, '\0');
	if (cn_buf_failed(&b)) {
		cn_buf_free(&b);
		return NULL;
	}
	*len = b.len - 1;
	return b.p;
}
