/*
 * core/prompts/template.c: {{variable}} placeholders -- finding them and
 * formatting a template (template.h has the grammar).
 */
#include <stdlib.h>
#include <string.h>

#include "core/prompts/template.h"

static bool pr_id_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool pr_id_char(char c)
{
	return pr_id_start(c) || (c >= '0' && c <= '9');
}

static bool pr_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A dotted name at text[i]: its end, or i when there is none. */
static size_t pr_scan_name(const char *t, size_t len, size_t i)
{
	size_t j = i;
	for (;;) {
		if (j >= len || !pr_id_start(t[j]))
			return j == i ? i : j - 1; /* a trailing '.' is not part of it */
		while (j < len && pr_id_char(t[j]))
			j++;
		if (j + 1 < len && t[j] == '.' && pr_id_start(t[j + 1]))
			j++;
		else
			return j;
	}
}

static void pr_line_col(const char *t, size_t pos, size_t *line, size_t *col)
{
	*line = 1;
	size_t ls = 0;
	for (size_t i = 0; i < pos; i++)
		if (t[i] == '\n') {
			(*line)++;
			ls = i + 1;
		}
	*col = pos - ls + 1;
}

static bool pr_push(pr_parsed *p, pr_placeholder ph)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		pr_placeholder *n = realloc(p->ph, cap * sizeof *n);
		if (!n)
			return false;
		p->ph = n;
		p->cap = cap;
	}
	p->ph[p->n++] = ph;
	return true;
}

static cn_code pr_scan(const char *t, size_t len, const char *what, bool strict, pr_parsed *out,
                       cn_err *err)
{
	memset(out, 0, sizeof *out);
	if (strict && len > PR_TEXT_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "%s is %zu bytes; the limit is %zu bytes (1 MiB)", what, len,
		                  PR_TEXT_MAX);
	size_t i = 0;
	while (i + 1 < len) {
		const char *hit = memchr(t + i, '{', len - i - 1);
		if (!hit)
			break;
		i = (size_t)(hit - t);
		if (t[i + 1] != '{') {
			i++;
			continue;
		}
		/* "{{{x}}}": the placeholder starts at the last of the run of '{'. */
		size_t s = i;
		while (s + 2 < len && t[s + 2] == '{')
			s++;
		size_t j = s + 2;
		while (j < len && pr_space(t[j]))
			j++;
		size_t ne = pr_scan_name(t, len, j);
		if (ne == j) { /* no name: literal braces */
			i = s + 2;
			continue;
		}
		size_t k = ne;
		while (k < len && pr_space(t[k]))
			k++;
		if (k + 1 < len && t[k] == '}' && t[k + 1] == '}') {
			if (!pr_push(out, (pr_placeholder){s, k + 2, j, ne - j})) {
				pr_parsed_free(out);
				return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
			}
			i = k + 2;
			continue;
		}
		if (!strict) {
			i = s + 2;
			continue;
		}
		size_t line, col;
		pr_line_col(t, s, &line, &col);
		int shown = (int)(ne - j > 64 ? 64 : ne - j);
		pr_parsed_free(out);
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "%s: placeholder '{{%.*s' at line %zu, column %zu is not closed with "
		        "'}}' (write variables as {{name}})",
		        what, shown, t + j, line, col);
	}
	return CN_OK;
}

cn_code pr_parse(const char *t, size_t len, const char *what, pr_parsed *out, cn_err *err)
{
	return pr_scan(t, len, what, true, out, err);
}

cn_code pr_parse_lenient(const char *t, size_t len, pr_parsed *out, cn_err *err)
{
	return pr_scan(t, len, "template", false, out, err);
}

void pr_parsed_free(pr_parsed *p)
{
	free(p->ph);
	memset(p, 0, sizeof *p);
}

bool pr_name_in(const cn_buf *list, const char *name, size_t len)
{
	size_t i = 0;
	while (i < list->len) {
		size_t l = strlen(list->p + i);
		if (l == len && memcmp(list->p + i, name, len) == 0)
			return true;
		i += l + 1;
	}
	return false;
}

void pr_each_new_name(const char *text, const pr_parsed *p, cn_buf *seen, pr_name_fn fn, void *arg)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *name = text + p->ph[i].name_off;
		size_t len = p->ph[i].name_len;
		if (pr_name_in(seen, name, len))
			continue;
		cn_buf_append(seen, name, len);
		cn_buf_putc(seen, '\0');
		if (fn)
			fn(arg, name, len);
	}
}

static long pr_value_of(const pr_values *v, const char *name, size_t len)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (v->name_lens[i] == len && memcmp(v->names[i], name, len) == 0)
			return (long)i;
	return -1;
}

size_t pr_render(const char *text, size_t len, const pr_parsed *p, const pr_values *v, cn_buf *out,
                 cn_buf *missing)
{
	size_t at = 0, nmissing = 0;
	for (size_t i = 0; i < p->n; i++) {
		const pr_placeholder *ph = &p->ph[i];
		cn_buf_append(out, text + at, ph->start - at);
		long k = pr_value_of(v, text + ph->name_off, ph->name_len);
		if (k >= 0) {
			cn_buf_append(out, v->values[k], v->value_lens[k]);
		} else {
			cn_buf_append(out, text + ph->start, ph->end - ph->start);
			nmissing++;
			if (missing && !pr_name_in(missing, text + ph->name_off, ph->name_len)) {
				cn_buf_append(missing, text + ph->name_off, ph->name_len);
				cn_buf_putc(missing, '\0');
			}
		}
		at = ph->end;
	}
	cn_buf_append(out, text + at, len - at);
	return nmissing;
}
