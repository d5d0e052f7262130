/*
 * core/search/lex.c: the tokenizer of the search language and identifier
 * resolution, shared by filters and order_by clauses.
 *
 * Token shapes follow sqlparse, which MLflow parses with, so the same input
 * splits the same way: 'single' strings, "double" and `backtick` quoted names,
 * names joined by dots into one identifier, comparators as runs of <>=~!.
 */
#include "core/search/search_int.h"

#include <string.h>

static bool lex_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool lex_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Name characters: ASCII letters, digits, underscore, and any non-ASCII byte
 * (so UTF-8 names pass whole, as sqlparse's Unicode \w lets them). */
static bool lex_is_name(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || lex_is_digit(c) || c == '_' ||
	       c >= 0x80;
}

/* End (one past the closing quote) of the quoted text starting at pos, or 0
 * if it is unterminated. A doubled quote stays inside; for ' and " so does a
 * backslash-escaped one, unless that leaves the text unterminated, in which
 * case backslashes are plain (sqlparse's regex backtracks the same way). */
static size_t lex_quoted_end(const char *s, size_t len, size_t pos)
{
	char q = s[pos];
	for (int pass = q == '`' ? 1 : 0; pass < 2; pass++) {
		size_t i = pos + 1;
		while (i < len) {
			if (s[i] == q) {
				if (i + 1 < len && s[i + 1] == q) {
					i += 2;
					continue;
				}
				return i + 1;
			}
			if (pass == 0 && s[i] == '\\' && i + 1 < len)
				i++;
			i++;
		}
	}
	return 0;
}

/* One part of an identifier at lx->pos; false if there is none there. */
static bool lex_part(cn_search_lex *lx, bool first, bool *bad)
{
	const char *s = lx->s;
	unsigned char c = (unsigned char)s[lx->pos];
	if (c == '"' || c == '`' || (!first && c == '\'')) {
		size_t e = lex_quoted_end(s, lx->len, lx->pos);
		if (!e) {
			*bad = true;
			lx->pos = lx->len;
			return false;
		}
		lx->pos = e;
		return true;
	}
	if (!lex_is_name(c) || (first && lex_is_digit(c)))
		return false;
	while (lx->pos < lx->len && lex_is_name((unsigned char)s[lx->pos]))
		lx->pos++;
	return true;
}

static const struct {
	const char *word;
	cn_search_tt type;
	int op;
} lex_keywords[] = {
        {"AND", CN_TT_AND, -1},
        {"OR", CN_TT_OR, -1},
        {"NOT", CN_TT_NOT, -1},
        {"IN", CN_TT_IN, CN_SEARCH_IN},
        {"LIKE", CN_TT_LIKE, CN_SEARCH_LIKE},
        {"ILIKE", CN_TT_LIKE, CN_SEARCH_ILIKE},
        {"RLIKE", CN_TT_LIKE, CN_SEARCH_RLIKE},
        {"IS", CN_TT_IS, -1},
        {"NULL", CN_TT_NULL, -1},
        {"TRUE", CN_TT_BOOL, -1},
        {"FALSE", CN_TT_BOOL, -1},
        {"ASC", CN_TT_ASC, -1},
        {"DESC", CN_TT_DESC, -1},
};

static void lex_keyword(const char *s, cn_search_tok *t)
{
	size_t n = t->end - t->start;
	for (size_t k = 0; k < sizeof lex_keywords / sizeof lex_keywords[0]; k++) {
		const char *w = lex_keywords[k].word;
		if (strlen(w) != n)
			continue;
		size_t i = 0;
		while (i < n && (s[t->start + i] & ~0x20) == w[i])
			i++;
		if (i == n) {
			t->type = lex_keywords[k].type;
			t->op = lex_keywords[k].op;
			return;
		}
	}
}

static void lex_ident(cn_search_lex *lx, cn_search_tok *t)
{
	bool bad = false;
	const char *s = lx->s;
	bool bare = s[lx->pos] != '"' && s[lx->pos] != '`';
	lex_part(lx, true, &bad);
	t->type = CN_TT_IDENT;
	t->nparts = 1;
	t->first_end = lx->pos;
	while (!bad && lx->pos < lx->len && s[lx->pos] == '.') {
		lx->pos++;
		if (t->nparts == 1)
			t->rest_start = lx->pos;
		if (lx->pos >= lx->len || !lex_part(lx, false, &bad)) {
			bad = true;
			break;
		}
		t->nparts++;
	}
	t->end = lx->pos;
	if (bad)
		t->type = CN_TT_BAD;
	else if (t->nparts == 1 && bare)
		lex_keyword(s, t);
}

static void lex_number(cn_search_lex *lx, cn_search_tok *t)
{
	const char *s = lx->s;
	size_t i = lx->pos, n = lx->len;
	bool frac = false, exp = false;
	if (s[i] == '-')
		i++;
	while (i < n && lex_is_digit((unsigned char)s[i]))
		i++;
	if (i < n && s[i] == '.') {
		frac = true;
		i++;
		while (i < n && lex_is_digit((unsigned char)s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '-' || s[j] == '+'))
			j++;
		if (j < n && lex_is_digit((unsigned char)s[j])) {
			exp = true;
			i = j;
			while (i < n && lex_is_digit((unsigned char)s[i]))
				i++;
		}
	}
	t->type = CN_TT_NUMBER;
	t->is_int = !frac && !exp;
	/* "1abc" or "1.2.3" is no number and no name either. */
	if (i < n && (lex_is_name((unsigned char)s[i]) || s[i] == '.')) {
		t->type = CN_TT_BAD;
		while (i < n && (lex_is_name((unsigned char)s[i]) || s[i] == '.'))
			i++;
	}
	lx->pos = t->end = i;
}

static int lex_cmp_op(const char *p, size_t n)
{
	static const struct {
		const char *text;
		cn_search_op op;
	} ops[] = {{"=", CN_SEARCH_EQ},  {"!=", CN_SEARCH_NE}, {"<", CN_SEARCH_LT},
	           {"<=", CN_SEARCH_LE}, {">", CN_SEARCH_GT},  {">=", CN_SEARCH_GE}};
	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
		if (strlen(ops[k].text) == n && memcmp(ops[k].text, p, n) == 0)
			return (int)ops[k].op;
	return -1;
}

/* ( ... ) up to the matching parenthesis, skipping quoted text. */
static void lex_list(cn_search_lex *lx, cn_search_tok *t)
{
	const char *s = lx->s;
	size_t i = lx->pos + 1, depth = 1;
	t->type = CN_TT_BAD;
	while (i < lx->len) {
		char c = s[i];
		if (c == '\'' || c == '"' || c == '`') {
			size_t e = lex_quoted_end(s, lx->len, i);
			if (!e) {
				i = lx->len;
				break;
			}
			i = e;
			continue;
		}
		i++;
		if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			t->type = CN_TT_LIST;
			break;
		}
	}
	lx->pos = t->end = i;
}

