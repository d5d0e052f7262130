/* core/cli/artifacts_remote.c: direct-store and HTTP-proxy transfers of `cairn artifacts`. */
#include "core/cli/artifacts_remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli/cli_json.h"
#include "core/clock.h"
#include "core/plugin/loader.h"

#define CLI_BUF_BYTES     (1 << 20)
#define CLI_ERR_BODY_MAX  4096
#define CLI_LIST_BODY_MAX (64 << 20)

void cli_entries_free(cli_entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
	memset(e, 0, sizeof *e);
}

static cn_code cli_entries_add(cli_entries *e, const char *name, bool is_dir, int64_t size,
                               cn_err *err)
{
	size_t len = strlen(name);
	if (strchr(name, '/') || !cn_artifact_path_is_safe(name, len, false))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "refusing listed artifact name '%.200s': not a single safe path "
		                  "component",
		                  name);
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		cli_entry *v = realloc(e->v, cap * sizeof *v);
		if (!v)
			return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	if (!(e->v[e->n].name = strdup(name)))
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	e->v[e->n].is_dir = is_dir;
	e->v[e->n].size = size;
	e->n++;
	return CN_OK;
}

cn_code cli_join(char *out, size_t cap, const char *a, const char *b, cn_err *err)
{
	int n = snprintf(out, cap, "%s%s%s", a, a[0] && b[0] ? "/" : "", b);
	if (n < 0 || (size_t)n >= cap || (size_t)n > CAIRN_PATH_MAX)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "artifact path is longer than %d bytes", CAIRN_PATH_MAX);
	return CN_OK;
}

bool cli_url_encode(const char *in, bool keep_slash, char *out, size_t cap)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		             (*p >= '0' && *p <= '9') || strchr("-._~", *p) ||
		             (keep_slash && *p == '/');
		if (n + (plain ? 1 : 3) >= cap)
			return false;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = "0123456789ABCDEF"[*p >> 4];
			out[n++] = "0123456789ABCDEF"[*p & 15];
		}
	}
	out[n] = '\0';
	return true;
}

cn_code cli_proxied_path(const char *uri, char *out, size_t cap, cn_err *err)
{
	static const char scheme[] = "mlflow-artifacts:";
	if (strncmp(uri, scheme, sizeof scheme - 1) != 0)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "not an mlflow-artifacts: URI");
	const char *p = uri + sizeof scheme - 1;
	if (strncmp(p, "//", 2) == 0)
		p += 2 + strcspn(p + 2, "/"); /* the authority names the server */
	while (*p == '/')
		p++;
	size_t len = strlen(p);
	while (len && p[len - 1] == '/')
		len--;
	if (len >= cap || (len && !cn_artifact_path_is_safe(p, len, false)))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "invalid artifact URI '%.200s': its path must be relative, without "
		        "'.', '..' or empty parts",
		        uri);
	memcpy(out, p, len);
	out[len] = '\0';
	return CN_OK;
}

static cn_code cli_rel_path(cli_remote *r, const char *rel, char *out, size_t cap, cn_err *err)
{
	if (rel[0] && !cn_artifact_path_is_safe(rel, strlen(rel), false))
		return cn_err_set(
		        err, CN_INVALID_PARAMETER_VALUE,
		        "invalid artifact path '%.200s': must be relative, '/'-separated, "
		        "without '.', '..' or empty parts",
		        rel);
	return cli_join(out, cap, r->root, rel, err);
}

/* ------------------------------------------------------------------------ */
/* HTTP */

/* When bytes last moved, for the stall check. */
typedef struct cli_activity {
	int64_t last_ns;
	int64_t stall_ns;
	bool stalled;
} cli_activity;

static int cli_stalled(void *arg)
{
	cli_activity *a = arg;
	if (a->stall_ns > 0 && cn_mono_ns() - a->last_ns > a->stall_ns)
		a->stalled = true;
	return a->stalled;
}

typedef struct cli_body {
	cli_activity *act;
	char *buf;
	size_t n, cap, max;
	int fd; /* >= 0: stream here instead */
	cli_progress *p;
	int write_errno;
} cli_body;

static int cli_body_write(void *arg, const void *data, size_t len)
{
	cli_body *b = arg;
	if (b->act)
		b->act->last_ns = cn_mono_ns();
	if (b->fd >= 0) {
		const char *d = data;
		for (size_t done = 0; done < len;) {
			ssize_t w = write(b->fd, d + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				b->write_errno = errno;
				return CAIRN_ERR_IO;
			}
			done += (size_t)w;
		}
		if (b->p)
			cli_progress_add(b->p, (int64_t)len);
		return CAIRN_OK;
	}
	if (b->n + len > b->max)
		return CAIRN_ERR_NO_MEMORY;
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + len + 1)
			cap *= 2;
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return CAIRN_ERR_NO_MEMORY;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->n, data, len);
	b->n += len;
	b->buf[b->n] = '\0';
	return CAIRN_OK;
}

