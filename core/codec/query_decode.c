/*
 * core/codec/query_decode.c: URL query strings -> FlatBuffers (MLflow GET
 * calls). "a=1&b=x%20y&ids=1&ids=2": '+' is a space, %XX a byte, a key
 * without '=' has an empty value; repeated keys fill vector fields.
 */
#include "core/codec/codec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

typedef struct qpair {
	const char *key, *val; /* decoded, NUL-terminated in the arena */
	size_t klen, vlen;
	const char *raw_key; /* undecoded key for messages about bad escapes */
	size_t raw_klen;
	const cn_schema_field *f;
} qpair;

/* Decode src[0..n) into dst (at most n bytes plus NUL); false on a bad escape. */
static bool query_unescape(const char *src, size_t n, char *dst, size_t *out_len)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = src[i];
		if (ch == '+') {
			dst[o++] = ' ';
		} else if (ch == '%') {
			if (i + 2 >= n)
				return false;
			int hi = cn_hex_value(src[i + 1]), lo = cn_hex_value(src[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			dst[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			dst[o++] = ch;
		}
	}
	dst[o] = '\0';
	*out_len = o;
	return true;
}

static cn_code query_bad_key(cn_err *err, const char *raw, size_t n, const char *why)
{
	return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid parameter '%.*s' in the query string: %s.",
	                  (int)(n > 200 ? 200 : n), raw, why);
}

/* Split and decode qs into pairs (arena holds the decoded text). */
static cn_code query_split(const char *qs, size_t len, qpair *pairs, size_t *npairs, char *arena,
                           cn_err *err)
{
	size_t np = 0, a = 0, i = 0;
	while (i <= len) {
		size_t start = i;
		while (i < len && qs[i] != '&')
			i++;
		size_t seg = i - start;
		i++; /* past '&' (or the end) */
		if (seg == 0)
			continue;
		const char *s = qs + start;
		const char *eq = memchr(s, '=', seg);
		size_t kraw = eq ? (size_t)(eq - s) : seg;
		qpair *p = &pairs[np++];
		p->raw_key = s;
		p->raw_klen = kraw;
		p->key = arena + a;
		if (!query_unescape(s, kraw, arena + a, &p->klen))
			return query_bad_key(err, s, kraw, "bad percent-escape in the name");
		a += p->klen + 1;
		p->val = arena + a;
		if (!query_unescape(eq ? eq + 1 : s + seg, eq ? seg - kraw - 1 : 0, arena + a,
		                    &p->vlen))
			return query_bad_key(err, p->key, p->klen,
			                     "bad percent-escape in the value");
		a += p->vlen + 1;
		if (!codec_utf8_valid((const uint8_t *)p->key, p->klen))
			return query_bad_key(err, s, kraw, "the name is not valid UTF-8");
		if (!codec_utf8_valid((const uint8_t *)p->val, p->vlen))
			return query_bad_key(err, p->key, p->klen, "the value is not valid UTF-8");
	}
	*npairs = np;
	return CN_OK;
}

/* Set every field named in pairs, in order of first appearance. */
static cn_code query_fields(const cn_schema *s, const cn_schema_table *t, qpair *pairs, size_t np,
                            codec_val *vals, cn_fb_builder *b, cn_err *err)
{
	for (size_t i = 0; i < np; i++) {
		pairs[i].f = cn_schema_field_by_name(t, pairs[i].key, pairs[i].klen);
		if (!pairs[i].f) {
			codec_path p;
			char shown[128];
			snprintf(shown, sizeof shown, "%.*s", (int)pairs[i].klen, pairs[i].key);
			codec_path_field(&p, "", shown);
			return codec_err_unknown(err, p.p, t);
		}
	}
	const char **txt = malloc((np ? np : 1) * sizeof *txt);
	size_t *lens = malloc((np ? np : 1) * sizeof *lens);
	cn_code rc = txt && lens ? CN_OK : codec_err_oom(err);
	for (size_t i = 0; i < np && rc == CN_OK; i++) {
		const cn_schema_field *f = pairs[i].f;
		size_t fi = (size_t)(f - t->fields);
		if (vals[fi].set || (f->flags & CN_FF_DEPRECATED))
			continue; /* done at its first appearance */
		size_t n = 0;
		for (size_t k = i; k < np; k++) {
			if (pairs[k].f == f) {
				txt[n] = pairs[k].val;
				lens[n++] = pairs[k].vlen;
			}
		}
		codec_path p;
		codec_path_field(&p, "", f->name);
		rc = codec_text_field(s, t, f, p.p, txt, lens, n, b, &vals[fi], err);
	}
	free(txt);
	free(lens);
	return rc;
}

cn_code cn_query_decode(const cn_schema *s, int table, const char *qs, size_t len,
                        const cn_codec_kv *extra, size_t nextra, cn_fb_builder *b, cn_fb_ref *root,
                        cn_err *err)
{
	if (!s || !b || !root || (len && !qs) || table < 0 || (size_t)table >= s->ntables)
		return cn_err_set(err, CN_INTERNAL_ERROR, "cn_query_decode: bad arguments");
	*root = 0;
	const cn_schema_table *t = &s->tables[table];
	size_t maxpairs = 1;
	for (size_t i = 0; i < len; i++)
		maxpairs += qs[i] == '&';
	qpair *pairs = calloc(maxpairs, sizeof *pairs);
	char *arena = malloc(len + 2 * maxpairs + 1);
	codec_val *vals = calloc(t->nfields ? t->nfields : 1, sizeof *vals);
	size_t np = 0;
	cn_code rc = pairs && arena && vals ? CN_OK : codec_err_oom(err);
	if (rc == CN_OK)
		rc = query_split(qs ? qs : "", len, pairs, &np, arena, err);
	if (rc == CN_OK)
		rc = query_fields(s, t, pairs, np, vals, b, err);
	if (rc == CN_OK && nextra)
		rc = codec_apply_extra(s, t, vals, extra, nextra, b, err);
	if (rc == CN_OK)
		rc = codec_emit_table(t, vals, "", b, root, err);
	if (rc != CN_OK)
		*root = 0;
	free(pairs);
	free(arena);
	free(vals);
	return rc;
}
