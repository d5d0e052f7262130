/*
 * core/prompts/template.h: prompt templates -- finding {{variable}}
 * placeholders, formatting a template with values, and a line diff of two
 * texts. Pure functions on bytes, no service state (unit-tested and fuzzed
 * on their own).
 *
 * A placeholder is MLflow's: "{{", optional spaces, a name
 * ([A-Za-z_][A-Za-z0-9_]* with dot-separated parts), optional spaces, "}}".
 * Any other brace is text: "{x}", "{{ }}", "{{\"a\": 1}}", "}}" stay as they
 * are when formatting, as MLflow's client leaves them. One shape is refused
 * instead, because it is almost always a typo that would otherwise ship a
 * literal "{{ name" to a model: "{{" and a name not followed by "}}".
 */
#ifndef CN_PROMPTS_TEMPLATE_H
#define CN_PROMPTS_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* Cairn's limit on a template's text (a chat template: all contents). */
#define PR_TEXT_MAX ((size_t)1 << 20)

typedef struct pr_placeholder {
	size_t start, end;         /* the whole "{{ name }}" is text[start, end) */
	size_t name_off, name_len; /* the name inside it */
} pr_placeholder;

typedef struct pr_parsed {
	pr_placeholder *ph; /* in text order; owned, free with pr_parsed_free */
	size_t n, cap;
} pr_parsed;

/* Find the placeholders of text[0, len). Errors (INVALID_PARAMETER_VALUE):
 * an unclosed placeholder (message names it, with line and column), and
 * text over PR_TEXT_MAX. `what` names the text in messages ("template",
 * "messages[2].content"). */
cn_code pr_parse(const char *text, size_t len, const char *what, pr_parsed *out, cn_err *err);
/* The same without refusals, for templates already stored (MLflow's client
 * may have written an unclosed one): those spans are plain text. */
cn_code pr_parse_lenient(const char *text, size_t len, pr_parsed *out, cn_err *err);
void pr_parsed_free(pr_parsed *p);

/* Distinct variable names of one or more parsed texts, first appearance
 * first: calls fn(arg, name, len) once per new name. `seen` collects names
 * across calls (a NUL-separated list in a buffer the caller frees). */
typedef void (*pr_name_fn)(void *arg, const char *name, size_t len);
void pr_each_new_name(const char *text, const pr_parsed *p, cn_buf *seen, pr_name_fn fn, void *arg);
bool pr_name_in(const cn_buf *list, const char *name, size_t len);

/* Values for formatting: parallel arrays of names and values. */
typedef struct pr_values {
	const char *const *names;
	const size_t *name_lens;
	const char *const *values;
	const size_t *value_lens;
	size_t n;
} pr_values;

/* Append text with every placeholder replaced by its value to out. Names
 * without a value are appended (NUL-separated) to `missing` and their
 * placeholders left as they are; returns the number of such placeholders. */
size_t pr_render(const char *text, size_t len, const pr_parsed *p, const pr_values *v, cn_buf *out,
                 cn_buf *missing);

/* ---- line diff -------------------------------------------------------- */

typedef enum { PR_EQUAL = 0, PR_INSERT = 1, PR_DELETE = 2 } pr_op;

typedef struct pr_diff_line {
	pr_op op;
	const char *text; /* points into the old or new text; no newline */
	size_t len;
	int from_line, to_line; /* 1-based; 0 when the line is not on that side */
} pr_diff_line;

typedef struct pr_diff {
	pr_diff_line *lines; /* owned; free with pr_diff_free */
	size_t n, cap;
	size_t inserted, deleted;
} pr_diff;

/* Line diff of a -> b (a longest common subsequence of lines after the
 * common head and tail are set aside). When the differing middle is larger
 * than PR_DIFF_CELLS lines x lines, it is reported as all deleted then all
 * inserted: correct, only not minimal, and bounded in time and memory. */
#define PR_DIFF_CELLS ((size_t)4 << 20)
cn_code pr_diff_lines(const char *a, size_t alen, const char *b, size_t blen, pr_diff *out,
                      cn_err *err);
void pr_diff_free(pr_diff *d);
/* keep[i] (d->n flags): line i is a change or within `context` lines of
 * one; every line when context < 0. */
void pr_diff_keep(const pr_diff *d, int context, bool *keep);
/* The diff as unified-diff text ("--- from", "+++ to", then one "@@" hunk
 * per run of kept lines, as pr_diff_keep). Nothing but the header when the
 * texts are equal and context >= 0. */
void pr_diff_unified(const pr_diff *d, const char *from, const char *to, int context, cn_buf *out);

#endif
