/* core/cli/artifacts_test.c: `cairn artifacts` pieces (JSON reader, progress text, URL and path
 * helpers) and whole commands against a file:// store, in process. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/cli/artifacts_remote.h"
#include "core/cli/cli.h"
#include "core/cli/cli_json.h"
#include "core/cli/cli_progress.h"

CN_TEST(json_reader)
{
	const char *doc =
	        "{\"run\": {\"info\": {\"artifact_uri\": \"mlflow-artifacts:/1/a\\/b\", "
	        "\"n\": -1.5e3}}, \"files\": [{\"path\": \"caf\\u00e9\\ud83d\\ude00\", "
	        "\"is_dir\": true, \"file_size\": \"42\"}, {}], \"x\": null, \"t\": false}";
	cli_json *j = cli_json_parse(doc, strlen(doc));
	CN_CHECK(j != NULL);
	CN_CHECK_STR(cli_json_str(j, "run", "info", "artifact_uri", NULL),
	             "mlflow-artifacts:/1/a/b");
	CN_CHECK(cli_json_str(j, "run", "info", "n", NULL) == NULL); /* a number, not a string */
	const cli_json *files = cli_json_get(j, "files");
	CN_CHECK(files && files->type == CLI_JSON_ARRAY && files->child);
	if (files && files->child) {
		CN_CHECK_STR(cli_json_str(files->child, "path", NULL),
		             "caf\xc3\xa9\xf0\x9f\x98\x80");
		CN_CHECK(cli_json_get(files->child, "is_dir")->b);
		CN_CHECK(files->child->next && files->child->next->type == CLI_JSON_OBJECT);
	}
	CN_CHECK(cli_json_get(j, "t") && !cli_json_get(j, "t")->b);
	CN_CHECK(cli_json_get(j, "x") && cli_json_get(j, "x")->type == CLI_JSON_NULL);
	cli_json_free(j);
	static const char *const bad[] = {
	        "",         "{",           "{\"a\" 1}", "[1,]",       "\"\\x\"", "{} x",
	        "\"\x01\"", "\"\\ud800\"", "[tru]",     "{\"a\":1,}", "\"abc",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CN_CHECK(cli_json_parse(bad[i], strlen(bad[i])) == NULL);
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	CN_CHECK(cli_json_parse(deep, sizeof deep) == NULL); /* deeper than the limit */
	/* Not NUL-terminated input: only len bytes are read. */
	cli_json *short_doc = cli_json_parse("[1]xyz", 3);
	CN_CHECK(short_doc != NULL);
	cli_json_free(short_doc);
}

CN_TEST(progress_text)
{
	char b[64];
	cli_progress_bytes(b, sizeof b, 512);
	CN_CHECK_STR(b, "512 B");
	cli_progress_bytes(b, sizeof b, 1.5 * 1024 * 1024);
	CN_CHECK_STR(b, "1.5 MiB");
	char line[256];
	cli_progress_format(line, sizeof line, 12 << 20, 100 << 20, 2.0, 1, 3);
	CN_CHECK_STR(line, "  12.0 MiB / 100.0 MiB   12%  6.0 MiB/s  ETA 0:15  (1/3 files)");
	cli_progress_format(line, sizeof line, 1 << 20, 8000ll << 20, 1.0, 0, 1);
	CN_CHECK(strstr(line, "ETA 2:13:19") != NULL);
	cli_progress_format(line, sizeof line, 0, 10, 0, 0, 1);
	CN_CHECK(strstr(line, "ETA --:--") != NULL);

	/* Not a terminal and not forced: only the summary. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cli_progress p;
	cli_progress_init(&p, f, false, false, "uploading");
	cli_progress_expect(&p, 2048, 1);
	cli_progress_add(&p, 2048);
	cli_progress_file_done(&p);
	cli_progress_finish(&p, "uploaded", true);
	fclose(f);
	CN_CHECK(strncmp(text, "uploaded 1 file (2.0 KiB) in ", 29) == 0);
	CN_CHECK(strchr(text, '\r') == NULL);
	free(text);
	/* Forced: the bar from the first byte, then a newline and the summary. */
	f = open_memstream(&text, &len);
	cli_progress_init(&p, f, false, true, "downloading");
	cli_progress_expect(&p, 10, 2);
	cli_progress_add(&p, 10);
	cli_progress_finish(&p, "downloaded", true);
	fclose(f);
	CN_CHECK(strncmp(text, "\rdownloading  10 B / 10 B  100%", 31) == 0);
	CN_CHECK(strstr(text, "\ndownloaded 0 files (10 B)") != NULL);
	free(text);
}

