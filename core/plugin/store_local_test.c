/* core/plugin/store_local_test.c: the local store plugin against the conformance suite, and its own
 * edges. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/plugin/loader.h"
#include "core/plugin/store.h"
#include "core/plugin/store_conformance.h"

/* A fresh directory under /tmp; out gets its path. */
static void local_test_tmpdir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/cn-store-local-XXXXXX");
	if (!mkdtemp(out))
		out[0] = '\0';
}

/* Files whose name starts with ".cairn-tmp-" anywhere below dir. */
static int local_test_count_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".cairn-tmp-", 11))
			n++;
		char sub[4096];
		snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += local_test_count_tmp(sub);
	}
	closedir(d);
	return n;
}

/* Empties dir through the store and removes it. */
static void local_test_cleanup(cn_store *s, const char *dir)
{
	cn_err err;
	if (s) {
		CN_CHECK_EQ_INT(cn_store_remove(s, "", true, &err), CN_OK);
		cn_store_close(s);
	}
	CN_CHECK_EQ_INT(rmdir(dir), 0);
}

static cn_store *local_test_open(cn_plugin_registry *reg, const char *uri)
{
	cn_store *s = NULL;
	cn_err err = {0};
	cn_code rc = cn_store_open(reg, uri, &s, &err);
	if (rc != CN_OK)
		fprintf(stderr, "  open %s: %s\n", uri, err.msg);
	CN_CHECK_EQ_INT(rc, CN_OK);
	return s;
}

CN_TEST(local_store_conformance)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	char dir[64], uri[96];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK(dir[0]);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	snprintf(uri, sizeof uri, "file://%s", dir);
	cn_store *s = local_test_open(reg, uri);
	if (s) {
		CN_CHECK_STR(cn_plugin_name(cn_store_plugin(s)), "local");
		CN_CHECK_EQ_INT(cn_store_conformance_run(s, "local"), 0);
		CN_CHECK_EQ_INT(local_test_count_tmp(dir), 0);
	}
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

/*
 * The same suite through the host's defaults: the local plugin registered
 * again with no capabilities and no stat op, so ranges, paging, stat and
 * recursive remove are all done by core/plugin/store.c.
 */
CN_TEST(local_store_conformance_host_defaults)
{
	cn_plugin_registry *reg = NULL;
	cn_plugin *local = NULL, *basic = NULL;
	cn_err err = {0};
	char dir[64];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local", &local, &err),
	                CN_OK);
	if (!local) {
		cn_plugin_registry_close(reg);
		return;
	}
	static cairn_store_ops basic_ops;
	basic_ops = *cn_plugin_store_ops(local);
	basic_ops.stat = NULL;
	static cairn_plugin_descriptor basic_desc;
	basic_desc = (cairn_plugin_descriptor){
	        CAIRN_PLUGIN_HEAD,     .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
	        .name = "local_basic", .version = "test",
	        .capabilities = 0,     .ops = &basic_ops,
	};
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &basic_desc, "test", &basic, &err), CN_OK);
	cn_store *s = NULL;
	if (basic)
		CN_CHECK_EQ_INT(cn_store_open_with(basic, dir, &s, &err), CN_OK);
	if (s) {
		CN_CHECK_EQ_INT(cn_store_caps(s), 0);
		cn_store_conformance_opts o = {.big_object_bytes = 8 << 20};
		CN_CHECK_EQ_INT(cn_store_conformance_run_opts(s, "local-basic", &o), 0);
		CN_CHECK_EQ_INT(local_test_count_tmp(dir), 0);
	}
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

CN_TEST(local_store_uri_forms)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	char dir[64], uri[160], path[160];
	struct stat st;
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);

	/* Plain path; the root is created when missing. */
	snprintf(uri, sizeof uri, "%s/plain/root", dir);
	cn_store *s = local_test_open(reg, uri);
	CN_CHECK(stat(uri, &st) == 0 && S_ISDIR(st.st_mode));
	if (s) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "x/y.txt", "1", 1, &err), CN_OK);
		snprintf(path, sizeof path, "%s/plain/root/x/y.txt", dir);
		CN_CHECK(stat(path, &st) == 0 && st.st_size == 1);
		cn_store_close(s);
	}
	/* file://localhost/ with a percent-encoded space, and a trailing slash. */
	snprintf(uri, sizeof uri, "file://localhost%s/with%%20space/", dir);
	s = local_test_open(reg, uri);
	snprintf(path, sizeof path, "%s/with space", dir);
	CN_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	cn_store_close(s);
	/* file:/abs (one slash) is a path too. */
	snprintf(uri, sizeof uri, "file:%s/one-slash", dir);
	s = local_test_open(reg, uri);
	cn_store_close(s);

	static const char *const bad[] = {"file://otherhost/tmp/x", "file:relative",
	                                  "file:///tmp/nul%00byte", "file:///tmp/bad%zzhex"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		s = NULL;
		CN_CHECK_EQ_INT(cn_store_open(reg, bad[i], &s, &err), CN_INVALID_PARAMETER_VALUE);
		CN_CHECK(s == NULL);
	}

	/* Clean up with a store on the whole temp dir. */
	s = local_test_open(reg, dir);
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

