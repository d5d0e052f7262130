/*
 * core/otlp/otlp_response.c: ExportTraceServiceResponse in the request's
 * encoding. Success is the empty message; when some spans were left out it
 * carries partial_success {rejected_spans, error_message}, as OTLP asks.
 */
#include "core/otlp/otlp_int.h"

#include <stdio.h>
#include <string.h>

void cn_otlp_response(cn_otlp_format f, int64_t rejected, const char *message, cn_buf *out)
{
	if (f == CN_OTLP_JSON) {
		if (rejected <= 0) {
			cn_buf_puts(out, "{}");
			return;
		}
		cn_buf_printf(out,
		              "{\"partialSuccess\":{\"rejectedSpans\":\"%lld\",\"errorMessage\":",
		              (long long)rejected);
		otlp_json_str(out, message ? message : "", message ? strlen(message) : 0);
		cn_buf_puts(out, "}}");
		return;
	}
	if (rejected <= 0)
		return; /* the empty message is zero bytes */
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
	        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
	        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	ps.rejected_spans = rejected;
	ps.error_message = (char *)(message ? message : "");
	resp.partial_success = &ps;
	size_t n =
	        opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(
	                &resp);
	if (!cn_buf_reserve(out, n + 1))
		return;
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
	        &resp, (uint8_t *)out->p + out->len);
	out->len += n;
	out->p[out->len] = '\0';
}