CN_TEST(urls_and_paths)
{
	char out[256];
	cn_err err;
	CN_CHECK(cli_url_encode("a b/c%d?e&f=g#h~-._", true, out, sizeof out));
	CN_CHECK_STR(out, "a%20b/c%25d%3Fe%26f%3Dg%23h~-._");
	CN_CHECK(cli_url_encode("a/b", false, out, sizeof out));
	CN_CHECK_STR(out, "a%2Fb");
	CN_CHECK(!cli_url_encode("aaaa", true, out, 4));
	CN_CHECK_EQ_INT(cli_proxied_path("mlflow-artifacts:/1/r/artifacts", out, sizeof out, &err),
	                CN_OK);
	CN_CHECK_STR(out, "1/r/artifacts");
	CN_CHECK_EQ_INT(cli_proxied_path("mlflow-artifacts://h:5000/1/r/", out, sizeof out, &err),
	                CN_OK);
	CN_CHECK_STR(out, "1/r");
	CN_CHECK_EQ_INT(cli_proxied_path("mlflow-artifacts:/", out, sizeof out, &err), CN_OK);
	CN_CHECK_STR(out, "");
	CN_CHECK_EQ_INT(cli_proxied_path("mlflow-artifacts:/1/../../etc", out, sizeof out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cli_proxied_path("s3://b/x", out, sizeof out, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cli_join(out, sizeof out, "a", "b/c", &err), CN_OK);
	CN_CHECK_STR(out, "a/b/c");
	CN_CHECK_EQ_INT(cli_join(out, sizeof out, "", "b", &err), CN_OK);
	CN_CHECK_STR(out, "b");
	CN_CHECK_EQ_INT(cli_join(out, sizeof out, "a", "", &err), CN_OK);
	CN_CHECK_STR(out, "a");
}

/* ------------------------------------------------------------------------ */

static int run(const char *const *args)
{
	char *argv[32];
	int argc = 0;
	while (args[argc] && argc < 31) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	return cli_artifacts_main(argc, argv);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	CN_CHECK(f != NULL);
	if (f) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
}

static bool same_file(const char *a, const char *b)
{
	FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
	bool same = x && y;
	while (same) {
		int c = fgetc(x), d = fgetc(y);
		same = c == d;
		if (c == EOF)
			break;
	}
	if (x)
		fclose(x);
	if (y)
		fclose(y);
	return same;
}

CN_TEST(round_trip_through_a_file_store)
{
	char tmp[] = "/tmp/cn-cli-artifacts-XXXXXX", path[256], uri[300], dst[256], got[300];
	CN_CHECK(mkdtemp(tmp) != NULL);
	snprintf(path, sizeof path, "%s/src/sub", tmp);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
	CN_CHECK_EQ_INT(system(cmd), 0);
	/* A file larger than the transfer buffer, a nested one, an empty one. */
	size_t big = (3 << 20) + 17;
	char *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)(i * 7 + i / 4096);
	snprintf(path, sizeof path, "%s/src/big.bin", tmp);
	write_file(path, data, big);
	free(data);
	snprintf(path, sizeof path, "%s/src/sub/a.txt", tmp);
	write_file(path, "hello", 5);
	snprintf(path, sizeof path, "%s/src/empty", tmp);
	write_file(path, "", 0);
	snprintf(uri, sizeof uri, "file://%s/store", tmp);
	snprintf(path, sizeof path, "%s/src", tmp);
	snprintf(dst, sizeof dst, "%s/dst", tmp);
	const char *pd = CN_TEST_PLUGIN_DIR;

	CN_CHECK_EQ_INT(
	        run((const char *[]){"upload", "--local-path", path, "--artifact-uri", uri,
	                             "--artifact-path", "run/files", "--plugin-dir", pd, NULL}),
	        0);
	snprintf(got, sizeof got, "%s/store/run/files/sub/a.txt", tmp);
	CN_CHECK(access(got, F_OK) == 0);
	/* One file goes under its own name. */
	snprintf(path, sizeof path, "%s/src/sub/a.txt", tmp);
	CN_CHECK_EQ_INT(run((const char *[]){"upload", "--local-file", path, "--artifact-uri", uri,
	                                     "--plugin-dir", pd, NULL}),
	                0);
	snprintf(got, sizeof got, "%s/store/a.txt", tmp);
	CN_CHECK(access(got, F_OK) == 0);
	CN_CHECK_EQ_INT(run((const char *[]){"list", "--artifact-uri", uri, "--artifact-path",
	                                     "run/files", "--plugin-dir", pd, NULL}),
	                0);
	/* Download the directory: it arrives under its own name. */
	CN_CHECK_EQ_INT(run((const char *[]){"download", "--artifact-uri", uri, "--artifact-path",
	                                     "run/files", "--dst-path", dst, "--plugin-dir", pd,
	                                     "--progress", NULL}),
	                0);
	static const char *const files[] = {"big.bin", "sub/a.txt", "empty"};
	for (size_t i = 0; i < 3; i++) {
		char a[400], b[400];
		snprintf(a, sizeof a, "%s/src/%s", tmp, files[i]);
		snprintf(b, sizeof b, "%s/files/%s", dst, files[i]);
		CN_CHECK(same_file(a, b));
	}
	/* And one file. */
	CN_CHECK_EQ_INT(run((const char *[]){"download", "--artifact-uri", uri, "--artifact-path",
	                                     "run/files/sub/a.txt", "--dst-path", dst,
	                                     "--plugin-dir", pd, NULL}),
	                0);
	snprintf(got, sizeof got, "%s/a.txt", dst);
	CN_CHECK(same_file(path, got));

	/* Errors: usage is 2, a failed transfer 1, and nothing is written. */
	CN_CHECK_EQ_INT(run((const char *[]){"list", "--plugin-dir", pd, NULL}), 2);
	CN_CHECK_EQ_INT(run((const char *[]){"list", "--run-id", "r", "--artifact-uri", uri, NULL}),
	                2);
	CN_CHECK_EQ_INT(run((const char *[]){"upload", "--artifact-uri", uri, NULL}), 2);
	CN_CHECK_EQ_INT(run((const char *[]){"upload", "--local-path", "/nonexistent/x",
	                                     "--artifact-uri", uri, NULL}),
	                2);
	CN_CHECK_EQ_INT(run((const char *[]){"frobnicate", NULL}), 2);
	CN_CHECK_EQ_INT(
	        run((const char *[]){"list", "--artifact-uri", uri, "--bogus-flag", "1", NULL}), 2);
	CN_CHECK_EQ_INT(
	        run((const char *[]){"download", "--artifact-uri", uri, "--artifact-path",
	                             "no/such", "--dst-path", dst, "--plugin-dir", pd, NULL}),
	        1);
	snprintf(got, sizeof got, "%s/such", dst);
	CN_CHECK(access(got, F_OK) != 0);
	CN_CHECK_EQ_INT(
	        run((const char *[]){"upload", "--local-path", path, "--artifact-uri", uri,
	                             "--artifact-path", "../escape", "--plugin-dir", pd, NULL}),
	        1);
	snprintf(got, sizeof got, "%s/escape", tmp);
	CN_CHECK(access(got, F_OK) != 0);
	CN_CHECK_EQ_INT(run((const char *[]){"list", "--artifact-uri", "ftp://h/x", "--plugin-dir",
	                                     pd, NULL}),
	                1);
	/* A proxied URI with the store given directly. */
	char dest[300];
	snprintf(dest, sizeof dest, "file://%s/store", tmp);
	CN_CHECK_EQ_INT(
	        run((const char *[]){"download", "--artifact-uri",
	                             "mlflow-artifacts:/run/files/sub", "--dst-path", dst,
	                             "--artifacts-destination", dest, "--plugin-dir", pd, NULL}),
	        0);
	snprintf(got, sizeof got, "%s/a.txt", dst);
	CN_CHECK(same_file(path, got));
	/* A proxied URI without a destination needs a server: none listens here. */
	CN_CHECK_EQ_INT(run((const char *[]){"list", "--artifact-uri", "mlflow-artifacts:/x",
	                                     "--tracking-uri", "http://127.0.0.1:1", NULL}),
	                1);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	CN_CHECK_EQ_INT(system(cmd), 0);
}

CN_TEST_MAIN()
