/*
 * core/otlp/otlp_pb.c: OTLP protobuf into the request's structures.
 *
 * protobuf-c unpacks recursively, so a body of nested values 20 million
 * deep (three bytes a level) would overflow the stack. The wire is walked
 * once first, following the message descriptors, to bound the nesting
 * before protobuf-c sees it; that walk also refuses bytes that are not
 * protobuf at all.
 */
#include "core/otlp/otlp_int.h"

#include <stdio.h>

/* Message levels above the first attribute value: request, resource spans,
 * scope spans, span, event, key-value. Each level of attribute nesting
 * (AnyValue -> ArrayValue/KeyValueList -> ...) adds two. */
#define OTLP_PB_FIXED_DEPTH 7

static bool pb_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *i < n; shift += 7) {
		uint8_t c = p[(*i)++];
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* 0 = fine, 1 = not protobuf, 2 = nested too deep. */
static int pb_scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth,
                   int max)
{
	size_t i = 0;
	while (i < n) {
		uint64_t tag, v;
		if (!pb_varint(p, n, &i, &tag) || (tag >> 3) == 0)
			return 1;
		switch (tag & 7) {
		case 0:
			if (!pb_varint(p, n, &i, &v))
				return 1;
			break;
		case 1:
			if (n - i < 8)
				return 1;
			i += 8;
			break;
		case 5:
			if (n - i < 4)
				return 1;
			i += 4;
			break;
		case 2: {
			if (!pb_varint(p, n, &i, &v) || v > n - i)
				return 1;
			const ProtobufCFieldDescriptor *f =
			        tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(
			                                         d, (unsigned)(tag >> 3))
			                               : NULL;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (depth + 1 > max)
					return 2;
				int rc = pb_scan(f->descriptor, p + i, (size_t)v, depth + 1, max);
				if (rc)
					return rc;
			}
			i += (size_t)v;
			break;
		}
		default: /* groups (3, 4) are not in OTLP; 6 and 7 do not exist */ return 1;
		}
	}
	return 0;
}

cn_code otlp_parse_pb(cn_otlp_req *r, const void *body, size_t len, cn_err *err)
{
	const ProtobufCMessageDescriptor *d =
	        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
	int rc = pb_scan(d, body, len, 1, OTLP_PB_FIXED_DEPTH + 2 * r->lim.max_depth);
	if (rc == 1)
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Invalid OpenTelemetry protobuf format");
	if (rc == 2)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Attribute values nest deeper than %d levels", r->lim.max_depth);
	ProtobufCMessage *m = protobuf_c_message_unpack(d, &r->arena.pc, len, body);
	if (!m && r->arena.failed)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "OTLP request too large once decoded (limit %zu MiB); send smaller "
		        "batches",
		        r->lim.max_memory >> 20);
	if (!m)
		return cn_err_set(err, CN_MALFORMED_REQUEST,
		                  "Invalid OpenTelemetry protobuf format");
	r->msg = (otlp_export *)m;
	if (r->msg->n_resource_spans == 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid OpenTelemetry protobuf format - no spans found");
	return CN_OK;
}
