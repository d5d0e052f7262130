/*
 * core/registry/registry_test.c: the registry service through the service
 * runtime and a real bus client (no HTTP): change events with their topics
 * and payloads on PUB/SUB, and models:/ URI resolution as another service
 * would call it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/registry/registry.h"
#include "core/service.h"
#include "schemas/cairn_schema.h"

#define MAX_SEEN 64

typedef struct events_seen {
	pthread_mutex_t mu;
	int n;
	char topic[MAX_SEEN][48];
	char detail[MAX_SEEN][64]; /* "name" or "name/version/alias" */
} events_seen;

static void on_event(void *arg, const char *topic, const char *request_id, const uint8_t *payload,
                     size_t len)
{
	events_seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (s->n < MAX_SEEN) {
		snprintf(s->topic[s->n], sizeof s->topic[0], "%s", topic);
		cn_fb_table t = cn_fb_root(payload);
		if (!strncmp(topic, "registry.model.", 15)) {
			cn_fb_str n = cn_RegisteredModel_name(t);
			snprintf(s->detail[s->n], sizeof s->detail[0], "%.*s", (int)n.len, n.ptr);
		} else {
			cn_fb_str n = cn_ModelVersion_name(t), v = cn_ModelVersion_version(t);
			cn_fb_vec al = cn_ModelVersion_aliases(t);
			cn_fb_str a = al.n ? cn_fb_vec_str(al, 0) : (cn_fb_str){"", 0};
			snprintf(s->detail[s->n], sizeof s->detail[0], "%.*s/%.*s/%.*s", (int)n.len,
			         n.ptr, (int)v.len, v.ptr, (int)a.len, a.ptr);
		}
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
}

static cn_code call(cn_bus_client *c, const char *method, cn_fb_builder *b, cn_fb_ref root,
                    cn_bus_reply *reply)
{
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_bus_call bc = {method, "test-req", "tester", cn_now_ms() + 5000, buf, len};
	cn_err err;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &bc, reply, &err), CN_OK);
	return reply->code;
}

static cn_code create_model(cn_bus_client *c, cn_fb_builder *b, const char *name)
{
	cn_bus_reply reply;
	cn_fb_builder_reset(b);
	cn_fb_ref n = cn_fb_create_cstr(b, name);
	cn_CreateRegisteredModel_start(b);
	cn_CreateRegisteredModel_add_name(b, n);
	cn_code rc = call(c, "CreateRegisteredModel", b, cn_CreateRegisteredModel_end(b), &reply);
	cn_bus_reply_free(&reply);
	return rc;
}

static cn_code create_version(cn_bus_client *c, cn_fb_builder *b, const char *name,
                              const char *source)
{
	cn_bus_reply reply;
	cn_fb_builder_reset(b);
	cn_fb_ref n = cn_fb_create_cstr(b, name);
	cn_fb_ref s = cn_fb_create_cstr(b, source);
	cn_CreateModelVersion_start(b);
	cn_CreateModelVersion_add_name(b, n);
	cn_CreateModelVersion_add_source(b, s);
	cn_code rc = call(c, "CreateModelVersion", b, cn_CreateModelVersion_end(b), &reply);
	cn_bus_reply_free(&reply);
	return rc;
}

/* Resolve uri; on success copy the answered version and source. */
static cn_code resolve(cn_bus_client *c, cn_fb_builder *b, const char *uri, char *ver, char *source)
{
	cn_bus_reply reply;
	cn_fb_builder_reset(b);
	cn_fb_ref u = cn_fb_create_cstr(b, uri);
	cn_ResolveModelUri_start(b);
	cn_ResolveModelUri_add_uri(b, u);
	cn_code rc = call(c, "ResolveModelUri", b, cn_ResolveModelUri_end(b), &reply);
	if (rc == CN_OK) {
		cn_fb_table r = cn_fb_root(reply.payload);
		cn_fb_str v = cn_ModelVersion_version(cn_ResolveModelUriResponse_model_version(r));
		cn_fb_str s = cn_ResolveModelUriResponse_source(r);
		snprintf(ver, 16, "%.*s", (int)v.len, v.ptr);
		snprintf(source, 64, "%.*s", (int)s.len, s.ptr);
	}
	cn_bus_reply_free(&reply);
	return rc;
}

static int find_event(events_seen *s, const char *topic, const char *detail)
{
	pthread_mutex_lock(&s->mu);
	int found = 0;
	for (int i = 0; i < s->n; i++)
		found += !strcmp(s->topic[i], topic) && !strcmp(s->detail[i], detail);
	pthread_mutex_unlock(&s->mu);
	return found;
}

