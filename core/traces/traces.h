/*
 * core/traces/traces.h: the traces service: MLflow 3 traces (TraceInfoV3
 * and spans), the 2.0 trace calls older clients and the UI still use, span
 * ingestion from producers on the bus (IngestSpans: the gateway's OTLP
 * receiver), per-experiment retention, and a bounded ingestion budget.
 * Storage layout: core/traces/traces_int.h.
 */
#ifndef CN_TRACES_H
#define CN_TRACES_H

#include "core/service.h"

extern const cn_service_def cn_traces_service;

#endif
