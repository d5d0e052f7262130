/*
 * core/prompts/prompts_api.c: prompts -- create, get, delete, search,
 * aliases and tags. Each is a call to the registry, which owns the records;
 * this file checks prompt rules first (names, reserved tags, "is it a
 * prompt") so a refused call reaches nothing, and shapes the answer.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/prompts/prompts_int.h"
#include "schemas/cairn_schema.h"

cn_code pr_load_prompt(pr_state *s, const cn_call_ctx *ctx, const char *name, json_t **model,
                       cn_err *err)
{
	*model = NULL;
	if (!*name)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Missing value for required parameter 'name'.");
	json_t *req = json_pack("{s:s}", "name", name), *rep = NULL;
	cn_code rc = pr_call(s, ctx, PR_REGISTRY, "GetRegisteredModel", req, &rep, err);
	json_decref(req);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		return cn_err_set(err, rc, "Prompt with name=%.600s not found", name);
	if (rc != CN_OK)
		return rc;
	json_t *m = json_incref(json_object_get(rep, "registered_model"));
	json_decref(rep);
	if (!pr_is_prompt_model(m)) {
		json_decref(m);
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Name `%.600s` is registered as a model, not a prompt.", name);
	}
	*model = m;
	return CN_OK;
}

/* Request fields as C strings ("" when absent). */
#define F(doc, k) pr_str(doc, k)

static cn_code pr_check_tags(json_t *tags, cn_err *err)
{
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
	{
		if (pr_is_reserved_key(F(t, "key")))
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Tag key '%.250s' is reserved for the prompt itself "
			                  "(mlflow.prompt.* and _mlflow_prompt_* keys)",
			                  F(t, "key"));
	}
	return CN_OK;
}

PR_METHOD(pr_create_prompt)
{
	pr_state *s = st;
	json_t *r, *rep = NULL;
	cn_code rc = pr_request("CreatePrompt", req, &r, err);
	if (rc != CN_OK)
		return rc;
	rc = pr_check_name(F(r, "name"), err);
	if (rc == CN_OK)
		rc = pr_check_tags(json_object_get(r, "tags"), err);
	if (rc == CN_OK) {
		json_t *tags = json_pack("[{s:s,s:s}]", "key", PR_TAG_IS_PROMPT, "value", "true");
		if (json_is_array(json_object_get(r, "tags")))
			json_array_extend(tags, json_object_get(r, "tags"));
		json_t *q = json_pack("{s:s,s:o}", "name", F(r, "name"), "tags", tags);
		if (json_object_get(r, "description"))
			json_object_set(q, "description", json_object_get(r, "description"));
		rc = pr_call(s, ctx, PR_REGISTRY, "CreateRegisteredModel", q, &rep, err);
		json_decref(q);
	}
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:o}", "prompt",
		                        pr_prompt_of(json_object_get(rep, "registered_model")));
		rc = pr_answer(b, "PromptResponse", doc, resp, err);
		json_decref(doc);
		pr_publish(s, ctx, "prompts.prompt.created", F(r, "name"), NULL, NULL, NULL, NULL,
		           NULL);
	}
	json_decref(rep);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_get_prompt)
{
	pr_state *s = st;
	json_t *r, *model = NULL;
	cn_code rc = pr_request("GetPrompt", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK) {
		json_t *doc = json_pack("{s:o}", "prompt", pr_prompt_of(model));
		rc = pr_answer(b, "PromptResponse", doc, resp, err);
		json_decref(doc);
	}
	json_decref(model);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_delete_prompt)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *rep = NULL;
	cn_code rc = pr_request("DeletePrompt", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK) {
		json_t *q = json_pack("{s:s}", "name", F(r, "name"));
		rc = pr_call(s, ctx, PR_REGISTRY, "DeleteRegisteredModel", q, &rep, err);
		json_decref(q);
	}
	/* The links are derived data about versions that no longer exist. */
	if (rc == CN_OK)
		rc = pr_links_drop(s, F(r, "name"), NULL, err);
	if (rc == CN_OK) {
		*resp = pr_empty(b);
		pr_publish(s, ctx, "prompts.prompt.deleted", F(r, "name"), NULL, NULL, NULL, NULL,
		           NULL);
	}
	json_decref(rep);
	json_decref(model);
	json_decref(r);
	return rc;
}

/* A filter-language string literal: quotes and backslashes escaped. */
static void pr_lit(cn_buf *f, const char *v)
{
	cn_buf_putc(f, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			cn_buf_putc(f, '\\');
		cn_buf_putc(f, *v);
	}
	cn_buf_putc(f, '\'');
}

static bool pr_icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

