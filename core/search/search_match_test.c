/* core/search/search_match_test.c: LIKE, applying filters to entities,
 * sorting, and page tokens. */
#include "core/search/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"

static const cn_search_dialect *const X = &cn_search_dialect_experiments;
static const cn_search_dialect *const R = &cn_search_dialect_runs;

static void fail_case(int line, const char *what, const char *input, const char *got,
                      const char *want)
{
	char m[2048];
	snprintf(m, sizeof m, "%s [%s]: got \"%s\", want \"%s\"", what, input, got, want);
	cn_test_fail(__FILE__, line, m);
}

static cn_search_filter *parse_ok(const cn_search_dialect *d, const char *s, int line)
{
	cn_search_filter *f = NULL;
	cn_err err;
	if (cn_search_filter_parse(d, s, strlen(s), &f, &err) != CN_OK)
		fail_case(line, "parse failed", s, err.msg, "success");
	return f;
}

/* ---- LIKE --------------------------------------------------------------- */

CN_TEST(like_matching)
{
	static const struct {
		const char *pattern, *value;
		bool ci, want;
	} cases[] = {
	        {"abc", "abc", false, true},
	        {"a%", "abc", false, true},
	        {"%c", "abc", false, true},
	        {"%b%", "abc", false, true},
	        {"a_c", "abc", false, true},
	        {"a_c", "abbc", false, false},
	        {"a_c", "ac", false, false},
	        {"ABC", "abc", false, false},
	        {"ABC", "abc", true, true},
	        {"a%C", "AxyzC", true, true},
	        {"%", "", false, true},
	        {"", "", false, true},
	        {"", "a", false, false},
	        {"_", "", false, false},
	        {"a%%c", "ac", false, true},
	        {"%a%b%c%", "xaybzc", false, true},
	        {"%a%b%c%", "xaybz", false, false},
	        {"a%b", "ab", false, true},
	        {"a%b", "abxb", false, true},
	        {"a%b", "abx", false, false},
	        {"a\\%", "a%", false, true},
	        {"a\\%", "ab", false, false},
	        {"a\\_c", "a_c", false, true},
	        {"a\\_c", "abc", false, false},
	        {"a\\\\", "a\\", false, true},
	        {"a\\", "a\\", false, true},
	        {"a.c", "abc", false, false}, /* not a regex */
	        {"a.c", "a.c", false, true},
	        {"[a]*+?", "[a]*+?", false, true},
	        {"_", "\xc3\xa9", false, true}, /* one character, two bytes */
	        {"__", "\xc3\xa9", false, false},
	        {"%\xc3\xa9", "caf\xc3\xa9", false, true},
	        {"caf_", "caf\xc3\xa9", false, true},
	        {"\xc3\x89", "\xc3\xa9", true, false}, /* folding is ASCII only */
	        {"%a%a%a%a%a%a%a%a%b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
	        {"%%%", "x", false, true},
	        {"x%", "x", false, true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool got = cn_search_like_match(cases[i].pattern, cases[i].value, cases[i].ci);
		if (got != cases[i].want)
			fail_case(__LINE__, cases[i].ci ? "ILIKE" : "LIKE", cases[i].pattern,
			          cases[i].value, cases[i].want ? "match" : "no match");
	}
	CN_CHECK(cn_search_like_matchn("a%", 2, "abc", 1, false)); /* lengths, not NULs */
	CN_CHECK(!cn_search_like_matchn("abc", 2, "abc", 3, false));
	CN_CHECK(cn_search_like_match(NULL, NULL, false));
}

/* ---- sorting ---- */

CN_TEST(order_compare)
{
	cn_search_order asc, desc;
	CN_CHECK_EQ_INT(cn_search_order_parse(R, "metrics.m", &asc, NULL), CN_OK);
	CN_CHECK_EQ_INT(cn_search_order_parse(R, "metrics.m DESC", &desc, NULL), CN_OK);
	cn_search_value one = cn_search_value_double(1), two = cn_search_value_int(2);
	cn_search_value nan = cn_search_value_double(NAN);
	CN_CHECK(cn_search_order_compare(&asc, &one, &two) < 0);
	CN_CHECK(cn_search_order_compare(&desc, &one, &two) > 0);
	CN_CHECK(cn_search_order_compare(&asc, &two, &two) == 0);
	/* Values, then NaN, then missing, in both directions. */
	CN_CHECK(cn_search_order_compare(&asc, &two, &nan) < 0);
	CN_CHECK(cn_search_order_compare(&desc, &two, &nan) < 0);
	CN_CHECK(cn_search_order_compare(&asc, &nan, NULL) < 0);
	CN_CHECK(cn_search_order_compare(&desc, &nan, NULL) < 0);
	CN_CHECK(cn_search_order_compare(&desc, NULL, &one) > 0);
	CN_CHECK(cn_search_order_compare(&asc, NULL, NULL) == 0);
	cn_search_value a = cn_search_value_str("a"), ab = cn_search_value_str("ab");
	CN_CHECK(cn_search_order_compare(&asc, &a, &ab) < 0);
	CN_CHECK(cn_search_order_compare(&desc, &a, &ab) > 0);
	CN_CHECK(cn_search_order_compare(&asc, &one, &a) < 0);
	cn_search_value big1 = cn_search_value_int(INT64_MAX - 1),
	                big2 = cn_search_value_int(INT64_MAX);
	CN_CHECK(cn_search_order_compare(&asc, &big1, &big2) < 0); /* exact, not via double */
}

/* ---- evaluation --------------------------------------------------------- */

typedef struct t_kv {
	const char *k, *v;
} t_kv;

typedef struct t_run {
	const char *run_id, *status;
	int64_t start_time;
	t_kv metrics[2]; /* values as text, converted by the getter */
	t_kv params[2];
	t_kv tags[2];
	struct {
		const char *name, *digest, *context;
	} datasets[2];
} t_run;

static bool t_kv_get(const t_kv *kv, size_t n, const char *key, const char **out)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i].k && strcmp(kv[i].k, key) == 0) {
			*out = kv[i].v;
			return true;
		}
	return false;
}

