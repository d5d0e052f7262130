/*
 * core/codec/json_scan_test.c: the one-pass JSON scanner against the
 * jansson path (json_diff.h): on bodies MLflow clients send it must decode
 * (and build the same bytes); on odd or invalid ones it must decline so
 * that the jansson path answers; and on hundreds of thousands of random and
 * mutated bodies it must never accept what jansson rejects or build
 * something else. The tu_ schema (codec_test_util.h) covers every field
 * kind. CN_JSON_SCAN_TEST_N scales the random rounds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"
#include "core/codec/codec_test_util.h"
#include "core/codec/json_diff.h"
#include "schemas/cairn_schema.h"

#define S (&cn_schema_cairn)

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static long rounds(long dflt)
{
	const char *e = getenv("CN_JSON_SCAN_TEST_N");
	long n = e ? atol(e) * dflt / 100000 : dflt;
	return n > 0 ? n : 1;
}

static void expect(const cn_schema *s, int ti, const char *json, jd_result want, int line)
{
	char why[512];
	jd_result got = jd_compare(s, ti, json, strlen(json), NULL, 0, why, sizeof why);
	if (got != want) {
		char m[1200];
		snprintf(m, sizeof m, "line %d: %.600s -> %d, want %d (%s)", line, json, (int)got,
		         (int)want, got == JD_DIFFER ? why : "");
		cn_test_fail(__FILE__, __LINE__, m);
	}
}
#define ACCEPT(s, ti, json)  expect(s, ti, json, JD_AGREE_BOTH_OK, __LINE__)
#define DECLINE(s, ti, json) expect(s, ti, json, JD_AGREE_SCAN_DECLINED, __LINE__)

CN_TEST(scanner_takes_what_clients_send)
{
	ACCEPT(S, CN_TABLE_LogBatch,
	       "{\"run_id\":\"0123abcd\",\"metrics\":[{\"key\":\"loss\",\"value\":0.25,"
	       "\"timestamp\":1764000000000,\"step\":3}],\"params\":[{\"key\":\"lr\",\"value\":"
	       "\"0.1\"}],\"tags\":[]}");
	ACCEPT(S, CN_TABLE_LogBatch,
	       " {\n \"run_id\" : \"r\" ,\"metrics\" : [ {\"key\":\"a\",\"value\":-0.0,"
	       "\"timestamp\":-9223372036854775808,\"step\":9223372036854775807} , "
	       "{\"key\":\"b\",\"value\":\"NaN\",\"timestamp\":0},{\"key\":\"c\",\"value\":"
	       "\"-Infinity\",\"timestamp\":1},{\"key\":\"d\",\"value\":1e308,\"timestamp\":2},"
	       "{\"key\":\"e\",\"value\":5e-324,\"timestamp\":3},{\"key\":\"f\",\"value\":"
	       "0.1000000000000000055511151231257827021181583404541015625,\"timestamp\":4},"
	       "{\"key\":\"g\",\"value\":12345678901234567890123.5,\"timestamp\":5,\"step\":-0},"
	       "{\"key\":\"h\",\"value\":1E+2,\"timestamp\":6e0,\"step\":7.0},"
	       "{\"key\":\"i\",\"value\":1e-400,\"timestamp\":7, \"model_id\": null}]}\r\n\t");
	ACCEPT(S, CN_TABLE_CreateExperiment,
	       "{\"name\":\"caf\xc3\xa9 \\u00e9\\n\\t\\\"q\\\"\\\\ \\/ \\ud83d\\ude00 \\u0000x\","
	       "\"tags\":[{\"key\":\"k\",\"value\":\"v\"}]}");
	ACCEPT(S, CN_TABLE_GetExperiment, "{\"experiment_id\":42}");
	ACCEPT(S, CN_TABLE_GetExperiment, "{\"experiment_id\":-7}");
	ACCEPT(S, CN_TABLE_SearchExperiments,
	       "{\"view_type\":\"ALL\",\"max_results\":5,\"order_by\":[\"name\",\"a\"]}");
	ACCEPT(S, CN_TABLE_SearchExperiments, "{\"view_type\":2,\"max_results\":\"10\"}");
	ACCEPT(S, CN_TABLE_SearchExperiments, "{}");
	ACCEPT(&tu_schema, TU_ALL,
	       "{\"req\":\"\",\"b\":true,\"i8\":-128,\"u8\":255,\"i16\":2.0,\"u16\":\"7\","
	       "\"i32\":-2147483648,\"u32\":4294967295,\"i64\":1,\"u64\":9223372036854775807,"
	       "\"f32\":1.5,\"f64\":\"Infinity\",\"s\":\"x\",\"color\":\"BLUE\",\"colors\":"
	       "[\"RED\",2],\"nums\":[1,-2,3e0],\"flags\":[false,true],\"child\":{\"v\":1,"
	       "\"kids\":[{\"v\":2},{}]},\"reals\":[1,2.5,\"NaN\"],\"strs\":[\"a\",\"\"]}");
	ACCEPT(&tu_schema, TU_NODE, "{\"child\":{\"child\":{\"child\":{\"v\":3}}}}");
}

CN_TEST(scanner_declines_the_rest)
{
	static const char *bad[] = {
	        "{\"name\":\"a\",\"name\":\"b\"}",
	        "{\"name\":\"a\",\"name\":null}",
	        "{\"name\":\"a\",\"n\\u0061me\":\"b\"}",
	        "{\"name\":\"x\",\"foo\":1}",
	        "{\"name\":\"x\"} junk",
	        "{\"name\":\"x\"}}",
	        "{\"name\":\"x\",}",
	        "{\"name\" \"x\"}",
	        "{\"name\":\"x\"",
	        "{\"name\":",
	        "{,}",
	        "{\"name\":\"\xff\"}",
	        "{\"name\":\"\xc0\xaf\"}",
	        "{\"name\":\"\xed\xa0\x80\"}",
	        "{\"name\":\"\\ud800\"}",
	        "{\"name\":\"\\udc00\\ud800\"}",
	        "{\"name\":\"\\ud800\\u0041\"}",
	        "{\"name\":\"\\x\"}",
	        "{\"name\":\"\\u12g4\"}",
	        "{\"name\":\"a\tb\"}",
	        "{\"name\\u0000x\":\"x\"}",
	        "{\"name\":123}",
	        "{\"name\":true}",
	        "{\"name\":[\"a\"]}",
	        "{\"name\":{\"a\":1}}",
	        "{\"name\":\"x\",\"tags\":{}}",
	        "{\"name\":\"x\",\"tags\":[\"k\"]}",
	        "{\"name\":\"x\",\"tags\":[{\"key\":5}]}",
	        "{\"name\":\"x\",\"tags\":[{\"key\":\"k\"},]}",
	        "{\"name\":\"x\",\"tags\":[,]}",
	        "null",
	        "[1,2]",
	        "42",
	        "\"{\\\"name\\\":\\\"x\\\"}\"",
	        "   ",
	        "\xef\xbb\xbf{\"name\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		DECLINE(S, CN_TABLE_CreateExperiment, bad[i]);
	static const char *bad_numbers[] = {
	        "01",
	        "-01",
	        "1.",
	        ".5",
	        "-",
	        "1e",
	        "1e+",
	        "+1",
	        "0x10",
	        "1.5",
	        "1e30",
	        "NaN",
	        "Infinity",
	        "99999999999999999999",
	        "9223372036854775808",
	        "-9223372036854775809",
	        "\"abc\"",
	        "\"12 \"",
	        "true",
	        "null1",
	        "1 2",
	};
	for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
		char json[128];
		snprintf(json, sizeof json, "{\"max_results\":%s}", bad_numbers[i]);
		DECLINE(S, CN_TABLE_SearchExperiments, json);
	}
	DECLINE(S, CN_TABLE_SearchExperiments, "{\"view_type\":1.0}");
	DECLINE(S, CN_TABLE_SearchExperiments, "{\"view_type\":7}");
	DECLINE(S, CN_TABLE_SearchExperiments, "{\"view_type\":\"BOGUS\"}");
	DECLINE(S, CN_TABLE_LogBatch,
	        "{\"run_id\":\"r\",\"metrics\":[{\"key\":\"a\",\"value\":1e400,\"timestamp\":1}]}");
	DECLINE(S, CN_TABLE_LogBatch,
	        "{\"run_id\":\"r\",\"metrics\":[{\"key\":\"a\",\"value\":1,\"timestamp\":1.5}]}");
	DECLINE(&tu_schema, TU_ALL, "{\"req\":\"\",\"old\":5}");
	DECLINE(&tu_schema, TU_ALL, "{\"b\":true}");
	DECLINE(&tu_schema, TU_ALL, "{\"req\":\"\",\"f32\":1e39}");
	DECLINE(&tu_schema, TU_ALL, "{\"req\":\"\",\"u64\":-1}");
	DECLINE(&tu_schema, TU_ALL, "{\"req\":\"\",\"flags\":[true,0]}");
	DECLINE(&tu_schema, TU_ALL, "{\"req\":\"\",\"reals\":[1,null]}");
	/* nested deeper than CODEC_MAX_DEPTH */
	char deep[4096] = "";
	for (int i = 0; i < CODEC_MAX_DEPTH + 1; i++)
		strcat(deep, "{\"child\":");
	strcat(deep, "{}");
	for (int i = 0; i < CODEC_MAX_DEPTH + 1; i++)
		strcat(deep, "}");
	DECLINE(&tu_schema, TU_NODE, deep);
}