cn_search_tok cn_search_lex_next(cn_search_lex *lx)
{
	const char *s = lx->s;
	while (lx->pos < lx->len && lex_is_space((unsigned char)s[lx->pos]))
		lx->pos++;
	cn_search_tok t = {.type = CN_TT_END, .start = lx->pos, .end = lx->pos, .op = -1};
	if (lx->pos >= lx->len)
		return t;
	unsigned char c = (unsigned char)s[lx->pos];
	unsigned char c1 = lx->pos + 1 < lx->len ? (unsigned char)s[lx->pos + 1] : 0;
	unsigned char c2 = lx->pos + 2 < lx->len ? (unsigned char)s[lx->pos + 2] : 0;
	if (c == '\'') {
		size_t e = lex_quoted_end(s, lx->len, lx->pos);
		t.type = e ? CN_TT_STRING : CN_TT_BAD;
		lx->pos = t.end = e ? e : lx->len;
	} else if (lex_is_digit(c) || (c == '.' && lex_is_digit(c1)) ||
	           (c == '-' && (lex_is_digit(c1) || (c1 == '.' && lex_is_digit(c2))))) {
		lex_number(lx, &t);
	} else if (c == '"' || c == '`' || lex_is_name(c)) {
		lex_ident(lx, &t);
	} else if (strchr("<>=~!", c)) {
		while (lx->pos < lx->len && s[lx->pos] && strchr("<>=~!", s[lx->pos]))
			lx->pos++;
		t.type = CN_TT_CMP;
		t.end = lx->pos;
		t.op = lex_cmp_op(s + t.start, t.end - t.start);
	} else if (c == '(') {
		lex_list(lx, &t);
	} else if (c == ';') {
		t.type = CN_TT_SEMI;
		t.end = ++lx->pos;
	} else {
		t.type = CN_TT_BAD;
		lx->pos++;
		while (lx->pos < lx->len && ((unsigned char)s[lx->pos] & 0xC0) == 0x80)
			lx->pos++;
		t.end = lx->pos;
	}
	return t;
}

