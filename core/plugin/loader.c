/* core/plugin/loader.c: dlopen plugins by bare name, check their descriptor, keep them loaded. */
#include "core/plugin/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/log.h"

struct cn_plugin {
	struct cn_plugin *next;
	void *dl; /* NULL for registered (linked-in) plugins */
	char *origin;
	char name[CN_PLUGIN_NAME_MAX + 1];
	/* Host copies, zero-extended to the host's sizes, so members newer than
	 * the plugin read as NULL/0. */
	cairn_plugin_descriptor desc;
	union {
		cairn_store_ops store;
		cairn_deploy_ops deploy;
	} ops;
	void *state;
};

struct cn_plugin_registry {
	pthread_mutex_t mu;
	char *dir;
	cn_plugin *head; /* newest first, so closing walks in reverse load order */
};

typedef struct loader_op {
	const char *name;
	size_t off;
} loader_op;

/* clang-format off */
#define LOADER_STORE_OP(m) {#m, offsetof(cairn_store_ops, m)}
#define LOADER_DEPLOY_OP(m) {#m, offsetof(cairn_deploy_ops, m)}
/* clang-format on */

static const loader_op loader_store_required[] = {
        LOADER_STORE_OP(open),      LOADER_STORE_OP(close),      LOADER_STORE_OP(put_begin),
        LOADER_STORE_OP(put_write), LOADER_STORE_OP(put_commit), LOADER_STORE_OP(put_abort),
        LOADER_STORE_OP(get_open),  LOADER_STORE_OP(get_read),   LOADER_STORE_OP(get_close),
        LOADER_STORE_OP(list),      LOADER_STORE_OP(remove),
};

static const loader_op loader_store_multipart[] = {
        LOADER_STORE_OP(mpu_create),      LOADER_STORE_OP(mpu_part_begin),
        LOADER_STORE_OP(mpu_part_commit), LOADER_STORE_OP(mpu_complete),
        LOADER_STORE_OP(mpu_abort),
};

static const loader_op loader_store_presign[] = {LOADER_STORE_OP(presign)};

static const loader_op loader_deploy_required[] = {
        LOADER_DEPLOY_OP(open),
        LOADER_DEPLOY_OP(close),
        LOADER_DEPLOY_OP(create_deployment),
        LOADER_DEPLOY_OP(delete_deployment),
        LOADER_DEPLOY_OP(get_deployment),
        LOADER_DEPLOY_OP(list_deployments),
        LOADER_DEPLOY_OP(predict),
};

static const loader_op loader_deploy_endpoints[] = {
        LOADER_DEPLOY_OP(create_endpoint), LOADER_DEPLOY_OP(update_endpoint),
        LOADER_DEPLOY_OP(delete_endpoint), LOADER_DEPLOY_OP(get_endpoint),
        LOADER_DEPLOY_OP(list_endpoints),
};

#define LOADER_COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *cn_plugin_kind_name(cairn_plugin_kind kind)
{
	switch (kind) {
	case CAIRN_PLUGIN_ARTIFACT_STORE: return "store";
	case CAIRN_PLUGIN_DEPLOY_TARGET: return "deploy";
	}
	return NULL;
}