/* A random number token of the shapes JSON writers produce. */
static void rand_number(char *o, size_t cap)
{
	double d;
	uint64_t bits = rng();
	switch (rng() % 8) {
	case 0:
		memcpy(&d, &bits, 8);
		if (!isfinite(d))
			d = 0.5;
		snprintf(o, cap, "%.17g", d);
		break;
	case 1:
		snprintf(o, cap, "%.*g", 1 + (int)(rng() % 17), (double)(rng() % 100000) / 7.0);
		break;
	case 2: snprintf(o, cap, "%lld", (long long)rng() >> (rng() % 64)); break;
	case 3: snprintf(o, cap, "%.*e", (int)(rng() % 20), (double)(int64_t)rng() * 1e-10); break;
	case 4:
		snprintf(o, cap, "%.*f", (int)(rng() % 25), (double)(rng() % 1000000) / 1000.0);
		break;
	case 5: /* long digit strings with exponents near the fast path's edge */
		snprintf(o, cap, "%s%llu%s%llue%d", rng() % 2 ? "-" : "",
		         (unsigned long long)(rng() % 1000000000000ull), rng() % 2 ? "." : "",
		         (unsigned long long)(rng() % 10000000000ull), (int)(rng() % 80) - 40);
		if (strstr(o, "e") && !strchr(o, '.') && rng() % 2)
			*strchr(o, 'e') = 'E';
		break;
	case 6: snprintf(o, cap, "%s", rng() % 2 ? "\"NaN\"" : "\"-Infinity\""); break;
	default: snprintf(o, cap, "%llu", (unsigned long long)(rng() % 20)); break;
	}
}

