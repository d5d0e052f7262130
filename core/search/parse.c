/*
 * core/search/parse.c: filter strings to clauses.
 *
 * A flat loop over tokens, one clause at a time, so no input can drive
 * recursion. Checks run in MLflow's order (identifier, then value, then
 * comparator), so a clause with several faults reports the one MLflow would.
 */
#include "core/search/search_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a clause owns besides its strings, which live in the arena. */
typedef struct parse_owned {
	const char **items;
	size_t *lens;
	struct cn_search_regex *re;
} parse_owned;

struct cn_search_filter {
	cn_search_clause *clauses;
	parse_owned *owned;
	size_t count, cap;
	/* Every string of the filter, NUL-terminated. Sized up front: each
	 * string comes from a distinct span of the input and is never longer
	 * than it, so 2 * len bytes hold them all with their terminators, and
	 * pointers into the arena never move. */
	char *arena;
	size_t used, size;
};

typedef struct parse_ctx {
	const cn_search_dialect *d;
	const char *s;
	size_t len;
	cn_search_lex lx;
	cn_search_filter *f;
	cn_err *err;
} parse_ctx;

const char *cn_search_op_name(cn_search_op op)
{
	static const char *const names[CN_SEARCH_OP_COUNT] = {
	        [CN_SEARCH_EQ] = "=",
	        [CN_SEARCH_NE] = "!=",
	        [CN_SEARCH_LT] = "<",
	        [CN_SEARCH_LE] = "<=",
	        [CN_SEARCH_GT] = ">",
	        [CN_SEARCH_GE] = ">=",
	        [CN_SEARCH_LIKE] = "LIKE",
	        [CN_SEARCH_ILIKE] = "ILIKE",
	        [CN_SEARCH_RLIKE] = "RLIKE",
	        [CN_SEARCH_IN] = "IN",
	        [CN_SEARCH_NOT_IN] = "NOT IN",
	        [CN_SEARCH_IS_NULL] = "IS NULL",
	        [CN_SEARCH_IS_NOT_NULL] = "IS NOT NULL",
	};
	return (unsigned)op < CN_SEARCH_OP_COUNT ? names[op] : "?";
}

static cn_code parse_oom(parse_ctx *c)
{
	return cn_err_set(c->err, CN_INTERNAL_ERROR, "out of memory");
}

/* Room for n bytes plus a terminator; the sizing argument above makes
 * running out a bug, reported rather than overrun. */
static char *parse_reserve(parse_ctx *c, size_t n)
{
	cn_search_filter *f = c->f;
	if (n >= f->size - f->used) {
		cn_err_set(c->err, CN_INTERNAL_ERROR, "search filter arena exhausted");
		return NULL;
	}
	return f->arena + f->used;
}

static const char *parse_put(parse_ctx *c, const char *p, size_t n)
{
	char *dst = parse_reserve(c, n);
	if (!dst)
		return NULL;
	memcpy(dst, p, n);
	dst[n] = '\0';
	c->f->used += n + 1;
	return dst;
}

static cn_code parse_invalid(parse_ctx *c, size_t start, size_t end)
{
	while (end > start && isspace((unsigned char)c->s[end - 1]))
		end--;
	const char *q = c->d->quote_invalid_clauses ? "'" : "";
	return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
	                  "Invalid clause(s) in filter string: %s%.*s%s", q, (int)(end - start),
	                  c->s + start, q);
}

static bool parse_is_value_tok(cn_search_tt t)
{
	return t == CN_TT_STRING || t == CN_TT_NUMBER || t == CN_TT_IDENT || t == CN_TT_LIST;
}

/* ---- ( ... ) lists, read as Python literals (MLflow: ast.literal_eval) -- */

