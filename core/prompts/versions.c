/*
 * core/prompts/versions.c: prompt versions -- add (immutable), get by
 * number or alias, list, delete.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/prompts/prompts_int.h"
#include "core/prompts/template.h"
#include "schemas/cairn_schema.h"

#define F(doc, k) pr_str(doc, k)

static const char *const pr_roles[] = {"system", "user", "assistant", "tool", "developer"};

/* Check the template of a CreatePromptVersion request; set *text to what
 * MLflow stores in mlflow.prompt.text (the text, or the messages as JSON)
 * and *type. *text is malloc'd. */
static cn_code pr_check_template(json_t *r, char **text, const char **type, cn_err *err)
{
	json_t *tpl = json_object_get(r, "template"), *msgs = json_object_get(r, "messages");
	bool has_msgs = json_array_size(msgs) > 0;
	if (tpl && has_msgs)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Give either 'template' (a text template) or 'messages' (a chat "
		                  "template), not both");
	if (!tpl && !has_msgs)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'template' (or 'messages' "
		                  "for a chat template)");
	pr_parsed p;
	cn_code rc;
	if (tpl) {
		size_t len = json_string_length(tpl);
		if (len == 0)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "'template' must not be empty");
		rc = pr_parse(json_string_value(tpl), len, "template", &p, err);
		pr_parsed_free(&p);
		if (rc != CN_OK)
			return rc;
		*type = "text";
		*text = strdup(json_string_value(tpl));
		return *text ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	size_t total = 0, i;
	json_t *m, *out = json_array();
	json_array_foreach(msgs, i, m)
	{
		const char *role = F(m, "role");
		bool known = false;
		for (size_t k = 0; k < sizeof pr_roles / sizeof pr_roles[0]; k++)
			known |= !strcmp(role, pr_roles[k]);
		if (!known) {
			json_decref(out);
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "messages[%zu].role '%.64s' is not one of system, user, "
			                  "assistant, tool, developer",
			                  i, role);
		}
		json_t *c = json_object_get(m, "content");
		if (!c) {
			json_decref(out);
			return cn_err_set(
			        err, CN_INVALID_PARAMETER_VALUE,
			        "Missing value for required parameter 'messages[%zu].content'", i);
		}
		char what[64];
		snprintf(what, sizeof what, "messages[%zu].content", i);
		size_t len = json_string_length(c);
		total += len;
		rc = total > PR_TEXT_MAX
		             ? cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                          "the messages' contents are %zu bytes or more; the limit "
		                          "is %zu bytes (1 MiB)",
		                          total, PR_TEXT_MAX)
		             : pr_parse(json_string_value(c), len, what, &p, err);
		pr_parsed_free(&p);
		if (rc != CN_OK) {
			json_decref(out);
			return rc;
		}
		json_array_append_new(out, json_pack("{s:s,s:O}", "role", role, "content", c));
	}
	*type = "chat";
	*text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	return *text ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
}

static cn_code pr_check_response_format(const char *rf, cn_err *err)
{
	json_error_t je;
	json_t *v = json_loads(rf, 0, &je);
	bool ok = json_is_object(v);
	json_decref(v);
	if (!ok)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'response_format' must be a JSON object (a JSON Schema)%s%s",
		                  v ? "" : ": ", v ? "" : je.text);
	return CN_OK;
}

/* The configuration as MLflow stores it (_mlflow_prompt_model_config). */
static cn_code pr_check_model_config(json_t *mc, char **out, cn_err *err)
{
	json_t *t = json_object_get(mc, "temperature"), *p = json_object_get(mc, "top_p");
	json_t *mt = json_object_get(mc, "max_tokens");
	if (t && !(json_number_value(t) >= 0 && isfinite(json_number_value(t))))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "model_config.temperature must be a number >= 0");
	if (p && !(json_number_value(p) >= 0 && json_number_value(p) <= 1))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "model_config.top_p must be between 0 and 1");
	if (mt && json_integer_value(mt) < 1)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "model_config.max_tokens must be a positive integer");
	*out = json_dumps(mc, JSON_COMPACT | JSON_SORT_KEYS);
	return *out ? CN_OK : cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
}

static void pr_tag_add(json_t *tags, const char *k, const char *v)
{
	json_array_append_new(tags, json_pack("{s:s,s:s}", "key", k, "value", v));
}

