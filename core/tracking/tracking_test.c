/*
 * core/tracking/tracking_test.c: the tracking service through the service
 * runtime and a real bus client (no HTTP): method dispatch, payload
 * verification, change events on PUB/SUB, and state across a reopen.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/service.h"
#include "core/tracking/tracking.h"
#include "schemas/cairn_schema.h"

typedef struct events_seen {
	pthread_mutex_t mu;
	int created;
	char last_name[64];
} events_seen;

static void on_event(void *arg, const char *topic, const char *request_id, const uint8_t *payload,
                     size_t len)
{
	events_seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (!strcmp(topic, "tracking.experiment.created")) {
		s->created++;
		cn_fb_str n = cn_Experiment_name(cn_fb_root(payload));
		snprintf(s->last_name, sizeof s->last_name, "%.*s", (int)n.len, n.ptr);
	}
	pthread_mutex_unlock(&s->mu);
}

static cn_code call(cn_bus_client *c, const char *method, cn_fb_builder *b, cn_fb_ref root,
                    cn_bus_reply *reply)
{
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_bus_call call = {method, "test-req", "tester", cn_now_ms() + 5000, buf, len};
	cn_err err;
	cn_code rc = cn_bus_call_sync(c, &call, reply, &err);
	CN_CHECK_EQ_INT(rc, CN_OK);
	return reply->code;
}

static void setup_cfg(cn_config *cfg, const char *dir)
{
	cn_config_defaults(cfg);
	snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", dir);
	cfg->service_workers = 4;
	cn_config_resolve(cfg);
}

CN_TEST(service_create_get_and_events)
{
	char dir[] = "/tmp/cn-tracking-test-XXXXXX";
	CN_CHECK(mkdtemp(dir) != NULL);
	cn_config cfg;
	setup_cfg(&cfg, dir);
	cn_err err;
	cn_bus_pub *pub = NULL;
	CN_CHECK_EQ_INT(cn_bus_pub_open(&pub, "inproc://trk-test-events", NULL, &err), CN_OK);
	events_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0, ""};
	cn_bus_sub *sub = NULL;
	CN_CHECK_EQ_INT(cn_bus_sub_open(&sub, "inproc://trk-test-events", NULL, "tracking.",
	                                on_event, &seen, &err),
	                CN_OK);
	cn_service_runtime *rt = NULL;
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &cn_tracking_service, &cfg, "inproc://trk-test", pub, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", "inproc://trk-test", NULL, &err), CN_OK);

	/* PUB/SUB needs the subscription to be established; retry the first event. */
	cn_fb_builder *b = cn_fb_builder_new(256);
	cn_bus_reply reply;
	char eid[32] = "";
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof name, "evt-%d", i);
		cn_fb_builder_reset(b);
		cn_fb_ref n = cn_fb_create_cstr(b, name);
		cn_CreateExperiment_start(b);
		cn_CreateExperiment_add_name(b, n);
		CN_CHECK_EQ_INT(call(c, "CreateExperiment", b, cn_CreateExperiment_end(b), &reply),
		                CN_OK);
		cn_fb_str id = cn_CreateExperimentResponse_experiment_id(cn_fb_root(reply.payload));
		snprintf(eid, sizeof eid, "%.*s", (int)id.len, id.ptr);
		cn_bus_reply_free(&reply);
		usleep(20000);
		pthread_mutex_lock(&seen.mu);
		int got = seen.created;
		pthread_mutex_unlock(&seen.mu);
		if (got)
			break;
	}
	pthread_mutex_lock(&seen.mu);
	CN_CHECK(seen.created >= 1);
	CN_CHECK(!strncmp(seen.last_name, "evt-", 4));
	pthread_mutex_unlock(&seen.mu);

	/* get by id answers the experiment just made */
	cn_fb_builder_reset(b);
	cn_fb_ref idr = cn_fb_create_cstr(b, eid);
	cn_GetExperiment_start(b);
	cn_GetExperiment_add_experiment_id(b, idr);
	CN_CHECK_EQ_INT(call(c, "GetExperiment", b, cn_GetExperiment_end(b), &reply), CN_OK);
	cn_fb_table e = cn_GetExperimentResponse_experiment(cn_fb_root(reply.payload));
	CN_CHECK(cn_fb_str_eq(cn_Experiment_experiment_id(e), eid));
	CN_CHECK(cn_fb_str_eq(cn_Experiment_lifecycle_stage(e), "active"));
	cn_bus_reply_free(&reply);

	/* a payload that is not a GetExperiment is refused before the method runs */
	const uint8_t junk[16] = {4, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
	cn_bus_call bad = {"GetExperiment", "r", "", cn_now_ms() + 5000, junk, sizeof junk};
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &bad, &reply, &err), CN_OK);
	CN_CHECK(reply.code == CN_MALFORMED_REQUEST || reply.code == CN_INVALID_PARAMETER_VALUE);
	cn_bus_reply_free(&reply);
	/* an unknown method is an error reply, not a crash */
	cn_bus_call unknown = {"NoSuchMethod", "r", "", cn_now_ms() + 5000, junk, sizeof junk};
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &unknown, &reply, &err), CN_OK);
	CN_CHECK_EQ_INT(reply.code, CN_ENDPOINT_NOT_FOUND);
	cn_bus_reply_free(&reply);

	cn_bus_client_close(c);
	cn_service_stop(rt);

	/* reopen: the experiment is still there and ids keep counting up */
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &cn_tracking_service, &cfg, "inproc://trk-test2", NULL, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", "inproc://trk-test2", NULL, &err),
	                CN_OK);
	cn_fb_builder_reset(b);
	cn_fb_ref nm = cn_fb_create_cstr(b, "after-reopen");
	cn_CreateExperiment_start(b);
	cn_CreateExperiment_add_name(b, nm);
	CN_CHECK_EQ_INT(call(c, "CreateExperiment", b, cn_CreateExperiment_end(b), &reply), CN_OK);
	cn_fb_str id2 = cn_CreateExperimentResponse_experiment_id(cn_fb_root(reply.payload));
	CN_CHECK(atoll(id2.ptr) > atoll(eid));
	cn_bus_reply_free(&reply);

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
