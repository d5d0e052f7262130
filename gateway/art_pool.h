/*
 * gateway/art_pool.h: a small pool of threads for blocking artifact-store
 * calls, so that none runs on an HTTP event thread.
 *
 * A job is a node the caller embeds in its own state (no allocation per
 * job); a node is queued at most once at a time. Jobs run in FIFO order on
 * any of the pool's threads.
 */
#ifndef CN_GW_ART_POOL_H
#define CN_GW_ART_POOL_H

#include "core/error.h"

typedef struct cn_art_job cn_art_job;
struct cn_art_job {
	void (*fn)(cn_art_job *job);
	cn_art_job *next;
};

typedef struct cn_art_pool cn_art_pool;

/* Start nthreads threads (at least 1). */
cn_code cn_art_pool_start(cn_art_pool **out, int nthreads, cn_err *err);
/* Queue job (fn set by the caller). Any thread. */
void cn_art_pool_submit(cn_art_pool *p, cn_art_job *job);
/* Run every queued job, then join the threads and free. NULL is a no-op. */
void cn_art_pool_stop(cn_art_pool *p);

#endif
