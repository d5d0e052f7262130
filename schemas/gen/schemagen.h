/*
 * schemas/gen/schemagen.h: the generator's in-memory model of a schema.
 *
 * schemagen.c reads flatc's binary schema (.bfbs) into this model and
 * checks it; schemagen_emit.c writes it out as C. Strings point into the
 * loaded .bfbs image (NUL-terminated there), which outlives the model;
 * arrays are owned by the model and released by sg_schema_free.
 */
#ifndef CN_SCHEMAGEN_H
#define CN_SCHEMAGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sg_attr {
	const char *key;
	const char *value; /* "" when the attribute has no value */
} sg_attr;

typedef struct sg_field {
	const char *name;
	uint16_t id;
	uint8_t type;   /* cn_ft */
	uint8_t elem;   /* cn_ft of vector elements */
	int table;      /* index into sg_schema.tables (sorted order), or -1 */
	int enum_index; /* index into sg_schema.enums (sorted order), or -1 */
	uint8_t flags;  /* CN_FF_* */
	int64_t def_int;
	double def_real;
	sg_attr *attrs;
	size_t nattrs;
} sg_field;

typedef struct sg_table {
	const char *name;       /* qualified */
	const char *short_name; /* after the last '.' */
	const char *file;       /* declaring .fbs, for messages */
	sg_field *fields;       /* sorted by id */
	size_t nfields;
	sg_attr *attrs;
	size_t nattrs;
} sg_table;

typedef struct sg_enum_val {
	const char *name;
	int64_t value;
} sg_enum_val;

typedef struct sg_enum {
	const char *name;
	const char *short_name;
	uint8_t type; /* underlying cn_ft */
	sg_enum_val *vals;
	size_t nvals;
} sg_enum;

typedef struct sg_route {
	char *method; /* owned */
	char *path;   /* owned */
	unsigned api_major;
	const char *service;
	int request;
	int response;
	uint32_t max_body;
} sg_route;

typedef struct sg_schema {
	sg_table *tables; /* sorted by qualified name */
	size_t ntables;
	sg_enum *enums; /* sorted by qualified name */
	size_t nenums;
	sg_route *routes;
	size_t nroutes;
} sg_schema;

/* Reports a schema error on stderr (prefixed "schemagen: error: ") and
 * returns false, so checks read `return sg_error(...)`. */
bool sg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse the route attributes of request tables into s->routes and check
 * them (schemagen_route.c). False (with messages) on any bad route. */
bool sg_build_routes(sg_schema *s);

/* Write the header / source. False (with a message) on I/O failure or on
 * generated names that would collide. */
bool sg_emit_header(const sg_schema *s, FILE *out);
bool sg_emit_source(const sg_schema *s, FILE *out);

#endif
