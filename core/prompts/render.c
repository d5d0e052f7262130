/*
 * core/prompts/render.c: formatting a version with variables (render) and
 * comparing two versions (diff), both on versions loaded from the registry.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/prompts/prompts_int.h"
#include "core/prompts/template.h"
#include "schemas/cairn_schema.h"

#define F(doc, k) pr_str(doc, k)

/* ---- render ----------------------------------------------------------- */

typedef struct pr_vals {
	const char **names, **values;
	size_t *nlen, *vlen, n;
} pr_vals;

static void pr_vals_free(pr_vals *v)
{
	free(v->names);
	free(v->values);
	free(v->nlen);
	free(v->vlen);
}

/* Format one text; missing names accumulate in `missing`. */
static cn_code pr_format(const char *text, const pr_values *v, json_t **out, cn_buf *missing,
                         cn_err *err)
{
	pr_parsed p;
	size_t len = strlen(text);
	cn_code rc = pr_parse_lenient(text, len, &p, err);
	cn_buf o = CN_BUF_INIT;
	if (rc == CN_OK)
		pr_render(text, len, &p, v, &o, missing);
	pr_parsed_free(&p);
	if (rc == CN_OK && cn_buf_failed(&o))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		*out = json_stringn(o.p ? o.p : "", o.len);
	cn_buf_free(&o);
	return rc;
}

PR_METHOD(pr_render_prompt)
{
	json_t *r, *pv = NULL;
	cn_code rc = pr_request("RenderPrompt", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_version(st, ctx, F(r, "name"), F(r, "version"), F(r, "alias"), &pv,
		                     err);
	json_t *vars = json_object_get(r, "variables");
	size_t n = json_array_size(vars);
	pr_vals v = {calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(char *)),
	             calloc(n + 1, sizeof(size_t)), calloc(n + 1, sizeof(size_t)), n};
	if (rc == CN_OK && (!v.names || !v.values || !v.nlen || !v.vlen))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; rc == CN_OK && i < n; i++) {
		json_t *e = json_array_get(vars, i);
		v.names[i] = F(e, "name");
		v.nlen[i] = strlen(v.names[i]);
		v.values[i] = F(e, "value");
		v.vlen[i] = json_string_length(json_object_get(e, "value"));
		if (!v.nlen[i])
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "variables[%zu] has no 'name'", i);
		for (size_t j = 0; rc == CN_OK && j < i; j++)
			if (!strcmp(v.names[i], v.names[j]))
				rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
				                "variable '%.200s' is given twice", v.names[i]);
	}
	pr_values pv_ = {(const char *const *)v.names, v.nlen, (const char *const *)v.values,
	                 v.vlen, n};
	cn_buf missing = CN_BUF_INIT;
	json_t *doc = NULL;
	if (rc == CN_OK) {
		doc = json_pack("{s:O,s:O,s:O}", "name", json_object_get(pv, "name"), "version",
		                json_object_get(pv, "version"), "template_type",
		                json_object_get(pv, "template_type"));
		json_t *msgs = json_object_get(pv, "messages");
		if (json_is_array(msgs)) {
			json_t *out = json_array(), *m;
			size_t i;
			json_array_foreach(msgs, i, m)
			{
				json_t *c = NULL;
				if (rc == CN_OK)
					rc = pr_format(F(m, "content"), &pv_, &c, &missing, err);
				if (rc == CN_OK)
					json_array_append_new(out, json_pack("{s:s,s:o}", "role",
					                                     F(m, "role"),
					                                     "content", c));
			}
			json_object_set_new(doc, "messages", out);
		} else {
			json_t *txt = NULL;
			rc = pr_format(F(pv, "template"), &pv_, &txt, &missing, err);
			if (rc == CN_OK)
				json_object_set_new(doc, "text", txt);
		}
	}
	if (rc == CN_OK && missing.len) {
		cn_buf names = CN_BUF_INIT;
		size_t cnt = 0;
		for (size_t i = 0; i < missing.len; i += strlen(missing.p + i) + 1, cnt++)
			cn_buf_printf(&names, "%s'%s'", cnt ? ", " : "", missing.p + i);
		cn_buf_putc(&names, '\0');
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for %s %.900s: the template of %s version %s uses "
		                "%s",
		                cnt > 1 ? "variables" : "variable", names.p, F(pv, "name"),
		                F(pv, "version"), cnt > 1 ? "them" : "it");
		cn_buf_free(&names);
	}
	if (rc == CN_OK) {
		json_t *unused = json_array(), *used = json_object_get(pv, "variables");
		for (size_t i = 0; i < n; i++) {
			bool found = false;
			size_t k;
			json_t *u;
			json_array_foreach(used, k, u) found |=
			        !strcmp(json_string_value(u), v.names[i]);
			if (!found)
				json_array_append_new(unused, json_string(v.names[i]));
		}
		json_object_set_new(doc, "unused_variables", unused);
		if (json_object_get(pv, "response_format"))
			json_object_set(doc, "response_format",
			                json_object_get(pv, "response_format"));
		if (json_object_get(pv, "model_config"))
			json_object_set(doc, "model_config", json_object_get(pv, "model_config"));
		rc = pr_answer(b, "RenderPromptResponse", doc, resp, err);
	}
	cn_buf_free(&missing);
	pr_vals_free(&v);
	json_decref(doc);
	json_decref(pv);
	json_decref(r);
	return rc;
}

