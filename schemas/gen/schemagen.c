/*
 * schemas/gen/schemagen.c: turns flatc's binary schema into C.
 *
 *   schemagen <cairn.bfbs> <out/cairn_schema.h> <out/cairn_schema.c>
 *
 * Reads the reflection tables (google/flatbuffers reflection/reflection.fbs,
 * flatc 2.0.8 layout) with the inline readers of core/fb/fb.h, checks what
 * Cairn does not support (structs, unions, fixed arrays, duplicate short
 * names) and the route attributes of request tables, then hands the model
 * to schemagen_emit.c. Any problem fails the build with a message naming
 * the table, field or attribute.
 */
#include "schemas/gen/schemagen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/fb/fb.h"
#include "core/fb/schema.h"

/* Field ids of reflection.fbs (flatc 2.0.8). */
enum {
	R_SCHEMA_OBJECTS = 0,
	R_SCHEMA_ENUMS = 1,
	R_OBJECT_NAME = 0,
	R_OBJECT_FIELDS = 1,
	R_OBJECT_IS_STRUCT = 2,
	R_OBJECT_ATTRIBUTES = 5,
	R_OBJECT_DECL_FILE = 7,
	R_FIELD_NAME = 0,
	R_FIELD_TYPE = 1,
	R_FIELD_ID = 2,
	R_FIELD_DEFAULT_INTEGER = 4,
	R_FIELD_DEFAULT_REAL = 5,
	R_FIELD_DEPRECATED = 6,
	R_FIELD_REQUIRED = 7,
	R_FIELD_ATTRIBUTES = 9,
	R_FIELD_OPTIONAL = 11,
	R_TYPE_BASE_TYPE = 0,
	R_TYPE_ELEMENT = 1,
	R_TYPE_INDEX = 2,
	R_ENUM_NAME = 0,
	R_ENUM_VALUES = 1,
	R_ENUM_IS_UNION = 2,
	R_ENUM_UNDERLYING = 3,
	R_ENUMVAL_NAME = 0,
	R_ENUMVAL_VALUE = 1,
	R_KV_KEY = 0,
	R_KV_VALUE = 1,
};

/* reflection.BaseType */
enum {
	RB_NONE,
	RB_UTYPE,
	RB_BOOL,
	RB_BYTE,
	RB_UBYTE,
	RB_SHORT,
	RB_USHORT,
	RB_INT,
	RB_UINT,
	RB_LONG,
	RB_ULONG,
	RB_FLOAT,
	RB_DOUBLE,
	RB_STRING,
	RB_VECTOR,
	RB_OBJ,
	RB_UNION,
	RB_ARRAY,
};

bool sg_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("schemagen: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return false;
}

static const char *sg_str(cn_fb_table t, unsigned id)
{
	cn_fb_str s = cn_fb_get_str(t, id);
	return s.ptr ? s.ptr : "";
}

static const char *sg_short(const char *qualified)
{
	const char *dot = strrchr(qualified, '.');
	return dot ? dot + 1 : qualified;
}

static bool sg_read_attrs(cn_fb_table t, unsigned id, sg_attr **out, size_t *n)
{
	cn_fb_vec v = cn_fb_get_vec(t, id);
	*out = NULL;
	*n = 0;
	if (!v.n)
		return true;
	*out = calloc(v.n, sizeof **out);
	if (!*out)
		return sg_error("out of memory");
	for (uint32_t i = 0; i < v.n; i++) {
		cn_fb_table kv = cn_fb_vec_table(v, i);
		(*out)[i].key = sg_str(kv, R_KV_KEY);
		(*out)[i].value = sg_str(kv, R_KV_VALUE);
	}
	*n = v.n;
	return true;
}

/* Scalar/string reflection base type -> cn_ft; CN_FT_NONE if not one. */
static uint8_t sg_simple_type(int bt)
{
	switch (bt) {
	case RB_BOOL: return CN_FT_BOOL;
	case RB_BYTE: return CN_FT_I8;
	case RB_UBYTE: return CN_FT_U8;
	case RB_SHORT: return CN_FT_I16;
	case RB_USHORT: return CN_FT_U16;
	case RB_INT: return CN_FT_I32;
	case RB_UINT: return CN_FT_U32;
	case RB_LONG: return CN_FT_I64;
	case RB_ULONG: return CN_FT_U64;
	case RB_FLOAT: return CN_FT_F32;
	case RB_DOUBLE: return CN_FT_F64;
	case RB_STRING: return CN_FT_STRING;
	default: return CN_FT_NONE;
	}
}