static int parse_hex(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t parse_utf8(char *out, unsigned long cp)
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

/* Decodes the Python string literal at s[*pi] (a quote) into out, which has
 * room for the raw length; escapes only ever shrink. False if ill-formed. */
static bool parse_pystr(const char *s, size_t *pi, size_t end, char *out, size_t *olen)
{
	size_t i = *pi;
	char q = s[i++];
	size_t o = *olen;
	while (i < end) {
		char ch = s[i];
		if (ch == q) {
			*pi = i + 1;
			*olen = o;
			return true;
		}
		if (ch == '\n' || ch == '\r')
			return false;
		if (ch != '\\' || i + 1 >= end) {
			out[o++] = ch;
			i++;
			continue;
		}
		char e = s[i + 1];
		i += 2;
		unsigned long cp;
		size_t nhex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
		if (nhex) {
			if (end - i < nhex)
				return false;
			cp = 0;
			for (size_t k = 0; k < nhex; k += 2) {
				int v = parse_hex(s + i + k, 2);
				if (v < 0)
					return false;
				cp = cp * 256 + (unsigned long)v;
			}
			i += nhex;
			if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				return false;
			o += parse_utf8(out + o, cp);
			continue;
		}
		if (e >= '0' && e <= '7') {
			cp = (unsigned long)(e - '0');
			for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
				cp = cp * 8 + (unsigned long)(s[i++] - '0');
			o += parse_utf8(out + o, cp);
			continue;
		}
		switch (e) {
		case '\\': out[o++] = '\\'; break;
		case '\'': out[o++] = '\''; break;
		case '"': out[o++] = '"'; break;
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'r': out[o++] = '\r'; break;
		case 'a': out[o++] = '\a'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'v': out[o++] = '\v'; break;
		case '\n': break; /* line continuation */
		case 'N': return false;
		default: /* Python keeps unknown escapes as written */
			out[o++] = '\\';
			out[o++] = e;
		}
	}
	return false;
}

/* A non-string literal Python would accept in a tuple: a number, True,
 * False or None. Advances *pi past it. */
static bool parse_pyother(const char *s, size_t *pi, size_t end)
{
	size_t i = *pi;
	if (i < end && (s[i] == '-' || s[i] == '+'))
		i++;
	size_t b = i;
	while (i < end && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' ||
	                   ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
		i++;
	size_t n = i - b;
	if (!n)
		return false;
	bool num = isdigit((unsigned char)s[b]) || (s[b] == '.' && n > 1);
	bool word = (n == 4 && (!memcmp(s + b, "True", 4) || !memcmp(s + b, "None", 4))) ||
	            (n == 5 && !memcmp(s + b, "False", 5));
	if (!num && !(word && b == *pi))
		return false;
	*pi = i;
	return true;
}

static cn_code parse_list(parse_ctx *c, const cn_search_tok *t, cn_search_value *v,
                          parse_owned *own)
{
	static const char ill[] = "While parsing a list in the query, expected a non-empty list of "
	                          "string values, but got ill-formed list.";
	const char *s = c->s;
	size_t i = t->start + 1, end = t->end - 1, n = 0, cap = 0, total = 0;
	bool need_item = true, other = false;
	cn_code rc = CN_OK;
	while (rc == CN_OK) {
		while (i < end && isspace((unsigned char)s[i]))
			i++;
		if (i >= end)
			break;
		if (!need_item || s[i] == ',') {
			rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE, "%s", ill);
			break;
		}
		if (s[i] == '\'' || s[i] == '"') {
			char *dst = parse_reserve(c, end - i);
			if (!dst) {
				rc = c->err->code;
				break;
			}
			size_t olen = 0;
			bool ok = true;
			/* Adjacent literals concatenate, as in Python. */
			while (ok && i < end && (s[i] == '\'' || s[i] == '"')) {
				ok = parse_pystr(s, &i, end, dst, &olen);
				while (i < end && isspace((unsigned char)s[i]))
					i++;
			}
			if (!ok) {
				rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE, "%s", ill);
				break;
			}
			dst[olen] = '\0';
			c->f->used += olen + 1;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				const char **ni = realloc(own->items, ncap * sizeof *ni);
				if (ni)
					own->items = ni;
				size_t *nl = ni ? realloc(own->lens, ncap * sizeof *nl) : NULL;
				if (!nl) {
					rc = parse_oom(c);
					break;
				}
				own->lens = nl;
				cap = ncap;
			}
			own->items[n] = dst;
			own->lens[n++] = olen;
		} else if (parse_pyother(s, &i, end)) {
			other = true;
		} else {
			rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE, "%s", ill);
			break;
		}
		if (++total > CN_SEARCH_MAX_LIST) {
			rc = cn_err_set(
			        c->err, CN_INVALID_PARAMETER_VALUE,
			        "Too many values in a list in the filter string: at most %d "
			        "are allowed.",
			        CN_SEARCH_MAX_LIST);
			break;
		}
		while (i < end && isspace((unsigned char)s[i]))
			i++;
		need_item = i < end && s[i] == ',';
		if (need_item)
			i++;
	}
	if (rc == CN_OK && total == 0)
		rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                "While parsing a list in the query, expected a non-empty list of "
		                "string values, but got empty list");
	else if (rc == CN_OK && other)
		rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                "While parsing a list in the query, expected string value, "
		                "punctuation, or whitespace, but got different type in list: %.*s",
		                (int)(t->end - t->start), s + t->start);
	if (rc != CN_OK)
		return rc;
	*v = (cn_search_value){
	        .type = CN_SEARCH_V_LIST, .items = own->items, .item_lens = own->lens, .count = n};
	return CN_OK;
}