CN_TEST(local_store_scheme_routing)
{
	CN_CHECK_STR(cn_store_plugin_for_uri("file:///srv/a"), "local");
	CN_CHECK_STR(cn_store_plugin_for_uri("/srv/a"), "local");
	CN_CHECK_STR(cn_store_plugin_for_uri("./mlruns"), "local");
	CN_CHECK_STR(cn_store_plugin_for_uri("mlruns"), "local");
	CN_CHECK_STR(cn_store_plugin_for_uri("dir/with:colon"), "local");
	CN_CHECK_STR(cn_store_plugin_for_uri("s3://bucket/prefix"), "s3");
	CN_CHECK_STR(cn_store_plugin_for_uri("gs://bucket"), "gcs");
	CN_CHECK_STR(cn_store_plugin_for_uri("wasbs://c@acct.blob.core.windows.net/p"), "azure");
	CN_CHECK_STR(cn_store_plugin_for_uri("abfss://c@acct.dfs.core.windows.net/p"), "azure");
	CN_CHECK(cn_store_plugin_for_uri("ftp://host/x") == NULL);
	CN_CHECK(cn_store_plugin_for_uri("mlflow-artifacts:/x") == NULL);
	CN_CHECK(cn_store_plugin_for_uri("") == NULL);

	/* A scheme whose plugin is not installed, and one nobody serves. */
	char dir[64];
	local_test_tmpdir(dir, sizeof dir);
	cn_plugin_registry *reg = NULL;
	cn_err err;
	cn_store *s = NULL;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, dir, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_store_open(reg, "s3://bucket/prefix", &s, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK(strstr(err.msg, "cairn_store_s3.so") != NULL);
	CN_CHECK_EQ_INT(cn_store_open(reg, "ftp://host/x", &s, &err), CN_INVALID_PARAMETER_VALUE);
	CN_CHECK(strstr(err.msg, "ftp://host/x") != NULL);
	CN_CHECK(s == NULL);
	cn_plugin_registry_close(reg);
	rmdir(dir);
}

/* The plugin refuses unsafe paths itself, with the host's checks bypassed. */
CN_TEST(local_store_defence_in_depth)
{
	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL;
	cn_err err;
	char dir[64], outside[128];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local", &p, &err), CN_OK);
	if (!p) {
		cn_plugin_registry_close(reg);
		return;
	}
	const cairn_store_ops *ops = cn_plugin_store_ops(p);
	char root[96];
	snprintf(root, sizeof root, "%s/root", dir);
	cairn_store *st = NULL;
	cairn_error e = {0};
	CN_CHECK_EQ_INT(ops->open(root, cn_plugin_host_api(), NULL, &st, &e), CAIRN_OK);
	if (st) {
		static const char *const bad[] = {
		        "../escape", "/tmp/abs", "a/../../escape", "a\\b",           "a//b", ".",
		        "..",        "a/",       ".cairn-tmp-x",   "d/.cairn-tmp-1",
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			cairn_store_writer *w = NULL;
			cairn_store_reader *r = NULL;
			cairn_object_info info = {0};
			char tok[CAIRN_PAGE_TOKEN_MAX];
			CN_CHECK_EQ_INT(ops->put_begin(st, bad[i], -1, &w, &e), CAIRN_ERR_INVALID);
			CN_CHECK_EQ_INT(e.code, CAIRN_ERR_INVALID);
			CN_CHECK_EQ_INT(ops->get_open(st, bad[i], 0, -1, &r, &info, &e),
			                CAIRN_ERR_INVALID);
			CN_CHECK_EQ_INT(ops->stat(st, bad[i], &info, &e), CAIRN_ERR_INVALID);
			CN_CHECK_EQ_INT(ops->remove(st, bad[i], 1, &e), CAIRN_ERR_INVALID);
			CN_CHECK_EQ_INT(
			        ops->list(st, bad[i], NULL, 0, NULL, NULL, tok, sizeof tok, &e),
			        CAIRN_ERR_INVALID);
			CN_CHECK(w == NULL && r == NULL);
		}
		CN_CHECK_EQ_INT(ops->put_begin(st, NULL, -1, NULL, &e), CAIRN_ERR_INVALID);
		ops->close(st);
	}
	snprintf(outside, sizeof outside, "%s/escape", dir);
	CN_CHECK(access(outside, F_OK) != 0);

	cn_store *s = local_test_open(reg, dir);
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

typedef struct local_test_seen {
	int n;
	int tmp;
} local_test_seen;

static int local_test_seen_cb(void *arg, const cairn_list_entry *e)
{
	local_test_seen *seen = arg;
	seen->n++;
	if (strstr(e->path, ".cairn-tmp-"))
		seen->tmp++;
	return 0;
}

CN_TEST(local_store_hides_temp_files_and_blocks_in_the_way)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	cn_store_info info;
	char dir[64], path[160], tok[CAIRN_PAGE_TOKEN_MAX];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	cn_store *s = local_test_open(reg, dir);
	if (!s) {
		cn_plugin_registry_close(reg);
		return;
	}
	/* A temp file a crash left behind is not an artifact, and its name is
	 * not usable as one (the host allows it; the plugin refuses). */
	snprintf(path, sizeof path, "%s/.cairn-tmp-orphan", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CN_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "visible", "v", 1, &err), CN_OK);
	local_test_seen seen = {0};
	CN_CHECK_EQ_INT(
	        cn_store_list(s, "", NULL, 0, local_test_seen_cb, &seen, tok, sizeof tok, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(seen.n, 1);
	CN_CHECK_EQ_INT(seen.tmp, 0);
	CN_CHECK_EQ_INT(cn_store_stat(s, ".cairn-tmp-orphan", &info, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_store_list(s, "", NULL, 0, NULL, NULL, tok, sizeof tok, &err),
	                CN_INVALID_PARAMETER_VALUE);

	/* A directory where the object goes: commit fails, nothing is left. */
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "d/f", "1", 1, &err), CN_OK);
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "d", "2", 1, &err), CN_RESOURCE_ALREADY_EXISTS);
	CN_CHECK(strstr(err.msg, "local: ") == err.msg);
	/* A file where a directory must be: put_begin fails. */
	CN_CHECK_EQ_INT(cn_store_put_bytes(s, "d/f/g", "3", 1, &err), CN_RESOURCE_ALREADY_EXISTS);
	CN_CHECK_EQ_INT(cn_store_stat(s, "d", &info, &err), CN_OK);
	CN_CHECK(info.is_dir);
	/* Only the orphan made above remains. */
	CN_CHECK_EQ_INT(local_test_count_tmp(dir), 1);
	CN_CHECK_EQ_INT(unlink(path), 0);

	/* Permissions (root ignores them, so only as another user). */
	if (geteuid() != 0) {
		CN_CHECK_EQ_INT(cn_store_put_bytes(s, "locked/f", "1", 1, &err), CN_OK);
		snprintf(path, sizeof path, "%s/locked", dir);
		CN_CHECK_EQ_INT(chmod(path, 0), 0);
		cn_store_reader *r = NULL;
		CN_CHECK_EQ_INT(cn_store_get_open(s, "locked/f", 0, -1, &r, NULL, &err),
		                CN_PERMISSION_DENIED);
		CN_CHECK_EQ_INT(chmod(path, 0755), 0);
	}
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

