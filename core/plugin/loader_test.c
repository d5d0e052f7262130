/* core/plugin/loader_test.c: the loader accepts good plugins and refuses each broken one, saying
 * why. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_test.h"
#include "core/log.h"
#include "core/plugin/loader.h"

typedef struct loader_test_log {
	char path[64];
	int fd;
	int saved;
} loader_test_log;

/* Sends log lines to a temp file until loader_test_log_end. */
static void loader_test_log_begin(loader_test_log *l)
{
	snprintf(l->path, sizeof l->path, "/tmp/cn-loader-log-XXXXXX");
	l->fd = mkstemp(l->path);
	l->saved = l->fd >= 0 ? cn_log_set_fd(l->fd) : -1;
}

/* Restores logging and returns what was logged (caller frees). */
static char *loader_test_log_end(loader_test_log *l)
{
	if (l->fd < 0)
		return strdup("");
	cn_log_set_fd(l->saved);
	off_t n = lseek(l->fd, 0, SEEK_END);
	char *out = malloc((size_t)n + 1);
	if (out && pread(l->fd, out, (size_t)n, 0) == n)
		out[n] = '\0';
	else if (out)
		out[0] = '\0';
	close(l->fd);
	unlink(l->path);
	return out;
}

/* Loads a broken plugin, expects refusal, and checks the message holds
 * every needle (NULL-terminated) and the log names the event. */
static void loader_test_refused(const char *name, const char *event, const char *const *needles)
{
	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL;
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_BROKEN_PLUGIN_DIR, &err), CN_OK);
	loader_test_log log;
	loader_test_log_begin(&log);
	cn_code rc = cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, name, &p, &err);
	char *logged = loader_test_log_end(&log);
	CN_CHECK_EQ_INT(rc, CN_INVALID_STATE);
	CN_CHECK(p == NULL);
	CN_CHECK(cn_plugin_find(reg, CAIRN_PLUGIN_ARTIFACT_STORE, name) == NULL);
	for (const char *const *n = needles; *n; n++) {
		if (!strstr(err.msg, *n)) {
			char m[1400];
			snprintf(m, sizeof m, "'%s' not in \"%s\"", *n, err.msg);
			cn_test_fail(__FILE__, __LINE__, m);
		}
	}
	/* Every message names the plugin and its file. */
	CN_CHECK(strstr(err.msg, name) != NULL);
	CN_CHECK(strstr(err.msg, CN_TEST_BROKEN_PLUGIN_DIR) != NULL);
	char ev[64];
	snprintf(ev, sizeof ev, "event=%s", event);
	CN_CHECK(logged && strstr(logged, ev) != NULL);
	free(logged);
	cn_plugin_registry_close(reg);
}

