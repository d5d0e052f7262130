/*
 * plugins/store/s3/fuzz_s3_xml.c: libFuzzer target for what the S3 plugin
 * reads from the network: S3's XML (listings, errors, upload ids) through
 * the bounded scanner, and the credential endpoints' JSON and times. Any
 * read outside the input, or a value not NUL-terminated inside its buffer,
 * is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan then catches a read one past the end. */
	char *doc = malloc(size ? size : 1);
	if (!doc)
		return 0;
	memcpy(doc, data, size);
	static const char *const names[] = {"Contents", "CommonPrefixes", "Key",
	                                    "Prefix",   "Error",          "Code",
	                                    "Message",  "UploadId",       "NextContinuationToken"};
	char out[256];
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		size_t pos = 0, n = 0;
		const char *in = NULL;
		int guard = 0;
		while (guard++ < 10000 && s3_xml_next(doc, size, &pos, names[k], &in, &n)) {
			if (in < doc || in + n > doc + size || pos > size)
				abort();
			if (s3_xml_text(in, n, "Key", out, sizeof out) && strlen(out) >= sizeof out)
				abort();
		}
		if (s3_xml_text(doc, size, names[k], out, sizeof out) && strlen(out) >= sizeof out)
			abort();
	}
	if (s3_json_string(doc, size, "AccessKeyId", out, sizeof out) && strlen(out) >= sizeof out)
		abort();
	char *z = malloc(size + 1);
	if (z) {
		memcpy(z, data, size);
		z[size] = '\0';
		int64_t ms;
		s3_iso8601_ms(z, &ms);
		free(z);
	}
	free(doc);
	return 0;
}
