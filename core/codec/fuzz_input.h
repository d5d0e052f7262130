/*
 * core/codec/fuzz_input.h: input framing shared by the codec fuzz targets.
 *
 * An input "ShortName\nrest" decodes `rest` as that table, which keeps seed
 * corpora meaningful as the schema grows; any other input picks a table
 * from its first byte and decodes the whole input. Header-only, fuzz code only.
 */
#ifndef CN_FUZZ_INPUT_H
#define CN_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/fb/schema.h"

static inline int fuzz_pick_table(const cn_schema *s, const uint8_t **data, size_t *size)
{
	const uint8_t *nl = memchr(*data, '\n', *size < 64 ? *size : 64);
	if (nl) {
		char name[64];
		size_t n = (size_t)(nl - *data);
		memcpy(name, *data, n);
		name[n] = '\0';
		int ti = n ? cn_schema_table_index(s, name) : -1;
		if (ti >= 0) {
			*size -= n + 1;
			*data = nl + 1;
			return ti;
		}
	}
	return *size ? (int)((*data)[0] % s->ntables) : 0;
}

#endif
