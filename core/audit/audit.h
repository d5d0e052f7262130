/*
 * core/audit/audit.h: the audit trail of the whole platform.
 *
 * What is recorded: every call of every service whose method is mutating,
 * by the service runtime (core/service.c) around the method, so a service
 * (tracking, registry, ...) gets it without knowing. A method is mutating
 * when its request table's route is not GET and its name does not start
 * with Search, Get or List (MLflow's POST searches); a request table's
 * `audit: "read"` or `audit: "write"` attribute overrides that. Each record
 * holds: who (the envelope's caller, set by the gateway from its trusted
 * user header or the HTTP Basic user), from where (the client's ip:port),
 * when (Unix ms), service, method, the entities named by the request and
 * the reply (fields experiment_id, run_id, name, version, model_id,
 * trace_id, alias, webhook_id, logged_model_id, prompt_id at any depth of
 * non-vector tables, plus "model_version" = "<name>/<version>"), the request as
 * compact JSON with secrets redacted (string members whose name contains
 * secret, password or token) and cut at 4 KiB (a request with a vector of
 * more than 64 items, e.g. a big log-batch, is summarised instead: its top
 * level with vectors as "<N items>"; request_truncated says so), the outcome
 * (OK or the error code, and message), duration and request id.
 *
 * Durability: the record goes into the same write batch, so the same WAL
 * fsync, as the call's own mutation. The runtime installs a per-call hook
 * (cn_kv_hook, core/store/kv.h) and the first cn_kv_write of the call to
 * its service's database carries the record; the service's code does not
 * know. So an acknowledged call's record is on disk with its effect, both
 * or neither, at no extra fsync. Such a record says "OK" (the call had got
 * as far as its write) and its duration runs to that write. Three cases
 * are written by the runtime after the method instead:
 *  - a method whose reply names entities its request cannot (a create:
 *    the new run_id, experiment_id, version, ...; decided per method from
 *    the schema at start) is recorded after it returns, reply included,
 *    by a second synced write before the reply leaves (one more fsync,
 *    only for those methods);
 *  - a call that succeeded without writing (e.g. an idempotent no-op):
 *    a synced write of its own before the reply leaves;
 *  - a call that failed: unsynced (cn_kv_write_unsynced), durable with the
 *    database's next synced write; a crash just after may lose the record
 *    of a failed attempt, never that of an acknowledged change. A call
 *    that failed after its write landed keeps its "OK" record of that
 *    write and gets a second one with the failure (same request_id).
 * If a record cannot be written the call is still answered as the method
 * answered and AUDIT-WRITE-FAILED is logged at error level.
 *
 * Storage: in every service's own RocksDB, two column families:
 * "audit_records" keyed (timestamp_ms, sequence) big-endian with the
 * AuditRecord FlatBuffer as value, and "audit_by_entity" keyed (type, id,
 * timestamp_ms, sequence) with an empty value. The sequence is one counter
 * per process, started at (start time in ms << 16) so keys stay unique
 * across restarts and across the databases of a process. Records are only
 * ever appended: no code path updates or deletes them (tracking's gc keeps
 * them when it purges a run: the trail outlives what it describes) and no
 * route exists for it. Retention: none.
 *
 * Reading: SearchAudit (audit_service.c) merges, in time order, the audit
 * families of every service database open in the process (they share one
 * cn_kv_shared, which lists them), plus <data_dir>/audit if a previous
 * version left one there (read only, no longer written).
 *
 * Split deployments: each `cairn service X` process writes the trail of
 * the calls it served into its own database. `cairn service audit` on its
 * own hosts no service database; it opens, as RocksDB secondary (read
 * only, caught up with the writer at each search), the databases of the
 * other services found under its data_dir: a split deployment whose
 * services share one data_dir (one machine or a shared file system) sees
 * one trail; services on other machines' disks are not seen (a trail
 * shipped to one place is future work).
 */
#ifndef CN_AUDIT_H
#define CN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/store/kv.h"

#define CN_AUDIT_JSON_MAX 4096

struct cn_config;
typedef struct cn_audit_log cn_audit_log;

/* The read-only `audit` service (SearchAudit). */
struct cn_service_def;
extern const struct cn_service_def cn_audit_service;

/* The process's audit trail and the storage resources its service
 * databases share (one per data_dir, reference counted): acquired by each
 * service runtime and by the audit service. */
cn_code cn_audit_acquire(cn_audit_log **out, const struct cn_config *cfg, cn_err *err);
void cn_audit_release(cn_audit_log *log);

/* The families every service database of the process carries. */
extern const char *const cn_audit_cf_names[2];
enum { CN_AUDIT_CF_RECORDS = 0, CN_AUDIT_CF_BY_ENTITY = 1 };

/* Options a service database opens with: sync as given, the shared block
 * cache, the audit families; opened/opened_arg are left to the caller. */
void cn_audit_kv_opts(cn_audit_log *log, bool sync, cn_kv_opts *out);
cn_kv_shared *cn_audit_shared(cn_audit_log *log);
const char *cn_audit_data_dir(cn_audit_log *log);

/* Indexes of db's audit families; false when it has none. */
bool cn_audit_db_cfs(const cn_kv *db, int *records_cf, int *by_entity_cf);

/* Is the request table `table` (index in cn_schema_cairn) mutating? */
bool cn_audit_is_mutating(int table);
/* Does the reply of request table `table` name entity kinds its request
 * cannot (so its record needs the reply)? */
bool cn_audit_reply_adds_entities(int req_table, int resp_table);

/* One call to record. req/resp may be absent tables (unverified request,
 * error reply). */
typedef struct cn_audit_call {
	const char *service, *method, *caller, *client_addr, *request_id;
	int req_table, resp_table;
	cn_fb_table req, resp;
	const char *outcome; /* "OK" or an error code name */
	const char *error_message;
	int64_t duration_us;
} cn_audit_call;

/* Add the record of one call (and its index entries) to batch b, in the
 * given column families of the database b is for. */
cn_code cn_audit_put(cn_audit_log *log, const cn_audit_call *call, cn_kv_batch *b, int records_cf,
                     int by_entity_cf, cn_err *err);
/* Write the record of one call to db by itself, synced or not. */
cn_code cn_audit_append(cn_audit_log *log, cn_kv *db, const cn_audit_call *call, bool sync,
                        cn_err *err);

/* Render table t (of table index `table`) as compact JSON into out with
 * secret fields' string values replaced by "***"; cut at max bytes
 * (*truncated then true). */
cn_code cn_audit_render(int table, cn_fb_table t, size_t max, cn_buf *out, bool *truncated);

/* Replace, in the JSON text j[0..n), the string value of every member whose
 * key is secret-like (see above) with "***"; result into out. */
cn_code cn_audit_redact(const char *j, size_t n, cn_buf *out);
bool cn_audit_is_secret_name(const char *name);

#endif
