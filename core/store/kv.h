/*
 * core/store/kv.h: the RocksDB layer every service keeps its state in.
 *
 * One database per service instance, owned by that instance alone. Each
 * entity kind lives in its own column family; an entity and its secondary
 * indexes are written in one atomic batch. Values are FlatBuffers, read in
 * place from pinned slices (no copy). Keys are ordered big-endian composites
 * (core/store/key.h) so prefix scans return history in order.
 *
 * Durability: every cn_kv_write is WAL-synced before it returns, so an
 * acknowledged write survives kill -9 and power loss. Concurrent writers
 * share one sync: RocksDB's write group commits all queued batches with a
 * single fsync, so throughput grows with concurrency instead of being one
 * fsync per call.
 *
 * Measured alternatives (log-metric, 32 connections, runs interleaved with
 * this version on the shared 2-core machine at load average 12-16): writers
 * appending unsynced and a dedicated syncer thread calling FlushWAL(sync)
 * for all waiters was about half as fast (1000-1300 against 2600-3200
 * req/s: two extra thread wake-ups per sync cycle on an overloaded CPU); a
 * leader-follower version (the first waiter syncs for everyone) matched
 * RocksDB's write group within the noise (3600-6000 against 4500-5400) but
 * lets readers see a batch before it is durable. So RocksDB's own group
 * commit stays. What bounds single synced writes is how many are in flight
 * at once: one per service worker thread, since a handler blocks for its
 * sync. service_workers went from 8 to 32 for that: log-metric with 32
 * connections gained 22-80% in four interleaved pairs (3800-6000 against
 * 5800-7400 req/s) for ~300 KB more idle RSS.
 *
 * Thread safety: all functions may be called from any thread concurrently,
 * except that a batch or iterator belongs to one thread at a time.
 */
#ifndef CN_KV_H
#define CN_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct cn_kv cn_kv;
typedef struct cn_kv_batch cn_kv_batch;
typedef struct cn_kv_iter cn_kv_iter;

typedef struct cn_kv_shared cn_kv_shared;

typedef struct cn_kv_opts {
	bool sync;             /* default true; false only for benchmarks/tests */
	size_t block_cache_mb; /* 0 = small default (8 MiB): Cairn aims for a low idle RSS */
	/* Resources shared by the databases of one process (below); NULL = own
	 * block cache of block_cache_mb. */
	cn_kv_shared *shared;
	/* Column families added after cf_names (at indexes ncf, ncf+1, ...), for
	 * what a host keeps in every service's database (the audit trail). */
	const char *const *extra_cfs;
	size_t nextra;
	/* Called once the database is open (the host learns its service's
	 * database without the service telling); NULL = none. */
	void (*opened)(void *arg, cn_kv *db);
	void *opened_arg;
	/* Open read only as a RocksDB secondary of the database's writer (which
	 * may be another process), keeping its own files in this directory;
	 * writes then fail. NULL = the usual read-write open. */
	const char *secondary_path;
	/* Families of large values written once and read rarely (a trace's
	 * span content): stored uncompressed, with a larger memtable, since
	 * compressing them costs the write path more than the disk it saves. */
	const char *const *bulk_cfs;
	size_t nbulk;
} cn_kv_opts;

/* What the databases of one process share instead of each holding its own:
 * one LRU block cache of cache_mb (index and filter blocks included, so
 * memory stays bounded by it), so an idle service does not hold a cache of
 * its own and a busy one may use what idle ones leave. (A shared
 * WriteBufferManager would also bound memtables across databases, but
 * RocksDB's C API has none before 8.x; memtables stay capped per database,
 * see kv.c.) Databases opened with it are listed, for a reader that must
 * see across them (cn_kv_shared_with_dbs). Free it after every database
 * opened with it is closed. NULL when out of memory. */
cn_kv_shared *cn_kv_shared_new(size_t cache_mb);
void cn_kv_shared_free(cn_kv_shared *sh);
/* Calls fn once with every database currently open with sh (in opening
 * order); none of them closes until fn returns. Returns fn's result. */
cn_code cn_kv_shared_with_dbs(cn_kv_shared *sh,
                              cn_code (*fn)(void *arg, cn_kv *const *dbs, size_t n), void *arg);

/* A secondary (cn_kv_opts.secondary_path) reads what the writer had when
 * it opened or last caught up: this catches up with the writer's WAL. */
cn_code cn_kv_catch_up(cn_kv *db, cn_err *err);

/* Index of the column family `name` among those addressable (cf_names then
 * extra_cfs), or -1. */
int cn_kv_cf_find(const cn_kv *db, const char *name);

/* A per-thread hook run by cn_kv_write just before a non-empty batch is
 * applied, so a host can add its own records to the very batch (and WAL
 * sync) of the code it hosts without that code knowing: the service
 * runtime puts a call's audit record into the call's first write this way.
 * cn_kv_hook_set installs h for the calling thread (NULL removes it) and
 * returns the previous one. before_write may add ops to b (they are taken
 * out of b again after the write, so the caller's batch is unchanged); it
 * must not write. after_write (may be NULL) then says whether the batch
 * was applied. */
