/*
 * core/search/match.c: applying parsed clauses to entities, and LIKE.
 *
 * Semantics follow MLflow's SQL store, the reference servers run: string
 * comparisons are case-sensitive and bytewise (MLflow forces this even on
 * MySQL), LIKE is case-sensitive, and a missing field fails every comparison
 * (the store inner-joins tags, params and metrics).
 */
#include "core/search/search_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cn_search_value cn_search_value_str(const char *s)
{
	return cn_search_value_strn(s, s ? strlen(s) : 0);
}

/* Bytes in the UTF-8 character at s[i] (1 for a stray byte), within n. */
static size_t match_utf8_step(const char *s, size_t i, size_t n)
{
	unsigned char c = (unsigned char)s[i];
	size_t want = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	size_t k = 1;
	while (k < want && i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80)
		k++;
	return k;
}

static unsigned char match_fold(unsigned char c, bool ci)
{
	return ci && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

bool cn_search_like_matchn(const char *p, size_t pn, const char *v, size_t vn, bool ci)
{
	/* Greedy with one backtrack point: on a mismatch, retry from the last
	 * % with the value advanced by one character. Linear memory, no
	 * recursion, O(pn * vn) time at worst. */
	size_t pi = 0, vi = 0, star_p = (size_t)-1, star_v = 0;
	if (!p)
		pn = 0;
	if (!v)
		vn = 0;
	while (vi < vn) {
		if (pi < pn && p[pi] == '%') {
			star_p = ++pi;
			star_v = vi;
			continue;
		}
		if (pi < pn && p[pi] == '_') {
			pi++;
			vi += match_utf8_step(v, vi, vn);
			continue;
		}
		if (pi < pn) {
			size_t lit = p[pi] == '\\' && pi + 1 < pn ? pi + 1 : pi;
			if (match_fold((unsigned char)p[lit], ci) ==
			    match_fold((unsigned char)v[vi], ci)) {
				pi = lit + 1;
				vi++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return false;
		star_v += match_utf8_step(v, star_v, vn);
		pi = star_p;
		vi = star_v;
	}
	while (pi < pn && p[pi] == '%')
		pi++;
	return pi == pn;
}

bool cn_search_like_match(const char *pattern, const char *value, bool case_insensitive)
{
	return cn_search_like_matchn(pattern, pattern ? strlen(pattern) : 0, value,
	                             value ? strlen(value) : 0, case_insensitive);
}

/* A string field read as a number, when all of it is one. */
static bool match_as_number(const cn_search_value *a, cn_search_value *out)
{
	char buf[64];
	if (a->type == CN_SEARCH_V_NUMBER) {
		*out = *a;
		return true;
	}
	if (a->type != CN_SEARCH_V_STRING || a->len == 0 || a->len >= sizeof buf)
		return false;
	memcpy(buf, a->str, a->len);
	buf[a->len] = '\0';
	char *end;
	double d = strtod(buf, &end);
	if (*end != '\0' || end == buf)
		return false;
	*out = cn_search_value_double(d);
	long long ll = strtoll(buf, &end, 10);
	if (*end == '\0' && (double)ll == d) {
		out->is_int = true;
		out->i = ll;
	}
	return true;
}

/* -1, 0, 1; 2 when unordered (NaN). */
static int match_num_cmp(const cn_search_value *a, const cn_search_value *b)
{
	if (a->is_int && b->is_int)
		return a->i < b->i ? -1 : a->i > b->i;
	if (isnan(a->num) || isnan(b->num))
		return 2;
	return a->num < b->num ? -1 : a->num > b->num;
}

static int match_str_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a ? a : "", b ? b : "", an < bn ? an : bn);
	if (c)
		return c < 0 ? -1 : 1;
	return an < bn ? -1 : an > bn;
}

static bool match_ordered(cn_search_op op, int cmp)
{
	switch (op) {
	case CN_SEARCH_EQ: return cmp == 0;
	case CN_SEARCH_NE: return cmp != 0;
	case CN_SEARCH_LT: return cmp == -1;
	case CN_SEARCH_LE: return cmp == -1 || cmp == 0;
	case CN_SEARCH_GT: return cmp == 1;
	case CN_SEARCH_GE: return cmp == 1 || cmp == 0;
	default: return false;
	}
}

static bool match_regex(const cn_search_clause *c, const cn_search_value *a)
{
	if (!c->re)
		return false;
	regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)a->len}};
	/* REG_STARTEND: the value need not be NUL-terminated. */
	return regexec(&c->re->re, a->str ? a->str : "", 1, m, REG_STARTEND) == 0;
}

