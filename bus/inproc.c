/*
 * bus/inproc.c: the direct same-process path of inproc:// addresses.
 *
 * Why not nng's inproc transport: through it a request crosses nng's task
 * queue threads on both ways (caller -> taskq -> REP worker -> taskq ->
 * caller), about five thread switches per call, which capped `cairn
 * server` near nng's own inproc rate. Here the caller's thread queues the
 * request and wakes a worker, and the worker calls the caller back: two
 * switches. Envelopes, verification and deadlines stay the bus's own.
 *
 * The registry of endpoints below is the bus's one piece of process-wide
 * mutable state: the rendezvous of clients and hosts by address, which the
 * address space itself (like nng's inproc) is process-wide. It owns
 * nothing but the endpoints' names and links; each endpoint is freed by
 * whoever drops its last reference.
 */
#include "bus/bus_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INPROC_SCHEME "inproc://"

struct cn_bus_ip_ep {
	cn_bus_ip_ep *next_ep; /* registry list, registry lock */
	int refs;              /* registry lock */
	pthread_mutex_t mu;    /* guards everything below */
	pthread_cond_t ready;  /* workers wait here for requests or a detach */
	const void *host;      /* attached host, NULL when none */
	cn_bus_ip_req *head, *tail;
	size_t queued;
	int idle;            /* workers waiting in cn_bus_ip_pop */
	int limit;           /* calls the host serves at once (its workers) */
	int inside;          /* calls being served: by workers or on callers' threads */
	int waiting;         /* callers waiting in cn_bus_ip_enter for room */
	pthread_cond_t room; /* those callers wait here (CLOCK_REALTIME: deadlines) */
	pthread_cond_t left; /* detach waits here for inside to drop to 0 */
	bool detaching;      /* a detach waits on `left` */
	char addr[];
};

/* The process-wide registry (see the header comment). */
static struct {
	pthread_mutex_t mu;
	cn_bus_ip_ep *head;
} inproc_registry = {PTHREAD_MUTEX_INITIALIZER, NULL};

int cn_bus_ip_is_direct(const char *addr)
{
	return addr && strncmp(addr, INPROC_SCHEME, sizeof INPROC_SCHEME - 1) == 0;
}

cn_code cn_bus_ip_open(cn_bus_ip_ep **out, const char *addr, cn_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&inproc_registry.mu);
	cn_bus_ip_ep *ep = inproc_registry.head;
	while (ep && strcmp(ep->addr, addr) != 0)
		ep = ep->next_ep;
	if (!ep) {
		size_t n = strlen(addr);
		ep = calloc(1, sizeof *ep + n + 1);
		if (!ep) {
			pthread_mutex_unlock(&inproc_registry.mu);
			return cn_err_set(err, CN_INTERNAL_ERROR, "out of memory");
		}
		memcpy(ep->addr, addr, n + 1);
		pthread_mutex_init(&ep->mu, NULL);
		pthread_cond_init(&ep->ready, NULL);
		pthread_cond_init(&ep->left, NULL);
		pthread_cond_init(&ep->room, NULL);
		ep->next_ep = inproc_registry.head;
		inproc_registry.head = ep;
	}
	ep->refs++;
	pthread_mutex_unlock(&inproc_registry.mu);
	*out = ep;
	return CN_OK;
}

void cn_bus_ip_release(cn_bus_ip_ep *ep)
{
	if (!ep)
		return;
	pthread_mutex_lock(&inproc_registry.mu);
	if (--ep->refs > 0) {
		pthread_mutex_unlock(&inproc_registry.mu);
		return;
	}
	cn_bus_ip_ep **pp = &inproc_registry.head;
	while (*pp != ep)
		pp = &(*pp)->next_ep;
	*pp = ep->next_ep;
	pthread_mutex_unlock(&inproc_registry.mu);
	/* Nobody can reach ep now. Its queue is empty: clients take their
	 * requests back before they let go, and hosts fail theirs. */
	pthread_cond_destroy(&ep->left);
	pthread_cond_destroy(&ep->room);
	pthread_cond_destroy(&ep->ready);
	pthread_mutex_destroy(&ep->mu);
	free(ep);
}

/* Unlink r from the queue; ep->mu held. */
static void inproc_unlink(cn_bus_ip_ep *ep, cn_bus_ip_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		ep->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		ep->tail = r->prev;
	r->prev = r->next = NULL;
	r->queued = false;
	ep->queued--;
}

cn_code cn_bus_ip_push(cn_bus_ip_ep *ep, cn_bus_ip_req *r, cn_err *err)
{
	pthread_mutex_lock(&ep->mu);
	if (ep->queued >= CN_BUS_INPROC_QUEUE) {
		int attached = ep->host != NULL;
		pthread_mutex_unlock(&ep->mu);
		/* Bounded, so a stalled service cannot grow its callers' memory
		 * without limit; the caller's deadline would fail these anyway. */
		return cn_err_set(err, CN_TEMPORARILY_UNAVAILABLE,
		                  "Service overloaded: %d requests already wait at %s%s",
		                  CN_BUS_INPROC_QUEUE, ep->addr, attached ? "" : " (not started)");
	}
	r->next = NULL;
	r->prev = ep->tail;
	if (ep->tail)
		ep->tail->next = r;
	else
		ep->head = r;
	ep->tail = r;
	r->queued = true;
	ep->queued++;
	/* One request, one worker (waking them all would only send the others
	 * back to sleep), and none when all are busy: they come back for it.
	 * Signalled after unlocking, or the woken worker would at once block
	 * on the lock still held here. */
	bool wake = ep->host && ep->idle > 0;
	pthread_mutex_unlock(&ep->mu);
	if (wake)
		pthread_cond_signal(&ep->ready);
	return CN_OK;
}

