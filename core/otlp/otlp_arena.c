/*
 * core/otlp/otlp_arena.c: the per-request arena. A decoded OTLP request is
 * many small structures (one per attribute, value, event...) that all die
 * together when the request is answered; a bump allocator makes that one
 * free and lets the decoder cap the memory a hostile body can make it use
 * (protobuf structures are several times larger than their wire bytes).
 */
#include "core/otlp/otlp_int.h"

#include <stdlib.h>
#include <string.h>

#define OTLP_CHUNK_MIN ((size_t)64 << 10)

struct otlp_chunk {
	otlp_chunk *next;
	size_t cap, off;
	_Alignas(16) unsigned char data[];
};

static void *otlp_arena_take(otlp_arena *a, size_t n);

/* protobuf-c initialises every structure it allocates (and fills every
 * array and string), so its memory needs no zeroing. */
static void *otlp_pc_alloc(void *data, size_t size)
{
	return otlp_arena_take(data, size);
}

static void otlp_pc_free(void *data, void *p)
{
	(void)data;
	(void)p; /* freed with the arena */
}

void otlp_arena_init(otlp_arena *a, size_t limit)
{
	memset(a, 0, sizeof *a);
	a->limit = limit;
	a->pc.alloc = otlp_pc_alloc;
	a->pc.free = otlp_pc_free;
	a->pc.allocator_data = a;
}

static void *otlp_arena_take(otlp_arena *a, size_t n)
{
	if (n > a->limit) {
		a->failed = true;
		return NULL;
	}
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	otlp_chunk *c = a->head;
	if (!c || c->cap - c->off < n) {
		size_t cap = n > OTLP_CHUNK_MIN ? n : OTLP_CHUNK_MIN;
		/* Chunks grow with the request so big bodies need few mallocs. */
		if (a->used / 8 > cap)
			cap = a->used / 8 > ((size_t)8 << 20) ? ((size_t)8 << 20) : a->used / 8;
		if (cap < n)
			cap = n;
		if (a->failed || a->used + cap + sizeof *c > a->limit) {
			a->failed = true;
			return NULL;
		}
		c = malloc(sizeof *c + cap);
		if (!c) {
			a->failed = true;
			return NULL;
		}
		c->next = a->head;
		c->cap = cap;
		c->off = 0;
		a->head = c;
		a->used += cap + sizeof *c;
	}
	void *p = c->data + c->off;
	c->off += n;
	return p;
}

void *otlp_arena_alloc(otlp_arena *a, size_t n)
{
	void *p = otlp_arena_take(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *otlp_arena_strndup(otlp_arena *a, const char *s, size_t n)
{
	char *p = otlp_arena_alloc(a, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void otlp_arena_free(otlp_arena *a)
{
	for (otlp_chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
	a->used = 0;
}
