/*
 * core/prompts/lineage.c: which runs, traces, evaluation results and
 * deployed endpoints used which prompt version.
 *
 * Runs: the link is the run's mlflow.linkedPrompts tag, as MLflow keeps it
 * (a JSON list of {"name", "version"}), owned by tracking: linking a run
 * edits that tag through tracking, and lineage reads it back from tracking
 * (a tag search over every experiment), so a run linked by MLflow's client
 * directly shows up too. Everything else is recorded here, in the links
 * column family (prompts.h), by LinkPromptVersions calls from the services
 * that own those things.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/prompts/prompts_int.h"
#include "core/store/key.h"
#include "schemas/cairn_schema.h"

#define F(doc, k) pr_str(doc, k)

static const char *const pr_kinds[] = {"run", "trace", "evaluation", "endpoint"};

static void pr_link_key(cn_key *k, const char *name, const char *ver, const char *kind,
                        const char *id)
{
	cn_key_init(k);
	cn_key_str(k, name, strlen(name));
	if (ver)
		cn_key_str(k, ver, strlen(ver));
	if (kind)
		cn_key_str(k, kind, strlen(kind));
	if (id)
		cn_key_str(k, id, strlen(id));
}

/* Add {name, version} to a run's mlflow.linkedPrompts tag (MLflow's
 * read-modify-write of the tag, as its client does). */
static cn_code pr_link_run(pr_state *s, const cn_call_ctx *ctx, const char *name, const char *ver,
                           const char *run_id, cn_err *err)
{
	json_t *q = json_pack("{s:s}", "run_id", run_id), *rep = NULL;
	cn_code rc = pr_call(s, ctx, PR_TRACKING, "GetRun", q, &rep, err);
	json_decref(q);
	if (rc != CN_OK)
		return rc;
	const char *cur =
	        pr_tag(json_object_get(json_object_get(rep, "run"), "data"), "tags", PR_TAG_LINKED);
	json_t *list = NULL;
	if (cur) {
		json_error_t je;
		list = json_loads(cur, 0, &je);
		if (!list)
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid JSON format for '" PR_TAG_LINKED "' tag: %.300s",
			                cur);
		else if (!json_is_array(list))
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid format for '" PR_TAG_LINKED "' tag: %.300s", cur);
	} else {
		list = json_array();
	}
	json_t *entry = json_pack("{s:s,s:s}", "name", name, "version", ver);
	bool have = false;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) have |= json_equal(e, entry);
	if (rc == CN_OK && !have) {
		json_array_append(list, entry);
		char *val = json_dumps(list, JSON_COMPACT);
		json_t *set = json_pack("{s:s,s:s,s:s}", "run_id", run_id, "key", PR_TAG_LINKED,
		                        "value", val ? val : "[]"),
		       *r2 = NULL;
		rc = pr_call(s, ctx, PR_TRACKING, "SetTag", set, &r2, err);
		json_decref(set);
		json_decref(r2);
		free(val);
	}
	json_decref(entry);
	json_decref(list);
	json_decref(rep);
	return rc;
}

PR_METHOD(pr_link)
{
	pr_state *s = st;
	json_t *r, *pv = NULL;
	cn_code rc = pr_request("LinkPromptVersions", req, &r, err);
	if (rc != CN_OK)
		return rc;
	const char *kind = F(r, "kind"), *id = F(r, "id");
	bool known = false;
	for (size_t i = 0; i < sizeof pr_kinds / sizeof pr_kinds[0]; i++)
		known |= !strcmp(kind, pr_kinds[i]);
	if (!known)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Invalid value '%.64s' for parameter 'kind': one of run, trace, "
		                "evaluation, endpoint",
		                kind);
	else if (!*id)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "Missing value for required parameter 'id'.");
	else if (strlen(id) > PR_LINK_ID_MAX)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "'id' exceeds the maximum length of %d bytes", PR_LINK_ID_MAX);
	/* The version must exist (and be a prompt's) before anything is linked. */
	if (rc == CN_OK)
		rc = pr_load_version(s, ctx, F(r, "name"), F(r, "version"), "", &pv, err);
	if (rc == CN_OK && !strcmp(kind, "run")) {
		pthread_mutex_lock(&s->run_mu);
		rc = pr_link_run(s, ctx, F(r, "name"), F(pv, "version"), id, err);
		pthread_mutex_unlock(&s->run_mu);
	} else if (rc == CN_OK) {
		cn_key k;
		pr_link_key(&k, F(r, "name"), F(pv, "version"), kind, id);
		cn_kv_val old;
		cn_code got = cn_kv_get(s->db, PR_CF_LINKS, k.b, k.len, &old, err);
		if (got == CN_OK) {
			cn_kv_val_release(&old); /* linked before: keep the first time */
		} else if (got != CN_RESOURCE_DOES_NOT_EXIST) {
			rc = got;
		} else {
			cn_key t;
			cn_key_init(&t);
			cn_key_i64(&t, cn_now_ms());
			cn_kv_batch *batch = cn_kv_batch_new();
			if (!batch)
				rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			if (rc == CN_OK) {
				cn_kv_batch_put(batch, PR_CF_LINKS, k.b, k.len, t.b, t.len);
				rc = cn_kv_write(s->db, batch, err);
			}
			cn_kv_batch_free(batch);
		}
	}
	if (rc == CN_OK) {
		*resp = pr_empty(b);
		pr_publish(s, ctx, "prompts.version.linked", F(r, "name"), F(pv, "version"), NULL,
		           kind, id, NULL);
	}
	json_decref(pv);
	json_decref(r);
	return rc;
}