PR_METHOD(pr_search_prompts)
{
	pr_state *s = st;
	json_t *r, *rep = NULL;
	cn_code rc = pr_request("SearchPrompts", req, &r, err);
	if (rc != CN_OK)
		return rc;
	cn_buf f = CN_BUF_INIT;
	cn_buf_puts(&f, "tags.`" PR_TAG_IS_PROMPT "` = 'true'");
	const char *nc = F(r, "name_contains");
	if (*nc) {
		cn_buf t = CN_BUF_INIT;
		cn_buf_putc(&t, '%');
		cn_buf_puts(&t, nc);
		cn_buf_putc(&t, '%');
		cn_buf_putc(&t, '\0');
		cn_buf_puts(&f, " AND name ILIKE ");
		pr_lit(&f, t.p ? t.p : "%");
		cn_buf_free(&t);
	}
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(r, "tags"), i, t)
	{
		if (rc == CN_OK && (!*F(t, "key") || strchr(F(t, "key"), '`')))
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid tag key '%.250s' in 'tags'", F(t, "key"));
		cn_buf_printf(&f, " AND tags.`%s` = ", F(t, "key"));
		pr_lit(&f, F(t, "value"));
	}
	if (*F(r, "filter")) {
		cn_buf_puts(&f, " AND ");
		cn_buf_puts(&f, F(r, "filter"));
	}
	cn_buf_putc(&f, '\0');
	if (rc == CN_OK && cn_buf_failed(&f))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		json_t *q = json_pack("{s:s,s:[s]}", "filter", f.p, "order_by", "name ASC");
		json_t *mr = json_object_get(r, "max_results");
		json_object_set_new(q, "max_results", mr ? json_incref(mr) : json_integer(100));
		if (*F(r, "page_token"))
			json_object_set(q, "page_token", json_object_get(r, "page_token"));
		rc = pr_call(s, ctx, PR_REGISTRY, "SearchRegisteredModels", q, &rep, err);
		json_decref(q);
	}
	cn_buf_free(&f);
	if (rc == CN_OK) {
		json_t *out = json_array();
		json_t *m;
		json_array_foreach(json_object_get(rep, "registered_models"), i, m)
		{
			/* ILIKE's '_' matches any character: keep true substrings only. */
			if (pr_icontains(F(m, "name"), nc))
				json_array_append_new(out, pr_prompt_of(m));
		}
		json_t *doc = json_pack("{s:o}", "prompts", out);
		if (*F(rep, "next_page_token"))
			json_object_set(doc, "next_page_token",
			                json_object_get(rep, "next_page_token"));
		rc = pr_answer(b, "SearchPromptsResponse", doc, resp, err);
		json_decref(doc);
	}
	json_decref(rep);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_set_alias)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *rep = NULL;
	cn_code rc = pr_request("SetPromptAlias", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK)
		rc = pr_check_version(F(r, "version"), "version", err);
	if (rc == CN_OK) {
		json_t *q = json_pack("{s:s,s:s,s:s}", "name", F(r, "name"), "alias", F(r, "alias"),
		                      "version", F(r, "version"));
		rc = pr_call(s, ctx, PR_REGISTRY, "SetRegisteredModelAlias", q, &rep, err);
		json_decref(q);
	}
	if (rc == CN_OK) {
		*resp = pr_empty(b);
		pr_publish(s, ctx, "prompts.alias.set", F(r, "name"), F(r, "version"),
		           F(r, "alias"), NULL, NULL, NULL);
	}
	json_decref(rep);
	json_decref(model);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_delete_alias)
{
	pr_state *s = st;
	json_t *r, *model = NULL, *rep = NULL;
	cn_code rc = pr_request("DeletePromptAlias", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	const char *was = NULL;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(model, "aliases"), i, a)
	{
		if (!strcmp(F(a, "alias"), F(r, "alias")))
			was = F(a, "version");
	}
	if (rc == CN_OK) {
		json_t *q = json_pack("{s:s,s:s}", "name", F(r, "name"), "alias", F(r, "alias"));
		rc = pr_call(s, ctx, PR_REGISTRY, "DeleteRegisteredModelAlias", q, &rep, err);
		json_decref(q);
	}
	if (rc == CN_OK) {
		*resp = pr_empty(b);
		pr_publish(s, ctx, "prompts.alias.deleted", F(r, "name"), was, F(r, "alias"), NULL,
		           NULL, NULL);
	}
	json_decref(rep);
	json_decref(model);
	json_decref(r);
	return rc;
}

/* Set (value != NULL) or delete a prompt or version tag. */
static cn_code pr_tag_call(pr_state *s, const cn_call_ctx *ctx, json_t *r, bool set, cn_err *err)
{
	json_t *model = NULL, *rep = NULL;
	const char *key = F(r, "key"), *ver = F(r, "version");
	cn_code rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK && !*key)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for required parameter 'key'.");
	if (rc == CN_OK && pr_is_reserved_key(key))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Tag key '%.250s' is reserved: prompt versions are immutable", key);
	if (rc == CN_OK && *ver)
		rc = pr_check_version(ver, "version", err);
	if (rc == CN_OK) {
		json_t *q = json_pack("{s:s,s:s}", "name", F(r, "name"), "key", key);
		if (set)
			json_object_set_new(q, "value", json_string(F(r, "value")));
		if (*ver)
			json_object_set_new(q, "version", json_string(ver));
		const char *m = *ver ? (set ? "SetModelVersionTag" : "DeleteModelVersionTag")
		                     : (set ? "SetRegisteredModelTag" : "DeleteRegisteredModelTag");
		rc = pr_call(s, ctx, PR_REGISTRY, m, q, &rep, err);
		json_decref(q);
	}
	if (rc == CN_OK)
		pr_publish(s, ctx, set ? "prompts.tag.set" : "prompts.tag.deleted", F(r, "name"),
		           ver, NULL, key, set ? F(r, "value") : NULL, NULL);
	json_decref(rep);
	json_decref(model);
	return rc;
}

PR_METHOD(pr_set_tag)
{
	json_t *r;
	cn_code rc = pr_request("SetPromptTag", req, &r, err);
	if (rc == CN_OK)
		rc = pr_tag_call(st, ctx, r, true, err);
	if (rc == CN_OK)
		*resp = pr_empty(b);
	json_decref(r);
	return rc;
}

PR_METHOD(pr_delete_tag)
{
	json_t *r;
	cn_code rc = pr_request("DeletePromptTag", req, &r, err);
	if (rc == CN_OK)
		rc = pr_tag_call(st, ctx, r, false, err);
	if (rc == CN_OK)
		*resp = pr_empty(b);
	json_decref(r);
	return rc;
}