/* ---- diff ------------------------------------------------------------- */

static json_t *pr_minus(json_t *a, json_t *b)
{
	json_t *out = json_array(), *x, *y;
	size_t i, k;
	json_array_foreach(a, i, x)
	{
		bool in = false;
		json_array_foreach(b, k, y) in |= json_equal(x, y);
		if (!in)
			json_array_append(out, x);
	}
	return out;
}

static json_t *pr_diff_doc(json_t *from, json_t *to, const pr_diff *d, const bool *keep)
{
	json_t *lines = json_array();
	static const char *const ops[] = {"equal", "insert", "delete"};
	for (size_t i = 0; i < d->n; i++) {
		const pr_diff_line *l = &d->lines[i];
		if (!keep[i])
			continue;
		json_t *e = json_pack("{s:s,s:s%}", "op", ops[l->op], "text", l->text, l->len);
		if (l->from_line)
			json_object_set_new(e, "from_line", json_integer(l->from_line));
		if (l->to_line)
			json_object_set_new(e, "to_line", json_integer(l->to_line));
		json_array_append_new(lines, e);
	}
	json_t *changed = json_array();
	const char *fields[] = {"template_type", "response_format", "model_config",
	                        "commit_message"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		json_t *x = json_object_get(from, fields[i]), *y = json_object_get(to, fields[i]);
		if (!(x == y || (x && y && json_equal(x, y))))
			json_array_append_new(changed, json_string(fields[i]));
	}
	json_t *vf = json_object_get(from, "variables"), *vt = json_object_get(to, "variables");
	return json_pack(
	        "{s:O,s:O,s:O,s:o,s:I,s:I,s:o,s:o,s:o}", "name", json_object_get(from, "name"),
	        "from_version", json_object_get(from, "version"), "to_version",
	        json_object_get(to, "version"), "lines", lines, "inserted", (json_int_t)d->inserted,
	        "deleted", (json_int_t)d->deleted, "variables_added", pr_minus(vt, vf),
	        "variables_removed", pr_minus(vf, vt), "changed_fields", changed);
}

PR_METHOD(pr_diff_versions)
{
	json_t *r, *from = NULL, *to = NULL;
	cn_code rc = pr_request("DiffPromptVersions", req, &r, err);
	if (rc == CN_OK && !*F(r, "from_version"))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for required parameter 'from_version'.");
	if (rc == CN_OK && !*F(r, "to_version"))
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for required parameter 'to_version'.");
	if (rc == CN_OK)
		rc = pr_load_version(st, ctx, F(r, "name"), F(r, "from_version"), "", &from, err);
	if (rc == CN_OK)
		rc = pr_load_version(st, ctx, F(r, "name"), F(r, "to_version"), "", &to, err);
	char *a = NULL, *bt = NULL;
	size_t alen = 0, blen = 0;
	if (rc == CN_OK &&
	    (!(a = pr_version_text(from, &alen)) || !(bt = pr_version_text(to, &blen))))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pr_diff d = {0};
	if (rc == CN_OK)
		rc = pr_diff_lines(a, alen, bt, blen, &d, err);
	json_t *cj = json_object_get(r, "context");
	int context = cj ? (int)json_integer_value(cj) : 3;
	bool *keep = rc == CN_OK ? malloc((d.n ? d.n : 1) * sizeof *keep) : NULL;
	if (rc == CN_OK && !keep)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK) {
		pr_diff_keep(&d, context, keep);
		json_t *doc = pr_diff_doc(from, to, &d, keep);
		cn_buf u = CN_BUF_INIT;
		char fa[PR_NAME_MAX + 64], fb[PR_NAME_MAX + 64];
		snprintf(fa, sizeof fa, "%s", F(from, "uri"));
		snprintf(fb, sizeof fb, "%s", F(to, "uri"));
		pr_diff_unified(&d, fa, fb, context, &u);
		json_object_set_new(doc, "unified", json_stringn(u.p ? u.p : "", u.len));
		cn_buf_free(&u);
		rc = pr_answer(b, "DiffPromptVersionsResponse", doc, resp, err);
		json_decref(doc);
	}
	free(keep);
	pr_diff_free(&d);
	free(a);
	free(bt);
	json_decref(from);
	json_decref(to);
	json_decref(r);
	return rc;
}
