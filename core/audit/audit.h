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
 * Durability: the record is written (WAL-synced, as every acknowledged
 * write) after the method returns and before the reply leaves the service,
 * so a call whose reply a client saw has its record on disk. A crash
 * between the method's own write and the record loses the record of a
 * call whose client saw no reply (it gets TEMPORARILY_UNAVAILABLE). If the
 * record cannot be written the call is still answered as the method
 * answered (its effect is already durable) and AUDIT-WRITE-FAILED is
 * logged at error level.
 *
 * Storage: <data_dir>/audit, a RocksDB shared by every service runtime of
 * the process (one handle, reference counted): column family "records"
 * keyed (timestamp_ms, sequence) big-endian with the AuditRecord
 * FlatBuffer as value, and "by_entity" keyed (type, id, timestamp_ms,
 * sequence) with an empty value. Records are only ever appended: no code
 * path updates or deletes them and no route exists for it. Retention:
 * none, records are kept forever (an operator may archive and remove the
 * directory while the server is stopped).
 *
 * Split deployments: each `cairn service` process writes the trail of the
 * calls it served into its own data directory, and `cairn service audit`
 * reads the one in its data directory; a single queryable trail across
 * machines (shipping records to one audit service) is future work.
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

typedef struct cn_audit_log cn_audit_log;

/* The read-only `audit` service (SearchAudit). */
struct cn_service_def;
extern const struct cn_service_def cn_audit_service;

/* The process's audit log at data_dir/audit, opened on first acquire and
 * closed on the last release. sync: WAL fsync per record. */
cn_code cn_audit_acquire(cn_audit_log **out, const char *data_dir, bool sync, cn_err *err);
void cn_audit_release(cn_audit_log *log);
cn_kv *cn_audit_kv(cn_audit_log *log);

enum { CN_AUDIT_CF_RECORDS = 0, CN_AUDIT_CF_BY_ENTITY = 1 };

/* Is the request table `table` (index in cn_schema_cairn) mutating? */
bool cn_audit_is_mutating(int table);

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

/* Build and durably append the record of one call. */
cn_code cn_audit_append(cn_audit_log *log, const cn_audit_call *call, cn_err *err);

/* Render table t (of table index `table`) as compact JSON into out with
 * secret fields' string values replaced by "***"; cut at max bytes
 * (*truncated then true). */
cn_code cn_audit_render(int table, cn_fb_table t, size_t max, cn_buf *out, bool *truncated);

/* Replace, in the JSON text j[0..n), the string value of every member whose
 * key is secret-like (see above) with "***"; result into out. */
cn_code cn_audit_redact(const char *j, size_t n, cn_buf *out);
bool cn_audit_is_secret_name(const char *name);

#endif