CN_TEST(loader_refuses_bad_magic)
{
	const char *const n[] = {"bad magic 0xdeadbeef (expected 0xca1a5eed)", "not a Cairn plugin",
	                         NULL};
	loader_test_refused("bad_magic", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_refuses_old_abi_major)
{
	const char *const n[] = {"built for Cairn plugin ABI 0.9, this host speaks 1.0", NULL};
	loader_test_refused("old_abi", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_refuses_newer_abi_minor)
{
	const char *const n[] = {"built for Cairn plugin ABI 1.7, this host speaks 1.0", NULL};
	loader_test_refused("new_minor", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_refuses_missing_entry)
{
	const char *const n[] = {"no 'cairn_plugin_entry' symbol", "hint:", NULL};
	loader_test_refused("no_entry", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_refuses_missing_required_op)
{
	const char *const n[] = {"required op 'get_read' is NULL", NULL};
	loader_test_refused("missing_op", "PLUGIN-REFUSED", n);
}

CN_TEST(loader_refuses_wrong_kind)
{
	const char *const n[] = {"kind 2 (deploy), expected 1 (store)", NULL};
	loader_test_refused("wrong_kind", "PLUGIN-REFUSED", n);
}

CN_TEST(loader_refuses_small_descriptor)
{
	const char *const n[] = {"descriptor size 12 is smaller than ABI 1.0's", NULL};
	loader_test_refused("small_size", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_names_every_differing_field)
{
	const char *const n[] = {
	        "built for Cairn plugin ABI 1.3, this host speaks 1.0",
	        "name 'someone_else' does not match its file name ('many_wrong')",
	        "no version string",
	        "required op 'get_read' is NULL",
	        "capability MULTIPART set but op 'mpu_create' is NULL",
	        "capability MULTIPART set but op 'mpu_abort' is NULL",
	        NULL,
	};
	loader_test_refused("many_wrong", "PLUGIN-ABI-MISMATCH", n);
}

CN_TEST(loader_refuses_failing_init)
{
	const char *const n[] = {"init failed (status 6)", "credentials for init_fails are missing",
	                         NULL};
	loader_test_refused("init_fails", "PLUGIN-REFUSED", n);
}

CN_TEST(loader_loads_local_once)
{
	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL, *again = NULL;
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	CN_CHECK_STR(cn_plugin_registry_dir(reg), CN_TEST_PLUGIN_DIR);
	CN_CHECK(cn_plugin_find(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local") == NULL);
	loader_test_log log;
	loader_test_log_begin(&log);
	cn_code rc = cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local", &p, &err);
	char *logged = loader_test_log_end(&log);
	CN_CHECK_EQ_INT(rc, CN_OK);
	CN_CHECK(logged && strstr(logged, "event=PLUGIN-LOADED") != NULL);
	free(logged);
	if (p) {
		CN_CHECK_STR(cn_plugin_name(p), "local");
		CN_CHECK_STR(cn_plugin_version(p), CAIRN_VERSION);
		CN_CHECK(strstr(cn_plugin_origin(p), "/cairn_store_local.so") != NULL);
		CN_CHECK_EQ_INT(cn_plugin_kind(p), CAIRN_PLUGIN_ARTIFACT_STORE);
		CN_CHECK(cn_plugin_caps(p) & CAIRN_STORE_CAP_RANGE);
		CN_CHECK(cn_plugin_caps(p) & CAIRN_STORE_CAP_LIST_PAGED);
		CN_CHECK(cn_plugin_caps(p) & CAIRN_STORE_CAP_DELETE_RECURSIVE);
		CN_CHECK(cn_plugin_caps(p) & CAIRN_STORE_CAP_MULTIPART);
		CN_CHECK(!(cn_plugin_caps(p) & CAIRN_STORE_CAP_PRESIGN));
		const cairn_store_ops *ops = cn_plugin_store_ops(p);
		CN_CHECK(ops && ops->open && ops->stat && ops->mpu_complete && !ops->presign);
		CN_CHECK(cn_plugin_deploy_ops(p) == NULL);
		CN_CHECK(cn_plugin_state(p) == NULL);
	}
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local", &again, &err),
	                CN_OK);
	CN_CHECK(again == p);
	CN_CHECK(cn_plugin_find(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local") == p);
	CN_CHECK(cn_plugin_find(reg, CAIRN_PLUGIN_DEPLOY_TARGET, "local") == NULL);
	cn_plugin_registry_close(reg);
	cn_plugin_registry_close(NULL);
}

CN_TEST(loader_refuses_names_outside_the_directory)
{
	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL;
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	static const char *const bad[] = {"../local", "a/b", "", "Local", "/tmp/x", "lo.cal", NULL};
	for (const char *const *n = bad; *n; n++) {
		CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, *n, &p, &err),
		                CN_INVALID_PARAMETER_VALUE);
		CN_CHECK(strstr(err.msg, "not a bare name") != NULL);
	}
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, NULL, &p, &err),
	                CN_INVALID_PARAMETER_VALUE);
	char longname[CN_PLUGIN_NAME_MAX + 2];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, longname, &p, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(cn_plugin_load(reg, (cairn_plugin_kind)9, "local", &p, &err),
	                CN_INVALID_PARAMETER_VALUE);
	/* A well-formed name that is not there. */
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "nosuch", &p, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK(strstr(err.msg, CN_TEST_PLUGIN_DIR "/cairn_store_nosuch.so") != NULL);
	CN_CHECK(p == NULL);

	CN_CHECK(cn_plugin_name_is_valid("s3"));
	CN_CHECK(cn_plugin_name_is_valid("azure-openai"));
	CN_CHECK(cn_plugin_name_is_valid("local_basic"));
	CN_CHECK(!cn_plugin_name_is_valid(".."));
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, "", &err), CN_INVALID_PARAMETER_VALUE);
	cn_plugin_registry_close(reg);
}

/* deploy_dummy: the deploy kind loads; init sees settings; fini runs at close. */
CN_TEST(loader_deploy_kind_init_and_fini)
{
	char marker[64];
	snprintf(marker, sizeof marker, "/tmp/cn-loader-fini-XXXXXX");
	int fd = mkstemp(marker);
	CN_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_host_config_set("deploy.dummy.fini_file", marker, &err), CN_OK);

	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL;
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_BROKEN_PLUGIN_DIR, &err), CN_OK);
	/* The file is cairn_deploy_dummy.so: as a store it is simply not there. */
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "dummy", &p, &err),
	                CN_RESOURCE_DOES_NOT_EXIST);
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_DEPLOY_TARGET, "dummy", &p, &err), CN_OK);
	if (p) {
		CN_CHECK_EQ_INT(cn_plugin_kind(p), CAIRN_PLUGIN_DEPLOY_TARGET);
		CN_CHECK(cn_plugin_state(p) != NULL);
		const cairn_deploy_ops *ops = cn_plugin_deploy_ops(p);
		CN_CHECK(ops && ops->predict && !ops->update_deployment && !ops->list_endpoints);
		CN_CHECK(cn_plugin_store_ops(p) == NULL);
	}
	char buf[16] = "";
	fd = open(marker, O_RDONLY);
	CN_CHECK(fd >= 0 && read(fd, buf, sizeof buf) == 0); /* fini has not run */
	if (fd >= 0)
		close(fd);
	cn_plugin_registry_close(reg);
	fd = open(marker, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	CN_CHECK(n == 4 && memcmp(buf, "fini", 4) == 0);
	if (fd >= 0)
		close(fd);
	unlink(marker);
	cn_plugin_host_config_reset();
}