cn_search_span cn_search_strip_quotes(cn_search_span s, bool *quoted)
{
	bool q = s.len >= 2 && (s.p[0] == '\'' || s.p[0] == '"') && s.p[s.len - 1] == s.p[0];
	if (quoted)
		*quoted = q;
	if (q) {
		s.p++;
		s.len -= 2;
	}
	return s;
}

cn_search_span cn_search_trim_backticks(cn_search_span s)
{
	if (s.len >= 2 && s.p[0] == '`' && s.p[s.len - 1] == '`') {
		s.p++;
		s.len -= 2;
	}
	return s;
}

void cn_search_put_set(cn_buf *b, const char *const *items, size_t n)
{
	cn_buf_putc(b, '{');
	for (size_t i = 0; i < n; i++)
		cn_buf_printf(b, "%s'%s'", i ? ", " : "", items[i]);
	cn_buf_putc(b, '}');
}

static bool lex_span_eq(cn_search_span a, const char *z)
{
	return strlen(z) == a.len && memcmp(a.p, z, a.len) == 0;
}

/* "Invalid <entity> key 'k' specified. Valid keys are '{...}'" */
static cn_code lex_bad_key(const cn_search_entity_rule *rule, cn_search_span key, unsigned key_flag,
                           cn_err *err)
{
	const char *names[64];
	size_t n = 0;
	for (const cn_search_key *k = rule->keys; k->name && n < 64; k++)
		if (k->flags & key_flag)
			names[n++] = k->name;
	cn_buf set = CN_BUF_INIT;
	cn_search_put_set(&set, names, n);
	cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
	           "Invalid %s key '%.*s' specified. Valid keys are '%s'", rule->name, (int)key.len,
	           key.p, set.p ? set.p : "{}");
	cn_buf_free(&set);
	return CN_INVALID_PARAMETER_VALUE;
}

cn_code cn_search_resolve_ident(const cn_search_dialect *d, const char *s, const cn_search_tok *t,
                                unsigned key_flag, cn_search_ident *out, cn_err *err)
{
	cn_search_span raw = {s + t->start, t->end - t->start};
	cn_search_span key_raw = raw;
	memset(out, 0, sizeof *out);
	if (t->nparts == 1) {
		if (d->bare >= CN_SEARCH_ENTITY_COUNT || !d->entities[d->bare].name)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid identifier '%.*s'. Columns should be specified "
			                  "as '<entity type>.<key>'.",
			                  (int)raw.len, raw.p);
		out->entity = d->bare;
	} else {
		cn_search_span prefix = {s + t->start, t->first_end - t->start};
		if (d->trim_prefix_backticks)
			prefix = cn_search_trim_backticks(prefix);
		int found = -1;
		for (int e = 0; e < CN_SEARCH_ENTITY_COUNT && found < 0; e++) {
			const cn_search_entity_rule *r = &d->entities[e];
			for (const char *const *w = r->prefixes; r->name && w && *w; w++)
				if (lex_span_eq(prefix, *w)) {
					found = e;
					break;
				}
		}
		if (found < 0)
			return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
			                  "Invalid entity type '%.*s'. %s", (int)prefix.len,
			                  prefix.p, d->entity_error);
		out->entity = (cn_search_entity)found;
		key_raw.p = s + t->rest_start;
		key_raw.len = t->end - t->rest_start;
	}
	const cn_search_entity_rule *rule = &d->entities[out->entity];
	if (key_flag == CN_SEARCH_KEY_ORDER && !rule->orderable)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "Invalid order_by entity: %s",
		                  rule->name);
	cn_search_span key = cn_search_trim_backticks(cn_search_strip_quotes(key_raw, NULL));
	out->rule = rule;
	out->kind = rule->kind;
	out->key = out->name = key;
	if (!rule->keys)
		return CN_OK;
	for (const cn_search_key *k = rule->keys; k->name; k++) {
		if (!(k->flags & key_flag) || !lex_span_eq(key, k->name))
			continue;
		out->attr = k;
		out->kind = k->kind;
		const char *canon = k->canonical ? k->canonical : k->name;
		out->key.p = canon;
		out->key.len = strlen(canon);
		return CN_OK;
	}
	return lex_bad_key(rule, key, key_flag, err);
}
