/*
 * core/cli/artifacts_cmd.c: `cairn artifacts upload|download|list`, the
 * operator's counterpart of `mlflow artifacts`.
 *
 * Where the bytes go: --run-id asks the tracking server (--tracking-uri,
 * else MLFLOW_TRACKING_URI, else http://127.0.0.1:5000) for the run's
 * artifact URI; --artifact-uri names one directly. A proxied
 * mlflow-artifacts:/ URI is served through the server's artifact proxy over
 * HTTP, unless --artifacts-destination is given, which opens that store
 * directly as the server would; any other URI (file://, a path, s3://,
 * gs://, wasbs://, abfss://) is opened directly through its store plugin,
 * configured like the server's (store.* settings).
 *
 * Exit status: 0 done, 1 the transfer failed (the message says why), 2 bad
 * usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/artifacts/artifacts.h"
#include "core/cli/artifacts_remote.h"
#include "core/cli/cli.h"
#include "core/cli/cli_progress.h"
#include "core/fsutil.h"
#include "core/log.h"

#define ART_EXIT_FAIL  1
#define ART_EXIT_USAGE 2

typedef struct art_args {
	const char *cmd;
	const char *run_id, *artifact_uri, *artifact_path, *tracking_uri, *destination;
	const char *local_path, *dst_path;
	const char *stall;
	int64_t stall_s;
	bool progress, no_progress;
	char *rest[128]; /* common flags, for cli_parse */
	int nrest;
} art_args;

static void art_usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn artifacts upload   --local-path FILE|DIR [--artifact-path P] WHERE\n"
	        "       cairn artifacts download [--artifact-path P] [--dst-path DIR] WHERE\n"
	        "       cairn artifacts list     [--artifact-path P] WHERE\n"
	        "\n"
	        "WHERE is one of\n"
	        "  --run-id ID [--tracking-uri URL]   the run's artifacts, through the tracking "
	        "server\n"
	        "                                     (default MLFLOW_TRACKING_URI or "
	        "http://127.0.0.1:5000)\n"
	        "  --artifact-uri URI                 any artifact URI: file://, a path, s3://, "
	        "gs://,\n"
	        "                                     wasbs://, abfss://, mlflow-artifacts:/ "
	        "(through "
	        "the\n"
	        "                                     tracking server, or the store given by\n"
	        "                                     --artifacts-destination)\n"
	        "options:\n"
	        "  --progress / --no-progress         progress bar on stderr (default: when stderr "
	        "is a terminal)\n"
	        "  --stall-timeout S                  give up on a server silent this long (300)\n"
	        "  --config FILE, --plugin-dir DIR, --store.<plugin>.<key> VALUE   as for the "
	        "server\n"
	        "A directory upload copies its contents under --artifact-path; download prints the "
	        "local path.\n"
	        "Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

static int art_parse(art_args *a, int argc, char **argv)
{
	static const struct {
		const char *flag;
		size_t off;
	} vals[] = {
	        {"run-id", offsetof(art_args, run_id)},
	        {"artifact-uri", offsetof(art_args, artifact_uri)},
	        {"artifact-path", offsetof(art_args, artifact_path)},
	        {"tracking-uri", offsetof(art_args, tracking_uri)},
	        {"artifacts-destination", offsetof(art_args, destination)},
	        {"local-path", offsetof(art_args, local_path)},
	        {"local-file", offsetof(art_args, local_path)},
	        {"local-dir", offsetof(art_args, local_path)},
	        {"dst-path", offsetof(art_args, dst_path)},
	        {"stall-timeout", offsetof(art_args, stall)},
	};
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "--progress") || !strcmp(arg, "--no-progress")) {
			*(arg[2] == 'n' ? &a->no_progress : &a->progress) = true;
			continue;
		}
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			art_usage(stdout);
			return -1;
		}
		bool taken = false;
		for (size_t k = 0; k < sizeof vals / sizeof vals[0] && !taken; k++) {
			size_t n = strlen(vals[k].flag);
			if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, vals[k].flag, n) != 0)
				continue;
			const char *v = NULL;
			if (arg[2 + n] == '=')
				v = arg + 3 + n;
			else if (arg[2 + n] == '\0' && i + 1 < argc)
				v = argv[++i];
			else if (arg[2 + n] != '\0')
				continue;
			if (!v) {
				fprintf(stderr, "cairn artifacts: %s needs a value\n", arg);
				return ART_EXIT_USAGE;
			}
			*(const char **)((char *)a + vals[k].off) = v;
			taken = true;
		}
		if (taken)
			continue;
		/* Everything else is a common option (and its value) for cli_parse. */
		if (a->nrest + 2 > (int)(sizeof a->rest / sizeof a->rest[0])) {
			fprintf(stderr, "cairn artifacts: too many options\n");
			return ART_EXIT_USAGE;
		}
		a->rest[a->nrest++] = argv[i];
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Upload */

