/* core/plugin/store_conformance.c: the artifact-store conformance suite: helpers, sequential cases,
 * the runner. */
#include "core/plugin/store_conformance.h"
#include "core/plugin/store_conformance_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cn_test.h"

bool cn_conf_report(cn_conf *c, bool ok, const char *file, int line, const char *what)
{
	if (!ok) {
		char m[1400];
		snprintf(m, sizeof m, "[%s] %s", c->label, what);
		cn_test_fail(file, line, m);
		c->failures++;
	}
	return ok;
}

/* Checks that a call returned want; shows both code names and the message. */
bool cn_conf_code(cn_conf *c, cn_code got, cn_code want, const cn_err *err, const char *file,
                  int line, const char *expr)
{
	if (got == want)
		return true;
	char m[1300];
	snprintf(m, sizeof m, "%s: got %s, want %s (%.1000s)", expr, cn_code_name(got),
	         cn_code_name(want), got != CN_OK && err ? err->msg : "");
	return cn_conf_report(c, false, file, line, m);
}

void cn_conf_path(const cn_conf *c, char *out, size_t cap, const char *fmt, ...)
{
	int n = snprintf(out, cap, "%s/", c->base);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Byte i of the test object with this seed: any range is checkable without
 * keeping the object. */
static uint8_t conf_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = i + seed * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)x;
}

void cn_conf_fill(uint8_t *buf, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = conf_byte(seed, off + i);
}

/* Writes size pattern bytes in chunks of chunk; the sha256 of what was
 * written goes to digest when not NULL. */
cn_code cn_conf_put_pattern(cn_store *s, const char *path, uint64_t seed, int64_t size,
                            size_t chunk, uint8_t digest[32], cn_err *err)
{
	const cairn_host_api *host = cn_plugin_host_api();
	uint8_t *buf = malloc(chunk);
	cairn_sha256_ctx *h = digest ? host->sha256_begin() : NULL;
	cn_store_writer *w = NULL;
	cn_code rc = !buf || (digest && !h) ? cn_err_set(err, CN_RESOURCE_EXHAUSTED, "no memory")
	                                    : cn_store_put_begin(s, path, size, &w, err);
	for (int64_t off = 0; rc == CN_OK && off < size; off += (int64_t)chunk) {
		size_t n = (uint64_t)(size - off) < chunk ? (size_t)(size - off) : chunk;
		cn_conf_fill(buf, n, seed, (uint64_t)off);
		if (h)
			host->sha256_update(h, buf, n);
		rc = cn_store_put_write(w, buf, n, err);
	}
	if (w)
		rc = rc == CN_OK ? cn_store_put_commit(w, err) : (cn_store_put_abort(w), rc);
	if (h)
		host->sha256_end(h, digest);
	free(buf);
	return rc;
}

/* Reads [off, off+len) with reads of at most cap bytes and checks every byte
 * against the pattern; *total gets the bytes read. */
cn_code cn_conf_read_pattern(cn_store *s, const char *path, uint64_t seed, int64_t off, int64_t len,
                             size_t cap, int64_t *total, bool *match, cn_store_info *info,
                             cn_err *err)
{
	cn_store_reader *r = NULL;
	*total = 0;
	*match = true;
	cn_code rc = cn_store_get_open(s, path, off, len, &r, info, err);
	if (rc != CN_OK)
		return rc;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		cn_store_get_close(r);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "no memory");
	}
	for (;;) {
		size_t n = 0;
		rc = cn_store_get_read(r, buf, cap, &n, err);
		if (rc != CN_OK || n == 0)
			break;
		for (size_t i = 0; i < n && *match; i++)
			if (buf[i] != conf_byte(seed, (uint64_t)(off + *total) + i))
				*match = false;
		*total += (int64_t)n;
	}
	free(buf);
	cn_store_get_close(r);
	return rc;
}

