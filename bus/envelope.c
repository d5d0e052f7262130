/* bus/envelope.c: building Envelopes (as bytes or nng messages), and checking them on receipt. */
#include "bus/bus_int.h"

#include <string.h>

#include "core/codec/codec.h"
#include "core/fb/schema.h"
#include "schemas/cairn_schema.h"

nng_duration cn_bus_ms_left(int64_t deadline_ms)
{
	int64_t left = deadline_ms - cn_now_ms();
	if (left <= 0)
		return 0;
	if (left > INT32_MAX)
		return INT32_MAX;
	return (nng_duration)left;
}

static cn_fb_ref envelope_str(cn_fb_builder *b, const char *s)
{
	return s ? cn_fb_create_cstr(b, s) : 0;
}

cn_code cn_bus_env_encode(cn_fb_builder *b, const cn_bus_env_out *f, const uint8_t **bytes,
                          size_t *len, cn_err *err)
{
	*bytes = NULL;
	*len = 0;
	if (f->payload_len > CN_BUS_MAX_MSG - 1024)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "bus message of %zu bytes exceeds the limit of %zu bytes",
		                  f->payload_len, CN_BUS_MAX_MSG);
	cn_fb_builder_reset(b);
	/* Children first: FlatBuffers are built back to front. */
	cn_fb_ref payload = 0;
	if (f->payload)
		payload = cn_fb_create_vec_scalars(b, f->payload, f->payload_len, 1);
	cn_fb_ref rid = envelope_str(b, f->request_id);
	cn_fb_ref method = envelope_str(b, f->method);
	cn_fb_ref caller = envelope_str(b, f->caller);
	cn_fb_ref ecode = envelope_str(b, f->error_code);
	cn_fb_ref emsg = envelope_str(b, f->error_message);
	cn_fb_ref caddr = envelope_str(b, f->client_addr);

	cn_Envelope_start(b);
	cn_Envelope_add_kind(b, f->kind);
	cn_Envelope_add_request_id(b, rid);
	cn_Envelope_add_method(b, method);
	cn_Envelope_add_caller(b, caller);
	cn_Envelope_add_deadline_ms(b, f->deadline_ms);
	cn_Envelope_add_error_code(b, ecode);
	cn_Envelope_add_error_message(b, emsg);
	cn_Envelope_add_payload(b, payload);
	cn_Envelope_add_sent_ms(b, cn_now_ms());
	cn_Envelope_add_client_addr(b, caddr);
	cn_fb_ref root = cn_Envelope_end(b);

	if (!cn_fb_finish(b, root, bytes, len))
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory building a bus envelope");
	return CN_OK;
}

cn_code cn_bus_env_to_msg(const uint8_t *bytes, size_t len, nng_msg **out, cn_err *err)
{
	*out = NULL;
	nng_msg *m;
	if (nng_msg_alloc(&m, len) != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory for a bus message");
	memcpy(nng_msg_body(m), bytes, len);
	*out = m;
	return CN_OK;
}

cn_code cn_bus_env_build(cn_fb_builder *b, const cn_bus_env_out *f, nng_msg **out, cn_err *err)
{
	*out = NULL;
	const uint8_t *bytes;
	size_t len;
	cn_code rc = cn_bus_env_encode(b, f, &bytes, &len, err);
	if (rc != CN_OK)
		return rc;
	return cn_bus_env_to_msg(bytes, len, out, err);
}

static const char *envelope_cstr(cn_fb_str s)
{
	/* Verified strings are NUL-terminated inside the buffer. */
	return s.ptr ? s.ptr : "";
}

cn_code cn_bus_env_parse(const void *buf, size_t len, cn_bus_env_in *in, cn_err *err)
{
	memset(in, 0, sizeof *in);
	cn_err verr;
	cn_err_clear(&verr);
	if (!buf || cn_fb_verify(&cn_schema_cairn, CN_TABLE_Envelope, buf, len, &verr) != CN_OK)
		return cn_err_set(err, CN_MALFORMED_REQUEST, "not a bus envelope: %s",
		                  verr.msg[0] ? verr.msg : "empty message");
	cn_fb_table t = cn_fb_root(buf);
	in->kind = cn_Envelope_kind(t);
	in->request_id = envelope_cstr(cn_Envelope_request_id(t));
	in->method = envelope_cstr(cn_Envelope_method(t));
	in->caller = envelope_cstr(cn_Envelope_caller(t));
	in->deadline_ms = cn_Envelope_deadline_ms(t);
	in->error_code = envelope_cstr(cn_Envelope_error_code(t));
	in->error_message = envelope_cstr(cn_Envelope_error_message(t));
	in->client_addr = envelope_cstr(cn_Envelope_client_addr(t));
	cn_fb_vec v = cn_Envelope_payload(t);
	if (v.buf) {
		in->payload = cn_fb_vec_elem(v, 0, 1);
		in->payload_len = v.n;
	}
	return CN_OK;
}
