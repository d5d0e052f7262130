/* core/cli/cli_json.c: a small recursive-descent JSON parser into a tree (see cli_json.h). */
#include "core/cli/cli_json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CLI_JSON_MAX_DEPTH 64

typedef struct cj_in {
	const char *p, *end;
	int depth;
} cj_in;

static void cj_ws(cj_in *in)
{
	while (in->p < in->end &&
	       (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

static int cj_hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t cj_utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A string at in->p (after its opening quote is checked); decoded, malloc'd. */
static char *cj_string(cj_in *in)
{
	if (in->p >= in->end || *in->p != '"')
		return NULL;
	in->p++;
	/* Decoded text is never longer than the escaped text. */
	const char *q = in->p;
	while (q < in->end && *q != '"')
		q += (*q == '\\' && q + 1 < in->end) ? 2 : 1;
	if (q >= in->end)
		return NULL;
	char *out = malloc((size_t)(q - in->p) + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	while (in->p < q) {
		unsigned char c = (unsigned char)*in->p++;
		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		char e = *in->p++;
		switch (e) {
		case '"': out[n++] = '"'; break;
		case '\\': out[n++] = '\\'; break;
		case '/': out[n++] = '/'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			if (q - in->p < 4)
				goto bad;
			int cp = cj_hex4(in->p);
			if (cp < 0)
				goto bad;
			in->p += 4;
			uint32_t u = (uint32_t)cp;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				int lo = q - in->p >= 6 && in->p[0] == '\\' && in->p[1] == 'u'
				                 ? cj_hex4(in->p + 2)
				                 : -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					goto bad;
				in->p += 6;
				u = 0x10000 + (((uint32_t)cp - 0xD800) << 10) +
				    ((uint32_t)lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				goto bad;
			}
			/* \uXXXX is 6 bytes of input for at most 3 of output; a pair 12 for 4. */
			n += cj_utf8(u, out + n);
			break;
		}
		default: goto bad;
		}
	}
	out[n] = '\0';
	in->p = q + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static cli_json *cj_value(cj_in *in);

static bool cj_lit(cj_in *in, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, lit, n) != 0)
		return false;
	in->p += n;
	return true;
}

/* Elements of an array or members of an object, after the opening bracket. */
static bool cj_items(cj_in *in, cli_json *v, char close)
{
	cli_json **tail = &v->child;
	cj_ws(in);
	if (in->p < in->end && *in->p == close) {
		in->p++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		cj_ws(in);
		if (close == '}') {
			if (!(key = cj_string(in)))
				return false;
			cj_ws(in);
			if (in->p >= in->end || *in->p != ':') {
				free(key);
				return false;
			}
			in->p++;
		}
		cli_json *item = cj_value(in);
		if (!item) {
			free(key);
			return false;
		}
		item->key = key;
		*tail = item;
		tail = &item->next;
		cj_ws(in);
		if (in->p >= in->end)
			return false;
		char c = *in->p++;
		if (c == close)
			return true;
		if (c != ',')
			return false;
	}
}

static cli_json *cj_value(cj_in *in)
{
	cj_ws(in);
	if (in->p >= in->end || ++in->depth > CLI_JSON_MAX_DEPTH)
		return NULL;
	cli_json *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	bool ok = false;
	char c = *in->p;
	if (c == '{' || c == '[') {
		in->p++;
		v->type = c == '{' ? CLI_JSON_OBJECT : CLI_JSON_ARRAY;
		ok = cj_items(in, v, c == '{' ? '}' : ']');
	} else if (c == '"') {
		v->type = CLI_JSON_STRING;
		ok = (v->text = cj_string(in)) != NULL;
	} else if (cj_lit(in, "true") || cj_lit(in, "false")) {
		v->type = CLI_JSON_BOOL;
		v->b = in->p[-1] == 'e' && in->p[-2] == 'u';
		ok = true;
	} else if (cj_lit(in, "null")) {
		ok = true;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		const char *s = in->p;
		while (in->p < in->end && strchr("+-0123456789.eE", *in->p))
			in->p++;
		v->type = CLI_JSON_NUMBER;
		ok = (v->text = strndup(s, (size_t)(in->p - s))) != NULL;
	}
	in->depth--;
	if (!ok) {
		cli_json_free(v);
		return NULL;
	}
	return v;
}

cli_json *cli_json_parse(const char *text, size_t len)
{
	cj_in in = {text, text + len, 0};
	cli_json *v = cj_value(&in);
	cj_ws(&in);
	if (v && in.p != in.end) {
		cli_json_free(v);
		return NULL;
	}
	return v;
}

void cli_json_free(cli_json *v)
{
	while (v) {
		cli_json *next = v->next;
		cli_json_free(v->child);
		free(v->key);
		free(v->text);
		free(v);
		v = next;
	}
}

const cli_json *cli_json_get(const cli_json *obj, const char *key)
{
	if (!obj || obj->type != CLI_JSON_OBJECT)
		return NULL;
	const cli_json *found = NULL;
	for (const cli_json *m = obj->child; m; m = m->next)
		if (m->key && strcmp(m->key, key) == 0)
			found = m; /* the last one wins, as in most parsers */
	return found;
}

const char *cli_json_str(const cli_json *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const char *k;
	while (obj && (k = va_arg(ap, const char *)) != NULL)
		obj = cli_json_get(obj, k);
	va_end(ap);
	return obj && obj->type == CLI_JSON_STRING ? obj->text : NULL;
}
