/*
 * core/prompts/diff.c: line diff of two template texts. Prompt edits are
 * usually a few lines in a short text: the common head and tail are set
 * aside, and the middle is diffed by a longest common subsequence table,
 * bounded by PR_DIFF_CELLS so a 1 MiB template cannot cost unbounded time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/prompts/template.h"

typedef struct pr_line {
	const char *p;
	size_t len;
	uint64_t h;
} pr_line;

static uint64_t pr_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

/* Split into lines (without their '\n'); a final newline ends the last
 * line rather than starting an empty one. */
static pr_line *pr_split(const char *t, size_t len, size_t *n)
{
	size_t cnt = 0;
	for (size_t i = 0; i < len; i++)
		cnt += t[i] == '\n';
	pr_line *l = malloc((cnt + 1) * sizeof *l);
	if (!l)
		return NULL;
	size_t k = 0, s = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || t[i] == '\n') {
			if (i == len && s == len && len > 0)
				break;
			if (i == len && len == 0)
				break;
			l[k++] = (pr_line){t + s, i - s, pr_hash(t + s, i - s)};
			s = i + 1;
		}
	}
	*n = k;
	return l;
}

static bool pr_same(const pr_line *a, const pr_line *b)
{
	return a->h == b->h && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static bool pr_add(pr_diff *d, pr_op op, const pr_line *l, int from, int to)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		pr_diff_line *n = realloc(d->lines, cap * sizeof *n);
		if (!n)
			return false;
		d->lines = n;
		d->cap = cap;
	}
	d->lines[d->n++] = (pr_diff_line){op, l->p, l->len, from, to};
	d->inserted += op == PR_INSERT;
	d->deleted += op == PR_DELETE;
	return true;
}

/* The middle a[0,n) x b[0,m) by LCS; fall back to delete-then-insert. */
static bool pr_middle(pr_diff *d, const pr_line *a, size_t n, const pr_line *b, size_t m, int a0,
                      int b0)
{
	uint32_t *t = NULL;
	if (n && m && (n + 1) * (m + 1) <= PR_DIFF_CELLS)
		t = calloc((n + 1) * (m + 1), sizeof *t);
	if (!t) {
		for (size_t i = 0; i < n; i++)
			if (!pr_add(d, PR_DELETE, &a[i], a0 + (int)i + 1, 0))
				return false;
		for (size_t j = 0; j < m; j++)
			if (!pr_add(d, PR_INSERT, &b[j], 0, b0 + (int)j + 1))
				return false;
		return true;
	}
	/* t[i][j] = LCS length of a[i..] and b[j..] */
	size_t w = m + 1;
	for (size_t i = n; i-- > 0;)
		for (size_t j = m; j-- > 0;)
			t[i * w + j] = pr_same(&a[i], &b[j])
			                       ? t[(i + 1) * w + j + 1] + 1
			                       : (t[(i + 1) * w + j] >= t[i * w + j + 1]
			                                  ? t[(i + 1) * w + j]
			                                  : t[i * w + j + 1]);
	size_t i = 0, j = 0;
	bool ok = true;
	while (ok && (i < n || j < m)) {
		if (i < n && j < m && pr_same(&a[i], &b[j])) {
			ok = pr_add(d, PR_EQUAL, &a[i], a0 + (int)i + 1, b0 + (int)j + 1);
			i++, j++;
		} else if (i < n && (j == m || t[(i + 1) * w + j] >= t[i * w + j + 1])) {
			ok = pr_add(d, PR_DELETE, &a[i], a0 + (int)i + 1, 0);
			i++;
		} else {
			ok = pr_add(d, PR_INSERT, &b[j], 0, b0 + (int)j + 1);
			j++;
		}
	}
	free(t);
	return ok;
}

cn_code pr_diff_lines(const char *a, size_t alen, const char *b, size_t blen, pr_diff *out,
                      cn_err *err)
{
	memset(out, 0, sizeof *out);
	size_t n, m;
	pr_line *la = pr_split(a, alen, &n);
	pr_line *lb = la ? pr_split(b, blen, &m) : NULL;
	bool ok = la && lb;
	size_t head = 0, tail = 0;
	if (ok) {
		while (head < n && head < m && pr_same(&la[head], &lb[head]))
			head++;
		while (tail < n - head && tail < m - head &&
		       pr_same(&la[n - 1 - tail], &lb[m - 1 - tail]))
			tail++;
	}
	for (size_t i = 0; ok && i < head; i++)
		ok = pr_add(out, PR_EQUAL, &la[i], (int)i + 1, (int)i + 1);
	if (ok)
		ok = pr_middle(out, la + head, n - head - tail, lb + head, m - head - tail,
		               (int)head, (int)head);
	for (size_t i = 0; ok && i < tail; i++)
		ok = pr_add(out, PR_EQUAL, &la[n - tail + i], (int)(n - tail + i) + 1,
		            (int)(m - tail + i) + 1);
	free(la);
	free(lb);
	if (!ok) {
		pr_diff_free(out);
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	}
	return CN_OK;
}

void pr_diff_free(pr_diff *d)
{
	free(d->lines);
	memset(d, 0, sizeof *d);
}

void pr_diff_keep(const pr_diff *d, int context, bool *keep)
{
	if (context < 0) {
		for (size_t i = 0; i < d->n; i++)
			keep[i] = true;
		return;
	}
	/* distance to the nearest change, forwards then backwards */
	size_t c = (size_t)context, far = (size_t)-1, dist = far;
	for (size_t i = 0; i < d->n; i++) {
		dist = d->lines[i].op != PR_EQUAL ? 0 : (dist == far ? far : dist + 1);
		keep[i] = dist <= c;
	}
	dist = far;
	for (size_t i = d->n; i-- > 0;) {
		dist = d->lines[i].op != PR_EQUAL ? 0 : (dist == far ? far : dist + 1);
		keep[i] = keep[i] || dist <= c;
	}
}

void pr_diff_unified(const pr_diff *d, const char *from, const char *to, int context, cn_buf *out)
{
	cn_buf_printf(out, "--- %s\n+++ %s\n", from, to);
	bool *keep = malloc((d->n ? d->n : 1) * sizeof *keep);
	if (!keep) {
		out->failed = true;
		return;
	}
	pr_diff_keep(d, context, keep);
	size_t oldpos = 0, newpos = 0, i = 0;
	while (i < d->n) {
		if (!keep[i]) {
			oldpos += d->lines[i].op != PR_INSERT;
			newpos += d->lines[i].op != PR_DELETE;
			i++;
			continue;
		}
		size_t e = i, na = 0, nb = 0;
		for (; e < d->n && keep[e]; e++) {
			na += d->lines[e].op != PR_INSERT;
			nb += d->lines[e].op != PR_DELETE;
		}
		cn_buf_printf(out, "@@ -%zu,%zu +%zu,%zu @@\n", na ? oldpos + 1 : oldpos, na,
		              nb ? newpos + 1 : newpos, nb);
		for (; i < e; i++) {
			static const char mark[] = {' ', '+', '-'};
			cn_buf_putc(out, mark[d->lines[i].op]);
			cn_buf_append(out, d->lines[i].text, d->lines[i].len);
			cn_buf_putc(out, '\n');
		}
		oldpos += na;
		newpos += nb;
	}
	free(keep);
}
