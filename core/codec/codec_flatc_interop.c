/*
 * core/codec/codec_flatc_interop.c: the C half of the flatc interop test
 * (driven by flatc_interop_test.sh).
 *
 *   write <dir>       build env.bin / exp.bin with our builder and write the
 *                     JSON inputs env_in.json / exp_in.json for flatc
 *   check-json <dir>  check flatc's decoding (env.json, exp.json) of our buffers
 *   check-bin <dir>   read flatc's buffers (env_in.bin, exp_in.bin) with the
 *                     verifier, the generated readers and the JSON encoder
 * Exits 0 when every check holds; prints each failure.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/codec.h"
#include "schemas/cairn_schema.h"

static int interop_failures;

static void interop_check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAIL: %s\n", what);
		interop_failures++;
	}
}

static char *interop_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int interop_write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *p = interop_path(dir, name);
	FILE *f = p ? fopen(p, "wb") : NULL;
	int ok = f && fwrite(data, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok)
		fprintf(stderr, "cannot write %s\n", p ? p : name);
	free(p);
	return ok;
}

static uint8_t *interop_read_file(const char *dir, const char *name, size_t *len)
{
	char *p = interop_path(dir, name);
	FILE *f = p ? fopen(p, "rb") : NULL;
	uint8_t *buf = NULL;
	if (f && fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
		    fread(buf, 1, (size_t)n, f) == (size_t)n) {
			*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	if (f)
		fclose(f);
	if (!buf)
		fprintf(stderr, "cannot read %s\n", p ? p : name);
	free(p);
	return buf;
}

static const char interop_rid[] = "req-\"1\"-\xc3\xa9";

static int interop_write(const char *dir)
{
	cn_fb_builder *b = cn_fb_builder_new(0);
	const uint8_t *buf;
	size_t len;
	uint8_t payload[4] = {0, 1, 254, 255};
	cn_fb_ref rid = cn_fb_create_cstr(b, interop_rid);
	cn_fb_ref method = cn_fb_create_cstr(b, "CreateExperiment");
	cn_fb_ref caller = cn_fb_create_cstr(b, "");
	cn_fb_ref code = cn_fb_create_cstr(b, "RESOURCE_DOES_NOT_EXIST");
	cn_fb_ref pl = cn_fb_create_vec_scalars(b, payload, 4, 1);
	cn_Envelope_start(b);
	cn_Envelope_add_kind(b, CN_Kind_REPLY);
	cn_Envelope_add_request_id(b, rid);
	cn_Envelope_add_method(b, method);
	cn_Envelope_add_caller(b, caller);
	cn_Envelope_add_deadline_ms(b, 1700000000123LL);
	cn_Envelope_add_error_code(b, code);
	cn_Envelope_add_payload(b, pl);
	cn_Envelope_add_sent_ms(b, -5);
	int ok = cn_fb_finish(b, cn_Envelope_end(b), &buf, &len) &&
	         interop_write_file(dir, "env.bin", buf, len);

	cn_fb_builder_reset(b);
	cn_fb_ref tags[2];
	for (int i = 0; i < 2; i++) {
		cn_fb_ref k = cn_fb_create_cstr(b, i ? "b" : "a");
		cn_fb_ref v = cn_fb_create_cstr(b, i ? "" : "1");
		cn_ExperimentTag_start(b);
		cn_ExperimentTag_add_key(b, k);
		cn_ExperimentTag_add_value(b, v);
		tags[i] = cn_ExperimentTag_end(b);
	}
	cn_fb_ref tv = cn_fb_create_vec_refs(b, tags, 2);
	cn_fb_ref id = cn_fb_create_cstr(b, "7");
	cn_fb_ref name = cn_fb_create_cstr(b, "exp");
	cn_Experiment_start(b);
	cn_Experiment_add_experiment_id(b, id);
	cn_Experiment_add_name(b, name);
	cn_Experiment_add_last_update_time(b, 0); /* optional scalar, present as 0 */
	cn_Experiment_add_creation_time(b, 1700000000000LL);
	cn_Experiment_add_tags(b, tv);
	ok = ok && cn_fb_finish(b, cn_Experiment_end(b), &buf, &len) &&
	     interop_write_file(dir, "exp.bin", buf, len);
	cn_fb_builder_free(b);

	static const char env_in[] =
	        "{\"kind\": \"EVENT\", \"request_id\": \"r2\", \"method\": "
	        "\"tracking.experiment.created\", \"deadline_ms\": 9007199254740993, "
	        "\"payload\": [9, 8, 7], \"sent_ms\": 42}\n";
	static const char exp_in[] =
	        "{\"experiment_id\": \"9\", \"name\": \"flatc built\", \"creation_time\": 123, "
	        "\"last_update_time\": 0, \"tags\": [{\"key\": \"k1\", \"value\": \"v1\"}, "
	        "{\"key\": \"k2\"}]}\n";
	ok = ok && interop_write_file(dir, "env_in.json", env_in, sizeof env_in - 1) &&
	     interop_write_file(dir, "exp_in.json", exp_in, sizeof exp_in - 1);
	return ok ? 0 : 1;
}