static int loader_test_init_calls;

static int loader_test_init(const cairn_host_api *host, void **state, cairn_error *err)
{
	loader_test_init_calls++;
	*state = &loader_test_init_calls;
	return host && host->size == sizeof(cairn_host_api) ? CAIRN_OK : CAIRN_ERR_INVALID;
}

static int loader_test_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                            cairn_store **store, cairn_error *err)
{
	return cairn_error_set(err, CAIRN_ERR_PERMISSION, "no access to %s", root_uri);
}

CN_TEST(loader_register_linked_in_plugin)
{
	/* An old (but same-major) plugin: ops table of ABI 1.0's size exactly. */
	static cairn_store_ops ops;
	cn_plugin_registry *reg = NULL;
	cn_plugin *p = NULL, *dup = NULL;
	cn_err err = {0};
	CN_CHECK_EQ_INT(cn_plugin_registry_open(&reg, CN_TEST_PLUGIN_DIR, &err), CN_OK);
	/* Borrow the local plugin's ops, with our own open. */
	cn_plugin *local = NULL;
	CN_CHECK_EQ_INT(cn_plugin_load(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "local", &local, &err),
	                CN_OK);
	if (!local) {
		cn_plugin_registry_close(reg);
		return;
	}
	ops = *cn_plugin_store_ops(local);
	ops.size = CAIRN_STORE_OPS_SIZE_1_0;
	ops.open = loader_test_open;
	static cairn_plugin_descriptor desc;
	desc = (cairn_plugin_descriptor){
	        CAIRN_PLUGIN_HEAD, .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
	        .name = "linked",  .version = "1",
	        .ops = &ops,       .init = loader_test_init,
	};
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &desc, "builtin", &p, &err), CN_OK);
	CN_CHECK_EQ_INT(loader_test_init_calls, 1);
	CN_CHECK(p && cn_plugin_state(p) == &loader_test_init_calls);
	CN_CHECK(p && strcmp(cn_plugin_origin(p), "builtin") == 0);
	CN_CHECK(cn_plugin_find(reg, CAIRN_PLUGIN_ARTIFACT_STORE, "linked") == p);
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &desc, "builtin", &dup, &err),
	                CN_RESOURCE_ALREADY_EXISTS);
	CN_CHECK_EQ_INT(loader_test_init_calls, 1);

	/* The same checks as for files. */
	static cairn_plugin_descriptor bad;
	bad = desc;
	bad.name = "linked2";
	bad.magic = 0x12345678u;
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &bad, "builtin", &dup, &err), CN_INVALID_STATE);
	CN_CHECK(strstr(err.msg, "bad magic 0x12345678") != NULL);
	bad = desc;
	bad.name = "Bad Name";
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &bad, "builtin", &dup, &err), CN_INVALID_STATE);
	CN_CHECK(strstr(err.msg, "is not a bare name") != NULL);
	bad = desc;
	bad.name = "linked3";
	bad.ops = NULL;
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &bad, "builtin", &dup, &err), CN_INVALID_STATE);
	CN_CHECK(strstr(err.msg, "no ops table") != NULL);
	static cairn_store_ops tiny;
	tiny = ops;
	tiny.size = 16;
	bad = desc;
	bad.name = "linked4";
	bad.ops = &tiny;
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &bad, "builtin", &dup, &err), CN_INVALID_STATE);
	CN_CHECK(strstr(err.msg, "ops table size 16 is smaller") != NULL);
	static cairn_store_ops presign_less;
	presign_less = ops;
	bad = desc;
	bad.name = "linked5";
	bad.capabilities = CAIRN_STORE_CAP_PRESIGN;
	bad.ops = &presign_less;
	CN_CHECK_EQ_INT(cn_plugin_register(reg, &bad, "builtin", &dup, &err), CN_INVALID_STATE);
	CN_CHECK(strstr(err.msg, "capability PRESIGN set but op 'presign' is NULL") != NULL);
	CN_CHECK_EQ_INT(cn_plugin_register(reg, NULL, "builtin", &dup, &err),
	                CN_INVALID_PARAMETER_VALUE);
	CN_CHECK_EQ_INT(loader_test_init_calls, 1);
	cn_plugin_registry_close(reg);
}

