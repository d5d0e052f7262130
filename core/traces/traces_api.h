/*
 * core/traces/traces_api.h: building MLflow's answers from stored records
 * (info.c, spans_out.c), shared by the handlers of this folder.
 */
#ifndef CN_TRACES_API_H
#define CN_TRACES_API_H

#include <stdlib.h>

#include "core/traces/traces_int.h"

/* TraceInfoV3 / 2.0 TraceInfo tables of a TraceRecord, built in b. */
/* TraceInfoV3 with the trace's assessments when s is not NULL
 * (trc_assessments_build; a storage error leaves them out). */
cn_fb_ref trc_build_info_v3(trc_state *s, cn_fb_builder *b, cn_fb_table rec);
cn_fb_ref trc_build_info_v2(cn_fb_builder *b, cn_fb_table rec);
/* Trace {trace_info, spans}; spans 0 = none. */
cn_fb_ref trc_build_trace(cn_fb_builder *b, cn_fb_ref info, cn_fb_ref spans);
/* MLflow's 404 for a trace id. */
cn_code trc_not_found(cn_fb_str id, cn_err *err);
/* Required id, then the record (404 when absent). */
cn_code trc_load(trc_state *s, cn_fb_str id, const char *param, trc_info *out, cn_err *err);
/* Is the record's experiment among ids (an empty vector: any)? */
bool trc_in_experiments(cn_fb_table rec, cn_fb_vec ids);

#endif