typedef struct cli_src {
	int fd;
	cli_progress *p;
	cli_activity *act;
} cli_src;

static int cli_src_read(void *arg, void *buf, size_t cap, size_t *n)
{
	cli_src *s = arg;
	for (;;) {
		ssize_t got = read(s->fd, buf, cap);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return CAIRN_ERR_IO;
		*n = (size_t)got;
		if (s->act)
			s->act->last_ns = cn_mono_ns();
		if (s->p)
			cli_progress_add(s->p, got);
		return CAIRN_OK;
	}
}

static int cli_src_rewind(void *arg)
{
	cli_src *s = arg;
	return lseek(s->fd, 0, SEEK_SET) == 0 ? CAIRN_OK : CAIRN_ERR_UNSUPPORTED;
}

/* An MLflow error reply as a cn_err: its error_code and message when the
 * body is one, else the status. */
static cn_code cli_http_error(int status, const char *body, size_t len, const char *what,
                              cn_err *err)
{
	cn_code code = status == 404   ? CN_RESOURCE_DOES_NOT_EXIST
	               : status == 400 ? CN_INVALID_PARAMETER_VALUE
	               : status == 401 ? CN_UNAUTHENTICATED
	               : status == 403 ? CN_PERMISSION_DENIED
	               : status == 501 ? CN_NOT_IMPLEMENTED
	               : status == 503 ? CN_TEMPORARILY_UNAVAILABLE
	                               : CN_INTERNAL_ERROR;
	cli_json *j = body && len ? cli_json_parse(body, len) : NULL;
	const char *ec = cli_json_str(j, "error_code", NULL);
	const char *msg = cli_json_str(j, "message", NULL);
	if (ec)
		code = cn_code_from_name(ec, strlen(ec));
	cn_err_set(err, code, "%s: HTTP %d%s%s%s%.600s", what, status, ec ? " " : "", ec ? ec : "",
	           msg ? ": " : "", msg ? msg : "");
	cli_json_free(j);
	return code;
}

/* One request; the response body goes to b. */
static cn_code cli_http(cli_remote *r, const char *method, const char *url, cli_src *src,
                        int64_t size, cli_body *b, int *status, cn_err *err)
{
	cairn_http_header hdr[] = {{"Content-Type", "application/octet-stream"}};
	/* No limit on a whole transfer (any size), but one on silence. */
	cli_activity act = {.last_ns = cn_mono_ns(), .stall_ns = r->stall_ms * 1000000};
	b->act = &act;
	if (src)
		src->act = &act;
	cairn_http_request req = {.size = sizeof req,
	                          .method = method,
	                          .url = url,
	                          .headers = src ? hdr : NULL,
	                          .nheaders = src ? 1 : 0,
	                          .on_body = cli_body_write,
	                          .response_arg = b,
	                          .timeout_ms = r->timeout_ms,
	                          .connect_timeout_ms = 10000,
	                          .is_cancelled = cli_stalled,
	                          .cancel_arg = &act};
	if (src) {
		req.body_read = cli_src_read;
		req.body_rewind = cli_src_rewind;
		req.body_arg = src;
		req.body_size = size;
	}
	cairn_http_response resp = {.size = sizeof resp};
	cairn_error e = {0};
	int rc = cn_plugin_host_api()->http(&req, &resp, &e);
	b->act = NULL;
	if (src)
		src->act = NULL;
	if (rc != CAIRN_OK) {
		if (act.stalled)
			return cn_err_set(err, CN_DEADLINE_EXCEEDED,
			                  "%s %s: no data moved for %lld s; giving up", method,
			                  r->base_url, (long long)(r->stall_ms / 1000));
		if (b->write_errno)
			return cn_err_set(err, CN_INTERNAL_ERROR, "writing the download: %s",
			                  strerror(b->write_errno));
		return cn_err_set(err, cn_store_code_from_status(rc), "%s %s: %s", method,
		                  r->base_url, e.message);
	}
	*status = resp.status;
	return CN_OK;
}

static cn_code cli_http_url(cli_remote *r, const char *full, bool as_query, char *url, size_t cap,
                            cn_err *err)
{
	char enc[CAIRN_PATH_MAX * 3 + 1];
	if (!cli_url_encode(full, !as_query, enc, sizeof enc))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "artifact path too long");
	int n = as_query ? snprintf(url, cap, "%s/api/2.0/mlflow-artifacts/artifacts%s%s",
	                            r->base_url, full[0] ? "?path=" : "", enc)
	                 : snprintf(url, cap, "%s/api/2.0/mlflow-artifacts/artifacts/%s",
	                            r->base_url, enc);
	if (n < 0 || (size_t)n >= cap)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "URL too long");
	return CN_OK;
}

