/* core/ids_test.c: random ids are well-formed, distinct, and usable from many threads. */
#include "core/ids.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cn_test.h"

CN_TEST(hex32_shape)
{
	char id[33];
	memset(id, 'X', sizeof id);
	cn_id_hex32(id);
	CN_CHECK_EQ_INT(strlen(id), 32);
	CN_CHECK(cn_id_is_hex32(id, 32));
	cn_id_request(id);
	CN_CHECK(cn_id_is_hex32(id, strlen(id)));
}

CN_TEST(is_hex32_rejects)
{
	CN_CHECK(cn_id_is_hex32("0123456789abcdef0123456789abcdef", 32));
	CN_CHECK(!cn_id_is_hex32("0123456789ABCDEF0123456789abcdef", 32)); /* upper case */
	CN_CHECK(!cn_id_is_hex32("0123456789abcdef0123456789abcde", 31));
	CN_CHECK(!cn_id_is_hex32("0123456789abcdef0123456789abcdeg", 32));
	CN_CHECK(!cn_id_is_hex32("0123456789abcdef-123456789abcdef", 32));
	CN_CHECK(!cn_id_is_hex32(NULL, 32));
	CN_CHECK(!cn_id_is_hex32("", 0));
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 33);
}

CN_TEST(ids_are_distinct_and_use_every_digit)
{
	enum { N = 20000 };
	char(*ids)[33] = malloc(sizeof *ids * N);
	CN_CHECK(ids != NULL);
	if (!ids)
		return;
	int seen[16] = {0};
	for (int i = 0; i < N; i++) {
		cn_id_hex32(ids[i]);
		for (int j = 0; j < 32; j++) {
			char c = ids[i][j];
			seen[c <= '9' ? c - '0' : c - 'a' + 10]++;
		}
	}
	qsort(ids, N, sizeof *ids, cmp_id);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += memcmp(ids[i - 1], ids[i], 33) == 0;
	CN_CHECK_EQ_INT(dups, 0);
	/* 640000 digits, 40000 expected each: a broken generator (constant
	 * nibble, missing digits) is far outside these loose bounds. */
	for (int d = 0; d < 16; d++)
		CN_CHECK(seen[d] > 36000 && seen[d] < 44000);
	free(ids);
}

#define THREADS 8
#define PER     2000

static void *gen(void *p)
{
	char(*out)[33] = p;
	for (int i = 0; i < PER; i++)
		cn_id_request(out[i]);
	return NULL;
}

CN_TEST(ids_from_many_threads_are_distinct)
{
	char(*ids)[33] = malloc(sizeof *ids * THREADS * PER);
	if (!ids)
		return;
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, gen, ids + t * PER);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	qsort(ids, THREADS * PER, sizeof *ids, cmp_id);
	int dups = 0, bad = 0;
	for (int i = 0; i < THREADS * PER; i++) {
		bad += !cn_id_is_hex32(ids[i], strlen(ids[i]));
		if (i)
			dups += memcmp(ids[i - 1], ids[i], 33) == 0;
	}
	CN_CHECK_EQ_INT(dups, 0);
	CN_CHECK_EQ_INT(bad, 0);
	free(ids);
}

CN_TEST_MAIN()
