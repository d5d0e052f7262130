/*
 * core/traces/assessments.h: MLflow 3 assessments (feedback and
 * expectations) of a trace: what the rest of the traces service uses.
 *
 * Storage: column family trace_assessments (TRC_CF_ASSESSMENTS),
 *   str(trace id) + raw(assessment id) -> Assessment FlatBuffer
 *   (schemas/traces/assessments.fbs) exactly as answered, valid included.
 * Assessment ids are "a-" + 32 hex digits whose first 12 are the creation
 * time in milliseconds, so a trace's assessments list in creation order
 * (MLflow's ids are random; clients treat them as opaque).
 * Deleting a trace deletes its assessments (trc_delete_trace_batch).
 */
#ifndef CN_TRACES_ASSESSMENTS_H
#define CN_TRACES_ASSESSMENTS_H

#include "core/search/search_traces.h"
#include "core/traces/traces_int.h"

#define TRC_ASSESSMENT_ID_LEN 34 /* "a-" + 32 hex */

/* Builds the vector TraceInfoV3.assessments of trace_id in b: every
 * assessment, valid or superseded, in creation order. Call it before
 * starting the TraceInfoV3 table. *vec is 0 when the trace has none. */
cn_code trc_assessments_build(trc_state *s, const char *trace_id, size_t len, cn_fb_builder *b,
                              cn_fb_ref *vec, cn_err *err);

/* A trace's assessments loaded for the search filter (feedback.<name>,
 * expectation.<name>): owned copies of the stored buffers. */
typedef struct trc_asm_list {
	uint8_t **bufs;
	size_t n, cap;
} trc_asm_list;
cn_code trc_asm_list_load(trc_state *s, const char *trace_id, size_t len, trc_asm_list *out,
                          cn_err *err);
/* The i-th as the matcher sees it; false past the last. */
bool trc_asm_list_view(const trc_asm_list *l, size_t i, cn_search_trace_assessment *out);
void trc_asm_list_free(trc_asm_list *l);

TRC_METHOD(trc_create_assessment);
TRC_METHOD(trc_get_assessment);
TRC_METHOD(trc_update_assessment);
TRC_METHOD(trc_delete_assessment);

#endif
