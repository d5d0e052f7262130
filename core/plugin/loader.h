/*
 * core/plugin/loader.h: loading plugins, the registry of loaded plugins, and
 * the host services table handed to them.
 *
 * Modelled on PostgreSQL's dfmgr: plugins load only from the configured
 * plugin directory, by bare name ("local" as an artifact store is
 * <dir>/cairn_store_local.so, "sagemaker" as a deployment target is
 * <dir>/cairn_deploy_sagemaker.so). The loader is strict: dlopen(RTLD_NOW |
 * RTLD_LOCAL); no entry symbol, or any descriptor field that does not match
 * this host, and the object is closed and refused with a message naming
 * every differing field; only then is init called. Nothing is unloaded until
 * cn_plugin_registry_close. Events: PLUGIN-LOADED (info), PLUGIN-ABI-MISMATCH
 * (error: magic, size or ABI version), PLUGIN-REFUSED (error: anything else).
 *
 * The artifact-store API the rest of Cairn uses is in core/plugin/store.h.
 */
#ifndef CN_PLUGIN_LOADER_H
#define CN_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"
#include "core/error.h"

typedef struct cn_plugin_registry cn_plugin_registry;
typedef struct cn_plugin cn_plugin;

/* Longest plugin name accepted (bytes). */
#define CN_PLUGIN_NAME_MAX 64

/*
 * Create a registry loading from plugin_dir (copied). Does not touch the
 * directory yet. On success *out belongs to the caller, who frees it with
 * cn_plugin_registry_close. Errors: CN_INVALID_PARAMETER_VALUE (empty or too
 * long dir), CN_RESOURCE_EXHAUSTED (out of memory).
 */
cn_code cn_plugin_registry_open(cn_plugin_registry **out, const char *plugin_dir, cn_err *err);

/*
 * Unload every plugin: call its fini, then dlclose it, in reverse load order.
 * Every store or target opened through the registry must be closed before.
 * NULL is a no-op. Not concurrent with any other call on reg.
 */
void cn_plugin_registry_close(cn_plugin_registry *reg);

/*
 * Load plugin name of kind, or return the one already loaded. Thread-safe;
 * blocks (dlopen, the plugin's init). On success *out is owned by reg and
 * valid until cn_plugin_registry_close. Errors:
 *   CN_INVALID_PARAMETER_VALUE  name is not a bare name ([a-z0-9_-], <= 64)
 *                               or kind is unknown
 *   CN_RESOURCE_DOES_NOT_EXIST  no such file in the plugin directory
 *   CN_INVALID_STATE            dlopen failed, no entry symbol, descriptor
 *                               refused, or init failed (the message says which)
 *   CN_RESOURCE_EXHAUSTED       out of memory
 */
cn_code cn_plugin_load(cn_plugin_registry *reg, cairn_plugin_kind kind, const char *name,
                       cn_plugin **out, cn_err *err);

/*
 * Register a plugin linked into the executable (or whose descriptor a test
 * built), with the same checks and init as cn_plugin_load. origin names it in
 * messages ("builtin"). The descriptor, its strings and ops must outlive reg.
 * Errors: as cn_plugin_load; CN_RESOURCE_ALREADY_EXISTS when a plugin of that
 * kind and name is already registered.
 */
cn_code cn_plugin_register(cn_plugin_registry *reg, const cairn_plugin_descriptor *desc,
                           const char *origin, cn_plugin **out, cn_err *err);

/* The loaded plugin of that kind and name, or NULL. Thread-safe; does not block. */
cn_plugin *cn_plugin_find(cn_plugin_registry *reg, cairn_plugin_kind kind, const char *name);

/* The plugin directory reg loads from. */
const char *cn_plugin_registry_dir(const cn_plugin_registry *reg);

/*
 * Accessors of a loaded plugin; the results live as long as the registry.
 * cn_plugin_store_ops / cn_plugin_deploy_ops return the host's copy of the
 * ops table: full host size, members the plugin's size did not cover NULL.
 * They return NULL for a plugin of the other kind.
 */
const char *cn_plugin_name(const cn_plugin *p);
const char *cn_plugin_version(const cn_plugin *p);
const char *cn_plugin_origin(const cn_plugin *p); /* the .so path, or the origin given */
cairn_plugin_kind cn_plugin_kind(const cn_plugin *p);
uint64_t cn_plugin_caps(const cn_plugin *p);
void *cn_plugin_state(const cn_plugin *p); /* what init returned */
const cairn_store_ops *cn_plugin_store_ops(const cn_plugin *p);
const cairn_deploy_ops *cn_plugin_deploy_ops(const cn_plugin *p);

/* "store" / "deploy" for the file name prefix and messages; NULL if unknown. */
const char *cn_plugin_kind_name(cairn_plugin_kind kind);

/* True when name is a bare plugin name: 1..64 bytes of [a-z0-9_-]. */
bool cn_plugin_name_is_valid(const char *name);

/*
 * True when path (len bytes, which may contain NULs) is a safe artifact path
 * as cairn/plugin.h defines it: at most CAIRN_PATH_MAX bytes, relative,
 * '/'-separated, no empty, "." or ".." component, no leading or trailing '/',
 * no backslash, no NUL or other control character. "" is safe only when
 * allow_root (it names the store's root).
 */
bool cn_artifact_path_is_safe(const char *path, size_t len, bool allow_root);

/* ------------------------------------------------------------------------ */
/* Host services (host_api.c)                                               */

/* The host table given to every plugin: static, valid for the whole process. */
const cairn_host_api *cn_plugin_host_api(void);

/*
 * Set a plugin setting seen through config_get ("store.s3.region"). Values
 * set here win over the environment. Thread-safe. Strings are copied and,
 * because plugins may hold what config_get returned, never freed before
 * cn_plugin_host_config_reset. Errors: CN_INVALID_PARAMETER_VALUE (empty
 * key), CN_RESOURCE_EXHAUSTED.
 */
cn_code cn_plugin_host_config_set(const char *key, const char *value, cn_err *err);

/* Forget every setting and free their strings. Only when no plugin is loaded
 * (tests, process exit). */
void cn_plugin_host_config_reset(void);

#endif