int cn_bus_ip_cancel(cn_bus_ip_ep *ep, cn_bus_ip_req *r)
{
	pthread_mutex_lock(&ep->mu);
	int rc = 0;
	if (r->queued) {
		inproc_unlink(ep, r);
		rc = ep->host ? 1 : 2;
	}
	pthread_mutex_unlock(&ep->mu);
	return rc;
}

cn_code cn_bus_ip_attach(cn_bus_ip_ep *ep, const void *host, int limit, cn_err *err)
{
	pthread_mutex_lock(&ep->mu);
	/* The previous host is still draining: its calls count under the
	 * bound, and the new host's must not hold up its detach. */
	while (ep->detaching)
		pthread_cond_wait(&ep->left, &ep->mu);
	if (ep->host) {
		pthread_mutex_unlock(&ep->mu);
		/* The shape of nng's listen error, which callers already know. */
		return cn_err_set(err, CN_INTERNAL_ERROR,
		                  "bus host: cannot listen on %s: Address in use", ep->addr);
	}
	ep->host = host;
	ep->limit = limit > 0 ? limit : 1;
	/* Requests that waited for a host: every worker may start at once. */
	if (ep->head)
		pthread_cond_broadcast(&ep->ready);
	pthread_mutex_unlock(&ep->mu);
	return CN_OK;
}

/* One call left the host side (a worker's or a caller's): its place
 * under the bound goes to a waiting caller or to a worker for a queued
 * request. ep->mu held. */
static void inproc_exit(cn_bus_ip_ep *ep)
{
	ep->inside--;
	if (ep->detaching) {
		if (ep->inside == 0)
			pthread_cond_broadcast(&ep->left);
		return;
	}
	/* Both kinds may want it; whoever takes the lock first gets it and
	 * the other checks again and waits for the next exit. */
	if (ep->waiting > 0)
		pthread_cond_signal(&ep->room);
	if (ep->head && ep->idle > 0)
		pthread_cond_signal(&ep->ready);
}

cn_bus_ip_req *cn_bus_ip_pop(cn_bus_ip_ep *ep, const void *host, bool served)
{
	pthread_mutex_lock(&ep->mu);
	if (served)
		inproc_exit(ep);
	/* A request, and room under the bound for serving it. */
	while (ep->host == host && (!ep->head || ep->inside >= ep->limit)) {
		ep->idle++;
		pthread_cond_wait(&ep->ready, &ep->mu);
		ep->idle--;
	}
	cn_bus_ip_req *r = NULL;
	if (ep->host == host) {
		r = ep->head;
		inproc_unlink(ep, r);
		ep->inside++;
	}
	pthread_mutex_unlock(&ep->mu);
	return r;
}

const void *cn_bus_ip_enter(cn_bus_ip_ep *ep, int64_t deadline_ms, bool *busy)
{
	*busy = false;
	struct timespec until = {(time_t)(deadline_ms / 1000),
	                         (long)(deadline_ms % 1000) * 1000000L};
	pthread_mutex_lock(&ep->mu);
	while (ep->host && ep->inside >= ep->limit) {
		ep->waiting++;
		int rc = pthread_cond_timedwait(&ep->room, &ep->mu, &until);
		ep->waiting--;
		if (rc == ETIMEDOUT) {
			*busy = ep->host != NULL;
			pthread_mutex_unlock(&ep->mu);
			return NULL;
		}
	}
	const void *host = ep->host;
	if (host)
		ep->inside++;
	pthread_mutex_unlock(&ep->mu);
	return host;
}

void cn_bus_ip_leave(cn_bus_ip_ep *ep)
{
	pthread_mutex_lock(&ep->mu);
	inproc_exit(ep);
	pthread_mutex_unlock(&ep->mu);
}

void cn_bus_ip_detach(cn_bus_ip_ep *ep, const void *host)
{
	pthread_mutex_lock(&ep->mu);
	if (ep->host != host) {
		pthread_mutex_unlock(&ep->mu);
		return;
	}
	ep->host = NULL;
	cn_bus_ip_req *list = ep->head;
	for (cn_bus_ip_req *r = list; r; r = r->next)
		r->queued = false;
	ep->head = ep->tail = NULL;
	ep->queued = 0;
	pthread_cond_broadcast(&ep->ready);
	pthread_cond_broadcast(&ep->room);
	/* Calls being served use the host (workers', and callers' on their
	 * own threads): it stays until the last has left. No new one enters:
	 * host is NULL. */
	ep->detaching = true;
	while (ep->inside > 0)
		pthread_cond_wait(&ep->left, &ep->mu);
	ep->detaching = false;
	pthread_cond_broadcast(&ep->left); /* a host waiting to attach */
	pthread_mutex_unlock(&ep->mu);
	/* Outside the lock: deliver runs the callers' completions. */
	while (list) {
		cn_bus_ip_req *r = list;
		list = r->next;
		r->prev = r->next = NULL;
		r->deliver(r, CN_BUS_IP_STOPPED, NULL, 0);
	}
}