static bool t_run_get(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	const t_run *r = entity;
	const char *s = NULL;
	switch (c->entity) {
	case CN_SEARCH_ATTRIBUTE:
		if (index)
			return false;
		if (strcmp(c->key, "start_time") == 0) {
			*out = cn_search_value_int(r->start_time);
			return true;
		}
		s = strcmp(c->key, "run_id") == 0   ? r->run_id
		    : strcmp(c->key, "status") == 0 ? r->status
		                                    : NULL;
		break;
	case CN_SEARCH_METRIC:
		if (index || !t_kv_get(r->metrics, 2, c->key, &s))
			return false;
		*out = cn_search_value_double(strtod(s, NULL));
		return true;
	case CN_SEARCH_PARAM:
		if (index || !t_kv_get(r->params, 2, c->key, &s))
			return false;
		break;
	case CN_SEARCH_TAG:
		if (index || !t_kv_get(r->tags, 2, c->key, &s))
			return false;
		break;
	case CN_SEARCH_DATASET:
		/* Multi-valued: one value per dataset input that has the field. */
		for (size_t i = 0, seen = 0; i < 2; i++) {
			const char *v = strcmp(c->key, "name") == 0     ? r->datasets[i].name
			                : strcmp(c->key, "digest") == 0 ? r->datasets[i].digest
			                                                : r->datasets[i].context;
			if (v && seen++ == index) {
				s = v;
				break;
			}
		}
		break;
	default: return false;
	}
	if (!s)
		return false;
	*out = cn_search_value_str(s);
	return true;
}

static const t_run t_runs[3] = {
        {.run_id = "hi",
         .status = "FAILED",
         .start_time = 0,
         .metrics = {{"key1", "121"}},
         .params = {{"my_param", "A"}},
         .datasets = {{"name1", "digest1", "train"}}},
        {.run_id = "hi2",
         .status = "FINISHED",
         .start_time = 1,
         .metrics = {{"key1", "123"}},
         .params = {{"my_param", "A"}},
         .tags = {{"tag1", "C"}},
         .datasets = {{"name1", "digest1", NULL}}},
        {.run_id = "hi3",
         .status = "FAILED",
         .start_time = 2,
         .metrics = {{"key1", "125"}, {"nan", "nan"}},
         .params = {{"my_param", "B"}},
         .tags = {{"tag1", "D"}},
         .datasets = {{"name2", "digest2", NULL}, {"name3", "digest3", "eval"}}},
};

static void expect_runs(const char *filter, const char *want, int line)
{
	cn_search_filter *f = parse_ok(R, filter, line);
	if (!f)
		return;
	char got[8] = "";
	size_t o = 0;
	for (size_t i = 0; i < 3; i++)
		if (cn_search_filter_match(f, t_run_get, (void *)&t_runs[i]))
			got[o++] = (char)('0' + i);
	got[o] = '\0';
	if (strcmp(got, want) != 0)
		fail_case(line, "matching runs", filter, got, want);
	cn_search_filter_free(f);
}

