/*
 * core/traces/assessments_int.h: what assessments.c and
 * assessments_store.c share. An assessment is handled as a JSON document in
 * MLflow's shape (jansson), encoded to its FlatBuffer only to be stored.
 */
#ifndef CN_TRACES_ASSESSMENTS_INT_H
#define CN_TRACES_ASSESSMENTS_INT_H

#include <jansson.h>

#include "core/traces/assessments.h"

/* str(trace id) + raw(assessment id); asm_id NULL: the trace's prefix. */
void trc_asm_key(cn_key *k, const char *trace_id, size_t tlen, const char *asm_id, size_t alen);
/* One stored assessment as a document (*out owned by the caller).
 * CN_RESOURCE_DOES_NOT_EXIST with MLflow's message when absent. */
cn_code trc_asm_load(trc_state *s, const char *trace_id, size_t tlen, const char *asm_id,
                     size_t alen, json_t **out, cn_err *err);
/* An Assessment table as a document. */
cn_code trc_asm_doc_from_table(cn_fb_table t, json_t **out, cn_err *err);
/* Puts doc (which has trace_id and assessment_id) into the batch. */
cn_code trc_asm_batch_put(cn_kv_batch *batch, json_t *doc, cn_err *err);

#endif
