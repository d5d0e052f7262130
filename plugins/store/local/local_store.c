/*
 * plugins/store/local/local_store.c: the artifact store on the local file
 * system (file:// URIs and plain paths). Builds as cairn_store_local.so and
 * links nothing of Cairn: only cairn/plugin.h and the C library.
 *
 * Layout: an artifact "a/b.txt" is the file <root>/a/b.txt. Every file
 * operation is relative to a descriptor of the root (openat and friends), so
 * the root is resolved once at open.
 *
 * Atomic publish: put writes <dir>/.cairn-tmp-<random> (O_EXCL) next to the
 * final name and, on commit, fsyncs it, renames it over the final name and
 * fsyncs the directory, so a reader sees the old object or the whole new one
 * and an acknowledged object survives a crash. Temporary names are hidden
 * from listings and refused as artifact paths.
 *
 * Multipart uploads: an upload is a staging directory
 * <root>/.cairn-tmp-mpu-<id> (hidden like every temporary name) holding a
 * file "path" with the target artifact path and one file per committed part,
 * "part-<number>-<sha256 hex>"; the part's ETag is that SHA-256, so a
 * re-sent part never overwrites the bytes a client already holds an ETag
 * for, and completing with a wrong ETag finds no file. Complete concatenates
 * the parts (copy_file_range, so the bytes never pass through user space on
 * file systems that support it) into a temporary file in the target's
 * directory and publishes it exactly as put_commit does, then drops the
 * staging directory. Uploads left unfinished longer than
 * store.local.mpu_max_age_s (default 7 days) are removed by later mpu_create
 * calls.
 */
#include "cairn/plugin.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "1.0.0"
#endif

#define LOCAL_TMP_PREFIX     ".cairn-tmp-"
#define LOCAL_TMP_PREFIX_LEN (sizeof LOCAL_TMP_PREFIX - 1)

#define LOCAL_MPU_PREFIX     ".cairn-tmp-mpu-"
#define LOCAL_MPU_ID_LEN     32
#define LOCAL_MPU_MAX_AGE_S  (7 * 24 * 3600)
#define LOCAL_MPU_SWEEP_MS   (3600 * 1000)
#define LOCAL_COPY_BUF_BYTES (1 << 20)

struct cairn_store {
	int root_fd;
	const cairn_host_api *host;
	int64_t mpu_max_age_s;          /* store.local.mpu_max_age_s */
	_Atomic int64_t mpu_next_sweep; /* ms; the next mpu_create after it sweeps */
	char root[];                    /* for messages */
};

struct cairn_store_writer {
	cairn_store *store;
	int fd;
	int dir_fd;
	cairn_sha256_ctx *sha; /* parts only: the ETag, hashed as bytes arrive */
	int64_t written;
	int64_t want; /* parts only: the size announced at begin */
	int part;     /* parts only: its number; 0 for a plain put */
	char tmp[LOCAL_TMP_PREFIX_LEN + 33];
	char name[]; /* final file name within dir_fd */
};

struct cairn_store_reader {
	int fd;
	int64_t pos;
	int64_t end;
};

/* ------------------------------------------------------------------------ */
/* Helpers */

/* errno -> status. `writing` turns "a file is where a directory must be"
 * into EXISTS rather than NOT_FOUND. */
static int local_status(int e, bool writing)
{
	switch (e) {
	case ENOENT: return CAIRN_ERR_NOT_FOUND;
	case ENOTDIR: return writing ? CAIRN_ERR_EXISTS : CAIRN_ERR_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS: return CAIRN_ERR_PERMISSION;
	case EISDIR:
	case EEXIST:
	case ENOTEMPTY: return CAIRN_ERR_EXISTS;
	case ENAMETOOLONG:
	case ELOOP:
	case EINVAL: return CAIRN_ERR_INVALID;
	case ENOMEM: return CAIRN_ERR_NO_MEMORY;
	default: return CAIRN_ERR_IO;
	}
}

static int local_fail(cairn_error *err, bool writing, const char *what, const char *path)
{
	int e = errno;
	return cairn_error_set(err, local_status(e, writing), "%s '%.300s': %s", what, path,
	                       strerror(e));
}

/* The same rules as the host's check, plus: no component may look like one
 * of our temporary files. The host checks first; this is defence in depth. */
