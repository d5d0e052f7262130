/*
 * core/tracking/gc_test.c: a purge leaves no trace. A run with params,
 * tags, a metric history, a dataset input and a model input is deleted and
 * purged through the service; then the database is opened directly and every
 * column family is searched for the run's id. The column families come
 * from the service's own list (trk_cf_names), so one added to tracking.h
 * without being handled by gc.c fails this test. The audit trail's column
 * families in the same database are the deliberate exception: gc keeps
 * them (gc.c), and the test checks the purged run's records survive.
 */
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "core/audit/audit.h"
#include "cn_test.h"
#include "core/clock.h"
#include "core/service.h"
#include "core/store/kv.h"
#include "core/tracking/tracking.h"
#include "core/tracking/tracking_int.h"
#include "schemas/cairn_schema.h"

#define every_cf trk_cf_names
#define NCF      ((size_t)TRK_CF_COUNT_)

static cn_code call(cn_bus_client *c, const char *method, cn_fb_builder *b, cn_fb_ref root,
                    cn_bus_reply *reply)
{
	const uint8_t *buf;
	size_t len;
	CN_CHECK(cn_fb_finish(b, root, &buf, &len));
	cn_bus_call call = {method, "gc-test", "tester", cn_now_ms() + 5000, buf, len};
	cn_err err;
	CN_CHECK_EQ_INT(cn_bus_call_sync(c, &call, reply, &err), CN_OK);
	return reply->code;
}

/* A call whose answer is not needed; returns its code. */
static cn_code call_only(cn_bus_client *c, const char *method, cn_fb_builder *b, cn_fb_ref root)
{
	cn_bus_reply reply;
	cn_code rc = call(c, method, b, root, &reply);
	cn_bus_reply_free(&reply);
	cn_fb_builder_reset(b);
	return rc;
}

static cn_fb_ref id_request(cn_fb_builder *b, const char *table, const char *id)
{
	cn_fb_ref s = cn_fb_create_cstr(b, id);
	if (!strcmp(table, "DeleteRun")) {
		cn_DeleteRun_start(b);
		cn_DeleteRun_add_run_id(b, s);
		return cn_DeleteRun_end(b);
	}
	if (!strcmp(table, "DeleteExperiment")) {
		cn_DeleteExperiment_start(b);
		cn_DeleteExperiment_add_experiment_id(b, s);
		return cn_DeleteExperiment_end(b);
	}
	if (!strcmp(table, "GcPurgeExperiment")) {
		cn_GcPurgeExperiment_start(b);
		cn_GcPurgeExperiment_add_experiment_id(b, s);
		return cn_GcPurgeExperiment_end(b);
	}
	cn_fb_ref v = cn_fb_create_vec_refs(b, &s, 1);
	cn_GcPurgeRuns_start(b);
	cn_GcPurgeRuns_add_run_ids(b, v);
	return cn_GcPurgeRuns_end(b);
}