static int64_t cli_json_int(const cli_json *v)
{
	if (!v || !v->text || (v->type != CLI_JSON_NUMBER && v->type != CLI_JSON_STRING))
		return 0;
	return strtoll(v->text, NULL, 10); /* int64 fields may come as strings (proto3 JSON) */
}

static cn_code cli_http_list(cli_remote *r, const char *full, cli_entries *out, cn_err *err)
{
	char url[CLI_URL_MAX + CAIRN_PATH_MAX * 3 + 64];
	cn_code rc = cli_http_url(r, full, true, url, sizeof url, err);
	if (rc != CN_OK)
		return rc;
	cli_body b = {.fd = -1, .max = CLI_LIST_BODY_MAX};
	int status = 0;
	rc = cli_http(r, "GET", url, NULL, 0, &b, &status, err);
	if (rc == CN_OK && status != 200)
		rc = cli_http_error(status, b.buf, b.n, "list artifacts", err);
	cli_json *j = rc == CN_OK ? cli_json_parse(b.buf ? b.buf : "{}", b.buf ? b.n : 2) : NULL;
	if (rc == CN_OK && (!j || j->type != CLI_JSON_OBJECT))
		rc = cn_err_set(err, CN_INTERNAL_ERROR,
		                "list artifacts: the server's reply is not a "
		                "JSON object");
	const cli_json *files = cli_json_get(j, "files");
	for (const cli_json *f = files && files->type == CLI_JSON_ARRAY ? files->child : NULL;
	     rc == CN_OK && f; f = f->next) {
		const char *path = cli_json_str(f, "path", NULL);
		const cli_json *d = cli_json_get(f, "is_dir");
		if (!path) {
			rc = cn_err_set(err, CN_INTERNAL_ERROR,
			                "list artifacts: an entry has no path");
			break;
		}
		/* MLflow's proxy lists base names; tolerate full paths too. */
		const char *slash = strrchr(path, '/');
		rc = cli_entries_add(out, slash ? slash + 1 : path, d && d->b,
		                     cli_json_int(cli_json_get(f, "file_size")), err);
	}
	cli_json_free(j);
	free(b.buf);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Store */

typedef struct cli_store_list {
	cli_entries *out;
	cn_code rc;
	cn_err *err;
} cli_store_list;

static int cli_store_list_cb(void *arg, const cairn_list_entry *e)
{
	cli_store_list *l = arg;
	const char *slash = strrchr(e->path, '/');
	l->rc = cli_entries_add(l->out, slash ? slash + 1 : e->path, e->is_dir != 0, e->size,
	                        l->err);
	return l->rc != CN_OK;
}

cn_code cli_remote_list(cli_remote *r, const char *rel, cli_entries *out, cn_err *err)
{
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = cli_rel_path(r, rel, full, sizeof full, err);
	if (rc != CN_OK)
		return rc;
	if (r->http)
		return cli_http_list(r, full, out, err);
	cli_store_list l = {.out = out, .rc = CN_OK, .err = err};
	char tok[CAIRN_PAGE_TOKEN_MAX];
	rc = cn_store_list(r->store, full, NULL, 0, cli_store_list_cb, &l, tok, sizeof tok, err);
	return l.rc != CN_OK ? l.rc : rc;
}

cn_code cli_remote_stat(cli_remote *r, const char *rel, bool *is_dir, int64_t *size, cn_err *err)
{
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = cli_rel_path(r, rel, full, sizeof full, err);
	if (rc != CN_OK)
		return rc;
	if (!r->http) {
		cn_store_info info = {0};
		rc = cn_store_stat(r->store, full, &info, err);
		*is_dir = info.is_dir;
		*size = info.size;
		return rc;
	}
	cli_entries e = {0};
	rc = full[0] ? cli_http_list(r, full, &e, err) : CN_OK;
	*is_dir = !full[0] || e.n > 0;
	*size = -1;
	cli_entries_free(&e);
	return rc;
}

cn_code cli_remote_get(cli_remote *r, const char *rel, int fd, cli_progress *p, cn_err *err)
{
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = cli_rel_path(r, rel, full, sizeof full, err);
	if (rc != CN_OK)
		return rc;
	if (r->http) {
		char url[CLI_URL_MAX + CAIRN_PATH_MAX * 3 + 64];
		if ((rc = cli_http_url(r, full, false, url, sizeof url, err)) != CN_OK)
			return rc;
		cli_body b = {.fd = fd, .p = p};
		int status = 0;
		if ((rc = cli_http(r, "GET", url, NULL, 0, &b, &status, err)) != CN_OK)
			return rc;
		if (status == 200)
			return CN_OK;
		/* The error body went to the file: read it back for the message. */
		char body[CLI_ERR_BODY_MAX];
		ssize_t n = pread(fd, body, sizeof body, 0);
		return cli_http_error(status, body, n > 0 ? (size_t)n : 0, full, err);
	}
	cn_store_reader *rd = NULL;
	if ((rc = cn_store_get_open(r->store, full, 0, -1, &rd, NULL, err)) != CN_OK)
		return rc;
	char *buf = malloc(CLI_BUF_BYTES);
	if (!buf)
		rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	while (rc == CN_OK) {
		size_t n = 0;
		if ((rc = cn_store_get_read(rd, buf, CLI_BUF_BYTES, &n, err)) != CN_OK || n == 0)
			break;
		cli_body sink = {.fd = fd, .p = p};
		if (cli_body_write(&sink, buf, n) != CAIRN_OK)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "writing the download: %s",
			                strerror(sink.write_errno));
	}
	free(buf);
	cn_store_get_close(rd);
	return rc;
}