/* Reads a whole small object into out (cap bytes); *n gets its length. */
cn_code cn_conf_read_small(cn_store *s, const char *path, char *out, size_t cap, size_t *n,
                           cn_err *err)
{
	cn_store_reader *r = NULL;
	*n = 0;
	cn_code rc = cn_store_get_open(s, path, 0, -1, &r, NULL, err);
	while (rc == CN_OK) {
		size_t got = 0;
		rc = cn_store_get_read(r, out + *n, cap - *n, &got, err);
		if (rc != CN_OK || got == 0 || *n + got == cap) {
			*n += got;
			break;
		}
		*n += got;
	}
	if (r)
		cn_store_get_close(r);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Listing helper */

int cn_conf_list_cb(void *arg, const cairn_list_entry *e)
{
	cn_conf_list *l = arg;
	if (l->n == CN_CONF_LIST_MAX) {
		l->overflow = true;
		return 1;
	}
	snprintf(l->path[l->n], sizeof l->path[0], "%s", e->path);
	l->is_dir[l->n] = e->is_dir;
	l->size[l->n] = e->size;
	l->n++;
	return l->stop_after > 0 && l->n >= l->stop_after;
}

static int conf_list_find(const cn_conf_list *l, const char *path)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->path[i], path) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Cases */

static void conf_roundtrip(cn_conf *c)
{
	char p[256], got[64];
	size_t n = 0;
	cn_err err;
	cn_store_info info;
	cn_conf_path(c, p, sizeof p, "rt/hello.txt");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "hello, world", 12, &err), &err);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 12 && memcmp(got, "hello, world", 12) == 0);
	if (CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err))
		CN_CONF_CHECK(c, info.size == 12 && !info.is_dir);
	/* Overwrite replaces the whole object. */
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "bye", 3, &err), &err);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 3 && memcmp(got, "bye", 3) == 0);
	/* A nested path creates its parents. */
	cn_conf_path(c, p, sizeof p, "rt/a/b/c/deep.bin");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "\0\1\2", 3, &err), &err);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 3 && memcmp(got, "\0\1\2", 3) == 0);
}

static void conf_ranges(cn_conf *c)
{
	char p[256];
	cn_err err;
	cn_store_info info;
	int64_t total = 0;
	bool match = false;
	cn_conf_path(c, p, sizeof p, "range/obj");
	if (!CN_CONF_OK(c, cn_conf_put_pattern(c->s, p, 7, 1000, 333, NULL, &err), &err))
		return;
	static const struct {
		int64_t off, len, want;
	} cases[] = {
	        {0, -1, 1000}, {0, 10, 10},   {990, -1, 10},   {500, 0, 0},
	        {995, 100, 5}, {1000, -1, 0}, {123, 456, 456},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&info, 0, sizeof info);
		cn_code rc = cn_conf_read_pattern(c->s, p, 7, cases[i].off, cases[i].len, 7, &total,
		                                  &match, &info, &err);
		char what[160];
		snprintf(what, sizeof what,
		         "range off=%lld len=%lld: rc=%s got %lld bytes (want %lld), match=%d, "
		         "size=%lld",
		         (long long)cases[i].off, (long long)cases[i].len, cn_code_name(rc),
		         (long long)total, (long long)cases[i].want, match, (long long)info.size);
		cn_conf_report(c,
		               rc == CN_OK && total == cases[i].want && match && info.size == 1000,
		               __FILE__, __LINE__, what);
	}
	cn_store_reader *r = NULL;
	CN_CONF_CODE(c, cn_store_get_open(c->s, p, 1001, -1, &r, NULL, &err),
	             CN_INVALID_PARAMETER_VALUE, &err);
	CN_CONF_CODE(c, cn_store_get_open(c->s, p, -1, 10, &r, NULL, &err),
	             CN_INVALID_PARAMETER_VALUE, &err);
	CN_CONF_CODE(c, cn_store_get_open(c->s, p, 0, -2, &r, NULL, &err),
	             CN_INVALID_PARAMETER_VALUE, &err);
}