/* ---- one clause --------------------------------------------------------- */

static cn_code parse_number(parse_ctx *c, const cn_search_tok *t, cn_search_value *v)
{
	const char *txt = parse_put(c, c->s + t->start, t->end - t->start);
	if (!txt)
		return c->err->code;
	*v = (cn_search_value){.type = CN_SEARCH_V_NUMBER, .str = txt, .len = t->end - t->start};
	v->num = strtod(txt, NULL);
	if (t->is_int) {
		errno = 0;
		long long ll = strtoll(txt, NULL, 10);
		if (errno == 0) {
			v->is_int = true;
			v->i = ll;
		}
	}
	return CN_OK;
}

/* The right-hand side, checked against the kind of the field (MLflow's
 * SearchUtils._get_value and its messages). */
static cn_code parse_value(parse_ctx *c, const cn_search_ident *id, const cn_search_tok *t,
                           cn_search_value *v, parse_owned *own)
{
	const cn_search_entity_rule *rule = id->rule;
	const cn_search_key *attr = id->attr;
	cn_search_span raw = {c->s + t->start, t->end - t->start};
	int rl = (int)raw.len;
	if (t->type == CN_TT_LIST && id->kind == CN_SEARCH_STRING) {
		if (attr ? (attr->flags & CN_SEARCH_KEY_LIST) : rule->lists)
			return parse_list(c, t, v, own);
		if (attr && rule->list_error)
			return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE, "%s",
			                  rule->list_error);
	}
	if (id->kind == CN_SEARCH_NUMERIC) {
		if (t->type == CN_TT_NUMBER)
			return parse_number(c, t, v);
		if (attr)
			return cn_err_set(
			        c->err, CN_INVALID_PARAMETER_VALUE,
			        "Expected numeric value type for numeric %s: %s. Found %.*s",
			        rule->name, attr->name, rl, raw.p);
		return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                  "Expected numeric value type for %s. Found %.*s", rule->name, rl,
		                  raw.p);
	}
	if (t->type == CN_TT_NUMBER && rule->numbers && !attr)
		return parse_number(c, t, v);
	if (t->type == CN_TT_STRING || t->type == CN_TT_IDENT) {
		bool quoted;
		cn_search_span in = cn_search_strip_quotes(raw, &quoted);
		if (!quoted)
			return cn_err_set(
			        c->err, CN_INVALID_PARAMETER_VALUE,
			        "Parameter value is either not quoted or unidentified quote "
			        "types used for string value %.*s. Use either single or "
			        "double quotes.",
			        rl, raw.p);
		const char *p = parse_put(c, in.p, in.len);
		if (!p)
			return c->err->code;
		*v = cn_search_value_strn(p, in.len);
		return CN_OK;
	}
	if (rule->keys)
		return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                  "Expected a quoted string value for %s. Got value %.*s",
		                  rule->value_label ? rule->value_label : rule->name, rl, raw.p);
	return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
	                  "Expected a quoted string value for %s (e.g. 'my-value'). Got value %.*s",
	                  rule->name, rl, raw.p);
}

