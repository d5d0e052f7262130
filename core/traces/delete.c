/*
 * core/traces/delete.c: DeleteTracesV3 and the 2.0 DeleteTraces: by ids,
 * or the oldest traces of an experiment up to max_timestamp_millis (at most
 * max_traces of them). Each trace goes with its spans, indexes, run links
 * and assessments in one batch under its lock stripe.
 */
#include <stdlib.h>
#include <string.h>

#include "core/traces/traces_api.h"
#include "core/traces/traces_int.h"
#include "schemas/cairn_schema.h"

#define TRC_DELETE_IDS_MAX 1000

/* Delete one trace of experiment exp (if it exists there and, when
 * max_ms >= 0, is not newer than max_ms). */
static cn_code trc_delete_one(trc_state *s, const char *id, size_t len, cn_fb_str exp,
                              int64_t max_ms, cn_kv_batch *b, int *deleted, cn_err *err)
{
	pthread_mutex_t *mu = trc_stripe(s, id, len);
	pthread_mutex_lock(mu);
	trc_info info;
	cn_code rc = trc_info_get(s, id, len, &info, err);
	if (rc == CN_OK) {
		cn_fb_str e = cn_TraceRecord_experiment_id(info.t);
		if (e.len == exp.len && memcmp(e.ptr, exp.ptr, e.len) == 0 &&
		    (max_ms < 0 || cn_TraceRecord_request_time_ms(info.t) <= max_ms)) {
			cn_kv_batch_clear(b);
			rc = trc_delete_trace_batch(s, b, info.t, err);
			if (rc == CN_OK)
				rc = trc_write(s, b, err);
			if (rc == CN_OK)
				(*deleted)++;
		}
		trc_info_release(&info);
	} else if (rc == CN_RESOURCE_DOES_NOT_EXIST) {
		rc = CN_OK;
	}
	pthread_mutex_unlock(mu);
	return rc;
}

static cn_code trc_delete(trc_state *s, cn_fb_str exp, bool has_max_ts, int64_t max_ts,
                          bool has_max_traces, int32_t max_traces, cn_fb_vec ids, int *deleted,
                          cn_err *err)
{
	*deleted = 0;
	if (!exp.ptr || exp.len == 0)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Missing value for required parameter 'experiment_id'. See the API "
		        "docs for more information about request parameters.");
	bool by_time = has_max_ts || has_max_traces;
	if (by_time == (ids.n > 0))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Either `max_timestamp_millis` or `request_ids` must be specified, "
		        "but not both.");
	if (by_time && !has_max_ts)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "`max_timestamp_millis` must be specified with `max_traces`.");
	if (has_max_traces && max_traces <= 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "`max_traces` must be a positive integer, received %d",
		                  max_traces);
	if (ids.n > TRC_DELETE_IDS_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "At most %d trace IDs may be deleted at once, got %u",
		                  TRC_DELETE_IDS_MAX, ids.n);
	cn_kv_batch *b = cn_kv_batch_new();
	if (!b)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	cn_code rc = CN_OK;
	if (!by_time) {
		for (uint32_t i = 0; i < ids.n && rc == CN_OK; i++) {
			cn_fb_str id = cn_fb_vec_str(ids, i);
			rc = trc_delete_one(s, id.ptr, id.len, exp, -1, b, deleted, err);
		}
		cn_kv_batch_free(b);
		return rc;
	}
	/* Oldest first, in chunks, re-reading the index after each chunk. */
	char *expz = strndup(exp.ptr, exp.len);
	if (!expz) {
		cn_kv_batch_free(b);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	int64_t limit = has_max_traces ? max_traces : INT64_MAX;
	for (;;) {
		char chunk[64][TRC_ID_MAX + 1];
		size_t n = 0;
		trc_exp_iter *it = trc_exp_iter_new(s, expz, false, 0, NULL);
		if (!it) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			break;
		}
		int64_t ms;
		const char *id;
		size_t len;
		while (n < 64 && *deleted + (int64_t)n < limit &&
		       trc_exp_iter_next(it, &ms, &id, &len) && ms <= max_ts) {
			memcpy(chunk[n], id, len);
			chunk[n++][len] = '\0';
		}
		rc = trc_exp_iter_status(it, err);
		trc_exp_iter_free(it);
		if (rc != CN_OK || n == 0)
			break;
		int before = *deleted;
		for (size_t i = 0; i < n && rc == CN_OK; i++)
			rc = trc_delete_one(s, chunk[i], strlen(chunk[i]), exp, max_ts, b, deleted,
			                    err);
		if (rc != CN_OK || *deleted == before || *deleted >= limit)
			break;
	}
	free(expz);
	cn_kv_batch_free(b);
	return rc;
}

TRC_METHOD(trc_delete_traces_v3)
{
	(void)ctx;
	int deleted = 0;
	cn_code rc =
	        trc_delete(st, cn_DeleteTracesV3_experiment_id(req),
	                   cn_DeleteTracesV3_has_max_timestamp_millis(req),
	                   cn_DeleteTracesV3_max_timestamp_millis(req),
	                   cn_DeleteTracesV3_has_max_traces(req), cn_DeleteTracesV3_max_traces(req),
	                   cn_DeleteTracesV3_request_ids(req), &deleted, err);
	if (rc != CN_OK)
		return rc;
	cn_DeleteTracesResponse_start(b);
	cn_DeleteTracesResponse_add_traces_deleted(b, deleted);
	*resp = cn_DeleteTracesResponse_end(b);
	return CN_OK;
}

TRC_METHOD(trc_delete_traces_v2)
{
	(void)ctx;
	int deleted = 0;
	cn_code rc = trc_delete(
	        st, cn_DeleteTraces_experiment_id(req),
	        cn_DeleteTraces_has_max_timestamp_millis(req),
	        cn_DeleteTraces_max_timestamp_millis(req), cn_DeleteTraces_has_max_traces(req),
	        cn_DeleteTraces_max_traces(req), cn_DeleteTraces_request_ids(req), &deleted, err);
	if (rc != CN_OK)
		return rc;
	cn_DeleteTracesResponse_start(b);
	cn_DeleteTracesResponse_add_traces_deleted(b, deleted);
	*resp = cn_DeleteTracesResponse_end(b);
	return CN_OK;
}
