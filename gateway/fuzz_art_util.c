/*
 * gateway/fuzz_art_util.c: libFuzzer target for the artifact routes' parsers
 * of outside input: artifact paths from URLs (percent-decoding until stable,
 * then MLflow's safety rules), query values and Range headers. Whatever the
 * bytes, a path that passes must satisfy the store's path rules, and a range
 * that passes must lie inside the object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/plugin.h"
#include "core/plugin/loader.h"
#include "gateway/art_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[CAIRN_PATH_MAX + 64];
	cn_err err;
	for (int mode = 0; mode < 4; mode++) {
		cn_err_clear(&err);
		bool trim = mode & 1, root = mode & 2;
		if (cn_art_path((const char *)data, size, trim, root, out, sizeof out, &err) ==
		    CN_OK) {
			size_t n = strlen(out);
			if (!cn_artifact_path_is_safe(out, n, root) || strchr(out, '#'))
				abort();
		}
	}
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char val[256];
	if (cn_art_query(s, size, "path", val, sizeof val) > 0 && strlen(val) >= sizeof val)
		abort();
	uint64_t sizes[] = {0, 1, 100, (uint64_t)1 << 40, UINT64_MAX};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint64_t first = 0, last = 0;
		if (cn_art_range(s, sizes[i], &first, &last) == CN_ART_RANGE_OK &&
		    (first > last || last >= sizes[i]))
			abort();
	}
	(void)cn_art_content_type(s);
	free(s);
	return 0;
}