PR_METHOD(pr_create_version)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *rep = NULL;
	char *text = NULL, *mc = NULL;
	const char *type = NULL;
	cn_code rc = pr_request("CreatePromptVersion", req, &r, err);
	if (rc != CN_OK)
		return rc;
	const char *rf = F(r, "response_format");
	json_t *utags = json_object_get(r, "tags");
	/* Every check before the first write: a refused version leaves nothing. */
	rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK)
		rc = pr_check_template(r, &text, &type, err);
	if (rc == CN_OK && *rf)
		rc = pr_check_response_format(rf, err);
	if (rc == CN_OK && json_object_get(r, "model_config"))
		rc = pr_check_model_config(json_object_get(r, "model_config"), &mc, err);
	size_t i;
	json_t *t;
	json_array_foreach(utags, i, t)
	{
		if (rc == CN_OK && pr_is_reserved_key(F(t, "key")))
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Tag key '%.250s' is reserved for the prompt itself",
			                F(t, "key"));
	}
	if (rc == CN_OK) {
		json_t *tags = json_array();
		pr_tag_add(tags, PR_TAG_IS_PROMPT, "true");
		pr_tag_add(tags, PR_TAG_TEXT, text);
		pr_tag_add(tags, PR_TAG_TYPE, type);
		if (*rf)
			pr_tag_add(tags, PR_TAG_RESPONSE, rf);
		if (mc)
			pr_tag_add(tags, PR_TAG_MODEL_CONFIG, mc);
		json_array_foreach(utags, i, t) pr_tag_add(tags, F(t, "key"), F(t, "value"));
		json_t *mv = json_pack("{s:s,s:s,s:o}", "name", F(r, "name"), "source", PR_SOURCE,
		                       "tags", tags);
		if (json_object_get(r, "commit_message"))
			json_object_set(mv, "description", json_object_get(r, "commit_message"));
		json_t *q = json_pack("{s:o}", "request", mv);
		rc = pr_call(s, ctx, PR_REGISTRY, "CreatePromptModelVersion", q, &rep, err);
		json_decref(q);
	}
	json_t *pv = NULL;
	if (rc == CN_OK && !(pv = pr_version_of(json_object_get(rep, "model_version"), model, err)))
		rc = err->code;
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O}", "prompt_version", pv);
		rc = pr_answer(b, "PromptVersionResponse", doc, resp, err);
		json_decref(doc);
		pr_publish(s, ctx, "prompts.version.created", F(r, "name"), F(pv, "version"), NULL,
		           NULL, NULL, type);
	}
	json_decref(pv);
	free(text);
	free(mc);
	json_decref(rep);
	json_decref(model);
	json_decref(r);
	return rc;
}

/* One registry call on the hot path (load, render): the version itself,
 * which carries the prompt tag as MLflow's client writes it. The model is
 * read only to explain a miss or a version without that tag. */
cn_code pr_load_version(pr_state *s, const cn_call_ctx *ctx, const char *name, const char *version,
                        const char *alias, json_t **pv, cn_err *err)
{
	*pv = NULL;
	if (*version && *alias)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Give either 'version' or 'alias', not both");
	if (!*version && !*alias)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'version' (or 'alias')");
	if (!*name)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'name'.");
	cn_code rc = *version ? pr_check_version(version, "version", err) : CN_OK;
	if (rc != CN_OK)
		return rc;
	json_t *q = json_pack("{s:s,s:s}", "name", name, *version ? "version" : "alias",
	                      *version ? version : alias),
	       *rep = NULL, *model = NULL;
	rc = pr_call(s, ctx, PR_REGISTRY, *version ? "GetModelVersion" : "GetModelVersionByAlias",
	             q, &rep, err);
	json_decref(q);
	json_t *mv = json_object_get(rep, "model_version");
	const char *tag = pr_tag(mv, "tags", PR_TAG_IS_PROMPT);
	if (rc == CN_OK && tag && !strcmp(tag, "true")) {
		if (!(*pv = pr_version_of(mv, NULL, err)))
			rc = err->code;
		json_decref(rep);
		return rc;
	}
	/* A miss, or a version without the tag: the model says which. The
	 * registry's miss of an alias is MLflow's 400; here it is a 404. */
	bool alias_miss = rc == CN_INVALID_PARAMETER_VALUE && *alias;
	if (rc == CN_OK || rc == CN_RESOURCE_DOES_NOT_EXIST || alias_miss) {
		cn_code got = rc;
		rc = pr_load_prompt(s, ctx, name, &model, err);
		if (rc == CN_OK && got != CN_OK && *version)
			rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
			                "Prompt (name=%.600s, version=%s) not found", name,
			                version);
		else if (rc == CN_OK && got != CN_OK)
			rc = cn_err_set(err, CN_RESOURCE_DOES_NOT_EXIST,
			                "Prompt alias '%.255s' not found for prompt %.600s", alias,
			                name);
		else if (rc == CN_OK && !(*pv = pr_version_of(mv, model, err)))
			rc = err->code;
	}
	json_decref(model);
	json_decref(rep);
	return rc;
}

