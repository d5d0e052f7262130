/*
 * core/tracking/tracking.h: the tracking service (experiments; runs with
 * params, tags, metrics and metric history; datasets, search and logged
 * models build on it).
 *
 * Storage (one RocksDB under <data_dir>/tracking), one column family per
 * entity or index:
 *   experiments       u64 experiment_id            -> Experiment FlatBuffer
 *                                                     (schemas/tracking/experiments.fbs)
 *   experiment_names  name (raw bytes)             -> u64 experiment_id (big-endian)
 *   runs              16 raw bytes of the 32-hex run id -> RunInfo FlatBuffer
 *                                                     (schemas/tracking/runs.fbs)
 *   runs_by_experiment u64 experiment_id, i64 start_time, 16-byte run id -> empty
 *                                                     (written at create; for listing/search)
 *   run_params        run id (16 B), key string        -> value bytes
 *   run_tags          run id (16 B), key string        -> value bytes (mlflow.runName
 *                                                     mirrors RunInfo.run_name)
 *   run_latest_metrics run id (16 B), key string       -> 24 bytes big-endian:
 *                                                     f64 bits, i64 timestamp, i64 step
 *   run_metrics       a metric's history, two key forms under (run id (16 B), key
 *                     string), told apart by what follows that prefix:
 *                     chunk: u64 seq of its first point, byte 0x43 ('C')
 *                                                  -> byte 1 (version), then n 32-byte
 *                                                     records sorted by (step, timestamp,
 *                                                     seq): i64 step, i64 timestamp (both
 *                                                     key-encoded), u64 seq, f64 bits BE;
 *                                                     one chunk per metric key per logging
 *                                                     call, holding that call's points
 *                     point: i64 step, i64 timestamp, u64 seq
 *                                                  -> 8 bytes big-endian f64 bits, then,
 *                                                     only when any is set, model_id,
 *                                                     dataset_name, dataset_digest as
 *                                                     (u32 BE length, bytes) each; written
 *                                                     for points that carry one of these
 *                                                     strings, and by earlier versions for
 *                                                     every point (still read, no migration)
 *   datasets          u64 experiment_id, name string, digest string
 *                                                  -> Dataset FlatBuffer (runs.fbs); one
 *                                                     per experiment and (name, digest):
 *                                                     the first logged is kept, as in MLflow
 *   run_inputs        run id (16 B), dataset name, dataset digest
 *                                                  -> InputTags FlatBuffer (runs.fbs); the
 *                                                     same dataset logged again to the run
 *                                                     keeps its first tags, as in MLflow
 *   run_model_inputs  run id (16 B), model_id string -> empty
 *   logged_models     16 raw bytes of the model id "m-<32 hex>" -> StoredLoggedModel
 *                                                     FlatBuffer (logged_models.fbs); delete
 *                                                     sets lifecycle_stage "deleted"
 *   logged_models_by_experiment u64 experiment_id, model id (16 B) -> empty
 *                                                     (written at create; for search)
 *   logged_model_params model id (16 B), key string  -> value bytes (immutable)
 *   logged_model_tags model id (16 B), key string    -> value bytes
 *   logged_model_metrics model id (16 B), key string, dataset_name string,
 *                     dataset_digest string, i64 timestamp, i64 step, u64 seq
 *                                                  -> 8 bytes big-endian f64 bits, 16-byte
 *                                                     run id; every point of log-metric and
 *                                                     log-batch that names the model, written
 *                                                     in the run's batch; the last of each
 *                                                     (key, dataset) group is the model's
 *                                                     latest value (MLflow's ranking)
 *   run_model_outputs run id (16 B), model_id string -> i64 step (big-endian); runs/outputs
 * Key parts use core/store/key.h (order-preserving). A metric's history is
 * read by loading every entry under its prefix and merging the chunks and
 * the single points (each a sorted run) in (step, timestamp, seq) order
 * (metric_chunks.c); a chunk record's first 24 bytes are a point key's
 * suffix, so both compare with memcmp and page tokens are that suffix.
 * Why chunks (measured with tests/bench/tracking_bench.sh, perf): one key
 * per point made a 1000-point log-batch 1000 memtable skiplist inserts, ~90%
 * of the service's write time, and a 100,000-point history 100,000 iterator
 * steps; with chunks the same batch of 10 keys is 10 inserts (storage fell
 * to ~4% of the service's CPU under log-batch; JSON decoding dominates) and
 * the history is 100 values. seq is a per-process
 * counter started from the clock (ms << 16) at open, so equal (step,
 * timestamp) points never collide, across restarts too. Every run call
 * writes one atomic synced batch (info, indexes, params/tags, points and
 * latest metrics together); read-modify-writes of one run (info, params,
 * latest metrics) hold the run's stripe lock (trk_state.run_stripes). The
 * latest metric per key is MLflow's: max by (step, timestamp, value).
 * An experiment and its name index are always written in one batch. Names
 * of deleted experiments stay reserved until `cairn gc`, as in MLflow.
 * A stored RunInfo also carries deleted_time (set by delete, cleared by
 * restore; never answered) for `cairn gc --older-than`. gc.c purges a run by
 * deleting its keys in every run column family above in one batch: a new
 * column family keyed by run id must be added there (gc_test.c checks).
 * Experiment ids are decimal strings of a 64-bit counter: "0" is the
 * Default experiment, new ones count up from the highest stored id.
 * runs/search reads none of this per query: it reads an in-memory cache of
 * the searched experiments (run_cache.c), which every run write updates
 * under the run's stripe lock after its batch commits.
 */
#ifndef CN_TRACKING_H
#define CN_TRACKING_H

#include "core/service.h"

extern const cn_service_def cn_tracking_service;

#endif