static json_t *interop_load_json(const char *dir, const char *name)
{
	char *p = interop_path(dir, name);
	json_error_t e;
	json_t *j = p ? json_load_file(p, 0, &e) : NULL;
	if (!j)
		fprintf(stderr, "cannot parse %s: %s\n", p ? p : name, p ? e.text : "");
	free(p);
	return j;
}

static int interop_str_is(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static int interop_int_is(json_t *o, const char *key, json_int_t want)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) == want;
}

static int interop_check_json(const char *dir)
{
	json_t *env = interop_load_json(dir, "env.json");
	json_t *exp = interop_load_json(dir, "exp.json");
	if (!env || !exp) {
		json_decref(env);
		json_decref(exp);
		return 1;
	}
	interop_check(interop_str_is(env, "kind", "REPLY"), "env.kind == REPLY");
	interop_check(interop_str_is(env, "request_id", interop_rid), "env.request_id");
	interop_check(interop_str_is(env, "method", "CreateExperiment"), "env.method");
	interop_check(interop_str_is(env, "caller", ""), "env.caller is present and empty");
	interop_check(interop_int_is(env, "deadline_ms", 1700000000123LL), "env.deadline_ms");
	interop_check(interop_str_is(env, "error_code", "RESOURCE_DOES_NOT_EXIST"),
	              "env.error_code");
	interop_check(json_object_get(env, "error_message") == NULL, "env.error_message absent");
	interop_check(interop_int_is(env, "sent_ms", -5), "env.sent_ms");
	json_t *pl = json_object_get(env, "payload");
	interop_check(json_array_size(pl) == 4 && json_integer_value(json_array_get(pl, 0)) == 0 &&
	                      json_integer_value(json_array_get(pl, 2)) == 254 &&
	                      json_integer_value(json_array_get(pl, 3)) == 255,
	              "env.payload == [0,1,254,255]");

	interop_check(interop_str_is(exp, "experiment_id", "7"), "exp.experiment_id");
	interop_check(interop_str_is(exp, "name", "exp"), "exp.name");
	interop_check(interop_int_is(exp, "last_update_time", 0), "exp.last_update_time present");
	interop_check(interop_int_is(exp, "creation_time", 1700000000000LL), "exp.creation_time");
	interop_check(json_object_get(exp, "artifact_location") == NULL, "exp.artifact_location");
	json_t *tags = json_object_get(exp, "tags");
	interop_check(json_array_size(tags) == 2 &&
	                      interop_str_is(json_array_get(tags, 0), "key", "a") &&
	                      interop_str_is(json_array_get(tags, 0), "value", "1") &&
	                      interop_str_is(json_array_get(tags, 1), "key", "b") &&
	                      interop_str_is(json_array_get(tags, 1), "value", ""),
	              "exp.tags");
	json_decref(env);
	json_decref(exp);
	return interop_failures ? 1 : 0;
}