#define RUNS(f, w) expect_runs(f, w, __LINE__)

CN_TEST(filter_evaluation_runs)
{
	/* MLflow's tests/utils/test_search_utils.py::test_correct_filtering */
	RUNS("", "012");
	RUNS("attributes.status = 'FAILED'", "02");
	RUNS("metrics.key1 = 123", "1");
	RUNS("metrics.key1 != 123", "02");
	RUNS("metrics.key1 >= 123", "12");
	RUNS("params.my_param = 'A'", "01");
	RUNS("tags.tag1 = 'D'", "2");
	RUNS("tags.tag1 != 'D'", "1"); /* run 0 has no tag1: missing never matches */
	RUNS("params.my_param = 'A' AND attributes.status = 'FAILED'", "0");
	RUNS("datasets.name = 'name1'", "01");
	RUNS("datasets.name IN ('name1', 'name2')", "012");
	RUNS("datasets.digest IN ('digest1', 'digest2')", "012");
	RUNS("datasets.name = 'name1' AND datasets.digest = 'digest2'", "");
	RUNS("datasets.context = 'train'", "0");
	RUNS("datasets.name = 'name1' AND datasets.context = 'train'", "0");
	/* Beyond MLflow's table. */
	RUNS("datasets.name = 'name3'", "2"); /* any dataset input may match */
	RUNS("datasets.context NOT IN ('train')", "2");
	RUNS("tags.tag1 IS NULL", "0");
	RUNS("tags.tag1 IS NOT NULL", "12");
	RUNS("params.nope IS NULL AND params.my_param IS NOT NULL", "012");
	RUNS("tags.tag1 != 'C' AND tags.tag1 != 'D'", "");
	RUNS("attribute.start_time >= 0", "012");
	RUNS("attribute.start_time > 1", "2");
	RUNS("created = 2", "2");
	RUNS("created < 1.5", "01");
	RUNS("run_id IN ('hi', 'hi3')", "02");
	RUNS("run_id NOT IN ('hi', 'hi3')", "1");
	RUNS("status LIKE 'F%ED'", "012");
	RUNS("status LIKE 'f%'", "");
	RUNS("status ILIKE 'f%'", "012");
	RUNS("run_id LIKE 'hi_'", "12");
	RUNS("params.my_param != 'A'", "2");
	RUNS("metrics.key1 > 122 AND metrics.key1 < 124.5", "1");
	RUNS("metrics.key1 > -1e9", "012");
	RUNS("metrics.nan = 1", "");
	RUNS("metrics.nan != 1", "2"); /* NaN is unequal to everything */
	RUNS("metrics.missing < 1000", "");
}

CN_TEST(clause_match_edges)
{
	cn_search_filter *f = parse_ok(R,
	                               "metrics.m > 10 AND tags.t = '12' AND run_id IN ('a') AND "
	                               "run_id NOT IN ('a') AND tags.u IS NULL",
	                               __LINE__);
	if (!f)
		return;
	const cn_search_clause *num = cn_search_filter_clause(f, 0);
	const cn_search_clause *str = cn_search_filter_clause(f, 1);
	const cn_search_clause *in = cn_search_filter_clause(f, 2);
	const cn_search_clause *notin = cn_search_filter_clause(f, 3);
	const cn_search_clause *isnull = cn_search_filter_clause(f, 4);
	cn_search_value v = cn_search_value_str("12");
	CN_CHECK(cn_search_clause_match(num, &v)); /* numeric text compares as a number */
	v = cn_search_value_str("12x");
	CN_CHECK(!cn_search_clause_match(num, &v));
	v = cn_search_value_str("");
	CN_CHECK(!cn_search_clause_match(num, &v));
	v = cn_search_value_strn("123", 1); /* "1" */
	CN_CHECK(!cn_search_clause_match(num, &v));
	v = cn_search_value_int(11);
	CN_CHECK(cn_search_clause_match(num, &v));
	CN_CHECK(!cn_search_clause_match(str, &v)); /* string clause, numeric field */
	CN_CHECK(!cn_search_clause_match(num, NULL));
	CN_CHECK(!cn_search_clause_match(notin, NULL)); /* missing fails NOT IN too */
	CN_CHECK(cn_search_clause_match(isnull, NULL));
	v = cn_search_value_strn("a-b", 1);
	CN_CHECK(cn_search_clause_match(in, &v));
	CN_CHECK(!cn_search_clause_match(notin, &v));
	CN_CHECK(!cn_search_clause_match(isnull, &v));
	v = cn_search_value_str("12");
	CN_CHECK(cn_search_clause_match(str, &v));
	CN_CHECK(cn_search_filter_match(NULL, t_run_get, NULL));
	cn_search_filter_free(f);
}

