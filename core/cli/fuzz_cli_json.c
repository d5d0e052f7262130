/*
 * core/cli/fuzz_cli_json.c: arbitrary bytes as a server's reply to the CLI:
 * parsed as JSON, then walked the way `cairn artifacts` reads replies.
 * Nothing may read outside the input; every string must be NUL-terminated
 * within what was allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli/cli_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_walk(const cli_json *v, int depth)
{
	size_t n = 0;
	for (; v; v = v->next) {
		if (v->key)
			n += strlen(v->key);
		if (v->text)
			n += strlen(v->text);
		if (depth > 200)
			abort(); /* the parser's depth limit was not kept */
		n += fuzz_walk(v->child, depth + 1);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so a read past the end is caught. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	cli_json *j = cli_json_parse(text, size);
	fuzz_walk(j, 0);
	(void)cli_json_str(j, "run", "info", "artifact_uri", NULL);
	const cli_json *files = cli_json_get(j, "files");
	for (const cli_json *f = files ? files->child : NULL; f; f = f->next)
		(void)cli_json_str(f, "path", NULL);
	cli_json_free(j);
	free(text);
	return 0;
}
