/*
 * core/prompts/template_test.c: the template parser, renderer and line
 * diff (template.h) on their own.
 */
#include <stdlib.h>
#include <string.h>

#include "core/prompts/template.h"
#include "cn_test.h"

/* Names of text's placeholders, joined by ','. */
static void names_of(const char *text, char *out, size_t cap)
{
	pr_parsed p;
	cn_err err;
	out[0] = '\0';
	CN_CHECK(pr_parse(text, strlen(text), "template", &p, &err) == CN_OK);
	cn_buf seen = CN_BUF_INIT;
	pr_each_new_name(text, &p, &seen, NULL, NULL);
	size_t o = 0;
	for (size_t i = 0; i < seen.len; i += strlen(seen.p + i) + 1)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", seen.p + i);
	cn_buf_free(&seen);
	pr_parsed_free(&p);
}

CN_TEST(variables_are_found_in_order_once)
{
	char n[256];
	names_of("Hi {{name}}, {{ greeting }}! {{name}} again {{a.b_c}}", n, sizeof n);
	CN_CHECK_STR(n, "name,greeting,a.b_c");
	names_of("no variables at all", n, sizeof n);
	CN_CHECK_STR(n, "");
	names_of("", n, sizeof n);
	CN_CHECK_STR(n, "");
}

CN_TEST(braces_that_are_not_variables_stay_text)
{
	char n[256];
	names_of("{x} {{ }} {{}} {{\"a\": 1}} }} {{1abc}} {{ .x }} { {y} }", n, sizeof n);
	CN_CHECK_STR(n, "");
	names_of("json {\"k\": {\"v\": 1}} then {{v}}", n, sizeof n);
	CN_CHECK_STR(n, "v");
	names_of("{{{x}}}", n, sizeof n); /* innermost pair is the placeholder */
	CN_CHECK_STR(n, "x");
}

CN_TEST(unclosed_placeholder_is_refused_with_position)
{
	pr_parsed p;
	cn_err err;
	const char *t = "line one\n  Hello {{ name }, bye";
	CN_CHECK(pr_parse(t, strlen(t), "template", &p, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "'{{name' at line 2, column 9") != NULL);
	CN_CHECK(p.ph == NULL);
	t = "ends {{ open";
	CN_CHECK(pr_parse(t, strlen(t), "messages[1].content", &p, &err) != CN_OK);
	CN_CHECK(strstr(err.msg, "messages[1].content") != NULL);
	/* The lenient parse (stored templates) keeps it as text. */
	CN_CHECK(pr_parse_lenient(t, strlen(t), &p, &err) == CN_OK);
	CN_CHECK_EQ_INT(p.n, 0);
	pr_parsed_free(&p);
}

CN_TEST(text_over_the_limit_is_refused)
{
	size_t n = PR_TEXT_MAX + 1;
	char *t = malloc(n);
	memset(t, 'a', n);
	pr_parsed p;
	cn_err err;
	CN_CHECK(pr_parse(t, n, "template", &p, &err) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "1 MiB") != NULL);
	CN_CHECK(pr_parse(t, n - 1, "template", &p, &err) == CN_OK);
	pr_parsed_free(&p);
	free(t);
}

static char *render(const char *t, const char *const *names, const char *const *vals, size_t n,
                    char *missing_out)
{
	size_t nl[8], vl[8];
	for (size_t i = 0; i < n; i++) {
		nl[i] = strlen(names[i]);
		vl[i] = strlen(vals[i]);
	}
	pr_values v = {names, nl, vals, vl, n};
	pr_parsed p;
	cn_err err;
	CN_CHECK(pr_parse(t, strlen(t), "template", &p, &err) == CN_OK);
	cn_buf out = CN_BUF_INIT, missing = CN_BUF_INIT;
	pr_render(t, strlen(t), &p, &v, &out, &missing);
	missing_out[0] = '\0';
	size_t o = 0;
	for (size_t i = 0; i < missing.len; i += strlen(missing.p + i) + 1)
		o += (size_t)sprintf(missing_out + o, "%s%s", o ? "," : "", missing.p + i);
	cn_buf_putc(&out, '\0');
	pr_parsed_free(&p);
	cn_buf_free(&missing);
	return out.p;
}