static cn_code parse_check_op(parse_ctx *c, const cn_search_ident *id, int op, const char *text)
{
	const cn_search_entity_rule *rule = id->rule;
	unsigned allowed = id->attr && id->attr->ops       ? id->attr->ops
	                   : id->kind == CN_SEARCH_NUMERIC ? rule->numeric_ops
	                                                   : rule->string_ops;
	if (op >= 0 && (allowed & CN_SEARCH_OPBIT(op)))
		return CN_OK;
	const char *label =
	        id->kind == CN_SEARCH_NUMERIC ? rule->op_label_numeric : rule->op_label_string;
	if (label)
		return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid comparator for %s: %s", label, text);
	const char *names[CN_SEARCH_OP_COUNT];
	size_t n = 0;
	for (int k = 0; k < CN_SEARCH_OP_COUNT; k++)
		if (allowed & CN_SEARCH_OPBIT(k))
			names[n++] = cn_search_op_name((cn_search_op)k);
	cn_buf set = CN_BUF_INIT;
	cn_search_put_set(&set, names, n);
	cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE, "Invalid comparator '%s' not one of '%s'",
	           text, set.p ? set.p : "{}");
	cn_buf_free(&set);
	return CN_INVALID_PARAMETER_VALUE;
}

static cn_code parse_append(parse_ctx *c, const cn_search_clause *cl, const parse_owned *own)
{
	cn_search_filter *f = c->f;
	if (f->count == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 4;
		cn_search_clause *nc = realloc(f->clauses, ncap * sizeof *nc);
		if (nc)
			f->clauses = nc;
		parse_owned *no = nc ? realloc(f->owned, ncap * sizeof *no) : NULL;
		if (!no)
			return parse_oom(c);
		f->owned = no;
		f->cap = ncap;
	}
	f->clauses[f->count] = *cl;
	f->owned[f->count++] = *own;
	return CN_OK;
}

static void parse_owned_free(parse_owned *own)
{
	free(own->items);
	free(own->lens);
	if (own->re) {
		regfree(&own->re->re);
		free(own->re);
	}
	memset(own, 0, sizeof *own);
}

static cn_code parse_regex(parse_ctx *c, const cn_search_value *v, parse_owned *own)
{
	own->re = malloc(sizeof *own->re);
	if (!own->re)
		return parse_oom(c);
	int rc = regcomp(&own->re->re, v->str, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &own->re->re, msg, sizeof msg);
		free(own->re);
		own->re = NULL;
		return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid regular expression '%s' for RLIKE: %s", v->str, msg);
	}
	return CN_OK;
}

/* Resolves, checks and appends one clause whose tokens are known good in
 * shape. op < 0 is an unknown comparator spelled op_text. */
static cn_code parse_finish(parse_ctx *c, const cn_search_tok *ident, int op, const char *op_text,
                            const cn_search_tok *value)
{
	cn_search_ident id;
	cn_code rc = cn_search_resolve_ident(c->d, c->s, ident, CN_SEARCH_KEY_FILTER, &id, c->err);
	if (rc != CN_OK)
		return rc;
	cn_search_clause cl = {.entity = id.entity, .attr = id.attr, .kind = id.kind};
	parse_owned own = {0};
	if (op == CN_SEARCH_IS_NULL || op == CN_SEARCH_IS_NOT_NULL) {
		if (!id.rule->null_checks)
			return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			                  "%s, not for %s '%.*s'", c->d->null_check_error,
			                  id.rule->name, (int)id.name.len, id.name.p);
	} else {
		rc = parse_value(c, &id, value, &cl.value, &own);
		if (rc == CN_OK)
			rc = parse_check_op(c, &id, op, op_text);
		bool is_list_op = op == CN_SEARCH_IN || op == CN_SEARCH_NOT_IN;
		if (rc == CN_OK && (cl.value.type == CN_SEARCH_V_LIST) != is_list_op)
			rc = cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			                "Invalid comparator '%s' for a list of values: use IN or "
			                "NOT IN",
			                op_text);
		if (rc == CN_OK && op == CN_SEARCH_RLIKE)
			rc = parse_regex(c, &cl.value, &own);
		if (rc != CN_OK) {
			parse_owned_free(&own);
			return rc;
		}
	}
	cl.op = (cn_search_op)op;
	cl.re = own.re;
	if (cl.value.type == CN_SEARCH_V_NUMBER)
		cl.kind = CN_SEARCH_NUMERIC; /* a number given where rule->numbers allows it */
	cl.key = id.attr ? id.key.p : parse_put(c, id.key.p, id.key.len);
	if (!cl.key)
		rc = c->err->code;
	else if (c->d->check_clause)
		rc = c->d->check_clause(&cl, c->err);
	if (rc == CN_OK)
		rc = parse_append(c, &cl, &own);
	if (rc != CN_OK)
		parse_owned_free(&own);
	return rc;
}