typedef struct art_file {
	char *local;
	char *rel; /* artifact path relative to the remote root */
	int64_t size;
} art_file;

typedef struct art_plan {
	art_file *v;
	size_t n, cap;
} art_plan;

static void art_plan_free(art_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].local);
		free(p->v[i].rel);
	}
	free(p->v);
}

static cn_code art_plan_add(art_plan *p, const char *local, const char *rel, int64_t size,
                            cn_err *err)
{
	if (!cn_artifact_path_is_safe(rel, strlen(rel), false))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "'%.300s' cannot be an artifact path (backslash, control character "
		        "or too long)",
		        rel);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		art_file *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
		p->v = v;
		p->cap = cap;
	}
	art_file *f = &p->v[p->n];
	f->local = strdup(local);
	f->rel = strdup(rel);
	f->size = size;
	if (!f->local || !f->rel) {
		free(f->local);
		free(f->rel);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	}
	p->n++;
	return CN_OK;
}

static int art_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file below dir (symbolic links followed to files; other
 * kinds skipped), as rel_prefix/<its path>, in name order. */
static cn_code art_walk(art_plan *p, const char *dir, const char *rel_prefix, int depth,
                        cn_err *err)
{
	if (depth > 64)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s: directories nest too deep",
		                  dir);
	DIR *d = opendir(dir);
	if (!d)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s: %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	cn_code rc = CN_OK;
	struct dirent *de;
	while (rc == CN_OK && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **v = realloc(names, cap * sizeof *v);
			if (!v) {
				rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
				break;
			}
			names = v;
		}
		if (!(names[n] = strdup(de->d_name)))
			rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
		else
			n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, art_name_cmp);
	for (size_t i = 0; rc == CN_OK && i < n; i++) {
		char local[4096], rel[CAIRN_PATH_MAX + 2];
		struct stat st;
		if (snprintf(local, sizeof local, "%s/%s", dir, names[i]) >= (int)sizeof local) {
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s/%s: path too long",
			                dir, names[i]);
			break;
		}
		if ((rc = cli_join(rel, sizeof rel, rel_prefix, names[i], err)) != CN_OK)
			break;
		if (stat(local, &st) != 0)
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s: %s", local,
			                strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = art_walk(p, local, rel, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			rc = art_plan_add(p, local, rel, (int64_t)st.st_size, err);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* "<what>: <message>", keeping the code. */
static void art_err_prefix(cn_err *err, const char *what)
{
	char m[CN_ERR_MSG_MAX];
	snprintf(m, sizeof m, "%s", err->msg);
	cn_err_set(err, err->code, "%.300s: %.700s", what, m);
}

static int art_fail(const char *what, const cn_err *err)
{
	fprintf(stderr, "cairn artifacts %s: %s\n", what, err->msg);
	return ART_EXIT_FAIL;
}

static int art_upload(const art_args *a, cli_remote *r, cli_progress *prog)
{
	const char *base = a->artifact_path ? a->artifact_path : "";
	struct stat st;
	cn_err err;
	art_plan plan = {0};
	cn_code rc;
	if (stat(a->local_path, &st) != 0) {
		fprintf(stderr, "cairn artifacts upload: %s: %s\n", a->local_path, strerror(errno));
		return ART_EXIT_USAGE;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = art_walk(&plan, a->local_path, base, 0, &err);
	} else {
		/* A file goes under --artifact-path by its own name, as MLflow's log_artifact. */
		char rel[CAIRN_PATH_MAX + 2];
		const char *slash = strrchr(a->local_path, '/');
		rc = cli_join(rel, sizeof rel, base, slash ? slash + 1 : a->local_path, &err);
		if (rc == CN_OK)
			rc = art_plan_add(&plan, a->local_path, rel, (int64_t)st.st_size, &err);
	}
	for (size_t i = 0; rc == CN_OK && i < plan.n; i++)
		cli_progress_expect(prog, plan.v[i].size, 1);
	for (size_t i = 0; rc == CN_OK && i < plan.n; i++) {
		int fd = open(plan.v[i].local, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "%s: %s", plan.v[i].local,
			                strerror(errno));
			break;
		}
		rc = cli_remote_put(r, plan.v[i].rel, fd, plan.v[i].size, prog, &err);
		close(fd);
		if (rc == CN_OK)
			cli_progress_file_done(prog);
		else
			art_err_prefix(&err, plan.v[i].local);
	}
	art_plan_free(&plan);
	cli_progress_finish(prog, "uploaded", rc == CN_OK);
	return rc == CN_OK ? 0 : art_fail("upload", &err);
}