CN_TEST(loader_artifact_path_safety)
{
	static const char *const good[] = {
	        "a",       "a/b",  "a/b/c.txt",           "...",      "a/...b",
	        ".hidden", "x..y", "dir/file with space", "ümlaut/ß", NULL};
	for (const char *const *g = good; *g; g++)
		CN_CHECK(cn_artifact_path_is_safe(*g, strlen(*g), false));
	static const char *const bad[] = {"..",    "../a",  "a/..", "a/../b", ".",    "./a",
	                                  "a/./b", "/a",    "a/",   "a//b",   "a\\b", "\\",
	                                  "a\x01", "a\x7f", "a\nb", NULL};
	for (const char *const *b = bad; *b; b++)
		CN_CHECK(!cn_artifact_path_is_safe(*b, strlen(*b), true));
	CN_CHECK(cn_artifact_path_is_safe("", 0, true));
	CN_CHECK(!cn_artifact_path_is_safe("", 0, false));
	CN_CHECK(!cn_artifact_path_is_safe(NULL, 0, true));
	/* A NUL inside the given length (a decoded "%00") is refused. */
	CN_CHECK(!cn_artifact_path_is_safe("a\0b", 3, false));
	char *longp = malloc(CAIRN_PATH_MAX + 2);
	if (longp) {
		memset(longp, 'a', CAIRN_PATH_MAX + 1);
		CN_CHECK(cn_artifact_path_is_safe(longp, CAIRN_PATH_MAX, false));
		CN_CHECK(!cn_artifact_path_is_safe(longp, CAIRN_PATH_MAX + 1, false));
		free(longp);
	}
}

CN_TEST_MAIN()
