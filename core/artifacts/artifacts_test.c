/* core/artifacts/artifacts_test.c: URI forms, confinement, the store cache. */
#include "core/artifacts/artifacts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_test.h"

typedef struct art_fixture {
	char dir[64];
	char dest[96];
	cn_plugin_registry *reg;
	cn_artifacts *a;
} art_fixture;

static void art_setup(art_fixture *f)
{
	cn_err err;
	snprintf(f->dir, sizeof f->dir, "/tmp/cn-artifacts-XXXXXX");
	CN_CHECK(mkdtemp(f->dir) != NULL);
	snprintf(f->dest, sizeof f->dest, "%s/dest/", f->dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&f->reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_artifacts_open(&f->a, f->reg, f->dest, &err), CN_OK);
}

static void art_teardown(art_fixture *f)
{
	cn_err err;
	cn_store *s = NULL;
	cn_artifacts_close(f->a);
	if (cn_store_open(f->reg, f->dir, &s, &err) == CN_OK) {
		cn_store_remove(s, "", true, &err);
		cn_store_close(s);
	}
	rmdir(f->dir);
	cn_plugin_registry_close(f->reg);
}

CN_TEST(proxied_uris_land_under_the_destination)
{
	art_fixture f;
	art_setup(&f);
	cn_err err;
	char path[CAIRN_PATH_MAX + 1], file[256];
	static const char *const forms[] = {"mlflow-artifacts:/1/abc/artifacts",
	                                    "mlflow-artifacts:///1/abc/artifacts/",
	                                    "mlflow-artifacts://localhost:5000/1/abc/artifacts"};
	cn_store *first = NULL;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		cn_store *s = NULL;
		CN_CHECK_EQ_INT(cn_artifacts_locate(f.a, forms[i], "model/MLmodel", &s, path,
		                                    sizeof path, &err),
		                CN_OK);
		CN_CHECK_STR(path, "1/abc/artifacts/model/MLmodel");
		if (i == 0)
			first = s;
		CN_CHECK(s == first); /* one cached store per root */
	}
	CN_CHECK(cn_artifacts_is_proxied(forms[0]));
	CN_CHECK(!cn_artifacts_is_proxied("s3://b/p"));
	if (first) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(first, path, "x", 1, &err), CN_OK);
		snprintf(file, sizeof file, "%s/dest/1/abc/artifacts/model/MLmodel", f.dir);
		struct stat st;
		CN_CHECK(stat(file, &st) == 0 && st.st_size == 1);
	}
	/* The root of the destination itself. */
	cn_store *s = NULL;
	CN_CHECK_EQ_INT(
	        cn_artifacts_locate(f.a, "mlflow-artifacts:/", NULL, &s, path, sizeof path, &err),
	        CN_OK);
	CN_CHECK_STR(path, "");
	art_teardown(&f);
}

CN_TEST(direct_uris_are_their_own_root)
{
	art_fixture f;
	art_setup(&f);
	cn_err err;
	char uri[160], path[CAIRN_PATH_MAX + 1];
	cn_store *a = NULL, *b = NULL;
	snprintf(uri, sizeof uri, "file://%s/direct/2/run/artifacts", f.dir);
	CN_CHECK_EQ_INT(cn_artifacts_locate(f.a, uri, "a.txt", &a, path, sizeof path, &err), CN_OK);
	CN_CHECK_STR(path, "a.txt");
	strcat(uri, "/");
	CN_CHECK_EQ_INT(cn_artifacts_locate(f.a, uri, NULL, &b, path, sizeof path, &err), CN_OK);
	CN_CHECK_STR(path, "");
	CN_CHECK(a == b);
	art_teardown(&f);
}

CN_TEST(unsafe_paths_and_unknown_schemes_are_refused)
{
	art_fixture f;
	art_setup(&f);
	cn_err err;
	char path[CAIRN_PATH_MAX + 1];
	cn_store *s = NULL;
	static const char *const bad_sub[] = {"../x", "a/../../x", "/etc/passwd", "a//b",
	                                      "a\\b", "a/./b",     "a\x01"};
	for (size_t i = 0; i < sizeof bad_sub / sizeof bad_sub[0]; i++)
		CN_CHECK_EQ_INT(cn_artifacts_locate(f.a, "mlflow-artifacts:/1", bad_sub[i], &s,
		                                    path, sizeof path, &err),
		                CN_INVALID_PARAMETER_VALUE);
	static const char *const bad_uri[] = {"mlflow-artifacts:/1/../../etc",
	                                      "mlflow-artifacts://h/a/./b", "ftp://host/x", ""};
	for (size_t i = 0; i < sizeof bad_uri / sizeof bad_uri[0]; i++)
		CN_CHECK_EQ_INT(
		        cn_artifacts_locate(f.a, bad_uri[i], NULL, &s, path, sizeof path, &err),
		        CN_INVALID_PARAMETER_VALUE);
	char longsub[CAIRN_PATH_MAX + 10];
	memset(longsub, 'a', sizeof longsub - 1);
	longsub[sizeof longsub - 1] = '\0';
	CN_CHECK_EQ_INT(cn_artifacts_locate(f.a, "mlflow-artifacts:/1", longsub, &s, path,
	                                    sizeof path, &err),
	                CN_INVALID_PARAMETER_VALUE);
	art_teardown(&f);
}

CN_TEST_MAIN()