/* ------------------------------------------------------------------------ */
/* Download */

/* Collects the files below rel (a directory) into plan, with rel paths
 * relative to the remote root and local paths under local_dir. */
static cn_code art_plan_remote(cli_remote *r, art_plan *plan, const char *rel,
                               const char *local_dir, int depth, cn_err *err)
{
	if (depth > 64)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s: directories nest too deep",
		                  rel);
	cli_entries e = {0};
	cn_code rc = cli_remote_list(r, rel, &e, err);
	for (size_t i = 0; rc == CN_OK && i < e.n; i++) {
		char sub[CAIRN_PATH_MAX + 2], local[4096];
		if ((rc = cli_join(sub, sizeof sub, rel, e.v[i].name, err)) != CN_OK)
			break;
		if (snprintf(local, sizeof local, "%s/%s", local_dir, e.v[i].name) >=
		    (int)sizeof local) {
			rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "%s: local path too long",
			                local_dir);
			break;
		}
		rc = e.v[i].is_dir ? art_plan_remote(r, plan, sub, local, depth + 1, err)
		                   : art_plan_add(plan, local, sub, e.v[i].size, err);
	}
	cli_entries_free(&e);
	return rc;
}

/* Downloads one file: into a temporary file beside local, renamed over it
 * when complete, so a failed download leaves no partial file. */
