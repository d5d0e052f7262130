/*
 * core/registry/store.c: registry values in RocksDB as JSON trees (loading,
 * encoding through the codec, batches, events), tags, and MLflow's
 * validation of registry inputs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/codec/codec.h"
#include "core/registry/registry_int.h"
#include "schemas/cairn_schema.h"

cn_code reg_missing(cn_err *err, const char *param)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Missing value for required parameter '%s'. See the API docs for more "
	                  "information about request parameters.",
	                  param);
}

cn_code reg_need(cn_fb_str v, const char *param, cn_err *err)
{
	if (!v.ptr || v.len == 0)
		return reg_missing(err, param);
	/* Names are key parts (core/store/key.h bounds keys at 1 KiB): Cairn's
	 * explicit limit, where MLflow's SQL stores have their column width. */
	if ((!strcmp(param, "name") || !strcmp(param, "new_name")) && v.len > REG_NAME_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'%s' exceeds the maximum length of %d bytes", param,
		                  REG_NAME_MAX);
	if (memchr(v.ptr, '\0', v.len))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "'%s' must not contain NUL",
		                  param);
	return CN_OK;
}

cn_code reg_parse_version(cn_fb_str v, uint64_t *out, cn_err *err)
{
	if (!v.ptr || v.len == 0)
		return reg_missing(err, "version");
	uint64_t n = 0;
	bool ok = v.len <= 18;
	for (uint32_t i = 0; ok && i < v.len; i++) {
		ok = v.ptr[i] >= '0' && v.ptr[i] <= '9';
		n = n * 10 + (uint64_t)(v.ptr[i] - '0');
	}
	if (!ok)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Parameter 'version' must be an integer, got '%.*s'.", (int)v.len,
		                  v.ptr);
	*out = n;
	return CN_OK;
}

void reg_version_key(cn_key *k, const char *name, size_t len, uint64_t version)
{
	cn_key_init(k);
	cn_key_str(k, name, len);
	cn_key_u64(k, version);
}