static cn_code parse_clause(parse_ctx *c, const cn_search_tok *t0)
{
	cn_search_lex *lx = &c->lx;
	size_t start = t0->start;
	cn_search_tok t1 = cn_search_lex_next(lx);
	bool t1_op = t1.type == CN_TT_CMP || t1.type == CN_TT_LIKE || t1.type == CN_TT_IN;
	if (t0->type == CN_TT_STRING || t0->type == CN_TT_NUMBER) {
		cn_search_tok t2 = cn_search_lex_next(lx);
		if (t1_op && parse_is_value_tok(t2.type))
			return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid comparison clause. Expected 'Identifier' found "
			                  "'%.*s'",
			                  (int)(t0->end - t0->start), c->s + t0->start);
		return parse_invalid(c, start, t2.type == CN_TT_END ? c->len : t2.end);
	}
	if (t0->type != CN_TT_IDENT)
		return parse_invalid(c, start, t0->type == CN_TT_END ? c->len : t0->end);

	int op = t1.op;
	char text[32];
	snprintf(text, sizeof text, "%.*s", (int)(t1.end - t1.start), c->s + t1.start);
	cn_search_tok t = t1;
	switch (t1.type) {
	case CN_TT_CMP:
	case CN_TT_LIKE:
	case CN_TT_IN: break;
	case CN_TT_NOT:
		t = cn_search_lex_next(lx);
		if (t.type == CN_TT_IN) {
			op = CN_SEARCH_NOT_IN;
		} else if (t.type == CN_TT_LIKE) {
			/* sqlparse reads NOT LIKE as one comparator; MLflow refuses it. */
			snprintf(text, sizeof text, "NOT %s",
			         cn_search_op_name((cn_search_op)t.op));
			op = -1;
		} else {
			return parse_invalid(c, start, t.type == CN_TT_END ? c->len : t.end);
		}
		break;
	case CN_TT_IS:
		t = cn_search_lex_next(lx);
		op = CN_SEARCH_IS_NULL;
		if (t.type == CN_TT_NOT) {
			t = cn_search_lex_next(lx);
			op = CN_SEARCH_IS_NOT_NULL;
		}
		if (t.type != CN_TT_NULL)
			return parse_invalid(c, start, t.type == CN_TT_END ? c->len : t.end);
		return parse_finish(c, t0, op, cn_search_op_name((cn_search_op)op), NULL);
	default: return parse_invalid(c, start, t1.type == CN_TT_END ? c->len : t1.end);
	}
	if (op >= 0)
		snprintf(text, sizeof text, "%s", cn_search_op_name((cn_search_op)op));
	cn_search_tok v = cn_search_lex_next(lx);
	bool list_op = op == CN_SEARCH_IN || op == CN_SEARCH_NOT_IN;
	if (!parse_is_value_tok(v.type) || (list_op && v.type != CN_TT_LIST))
		return parse_invalid(c, start, v.type == CN_TT_END ? c->len : v.end);
	return parse_finish(c, t0, op, text, &v);
}

/* ---- the filter --------------------------------------------------------- */

/* MLflow parses the text as SQL statements and wants exactly one. */
static cn_code parse_statements(parse_ctx *c)
{
	cn_search_lex lx = {c->s, c->len, 0};
	bool semi = false;
	for (;;) {
		cn_search_tok t = cn_search_lex_next(&lx);
		if (t.type == CN_TT_END)
			return CN_OK;
		if (semi && t.type != CN_TT_SEMI)
			return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			                  "Search filter contained multiple expression '%.*s'. "
			                  "Provide AND-ed expression list.",
			                  (int)c->len, c->s);
		semi = semi || t.type == CN_TT_SEMI;
	}
}