typedef struct t_exp {
	const char *name;
	int64_t creation_time;
	const char *owner; /* tags.owner */
} t_exp;

static bool t_exp_get(void *entity, const cn_search_clause *c, size_t index, cn_search_value *out)
{
	const t_exp *e = entity;
	if (index)
		return false;
	if (c->entity == CN_SEARCH_TAG) {
		if (strcmp(c->key, "owner") != 0 || !e->owner)
			return false;
		*out = cn_search_value_str(e->owner);
	} else if (strcmp(c->key, "name") == 0) {
		*out = cn_search_value_str(e->name);
	} else {
		*out = cn_search_value_int(e->creation_time);
	}
	return true;
}

CN_TEST(filter_evaluation_experiments)
{
	t_exp exps[] = {{"Default", 1, NULL}, {"exp1", 5, "alice"}, {"Exp_2", 9, "bob"}};
	static const struct {
		const char *filter, *want;
	} cases[] = {
	        {"name ILIKE 'exp%'", "12"},
	        {"name LIKE 'exp%'", "1"},
	        {"name LIKE 'Exp\\_%'", "2"},
	        {"name = 'Default'", "0"},
	        {"name != 'Default'", "12"},
	        {"creation_time > 1 AND tags.owner != 'alice'", "2"},
	        {"tags.owner IS NULL", "0"},
	        {"tags.owner LIKE '%o%'", "2"},
	        {"last_update_time > 0 AND name = 'x'", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cn_search_filter *f = parse_ok(X, cases[i].filter, __LINE__);
		if (!f)
			continue;
		char got[8] = "";
		size_t o = 0;
		for (size_t k = 0; k < 3; k++)
			if (cn_search_filter_match(f, t_exp_get, &exps[k]))
				got[o++] = (char)('0' + k);
		got[o] = '\0';
		if (strcmp(got, cases[i].want) != 0)
			fail_case(__LINE__, "matching experiments", cases[i].filter, got,
			          cases[i].want);
		cn_search_filter_free(f);
	}
}

/* ---- page tokens -------------------------------------------------------- */

static void token_roundtrip(uint64_t offset, size_t key_len, const char *query, int line)
{
	cn_search_token t = {.offset = offset, .key_len = key_len}, back;
	for (size_t i = 0; i < key_len; i++)
		t.key[i] = (unsigned char)(i * 7 + 1);
	cn_buf b = CN_BUF_INIT;
	cn_err err;
	size_t ql = query ? strlen(query) : 0;
	if (cn_search_token_encode(&t, query, ql, &b, &err) != CN_OK) {
		fail_case(line, "encode", query ? query : "", err.msg, "OK");
		cn_buf_free(&b);
		return;
	}
	for (size_t i = 0; i < b.len; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		            b.p[i]))
			fail_case(line, "URL-safe", b.p, "other character", "base64url");
	if (cn_search_token_decode(b.p, b.len, query, ql, &back, &err) != CN_OK)
		fail_case(line, "decode", b.p, err.msg, "OK");
	else if (back.offset != offset || back.key_len != key_len ||
	         memcmp(back.key, t.key, key_len) != 0)
		fail_case(line, "round trip", b.p, "different", "same");
	cn_buf_free(&b);
}

