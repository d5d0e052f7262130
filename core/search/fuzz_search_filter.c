/*
 * core/search/fuzz_search_filter.c: arbitrary bytes through every entry point
 * of core/search: filter parsing under every dialect (and evaluation of what
 * parses), order_by parsing, LIKE, and page-token decoding. Must never crash,
 * leak or trip a sanitizer.
 */
#include "core/search/search.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An entity whose every field exists and holds the key itself, with a
 * second value for datasets, so evaluation walks every comparison path. */
static bool fuzz_get(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	(void)entity;
	if (index > (c->entity == CN_SEARCH_DATASET ? 1u : 0u))
		return false;
	if (c->kind == CN_SEARCH_NUMERIC)
		*out = index ? cn_search_value_double(-0.5)
		             : cn_search_value_int((int64_t)strlen(c->key));
	else
		*out = cn_search_value_str(c->key);
	return true;
}

static void fuzz_filter(const cn_search_dialect *d, const char *s, size_t n)
{
	cn_search_filter *f = NULL;
	cn_err err;
	if (cn_search_filter_parse(d, s, n, &f, &err) != CN_OK) {
		if (f || err.code == CN_OK || !err.msg[0])
			abort(); /* failures must report and leave nothing behind */
		return;
	}
	(void)cn_search_filter_match(f, fuzz_get, NULL);
	for (size_t i = 0; i < cn_search_filter_count(f); i++) {
		const cn_search_clause *c = cn_search_filter_clause(f, i);
		cn_search_value v = cn_search_value_strn(s, n);
		(void)cn_search_clause_match(c, &v);
		(void)cn_search_clause_match(c, NULL);
	}
	cn_search_filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	fuzz_filter(&cn_search_dialect_runs, s, size);
	fuzz_filter(&cn_search_dialect_experiments, s, size);
	fuzz_filter(&cn_search_dialect_logged_models, s, size);
	fuzz_filter(&cn_search_dialect_registered_models, s, size);
	fuzz_filter(&cn_search_dialect_model_versions, s, size);

	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	cn_search_order o;
	cn_err err;
	(void)cn_search_order_parse(&cn_search_dialect_runs, z, &o, &err);
	(void)cn_search_order_parse(&cn_search_dialect_experiments, z, &o, &err);
	(void)cn_search_order_parse(&cn_search_dialect_logged_models, z, &o, &err);
	(void)cn_search_order_parse(&cn_search_dialect_registered_models, z, &o, &err);
	(void)cn_search_order_parse(&cn_search_dialect_model_versions, z, &o, &err);

	/* LIKE: pattern before the first newline, value after. */
	const char *nl = memchr(s, '\n', size);
	size_t plen = nl ? (size_t)(nl - s) : size;
	(void)cn_search_like_matchn(s, plen, nl ? nl + 1 : "", nl ? size - plen - 1 : 0, size & 1);

	cn_search_token t;
	if (cn_search_token_decode(s, size, "q", 1, &t, &err) == CN_OK && t.key_len) {
		cn_buf b = CN_BUF_INIT;
		if (cn_search_token_encode(&t, "q", 1, &b, &err) != CN_OK)
			abort();
		cn_buf_free(&b);
	}
	free(z);
	return 0;
}