/* A run in experiment eid with a bit of everything; its hex id into hex. */
static void make_run(cn_bus_client *c, cn_fb_builder *b, const char *eid, char hex[33])
{
	cn_bus_reply reply;
	cn_fb_ref e = cn_fb_create_cstr(b, eid);
	cn_CreateRun_start(b);
	cn_CreateRun_add_experiment_id(b, e);
	CN_CHECK_EQ_INT(call(c, "CreateRun", b, cn_CreateRun_end(b), &reply), CN_OK);
	cn_fb_table info = cn_Run_info(cn_CreateRunResponse_run(cn_fb_root(reply.payload)));
	cn_fb_str id = cn_RunInfo_run_id(info);
	CN_CHECK_EQ_INT((int)id.len, 32);
	memcpy(hex, id.ptr, 32);
	hex[32] = '\0';
	cn_bus_reply_free(&reply);
	cn_fb_builder_reset(b);

	cn_fb_ref metrics[3];
	for (int i = 0; i < 3; i++) {
		cn_fb_ref k = cn_fb_create_cstr(b, "loss");
		cn_Metric_start(b);
		cn_Metric_add_key(b, k);
		cn_Metric_add_value(b, 1.0 / (i + 1));
		cn_Metric_add_timestamp(b, 1);
		cn_Metric_add_step(b, i);
		metrics[i] = cn_Metric_end(b);
	}
	cn_fb_ref mv = cn_fb_create_vec_refs(b, metrics, 3);
	cn_fb_ref pk = cn_fb_create_cstr(b, "lr"), pv = cn_fb_create_cstr(b, "0.1");
	cn_Param_start(b);
	cn_Param_add_key(b, pk);
	cn_Param_add_value(b, pv);
	cn_fb_ref param = cn_Param_end(b);
	cn_fb_ref pvec = cn_fb_create_vec_refs(b, &param, 1);
	cn_fb_ref rid = cn_fb_create_cstr(b, hex);
	cn_LogBatch_start(b);
	cn_LogBatch_add_run_id(b, rid);
	cn_LogBatch_add_metrics(b, mv);
	cn_LogBatch_add_params(b, pvec);
	CN_CHECK_EQ_INT(call_only(c, "LogBatch", b, cn_LogBatch_end(b)), CN_OK);

	cn_fb_ref dn = cn_fb_create_cstr(b, "ds"), dd = cn_fb_create_cstr(b, "digest");
	cn_fb_ref st = cn_fb_create_cstr(b, "local"), src = cn_fb_create_cstr(b, "x");
	cn_Dataset_start(b);
	cn_Dataset_add_name(b, dn);
	cn_Dataset_add_digest(b, dd);
	cn_Dataset_add_source_type(b, st);
	cn_Dataset_add_source(b, src);
	cn_fb_ref ds = cn_Dataset_end(b);
	cn_DatasetInput_start(b);
	cn_DatasetInput_add_dataset(b, ds);
	cn_fb_ref di = cn_DatasetInput_end(b);
	cn_fb_ref div = cn_fb_create_vec_refs(b, &di, 1);
	cn_fb_ref mid = cn_fb_create_cstr(b, "m-0123456789abcdef");
	cn_ModelInput_start(b);
	cn_ModelInput_add_model_id(b, mid);
	cn_fb_ref mi = cn_ModelInput_end(b);
	cn_fb_ref miv = cn_fb_create_vec_refs(b, &mi, 1);
	rid = cn_fb_create_cstr(b, hex);
	cn_LogInputs_start(b);
	cn_LogInputs_add_run_id(b, rid);
	cn_LogInputs_add_datasets(b, div);
	cn_LogInputs_add_models(b, miv);
	CN_CHECK_EQ_INT(call_only(c, "LogInputs", b, cn_LogInputs_end(b)), CN_OK);

	mid = cn_fb_create_cstr(b, "m-0123456789abcdef");
	cn_ModelOutput_start(b);
	cn_ModelOutput_add_model_id(b, mid);
	cn_ModelOutput_add_step(b, 3);
	cn_fb_ref mo = cn_ModelOutput_end(b);
	cn_fb_ref mov = cn_fb_create_vec_refs(b, &mo, 1);
	rid = cn_fb_create_cstr(b, hex);
	cn_LogOutputs_start(b);
	cn_LogOutputs_add_run_id(b, rid);
	cn_LogOutputs_add_models(b, mov);
	CN_CHECK_EQ_INT(call_only(c, "LogOutputs", b, cn_LogOutputs_end(b)), CN_OK);
}

