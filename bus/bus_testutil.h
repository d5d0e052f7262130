/*
 * bus/bus_testutil.h: helpers shared by the bus tests (not part of cn_bus).
 *
 * Payloads in these tests are Envelope FlatBuffers themselves (any table
 * would do; this one has a verifier and generated readers): the `method`
 * field carries the text and `deadline_ms` a number.
 */
#ifndef CN_BUS_TESTUTIL_H
#define CN_BUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"

/* A FlatBuffer payload with text and a number; free() the result. */
uint8_t *tu_payload(const char *text, int64_t num, size_t *len);
/* Text of a payload made by tu_payload (verified), or NULL if malformed.
 * Copied into out (cap bytes). */
const char *tu_payload_text(const uint8_t *p, size_t len, char *out, size_t cap);

/* Test service. Methods:
 *   Echo    -> reply text = request text
 *   Who     -> reply text = "<request_id>|<caller>"
 *   Fail    -> RESOURCE_DOES_NOT_EXIST "Experiment '<text>' does not exist"
 *   NoReply -> CN_OK without a reply table (the host must answer INTERNAL_ERROR)
 *   Sleep   -> sleeps <num> ms, then echoes
 *   Gate    -> waits until <num> Gate calls are inside the handler at once
 *              (at most 10 s), then replies "open" or "timeout"
 *   other   -> ENDPOINT_NOT_FOUND
 */
cn_code tu_handler(void *arg, const cn_bus_request *req, cn_fb_builder *b, cn_fb_ref *resp,
                   cn_err *err);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int tu_free_port(void);
/* A fresh temporary directory (static buffer per call site: copy it). */
void tu_tmpdir(char *out, size_t cap);
/* Remove a directory tree made by the tests. */
void tu_rmtree(const char *dir);

/* s contains sub (false when s is NULL). */
int tu_has(const char *s, const char *sub);

int64_t tu_now_ms(void);
void tu_sleep_ms(int ms);

/* Synchronous call helper: method + text payload; returns the call's code
 * and fills reply. */
cn_code tu_call(cn_bus_client *c, const char *method, const char *text, int64_t num,
                int64_t timeout_ms, cn_bus_reply *reply, cn_err *err);

/* Start a host on addr (retrying briefly: a just-closed TCP port may take a
 * moment to be reusable). */
cn_code tu_host(cn_bus_host **h, const char *addr, const cn_bus_tls *tls, int workers, cn_err *err);

#endif