static bool local_path_ok(const char *path, bool allow_root)
{
	if (!path)
		return false;
	size_t len = strlen(path);
	if (len == 0)
		return allow_root;
	if (len > CAIRN_PATH_MAX || path[0] == '/' || path[len - 1] == '/')
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)path[i] : '/';
		if (c < 0x20 || c == 0x7f || c == '\\')
			return false;
		if (c != '/')
			continue;
		const char *comp = path + start;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.') ||
		    (clen >= LOCAL_TMP_PREFIX_LEN &&
		     memcmp(comp, LOCAL_TMP_PREFIX, LOCAL_TMP_PREFIX_LEN) == 0))
			return false;
		start = i + 1;
	}
	return true;
}

static int local_bad_path(cairn_error *err, const char *path)
{
	return cairn_error_set(err, CAIRN_ERR_INVALID, "unsafe artifact path '%.300s'",
	                       path ? path : "(null)");
}

static ssize_t local_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* fsync the directory that holds the entry buf[0..end) (relative to base_fd),
 * so that a directory just created there survives a crash. */
static int local_sync_parent(int base_fd, char *buf, size_t end)
{
	size_t cut = end;
	while (cut > 0 && buf[cut - 1] != '/')
		cut--;
	char saved = buf[cut];
	buf[cut] = '\0';
	const char *parent = cut == 0 ? "." : buf;
	int fd = openat(base_fd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	buf[cut] = saved;
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* mkdir -p of the directories in rel (all of it), relative to base_fd, each
 * new one made durable. With base_fd AT_FDCWD, rel may be absolute. */
static int local_mkdirs(int base_fd, const char *rel, size_t len)
{
	char buf[4096 + 1];
	if (len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, rel, len);
	buf[len] = '\0';
	for (size_t i = 1; i <= len; i++) {
		if (i < len && buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdirat(base_fd, buf, 0777) == 0) {
			if (local_sync_parent(base_fd, buf, i) != 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

static int local_hex_of(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The file-system root of a "file:" URI or plain path, percent-decoded for
 * URIs, into out. Returns false when it names no local directory. */
static bool local_root_of(const char *uri, char *out, size_t cap)
{
	const char *p = uri;
	bool is_uri = strncmp(uri, "file:", 5) == 0;
	if (is_uri) {
		p = uri + 5;
		if (strncmp(p, "//", 2) == 0) {
			p += 2; /* authority: empty or localhost only */
			if (strncmp(p, "localhost/", 10) == 0)
				p += 9;
			if (*p != '/')
				return false;
		} else if (*p != '/') {
			return false;
		}
	}
	size_t n = 0;
	for (; *p; p++) {
		char c = *p;
		if (is_uri && c == '%') {
			int hi = local_hex_of(p[1]), lo = hi >= 0 ? local_hex_of(p[2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if (n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
	return n > 0;
}

/* ------------------------------------------------------------------------ */
/* Store */

static int local_open(const char *root_uri, const cairn_host_api *host, void *plugin_state,
                      cairn_store **out, cairn_error *err)
{
	char root[4096];
	if (!root_uri || !local_root_of(root_uri, root, sizeof root))
		return cairn_error_set(err, CAIRN_ERR_INVALID,
		                       "not a local path or file:// URI: '%.300s'",
		                       root_uri ? root_uri : "(null)");
	/* A new run's artifact root does not exist yet: create it. */
	if (local_mkdirs(AT_FDCWD, root, strlen(root)) != 0)
		return local_fail(err, true, "create store root", root);
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return local_fail(err, false, "open store root", root);
	cairn_store *s = malloc(sizeof *s + strlen(root) + 1);
	if (!s) {
		close(fd);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	s->root_fd = fd;
	s->host = host;
	s->mpu_max_age_s = LOCAL_MPU_MAX_AGE_S;
	const char *age = host->config_get("store.local.mpu_max_age_s");
	if (age && *age) {
		char *end = NULL;
		long long v = strtoll(age, &end, 10);
		if (end && !*end && v > 0)
			s->mpu_max_age_s = v;
		else
			host->log(CAIRN_LOG_WARN, "STORE-LOCAL-BAD-SETTING",
			          "store.local.mpu_max_age_s '%.40s' is not a positive number of "
			          "seconds; using %d",
			          age, LOCAL_MPU_MAX_AGE_S);
	}
	atomic_init(&s->mpu_next_sweep, 0);
	memcpy(s->root, root, strlen(root) + 1);
	*out = s;
	return CAIRN_OK;
}

static void local_close(cairn_store *s)
{
	close(s->root_fd);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* Writing */

/* A writer of a temporary file in the directory dir_fd (consumed, also on
 * failure) that will become name there. */
static int local_writer_new(cairn_store *s, int dir_fd, const char *name, const char *what,
                            cairn_store_writer **out, cairn_error *err)
{
	cairn_store_writer *w = calloc(1, sizeof *w + strlen(name) + 1);
	if (!w) {
		close(dir_fd);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	w->store = s;
	w->dir_fd = dir_fd;
	memcpy(w->name, name, strlen(name) + 1);
	w->fd = -1;
	for (int attempt = 0; attempt < 4 && w->fd < 0; attempt++) {
		unsigned char rnd[16];
		if (s->host->random_bytes(rnd, sizeof rnd) != CAIRN_OK) {
			close(dir_fd);
			free(w);
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "no random bytes for a temp name");
		}
		memcpy(w->tmp, LOCAL_TMP_PREFIX, LOCAL_TMP_PREFIX_LEN);
		for (int i = 0; i < 16; i++) {
			w->tmp[LOCAL_TMP_PREFIX_LEN + 2 * i] = "0123456789abcdef"[rnd[i] >> 4];
			w->tmp[LOCAL_TMP_PREFIX_LEN + 2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
		}
		w->tmp[LOCAL_TMP_PREFIX_LEN + 32] = '\0';
		w->fd = openat(dir_fd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (w->fd < 0 && errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		int rc = local_fail(err, true, "create temporary file for", what);
		close(dir_fd);
		free(w);
		return rc;
	}
	*out = w;
	return CAIRN_OK;
}

static int local_put_begin(cairn_store *s, const char *path, int64_t size_hint,
                           cairn_store_writer **out, cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	int dir_fd;
	if (slash) {
		char dir[CAIRN_PATH_MAX + 1];
		size_t dlen = (size_t)(slash - path);
		memcpy(dir, path, dlen);
		dir[dlen] = '\0';
		if (local_mkdirs(s->root_fd, dir, dlen) != 0)
			return local_fail(err, true, "create directory for", path);
		dir_fd = openat(s->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		dir_fd = openat(s->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dir_fd < 0)
		return local_fail(err, true, "open directory of", path);
	return local_writer_new(s, dir_fd, name, path, out, err);
}

static int local_put_write(cairn_store_writer *w, const void *buf, size_t len, cairn_error *err)
{
	if (local_write_all(w->fd, buf, len) < 0)
		return local_fail(err, true, "write", w->name);
	if (w->sha)
		w->store->host->sha256_update(w->sha, buf, len);
	w->written += (int64_t)len;
	return CAIRN_OK;
}

static void local_writer_free(cairn_store_writer *w, bool unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlinkat(w->dir_fd, w->tmp, 0);
	if (w->sha)
		w->store->host->sha256_end(w->sha, NULL);
	close(w->dir_fd);
	free(w);
}

static int local_put_commit(cairn_store_writer *w, cairn_error *err)
{
	int rc = CAIRN_OK;
	if (fsync(w->fd) != 0) {
		rc = local_fail(err, true, "sync", w->name);
	} else {
		int fd = w->fd;
		w->fd = -1;
		if (close(fd) != 0)
			rc = local_fail(err, true, "close", w->name);
	}
	if (rc == CAIRN_OK && renameat(w->dir_fd, w->tmp, w->dir_fd, w->name) != 0)
		rc = local_fail(err, true, "publish", w->name);
	if (rc != CAIRN_OK) {
		local_writer_free(w, true);
		return rc;
	}
	/* Make the rename itself durable. Past this point the object is visible,
	 * so a failure here is reported but cannot be undone. */
	if (fsync(w->dir_fd) != 0) {
		rc = local_fail(err, true, "sync directory of", w->name);
		w->store->host->log(CAIRN_LOG_ERROR, "STORE-LOCAL-DIR-SYNC", "store %s: %s",
		                    w->store->root, err ? err->message : "");
	}
	local_writer_free(w, false);
	return rc;
}

static void local_put_abort(cairn_store_writer *w)
{
	local_writer_free(w, true);
}

/* ------------------------------------------------------------------------ */
/* Reading */

static int local_get_open(cairn_store *s, const char *path, int64_t offset, int64_t length,
                          cairn_store_reader **out, cairn_object_info *info, cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	if (offset < 0 || length < -1)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad range");
	int fd = openat(s->root_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return local_fail(err, false, "open", path);
	struct stat st;
	int rc = CAIRN_OK;
	if (fstat(fd, &st) != 0)
		rc = local_fail(err, false, "stat", path);
	else if (S_ISDIR(st.st_mode))
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "'%.300s' is a directory", path);
	else if (!S_ISREG(st.st_mode))
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "'%.300s' is not a regular file",
		                     path);
	else if (offset > (int64_t)st.st_size)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "range offset %lld is past the end of '%.300s' (%lld bytes)",
		                     (long long)offset, path, (long long)st.st_size);
	cairn_store_reader *r = rc == CAIRN_OK ? malloc(sizeof *r) : NULL;
	if (rc == CAIRN_OK && !r)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	if (rc != CAIRN_OK) {
		close(fd);
		return rc;
	}
	int64_t size = (int64_t)st.st_size;
	r->fd = fd;
	r->pos = offset;
	r->end = (length < 0 || length > size - offset) ? size : offset + length;
	info->size = size;
	info->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	info->is_dir = 0;
	*out = r;
	return CAIRN_OK;
}

static int local_get_read(cairn_store_reader *r, void *buf, size_t cap, size_t *n, cairn_error *err)
{
	int64_t left = r->end - r->pos;
	size_t want = left <= 0 ? 0 : ((uint64_t)left < cap ? (size_t)left : cap);
	ssize_t got = 0;
	while (want) {
		got = pread(r->fd, buf, want, (off_t)r->pos);
		if (got >= 0 || errno != EINTR)
			break;
	}
	if (got < 0)
		return cairn_error_set(err, local_status(errno, false), "read: %s",
		                       strerror(errno));
	r->pos += got;
	*n = (size_t)got;
	return CAIRN_OK;
}

static void local_get_close(cairn_store_reader *r)
{
	close(r->fd);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Directories */

typedef struct local_names {
	char **v;
	size_t n, cap;
} local_names;

static void local_names_free(local_names *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

static int local_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entry names of the directory at dir_fd (which is consumed),
 * sorted. Returns 0 or -1 with errno. */
static int local_read_names(int dir_fd, local_names *a)
{
	DIR *d = fdopendir(dir_fd);
	if (!d) {
		close(dir_fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, "..") ||
		    !strncmp(nm, LOCAL_TMP_PREFIX, LOCAL_TMP_PREFIX_LEN))
			continue;
		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 32;
			char **v = realloc(a->v, cap * sizeof *v);
			if (!v) {
				rc = -1;
				errno = ENOMEM;
				break;
			}
			a->v = v;
			a->cap = cap;
		}
		if (!(a->v[a->n] = strdup(nm))) {
			rc = -1;
			errno = ENOMEM;
			break;
		}
		a->n++;
		errno = 0;
	}
	if (rc == 0 && errno != 0)
		rc = -1;
	int e = errno;
	closedir(d);
	errno = e;
	if (rc == 0 && a->n > 1)
		qsort(a->v, a->n, sizeof *a->v, local_name_cmp);
	return rc;
}

static int local_list(cairn_store *s, const char *dir, const char *page_token, size_t max_entries,
                      cairn_list_fn cb, void *cb_arg, char *next_token, size_t next_token_cap,
                      cairn_error *err)
{
	if (!local_path_ok(dir, true))
		return local_bad_path(err, dir);
	if (next_token_cap)
		next_token[0] = '\0';
	int dir_fd = openat(s->root_fd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CAIRN_OK; /* as object stores: nothing there */
		return local_fail(err, false, "list", dir);
	}
	int probe_fd = dup(dir_fd); /* fdopendir takes dir_fd; stats need one too */
	local_names a = {0};
	if (probe_fd < 0 || local_read_names(dir_fd, &a) != 0) {
		int rc = local_fail(err, false, "list", dir);
		if (probe_fd < 0)
			close(dir_fd);
		else
			close(probe_fd);
		local_names_free(&a);
		return rc;
	}
	size_t i = 0;
	if (page_token && page_token[0])
		while (i < a.n && strcmp(a.v[i], page_token) <= 0)
			i++;
	int rc = CAIRN_OK;
	size_t given = 0, dlen = strlen(dir);
	const char *last = NULL;
	for (; i < a.n; i++) {
		if (max_entries && given == max_entries) {
			if (!last || strlen(last) >= next_token_cap)
				rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY,
				                     "page token buffer too small");
			else
				memcpy(next_token, last, strlen(last) + 1);
			break;
		}
		struct stat st;
		if (fstatat(probe_fd, a.v[i], &st, 0) != 0)
			continue; /* removed meanwhile, or a dangling link */
		char path[CAIRN_PATH_MAX + 1];
		size_t nlen = strlen(a.v[i]);
		if (dlen + 1 + nlen > CAIRN_PATH_MAX)
			continue; /* not addressable as an artifact path */
		if (dlen) {
			memcpy(path, dir, dlen);
			path[dlen] = '/';
			memcpy(path + dlen + 1, a.v[i], nlen + 1);
		} else {
			memcpy(path, a.v[i], nlen + 1);
		}
		cairn_list_entry e = {
		        .path = path,
		        .is_dir = S_ISDIR(st.st_mode),
		        .size = S_ISDIR(st.st_mode) ? 0 : (int64_t)st.st_size,
		        .mtime_ms =
		                (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
		};
		given++;
		last = a.v[i];
		if (cb(cb_arg, &e) != 0) {
			rc = cairn_error_set(err, CAIRN_ERR_CANCELLED,
			                     "listing stopped by callback");
			break;
		}
	}
	close(probe_fd);
	local_names_free(&a);
	return rc;
}

static int local_stat(cairn_store *s, const char *path, cairn_object_info *info, cairn_error *err)
{
	if (!local_path_ok(path, true))
		return local_bad_path(err, path);
	struct stat st;
	if (fstatat(s->root_fd, path[0] ? path : ".", &st, 0) != 0)
		return local_fail(err, false, "stat", path);
	info->is_dir = S_ISDIR(st.st_mode);
	info->size = info->is_dir ? 0 : (int64_t)st.st_size;
	info->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return CAIRN_OK;
}

/* Removes everything inside the directory name (relative to parent_fd),
 * without following symbolic links. Returns 0 or -1 with errno. */
static int local_empty_dir(int parent_fd, const char *name)
{
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int keep = dup(fd);
	local_names a = {0};
	if (keep < 0) {
		close(fd);
		return -1;
	}
	/* Names first, removals after: no unlinking under a running readdir. */
	int rc = local_read_names(fd, &a);
	for (size_t i = 0; rc == 0 && i < a.n; i++) {
		struct stat st;
		if (fstatat(keep, a.v[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				rc = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (local_empty_dir(keep, a.v[i]) != 0 ||
			    (unlinkat(keep, a.v[i], AT_REMOVEDIR) != 0 && errno != ENOENT))
				rc = -1;
		} else if (unlinkat(keep, a.v[i], 0) != 0 && errno != ENOENT) {
			rc = -1;
		}
	}
	int e = errno;
	close(keep);
	local_names_free(&a);
	errno = e;
	return rc;
}

static int local_remove(cairn_store *s, const char *path, int recursive, cairn_error *err)
{
	if (!local_path_ok(path, recursive != 0))
		return local_bad_path(err, path);
	if (!path[0]) /* the root: empty it, keep it */
		return local_empty_dir(s->root_fd, ".") == 0 ? CAIRN_OK
		                                             : local_fail(err, false, "remove", "");
	struct stat st;
	if (fstatat(s->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (recursive && (errno == ENOENT || errno == ENOTDIR))
			return CAIRN_OK;
		return local_fail(err, false, "remove", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(s->root_fd, path, 0) != 0)
			return local_fail(err, false, "remove", path);
		return CAIRN_OK;
	}
	if (recursive && local_empty_dir(s->root_fd, path) != 0)
		return local_fail(err, false, "remove contents of", path);
	if (unlinkat(s->root_fd, path, AT_REMOVEDIR) != 0) {
		if (!recursive && (errno == ENOTEMPTY || errno == EEXIST))
			return cairn_error_set(err, CAIRN_ERR_INVALID,
			                       "'%.300s' is a directory with contents; remove it "
			                       "recursively",
			                       path);
		return local_fail(err, false, "remove", path);
	}
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */
/* Multipart uploads */

/* The staging directory name of a well-formed upload id. */
static bool local_mpu_name(const char *upload_id, char *out, size_t cap)
{
	if (!upload_id || strlen(upload_id) != LOCAL_MPU_ID_LEN)
		return false;
	for (const char *p = upload_id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	int n = snprintf(out, cap, LOCAL_MPU_PREFIX "%s", upload_id);
	return n > 0 && (size_t)n < cap;
}

static int local_no_upload(cairn_error *err, const char *upload_id)
{
	return cairn_error_set(err, CAIRN_ERR_NOT_FOUND,
	                       "no multipart upload '%.80s' for this path",
	                       upload_id ? upload_id : "(null)");
}

/* Unlinks every entry of the directory dir_fd (files only, hidden ones too:
 * a staging directory holds nothing else). Returns 0 or -1 with errno. */
static int local_unlink_files(int dir_fd)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Names first, removals after: no unlinking under a running readdir. */
	local_names a = {0};
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (a.n == a.cap) {
			size_t cap = a.cap ? a.cap * 2 : 32;
			char **v = realloc(a.v, cap * sizeof *v);
			if (!v) {
				rc = -1;
				break;
			}
			a.v = v;
			a.cap = cap;
		}
		if (!(a.v[a.n] = strdup(de->d_name)))
			rc = -1;
		else
			a.n++;
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < a.n; i++)
		if (unlinkat(dir_fd, a.v[i], 0) != 0 && errno != ENOENT)
			rc = -1;
	int e = errno;
	local_names_free(&a);
	errno = e;
	return rc;
}

/* Removes the staging directory name (its files, then itself). */
static int local_mpu_drop(cairn_store *s, const char *name)
{
	int fd = openat(s->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = local_unlink_files(fd);
	close(fd);
	if (rc == 0 && unlinkat(s->root_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* Drops uploads untouched for longer than mpu_max_age_s (a staging
 * directory's mtime moves with every part), at most once an hour. */
static void local_mpu_sweep(cairn_store *s)
{
	int64_t now = s->host->now_ms();
	int64_t due = atomic_load(&s->mpu_next_sweep);
	if (now < due ||
	    !atomic_compare_exchange_strong(&s->mpu_next_sweep, &due, now + LOCAL_MPU_SWEEP_MS))
		return;
	int fd = openat(s->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	local_names old = {0};
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (strncmp(de->d_name, LOCAL_MPU_PREFIX, sizeof LOCAL_MPU_PREFIX - 1) != 0 ||
		    fstatat(s->root_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode) ||
		    (int64_t)st.st_mtim.tv_sec + s->mpu_max_age_s > now / 1000)
			continue;
		if (old.n == old.cap) {
			size_t cap = old.cap ? old.cap * 2 : 8;
			char **v = realloc(old.v, cap * sizeof *v);
			if (!v)
				break;
			old.v = v;
			old.cap = cap;
		}
		if ((old.v[old.n] = strdup(de->d_name)) != NULL)
			old.n++;
	}
	closedir(d);
	for (size_t i = 0; i < old.n; i++) {
		if (local_mpu_drop(s, old.v[i]) == 0)
			s->host->log(
			        CAIRN_LOG_INFO, "STORE-LOCAL-MPU-EXPIRED",
			        "store %s: removed multipart upload %s, idle for more than %lld s",
			        s->root, old.v[i] + sizeof LOCAL_MPU_PREFIX - 1,
			        (long long)s->mpu_max_age_s);
	}
	local_names_free(&old);
}

/* Opens the staging directory of upload_id and checks that it is an upload
 * of path. NOT_FOUND when there is no such upload (for that path). */
static int local_mpu_open(cairn_store *s, const char *path, const char *upload_id, int *out,
                          cairn_error *err)
{
	char name[64];
	if (!local_mpu_name(upload_id, name, sizeof name))
		return local_no_upload(err, upload_id);
	int fd = openat(s->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? local_no_upload(err, upload_id)
		                       : local_fail(err, false, "open multipart upload of", path);
	char got[CAIRN_PATH_MAX + 2];
	ssize_t n = -1;
	int pf = openat(fd, "path", O_RDONLY | O_CLOEXEC);
	if (pf >= 0) {
		n = read(pf, got, sizeof got - 1);
		close(pf);
	}
	if (n < 0 || (size_t)n != strlen(path) || memcmp(got, path, (size_t)n) != 0) {
		close(fd);
		return local_no_upload(err, upload_id);
	}
	*out = fd;
	return CAIRN_OK;
}

static int local_mpu_create(cairn_store *s, const char *path, char *upload_id, size_t cap,
                            cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	if (cap < LOCAL_MPU_ID_LEN + 1)
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "upload id buffer too small");
	local_mpu_sweep(s);
	char id[LOCAL_MPU_ID_LEN + 1], name[64];
	int rc = CAIRN_ERR_IO;
	for (int attempt = 0; attempt < 4 && rc != CAIRN_OK; attempt++) {
		unsigned char rnd[LOCAL_MPU_ID_LEN / 2];
		if (s->host->random_bytes(rnd, sizeof rnd) != CAIRN_OK)
			return cairn_error_set(err, CAIRN_ERR_IO,
			                       "no random bytes for an upload id");
		for (size_t i = 0; i < sizeof rnd; i++) {
			id[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
			id[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
		}
		id[LOCAL_MPU_ID_LEN] = '\0';
		local_mpu_name(id, name, sizeof name);
		if (mkdirat(s->root_fd, name, 0700) == 0)
			rc = CAIRN_OK;
		else if (errno != EEXIST)
			return local_fail(err, true, "start multipart upload of", path);
	}
	if (rc != CAIRN_OK)
		return cairn_error_set(err, CAIRN_ERR_IO, "no free upload id");
	int fd = openat(s->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int pf = fd >= 0 ? openat(fd, "path", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	if (pf < 0 || local_write_all(pf, path, strlen(path)) < 0 || fsync(pf) != 0)
		rc = local_fail(err, true, "start multipart upload of", path);
	if (pf >= 0)
		close(pf);
	if (fd >= 0)
		close(fd);
	if (rc != CAIRN_OK) {
		local_mpu_drop(s, name);
		return rc;
	}
	memcpy(upload_id, id, sizeof id);
	return CAIRN_OK;
}

static int local_mpu_part_begin(cairn_store *s, const char *path, const char *upload_id,
                                int part_number, int64_t size, cairn_store_writer **out,
                                cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	if (part_number < 1 || part_number > 10000 || size < 0)
		return cairn_error_set(err, CAIRN_ERR_INVALID, "bad part number %d or size %lld",
		                       part_number, (long long)size);
	int dir_fd = -1;
	int rc = local_mpu_open(s, path, upload_id, &dir_fd, err);
	if (rc != CAIRN_OK)
		return rc;
	cairn_store_writer *w = NULL;
	if ((rc = local_writer_new(s, dir_fd, "part", path, &w, err)) != CAIRN_OK)
		return rc;
	w->sha = s->host->sha256_begin();
	if (!w->sha) {
		local_writer_free(w, true);
		return cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "out of memory");
	}
	w->want = size;
	w->part = part_number;
	*out = w;
	return CAIRN_OK;
}

static bool local_etag_ok(const char *etag)
{
	if (!etag || strlen(etag) != 64)
		return false;
	for (const char *p = etag; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int local_mpu_part_commit(cairn_store_writer *w, char *etag, size_t cap, cairn_error *err)
{
	int rc = CAIRN_OK;
	uint8_t digest[32];
	char hex[65], final[96];
	if (!w->part)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID, "not a part writer");
	else if (w->written != w->want)
		rc = cairn_error_set(err, CAIRN_ERR_INVALID,
		                     "part %d has %lld bytes, but %lld were announced", w->part,
		                     (long long)w->written, (long long)w->want);
	else if (cap < sizeof hex)
		rc = cairn_error_set(err, CAIRN_ERR_NO_MEMORY, "ETag buffer too small");
	if (rc != CAIRN_OK) {
		local_writer_free(w, true);
		return rc;
	}
	w->store->host->sha256_end(w->sha, digest);
	w->sha = NULL;
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
	}
	hex[64] = '\0';
	snprintf(final, sizeof final, "part-%05d-%s", w->part, hex);
	/* Durable before acknowledged, as an object store's part is. */
	if (fsync(w->fd) != 0)
		rc = local_fail(err, true, "sync part of", w->name);
	else if (renameat(w->dir_fd, w->tmp, w->dir_fd, final) != 0)
		rc = errno == ENOENT ? cairn_error_set(err, CAIRN_ERR_NOT_FOUND,
		                                       "the multipart upload ended while part %d "
		                                       "was written",
		                                       w->part)
		                     : local_fail(err, true, "commit part of", w->name);
	else if (fsync(w->dir_fd) != 0)
		rc = local_fail(err, true, "sync part of", w->name);
	local_writer_free(w, rc != CAIRN_OK);
	if (rc == CAIRN_OK)
		memcpy(etag, hex, sizeof hex);
	return rc;
}

/* Appends all of src to dst, in the kernel where it can. */
static int local_append(int src, int dst, uint8_t **buf)
{
	bool kernel = true;
	for (;;) {
		ssize_t n;
		if (kernel) {
			n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			              errno == EOPNOTSUPP || errno == EBADF)) {
				kernel = false; /* not on this file system: copy through memory */
				continue;
			}
		} else {
			if (!*buf && !(*buf = malloc(LOCAL_COPY_BUF_BYTES))) {
				errno = ENOMEM;
				return -1;
			}
			n = read(src, *buf, LOCAL_COPY_BUF_BYTES);
			if (n > 0 && local_write_all(dst, *buf, (size_t)n) < 0)
				return -1;
		}
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int local_mpu_complete(cairn_store *s, const char *path, const char *upload_id,
                              const cairn_mpu_part *parts, size_t nparts, cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	int dir_fd = -1;
	int rc = local_mpu_open(s, path, upload_id, &dir_fd, err);
	if (rc != CAIRN_OK)
		return rc;
	cairn_store_writer *w = NULL;
	uint8_t *buf = NULL;
	rc = nparts ? local_put_begin(s, path, -1, &w, err)
	            : cairn_error_set(err, CAIRN_ERR_INVALID, "no parts");
	for (size_t i = 0; rc == CAIRN_OK && i < nparts; i++) {
		char name[96];
		if (!local_etag_ok(parts[i].etag) ||
		    snprintf(name, sizeof name, "part-%05d-%s", parts[i].part_number,
		             parts[i].etag) >= (int)sizeof name) {
			rc = cairn_error_set(err, CAIRN_ERR_INVALID,
			                     "part %d: ETag '%.80s' is not one this store gave",
			                     parts[i].part_number,
			                     parts[i].etag ? parts[i].etag : "");
			break;
		}
		int pf = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
		if (pf < 0) {
			rc = errno == ENOENT
			             ? cairn_error_set(err, CAIRN_ERR_INVALID,
			                               "part %d with ETag %s was not uploaded",
			                               parts[i].part_number, parts[i].etag)
			             : local_fail(err, false, "read part of", path);
			break;
		}
		if (local_append(pf, w->fd, &buf) != 0)
			rc = local_fail(err, true, "assemble", path);
		close(pf);
	}
	free(buf);
	if (rc != CAIRN_OK) {
		if (w)
			local_put_abort(w);
		close(dir_fd);
		return rc;
	}
	rc = local_put_commit(w, err);
	close(dir_fd);
	if (rc == CAIRN_OK) {
		char name[64];
		local_mpu_name(upload_id, name, sizeof name);
		if (local_mpu_drop(s, name) != 0)
			s->host->log(CAIRN_LOG_WARN, "STORE-LOCAL-MPU-LEFTOVER",
			             "store %s: could not remove the staging of upload %s: %s",
			             s->root, upload_id, strerror(errno));
	}
	return rc;
}

static int local_mpu_abort(cairn_store *s, const char *path, const char *upload_id,
                           cairn_error *err)
{
	if (!local_path_ok(path, false))
		return local_bad_path(err, path);
	int dir_fd = -1;
	int rc = local_mpu_open(s, path, upload_id, &dir_fd, err);
	if (rc != CAIRN_OK)
		return rc;
	close(dir_fd);
	char name[64];
	local_mpu_name(upload_id, name, sizeof name);
	if (local_mpu_drop(s, name) != 0)
		return local_fail(err, false, "abort multipart upload of", path);
	return CAIRN_OK;
}

/* ------------------------------------------------------------------------ */

static const cairn_store_ops local_ops = {
        .size = sizeof(cairn_store_ops),
        .open = local_open,
        .close = local_close,
        .put_begin = local_put_begin,
        .put_write = local_put_write,
        .put_commit = local_put_commit,
        .put_abort = local_put_abort,
        .get_open = local_get_open,
        .get_read = local_get_read,
        .get_close = local_get_close,
        .list = local_list,
        .stat = local_stat,
        .remove = local_remove,
        .mpu_create = local_mpu_create,
        .mpu_part_begin = local_mpu_part_begin,
        .mpu_part_commit = local_mpu_part_commit,
        .mpu_complete = local_mpu_complete,
        .mpu_abort = local_mpu_abort,
};

static const cairn_plugin_descriptor local_descriptor = {
        CAIRN_PLUGIN_HEAD,
        .kind = CAIRN_PLUGIN_ARTIFACT_STORE,
        .name = "local",
        .version = CAIRN_VERSION,
        .capabilities = CAIRN_STORE_CAP_RANGE | CAIRN_STORE_CAP_LIST_PAGED |
                        CAIRN_STORE_CAP_DELETE_RECURSIVE | CAIRN_STORE_CAP_MULTIPART,
        .ops = &local_ops,
};

CAIRN_PLUGIN_EXPORT const cairn_plugin_descriptor *cairn_plugin_entry(void)
{
	return &local_descriptor;
}