typedef struct cn_kv_hook cn_kv_hook;
struct cn_kv_hook {
	void (*before_write)(cn_kv_hook *h, cn_kv *db, cn_kv_batch *b);
	void (*after_write)(cn_kv_hook *h, cn_kv *db, bool applied);
};
cn_kv_hook *cn_kv_hook_set(cn_kv_hook *h);

/* Open (creating if needed) the database at `path` with column families
 * cf_names[0..ncf) ("default" is implicit and need not be listed). Column
 * families are then addressed by their index in cf_names. opts may be NULL
 * (sync on, 8 MiB cache). Missing parent directories are created. Column
 * families already in the database but not listed are opened too (RocksDB
 * requires it) and stay unaddressable. Blocks (recovery replays the WAL).
 * Errors: CN_INTERNAL_ERROR with RocksDB's message (e.g. the database is
 * locked by another process or handle); *out is NULL then. */
cn_code cn_kv_open(cn_kv **out, const char *path, const char *const *cf_names, size_t ncf,
                   const cn_kv_opts *opts, cn_err *err);
void cn_kv_close(cn_kv *db);

/* A value pinned in RocksDB's cache; read it in place, then release. */
typedef struct cn_kv_val {
	const uint8_t *data;
	size_t len;
	void *pin_; /* private */
} cn_kv_val;

/* CN_OK with *val set, CN_RESOURCE_DOES_NOT_EXIST when absent (err untouched),
 * CN_INTERNAL_ERROR on storage failure (err set). */
cn_code cn_kv_get(cn_kv *db, int cf, const void *key, size_t klen, cn_kv_val *val, cn_err *err);
void cn_kv_val_release(cn_kv_val *val);

cn_kv_batch *cn_kv_batch_new(void);
void cn_kv_batch_free(cn_kv_batch *b);
void cn_kv_batch_clear(cn_kv_batch *b);
void cn_kv_batch_put(cn_kv_batch *b, int cf, const void *key, size_t klen, const void *val,
                     size_t vlen);
void cn_kv_batch_del(cn_kv_batch *b, int cf, const void *key, size_t klen);
/* Apply atomically and durably (see above). */
cn_code cn_kv_write(cn_kv *db, cn_kv_batch *b, cn_err *err);
/* Apply atomically without waiting for a WAL sync: the batch becomes
 * durable with the next synced write to the database (the WAL is one
 * sequence), or is lost in a crash before it. For records no
 * acknowledged reply depends on. The thread's hook is not run. */
cn_code cn_kv_write_unsynced(cn_kv *db, cn_kv_batch *b, cn_err *err);

/* Iterators over one column family, optionally bounded to keys starting with
 * `prefix` (prefix may be NULL). Snapshot-consistent for their lifetime. */
cn_kv_iter *cn_kv_iter_new(cn_kv *db, int cf, const void *prefix, size_t plen);
/* (NULL only when out of memory. A bad cf gives an iterator that is never
 * valid and whose cn_kv_iter_status reports the error. Key and value
 * pointers stay valid until the iterator moves or is freed. Seeks outside
 * the prefix clamp to it: seek below it lands on its first key,
 * seek_for_prev above it on its last.) */
void cn_kv_iter_free(cn_kv_iter *it);
void cn_kv_iter_seek(cn_kv_iter *it, const void *key, size_t klen); /* first >= key */
void cn_kv_iter_seek_first(cn_kv_iter *it);
void cn_kv_iter_seek_last(cn_kv_iter *it);
void cn_kv_iter_seek_for_prev(cn_kv_iter *it, const void *key, size_t klen); /* last <= key */
bool cn_kv_iter_valid(cn_kv_iter *it);
void cn_kv_iter_next(cn_kv_iter *it);
void cn_kv_iter_prev(cn_kv_iter *it);
const uint8_t *cn_kv_iter_key(cn_kv_iter *it, size_t *len);
const uint8_t *cn_kv_iter_value(cn_kv_iter *it, size_t *len);
/* CN_OK, or CN_INTERNAL_ERROR if iteration stopped on a storage error. */
cn_code cn_kv_iter_status(cn_kv_iter *it, cn_err *err);

/* Writes a consistent copy of the database into `dir` (which must not exist)
 * for backups: SST files are hard-linked when on the same file system, so
 * it is cheap; memtables are flushed first so the copy needs no WAL replay.
 * Blocks on I/O; safe alongside concurrent reads and writes.
 * Errors: CN_RESOURCE_ALREADY_EXISTS if dir exists, else CN_INTERNAL_ERROR. */
cn_code cn_kv_checkpoint(cn_kv *db, const char *dir, cn_err *err);

/* Counters for /metrics. */
/* writes: cn_kv_write calls that succeeded; reads: cn_kv_get calls;
 * syncs_shared_estimate: synced writes that rode on another writer's WAL
 * sync (RocksDB's DB stats: WAL writes minus WAL syncs, which RocksDB rounds
 * to thousands past 10000; never decreases), 0 when sync is off. */
typedef struct cn_kv_stats {
	uint64_t writes, syncs_shared_estimate, reads;
} cn_kv_stats;
void cn_kv_get_stats(cn_kv *db, cn_kv_stats *out);

#endif
