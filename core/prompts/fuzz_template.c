/*
 * core/prompts/fuzz_template.c: arbitrary bytes through the template
 * parser (strict and lenient), the renderer and the line diff. Must never
 * crash, leak or trip a sanitizer; rendering with every variable given must
 * leave no placeholder missing.
 */
#include <stdlib.h>
#include <string.h>

#include "core/prompts/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_collect(void *arg, const char *name, size_t len)
{
	(void)name;
	*(size_t *)arg += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	pr_parsed p;
	cn_err err;
	if (pr_parse(t, size, "template", &p, &err) == CN_OK) {
		cn_buf seen = CN_BUF_INIT;
		size_t total = 0;
		pr_each_new_name(t, &p, &seen, fuzz_collect, &total);
		/* every name given the value "v": nothing may be missing */
		size_t n = 0;
		for (size_t i = 0; i < seen.len; i += strlen(seen.p + i) + 1)
			n++;
		const char **names = calloc(n + 1, sizeof *names);
		const char **vals = calloc(n + 1, sizeof *vals);
		size_t *nl = calloc(n + 1, sizeof *nl), *vl = calloc(n + 1, sizeof *vl);
		size_t k = 0;
		for (size_t i = 0; names && vals && nl && vl && i < seen.len;
		     i += strlen(seen.p + i) + 1, k++) {
			names[k] = seen.p + i;
			nl[k] = strlen(seen.p + i);
			vals[k] = "v";
			vl[k] = 1;
		}
		pr_values v = {names, nl, vals, vl, k};
		cn_buf out = CN_BUF_INIT, missing = CN_BUF_INIT;
		if (pr_render(t, size, &p, &v, &out, &missing) != 0 && k == n)
			abort();
		cn_buf_free(&out);
		cn_buf_free(&missing);
		free(names);
		free(vals);
		free(nl);
		free(vl);
		cn_buf_free(&seen);
	}
	pr_parsed_free(&p);
	if (pr_parse_lenient(t, size, &p, &err) == CN_OK) {
		cn_buf out = CN_BUF_INIT;
		pr_render(t, size, &p, NULL, &out, NULL);
		cn_buf_free(&out);
	}
	pr_parsed_free(&p);
	/* diff the first half against the second */
	pr_diff d;
	if (pr_diff_lines(t, size / 2, t + size / 2, size - size / 2, &d, &err) == CN_OK) {
		cn_buf u = CN_BUF_INIT;
		pr_diff_unified(&d, "a", "b", (int)(size % 5) - 1, &u);
		cn_buf_free(&u);
	}
	pr_diff_free(&d);
	return 0;
}