static void conf_empty(cn_conf *c)
{
	char p[256], dir[256], buf[16];
	size_t n = 99;
	cn_err err;
	cn_store_info info;
	cn_conf_path(c, p, sizeof p, "empty/zero");
	cn_conf_path(c, dir, sizeof dir, "empty");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "", 0, &err), &err);
	if (CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err))
		CN_CONF_CHECK(c, info.size == 0 && !info.is_dir);
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, buf, sizeof buf, &n, &err), &err))
		CN_CONF_CHECK(c, n == 0);
	cn_store_reader *r = NULL;
	if (CN_CONF_OK(c, cn_store_get_open(c->s, p, 0, -1, &r, &info, &err), &err)) {
		CN_CONF_CHECK(c, info.size == 0);
		n = 99;
		CN_CONF_OK(c, cn_store_get_read(r, buf, sizeof buf, &n, &err), &err);
		CN_CONF_CHECK(c, n == 0);
		cn_store_get_close(r);
	}
	cn_conf_list l = {0};
	char tok[CAIRN_PAGE_TOKEN_MAX];
	if (CN_CONF_OK(
	            c,
	            cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	            &err))
		CN_CONF_CHECK(c, l.n == 1 && conf_list_find(&l, p) == 0 && l.size[0] == 0 &&
		                         !l.is_dir[0]);
}

static void conf_big(cn_conf *c)
{
	char p[256];
	cn_err err;
	cn_store_info info = {0};
	uint8_t want[32], got[32];
	int64_t size = c->o.big_object_bytes, total = 0;
	bool match = false;
	cn_conf_path(c, p, sizeof p, "big/object.bin");
	if (!CN_CONF_OK(c, cn_conf_put_pattern(c->s, p, 42, size, c->o.chunk_bytes, want, &err),
	                &err))
		return;
	/* Read back in reads of an odd size, hashing as it streams. */
	const cairn_host_api *host = cn_plugin_host_api();
	cn_store_reader *r = NULL;
	if (CN_CONF_OK(c, cn_store_get_open(c->s, p, 0, -1, &r, &info, &err), &err)) {
		CN_CONF_CHECK(c, info.size == size);
		size_t cap = 100 * 1024 + 3;
		uint8_t *buf = malloc(cap);
		cairn_sha256_ctx *h = host->sha256_begin();
		cn_code rc = buf && h ? CN_OK : CN_RESOURCE_EXHAUSTED;
		while (rc == CN_OK) {
			size_t n = 0;
			rc = cn_store_get_read(r, buf, cap, &n, &err);
			if (n == 0)
				break;
			host->sha256_update(h, buf, n);
			total += (int64_t)n;
		}
		host->sha256_end(h, got);
		free(buf);
		cn_store_get_close(r);
		CN_CONF_OK(c, rc, &err);
		CN_CONF_CHECK(c, total == size);
		CN_CONF_CHECK(c, memcmp(want, got, 32) == 0);
	}
	/* Ranges across chunk boundaries and at the end. */
	int64_t chunk = (int64_t)c->o.chunk_bytes;
	if (CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 42, 3 * chunk - 7, 20000, 4096, &total, &match,
	                                    &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == (size > 3 * chunk - 7 + 20000 ? 20000
		                                                        : size - (3 * chunk - 7)) &&
		                         match);
	if (CN_CONF_OK(c,
	               cn_conf_read_pattern(c->s, p, 42, size - 100, 1000, 64, &total, &match,
	                                    &info, &err),
	               &err))
		CN_CONF_CHECK(c, total == 100 && match);
	CN_CONF_OK(c, cn_store_remove(c->s, p, false, &err), &err);
}