CN_TEST(page_token_roundtrip)
{
	token_roundtrip(0, 0, NULL, __LINE__);
	token_roundtrip(1, 0, "", __LINE__);
	token_roundtrip(127, 1, "filter=a", __LINE__);
	token_roundtrip(128, 2, "x", __LINE__);
	token_roundtrip(1000000, 17, "name LIKE 'a%'|creation_time DESC", __LINE__);
	token_roundtrip(UINT64_MAX, CN_SEARCH_TOKEN_KEY_MAX, "q", __LINE__);

	cn_search_token t;
	CN_CHECK_EQ_INT(cn_search_token_decode(NULL, 0, NULL, 0, &t, NULL), CN_OK);
	CN_CHECK(t.offset == 0 && t.key_len == 0);
	CN_CHECK_EQ_INT(cn_search_token_decode("", 0, "q", 1, &t, NULL), CN_OK);

	/* Standard alphabet with padding is accepted too. */
	cn_search_token in = {.offset = 300, .key_len = 3, .key = {0xfb, 0xff, 0xfe}};
	cn_buf b = CN_BUF_INIT;
	CN_CHECK_EQ_INT(cn_search_token_encode(&in, "q", 1, &b, NULL), CN_OK);
	char std[64];
	size_t n = b.len;
	memcpy(std, b.p, n);
	for (size_t i = 0; i < n; i++)
		std[i] = std[i] == '-' ? '+' : std[i] == '_' ? '/' : std[i];
	while (n % 4)
		std[n++] = '=';
	CN_CHECK_EQ_INT(cn_search_token_decode(std, n, "q", 1, &t, NULL), CN_OK);
	CN_CHECK(t.offset == 300 && t.key_len == 3 && t.key[0] == 0xfb);
	cn_buf_free(&b);

	/* MLflow's own tokens. */
	const char *ml = "eyJvZmZzZXQiOiAyNX0="; /* {"offset": 25} */
	CN_CHECK_EQ_INT(cn_search_token_decode(ml, strlen(ml), "any", 3, &t, NULL), CN_OK);
	CN_CHECK(t.offset == 25 && t.key_len == 0);
	ml = "eyJvZmZzZXQiOiAiNyJ9"; /* {"offset": "7"} */
	CN_CHECK_EQ_INT(cn_search_token_decode(ml, strlen(ml), NULL, 0, &t, NULL), CN_OK);
	CN_CHECK(t.offset == 7);
}

static void expect_token_err(const char *tok, const char *query, const char *msg, int line)
{
	cn_search_token t;
	cn_err err;
	cn_code rc = cn_search_token_decode(tok, strlen(tok), query, query ? strlen(query) : 0, &t,
	                                    &err);
	if (rc != CN_INVALID_PARAMETER_VALUE)
		fail_case(line, "token should fail", tok, "OK", msg);
	else if (strcmp(err.msg, msg) != 0)
		fail_case(line, "token message", tok, err.msg, msg);
}

CN_TEST(page_token_errors)
{
	const char *b64 = "Invalid page token, could not base64-decode";
	const char *foreign =
	        "Invalid page token, decoded value is not a page token of this server";
	expect_token_err("!!!!", NULL, b64, __LINE__);
	expect_token_err("abcde", NULL, b64, __LINE__); /* 5 chars: impossible length */
	expect_token_err("ab=cd", NULL, b64, __LINE__); /* padding inside */
	expect_token_err("ab cd", NULL, b64, __LINE__);
	expect_token_err("====", NULL, b64, __LINE__);
	expect_token_err("AAAA", NULL, foreign, __LINE__); /* version 0 */
	expect_token_err("AQ", NULL, foreign, __LINE__);   /* version 1, truncated */
	expect_token_err("eyJvZmZzZXQiOiAwfQ==", NULL,
	                 "Invalid page token, parsed value={\"offset\": 0}", __LINE__);
	expect_token_err("eyJmb28iOiAxfQ==", NULL, "Invalid page token, parsed value={\"foo\": 1}",
	                 __LINE__);

	char big[CN_SEARCH_TOKEN_MAX_LEN + 8];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	expect_token_err(big, NULL, b64, __LINE__);

	/* Every single-character edit of a real token is caught. */
	cn_search_token t = {.offset = 42, .key_len = 5, .key = "hello"}, out;
	cn_buf b = CN_BUF_INIT;
	CN_CHECK_EQ_INT(cn_search_token_encode(&t, "q1", 2, &b, NULL), CN_OK);
	expect_token_err(b.p, "q2",
	                 "Invalid page token, it was issued for a different search request "
	                 "(filter, order_by or scope changed)",
	                 __LINE__);
	for (size_t i = 0; i < b.len; i++) {
		char saved = b.p[i];
		b.p[i] = saved == 'A' ? 'B' : 'A';
		cn_code rc = cn_search_token_decode(b.p, b.len, "q1", 2, &out, NULL);
		b.p[i] = saved;
		/* The last character may carry only padding bits. */
		if (rc == CN_OK && i + 1 != b.len)
			fail_case(__LINE__, "tampered token accepted", b.p, "OK", "error");
	}
	cn_buf_free(&b);

	cn_err err;
	t.key_len = CN_SEARCH_TOKEN_KEY_MAX + 1;
	CN_CHECK_EQ_INT(cn_search_token_encode(&t, NULL, 0, &b, &err), CN_INTERNAL_ERROR);
	cn_buf_free(&b);
}

CN_TEST_MAIN()