/* Reflection indexes (objects/enums in .bfbs order) -> our sorted order. */
typedef struct sg_maps {
	int *table_of_object; /* -1 for structs */
	int *enum_of_enum;
	size_t nobjects, nenums;
} sg_maps;

static bool sg_map_object(const sg_maps *m, const sg_table *t, const sg_field *f, int32_t idx,
                          int *out)
{
	if (idx < 0 || (size_t)idx >= m->nobjects)
		return sg_error("%s: %s.%s: bad object index %d", t->file, t->name, f->name, idx);
	if (m->table_of_object[idx] < 0)
		return sg_error("%s: %s.%s: struct types are not supported (use a table)", t->file,
		                t->name, f->name);
	*out = m->table_of_object[idx];
	return true;
}

static bool sg_read_field(const sg_maps *m, const sg_table *t, cn_fb_table rf, sg_field *f)
{
	f->name = sg_str(rf, R_FIELD_NAME);
	f->id = cn_fb_get_u16(rf, R_FIELD_ID, 0);
	f->table = -1;
	f->enum_index = -1;
	f->def_int = cn_fb_get_i64(rf, R_FIELD_DEFAULT_INTEGER, 0);
	f->def_real = cn_fb_get_f64(rf, R_FIELD_DEFAULT_REAL, 0.0);
	if (cn_fb_get_u8(rf, R_FIELD_REQUIRED, 0))
		f->flags |= CN_FF_REQUIRED;
	if (cn_fb_get_u8(rf, R_FIELD_DEPRECATED, 0))
		f->flags |= CN_FF_DEPRECATED;
	if (!sg_read_attrs(rf, R_FIELD_ATTRIBUTES, &f->attrs, &f->nattrs))
		return false;

	cn_fb_table ty = cn_fb_get_table(rf, R_FIELD_TYPE);
	int bt = cn_fb_get_i8(ty, R_TYPE_BASE_TYPE, RB_NONE);
	int el = cn_fb_get_i8(ty, R_TYPE_ELEMENT, RB_NONE);
	int32_t idx = cn_fb_get_i32(ty, R_TYPE_INDEX, -1);
	uint8_t simple = sg_simple_type(bt);
	if (simple != CN_FT_NONE) {
		f->type = simple;
		if (simple != CN_FT_STRING) {
			/* reflection marks every string/table "optional"; only
			 * `= null` scalars have presence that matters */
			if (cn_fb_get_u8(rf, R_FIELD_OPTIONAL, 0))
				f->flags |= CN_FF_OPTIONAL;
			if (idx >= 0) {
				if ((size_t)idx >= m->nenums)
					return sg_error("%s: %s.%s: bad enum index %d", t->file,
					                t->name, f->name, idx);
				f->enum_index = m->enum_of_enum[idx];
			}
		}
		return true;
	}
	switch (bt) {
	case RB_OBJ: f->type = CN_FT_TABLE; return sg_map_object(m, t, f, idx, &f->table);
	case RB_VECTOR:
		f->type = CN_FT_VECTOR;
		if (el == RB_OBJ) {
			f->elem = CN_FT_TABLE;
			return sg_map_object(m, t, f, idx, &f->table);
		}
		f->elem = sg_simple_type(el);
		if (f->elem == CN_FT_NONE)
			return sg_error("%s: %s.%s: vectors of unions are not supported", t->file,
			                t->name, f->name);
		if (f->elem != CN_FT_STRING && idx >= 0) {
			if ((size_t)idx >= m->nenums)
				return sg_error("%s: %s.%s: bad enum index %d", t->file, t->name,
				                f->name, idx);
			f->enum_index = m->enum_of_enum[idx];
		}
		return true;
	case RB_UNION:
	case RB_UTYPE:
		return sg_error("%s: %s.%s: union types are not supported", t->file, t->name,
		                f->name);
	case RB_ARRAY:
		return sg_error("%s: %s.%s: fixed-length arrays are not supported", t->file,
		                t->name, f->name);
	default: return sg_error("%s: %s.%s: unknown base type %d", t->file, t->name, f->name, bt);
	}
}

