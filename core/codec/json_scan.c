/*
 * core/codec/json_scan.c: the JSON request decoder's fast path, and
 * cn_json_decode() itself.
 *
 * A single pass over the text, driven by the schema: each object is read
 * as the table the schema expects there and written to the builder as
 * soon as it closes (children first, as FlatBuffers requires), numbers are
 * converted straight from their text (integers exactly, doubles correctly
 * rounded), strings are copied from the input unless they hold escapes.
 * There is no tree, and no number is printed and read back.
 *
 * The scanner accepts only what the jansson-based decoder (json_decode.c)
 * accepts, and builds byte-for-byte the same buffer from it. It gives up on
 * anything else: malformed JSON, every kind of invalid value, and a few
 * rare valid shapes (a double-encoded or non-object top level, deprecated
 * fields, lone surrogates). Then the builder is reset and the jansson path
 * decodes the body again, so every error keeps its exact message, line and
 * column, and its precedence (a syntax error anywhere wins over a bad
 * field). Rejected requests pay for two passes; valid ones for one fast
 * pass. fuzz_json_diff checks that both paths agree.
 */
#include "core/codec/codec_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec/dtoa.h"

/* Tables with more fields than this go to the jansson path (none today:
 * MLflow's messages have at most 13). Bounds the stack used per level. */
#define JS_MAX_FIELDS 32

typedef struct jscan {
	const cn_schema *s;
	cn_fb_builder *b;
	const char *p, *end;
	char *tmp; /* unescaped strings, number copies; owned, freed by the caller */
	size_t tmpcap;
	cn_err err; /* scratch: messages are left to the jansson path */
} jscan;

/* A number token: integers exactly (jansson's json_int_t range), reals as
 * strtod reads them. */
typedef struct js_num {
	bool real;
	int64_t i;
	double d;
} js_num;

static inline void js_ws(jscan *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
		c->p++;
}

static inline bool js_peek(jscan *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool js_literal(jscan *c, const char *lit, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool js_tmp_reserve(jscan *c, size_t n)
{
	if (n <= c->tmpcap)
		return true;
	size_t cap = c->tmpcap ? c->tmpcap : 256;
	while (cap < n)
		cap *= 2;
	char *t = realloc(c->tmp, cap);
	if (!t)
		return false;
	c->tmp = t;
	c->tmpcap = cap;
	return true;
}

static int js_hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int h = cn_hex_value(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t js_utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string with escapes, from the opening quote at start: unescaped into
 * c->tmp. Lone surrogates give up (jansson rejects them). */
static bool js_string_slow(jscan *c, const char *start, const char **out, size_t *len,
                           bool *has_nul)
{
	const char *p = start + 1;
	/* the text is never shorter than what it unescapes to */
	if (!js_tmp_reserve(c, (size_t)(c->end - p) + 4))
		return false;
	char *o = c->tmp;
	while (p < c->end && *p != '"') {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			*o++ = (char)ch;
			p++;
			continue;
		}
		if (c->end - p < 2)
			return false;
		char e = p[1];
		p += 2;
		switch (e) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			if (c->end - p < 4)
				return false;
			int cp = js_hex4(p);
			p += 4;
			if (cp < 0)
				return false;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return false;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (c->end - p < 6 || p[0] != '\\' || p[1] != 'u')
					return false;
				int lo = js_hex4(p + 2);
				if (lo < 0xdc00 || lo > 0xdfff)
					return false;
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				*has_nul = true;
			o += js_utf8_put(o, (uint32_t)cp);
			break;
		}
		default: return false;
		}
	}
	if (p >= c->end)
		return false;
	*len = (size_t)(o - c->tmp);
	if (!codec_utf8_valid((const uint8_t *)c->tmp, *len))
		return false;
	*out = c->tmp;
	c->p = p + 1;
	return true;
}

/* A string at c->p (the opening quote): *out points into the input when
 * nothing needs unescaping (the usual case), else into c->tmp. */
static bool js_string(jscan *c, const char **out, size_t *len, bool *has_nul)
{
	const char *start = c->p;
	const char *p = start + 1;
	bool ascii = true;
	*has_nul = false;
	while (p < c->end) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"')
			break;
		if (ch == '\\')
			return js_string_slow(c, start, out, len, has_nul);
		if (ch < 0x20)
			return false;
		ascii &= ch < 0x80;
		p++;
	}
	if (p >= c->end)
		return false;
	*out = start + 1;
	*len = (size_t)(p - start - 1);
	if (!ascii && !codec_utf8_valid((const uint8_t *)*out, *len))
		return false;
	c->p = p + 1;
	return true;
}

