/* core/fb/schema.c: look-ups over generated schema descriptors (see schema.h). */
#include "core/fb/schema.h"

#include <string.h>

int cn_schema_table_index(const cn_schema *s, const char *qualified_or_short_name)
{
	if (!s || !qualified_or_short_name)
		return -1;
	const char *name = qualified_or_short_name;
	if (strchr(name, '.')) {
		/* schemas/gen emits tables sorted by qualified name. */
		size_t lo = 0, hi = s->ntables;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(s->tables[mid].name, name);
			if (c == 0)
				return (int)mid;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return -1;
	}
	/* Short names are unique (the generator refuses duplicates). */
	for (size_t i = 0; i < s->ntables; i++)
		if (strcmp(s->tables[i].short_name, name) == 0)
			return (int)i;
	return -1;
}

const cn_schema_field *cn_schema_field_by_name(const cn_schema_table *t, const char *name,
                                               size_t len)
{
	if (!t || !name)
		return NULL;
	for (uint16_t i = 0; i < t->nfields; i++) {
		const char *fn = t->fields[i].name;
		if (strlen(fn) == len && memcmp(fn, name, len) == 0)
			return &t->fields[i];
	}
	return NULL;
}

const char *cn_schema_attr_get(const cn_schema_attr *attrs, uint16_t n, const char *key)
{
	if (!attrs || !key)
		return NULL;
	for (uint16_t i = 0; i < n; i++)
		if (strcmp(attrs[i].key, key) == 0)
			return attrs[i].value;
	return NULL;
}
