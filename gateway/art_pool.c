/*
 * gateway/art_pool.c: the artifact worker threads (a mutex, a condition
 * variable and an intrusive FIFO).
 */
#include "gateway/art_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define ART_POOL_MAX_THREADS 256

struct cn_art_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cn_art_job *head, *tail;
	bool stop;
	int nthreads;
	pthread_t threads[];
};

static void *art_pool_main(void *arg)
{
	cn_art_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		cn_art_job *j = p->head;
		if (!j)
			break; /* stopping and drained */
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->fn(j);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

cn_code cn_art_pool_start(cn_art_pool **out, int nthreads, cn_err *err)
{
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > ART_POOL_MAX_THREADS)
		nthreads = ART_POOL_MAX_THREADS;
	cn_art_pool *p = calloc(1, sizeof *p + (size_t)nthreads * sizeof(pthread_t));
	if (!p)
		return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->nthreads < nthreads; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, art_pool_main, p) != 0)
			break;
	if (p->nthreads == 0) {
		cn_art_pool_stop(p);
		return cn_err_set(err, CN_INTERNAL_ERROR, "cannot start artifact worker threads");
	}
	*out = p;
	return CN_OK;
}

void cn_art_pool_submit(cn_art_pool *p, cn_art_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void cn_art_pool_stop(cn_art_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
