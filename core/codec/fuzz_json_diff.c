/*
 * core/codec/fuzz_json_diff.c: differential target for the JSON decoder's
 * two paths (see json_diff.h): arbitrary bytes as a body of any table;
 * aborts when the one-pass scanner accepts something jansson rejects or
 * builds a different buffer. Seeds: the fuzz_json_decode corpus.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/codec/fuzz_input.h"
#include "core/codec/json_diff.h"
#include "schemas/cairn_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int ti = fuzz_pick_table(&cn_schema_cairn, &data, &size);
	char why[512];
	if (jd_compare(&cn_schema_cairn, ti, (const char *)data, size, NULL, 0, why, sizeof why) ==
	    JD_DIFFER) {
		fprintf(stderr, "json decoder paths differ for %s: %s\n%.*s\n",
		        cn_schema_cairn.tables[ti].short_name, why,
		        (int)(size < 4096 ? size : 4096), (const char *)data);
		abort();
	}
	return 0;
}