static void conf_listing(cn_conf *c)
{
	char dir[256], p[256], tok[CAIRN_PAGE_TOKEN_MAX];
	cn_err err;
	static const char *const files[] = {
	        "a.txt", "b/c.txt", "b/d/e.txt", "c.txt", "d0", "e/f",
	        "f.bin", "g",       "h/i/j/k",   "i.txt", "j",  "k.dat",
	};
	cn_conf_path(c, dir, sizeof dir, "list");
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		cn_conf_path(c, p, sizeof p, "list/%s", files[i]);
		CN_CONF_OK(c, cn_store_put_bytes(c->s, p, files[i], strlen(files[i]), &err), &err);
	}
	/* Everything at once: the 12 children, sorted, dirs marked. */
	static const char *const top[] = {"a.txt", "b", "c.txt", "d0", "e",    "f.bin",
	                                  "g",     "h", "i.txt", "j",  "k.dat"};
	const int ntop = (int)(sizeof top / sizeof top[0]);
	cn_conf_list all = {0};
	if (!CN_CONF_OK(
	            c,
	            cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &all, tok, sizeof tok, &err),
	            &err))
		return;
	CN_CONF_CHECK(c, all.n == ntop);
	CN_CONF_CHECK(c, tok[0] == '\0');
	for (int i = 0; i < all.n && i < ntop; i++) {
		cn_conf_path(c, p, sizeof p, "list/%s", top[i]);
		CN_CONF_CHECK(c, strcmp(all.path[i], p) == 0);
		bool dirname = !strcmp(top[i], "b") || !strcmp(top[i], "e") || !strcmp(top[i], "h");
		CN_CONF_CHECK(c, all.is_dir[i] == (int)dirname);
		CN_CONF_CHECK(c,
		              dirname ? all.size[i] == 0 : all.size[i] == (int64_t)strlen(top[i]));
	}
	/* Pages of 5: 5 + 5 + 1, then no token; concatenated, the full list. */
	cn_conf_list paged = {0};
	char page_tok[CAIRN_PAGE_TOKEN_MAX] = "";
	int pages = 0;
	do {
		int before = paged.n;
		char in[CAIRN_PAGE_TOKEN_MAX];
		snprintf(in, sizeof in, "%s", page_tok);
		if (!CN_CONF_OK(c,
		                cn_store_list(c->s, dir, pages ? in : NULL, 5, cn_conf_list_cb,
		                              &paged, page_tok, sizeof page_tok, &err),
		                &err))
			break;
		CN_CONF_CHECK(c, paged.n - before <= 5);
		CN_CONF_CHECK(c, paged.n - before > 0);
		pages++;
	} while (page_tok[0] && pages < 10);
	CN_CONF_CHECK(c, pages == 3);
	CN_CONF_CHECK(c, paged.n == all.n);
	for (int i = 0; i < paged.n && i < all.n; i++)
		CN_CONF_CHECK(c, strcmp(paged.path[i], all.path[i]) == 0);
	/* A page size equal to the count ends without a further page. */
	cn_conf_list exact = {0};
	if (CN_CONF_OK(c,
	               cn_store_list(c->s, dir, NULL, (size_t)ntop, cn_conf_list_cb, &exact, tok,
	                             sizeof tok, &err),
	               &err)) {
		CN_CONF_CHECK(c, exact.n == ntop);
		if (tok[0]) { /* a store may not know; the next page must then be empty */
			cn_conf_list rest = {0};
			char in[CAIRN_PAGE_TOKEN_MAX];
			snprintf(in, sizeof in, "%s", tok);
			CN_CONF_OK(c,
			           cn_store_list(c->s, dir, in, (size_t)ntop, cn_conf_list_cb,
			                         &rest, tok, sizeof tok, &err),
			           &err);
			CN_CONF_CHECK(c, rest.n == 0 && tok[0] == '\0');
		}
	}
	/* Nesting. */
	cn_conf_list nested = {0};
	cn_conf_path(c, p, sizeof p, "list/b");
	if (CN_CONF_OK(c,
	               cn_store_list(c->s, p, NULL, 0, cn_conf_list_cb, &nested, tok, sizeof tok,
	                             &err),
	               &err)) {
		char a[256], b[256];
		cn_conf_path(c, a, sizeof a, "list/b/c.txt");
		cn_conf_path(c, b, sizeof b, "list/b/d");
		CN_CONF_CHECK(c, nested.n == 2 && strcmp(nested.path[0], a) == 0 &&
		                         strcmp(nested.path[1], b) == 0 && !nested.is_dir[0] &&
		                         nested.is_dir[1]);
	}
	/* A missing directory, and a file, list as empty. */
	cn_conf_list none = {0};
	cn_conf_path(c, p, sizeof p, "list/missing");
	CN_CONF_OK(c,
	           cn_store_list(c->s, p, NULL, 0, cn_conf_list_cb, &none, tok, sizeof tok, &err),
	           &err);
	cn_conf_path(c, p, sizeof p, "list/a.txt");
	CN_CONF_OK(c,
	           cn_store_list(c->s, p, NULL, 0, cn_conf_list_cb, &none, tok, sizeof tok, &err),
	           &err);
	CN_CONF_CHECK(c, none.n == 0);
	/* The callback stops a listing. */
	cn_conf_list stop = {.stop_after = 2};
	CN_CONF_CODE(
	        c, cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &stop, tok, sizeof tok, &err),
	        CN_CANCELLED, &err);
	CN_CONF_CHECK(c, stop.n == 2);
	/* The root lists our base directory. */
	cn_conf_list root = {0};
	cn_code rc =
	        cn_store_list(c->s, "", NULL, 0, cn_conf_list_cb, &root, tok, sizeof tok, &err);
	if (rc == CN_OK || (rc == CN_CANCELLED && root.overflow)) {
		/* a shared store may hold more than fits; ours must be found by paging */
		int at = conf_list_find(&root, c->base);
		CN_CONF_CHECK(c, root.overflow || (at >= 0 && root.is_dir[at]));
	} else {
		CN_CONF_OK(c, rc, &err);
	}
}

