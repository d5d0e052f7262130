/*
 * core/prompts/prompts_test.c: the prompts service with the registry,
 * through the service runtime and a real bus client (no HTTP): every
 * prompts.* change event with its topic and payload, nothing published for
 * a refused call, and LinkPromptVersions as another service calls it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/codec/codec.h"
#include "core/prompts/prompts.h"
#include "core/registry/registry.h"
#include "core/service.h"
#include "schemas/cairn_schema.h"

#define MAX_SEEN 64

typedef struct events_seen {
	pthread_mutex_t mu;
	int n;
	char ev[MAX_SEEN][160]; /* "topic name/version/alias/key/value/type" */
} events_seen;

static void on_event(void *arg, const char *topic, const char *request_id, const uint8_t *payload,
                     size_t len)
{
	events_seen *s = arg;
	cn_err err;
	if (cn_fb_verify(&cn_schema_cairn, CN_TABLE_PromptEvent, payload, len, &err) != CN_OK)
		return;
	cn_fb_table t = cn_fb_root(payload);
	cn_fb_str f[6] = {cn_PromptEvent_name(t),  cn_PromptEvent_version(t),
	                  cn_PromptEvent_alias(t), cn_PromptEvent_key(t),
	                  cn_PromptEvent_value(t), cn_PromptEvent_template_type(t)};
	pthread_mutex_lock(&s->mu);
	if (s->n < MAX_SEEN) {
		int o = snprintf(s->ev[s->n], sizeof s->ev[0], "%s ", topic);
		for (int i = 0; i < 6; i++)
			o += snprintf(s->ev[s->n] + o, sizeof s->ev[0] - (size_t)o, "%s%.*s",
			              i ? "/" : "", f[i].ptr ? (int)f[i].len : 0,
			              f[i].ptr ? f[i].ptr : "");
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
}

static int seen_count(events_seen *s, const char *ev)
{
	pthread_mutex_lock(&s->mu);
	int found = 0;
	for (int i = 0; i < s->n; i++)
		found += !strcmp(s->ev[i], ev);
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* Call `method` with a JSON request; the reply's code. */
static cn_code call(cn_bus_client *c, const char *method, const char *json)
{
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_fb_ref root;
	cn_err err;
	int t = cn_schema_table_index(&cn_schema_cairn, method);
	CN_CHECK(t >= 0);
	CN_CHECK_EQ_INT(
	        cn_json_decode(&cn_schema_cairn, t, json, strlen(json), NULL, 0, b, &root, &err),
	        CN_OK);
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_bus_call bc = {method, "test-req", "tester", cn_now_ms() + 10000, buf, len};
	cn_bus_reply reply;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &bc, &reply, &err), CN_OK);
	cn_code rc = reply.code;
	cn_bus_reply_free(&reply);
	cn_fb_builder_free(b);
	return rc;
}

static void wait_for(events_seen *s, const char *ev)
{
	for (int i = 0; i < 200 && !seen_count(s, ev); i++)
		usleep(10000);
}