cn_code cli_remote_put(cli_remote *r, const char *rel, int fd, int64_t size, cli_progress *p,
                       cn_err *err)
{
	char full[CAIRN_PATH_MAX + 1];
	cn_code rc = cli_rel_path(r, rel, full, sizeof full, err);
	if (rc != CN_OK)
		return rc;
	if (!full[0])
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "an upload needs a file name");
	cli_src src = {.fd = fd, .p = p};
	if (r->http) {
		char url[CLI_URL_MAX + CAIRN_PATH_MAX * 3 + 64];
		if ((rc = cli_http_url(r, full, false, url, sizeof url, err)) != CN_OK)
			return rc;
		cli_body b = {.fd = -1, .max = CLI_ERR_BODY_MAX * 16};
		int status = 0;
		rc = cli_http(r, "PUT", url, &src, size, &b, &status, err);
		if (rc == CN_OK && (status < 200 || status > 299))
			rc = cli_http_error(status, b.buf, b.n, full, err);
		free(b.buf);
		return rc;
	}
	cn_store_writer *w = NULL;
	if ((rc = cn_store_put_begin(r->store, full, size, &w, err)) != CN_OK)
		return rc;
	char *buf = malloc(CLI_BUF_BYTES);
	if (!buf)
		rc = cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	while (rc == CN_OK) {
		size_t n = 0;
		if (cli_src_read(&src, buf, CLI_BUF_BYTES, &n) != CAIRN_OK)
			rc = cn_err_set(err, CN_INTERNAL_ERROR, "reading the upload: %s",
			                strerror(errno));
		else if (n == 0)
			break;
		else
			rc = cn_store_put_write(w, buf, n, err);
	}
	free(buf);
	if (rc != CN_OK) {
		cn_store_put_abort(w);
		return rc;
	}
	return cn_store_put_commit(w, err);
}

cn_code cli_run_artifact_uri(const cli_remote *via, const char *run_id, char *out, size_t cap,
                             cn_err *err)
{
	const char *base_url = via->base_url;
	char enc[512], url[CLI_URL_MAX + 600];
	if (!cli_url_encode(run_id, false, enc, sizeof enc))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "run id too long");
	snprintf(url, sizeof url, "%s/api/2.0/mlflow/runs/get?run_id=%s", base_url, enc);
	cli_remote r = *via;
	r.http = true;
	r.timeout_ms = 60000;
	cli_body b = {.fd = -1, .max = 64 << 20};
	int status = 0;
	cn_code rc = cli_http(&r, "GET", url, NULL, 0, &b, &status, err);
	if (rc == CN_OK && status != 200)
		rc = cli_http_error(status, b.buf, b.n, "get run", err);
	cli_json *j = rc == CN_OK && b.buf ? cli_json_parse(b.buf, b.n) : NULL;
	const char *uri = cli_json_str(j, "run", "info", "artifact_uri", NULL);
	if (rc == CN_OK && (!uri || !uri[0]))
		rc = cn_err_set(err, CN_INTERNAL_ERROR,
		                "get run: the reply has no run.info.artifact_uri");
	else if (rc == CN_OK && strlen(uri) >= cap)
		rc = cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                "the run's artifact URI is too long");
	else if (rc == CN_OK)
		memcpy(out, uri, strlen(uri) + 1);
	cli_json_free(j);
	free(b.buf);
	return rc;
}