static const double js_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number token (JSON grammar, as jansson's lexer takes it). Integers must
 * fit int64 and reals must not overflow, or jansson fails the body. */
static bool js_number(jscan *c, js_num *n)
{
	const char *start = c->p, *p = c->p;
	bool neg = false;
	if (p < c->end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= c->end || *p < '0' || *p > '9')
		return false;
	uint64_t mant = 0;
	int ndig = 0, frac = 0, exp = 0;
	if (*p == '0') {
		p++;
		if (p < c->end && *p >= '0' && *p <= '9')
			return false;
	} else {
		while (p < c->end && *p >= '0' && *p <= '9') {
			if (ndig < 19)
				mant = mant * 10 + (uint64_t)(*p - '0');
			ndig += mant != 0 || *p != '0';
			if (ndig > 19)
				frac--; /* digit dropped from mant: scale back up */
			p++;
		}
	}
	n->real = false;
	if (p < c->end && *p == '.') {
		n->real = true;
		p++;
		if (p >= c->end || *p < '0' || *p > '9')
			return false;
		while (p < c->end && *p >= '0' && *p <= '9') {
			if (ndig < 19) {
				mant = mant * 10 + (uint64_t)(*p - '0');
				frac++;
				ndig += mant != 0;
			}
			p++;
		}
	}
	if (p < c->end && (*p == 'e' || *p == 'E')) {
		n->real = true;
		p++;
		bool eneg = false;
		if (p < c->end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p >= c->end || *p < '0' || *p > '9')
			return false;
		while (p < c->end && *p >= '0' && *p <= '9') {
			if (exp < 100000)
				exp = exp * 10 + (*p - '0');
			p++;
		}
		if (eneg)
			exp = -exp;
	}
	c->p = p;
	size_t len = (size_t)(p - start);
	if (!n->real) {
		/* exact: every digit is in mant when there are at most 19 */
		if (ndig > 19 || (ndig == 19 && mant > (uint64_t)INT64_MAX + neg))
			return false;
		n->i = neg ? (int64_t)(0 - mant) : (int64_t)mant;
		if (neg && mant == (uint64_t)INT64_MAX + 1)
			n->i = INT64_MIN;
		return true;
	}
	/* Clinger's fast path: mantissa and power of ten both exact in a
	 * double, so one IEEE operation rounds correctly. Else strtod. */
	int e10 = exp - frac;
	if (ndig <= 15 && e10 >= -22 && e10 <= 22) {
		double d = (double)mant;
		d = e10 < 0 ? d / js_pow10[-e10] : d * js_pow10[e10];
		n->d = neg ? -d : d;
		return true;
	}
	if (!js_tmp_reserve(c, len + 1))
		return false;
	memcpy(c->tmp, start, len);
	c->tmp[len] = '\0';
	errno = 0;
	n->d = strtod(c->tmp, NULL);
	return !(errno == ERANGE && isinf(n->d));
}

/* MLflow turns integer experiment ids into strings (see json_decode.c). */
static bool js_int_id_field(const cn_schema_field *f)
{
	return !strcmp(f->name, "experiment_id") || !strcmp(f->name, "experiment_ids");
}

static bool js_table(jscan *c, int ti, int depth, const cn_codec_kv *extra, size_t nextra,
                     cn_fb_ref *out);

static bool js_string_field(jscan *c, const cn_schema_field *f, cn_fb_ref *out)
{
	if (js_peek(c, '"')) {
		const char *s;
		size_t len;
		bool nul;
		if (!js_string(c, &s, &len, &nul))
			return false;
		*out = cn_fb_create_string(c->b, s, len);
		return *out != 0;
	}
	js_num n;
	if (!js_int_id_field(f) || !js_number(c, &n) || n.real)
		return false;
	char num[24];
	size_t len = cn_i64toa(n.i, num);
	*out = cn_fb_create_string(c->b, num, len);
	return *out != 0;
}

static bool js_scalar(jscan *c, const cn_schema_field *f, uint8_t ft, codec_val *out)
{
	if (ft == CN_FT_BOOL) {
		if (js_literal(c, "true", 4))
			out->s.i = 1;
		else if (js_literal(c, "false", 5))
			out->s.i = 0;
		else
			return false;
		out->set = true;
		return true;
	}
	if (js_peek(c, '"')) {
		const char *s;
		size_t len;
		bool nul;
		return js_string(c, &s, &len, &nul) &&
		       codec_scalar_from_text(c->s, f, ft, "", s, len, false, out, &c->err) ==
		               CN_OK;
	}
	js_num n;
	if (!js_number(c, &n))
		return false;
	if (codec_is_float(ft)) {
		double d = n.real ? n.d : (double)n.i;
		if (ft == CN_FT_F32 && fabs(d) > FLT_MAX)
			return false;
		out->s.d = d;
		out->set = true;
		return true;
	}
	if (!codec_is_int(ft))
		return false;
	bool neg;
	uint64_t mag;
	if (n.real) {
		if (f->enum_index >= 0 || !isfinite(n.d) || n.d != floor(n.d) ||
		    fabs(n.d) >= 18446744073709551616.0)
			return false;
		neg = n.d < 0;
		mag = (uint64_t)fabs(n.d);
	} else {
		neg = n.i < 0;
		mag = neg ? (uint64_t)0 - (uint64_t)n.i : (uint64_t)n.i;
	}
	if (!codec_int_in_range(ft, neg, mag, out))
		return false;
	if (f->enum_index >= 0 && (size_t)f->enum_index < c->s->nenums) {
		const cn_schema_enum *e = &c->s->enums[f->enum_index];
		for (uint16_t i = 0; i < e->nvals; i++)
			if (e->vals[i].value == out->s.i)
				return true;
		return false;
	}
	return true;
}

/* Elements collect here before the vector is written; small ones on the
 * stack. */
typedef struct js_elems {
	uint8_t *p;
	size_t n, cap; /* in elements */
	uint64_t small[64];
} js_elems;

static uint8_t *js_elem_slot(js_elems *v, size_t esz)
{
	if (v->n == v->cap) {
		size_t cap = v->cap * 2;
		uint8_t *np =
		        v->p == (uint8_t *)v->small ? malloc(cap * esz) : realloc(v->p, cap * esz);
		if (!np)
			return NULL;
		if (v->p == (uint8_t *)v->small)
			memcpy(np, v->small, v->n * esz);
		v->p = np;
		v->cap = cap;
	}
	return v->p + v->n++ * esz;
}

static bool js_vector_elems(jscan *c, const cn_schema_field *f, int depth, size_t esz, js_elems *v)
{
	uint8_t ft = f->elem;
	c->p++; /* '[' */
	js_ws(c);
	if (js_peek(c, ']')) {
		c->p++;
		return true;
	}
	for (;;) {
		uint8_t *slot = js_elem_slot(v, esz);
		if (!slot)
			return false;
		if (ft == CN_FT_TABLE) {
			cn_fb_ref r = 0;
			if (!js_peek(c, '{') || !js_table(c, f->table, depth + 1, NULL, 0, &r))
				return false;
			memcpy(slot, &r, esz);
		} else if (ft == CN_FT_STRING) {
			cn_fb_ref r = 0;
			if (!js_string_field(c, f, &r))
				return false;
			memcpy(slot, &r, esz);
		} else {
			codec_val val = {0};
			if (!js_scalar(c, f, ft, &val))
				return false;
			codec_scalar_store(ft, &val, slot);
		}
		js_ws(c);
		if (js_peek(c, ']')) {
			c->p++;
			return true;
		}
		if (!js_peek(c, ','))
			return false;
		c->p++;
		js_ws(c);
	}
}

static bool js_vector(jscan *c, const cn_schema_field *f, int depth, codec_val *out)
{
	uint8_t ft = f->elem;
	bool refs = ft == CN_FT_STRING || ft == CN_FT_TABLE;
	size_t esz = refs ? sizeof(cn_fb_ref) : codec_scalar_size(ft);
	if (!esz)
		return false;
	js_elems v = {.n = 0, .cap = sizeof v.small / esz};
	v.p = (uint8_t *)v.small;
	bool ok = js_vector_elems(c, f, depth, esz, &v);
	if (ok) {
		out->ref = refs ? cn_fb_create_vec_refs(c->b, (const cn_fb_ref *)(void *)v.p, v.n)
		                : cn_fb_create_vec_scalars(c->b, v.p, v.n, esz);
		out->set = true;
		ok = out->ref != 0;
	}
	if (v.p != (uint8_t *)v.small)
		free(v.p);
	return ok;
}

static bool js_field(jscan *c, const cn_schema_field *f, int depth, codec_val *out)
{
	/* Maps and raw JSON values are rare (traces): the jansson path has them. */
	if (codec_field_is_map(f) || codec_field_is_json(f))
		return false;
	switch (f->type) {
	case CN_FT_STRING: out->set = true; return js_string_field(c, f, &out->ref);
	case CN_FT_TABLE:
		out->set = true;
		return js_peek(c, '{') && js_table(c, f->table, depth + 1, NULL, 0, &out->ref);
	case CN_FT_VECTOR: return js_peek(c, '[') && js_vector(c, f, depth, out);
	default: return js_scalar(c, f, f->type, out);
	}
}

/* The object at c->p ('{') as table ti. */
static bool js_table(jscan *c, int ti, int depth, const cn_codec_kv *extra, size_t nextra,
                     cn_fb_ref *out)
{
	if (ti < 0 || (size_t)ti >= c->s->ntables || depth > CODEC_MAX_DEPTH)
		return false;
	const cn_schema_table *t = &c->s->tables[ti];
	if (t->nfields > JS_MAX_FIELDS)
		return false;
	codec_val vals[JS_MAX_FIELDS];
	uint64_t seen = 0; /* fields given, even as null: a second time is a duplicate */
	memset(vals, 0, t->nfields * sizeof vals[0]);
	c->p++; /* '{' */
	js_ws(c);
	if (js_peek(c, '}')) {
		c->p++;
	} else {
		for (;;) {
			const char *key;
			size_t klen;
			bool nul;
			if (!js_peek(c, '"') || !js_string(c, &key, &klen, &nul) || nul)
				return false;
			const cn_schema_field *f = cn_schema_field_by_name(t, key, klen);
			if (!f)
				return false;
			size_t idx = (size_t)(f - t->fields);
			if (seen & (1ull << idx))
				return false;
			seen |= 1ull << idx;
			js_ws(c);
			if (!js_peek(c, ':'))
				return false;
			c->p++;
			js_ws(c);
			if (js_literal(c, "null", 4)) {
				/* absent */
			} else if (f->flags & CN_FF_DEPRECATED) {
				return false; /* ignored by the jansson path, value unchecked */
			} else if (!js_field(c, f, depth, &vals[idx])) {
				return false;
			}
			js_ws(c);
			if (js_peek(c, '}')) {
				c->p++;
				break;
			}
			if (!js_peek(c, ','))
				return false;
			c->p++;
			js_ws(c);
		}
	}
	if (nextra && codec_apply_extra(c->s, t, vals, extra, nextra, c->b, &c->err) != CN_OK)
		return false;
	return codec_emit_table(t, vals, "", c->b, out, &c->err) == CN_OK;
}

bool codec_json_decode_scan(const cn_schema *s, int table, const char *json, size_t len,
                            const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b,
                            cn_fb_ref *root)
{
	jscan c = {.s = s, .b = b, .p = json, .end = json + len};
	js_ws(&c);
	bool ok = js_peek(&c, '{') && js_table(&c, table, 1, extra, nextra, root);
	if (ok) {
		js_ws(&c);
		ok = c.p == c.end;
	}
	free(c.tmp);
	return ok;
}

cn_code cn_json_decode(const cn_schema *s, int table, const char *json, size_t len,
                       const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_fb_ref *root,
                       cn_err *err)
{
	if (!s || !b || !root || (len && !json) || table < 0 || (size_t)table >= s->ntables)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cn_json_decode: bad arguments");
	*root = 0;
	if (len && codec_json_decode_scan(s, table, json, len, extra, nextra, b, root))
		return CN_OK;
	/* Rejected, or a shape the scanner leaves alone: start over on the
	 * jansson path, which has the exact diagnostics. */
	*root = 0;
	cn_fb_builder_reset(b);
	return codec_json_decode_dom(s, table, json, len, extra, nextra, b, root, err);
}