/* A store without the multipart and presign capabilities says so clearly
 * (the gateway then proxies bytes itself) and the host checks arguments
 * before any plugin sees them. */
CN_TEST(store_mpu_and_presign_need_capabilities)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	char dir[64], id[CAIRN_UPLOAD_ID_MAX], url[256];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	cn_store *s = local_test_open(reg, dir);
	if (s && !(cn_store_caps(s) & CAIRN_STORE_CAP_MULTIPART)) {
		CN_CHECK_EQ_INT(cn_store_mpu_create(s, "a/b", id, sizeof id, &err),
		                CN_NOT_IMPLEMENTED);
		CN_CHECK(strstr(err.msg, "multipart") != NULL);
		cairn_mpu_part part = {1, "etag"};
		CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "a/b", "u", &part, 1, &err),
		                CN_NOT_IMPLEMENTED);
	}
	if (s && !(cn_store_caps(s) & CAIRN_STORE_CAP_PRESIGN)) {
		CN_CHECK_EQ_INT(
		        cn_store_presign(s, "a/b", "GET", NULL, 0, 60, url, sizeof url, &err),
		        CN_NOT_IMPLEMENTED);
		CN_CHECK(strstr(err.msg, "presigned") != NULL);
	}
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
}

/* Multipart staging is hidden and confined; stale uploads expire. */
CN_TEST(local_store_multipart_staging)
{
	cn_plugin_registry *reg = NULL;
	cn_err err;
	cn_store_info info;
	char dir[64], path[256], tok[CAIRN_PAGE_TOKEN_MAX];
	char id[CAIRN_UPLOAD_ID_MAX], old_id[CAIRN_UPLOAD_ID_MAX], tag[CAIRN_ETAG_MAX];
	local_test_tmpdir(dir, sizeof dir);
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("store.local.mpu_max_age_s", "60", &err), CN_OK);
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	cn_store *s = local_test_open(reg, dir);
	if (!s) {
		cn_plugin_registry_close(reg);
		return;
	}
	CN_CHECK(cn_store_caps(s) & CAIRN_STORE_CAP_MULTIPART);
	CN_CHECK_EQ_INT(cn_store_mpu_create(s, "a/obj", old_id, sizeof old_id, &err), CN_OK);
	cn_store_writer *w = NULL;
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "a/obj", old_id, 1, 3, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, "abc", 3, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, tag, sizeof tag, &err), CN_OK);
		CN_CHECK_EQ_INT((int)strlen(tag), 64);
	}
	/* A part shorter than announced is refused. */
	CN_CHECK_EQ_INT(cn_store_mpu_part_begin(s, "a/obj", old_id, 2, 10, &w, &err), CN_OK);
	if (w) {
		CN_CHECK_EQ_INT(cn_store_put_write(w, "x", 1, &err), CN_OK);
		CN_CHECK_EQ_INT(cn_store_mpu_part_commit(w, tag, sizeof tag, &err),
		                CN_INVALID_PARAMETER_VALUE);
	}
	/* Nothing of the upload is listed, and its staging name is no artifact path. */
	local_test_seen seen = {0};
	CN_CHECK_EQ_INT(
	        cn_store_list(s, "", NULL, 0, local_test_seen_cb, &seen, tok, sizeof tok, &err),
	        CN_OK);
	CN_CHECK_EQ_INT(seen.n, 0);
	snprintf(path, sizeof path, ".cairn-tmp-mpu-%.40s/path", old_id);
	CN_CHECK_EQ_INT(cn_store_stat(s, path, &info, &err), CN_INVALID_PARAMETER_VALUE);
	/* The id is bound to its path; ids that are not ours find nothing. */
	cairn_mpu_part part = {1, tag};
	CN_CHECK_EQ_INT(cn_store_mpu_complete(s, "b/other", old_id, &part, 1, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "a/obj", "../../etc", &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	/* Age the upload past store.local.mpu_max_age_s: the next create removes it. */
	snprintf(path, sizeof path, "%s/.cairn-tmp-mpu-%.40s", dir, old_id);
	struct timespec past[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	CN_CHECK_EQ_INT(utimensat(AT_FDCWD, path, past, 0), 0);
	cn_store_close(s);
	s = local_test_open(reg, dir); /* a fresh store sweeps on its first create */
	if (s) {
		CN_CHECK_EQ_INT(cn_store_mpu_create(s, "a/obj", id, sizeof id, &err), CN_OK);
		CN_CHECK(access(path, F_OK) != 0);
		CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "a/obj", old_id, &err),
		                CN_RESOURCE_DOES_NOT_EXIST);
		CN_CHECK_EQ_INT(cn_store_mpu_abort(s, "a/obj", id, &err), CN_OK);
		CN_CHECK_EQ_INT(local_test_count_tmp(dir), 0);
	}
	local_test_cleanup(s, dir);
	cn_plugin_registry_close(reg);
	cn_plugin_host_config_reset();
}

CN_TEST_MAIN()