PR_METHOD(pr_get_version)
{
	json_t *r, *pv = NULL;
	cn_code rc = pr_request("GetPromptVersion", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_version(st, ctx, F(r, "name"), F(r, "version"), F(r, "alias"), &pv,
		                     err);
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O}", "prompt_version", pv);
		rc = pr_answer(b, "PromptVersionResponse", doc, resp, err);
		json_decref(doc);
	}
	json_decref(pv);
	json_decref(r);
	return rc;
}

/* Aliases of version v from the model's alias list. */
static void pr_aliases_from(json_t *model, json_t *mv)
{
	json_t *out = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(model, "aliases"), i, a)
	{
		if (!strcmp(F(a, "version"), F(mv, "version")))
			json_array_append_new(out, json_string(F(a, "alias")));
	}
	json_object_set_new(mv, "aliases", out);
}

cn_code pr_versions_raw(pr_state *s, const cn_call_ctx *ctx, const char *name, json_t **out,
                        cn_err *err)
{
	*out = json_array();
	cn_buf f = CN_BUF_INIT;
	cn_buf_puts(&f, "name = '");
	for (const char *c = name; *c; c++) {
		if (*c == '\'' || *c == '\\')
			cn_buf_putc(&f, '\\');
		cn_buf_putc(&f, *c);
	}
	/* Versions of prompts are hidden from version search unless asked for. */
	cn_buf_puts(&f, "' AND tags.`" PR_TAG_IS_PROMPT "` = 'true'");
	cn_buf_putc(&f, '\0');
	cn_code rc =
	        cn_buf_failed(&f) ? cn_err_set(err, CN_INTERNAL_ERROR, "out of memory") : CN_OK;
	char *token = NULL;
	while (rc == CN_OK) {
		json_t *q = json_pack("{s:s,s:[s],s:i}", "filter", f.p, "order_by",
		                      "version_number ASC", "max_results", 10000),
		       *rep = NULL;
		if (token)
			json_object_set_new(q, "page_token", json_string(token));
		rc = pr_call(s, ctx, PR_REGISTRY, "SearchModelVersions", q, &rep, err);
		json_decref(q);
		if (rc == CN_OK)
			json_array_extend(*out, json_object_get(rep, "model_versions"));
		free(token);
		token = rc == CN_OK && *F(rep, "next_page_token")
		                ? strdup(F(rep, "next_page_token"))
		                : NULL;
		json_decref(rep);
		if (!token)
			break;
	}
	free(token);
	cn_buf_free(&f);
	return rc;
}

PR_METHOD(pr_list_versions)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *raw = NULL;
	cn_code rc = pr_request("ListPromptVersions", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK)
		rc = pr_versions_raw(s, ctx, F(r, "name"), &raw, err);
	json_t *out = json_array();
	size_t i;
	json_t *mv;
	json_array_foreach(raw, i, mv)
	{
		if (rc != CN_OK)
			break;
		pr_aliases_from(model, mv);
		json_t *pv = pr_version_of(mv, model, err);
		if (!pv)
			rc = err->code;
		else
			json_array_append_new(out, pv);
	}
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:O}", "prompt_versions", out);
		rc = pr_answer(b, "ListPromptVersionsResponse", doc, resp, err);
		json_decref(doc);
	}
	json_decref(out);
	json_decref(raw);
	json_decref(model);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_delete_version)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *rep = NULL;
	cn_code rc = pr_request("DeletePromptVersion", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK)
		rc = pr_check_version(F(r, "version"), "version", err);
	if (rc == CN_OK) {
		json_t *q =
		        json_pack("{s:s,s:s}", "name", F(r, "name"), "version", F(r, "version"));
		rc = pr_call(s, ctx, PR_REGISTRY, "DeleteModelVersion", q, &rep, err);
		json_decref(q);
		if (rc == CN_RESOURCE_DOES_NOT_EXIST)
			cn_err_set(err, rc, "Prompt (name=%.600s, version=%s) not found",
			           F(r, "name"), F(r, "version"));
	}
	if (rc == CN_OK)
		rc = pr_links_drop(s, F(r, "name"), F(r, "version"), err);
	if (rc == CN_OK) {
		*resp = pr_empty(b);
		pr_publish(s, ctx, "prompts.version.deleted", F(r, "name"), F(r, "version"), NULL,
		           NULL, NULL, NULL);
	}
	json_decref(rep);
	json_decref(model);
	json_decref(r);
	return rc;
}
