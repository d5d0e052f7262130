/*
 * plugins/store/azure/fuzz_azure_xml.c: arbitrary bytes as a Blob service
 * answer: parsed as a List Blobs page and as an Error body. Every entry
 * must be a relative path under the listing prefix, sorted, without
 * duplicates; nothing may read outside the input.
 */
#include <stdlib.h>
#include <string.h>

#include "azure_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so a read past the end is caught. */
	char *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	az_entries a = {0};
	cairn_error e = {0};
	if (az_parse_list(body, size, "r/", "r/d/", false, &a, &e) == CAIRN_OK) {
		for (size_t i = 0; i < a.n; i++) {
			if (strncmp(a.v[i].path, "d/", 2) != 0 || strlen(a.v[i].path) < 3)
				abort();
			if (i > 0 && strcmp(a.v[i - 1].path, a.v[i].path) >= 0)
				abort();
		}
	}
	az_entries_free(&a);
	char code[64], msg[320];
	az_xml_error(body, size, code, sizeof code, msg, sizeof msg);
	if (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg)
		abort();
	char out[256];
	size_t n = az_xml_unescape(body, size, out, sizeof out);
	if (n != (size_t)-1 && (n >= sizeof out || out[n] != '\0'))
		abort();
	free(body);
	return 0;
}