/* Decode a stored FlatBuffer of `table` into a tree. */
cn_code reg_decode_value(int table, const uint8_t *p, size_t n, json_t **out, cn_err *err)
{
	if (cn_fb_verify(&cn_schema_cairn, table, p, n, err) != CN_OK)
		return cn_err_set(err, CN_DATA_LOSS, "stored registry value is corrupt: %s",
		                  err->msg);
	cn_buf js = {0};
	cn_code rc = cn_json_encode(&cn_schema_cairn, table, cn_fb_root(p), &js);
	if (rc != CN_OK || cn_buf_failed(&js)) {
		cn_buf_free(&js);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	json_error_t je;
	*out = json_loadb(js.p, js.len, JSON_ALLOW_NUL, &je);
	cn_buf_free(&js);
	return *out ? CN_OK : cn_err_set(err, CN_DATA_LOSS, "stored registry value unreadable");
}

static cn_code reg_get(reg_state *s, int cf, const void *k, size_t klen, int table, json_t **out,
                       cn_err *err)
{
	cn_kv_val v;
	cn_code rc = cn_kv_get(s->db, cf, k, klen, &v, err);
	if (rc != CN_OK)
		return rc;
	rc = reg_decode_value(table, v.data, v.len, out, err);
	cn_kv_val_release(&v);
	return rc;
}

cn_code reg_model_load(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err)
{
	cn_code rc = reg_get(s, REG_CF_MODELS, name, len, CN_TABLE_RegisteredModel, out, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		cn_err_set(err, rc, "Registered Model with name=%.*s not found", (int)len, name);
	return rc;
}

cn_code reg_version_load(reg_state *s, const char *name, size_t len, uint64_t ver, json_t **out,
                         cn_err *err)
{
	cn_key k;
	reg_version_key(&k, name, len, ver);
	cn_code rc = reg_get(s, REG_CF_VERSIONS, k.b, k.len, CN_TABLE_ModelVersion, out, err);
	if (rc == CN_RESOURCE_DOES_NOT_EXIST)
		cn_err_set(err, rc, "Model Version (name=%.*s, version=%" PRIu64 ") not found",
		           (int)len, name, ver);
	return rc;
}

cn_code reg_encode(int table, json_t *doc, uint8_t **out, size_t *len, cn_err *err)
{
	char *js = json_dumps(doc, JSON_COMPACT);
	cn_fb_builder *b = cn_fb_builder_new(1024);
	if (!js || !b) {
		free(js);
		cn_fb_builder_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_fb_ref root;
	const uint8_t *p;
	cn_code rc =
	        cn_json_decode(&cn_schema_cairn, table, js, strlen(js), NULL, 0, b, &root, err);
	if (rc == CN_OK && (!cn_fb_finish(b, root, &p, len) || !(*out = malloc(*len))))
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	if (rc == CN_OK)
		memcpy(*out, p, *len);
	free(js);
	cn_fb_builder_free(b);
	return rc;
}

cn_code reg_batch_put(cn_kv_batch *batch, int cf, const void *key, size_t klen, int table,
                      json_t *doc, uint8_t **keep, size_t *keep_len, cn_err *err)
{
	uint8_t *val;
	size_t vlen;
	cn_code rc = reg_encode(table, doc, &val, &vlen, err);
	if (rc != CN_OK)
		return rc;
	cn_kv_batch_put(batch, cf, key, klen, val, vlen);
	if (keep) {
		*keep = val;
		*keep_len = vlen;
	} else {
		free(val);
	}
	return CN_OK;
}

cn_code reg_write(reg_state *s, cn_kv_batch *b, cn_err *err)
{
	return cn_kv_write(s->db, b, err);
}

void reg_publish(reg_state *s, const cn_call_ctx *ctx, const char *topic, int table, json_t *doc)
{
	if (!s->events || !topic)
		return;
	uint8_t *val;
	size_t len;
	cn_err err;
	if (reg_encode(table, doc, &val, &len, &err) != CN_OK)
		return;
	cn_bus_publish(s->events, topic, ctx ? ctx->request_id : NULL, val, len);
	free(val);
}

cn_code reg_answer(cn_fb_builder *b, int table, json_t *doc, cn_fb_ref *resp, cn_err *err)
{
	char *js = json_dumps(doc, JSON_COMPACT);
	if (!js)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = cn_json_decode(&cn_schema_cairn, table, js, strlen(js), NULL, 0, b, resp, err);
	free(js);
	return rc;
}

cn_fb_ref reg_empty(cn_fb_builder *b)
{
	cn_Empty_start(b);
	return cn_Empty_end(b);
}

json_t *reg_strn(cn_fb_str v)
{
	return json_stringn(v.ptr ? v.ptr : "", v.ptr ? v.len : 0);
}

static bool reg_str_is(json_t *j, const char *s, size_t len)
{
	return json_is_string(j) && json_string_length(j) == len &&
	       memcmp(json_string_value(j), s, len) == 0;
}

void reg_tag_set(json_t *obj, const char *field, const char *key, size_t klen, const char *val,
                 size_t vlen)
{
	json_t *arr = json_object_get(obj, field);
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(obj, field, arr);
	}
	size_t i;
	json_t *t;
	json_array_foreach(arr, i, t)
	{
		if (reg_str_is(json_object_get(t, "key"), key, klen)) {
			json_object_set_new(t, "value", json_stringn(val, vlen));
			return;
		}
	}
	json_array_append_new(arr, json_pack("{s:s%,s:s%}", "key", key, klen, "value", val, vlen));
}

bool reg_tag_del(json_t *obj, const char *field, const char *key, size_t klen)
{
	json_t *arr = json_object_get(obj, field);
	size_t i;
	json_t *t;
	json_array_foreach(arr, i, t)
	{
		if (reg_str_is(json_object_get(t, "key"), key, klen)) {
			json_array_remove(arr, i);
			return true;
		}
	}
	return false;
}

const char *reg_tag_get(json_t *obj, const char *field, const char *key)
{
	json_t *arr = json_object_get(obj, field);
	size_t i;
	json_t *t;
	json_array_foreach(arr, i, t)
	{
		if (reg_str_is(json_object_get(t, "key"), key, strlen(key)))
			return json_string_value(json_object_get(t, "value"));
	}
	return NULL;
}

bool reg_is_prompt(json_t *model)
{
	const char *v = reg_tag_get(model, "tags", REG_PROMPT_TAG);
	return v && strcmp(v, "true") == 0;
}

cn_code reg_versions_list(reg_state *s, const char *name, size_t len, json_t **out, cn_err *err)
{
	cn_key pre;
	cn_key_init(&pre);
	cn_key_str(&pre, name, len);
	cn_kv_iter *it = cn_kv_iter_new(s->db, REG_CF_VERSIONS, pre.b, pre.len);
	json_t *arr = json_array();
	if (!it || !arr) {
		cn_kv_iter_free(it);
		json_decref(arr);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	cn_code rc = CN_OK;
	for (cn_kv_iter_seek_first(it); rc == CN_OK && cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t vl;
		const uint8_t *v = cn_kv_iter_value(it, &vl);
		json_t *doc;
		rc = reg_decode_value(CN_TABLE_ModelVersion, v, vl, &doc, err);
		if (rc == CN_OK)
			json_array_append_new(arr, doc);
	}
	if (rc == CN_OK)
		rc = cn_kv_iter_status(it, err);
	cn_kv_iter_free(it);
	if (rc != CN_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return CN_OK;
}

void reg_version_aliases(json_t *model, json_t *version)
{
	const char *ver = json_string_value(json_object_get(version, "version"));
	json_t *names = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(model, "aliases"), i, a)
	{
		const char *v = json_string_value(json_object_get(a, "version"));
		if (ver && v && strcmp(v, ver) == 0)
			json_array_append(names, json_object_get(a, "alias"));
	}
	if (json_array_size(names))
		json_object_set_new(version, "aliases", names);
	else
		json_decref(names);
}

cn_code reg_model_full(reg_state *s, json_t *model, cn_err *err)
{
	const char *name = json_string_value(json_object_get(model, "name"));
	json_t *arr;
	cn_code rc = reg_stage_latest(s, name, strlen(name), &arr, err);
	if (rc != CN_OK)
		return rc;
	if (json_array_size(arr))
		json_object_set_new(model, "latest_versions", arr);
	else
		json_decref(arr);
	return CN_OK;
}

/* MLflow's name rules for tag keys (validate_param_and_metric_name). */
static bool reg_key_chars_ok(cn_fb_str k)
{
	for (uint32_t i = 0; i < k.len; i++) {
		unsigned char c = (unsigned char)k.ptr[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == ' ' || c == '/' || c == ':'))
			return false;
	}
	return true;
}

static size_t reg_chars(cn_fb_str v)
{
	size_t n = 0;
	for (uint32_t i = 0; i < v.len; i++)
		n += ((unsigned char)v.ptr[i] & 0xC0) != 0x80;
	return n;
}

cn_code reg_validate_tag(cn_fb_str key, cn_fb_str value, bool version_tag, cn_err *err)
{
	if (!key.ptr || key.len == 0)
		return reg_missing(err, "key");
	if (!reg_key_chars_ok(key))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid value \"%.*s\" for parameter 'key' supplied. Names may "
		        "only contain alphanumerics, underscores (_), dashes (-), periods "
		        "(.), spaces ( ), colon(:) and slashes (/).",
		        (int)key.len, key.ptr);
	if (reg_chars(key) > 250)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'key' exceeds the maximum length of 250 characters");
	if (!value.ptr && version_tag)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Tag value cannot be None");
	/* MLflow's own message for the prompt text (mlflow/utils/validation.py). */
	if (version_tag && value.ptr && reg_chars(value) > 100000 &&
	    cn_fb_str_eq(key, REG_PROMPT_TEXT_TAG))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Prompt text exceeds max length of 100000 characters.");
	if (value.ptr && reg_chars(value) > 100000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'value' exceeds the maximum length of 100000 characters");
	return CN_OK;
}

cn_code reg_validate_alias(cn_fb_str a, cn_err *err)
{
	if (!a.ptr || a.len == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Registered model alias name cannot be empty.");
	bool ok = true;
	for (uint32_t i = 0; ok && i < a.len; i++) {
		char c = a.ptr[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-';
	}
	if (!ok)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid alias name: '%.*s'. Names may only contain alphanumerics, "
		        "underscores (_), and dashes (-).",
		        (int)a.len, a.ptr);
	if (a.len > 255)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'Registered model alias name' exceeds the maximum length of 255 "
		                  "characters");
	if (a.len == 6 && strncasecmp(a.ptr, "latest", 6) == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "'latest' alias name (case insensitive) is reserved.");
	bool vform = a.len > 1 && (a.ptr[0] == 'v' || a.ptr[0] == 'V');
	for (uint32_t i = 1; vform && i < a.len; i++)
		vform = a.ptr[i] >= '0' && a.ptr[i] <= '9';
	if (vform)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Version alias name '%.*s' is reserved.", (int)a.len, a.ptr);
	return CN_OK;
}
