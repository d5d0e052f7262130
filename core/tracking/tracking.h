/*
 * core/tracking/tracking.h: the tracking service (experiments now; runs,
 * metrics, params, tags, datasets and logged models build on it).
 *
 * Storage (one RocksDB under <data_dir>/tracking), one column family per
 * entity or index:
 *   experiments       u64 experiment_id            -> Experiment FlatBuffer
 *                                                     (schemas/tracking/experiments.fbs)
 *   experiment_names  name (raw bytes)             -> u64 experiment_id (big-endian)
 * An experiment and its name index are always written in one batch. Names
 * of deleted experiments stay reserved until `cairn gc`, as in MLflow.
 * Experiment ids are decimal strings of a 64-bit counter: "0" is the
 * Default experiment, new ones count up from the highest stored id.
 */
#ifndef CN_TRACKING_H
#define CN_TRACKING_H

#include "core/service.h"

extern const cn_service_def cn_tracking_service;

#endif