static int sg_cmp_field(const void *a, const void *b)
{
	const sg_field *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

/* Sort helpers: order reflection entries by qualified name. */
typedef struct sg_named {
	const char *name;
	uint32_t orig;
} sg_named;

static int sg_cmp_named(const void *a, const void *b)
{
	return strcmp(((const sg_named *)a)->name, ((const sg_named *)b)->name);
}

static bool sg_check_unique_short(const sg_schema *s)
{
	size_t n = s->ntables + s->nenums;
	sg_named *all = calloc(n ? n : 1, sizeof *all);
	if (!all)
		return sg_error("out of memory");
	for (size_t i = 0; i < s->ntables; i++)
		all[i] = (sg_named){s->tables[i].short_name, (uint32_t)i};
	for (size_t i = 0; i < s->nenums; i++)
		all[s->ntables + i] =
		        (sg_named){s->enums[i].short_name, (uint32_t)(s->ntables + i)};
	qsort(all, n, sizeof *all, sg_cmp_named);
	bool ok = true;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(all[i - 1].name, all[i].name) != 0)
			continue;
		const char *q1 = all[i - 1].orig < s->ntables
		                         ? s->tables[all[i - 1].orig].name
		                         : s->enums[all[i - 1].orig - s->ntables].name;
		const char *q2 = all[i].orig < s->ntables ? s->tables[all[i].orig].name
		                                          : s->enums[all[i].orig - s->ntables].name;
		ok = sg_error("duplicate short name '%s' (%s and %s): generated C names and bus "
		              "method names use short names, so they must be unique",
		              all[i].name, q1, q2);
	}
	free(all);
	return ok;
}

static bool sg_load_enums(cn_fb_vec renums, sg_schema *s, sg_maps *m)
{
	sg_named *order = calloc(renums.n ? renums.n : 1, sizeof *order);
	m->enum_of_enum = calloc(renums.n ? renums.n : 1, sizeof *m->enum_of_enum);
	s->enums = calloc(renums.n ? renums.n : 1, sizeof *s->enums);
	if (!order || !m->enum_of_enum || !s->enums) {
		free(order);
		return sg_error("out of memory");
	}
	m->nenums = renums.n;
	for (uint32_t i = 0; i < renums.n; i++)
		order[i] = (sg_named){sg_str(cn_fb_vec_table(renums, i), R_ENUM_NAME), i};
	qsort(order, renums.n, sizeof *order, sg_cmp_named);
	bool ok = true;
	for (uint32_t k = 0; k < renums.n && ok; k++) {
		cn_fb_table re = cn_fb_vec_table(renums, order[k].orig);
		sg_enum *e = &s->enums[k];
		m->enum_of_enum[order[k].orig] = (int)k;
		s->nenums = k + 1;
		e->name = order[k].name;
		e->short_name = sg_short(e->name);
		if (cn_fb_get_u8(re, R_ENUM_IS_UNION, 0)) {
			ok = sg_error("%s: unions are not supported", e->name);
			break;
		}
		cn_fb_table ut = cn_fb_get_table(re, R_ENUM_UNDERLYING);
		e->type = sg_simple_type(cn_fb_get_i8(ut, R_TYPE_BASE_TYPE, RB_NONE));
		if (e->type == CN_FT_NONE || e->type == CN_FT_STRING || e->type == CN_FT_BOOL) {
			ok = sg_error("%s: unsupported underlying type", e->name);
			break;
		}
		cn_fb_vec rv = cn_fb_get_vec(re, R_ENUM_VALUES);
		e->vals = calloc(rv.n ? rv.n : 1, sizeof *e->vals);
		if (!e->vals) {
			ok = sg_error("out of memory");
			break;
		}
		e->nvals = rv.n;
		for (uint32_t j = 0; j < rv.n; j++) {
			cn_fb_table ev = cn_fb_vec_table(rv, j);
			e->vals[j].name = sg_str(ev, R_ENUMVAL_NAME);
			e->vals[j].value = cn_fb_get_i64(ev, R_ENUMVAL_VALUE, 0);
			for (uint32_t p = 0; p < j; p++)
				if (e->vals[p].value == e->vals[j].value)
					ok = sg_error("%s: values %s and %s are both %lld", e->name,
					              e->vals[p].name, e->vals[j].name,
					              (long long)e->vals[j].value);
		}
	}
	free(order);
	return ok;
}