static void rand_string(cn_buf *b)
{
	static const char *pieces[] = {
	        "a",    "loss",    "/",        "\\n",          "\\\"",
	        "\\\\", "\\u00e9", "\xc3\xa9", "\xe2\x82\xac", "\\ud83d\\ude00",
	        "\\/",  " ",       "\\t",      "\\u0000",      "x_y.z"};
	cn_buf_putc(b, '"');
	int n = (int)(rng() % 6);
	for (int i = 0; i < n; i++)
		cn_buf_puts(b, pieces[rng() % (sizeof pieces / sizeof pieces[0])]);
	cn_buf_putc(b, '"');
}

static void rand_log_batch(cn_buf *b)
{
	cn_buf_puts(b, "{\"run_id\":");
	rand_string(b);
	cn_buf_puts(b, ",\"metrics\":[");
	int n = (int)(rng() % 8);
	for (int i = 0; i < n; i++) {
		char num[96], ts[32];
		rand_number(num, sizeof num);
		snprintf(ts, sizeof ts, "%lld", (long long)(rng() >> (rng() % 64)) / 2);
		cn_buf_printf(b, "%s{\"key\":", i ? "," : "");
		rand_string(b);
		cn_buf_printf(b, ",\"value\":%s,\"timestamp\":%s%s}", num, ts,
		              rng() % 2 ? ",\"step\":3" : "");
	}
	cn_buf_puts(b, "],\"params\":[{\"key\":\"p\",\"value\":");
	rand_string(b);
	cn_buf_puts(b, "}]}");
}