static cn_code art_get_file(cli_remote *r, const art_file *f, cli_progress *prog, cn_err *err)
{
	char dir[4096], tmp[4200];
	snprintf(dir, sizeof dir, "%s", f->local);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof dir, ".");
	int e = cn_mkdirs(dir, 0755);
	if (e != 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: %s", dir, strerror(e));
	snprintf(tmp, sizeof tmp, "%s/.cairn-download-XXXXXX", dir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return cn_err_set(err, CN_INTERNAL_ERROR, "%s: %s", dir, strerror(errno));
	fchmod(fd, 0644);
	cn_code rc = cli_remote_get(r, f->rel, fd, prog, err);
	if (rc == CN_OK && close(fd) != 0)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: %s", f->local, strerror(errno));
	else if (rc != CN_OK)
		close(fd);
	if (rc == CN_OK && rename(tmp, f->local) != 0)
		rc = cn_err_set(err, CN_INTERNAL_ERROR, "%s: %s", f->local, strerror(errno));
	if (rc != CN_OK)
		unlink(tmp);
	return rc;
}

static int art_download(const art_args *a, cli_remote *r, cli_progress *prog)
{
	const char *rel = a->artifact_path ? a->artifact_path : "";
	const char *dst = a->dst_path ? a->dst_path : ".";
	cn_err err;
	bool is_dir = false;
	int64_t size = -1;
	art_plan plan = {0};
	char local[4096];
	cn_code rc = cli_remote_stat(r, rel, &is_dir, &size, &err);
	/* The local name is the artifact's own (MLflow's rule); the root's
	 * contents go straight into the destination. */
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	if (rc == CN_OK && snprintf(local, sizeof local, "%s%s%s", dst, name[0] ? "/" : "", name) >=
	                           (int)sizeof local)
		rc = cn_err_set(&err, CN_INVALID_PARAMETER_VALUE, "%s: local path too long", dst);
	if (rc == CN_OK)
		rc = is_dir ? art_plan_remote(r, &plan, rel, local, 0, &err)
		            : art_plan_add(&plan, local, rel, size, &err);
	for (size_t i = 0; rc == CN_OK && i < plan.n; i++)
		cli_progress_expect(prog, plan.v[i].size > 0 ? plan.v[i].size : 0, 1);
	for (size_t i = 0; rc == CN_OK && i < plan.n; i++) {
		rc = art_get_file(r, &plan.v[i], prog, &err);
		if (rc == CN_OK)
			cli_progress_file_done(prog);
		else
			art_err_prefix(&err, plan.v[i].rel);
	}
	if (rc == CN_OK && is_dir) {
		int e = cn_mkdirs(local, 0755); /* an empty directory still arrives */
		if (e != 0)
			rc = cn_err_set(&err, CN_INTERNAL_ERROR, "%s: %s", local, strerror(e));
	}
	art_plan_free(&plan);
	cli_progress_finish(prog, "downloaded", rc == CN_OK);
	if (rc != CN_OK)
		return art_fail("download", &err);
	printf("%s\n", local);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* List */

static void art_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int art_list(const art_args *a, cli_remote *r)
{
	const char *rel = a->artifact_path ? a->artifact_path : "";
	cli_entries e = {0};
	cn_err err;
	cn_code rc = cli_remote_list(r, rel, &e, &err);
	if (rc != CN_OK) {
		cli_entries_free(&e);
		return art_fail("list", &err);
	}
	/* MLflow's FileInfo list: path from the artifact root, is_dir, file_size. */
	printf("[");
	for (size_t i = 0; i < e.n; i++) {
		char path[CAIRN_PATH_MAX + 2];
		snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", e.v[i].name);
		printf("%s{\"path\": ", i ? ", " : "");
		art_json_string(stdout, path);
		printf(", \"is_dir\": %s", e.v[i].is_dir ? "true" : "false");
		if (!e.v[i].is_dir)
			printf(", \"file_size\": %lld", (long long)e.v[i].size);
		printf("}");
	}
	printf("]\n");
	cli_entries_free(&e);
	return 0;
}

/* ------------------------------------------------------------------------ */

/* Opens the remote the arguments name; *arts and *reg are the caller's to
 * close (they may stay NULL). */
static int art_open(const art_args *a, const cn_config *cfg, cli_remote *r, cn_artifacts **arts,
                    cn_plugin_registry **reg)
{
	cn_err err;
	const char *tracking = a->tracking_uri ? a->tracking_uri : getenv("MLFLOW_TRACKING_URI");
	if (!tracking || !tracking[0])
		tracking = "http://127.0.0.1:5000";
	snprintf(r->base_url, sizeof r->base_url, "%s", tracking);
	size_t n = strlen(r->base_url);
	while (n > 0 && r->base_url[n - 1] == '/')
		r->base_url[--n] = '\0';
	r->timeout_ms = 0; /* transfers of any size: no whole-transfer limit */
	r->stall_ms = a->stall_s > 0 ? a->stall_s * 1000 : 300000;
	char uri[CLI_URL_MAX];
	if ((a->run_id != NULL) == (a->artifact_uri != NULL)) {
		fprintf(stderr,
		        "cairn artifacts %s: give exactly one of --run-id or "
		        "--artifact-uri\n",
		        a->cmd);
		return ART_EXIT_USAGE;
	}
	bool need_http = a->run_id || (cn_artifacts_is_proxied(a->artifact_uri) && !a->destination);
	if (need_http && strncmp(r->base_url, "http://", 7) != 0 &&
	    strncmp(r->base_url, "https://", 8) != 0) {
		fprintf(stderr,
		        "cairn artifacts %s: tracking URI '%s' is not http:// or https://\n",
		        a->cmd, r->base_url);
		return ART_EXIT_USAGE;
	}
	if (a->run_id) {
		if (cli_run_artifact_uri(r, a->run_id, uri, sizeof uri, &err) != CN_OK)
			return art_fail(a->cmd, &err);
	} else {
		snprintf(uri, sizeof uri, "%s", a->artifact_uri);
	}
	if (cn_artifacts_is_proxied(uri) && !a->destination) {
		r->http = true;
		if (cli_proxied_path(uri, r->root, sizeof r->root, &err) != CN_OK)
			return art_fail(a->cmd, &err);
		return 0;
	}
	/* Direct: the store plugin of the URI, or of the destination behind a
	 * proxied URI. The destination is never used for other URIs. */
	if (cn_plugin_registry_open(reg, cfg->plugin_dir, &err) != CN_OK ||
	    cn_artifacts_open(arts, *reg, a->destination ? a->destination : "(none)", &err) !=
	            CN_OK ||
	    cn_artifacts_locate(*arts, uri, NULL, &r->store, r->root, sizeof r->root, &err) !=
	            CN_OK)
		return art_fail(a->cmd, &err);
	return 0;
}

int cli_artifacts_main(int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") ||
	    !strcmp(argv[0], "help")) {
		art_usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? ART_EXIT_USAGE : 0;
	}
	art_args a = {.cmd = argv[0]};
	if (strcmp(a.cmd, "upload") && strcmp(a.cmd, "download") && strcmp(a.cmd, "list")) {
		fprintf(stderr, "cairn artifacts: unknown command '%s'\n\n", a.cmd);
		art_usage(stderr);
		return ART_EXIT_USAGE;
	}
	int prc = art_parse(&a, argc - 1, argv + 1);
	if (prc != 0)
		return prc < 0 ? 0 : prc;
	if (a.stall) {
		char *end = NULL;
		a.stall_s = strtoll(a.stall, &end, 10);
		if (!end || *end || a.stall_s <= 0) {
			fprintf(stderr,
			        "cairn artifacts: --stall-timeout wants a number of seconds\n");
			return ART_EXIT_USAGE;
		}
	}
	cli_opts *o = calloc(1, sizeof *o);
	if (!o)
		return ART_EXIT_FAIL;
	cn_err err;
	if (cli_parse(o, a.nrest, a.rest, &err) != CN_OK) {
		fprintf(stderr, "cairn artifacts %s: %s\n", a.cmd, err.msg);
		free(o);
		return ART_EXIT_USAGE;
	}
	/* An operator command: plugin loading and other info lines stay quiet
	 * unless a level was asked for. */
	cn_log_level level = cn_log_level_from_name(o->cfg.log_level);
	cn_log_init(level == CN_LOG_INFO ? CN_LOG_WARN : level, o->cfg.log_json);
	/* Usage errors before anything is opened or contacted. */
	struct stat st;
	if (!strcmp(a.cmd, "upload") && (!a.local_path || stat(a.local_path, &st) != 0)) {
		if (!a.local_path)
			fprintf(stderr,
			        "cairn artifacts upload: --local-path FILE|DIR is required\n");
		else
			fprintf(stderr, "cairn artifacts upload: %s: %s\n", a.local_path,
			        strerror(errno));
		free(o);
		return ART_EXIT_USAGE;
	}
	cli_remote *r = calloc(1, sizeof *r);
	cn_artifacts *arts = NULL;
	cn_plugin_registry *reg = NULL;
	int rc = r ? art_open(&a, &o->cfg, r, &arts, &reg) : ART_EXIT_FAIL;
	if (rc == 0) {
		cli_progress prog;
		bool tty = isatty(STDERR_FILENO);
		if (!strcmp(a.cmd, "upload")) {
			cli_progress_init(&prog, stderr, tty && !a.no_progress, a.progress,
			                  "uploading");
			rc = art_upload(&a, r, &prog);
		} else if (!strcmp(a.cmd, "download")) {
			cli_progress_init(&prog, stderr, tty && !a.no_progress, a.progress,
			                  "downloading");
			rc = art_download(&a, r, &prog);
		} else {
			rc = art_list(&a, r);
		}
	}
	cn_artifacts_close(arts);
	cn_plugin_registry_close(reg);
	free(r);
	free(o);
	return rc;
}