/* A logged model in experiment eid with a tag and a param. */
static void make_model(cn_bus_client *c, cn_fb_builder *b, const char *eid)
{
	cn_fb_ref e = cn_fb_create_cstr(b, eid);
	cn_fb_ref tk = cn_fb_create_cstr(b, "t"), tv = cn_fb_create_cstr(b, "v");
	cn_LoggedModelTag_start(b);
	cn_LoggedModelTag_add_key(b, tk);
	cn_LoggedModelTag_add_value(b, tv);
	cn_fb_ref tag = cn_LoggedModelTag_end(b);
	cn_fb_ref tags = cn_fb_create_vec_refs(b, &tag, 1);
	cn_fb_ref pk = cn_fb_create_cstr(b, "p"), pv = cn_fb_create_cstr(b, "1");
	cn_LoggedModelParameter_start(b);
	cn_LoggedModelParameter_add_key(b, pk);
	cn_LoggedModelParameter_add_value(b, pv);
	cn_fb_ref par = cn_LoggedModelParameter_end(b);
	cn_fb_ref pars = cn_fb_create_vec_refs(b, &par, 1);
	cn_CreateLoggedModel_start(b);
	cn_CreateLoggedModel_add_experiment_id(b, e);
	cn_CreateLoggedModel_add_tags(b, tags);
	cn_CreateLoggedModel_add_params(b, pars);
	CN_CHECK_EQ_INT(call_only(c, "CreateLoggedModel", b, cn_CreateLoggedModel_end(b)), CN_OK);
}

static void hex_to_raw(const char *hex, uint8_t out[16])
{
	for (int i = 0; i < 16; i++) {
		char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
		out[i] = (uint8_t)strtoul(two, NULL, 16);
	}
}

/* Keys of every column family holding needle; an experiment's keys are
 * checked separately (its id is a u64 key part, not a byte pattern). */
static int traces(const char *dir, const void *needle, size_t nlen, int only_cf)
{
	cn_kv *db = NULL;
	cn_err err;
	cn_kv_opts opts = {.sync = true};
	CN_CHECK_EQ_INT(cn_kv_open(&db, dir, every_cf, NCF, &opts, &err), CN_OK);
	int found = 0;
	for (size_t cf = 0; cf < NCF; cf++) {
		if (only_cf >= 0 && (int)cf != only_cf)
			continue;
		cn_kv_iter *it = cn_kv_iter_new(db, (int)cf, NULL, 0);
		for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
			size_t klen;
			const uint8_t *k = cn_kv_iter_key(it, &klen);
			if (only_cf >= 0 || memmem(k, klen, needle, nlen))
				found++;
		}
		cn_kv_iter_free(it);
	}
	cn_kv_close(db);
	return found;
}

/* Audit index entries naming the run (hex id): kept by gc on purpose. */
static int audit_traces(const char *dir, const char *hex)
{
	cn_kv *db = NULL;
	cn_err err;
	cn_kv_opts opts = {.sync = true};
	CN_CHECK_EQ_INT(cn_kv_open(&db, dir, cn_audit_cf_names, 2, &opts, &err), CN_OK);
	int found = 0;
	cn_kv_iter *it = cn_kv_iter_new(db, CN_AUDIT_CF_BY_ENTITY, NULL, 0);
	for (cn_kv_iter_seek_first(it); cn_kv_iter_valid(it); cn_kv_iter_next(it)) {
		size_t klen;
		const uint8_t *k = cn_kv_iter_key(it, &klen);
		if (memmem(k, klen, hex, strlen(hex)))
			found++;
	}
	cn_kv_iter_free(it);
	cn_kv_close(db);
	return found;
}