bool cn_search_clause_match(const cn_search_clause *c, const cn_search_value *a)
{
	if (!a || a->type == CN_SEARCH_V_NONE || a->type == CN_SEARCH_V_LIST)
		return c->op == CN_SEARCH_IS_NULL;
	if (c->op == CN_SEARCH_IS_NULL || c->op == CN_SEARCH_IS_NOT_NULL)
		return c->op == CN_SEARCH_IS_NOT_NULL;
	const cn_search_value *want = &c->value;
	if (want->type == CN_SEARCH_V_NUMBER) {
		cn_search_value n;
		if (!match_as_number(a, &n))
			return false;
		return match_ordered(c->op, match_num_cmp(&n, want));
	}
	if (a->type != CN_SEARCH_V_STRING)
		return false;
	if (want->type == CN_SEARCH_V_LIST) {
		bool found = false;
		for (size_t i = 0; i < want->count && !found; i++)
			found = match_str_cmp(a->str, a->len, want->items[i], want->item_lens[i]) ==
			        0;
		return c->op == CN_SEARCH_IN ? found : c->op == CN_SEARCH_NOT_IN && !found;
	}
	if (want->type != CN_SEARCH_V_STRING)
		return false;
	switch (c->op) {
	case CN_SEARCH_LIKE:
	case CN_SEARCH_ILIKE:
		return cn_search_like_matchn(want->str, want->len, a->str, a->len,
		                             c->op == CN_SEARCH_ILIKE);
	case CN_SEARCH_RLIKE: return match_regex(c, a);
	default: return match_ordered(c->op, match_str_cmp(a->str, a->len, want->str, want->len));
	}
}

bool cn_search_filter_match(const cn_search_filter *f, cn_search_getter get, void *entity)
{
	size_t n = cn_search_filter_count(f);
	for (size_t k = 0; k < n; k++) {
		const cn_search_clause *c = cn_search_filter_clause(f, k);
		cn_search_value v;
		bool matched = false;
		if (c->op == CN_SEARCH_IS_NULL) {
			matched = !get(entity, c, 0, &v);
		} else {
			/* Multi-valued fields match when any value does. */
			for (size_t i = 0; !matched && get(entity, c, i, &v); i++)
				matched = cn_search_clause_match(c, &v);
		}
		if (!matched)
			return false;
	}
	return true;
}

/* Sort rank: values, then NaN, then missing, whatever the direction. */
static int match_rank(const cn_search_value *v)
{
	if (!v || (v->type != CN_SEARCH_V_NUMBER && v->type != CN_SEARCH_V_STRING))
		return 2;
	return v->type == CN_SEARCH_V_NUMBER && !v->is_int && isnan(v->num);
}

int cn_search_order_compare(const cn_search_order *o, const cn_search_value *a,
                            const cn_search_value *b)
{
	int ra = match_rank(a), rb = match_rank(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra)
		return 0;
	int c;
	if (a->type != b->type)
		c = a->type == CN_SEARCH_V_NUMBER ? -1 : 1; /* numbers before strings */
	else if (a->type == CN_SEARCH_V_NUMBER)
		c = match_num_cmp(a, b);
	else
		c = match_str_cmp(a->str, a->len, b->str, b->len);
	return o->ascending ? c : -c;
}
