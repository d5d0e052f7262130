/*
 * core/fb/schema.h: run-time descriptions of the bus schemas.
 *
 * schemas/gen turns flatc's binary schema (schemas/cairn.bfbs) into static
 * const tables of these types (build/schemas/cairn_schema.c, "generated, do
 * not edit"), plus typed inline readers/builders (cairn_schema.h). The JSON
 * and query-string codecs, the verifier and the gateway's route table are
 * driven by these descriptors, so adding a message or a route is an edit to
 * a .fbs file and nothing else.
 */
#ifndef CN_FB_SCHEMA_H
#define CN_FB_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cn_ft {
	CN_FT_NONE = 0,
	CN_FT_BOOL,
	CN_FT_I8,
	CN_FT_U8,
	CN_FT_I16,
	CN_FT_U16,
	CN_FT_I32,
	CN_FT_U32,
	CN_FT_I64,
	CN_FT_U64,
	CN_FT_F32,
	CN_FT_F64,
	CN_FT_STRING,
	CN_FT_TABLE,
	CN_FT_VECTOR /* element type in cn_schema_field.elem */
} cn_ft;

enum {
	CN_FF_REQUIRED = 1,  /* `(required)`: JSON decode fails when missing */
	CN_FF_OPTIONAL = 2,  /* scalar declared `= null`: presence is meaningful */
	CN_FF_DEPRECATED = 4 /* `(deprecated)`: never decoded nor encoded */
};

typedef struct cn_schema_attr {
	const char *key;
	const char *value;
} cn_schema_attr;

typedef struct cn_schema_field {
	const char *name;   /* JSON name: MLflow's snake_case field name */
	uint16_t id;        /* field id (vtable slot = 4 + 2 * id) */
	uint8_t type;       /* cn_ft */
	uint8_t elem;       /* cn_ft of elements when type == CN_FT_VECTOR */
	int16_t table;      /* table index for TABLE (or vector of TABLE), else -1 */
	int16_t enum_index; /* enum index for enum-typed scalars (or vectors), else -1 */
	uint8_t flags;      /* CN_FF_* */
	int64_t def_int;    /* default of integer/bool/enum scalars */
	double def_real;    /* default of float scalars */
	const cn_schema_attr *attrs;
	uint16_t nattrs;
} cn_schema_field;

typedef struct cn_schema_enum_val {
	const char *name;
	int64_t value;
} cn_schema_enum_val;

typedef struct cn_schema_enum {
	const char *name; /* fully qualified, e.g. "cairn.tracking.ViewType" */
	uint8_t type;     /* underlying cn_ft */
	const cn_schema_enum_val *vals;
	uint16_t nvals;
} cn_schema_enum;

typedef struct cn_schema_table {
	const char *name;       /* fully qualified, e.g. "cairn.tracking.CreateExperiment" */
	const char *short_name; /* "CreateExperiment": the bus method name of request tables */
	const cn_schema_field *fields; /* sorted by id */
	uint16_t nfields;
	const cn_schema_attr *attrs;
	uint16_t nattrs;
} cn_schema_table;

/* One HTTP route, from a request table's attributes:
 *   table CreateExperiment (service: "tracking",
 *                           http: "POST /mlflow/experiments/create",
 *                           response: "CreateExperimentResponse") {...}
 * `http` may list several "METHOD /path" separated by '|'; path segments
 * written {field} are path parameters decoded into that field. `since`
 * (default "2") is the API major version: the route is served under
 * /api/<since>.0<path> and /ajax-api/<since>.0<path>. `max_body` (bytes,
 * decimal) raises the gateway's default request-body limit for the few
 * calls that carry large bodies (dataset profiles, trace batches). */
typedef struct cn_route {
	const char *method;  /* "GET", "POST", "PATCH", "DELETE", "PUT" */
	const char *path;    /* "/mlflow/experiments/create" */
	uint8_t api_major;   /* 2 or 3 */
	const char *service; /* "tracking" */
	int16_t request;     /* table index */
	int16_t response;    /* table index */
	uint32_t max_body;   /* from `max_body`; 0 = the configured default */
} cn_route;

typedef struct cn_schema {
	const cn_schema_table *tables;
	size_t ntables;
	const cn_schema_enum *enums;
	size_t nenums;
	const cn_route *routes;
	size_t nroutes;
} cn_schema;

/* The generated schema of this build (build/schemas/cairn_schema.c). */
extern const cn_schema cn_schema_cairn;

/* Look-ups (linear or binary search over generated tables). -1 when absent. */
int cn_schema_table_index(const cn_schema *s, const char *qualified_or_short_name);
const cn_schema_field *cn_schema_field_by_name(const cn_schema_table *t, const char *name,
                                               size_t len);
const char *cn_schema_attr_get(const cn_schema_attr *attrs, uint16_t n, const char *key);

#endif