bool cn_plugin_name_is_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > CN_PLUGIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool cn_artifact_path_is_safe(const char *path, size_t len, bool allow_root)
{
	if (!path)
		return false;
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
		size_t clen = i - start;
		const char *comp = path + start;
		if (clen == 0 || (clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

cn_code cn_plugin_registry_open(cn_plugin_registry **out, const char *plugin_dir, cn_err *err)
{
	if (!plugin_dir || !plugin_dir[0] || strlen(plugin_dir) > 4000)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE,
		                  "plugin directory must be a non-empty path");
	cn_plugin_registry *reg = calloc(1, sizeof *reg);
	char *dir = strdup(plugin_dir);
	if (!reg || !dir) {
		free(reg);
		free(dir);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	}
	pthread_mutex_init(&reg->mu, NULL);
	reg->dir = dir;
	*out = reg;
	return CN_OK;
}

static void loader_unload(cn_plugin *p)
{
	if (p->desc.fini)
		p->desc.fini(p->state);
	if (p->dl)
		dlclose(p->dl);
	free(p->origin);
	free(p);
}

void cn_plugin_registry_close(cn_plugin_registry *reg)
{
	if (!reg)
		return;
	cn_plugin *p = reg->head;
	while (p) {
		cn_plugin *next = p->next;
		loader_unload(p);
		p = next;
	}
	pthread_mutex_destroy(&reg->mu);
	free(reg->dir);
	free(reg);
}

const char *cn_plugin_registry_dir(const cn_plugin_registry *reg)
{
	return reg->dir;
}

static cn_plugin *loader_find_locked(cn_plugin_registry *reg, cairn_plugin_kind kind,
                                     const char *name)
{
	for (cn_plugin *p = reg->head; p; p = p->next)
		if (p->desc.kind == (uint32_t)kind && strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

cn_plugin *cn_plugin_find(cn_plugin_registry *reg, cairn_plugin_kind kind, const char *name)
{
	if (!reg || !name)
		return NULL;
	pthread_mutex_lock(&reg->mu);
	cn_plugin *p = loader_find_locked(reg, kind, name);
	pthread_mutex_unlock(&reg->mu);
	return p;
}

/* Sets err, logs the same message under event, returns code. */
static cn_code loader_fail(cn_err *err, const char *event, cn_code code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static cn_code loader_fail(cn_err *err, const char *event, cn_code code, const char *fmt, ...)
{
	cn_err local;
	va_list ap;
	va_start(ap, fmt);
	cn_err_vset(&local, code, fmt, ap);
	va_end(ap);
	cn_log(CN_LOG_ERROR, event, NULL, "%s", local.msg);
	if (err)
		*err = local;
	return code;
}

/* Appends "; "-separated problems to b. */
static void loader_problem(cn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void loader_problem(cn_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (b->len)
		cn_buf_puts(b, "; ");
	cn_buf_puts(b, line);
}

static bool loader_op_present(const void *ops, size_t off)
{
	void (*fn)(void);
	memcpy(&fn, (const char *)ops + off, sizeof fn);
	return fn != NULL;
}

static void loader_check_ops(cn_buf *b, const void *ops, const loader_op *list, size_t n,
                             const char *why)
{
	for (size_t i = 0; i < n; i++)
		if (!loader_op_present(ops, list[i].off))
			loader_problem(b, "%s op '%s' is NULL", why, list[i].name);
}

/* Copies the plugin's ops table into p (zero-extended) and checks it. */
static void loader_check_ops_table(cn_buf *b, cn_plugin *p, const void *ops)
{
	uint32_t size;
	memcpy(&size, ops, sizeof size);
	bool store = p->desc.kind == CAIRN_PLUGIN_ARTIFACT_STORE;
	size_t min = store ? CAIRN_STORE_OPS_SIZE_1_0 : CAIRN_DEPLOY_OPS_SIZE_1_0;
	size_t max = store ? sizeof(cairn_store_ops) : sizeof(cairn_deploy_ops);
	if (size < min) {
		loader_problem(b, "ops table size %u is smaller than ABI 1.0's %zu", size, min);
		return;
	}
	if (size > max) {
		/* The minor check passed, so a larger table is a corrupt one. */
		loader_problem(b, "ops table size %u is larger than this host's %zu", size, max);
		return;
	}
	memcpy(&p->ops, ops, size);
	uint64_t caps = p->desc.capabilities;
	if (store) {
		loader_check_ops(b, &p->ops.store, loader_store_required,
		                 LOADER_COUNT(loader_store_required), "required");
		if (caps & CAIRN_STORE_CAP_MULTIPART)
			loader_check_ops(b, &p->ops.store, loader_store_multipart,
			                 LOADER_COUNT(loader_store_multipart),
			                 "capability MULTIPART set but");
		if (caps & CAIRN_STORE_CAP_PRESIGN)
			loader_check_ops(b, &p->ops.store, loader_store_presign,
			                 LOADER_COUNT(loader_store_presign),
			                 "capability PRESIGN set but");
	} else {
		loader_check_ops(b, &p->ops.deploy, loader_deploy_required,
		                 LOADER_COUNT(loader_deploy_required), "required");
		if (caps & CAIRN_DEPLOY_CAP_ENDPOINTS)
			loader_check_ops(b, &p->ops.deploy, loader_deploy_endpoints,
			                 LOADER_COUNT(loader_deploy_endpoints),
			                 "capability ENDPOINTS set but");
	}
}

/*
 * Checks d against this host and what was asked for, filling p's copies.
 * want_name is NULL for registered plugins. Returns the log event to report
 * under, or NULL when everything matches; problems are appended to b.
 */
static const char *loader_check(cn_buf *b, cn_plugin *p, const cairn_plugin_descriptor *d,
                                cairn_plugin_kind kind, const char *want_name)
{
	if (!d) {
		loader_problem(b, "%s() returned NULL", CAIRN_PLUGIN_ENTRY_SYMBOL);
		return "PLUGIN-REFUSED";
	}
	if (d->magic != CAIRN_PLUGIN_MAGIC) {
		/* Nothing else in a foreign struct means anything. */
		loader_problem(b, "bad magic 0x%08x (expected 0x%08x); not a Cairn plugin",
		               (unsigned)d->magic, (unsigned)CAIRN_PLUGIN_MAGIC);
		return "PLUGIN-ABI-MISMATCH";
	}
	const char *event = NULL;
	if (d->abi_major != CAIRN_PLUGIN_ABI_MAJOR || d->abi_minor > CAIRN_PLUGIN_ABI_MINOR) {
		loader_problem(b, "built for Cairn plugin ABI %u.%u, this host speaks %d.%d",
		               (unsigned)d->abi_major, (unsigned)d->abi_minor,
		               CAIRN_PLUGIN_ABI_MAJOR, CAIRN_PLUGIN_ABI_MINOR);
		event = "PLUGIN-ABI-MISMATCH";
	}
	if (d->size < CAIRN_PLUGIN_DESCRIPTOR_SIZE_1_0) {
		loader_problem(b, "descriptor size %u is smaller than ABI 1.0's %zu",
		               (unsigned)d->size, (size_t)CAIRN_PLUGIN_DESCRIPTOR_SIZE_1_0);
		/* Members past its size are not there to read. */
		return "PLUGIN-ABI-MISMATCH";
	}
	if (event && d->abi_major != CAIRN_PLUGIN_ABI_MAJOR)
		return event; /* another major: the rest of the layout may differ */
	size_t size = d->size < sizeof p->desc ? d->size : sizeof p->desc;
	memcpy(&p->desc, d, size);

	size_t before = b->len;
	if (d->kind != (uint32_t)kind) {
		const char *have = cn_plugin_kind_name((cairn_plugin_kind)d->kind);
		loader_problem(b, "kind %u (%s), expected %d (%s)", (unsigned)d->kind,
		               have ? have : "unknown", (int)kind, cn_plugin_kind_name(kind));
	}
	if (!d->name || !d->name[0])
		loader_problem(b, "empty name");
	else if (!cn_plugin_name_is_valid(d->name))
		loader_problem(b, "name '%.80s' is not a bare name ([a-z0-9_-], at most %d bytes)",
		               d->name, CN_PLUGIN_NAME_MAX);
	else if (want_name && strcmp(d->name, want_name) != 0)
		loader_problem(b, "name '%s' does not match its file name ('%s')", d->name,
		               want_name);
	if (!d->version)
		loader_problem(b, "no version string");
	if (!d->ops)
		loader_problem(b, "no ops table");
	else if (d->kind == (uint32_t)kind)
		loader_check_ops_table(b, p, d->ops);
	if (!event && b->len > before)
		event = "PLUGIN-REFUSED";
	if (!b->len && d->name)
		snprintf(p->name, sizeof p->name, "%s", d->name);
	return event;
}

/* Checks, inits and links a descriptor; closes dl and frees p on failure. */
static cn_code loader_admit(cn_plugin_registry *reg, cn_plugin *p, const cairn_plugin_descriptor *d,
                            cairn_plugin_kind kind, const char *want_name, const char *shown_name,
                            cn_err *err)
{
	cn_buf b = CN_BUF_INIT;
	const char *event = loader_check(&b, p, d, kind, want_name);
	if (event || cn_buf_failed(&b)) {
		loader_fail(err, event ? event : "PLUGIN-REFUSED", CN_INVALID_STATE,
		            "plugin '%s' (%s) refused: %s", shown_name, p->origin,
		            b.p && !cn_buf_failed(&b) ? b.p : "out of memory");
		cn_buf_free(&b);
		goto fail;
	}
	cn_buf_free(&b);
	if (p->desc.init) {
		cairn_error perr = {0};
		int rc = p->desc.init(cn_plugin_host_api(), &p->state, &perr);
		if (rc != CAIRN_OK) {
			perr.message[sizeof perr.message - 1] = '\0';
			loader_fail(err, "PLUGIN-REFUSED", CN_INVALID_STATE,
			            "plugin '%s' (%s) refused: init failed (status %d): %s",
			            shown_name, p->origin, rc,
			            perr.message[0] ? perr.message : "no message");
			goto fail;
		}
	}
	p->next = reg->head;
	reg->head = p;
	CN_LOGI("PLUGIN-LOADED", NULL,
	        "plugin '%s' version %s (%s) loaded: kind %s, ABI %u.%u, capabilities 0x%llx",
	        p->name, p->desc.version, p->origin, cn_plugin_kind_name(kind),
	        (unsigned)p->desc.abi_major, (unsigned)p->desc.abi_minor,
	        (unsigned long long)p->desc.capabilities);
	return CN_OK;
fail:
	if (p->dl)
		dlclose(p->dl);
	free(p->origin);
	free(p);
	return CN_INVALID_STATE;
}

static cn_code loader_load_locked(cn_plugin_registry *reg, cairn_plugin_kind kind, const char *name,
                                  cn_plugin **out, cn_err *err)
{
	cn_plugin *p = calloc(1, sizeof *p);
	size_t plen = strlen(reg->dir) + strlen(name) + 32;
	char *path = malloc(plen);
	if (!p || !path) {
		free(p);
		free(path);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	}
	snprintf(path, plen, "%s/cairn_%s_%s.so", reg->dir, cn_plugin_kind_name(kind), name);
	p->origin = path;

	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		loader_fail(err, "PLUGIN-REFUSED",
		            e == ENOENT ? CN_RESOURCE_DOES_NOT_EXIST : CN_INVALID_STATE,
		            "no %s plugin '%s' in %s (looked for %s: %s)",
		            cn_plugin_kind_name(kind), name, reg->dir, path, strerror(e));
		free(path);
		free(p);
		return e == ENOENT ? CN_RESOURCE_DOES_NOT_EXIST : CN_INVALID_STATE;
	}
	/* RTLD_NOW: an unresolved symbol fails here, not mid-request. RTLD_LOCAL:
	 * plugins cannot see (or clash with) each other's symbols. */
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		const char *why = dlerror();
		loader_fail(err, "PLUGIN-REFUSED", CN_INVALID_STATE,
		            "plugin '%s' (%s) refused: dlopen failed: %s", name, path,
		            why ? why : "unknown error");
		free(path);
		free(p);
		return CN_INVALID_STATE;
	}
	cairn_plugin_entry_fn entry;
	void *sym = dlsym(p->dl, CAIRN_PLUGIN_ENTRY_SYMBOL);
	/* POSIX's sanctioned way to turn dlsym's void * into a function pointer. */
	memcpy(&entry, &sym, sizeof entry);
	if (!entry) {
		loader_fail(err, "PLUGIN-ABI-MISMATCH", CN_INVALID_STATE,
		            "plugin '%s' (%s) refused: no '%s' symbol; not a Cairn plugin "
		            "(hint: export `const cairn_plugin_descriptor *%s(void)` with "
		            "CAIRN_PLUGIN_EXPORT from cairn/plugin.h)",
		            name, path, CAIRN_PLUGIN_ENTRY_SYMBOL, CAIRN_PLUGIN_ENTRY_SYMBOL);
		dlclose(p->dl);
		free(path);
		free(p);
		return CN_INVALID_STATE;
	}
	cn_code rc = loader_admit(reg, p, entry(), kind, name, name, err);
	if (rc == CN_OK)
		*out = p;
	return rc;
}

cn_code cn_plugin_load(cn_plugin_registry *reg, cairn_plugin_kind kind, const char *name,
                       cn_plugin **out, cn_err *err)
{
	if (!cn_plugin_kind_name(kind))
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "unknown plugin kind %d",
		                  (int)kind);
	if (!cn_plugin_name_is_valid(name))
		return loader_fail(err, "PLUGIN-REFUSED", CN_INVALID_PARAMETER_VALUE,
		                   "plugin name '%.80s' is not a bare name ([a-z0-9_-], at most %d "
		                   "bytes); plugins load only from the plugin directory",
		                   name ? name : "(null)", CN_PLUGIN_NAME_MAX);
	pthread_mutex_lock(&reg->mu);
	cn_code rc = CN_OK;
	cn_plugin *p = loader_find_locked(reg, kind, name);
	if (p)
		*out = p;
	else
		rc = loader_load_locked(reg, kind, name, out, err);
	pthread_mutex_unlock(&reg->mu);
	return rc;
}

cn_code cn_plugin_register(cn_plugin_registry *reg, const cairn_plugin_descriptor *desc,
                           const char *origin, cn_plugin **out, cn_err *err)
{
	if (!desc)
		return cn_err_set(err, CN_INVALID_PARAMETER_VALUE, "no descriptor");
	cn_plugin *p = calloc(1, sizeof *p);
	char *o = strdup(origin ? origin : "builtin");
	if (!p || !o) {
		free(p);
		free(o);
		return cn_err_set(err, CN_RESOURCE_EXHAUSTED, "out of memory");
	}
	p->origin = o;
	/* The kind to check against is the one the descriptor claims, when it is
	 * one we know; the name comes from the descriptor itself. */
	cairn_plugin_kind kind = CAIRN_PLUGIN_ARTIFACT_STORE;
	const char *shown = "?";
	if (desc->magic == CAIRN_PLUGIN_MAGIC && desc->size >= CAIRN_PLUGIN_DESCRIPTOR_SIZE_1_0) {
		if (cn_plugin_kind_name((cairn_plugin_kind)desc->kind))
			kind = (cairn_plugin_kind)desc->kind;
		if (desc->name)
			shown = desc->name;
	}
	pthread_mutex_lock(&reg->mu);
	cn_code rc;
	if (cn_plugin_name_is_valid(shown) && loader_find_locked(reg, kind, shown)) {
		rc = cn_err_set(err, CN_RESOURCE_ALREADY_EXISTS,
		                "a %s plugin named '%s' is already registered",
		                cn_plugin_kind_name(kind), shown);
		free(o);
		free(p);
	} else {
		rc = loader_admit(reg, p, desc, kind, NULL, shown, err);
		if (rc == CN_OK)
			*out = p;
	}
	pthread_mutex_unlock(&reg->mu);
	return rc;
}

const char *cn_plugin_name(const cn_plugin *p)
{
	return p->name;
}
const char *cn_plugin_version(const cn_plugin *p)
{
	return p->desc.version;
}
const char *cn_plugin_origin(const cn_plugin *p)
{
	return p->origin;
}
cairn_plugin_kind cn_plugin_kind(const cn_plugin *p)
{
	return (cairn_plugin_kind)p->desc.kind;
}
uint64_t cn_plugin_caps(const cn_plugin *p)
{
	return p->desc.capabilities;
}
void *cn_plugin_state(const cn_plugin *p)
{
	return p->state;
}

const cairn_store_ops *cn_plugin_store_ops(const cn_plugin *p)
{
	return p->desc.kind == CAIRN_PLUGIN_ARTIFACT_STORE ? &p->ops.store : NULL;
}

const cairn_deploy_ops *cn_plugin_deploy_ops(const cn_plugin *p)
{
	return p->desc.kind == CAIRN_PLUGIN_DEPLOY_TARGET ? &p->ops.deploy : NULL;
}
