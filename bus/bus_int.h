/*
 * bus/bus_int.h: what the bus's files share and nothing else includes.
 *
 * envelope.c builds and checks Envelopes; transport.c opens dialers and
 * listeners (plain or TLS) with the bus's socket options. client.c, host.c
 * and events.c are the three roles on top. Prefixes: cn_bus_env_* and
 * cn_bus_tr_* here; file-local statics carry their file's prefix.
 */
#ifndef CN_BUS_INT_H
#define CN_BUS_INT_H

#include <nng/nng.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fb/fb.h"

/* Milliseconds left before deadline_ms, clamped to nng's duration range;
 * <= 0 when already passed. Deadlines cross machines, so they are
 * wall-clock Unix ms (cn_now_ms), not monotonic. */
nng_duration cn_bus_ms_left(int64_t deadline_ms);

/* ---- envelopes (envelope.c) ------------------------------------------ */

/* Fields of an Envelope to build. NULL strings and a NULL payload are left
 * out of the message. */
typedef struct cn_bus_env_out {
	int8_t kind; /* CN_Kind_* */
	const char *request_id;
	const char *method;
	const char *caller;
	int64_t deadline_ms;
	const char *error_code;
	const char *error_message;
	const void *payload;
	size_t payload_len;
} cn_bus_env_out;

/* Build the Envelope in b (reset first) and copy it into a new nng message.
 * On success *out is owned by the caller. Errors: INTERNAL_ERROR (out of
 * memory, or a message over CN_BUS_MAX_MSG: then INVALID_PARAMETER_VALUE). */
cn_code cn_bus_env_build(cn_fb_builder *b, const cn_bus_env_out *f, nng_msg **out, cn_err *err);

/* A decoded Envelope; strings point into the message body and are never
 * NULL ("" when absent); payload is NULL when absent. */
typedef struct cn_bus_env_in {
	int8_t kind;
	const char *request_id;
	const char *method;
	const char *caller;
	int64_t deadline_ms;
	const char *error_code; /* "" = OK */
	const char *error_message;
	const uint8_t *payload;
	size_t payload_len;
} cn_bus_env_in;

/* Verify buf[0..len) as an Envelope, then read its fields into *in.
 * MALFORMED_REQUEST (err says why) when it is not a well-formed Envelope. */
cn_code cn_bus_env_parse(const void *buf, size_t len, cn_bus_env_in *in, cn_err *err);

/* ---- transports (transport.c) ---------------------------------------- */

/* Create a dialer for addr on sock with the bus's reconnect back-off and a
 * TLS configuration for tls+tcp:// (cert/key optional, CA verifies the
 * server), and start it without waiting for a connection. `what` names the
 * peer in messages ("service 'tracking'"). */
cn_code cn_bus_tr_dial(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                       cn_err *err);

/* Create a listener for addr on sock (tls+tcp:// needs cert and key; a CA
 * makes client certificates mandatory) and start it. */
cn_code cn_bus_tr_listen(nng_socket sock, const char *addr, const cn_bus_tls *tls, const char *what,
                         cn_err *err);

/* Socket options every bus socket gets: receive size limit. */
cn_code cn_bus_tr_socket_setup(nng_socket sock, cn_err *err);

/* The code an nng error maps to when opening something: INTERNAL_ERROR,
 * or INVALID_PARAMETER_VALUE for addresses nng rejects. */
cn_code cn_bus_tr_code(int rv);

#endif