/* Verify, read with generated readers, and encode a flatc-built buffer. */
static int interop_check_bin(const char *dir)
{
	size_t len = 0;
	cn_err err;
	uint8_t *env = interop_read_file(dir, "env_in.bin", &len);
	if (!env)
		return 1;
	interop_check(cn_fb_verify(&cn_schema_cairn, CN_TABLE_Envelope, env, len, &err) == CN_OK,
	              "env_in.bin verifies");
	cn_fb_table t = cn_fb_root(env);
	interop_check(cn_Envelope_kind(t) == CN_Kind_EVENT, "env kind EVENT");
	interop_check(cn_fb_str_eq(cn_Envelope_request_id(t), "r2"), "env request_id");
	interop_check(cn_fb_str_eq(cn_Envelope_method(t), "tracking.experiment.created"),
	              "env method");
	interop_check(cn_Envelope_deadline_ms(t) == 9007199254740993LL, "env deadline_ms");
	interop_check(cn_Envelope_sent_ms(t) == 42, "env sent_ms");
	interop_check(!cn_Envelope_has_caller(t), "env caller absent");
	cn_fb_vec pl = cn_Envelope_payload(t);
	interop_check(pl.n == 3 && *cn_fb_vec_elem(pl, 0, 1) == 9 && *cn_fb_vec_elem(pl, 2, 1) == 7,
	              "env payload");
	free(env);

	uint8_t *exp = interop_read_file(dir, "exp_in.bin", &len);
	if (!exp)
		return 1;
	interop_check(cn_fb_verify(&cn_schema_cairn, CN_TABLE_Experiment, exp, len, &err) == CN_OK,
	              "exp_in.bin verifies");
	t = cn_fb_root(exp);
	interop_check(cn_fb_str_eq(cn_Experiment_name(t), "flatc built"), "exp name");
	interop_check(cn_Experiment_has_last_update_time(t) &&
	                      cn_Experiment_last_update_time(t) == 0,
	              "exp last_update_time present as 0");
	interop_check(cn_Experiment_creation_time(t) == 123, "exp creation_time");
	cn_fb_vec tags = cn_Experiment_tags(t);
	interop_check(tags.n == 2, "exp two tags");
	if (tags.n == 2) {
		interop_check(cn_fb_str_eq(cn_ExperimentTag_value(cn_fb_vec_table(tags, 0)), "v1"),
		              "tag 0 value");
		interop_check(!cn_ExperimentTag_has_value(cn_fb_vec_table(tags, 1)),
		              "tag 1 value absent");
	}
	cn_buf out = CN_BUF_INIT;
	interop_check(cn_json_encode(&cn_schema_cairn, CN_TABLE_Experiment, t, &out) == CN_OK,
	              "encode");
	static const char want[] =
	        "{\"experiment_id\":\"9\",\"name\":\"flatc built\","
	        "\"last_update_time\":0,\"creation_time\":123,\"tags\":[{\"key\":"
	        "\"k1\",\"value\":\"v1\"},{\"key\":\"k2\"}]}";
	interop_check(out.p && strcmp(out.p, want) == 0, "exp encodes as MLflow JSON");
	if (out.p && strcmp(out.p, want) != 0)
		fprintf(stderr, "  got:  %s\n  want: %s\n", out.p, want);
	cn_buf_free(&out);
	free(exp);
	return interop_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s write|check-json|check-bin <dir>\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "write") == 0)
		return interop_write(argv[2]);
	if (strcmp(argv[1], "check-json") == 0)
		return interop_check_json(argv[2]);
	if (strcmp(argv[1], "check-bin") == 0)
		return interop_check_bin(argv[2]);
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