static bool sg_load_tables(cn_fb_vec robjs, sg_schema *s, sg_maps *m)
{
	sg_named *order = calloc(robjs.n ? robjs.n : 1, sizeof *order);
	m->table_of_object = calloc(robjs.n ? robjs.n : 1, sizeof *m->table_of_object);
	s->tables = calloc(robjs.n ? robjs.n : 1, sizeof *s->tables);
	if (!order || !m->table_of_object || !s->tables) {
		free(order);
		return sg_error("out of memory");
	}
	m->nobjects = robjs.n;
	size_t ntables = 0;
	for (uint32_t i = 0; i < robjs.n; i++) {
		cn_fb_table ro = cn_fb_vec_table(robjs, i);
		m->table_of_object[i] = -1;
		if (cn_fb_get_u8(ro, R_OBJECT_IS_STRUCT, 0)) {
			free(order);
			return sg_error("%s: %s: structs are not supported (declare a table)",
			                sg_str(ro, R_OBJECT_DECL_FILE), sg_str(ro, R_OBJECT_NAME));
		}
		order[ntables++] = (sg_named){sg_str(ro, R_OBJECT_NAME), i};
	}
	qsort(order, ntables, sizeof *order, sg_cmp_named);
	if (ntables > INT16_MAX) {
		free(order);
		return sg_error("too many tables (%zu)", ntables);
	}
	for (size_t k = 0; k < ntables; k++)
		m->table_of_object[order[k].orig] = (int)k;
	bool ok = true;
	for (size_t k = 0; k < ntables && ok; k++) {
		cn_fb_table ro = cn_fb_vec_table(robjs, order[k].orig);
		sg_table *t = &s->tables[k];
		s->ntables = k + 1;
		t->name = order[k].name;
		t->short_name = sg_short(t->name);
		t->file = sg_str(ro, R_OBJECT_DECL_FILE);
		if (!sg_read_attrs(ro, R_OBJECT_ATTRIBUTES, &t->attrs, &t->nattrs)) {
			ok = false;
			break;
		}
		cn_fb_vec rf = cn_fb_get_vec(ro, R_OBJECT_FIELDS);
		t->fields = calloc(rf.n ? rf.n : 1, sizeof *t->fields);
		if (!t->fields) {
			ok = sg_error("out of memory");
			break;
		}
		for (uint32_t j = 0; j < rf.n && ok; j++) {
			t->nfields = j + 1;
			ok = sg_read_field(m, t, cn_fb_vec_table(rf, j), &t->fields[j]);
		}
		qsort(t->fields, t->nfields, sizeof *t->fields, sg_cmp_field);
	}
	free(order);
	return ok;
}

static void sg_schema_free(sg_schema *s)
{
	for (size_t i = 0; i < s->ntables; i++) {
		for (size_t j = 0; j < s->tables[i].nfields; j++)
			free(s->tables[i].fields[j].attrs);
		free(s->tables[i].fields);
		free(s->tables[i].attrs);
	}
	free(s->tables);
	for (size_t i = 0; i < s->nenums; i++)
		free(s->enums[i].vals);
	free(s->enums);
	for (size_t i = 0; i < s->nroutes; i++) {
		free(s->routes[i].method);
		free(s->routes[i].path);
	}
	free(s->routes);
	memset(s, 0, sizeof *s);
}

static uint8_t *sg_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		sg_error("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		uint8_t *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	bool err = ferror(f);
	fclose(f);
	if (!buf || err) {
		free(buf);
		sg_error("cannot read %s", path);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Write through a temporary file so that a failed run leaves no partial output. */
static bool sg_write(const char *path, const sg_schema *s, bool (*emit)(const sg_schema *, FILE *))
{
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	if (!tmp)
		return sg_error("out of memory");
	snprintf(tmp, n, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		sg_error("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return false;
	}
	bool ok = emit(s, f);
	if (ferror(f))
		ok = sg_error("cannot write %s", tmp);
	if (fclose(f) != 0)
		ok = sg_error("cannot write %s: %s", tmp, strerror(errno));
	if (ok && rename(tmp, path) != 0)
		ok = sg_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
	if (!ok)
		remove(tmp);
	free(tmp);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s <schema.bfbs> <out.h> <out.c>\n", argv[0]);
		return 2;
	}
	size_t len = 0;
	uint8_t *bfbs = sg_read_file(argv[1], &len);
	if (!bfbs)
		return 1;
	if (len < 8 || memcmp(bfbs + 4, "BFBS", 4) != 0 || cn_fb_rd_u32(bfbs) >= len) {
		free(bfbs);
		sg_error("%s is not a flatc binary schema (run flatc -b --schema)", argv[1]);
		return 1;
	}
	cn_fb_table root = cn_fb_root(bfbs);
	sg_schema s = {0};
	sg_maps m = {0};
	bool ok = sg_load_enums(cn_fb_get_vec(root, R_SCHEMA_ENUMS), &s, &m) &&
	          sg_load_tables(cn_fb_get_vec(root, R_SCHEMA_OBJECTS), &s, &m) &&
	          sg_check_unique_short(&s) && sg_build_routes(&s) &&
	          sg_write(argv[2], &s, sg_emit_header) && sg_write(argv[3], &s, sg_emit_source);
	free(m.table_of_object);
	free(m.enum_of_enum);
	sg_schema_free(&s);
	free(bfbs);
	if (!ok) {
		fprintf(stderr, "schemagen: %s: no output written\n", argv[1]);
		return 1;
	}
	return 0;
}