static cn_code parse_all(parse_ctx *c)
{
	cn_code rc = parse_statements(c);
	bool need_clause = true, any = false;
	size_t and_start = 0;
	while (rc == CN_OK) {
		cn_search_tok t = cn_search_lex_next(&c->lx);
		if (t.type == CN_TT_END) {
			if (any && need_clause)
				rc = parse_invalid(c, and_start, c->len);
			break;
		}
		if (!need_clause) {
			if (t.type != CN_TT_AND)
				return parse_invalid(c, t.start, t.end);
			need_clause = true;
			and_start = t.start;
			continue;
		}
		if (c->f->count >= CN_SEARCH_MAX_CLAUSES)
			return cn_err_set(c->err, CN_INVALID_PARAMETER_VALUE,
			                  "Too many clauses in the filter string: at most %d are "
			                  "allowed.",
			                  CN_SEARCH_MAX_CLAUSES);
		rc = parse_clause(c, &t);
		need_clause = false;
		any = true;
	}
	return rc;
}

cn_code cn_search_filter_parse(const cn_search_dialect *d, const char *text, size_t len,
                               cn_search_filter **out, cn_err *err)
{
	*out = NULL;
	if (!text)
		len = 0;
	if (len > CN_SEARCH_FILTER_MAX_LEN)
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "Invalid filter: the filter string is %zu bytes long, longer than "
		        "the limit of %d bytes.",
		        len, CN_SEARCH_FILTER_MAX_LEN);
	if (len && memchr(text, '\0', len))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid filter '%.*s'. Could not be parsed.", (int)len, text);
	cn_err local;
	cn_err_clear(&local);
	if (!err)
		err = &local;
	else
		cn_err_clear(err);
	cn_search_filter *f = calloc(1, sizeof *f);
	if (!f)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	f->size = 2 * len + 16;
	f->arena = malloc(f->size);
	if (!f->arena) {
		free(f);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	parse_ctx c = {.d = d, .s = text, .len = len, .lx = {text, len, 0}, .f = f, .err = err};
	cn_code rc = parse_all(&c);
	if (rc != CN_OK) {
		cn_search_filter_free(f);
		return rc;
	}
	*out = f;
	return CN_OK;
}

void cn_search_filter_free(cn_search_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->count; i++)
		parse_owned_free(&f->owned[i]);
	free(f->clauses);
	free(f->owned);
	free(f->arena);
	free(f);
}

size_t cn_search_filter_count(const cn_search_filter *f)
{
	return f ? f->count : 0;
}

const cn_search_clause *cn_search_filter_clause(const cn_search_filter *f, size_t i)
{
	return f && i < f->count ? &f->clauses[i] : NULL;
}

/* ---- order_by ----------------------------------------------------------- */

/* MLflow accepts one identifier and an optional ASC or DESC; anything else
 * "could not be parsed", except a second word, which is a bad ordering key. */
cn_code cn_search_order_parse(const cn_search_dialect *d, const char *clause, cn_search_order *out,
                              cn_err *err)
{
	size_t len = clause ? strnlen(clause, CN_SEARCH_ORDER_MAX_LEN + 1) : 0;
	memset(out, 0, sizeof *out);
	out->ascending = true;
	cn_search_lex lx = {clause, len, 0};
	cn_search_tok t0 = cn_search_lex_next(&lx);
	cn_search_tok t1 = cn_search_lex_next(&lx);
	cn_search_tok t2 = cn_search_lex_next(&lx);
	if (len > CN_SEARCH_ORDER_MAX_LEN || t0.type != CN_TT_IDENT ||
	    (t1.type != CN_TT_END && t1.type != CN_TT_ASC && t1.type != CN_TT_DESC &&
	     t1.type != CN_TT_IDENT) ||
	    t2.type != CN_TT_END)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid order_by clause '%.*s'. Could not be parsed.", (int)len,
		                  clause ? clause : "");
	if (t1.type == CN_TT_IDENT)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid ordering key in order_by clause '%s'.", clause);
	out->ascending = t1.type != CN_TT_DESC;
	cn_search_ident id;
	cn_code rc = cn_search_resolve_ident(d, clause, &t0, CN_SEARCH_KEY_ORDER, &id, err);
	if (rc != CN_OK)
		return rc;
	if (id.key.len >= sizeof out->key)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "Invalid order_by clause: the key is longer than %zu bytes.",
		                  sizeof out->key - 1);
	out->entity = id.entity;
	out->attr = id.attr;
	out->kind = id.kind;
	memcpy(out->key, id.key.p, id.key.len);
	out->key[id.key.len] = '\0';
	return CN_OK;
}

bool cn_search_order_same_field(const cn_search_order *a, const cn_search_order *b)
{
	return a->entity == b->entity && strcmp(a->key, b->key) == 0;
}
