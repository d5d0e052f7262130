/*
 * core/tracking/tracking_int.h: internals shared by the tracking service's
 * files. Not for use outside core/tracking/.
 */
#ifndef CN_TRACKING_INT_H
#define CN_TRACKING_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fb/fb.h"
#include "core/store/kv.h"

enum { TRK_CF_EXPERIMENTS = 0, TRK_CF_EXPERIMENT_NAMES, TRK_CF_COUNT_ };

#define TRK_LOCK_STRIPES 64
#define TRK_PENDING_MAX  256

typedef struct trk_state {
	cn_kv *db;
	cn_bus_pub *events;
	char artifact_root[CN_CFG_STR]; /* experiments get <root>/<id> */
	/* Name reservations: creates and renames check and reserve a name under
	 * names_mu, then write without holding it, so concurrent creates share
	 * one WAL sync instead of queueing behind each other's fsync. */
	pthread_mutex_t names_mu;
	pthread_cond_t names_cv;
	struct {
		char *name; /* owned copy; names may hold any byte, NUL included */
		size_t len;
	} pending[TRK_PENDING_MAX];
	int npending;
	uint64_t next_experiment_id;
	/* Read-modify-write of one experiment holds its stripe. */
	pthread_mutex_t stripes[TRK_LOCK_STRIPES];
} trk_state;

/* A decoded experiment: strings point into a FlatBuffer owned elsewhere. */
typedef struct trk_tag {
	cn_fb_str key, value;
} trk_tag;

typedef struct trk_experiment {
	uint64_t id;
	cn_fb_str name, artifact_location, lifecycle_stage;
	int64_t creation_time, last_update_time;
	trk_tag *tags; /* malloc'd array (owned by the view), may be NULL */
	uint32_t ntags;
} trk_experiment;

/* experiment_store.c */
bool trk_parse_experiment_id(const char *s, size_t len, uint64_t *out);
cn_code trk_experiment_view(const uint8_t *buf, size_t len, trk_experiment *out, cn_err *err);
void trk_experiment_view_free(trk_experiment *e);
/* Build an Experiment table from a view (copies strings into b). */
cn_fb_ref trk_experiment_build(cn_fb_builder *b, const trk_experiment *e);
/* Serialize a view as a standalone Experiment FlatBuffer into *out (malloc'd). */
cn_code trk_experiment_serialize(const trk_experiment *e, uint8_t **out, size_t *len, cn_err *err);
/* Load experiment `id`; CN_RESOURCE_DOES_NOT_EXIST with MLflow's message when absent.
 * On success *val pins the value and *e points into it; release both. */
cn_code trk_experiment_load(trk_state *s, uint64_t id, cn_kv_val *val, trk_experiment *e,
                            cn_err *err);
/* Look up an id by exact name. CN_RESOURCE_DOES_NOT_EXIST when absent. */
cn_code trk_experiment_id_by_name(trk_state *s, const char *name, size_t len, uint64_t *id,
                                  cn_err *err);
/* Put an experiment (and, when old_name is given, move its name index)
 * atomically and durably; then, when topic is given, publish the stored
 * Experiment on the event bus under that topic. */
cn_code trk_experiment_store(trk_state *s, const trk_experiment *e, const cn_fb_str *old_name,
                             const char *topic, const char *request_id, cn_err *err);

/* Name reservation (see trk_state). */
cn_code trk_name_reserve(trk_state *s, const char *name, size_t len, cn_err *err);
void trk_name_release(trk_state *s, const char *name, size_t len);

/* validate.c: MLflow's validation rules and messages. */
cn_code trk_validate_experiment_name(cn_fb_str name, cn_err *err);
cn_code trk_validate_experiment_tag(cn_fb_str key, cn_fb_str value, cn_err *err);
cn_code trk_validate_artifact_location(cn_fb_str loc, cn_err *err);
cn_code trk_missing(cn_err *err, const char *param);

/* experiments.c / experiment_search.c: method implementations. */
struct cn_call_ctx;
cn_code trk_create_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_get_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                           cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_get_experiment_by_name(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                                   cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_delete_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_restore_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_update_experiment(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                              cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_set_experiment_tag(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_delete_experiment_tag(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                                  cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);
cn_code trk_search_experiments(void *st, const struct cn_call_ctx *ctx, cn_fb_table req,
                               cn_fb_builder *b, cn_fb_ref *resp, cn_err *err);

#endif