CN_TEST(render_substitutes_and_reports_missing)
{
	const char *names[] = {"name", "x"}, *vals[] = {"Ada", "{{name}}"};
	char miss[256];
	char *r = render("Hi {{ name }}, {x} {{x}} {{y}} {{y}}", names, vals, 2, miss);
	/* values are not re-scanned: "{{name}}" from x stays literal */
	CN_CHECK_STR(r, "Hi Ada, {x} {{name}} {{y}} {{y}}");
	CN_CHECK_STR(miss, "y");
	free(r);
	r = render("Ünïcödé {{名}} {{v}} 😀", names, vals, 0, miss);
	CN_CHECK_STR(r, "Ünïcödé {{名}} {{v}} 😀");
	CN_CHECK_STR(miss, "v");
	free(r);
}

static char *udiff_ctx(const char *a, const char *b, int ctx, size_t *ins, size_t *del)
{
	pr_diff d;
	cn_err err;
	CN_CHECK(pr_diff_lines(a, strlen(a), b, strlen(b), &d, &err) == CN_OK);
	cn_buf u = CN_BUF_INIT;
	pr_diff_unified(&d, "a", "b", ctx, &u);
	cn_buf_putc(&u, '\0');
	*ins = d.inserted;
	*del = d.deleted;
	pr_diff_free(&d);
	return u.p;
}

static char *udiff(const char *a, const char *b, size_t *ins, size_t *del)
{
	return udiff_ctx(a, b, -1, ins, del);
}

CN_TEST(diff_of_lines)
{
	size_t i, d;
	char *u = udiff("a\nb\nc\n", "a\nB\nc\nd", &i, &d);
	CN_CHECK_STR(u, "--- a\n+++ b\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n");
	CN_CHECK_EQ_INT(i, 2);
	CN_CHECK_EQ_INT(d, 1);
	free(u);
	u = udiff("same\n", "same", &i, &d);
	CN_CHECK_EQ_INT(i + d, 0);
	free(u);
	u = udiff("", "new", &i, &d);
	CN_CHECK_STR(u, "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+new\n");
	free(u);
	u = udiff("x\ny\nz", "y\nz\nx", &i, &d);
	CN_CHECK_EQ_INT(i, 1);
	CN_CHECK_EQ_INT(d, 1);
	free(u);
}

CN_TEST(diff_hunks_with_context)
{
	size_t i, d;
	char *u =
	        udiff_ctx("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n", 1, &i, &d);
	CN_CHECK_STR(
	        u, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+X\n 3\n@@ -8,2 +8,2 @@\n 8\n-9\n+Y\n");
	free(u);
	u = udiff_ctx("a\nb\n", "a\nb\n", 3, &i, &d);
	CN_CHECK_STR(u, "--- a\n+++ b\n");
	free(u);
	u = udiff_ctx("a\nb\nc\n", "a\nc\n", 0, &i, &d);
	CN_CHECK_STR(u, "--- a\n+++ b\n@@ -2,1 +1,0 @@\n-b\n");
	free(u);
}

CN_TEST(diff_line_numbers)
{
	pr_diff d;
	cn_err err;
	const char *a = "1\n2\n3", *b = "1\nx\n3";
	CN_CHECK(pr_diff_lines(a, strlen(a), b, strlen(b), &d, &err) == CN_OK);
	CN_CHECK_EQ_INT(d.n, 4);
	CN_CHECK(d.lines[1].op == PR_DELETE && d.lines[1].from_line == 2 && !d.lines[1].to_line);
	CN_CHECK(d.lines[2].op == PR_INSERT && d.lines[2].to_line == 2 && !d.lines[2].from_line);
	CN_CHECK(d.lines[3].from_line == 3 && d.lines[3].to_line == 3);
	pr_diff_free(&d);
}

CN_TEST(diff_of_large_texts_is_bounded)
{
	/* 5000 different lines each side: past PR_DIFF_CELLS, reported as a
	 * replacement, still correct in counts. */
	cn_buf a = CN_BUF_INIT, b = CN_BUF_INIT;
	for (int i = 0; i < 5000; i++) {
		cn_buf_printf(&a, "a%d\n", i);
		cn_buf_printf(&b, "b%d\n", i);
	}
	pr_diff d;
	cn_err err;
	CN_CHECK(pr_diff_lines(a.p, a.len, b.p, b.len, &d, &err) == CN_OK);
	CN_CHECK_EQ_INT(d.inserted, 5000);
	CN_CHECK_EQ_INT(d.deleted, 5000);
	pr_diff_free(&d);
	cn_buf_free(&a);
	cn_buf_free(&b);
}

CN_TEST_MAIN()