CN_TEST(registry_events_and_resolution)
{
	char dir[] = "/tmp/cn-registry-test-XXXXXX";
	CN_CHECK(mkdtemp(dir) != NULL);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.service_workers = 4;
	cn_config_resolve(&cfg);
	cn_err err;
	cn_bus_pub *pub = NULL;
	CN_CHECK_EQ_INT(cn_bus_pub_open(&pub, "inproc://reg-test-events", NULL, &err), CN_OK);
	events_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
	cn_bus_sub *sub = NULL;
	CN_CHECK_EQ_INT(cn_bus_sub_open(&sub, "inproc://reg-test-events", NULL, "registry.",
	                                on_event, &seen, &err),
	                CN_OK);
	cn_service_runtime *rt = NULL;
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &cn_registry_service, &cfg, "inproc://reg-test", pub, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "registry", "inproc://reg-test", NULL, &err), CN_OK);
	cn_fb_builder *b = cn_fb_builder_new(256);

	/* PUB/SUB needs the subscription to be established: retry the first event. */
	char first[32] = "";
	for (int i = 0; i < 50 && !first[0]; i++) {
		char name[32];
		snprintf(name, sizeof name, "warm-%d", i);
		CN_CHECK_EQ_INT(create_model(c, b, name), CN_OK);
		usleep(20000);
		if (find_event(&seen, "registry.model.created", name))
			snprintf(first, sizeof first, "%s", name);
	}
	CN_CHECK(first[0] != 0);

	CN_CHECK_EQ_INT(create_model(c, b, "m"), CN_OK);
	CN_CHECK_EQ_INT(create_version(c, b, "m", "s3://b/v1"), CN_OK);
	CN_CHECK_EQ_INT(create_version(c, b, "m", "s3://b/v2"), CN_OK);
	CN_CHECK_EQ_INT(create_version(c, b, "m", "/local/path"), CN_INVALID_PARAMETER_VALUE);

	cn_bus_reply reply;
	cn_fb_builder_reset(b);
	cn_fb_ref n = cn_fb_create_cstr(b, "m"), a = cn_fb_create_cstr(b, "champion"),
	          v = cn_fb_create_cstr(b, "2");
	cn_SetRegisteredModelAlias_start(b);
	cn_SetRegisteredModelAlias_add_name(b, n);
	cn_SetRegisteredModelAlias_add_alias(b, a);
	cn_SetRegisteredModelAlias_add_version(b, v);
	CN_CHECK_EQ_INT(
	        call(c, "SetRegisteredModelAlias", b, cn_SetRegisteredModelAlias_end(b), &reply),
	        CN_OK);
	cn_bus_reply_free(&reply);

	cn_fb_builder_reset(b);
	n = cn_fb_create_cstr(b, "m");
	v = cn_fb_create_cstr(b, "1");
	cn_fb_ref st = cn_fb_create_cstr(b, "Production");
	cn_TransitionModelVersionStage_start(b);
	cn_TransitionModelVersionStage_add_name(b, n);
	cn_TransitionModelVersionStage_add_version(b, v);
	cn_TransitionModelVersionStage_add_stage(b, st);
	cn_TransitionModelVersionStage_add_archive_existing_versions(b, false);
	CN_CHECK_EQ_INT(call(c, "TransitionModelVersionStage", b,
	                     cn_TransitionModelVersionStage_end(b), &reply),
	                CN_OK);
	cn_bus_reply_free(&reply);

	/* models:/ URIs, as serving would resolve them over the bus */
	char ver[16], src[64];
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m/1", ver, src), CN_OK);
	CN_CHECK(!strcmp(ver, "1") && !strcmp(src, "s3://b/v1"));
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m@champion", ver, src), CN_OK);
	CN_CHECK(!strcmp(ver, "2") && !strcmp(src, "s3://b/v2"));
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m/Production", ver, src), CN_OK);
	CN_CHECK(!strcmp(ver, "1"));
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m/latest", ver, src), CN_OK);
	CN_CHECK(!strcmp(ver, "2"));
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m/Staging", ver, src), CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(resolve(c, b, "models:/m@nobody", ver, src), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(resolve(c, b, "models:/nope/1", ver, src), CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(resolve(c, b, "models:/", ver, src), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(resolve(c, b, "s3://x", ver, src), CN_INVALID_PARAMETER_VALUE);

	/* every change was published, in order, with its entity; the failed
	 * create published nothing */
	for (int i = 0; i < 100 && !find_event(&seen, "registry.version.stage_changed", "m/1/");
	     i++)
		usleep(10000);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.model.created", "m"), 1);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.version.created", "m/1/"), 1);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.version.created", "m/2/"), 1);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.version.created", "m/3/"), 0);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.alias.set", "m/2/champion"), 1);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.model.updated", "m"), 0);
	CN_CHECK_EQ_INT(find_event(&seen, "registry.version.stage_changed", "m/1/"), 1);

	cn_fb_builder_free(b);
	cn_bus_client_close(c);
	cn_service_stop(rt);
	cn_bus_sub_close(sub);
	cn_bus_pub_close(pub);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

CN_TEST_MAIN()
