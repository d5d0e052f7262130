/*
 * core/search/fuzz_search_traces.c: arbitrary bytes as a search_traces
 * filter and order_by clause, and what parses evaluated against a trace
 * whose span attributes and assessment values are also taken from the
 * input (so malformed JSON reaches the matcher). Must never crash, leak or
 * trip a sanitizer.
 */
#include "core/search/search_traces.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_trace {
	const char *s;
	size_t n;
} fuzz_trace;

/* Every tag and metadata key exists and holds the input itself. */
static bool fuzz_kv(const void *ctx, const char *key, cn_search_value *out)
{
	const fuzz_trace *f = ctx;
	(void)key;
	*out = cn_search_value_strn(f->s, f->n);
	return true;
}

static bool fuzz_span(const void *ctx, size_t i, cn_search_trace_span *out)
{
	const fuzz_trace *f = ctx;
	if (i > 1)
		return false;
	memset(out, 0, sizeof *out);
	out->name = cn_search_value_strn(f->s, f->n);
	out->type = cn_search_value_str("TOOL");
	out->status = cn_search_value_str(i ? "STATUS_CODE_ERROR" : "OK");
	out->content = f->s;
	out->content_len = f->n;
	/* A well-formed attribute object first, then the raw input as one. */
	out->attributes = i ? f->s : "{\"k\": \"\\\"v\\\"\", \"n\": \"1.5\", \"o\": {\"a\": [1]}}";
	out->attributes_len = i ? f->n : strlen(out->attributes);
	return true;
}

static bool fuzz_assessment(const void *ctx, size_t i, cn_search_trace_assessment *out)
{
	const fuzz_trace *f = ctx;
	if (i > 1)
		return false;
	memset(out, 0, sizeof *out);
	out->name = f->s;
	out->name_len = f->n;
	out->expectation = i == 1;
	out->valid = true;
	out->value_json = i ? f->s : "\"x\"";
	out->value_len = i ? f->n : 3;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Values handed to the matcher are NUL-terminated, as every string of
	 * a stored trace is (FlatBuffers, jansson): RLIKE's regexec reads to the
	 * terminator under ASan's interceptor even with REG_STARTEND. */
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	const char *s = z;
	fuzz_trace ft = {s, size};
	cn_search_trace t = {
	        .trace_id = cn_search_value_strn(s, size),
	        .state = cn_search_value_str("OK"),
	        .experiment_id = cn_search_value_strn(s, size),
	        .timestamp_ms = (int64_t)size,
	        .execution_time_ms = 7,
	        .has_execution_time = size & 1,
	        .ctx = &ft,
	        .tag = fuzz_kv,
	        .metadata = fuzz_kv,
	        .span = fuzz_span,
	        .assessment = fuzz_assessment,
	};
	cn_search_filter *f = NULL;
	cn_err err;
	if (cn_search_filter_parse(&cn_search_dialect_traces, s, size, &f, &err) == CN_OK) {
		(void)cn_search_trace_match(f, &t);
		(void)cn_search_trace_needs(f);
		cn_search_filter_free(f);
	} else if (f || err.code == CN_OK || !err.msg[0]) {
		abort(); /* failures must report and leave nothing behind */
	}

	cn_search_order o;
	cn_search_value v;
	if (cn_search_order_parse(&cn_search_dialect_traces, z, &o, &err) == CN_OK)
		(void)cn_search_trace_order_value(&o, &t, &v);
	free(z);
	return 0;
}