static void conf_stat(cn_conf *c)
{
	char p[256];
	cn_err err;
	cn_store_info info;
	cn_conf_path(c, p, sizeof p, "stat/d/f");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "12345", 5, &err), &err);
	if (CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err))
		CN_CONF_CHECK(c, info.size == 5 && !info.is_dir && info.mtime_ms >= 0);
	cn_conf_path(c, p, sizeof p, "stat/d");
	if (CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err))
		CN_CONF_CHECK(c, info.is_dir);
	if (CN_CONF_OK(c, cn_store_stat(c->s, "", &info, &err), &err))
		CN_CONF_CHECK(c, info.is_dir);
	/* A directory is not readable as an object. */
	cn_store_reader *r = NULL;
	CN_CONF_CHECK(c, cn_store_get_open(c->s, p, 0, -1, &r, NULL, &err) != CN_OK);
}

static void conf_remove(cn_conf *c)
{
	char p[256], d[256], tok[CAIRN_PAGE_TOKEN_MAX];
	cn_err err;
	cn_store_info info;
	static const char *const files[] = {"rm/one", "rm/t/a", "rm/t/b/c", "rm/t/b/d/e",
	                                    "rm/keep"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		cn_conf_path(c, p, sizeof p, "%s", files[i]);
		CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "x", 1, &err), &err);
	}
	cn_conf_path(c, p, sizeof p, "rm/one");
	CN_CONF_OK(c, cn_store_remove(c->s, p, false, &err), &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_remove(c->s, p, false, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	/* A directory with children needs recursive. */
	cn_conf_path(c, d, sizeof d, "rm/t");
	CN_CONF_CODE(c, cn_store_remove(c->s, d, false, &err), CN_INVALID_PARAMETER_VALUE, &err);
	cn_conf_path(c, p, sizeof p, "rm/t/b/d/e");
	CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err);
	CN_CONF_OK(c, cn_store_remove(c->s, d, true, &err), &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, d, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	cn_store_reader *r = NULL;
	CN_CONF_CODE(c, cn_store_get_open(c->s, p, 0, -1, &r, NULL, &err),
	             CN_RESOURCE_DOES_NOT_EXIST, &err);
	cn_conf_list l = {0};
	CN_CONF_OK(c, cn_store_list(c->s, d, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	           &err);
	CN_CONF_CHECK(c, l.n == 0);
	/* Recursive remove of what is not there is not an error. */
	CN_CONF_OK(c, cn_store_remove(c->s, d, true, &err), &err);
	/* The sibling survived. */
	cn_conf_path(c, p, sizeof p, "rm/keep");
	CN_CONF_OK(c, cn_store_stat(c->s, p, &info, &err), &err);
	/* Recursive remove of a single object. */
	CN_CONF_OK(c, cn_store_remove(c->s, p, true, &err), &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
}

static void conf_not_found(cn_conf *c)
{
	char p[256];
	cn_err err;
	cn_store_info info;
	cn_store_reader *r = NULL;
	cn_conf_path(c, p, sizeof p, "nf/never-written");
	CN_CONF_CODE(c, cn_store_get_open(c->s, p, 0, -1, &r, &info, &err),
	             CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CODE(c, cn_store_remove(c->s, p, false, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	CN_CONF_CHECK(c, err.msg[0] != '\0');
}

static void conf_unsafe_paths(cn_conf *c)
{
	static const char *const bad[] = {
	        "..",  "../x", "a/../../x", "a/..", "/etc/passwd", "a\\b", "a//b",
	        "./a", "a/.",  "a/",        "/",    "a\nb",        "a\tb",
	};
	cn_err err;
	cn_store_info info;
	char tok[CAIRN_PAGE_TOKEN_MAX];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cn_store_writer *w = NULL;
		cn_store_reader *r = NULL;
		cn_conf_list l = {0};
		const char *b = bad[i];
		CN_CONF_CODE(c, cn_store_put_begin(c->s, b, -1, &w, &err),
		             CN_INVALID_PARAMETER_VALUE, &err);
		CN_CONF_CODE(c, cn_store_get_open(c->s, b, 0, -1, &r, NULL, &err),
		             CN_INVALID_PARAMETER_VALUE, &err);
		CN_CONF_CODE(c, cn_store_stat(c->s, b, &info, &err), CN_INVALID_PARAMETER_VALUE,
		             &err);
		CN_CONF_CODE(c, cn_store_remove(c->s, b, true, &err), CN_INVALID_PARAMETER_VALUE,
		             &err);
		CN_CONF_CODE(
		        c,
		        cn_store_list(c->s, b, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
		        CN_INVALID_PARAMETER_VALUE, &err);
	}
	/* "" is the root: never an object, and not removable one at a time. */
	cn_store_writer *w = NULL;
	cn_store_reader *r = NULL;
	CN_CONF_CODE(c, cn_store_put_begin(c->s, "", -1, &w, &err), CN_INVALID_PARAMETER_VALUE,
	             &err);
	CN_CONF_CODE(c, cn_store_get_open(c->s, "", 0, -1, &r, NULL, &err),
	             CN_INVALID_PARAMETER_VALUE, &err);
	CN_CONF_CODE(c, cn_store_remove(c->s, "", false, &err), CN_INVALID_PARAMETER_VALUE, &err);
	/* Longer than CAIRN_PATH_MAX. */
	char *longp = malloc(CAIRN_PATH_MAX + 2);
	if (longp) {
		memset(longp, 'a', CAIRN_PATH_MAX + 1);
		longp[CAIRN_PATH_MAX + 1] = '\0';
		CN_CONF_CODE(c, cn_store_put_begin(c->s, longp, -1, &w, &err),
		             CN_INVALID_PARAMETER_VALUE, &err);
		free(longp);
	}
}

static void conf_abort(cn_conf *c)
{
	char p[256], dir[256], tok[CAIRN_PAGE_TOKEN_MAX], got[16];
	cn_err err;
	cn_store_info info;
	size_t n = 0;
	cn_conf_path(c, dir, sizeof dir, "abort");
	cn_conf_path(c, p, sizeof p, "abort/new");
	cn_store_writer *w = NULL;
	if (CN_CONF_OK(c, cn_store_put_begin(c->s, p, 1000, &w, &err), &err)) {
		uint8_t buf[1000];
		cn_conf_fill(buf, sizeof buf, 3, 0);
		CN_CONF_OK(c, cn_store_put_write(w, buf, sizeof buf, &err), &err);
		/* Not visible before commit. */
		CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST,
		             &err);
		cn_store_put_abort(w);
	}
	CN_CONF_CODE(c, cn_store_stat(c->s, p, &info, &err), CN_RESOURCE_DOES_NOT_EXIST, &err);
	cn_conf_list l = {0};
	CN_CONF_OK(c, cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	           &err);
	CN_CONF_CHECK(c, l.n == 0);
	/* Aborting a replacement keeps the old object; an uncommitted one is unseen. */
	cn_conf_path(c, p, sizeof p, "abort/old");
	CN_CONF_OK(c, cn_store_put_bytes(c->s, p, "old", 3, &err), &err);
	if (CN_CONF_OK(c, cn_store_put_begin(c->s, p, -1, &w, &err), &err)) {
		CN_CONF_OK(c, cn_store_put_write(w, "new!", 4, &err), &err);
		if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
			CN_CONF_CHECK(c, n == 3 && memcmp(got, "old", 3) == 0);
		cn_store_put_abort(w);
	}
	if (CN_CONF_OK(c, cn_conf_read_small(c->s, p, got, sizeof got, &n, &err), &err))
		CN_CONF_CHECK(c, n == 3 && memcmp(got, "old", 3) == 0);
	memset(&l, 0, sizeof l);
	CN_CONF_OK(c, cn_store_list(c->s, dir, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	           &err);
	CN_CONF_CHECK(c, l.n == 1);
}

/* ------------------------------------------------------------------------ */

/* "5368709120", "5GiB", "512m", "64 KiB": binary suffixes; -1 when not a size. */
static int64_t conf_parse_size(const char *s)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	while (*end == ' ')
		end++;
	static const struct {
		const char *sfx;
		int shift;
	} units[] = {{"", 0},     {"b", 0},   {"k", 10},   {"kb", 10}, {"kib", 10},
	             {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},
	             {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40}};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (strcasecmp(end, units[i].sfx) == 0)
			return v > ((unsigned long long)INT64_MAX >> units[i].shift)
			               ? -1
			               : (int64_t)(v << units[i].shift);
	return -1;
}

int cn_store_conformance_run_opts(cn_store *store, const char *label,
                                  const cn_store_conformance_opts *opts)
{
	cn_conf c = {.s = store, .label = label ? label : "store"};
	if (opts)
		c.o = *opts;
	if (c.o.big_object_bytes <= 0)
		c.o.big_object_bytes = 64ll << 20;
	if (c.o.chunk_bytes == 0)
		c.o.chunk_bytes = 64 << 10;
	if (c.o.threads <= 0)
		c.o.threads = 8;
	if (c.o.mpu_part_bytes <= 0)
		c.o.mpu_part_bytes = 5ll << 20;
	/* The operator's size for the big object wins over the caller's. */
	const char *big = getenv("CAIRN_CONFORMANCE_BIG_BYTES");
	if (big && big[0]) {
		int64_t v = conf_parse_size(big);
		if (v > 0)
			c.o.big_object_bytes = v;
		else
			cn_conf_report(
			        &c, false, __FILE__, __LINE__,
			        "CAIRN_CONFORMANCE_BIG_BYTES is not a size (bytes, or a number "
			        "with k, m, g, KiB, MiB, GiB)");
	}
	uint8_t rnd[6];
	cn_plugin_host_api()->random_bytes(rnd, sizeof rnd);
	snprintf(c.base, sizeof c.base, "conformance-%.40s-%02x%02x%02x%02x%02x%02x", c.label,
	         rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	for (char *q = c.base; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-'))
			*q = '_';

	conf_roundtrip(&c);
	conf_ranges(&c);
	conf_empty(&c);
	conf_big(&c);
	conf_listing(&c);
	conf_stat(&c);
	conf_remove(&c);
	conf_not_found(&c);
	conf_unsafe_paths(&c);
	conf_abort(&c);
	cn_conf_concurrent(&c);
	cn_conf_multipart(&c);
	cn_conf_presign(&c);
	cn_conf_cancel(&c);

	/* Clean up, which also tests a big recursive remove. */
	cn_err err;
	cn_store_info info;
	char tok[CAIRN_PAGE_TOKEN_MAX];
	cn_conf_list l = {0};
	CN_CONF_OK(&c, cn_store_remove(store, c.base, true, &err), &err);
	CN_CONF_CODE(&c, cn_store_stat(store, c.base, &info, &err), CN_RESOURCE_DOES_NOT_EXIST,
	             &err);
	CN_CONF_OK(
	        &c,
	        cn_store_list(store, c.base, NULL, 0, cn_conf_list_cb, &l, tok, sizeof tok, &err),
	        &err);
	CN_CONF_CHECK(&c, l.n == 0);
	return c.failures;
}

int cn_store_conformance_run(cn_store *store, const char *label)
{
	return cn_store_conformance_run_opts(store, label, NULL);
}
