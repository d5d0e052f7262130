/* gateway/art_util_test.c: artifact paths, query values, Range, content types. */
#include <stdio.h>
#include <string.h>

#include "gateway/art_util.h"
#include "tests/lib/cn_test.h"

static cn_code path(const char *raw, bool trim, bool root, char *out)
{
	cn_err err;
	cn_err_clear(&err);
	return cn_art_path(raw, strlen(raw), trim, root, out, 1100, &err);
}

CN_TEST(paths_good)
{
	char out[1100];
	CN_CHECK(path("a/b/c.txt", false, false, out) == CN_OK);
	CN_CHECK_STR(out, "a/b/c.txt");
	CN_CHECK(path("a%2Fb%20c", false, false, out) == CN_OK);
	CN_CHECK_STR(out, "a/b c");
	/* MLflow decodes until stable: "%2541" is "%41" is "A". */
	CN_CHECK(path("x%2541", false, false, out) == CN_OK);
	CN_CHECK_STR(out, "xA");
	CN_CHECK(path("dir/", true, false, out) == CN_OK);
	CN_CHECK_STR(out, "dir");
	CN_CHECK(path("", true, true, out) == CN_OK);
	CN_CHECK_STR(out, "");
	CN_CHECK(path("100%", false, false, out) == CN_OK); /* a lone '%' stays */
	CN_CHECK_STR(out, "100%");
}

CN_TEST(paths_bad)
{
	char out[1100];
	const char *bad[] = {
	        "..",          "a/../b", "%2e%2e/x", "%252e%252e/x", "%25252e%25252e", "a%2f..%2fb",
	        "/etc/passwd", "%2fetc", "a%00b",    "a%5cb",        "a\\b",           "a#b",
	        "a%23b",       "a//b",   "./a",      "a/.",          "a%01",           "",
	        "dir/",        "/",      "%2F"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CN_CHECK(path(bad[i], false, false, out) == CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(path("/", true, true, out) == CN_INVALID_PARAMETER_VALUE);
	char longp[1200];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	CN_CHECK(path(longp, false, false, out) == CN_INVALID_PARAMETER_VALUE);
	longp[1024] = '\0';
	CN_CHECK(path(longp, false, false, out) == CN_OK);
	longp[1024] = 'a';
	longp[1025] = '\0';
	CN_CHECK(path(longp, false, false, out) == CN_INVALID_PARAMETER_VALUE);
	/* Eleven levels of encoding: MLflow gives up too. */
	char deep[200] = "%41", t[200];
	for (int i = 0; i < 10; i++) {
		size_t o = 0;
		for (const char *c = deep; *c; c++)
			o += (size_t)snprintf(t + o, sizeof t - o, "%s",
			                      *c == '%' ? "%25" : (char[]){*c, 0});
		memcpy(deep, t, o + 1);
	}
	CN_CHECK(path(deep, false, false, out) == CN_INVALID_PARAMETER_VALUE);
}

CN_TEST(query_values)
{
	char v[32];
	CN_CHECK_EQ_INT(cn_art_query("a=1&path=x%2Fy+z&b", 19, "path", v, sizeof v), 1);
	CN_CHECK_STR(v, "x/y z");
	CN_CHECK_EQ_INT(cn_art_query("pathx=1&b=2", 11, "path", v, sizeof v), 0);
	CN_CHECK_EQ_INT(cn_art_query("path", 4, "path", v, sizeof v), 1);
	CN_CHECK_STR(v, "");
	CN_CHECK_EQ_INT(cn_art_query("path=a%00", 9, "path", v, sizeof v), -1);
	CN_CHECK_EQ_INT(
	        cn_art_query("path=0123456789012345678901234567890123", 38, "path", v, sizeof v),
	        -1);
}

CN_TEST(ranges)
{
	uint64_t f, l;
	CN_CHECK_EQ_INT(cn_art_range(NULL, 10, &f, &l), CN_ART_RANGE_NONE);
	CN_CHECK_EQ_INT(cn_art_range("bytes=2-5", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK(f == 2 && l == 5);
	CN_CHECK_EQ_INT(cn_art_range("bytes=7-", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK(f == 7 && l == 9);
	CN_CHECK_EQ_INT(cn_art_range("bytes=-3", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK(f == 7 && l == 9);
	CN_CHECK_EQ_INT(cn_art_range("bytes=-30", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK(f == 0 && l == 9);
	CN_CHECK_EQ_INT(cn_art_range("bytes=5-50", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK(f == 5 && l == 9);
	CN_CHECK_EQ_INT(cn_art_range("BYTES = 0-0", 10, &f, &l), CN_ART_RANGE_OK);
	CN_CHECK_EQ_INT(cn_art_range("bytes=10-", 10, &f, &l), CN_ART_RANGE_UNSAT);
	CN_CHECK_EQ_INT(cn_art_range("bytes=-0", 10, &f, &l), CN_ART_RANGE_UNSAT);
	CN_CHECK_EQ_INT(cn_art_range("bytes=0-", 0, &f, &l), CN_ART_RANGE_UNSAT);
	CN_CHECK_EQ_INT(cn_art_range("bytes=0-1,3-4", 10, &f, &l), CN_ART_RANGE_NONE);
	CN_CHECK_EQ_INT(cn_art_range("bytes=5-2", 10, &f, &l), CN_ART_RANGE_NONE);
	CN_CHECK_EQ_INT(cn_art_range("items=0-1", 10, &f, &l), CN_ART_RANGE_NONE);
	CN_CHECK_EQ_INT(cn_art_range("bytes=99999999999999999999-", 10, &f, &l), CN_ART_RANGE_NONE);
	CN_CHECK_EQ_INT(cn_art_range("bytes=4294967296-", (uint64_t)5 << 30, &f, &l),
	                CN_ART_RANGE_OK);
	CN_CHECK(f == (uint64_t)1 << 32);
}

CN_TEST(content_types)
{
	CN_CHECK_STR(cn_art_content_type("a/b.txt"), "text/plain");
	CN_CHECK_STR(cn_art_content_type("m.json"), "text/plain");
	CN_CHECK_STR(cn_art_content_type("model/MLmodel"), "text/plain");
	CN_CHECK_STR(cn_art_content_type("x.PNG"), "image/png");
	CN_CHECK_STR(cn_art_content_type("x.jpeg"), "image/jpeg");
	CN_CHECK_STR(cn_art_content_type("x.html"), "text/html");
	CN_CHECK_STR(cn_art_content_type("x.pkl"), "application/octet-stream");
	CN_CHECK_STR(cn_art_content_type(".txt"), "application/octet-stream");
	CN_CHECK_STR(cn_art_content_type("noext"), "application/octet-stream");
}

CN_TEST_MAIN()
