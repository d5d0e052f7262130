/*
 * core/cli/cli_json.h: a small JSON reader for the CLI's HTTP replies
 * (runs/get, artifact listings, error bodies). The server's schema-driven
 * codec (core/codec) decodes into FlatBuffers tables of known requests;
 * the CLI needs only to pick a few fields out of replies, so it parses into
 * a plain tree instead. Depth is limited; input need not be NUL-terminated.
 */
#ifndef CN_CLI_JSON_H
#define CN_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum cli_json_type {
	CLI_JSON_NULL,
	CLI_JSON_BOOL,
	CLI_JSON_NUMBER,
	CLI_JSON_STRING,
	CLI_JSON_ARRAY,
	CLI_JSON_OBJECT,
} cli_json_type;

typedef struct cli_json {
	cli_json_type type;
	char *key;  /* member name inside an object, else NULL */
	char *text; /* STRING: decoded UTF-8; NUMBER: the literal */
	bool b;
	struct cli_json *child; /* ARRAY / OBJECT: first element */
	struct cli_json *next;  /* next sibling */
} cli_json;

/* The tree of text[0..len), or NULL when it is not one JSON value (or out
 * of memory). The caller frees it with cli_json_free. */
cli_json *cli_json_parse(const char *text, size_t len);
void cli_json_free(cli_json *v);

/* Member key of an object, or NULL. */
const cli_json *cli_json_get(const cli_json *obj, const char *key);
/* The string at obj.k1.k2... (NULL-terminated key list), or NULL. */
const char *cli_json_str(const cli_json *obj, ...);

#endif