cn_code pr_links_drop(pr_state *s, const char *name, const char *version, cn_err *err)
{
	cn_key p;
	pr_link_key(&p, name, version, NULL, NULL);
	cn_kv_iter *it = cn_kv_iter_new(s->db, PR_CF_LINKS, p.b, p.len);
	cn_kv_batch *batch = cn_kv_batch_new();
	if (!it || !batch) {
		cn_kv_iter_free(it);
		cn_kv_batch_free(batch);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	size_t n = 0;
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it), n++) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		cn_kv_batch_del(batch, PR_CF_LINKS, k, klen);
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc == CN_OK && n)
		rc = cn_kv_write(s->db, batch, err);
	cn_kv_batch_free(batch);
	return rc;
}

/* Created-at of version v among the registry's records, or -1 (gone). */
static int64_t pr_version_born(json_t *live, const char *v)
{
	size_t i;
	json_t *mv;
	json_array_foreach(live, i, mv)
	{
		if (!strcmp(F(mv, "version"), v))
			return json_integer_value(json_object_get(mv, "creation_timestamp"));
	}
	return -1;
}

/* Recorded links of name (and version) appended to out. A version deleted
 * through MLflow's routes (which this service does not see) leaves links
 * behind; they are skipped here: a link must name a live version and be
 * no older than it (a re-created name starts again at version 1). */
static cn_code pr_links_read(pr_state *s, const char *name, const char *version, json_t *live,
                             json_t *out, cn_err *err)
{
	cn_key p;
	pr_link_key(&p, name, *version ? version : NULL, NULL, NULL);
	cn_kv_iter *it = cn_kv_iter_new(s->db, PR_CF_LINKS, p.b, p.len);
	if (!it)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen, vlen, pos = 0;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		const uint8_t *v = cn_kv_iter_value(it, &vlen);
		char ver[32], kind[32], id[PR_LINK_ID_MAX + 1];
		int64_t at = 0;
		size_t vpos = 0;
		if (!cn_key_get_str(k, klen, &pos, NULL, 0, NULL) ||
		    !cn_key_get_str(k, klen, &pos, ver, sizeof ver, NULL) ||
		    !cn_key_get_str(k, klen, &pos, kind, sizeof kind, NULL) ||
		    !cn_key_get_str(k, klen, &pos, id, sizeof id, NULL) ||
		    !cn_key_get_i64(v, vlen, &vpos, &at))
			continue; /* not a link key: nothing this version wrote */
		int64_t born = pr_version_born(live, ver);
		if (born < 0 || at < born)
			continue;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", name,
		                                     "version", ver, "kind", kind, "id", id,
		                                     "linked_at", (json_int_t)at));
	}
	cn_code rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	return rc;
}