CN_TEST(prompts_events_and_links)
{
	char dir[] = "/tmp/cn-prompts-test-XXXXXX";
	CN_CHECK(mkdtemp(dir) != NULL);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.service_workers = 4;
	cn_config_resolve(&cfg);
	cn_err err;
	CN_CHECK_EQ_INT(cn_config_set(&cfg, "service.registry", "inproc://pr-test-reg", &err),
	                CN_OK);
	cn_bus_pub *pub = NULL;
	CN_CHECK_EQ_INT(cn_bus_pub_open(&pub, "inproc://pr-test-events", NULL, &err), CN_OK);
	events_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
	cn_bus_sub *sub = NULL;
	CN_CHECK_EQ_INT(cn_bus_sub_open(&sub, "inproc://pr-test-events", NULL, "prompts.", on_event,
	                                &seen, &err),
	                CN_OK);
	cn_service_runtime *reg = NULL, *pr = NULL;
	CN_CHECK_EQ_INT(cn_service_start(&reg, &cn_registry_service, &cfg, "inproc://pr-test-reg",
	                                 pub, &err),
	                CN_OK);
	CN_CHECK_EQ_INT(
	        cn_service_start(&pr, &cn_prompts_service, &cfg, "inproc://pr-test", pub, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "prompts", "inproc://pr-test", NULL, &err), CN_OK);

	/* PUB/SUB needs the subscription established: retry the first event. */
	char first[160] = "";
	for (int i = 0; i < 50 && !first[0]; i++) {
		char req[64], ev[160];
		snprintf(req, sizeof req, "{\"name\": \"warm-%d\"}", i);
		snprintf(ev, sizeof ev, "prompts.prompt.created warm-%d/////", i);
		CN_CHECK_EQ_INT(call(c, "CreatePrompt", req), CN_OK);
		usleep(20000);
		if (seen_count(&seen, ev))
			snprintf(first, sizeof first, "%s", ev);
	}
	CN_CHECK(first[0] != 0);

	CN_CHECK_EQ_INT(call(c, "CreatePrompt", "{\"name\": \"p\"}"), CN_OK);
	CN_CHECK_EQ_INT(call(c, "CreatePromptVersion", "{\"name\": \"p\", \"template\": \"{{a\"}"),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(
	        call(c, "CreatePromptVersion", "{\"name\": \"p\", \"template\": \"{{a}}\"}"),
	        CN_OK);
	CN_CHECK_EQ_INT(call(c, "CreatePromptVersion",
	                     "{\"name\": \"p\", \"messages\": [{\"role\": \"user\", "
	                     "\"content\": \"{{b}}\"}]}"),
	                CN_OK);
	CN_CHECK_EQ_INT(call(c, "SetPromptAlias",
	                     "{\"name\": \"p\", \"alias\": \"prod\", \"version\": \"2\"}"),
	                CN_OK);
	CN_CHECK_EQ_INT(call(c, "DeletePromptAlias", "{\"name\": \"p\", \"alias\": \"prod\"}"),
	                CN_OK);
	CN_CHECK_EQ_INT(
	        call(c, "SetPromptTag",
	             "{\"name\": \"p\", \"version\": \"1\", \"key\": \"k\", \"value\": \"v\"}"),
	        CN_OK);
	CN_CHECK_EQ_INT(call(c, "DeletePromptTag", "{\"name\": \"p\", \"key\": \"k\"}"),
	                CN_OK); /* a prompt tag that is not there: MLflow's no-op */
	/* the traces service reporting a trace that used version 1 */
	CN_CHECK_EQ_INT(call(c, "LinkPromptVersions",
	                     "{\"name\": \"p\", \"version\": \"1\", \"kind\": \"trace\", "
	                     "\"id\": \"tr-1\"}"),
	                CN_OK);
	CN_CHECK_EQ_INT(call(c, "LinkPromptVersions",
	                     "{\"name\": \"p\", \"version\": \"3\", \"kind\": \"trace\", "
	                     "\"id\": \"tr-1\"}"),
	                CN_RESOURCE_DOES_NOT_EXIST);
	/* a run link needs tracking, which this test does not run */
	CN_CHECK_EQ_INT(
	        call(c, "LinkPromptVersions",
	             "{\"name\": \"p\", \"version\": \"1\", \"kind\": \"run\", \"id\": \"r\"}"),
	        CN_TEMPORARILY_UNAVAILABLE);
	CN_CHECK_EQ_INT(call(c, "DeletePromptVersion", "{\"name\": \"p\", \"version\": \"1\"}"),
	                CN_OK);
	CN_CHECK_EQ_INT(call(c, "DeletePrompt", "{\"name\": \"p\"}"), CN_OK);

	wait_for(&seen, "prompts.prompt.deleted p/////");
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.prompt.created p/////"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.version.created p/1////text"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.version.created p/2////chat"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.version.created p/3////text"), 0);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.alias.set p/2/prod///"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.alias.deleted p/2/prod///"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.tag.set p/1//k/v/"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.tag.deleted p///k//"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.version.linked p/1//trace/tr-1/"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.version.deleted p/1////"), 1);
	CN_CHECK_EQ_INT(seen_count(&seen, "prompts.prompt.deleted p/////"), 1);

	cn_bus_client_close(c);
	cn_service_stop(pr);
	cn_service_stop(reg);
	cn_bus_sub_close(sub);
	cn_bus_pub_close(pub);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

CN_TEST_MAIN()