CN_TEST(random_bodies_agree)
{
	long n = rounds(20000), declined = 0, differ = 0;
	cn_buf b = CN_BUF_INIT;
	for (long i = 0; i < n; i++) {
		cn_buf_reset(&b);
		rand_log_batch(&b);
		char why[512];
		jd_result r =
		        jd_compare(S, CN_TABLE_LogBatch, b.p, b.len, NULL, 0, why, sizeof why);
		if (r == JD_DIFFER && differ++ < 5) {
			char m[1200];
			snprintf(m, sizeof m, "%s: %.600s", why, b.p);
			cn_test_fail(__FILE__, __LINE__, m);
		}
		/* the generator makes only valid bodies, outside 1e400-like overflow */
		if (r == JD_AGREE_SCAN_DECLINED && declined++ < 5 &&
		    !strstr(b.p, "e3") /* e.g. 9e308: jansson overflow */) {
			char m[700];
			snprintf(m, sizeof m, "scanner declined a valid body: %.600s", b.p);
			cn_test_fail(__FILE__, __LINE__, m);
		}
	}
	CN_CHECK_EQ_INT(differ, 0);
	cn_buf_free(&b);
}

CN_TEST(mutated_bodies_agree)
{
	/* A small mutation fuzzer that runs in every build (libFuzzer runs
	 * fuzz_json_diff where it is available). */
	long n = rounds(100000), differ = 0;
	cn_buf base = CN_BUF_INIT;
	char *m = malloc(4096 + 16);
	static const char tokens[] = "{}[]\",:\\-+.0123456789eEnutrfalsx \x00\xff\xc3\xa9";
	for (long i = 0; i < n && m; i++) {
		if (i % 64 == 0) {
			cn_buf_reset(&base);
			rand_log_batch(&base);
		}
		size_t len = base.len < 4096 ? base.len : 4096;
		memcpy(m, base.p, len);
		int edits = 1 + (int)(rng() % 3);
		for (int e = 0; e < edits && len; e++) {
			size_t at = rng() % len;
			char t = tokens[rng() % (sizeof tokens - 1)];
			switch (rng() % 3) {
			case 0: m[at] = t; break;
			case 1:
				memmove(m + at, m + at + 1, len - at - 1);
				len--;
				break;
			default:
				if (len < 4096) {
					memmove(m + at + 1, m + at, len - at);
					m[at] = t;
					len++;
				}
			}
		}
		char why[512];
		if (jd_compare(S, CN_TABLE_LogBatch, m, len, NULL, 0, why, sizeof why) ==
		            JD_DIFFER &&
		    differ++ < 5) {
			char msg[1200];
			snprintf(msg, sizeof msg, "%s: %.*s", why, (int)(len < 600 ? len : 600), m);
			cn_test_fail(__FILE__, __LINE__, msg);
		}
	}
	CN_CHECK_EQ_INT(differ, 0);
	free(m);
	cn_buf_free(&base);
}

CN_TEST(path_parameters_and_decode_entry)
{
	/* cn_json_decode: path parameters apply on both paths alike */
	cn_codec_kv kv[] = {{"experiment_id", "42"}};
	char why[256];
	const char *body = "{\"experiment_id\":\"1\"}";
	CN_CHECK_EQ_INT(
	        jd_compare(S, CN_TABLE_GetExperiment, body, strlen(body), kv, 1, why, sizeof why),
	        JD_AGREE_BOTH_OK);
	/* a declined body still decodes through cn_json_decode, builder reset */
	cn_err err;
	char *out = NULL;
	CN_CHECK_EQ_INT(tu_round_trip(&tu_schema, TU_ALL, "{\"req\":\"r\",\"old\":5,\"i8\":3}",
	                              NULL, 0, false, &out, &err),
	                CN_OK);
	if (out)
		TU_STR(out, "{\"i8\":3,\"req\":\"r\"}");
	free(out);
}

CN_TEST_MAIN()
