/*
 * core/audit/fuzz_audit_redact.c: libFuzzer target for cn_audit_redact, the
 * hand-written JSON walker that blanks secrets in audit records. Any input
 * (not only the codec's JSON) must be walked without reading out of bounds,
 * and the output never holds more strings than the input had.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cn_buf out = CN_BUF_INIT;
	if (cn_audit_redact((const char *)data, size, &out) != CN_OK)
		abort();
	/* Redaction only shortens strings or writes "***" (5 bytes) for one. */
	if (out.len > size + 5 * (size / 2 + 1))
		abort();
	cn_buf_free(&out);
	return 0;
}