CN_TEST(purge_leaves_no_trace)
{
	char dir[] = "/tmp/cn-gc-test-XXXXXX";
	CN_CHECK(mkdtemp(dir) != NULL);
	cn_config cfg;
	cn_config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	snprintf(cfg.plugin_dir, sizeof cfg.plugin_dir, "%s", CN_TEST_PLUGIN_DIR);
	cfg.service_workers = 2;
	cn_config_resolve(&cfg);
	char tdir[600];
	snprintf(tdir, sizeof tdir, "%s/tracking", dir);
	cn_err err;
	cn_service_runtime *rt = NULL;
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &cn_tracking_service, &cfg, "inproc://gc-test", NULL, &err),
	        CN_OK);
	cn_bus_client *c = NULL;
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", "inproc://gc-test", NULL, &err), CN_OK);
	cn_fb_builder *b = cn_fb_builder_new(1024);

	cn_bus_reply reply;
	cn_fb_ref n = cn_fb_create_cstr(b, "gc-exp");
	cn_CreateExperiment_start(b);
	cn_CreateExperiment_add_name(b, n);
	CN_CHECK_EQ_INT(call(c, "CreateExperiment", b, cn_CreateExperiment_end(b), &reply), CN_OK);
	char eid[32];
	cn_fb_str es = cn_CreateExperimentResponse_experiment_id(cn_fb_root(reply.payload));
	snprintf(eid, sizeof eid, "%.*s", (int)es.len, es.ptr);
	cn_bus_reply_free(&reply);
	cn_fb_builder_reset(b);

	char dead[33], live[33], other[33];
	make_run(c, b, eid, dead);
	make_run(c, b, eid, live);
	make_run(c, b, eid, other);
	uint8_t raw_dead[16], raw_live[16], raw_other[16];
	hex_to_raw(dead, raw_dead);
	hex_to_raw(live, raw_live);
	hex_to_raw(other, raw_other);

	/* A live run is refused and keeps everything. */
	CN_CHECK_EQ_INT(call_only(c, "GcPurgeRuns", b, id_request(b, "GcPurgeRuns", dead)),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(call_only(c, "DeleteRun", b, id_request(b, "DeleteRun", dead)), CN_OK);
	CN_CHECK_EQ_INT(call_only(c, "GcPurgeRuns", b, id_request(b, "GcPurgeRuns", dead)), CN_OK);
	cn_bus_client_close(c);
	cn_service_stop(rt);

	CN_CHECK_EQ_INT(traces(tdir, raw_dead, 16, -1), 0);
	/* ... but its audit trail stays: CreateRun, LogBatch, ..., DeleteRun,
	 * and the purge itself. */
	CN_CHECK(audit_traces(tdir, dead) >= 3);
	/* info, index, param, tag (runName), latest metric, one chunk holding the
	 * batch's 3 points, input, model input, model output */
	CN_CHECK_EQ_INT(traces(tdir, raw_live, 16, -1), 9);
	CN_CHECK_EQ_INT(traces(tdir, NULL, 0, 8 /* datasets */), 1);

	/* Purging the experiment takes its runs (live or not), its dataset and
	 * its name; the Default experiment stays. */
	CN_CHECK_EQ_INT(
	        cn_service_start(&rt, &cn_tracking_service, &cfg, "inproc://gc-test2", NULL, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(cn_bus_client_open(&c, "tracking", "inproc://gc-test2", NULL, &err), CN_OK);
	make_model(c, b, eid);
	make_model(c, b, eid);
	CN_CHECK_EQ_INT(
	        call_only(c, "GcPurgeExperiment", b, id_request(b, "GcPurgeExperiment", eid)),
	        CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(call_only(c, "DeleteExperiment", b, id_request(b, "DeleteExperiment", eid)),
	                CN_OK);
	CN_CHECK_EQ_INT(
	        call_only(c, "GcPurgeExperiment", b, id_request(b, "GcPurgeExperiment", eid)),
	        CN_OK);
	CN_CHECK_EQ_INT(
	        call_only(c, "GcPurgeExperiment", b, id_request(b, "GcPurgeExperiment", eid)),
	        CN_RESOURCE_DOES_NOT_EXIST);
	cn_bus_client_close(c);
	cn_service_stop(rt);
	cn_fb_builder_free(b);

	CN_CHECK_EQ_INT(traces(tdir, raw_live, 16, -1), 0);
	CN_CHECK_EQ_INT(traces(tdir, raw_other, 16, -1), 0);
	CN_CHECK_EQ_INT(traces(tdir, "gc-exp", 6, -1), 0);
	CN_CHECK_EQ_INT(traces(tdir, NULL, 0, 8 /* datasets */), 0);
	CN_CHECK_EQ_INT(traces(tdir, NULL, 0, 0 /* experiments: Default only */), 1);
	CN_CHECK_EQ_INT(traces(tdir, NULL, 0, 1 /* experiment_names */), 1);
	/* Runs, their data, datasets and logged models (with tags, params):
	 * nothing left. */
	for (int cf = 2; cf < (int)NCF; cf++)
		CN_CHECK_EQ_INT(traces(tdir, NULL, 0, cf), 0);

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CN_CHECK(system(cmd) == 0);
}

CN_TEST_MAIN()