/* Runs whose mlflow.linkedPrompts tag names the prompt, from tracking. */
static cn_code pr_runs_of(pr_state *s, const cn_call_ctx *ctx, const char *name,
                          const char *version, json_t *out, cn_err *err)
{
	json_t *ids = json_array();
	char *token = NULL;
	cn_code rc = CN_OK;
	do { /* every experiment, deleted ones too (their runs still used it) */
		json_t *q = json_pack("{s:i,s:s}", "max_results", 1000, "view_type", "ALL"),
		       *rep = NULL;
		if (token)
			json_object_set_new(q, "page_token", json_string(token));
		rc = pr_call(s, ctx, PR_TRACKING, "SearchExperiments", q, &rep, err);
		json_decref(q);
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(rep, "experiments"), i, e)
		        json_array_append_new(ids, json_string(F(e, "experiment_id")));
		free(token);
		token = rc == CN_OK && *F(rep, "next_page_token")
		                ? strdup(F(rep, "next_page_token"))
		                : NULL;
		json_decref(rep);
	} while (rc == CN_OK && token);
	/* Prompt names are [A-Za-z0-9_.-]: safe inside a LIKE literal, where
	 * '_' may match more; the JSON is checked exactly below. */
	cn_buf f = CN_BUF_INIT;
	cn_buf_printf(&f, "tags.`" PR_TAG_LINKED "` LIKE '%%%s%%'", name);
	cn_buf_putc(&f, '\0');
	for (size_t at = 0; rc == CN_OK && at < json_array_size(ids); at += 100) {
		json_t *batch = json_array();
		for (size_t i = at; i < at + 100 && i < json_array_size(ids); i++)
			json_array_append(batch, json_array_get(ids, i));
		do {
			json_t *q = json_pack("{s:o,s:s,s:s,s:i}", "experiment_ids",
			                      json_incref(batch), "filter", f.p, "run_view_type",
			                      "ALL", "max_results", 1000),
			       *rep = NULL;
			if (token)
				json_object_set_new(q, "page_token", json_string(token));
			rc = pr_call(s, ctx, PR_TRACKING, "SearchRuns", q, &rep, err);
			json_decref(q);
			size_t i, k;
			json_t *run, *e;
			json_array_foreach(json_object_get(rep, "runs"), i, run)
			{
				json_t *info = json_object_get(run, "info");
				const char *tag =
				        pr_tag(json_object_get(run, "data"), "tags", PR_TAG_LINKED);
				json_error_t je;
				json_t *list = tag ? json_loads(tag, 0, &je) : NULL;
				json_array_foreach(list, k, e)
				{
					if (strcmp(F(e, "name"), name) ||
					    (*version && strcmp(F(e, "version"), version)))
						continue;
					json_t *l = json_pack("{s:s,s:s,s:s,s:s}", "name", name,
					                      "version", F(e, "version"), "kind",
					                      "run", "id", F(info, "run_id"));
					if (json_object_get(info, "start_time"))
						json_object_set(
						        l, "linked_at",
						        json_object_get(info, "start_time"));
					json_array_append_new(out, l);
				}
				json_decref(list);
			}
			free(token);
			token = rc == CN_OK && *F(rep, "next_page_token")
			                ? strdup(F(rep, "next_page_token"))
			                : NULL;
			json_decref(rep);
		} while (rc == CN_OK && token);
		json_decref(batch);
	}
	free(token);
	cn_buf_free(&f);
	json_decref(ids);
	return rc;
}

static int pr_link_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	unsigned long long vx = strtoull(F(x, "version"), NULL, 10),
	                   vy = strtoull(F(y, "version"), NULL, 10);
	if (vx != vy)
		return vx < vy ? -1 : 1;
	int c = strcmp(F(x, "kind"), F(y, "kind"));
	return c ? c : strcmp(F(x, "id"), F(y, "id"));
}

PR_METHOD(pr_lineage)
{
	pr_state *s = st;
	json_t *r, *model = NULL;
	cn_code rc = pr_request("GetPromptLineage", req, &r, err);
	if (rc == CN_OK)
		rc = pr_load_prompt(s, ctx, F(r, "name"), &model, err);
	if (rc == CN_OK && *F(r, "version"))
		rc = pr_check_version(F(r, "version"), "version", err);
	json_t *links = json_array(), *live = NULL;
	if (rc == CN_OK)
		rc = pr_runs_of(s, ctx, F(r, "name"), F(r, "version"), links, err);
	if (rc == CN_OK)
		rc = pr_versions_raw(s, ctx, F(r, "name"), &live, err);
	if (rc == CN_OK)
		rc = pr_links_read(s, F(r, "name"), F(r, "version"), live, links, err);
	if (rc == CN_OK) {
		size_t n = json_array_size(links);
		json_t **v = malloc((n + 1) * sizeof *v);
		json_t *sorted = json_array();
		if (!v)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		for (size_t i = 0; v && i < n; i++)
			v[i] = json_array_get(links, i);
		if (v)
			qsort(v, n, sizeof *v, pr_link_cmp);
		for (size_t i = 0; v && i < n; i++)
			json_array_append(sorted, v[i]);
		free(v);
		json_t *doc = json_pack("{s:o}", "links", sorted);
		if (rc == CN_OK)
			rc = pr_answer(b, "GetPromptLineageResponse", doc, resp, err);
		json_decref(doc);
	}
	json_decref(links);
	json_decref(live);
	json_decref(model);
	json_decref(r);
	return rc;
}
