/* tests/lib/cn_test.c: registry and runner of CN_TEST functions. */
#include "cn_test.h"

#include <stdlib.h>

#define MAX_TESTS 512

static struct {
	const char *name;
	cn_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int current_failed;

void cn_test_register(const char *name, cn_test_fn fn)
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests].fn = fn;
		ntests++;
	}
}

void cn_test_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, expr);
	current_failed = 1;
}

int cn_test_main(void)
{
	int passed = 0, failed = 0;
	const char *only = getenv("CN_TEST_ONLY");
	for (int i = 0; i < ntests; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		current_failed = 0;
		tests[i].fn();
		fprintf(stderr, "%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
		if (current_failed)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
