/*
 * core/cli/cli_progress.h: the progress bar of `cairn artifacts` on stderr
 * (bytes, rate, ETA), and the one-line summary printed at the end.
 *
 * The bar is drawn only when enabled (stderr is a terminal, or --progress)
 * and only once a transfer has run for half a second, so small transfers
 * print just the summary; with --progress it draws from the start. Redraws
 * are at most ten a second. Single-threaded.
 */
#ifndef CN_CLI_PROGRESS_H
#define CN_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_progress {
	FILE *out;
	bool enabled; /* may draw the bar */
	bool forced;  /* --progress: draw from the start */
	bool drawn;   /* the bar is on screen (a newline is owed) */
	int64_t total, done;
	int files_total, files_done;
	int64_t start_ns, last_draw_ns;
	const char *verb; /* "uploading" */
} cli_progress;

void cli_progress_init(cli_progress *p, FILE *out, bool enabled, bool forced, const char *verb);
/* Expect total bytes in files files (adds to what was announced). */
void cli_progress_expect(cli_progress *p, int64_t bytes, int files);
void cli_progress_add(cli_progress *p, int64_t bytes);
void cli_progress_file_done(cli_progress *p);
/* Ends the bar (a newline when drawn) and prints "<done_verb> N files
 * (X MiB) in T s (R MiB/s)" unless quiet. */
void cli_progress_finish(cli_progress *p, const char *done_verb, bool ok);

/* "1.5 MiB", "512 B". */
void cli_progress_bytes(char *out, size_t cap, double bytes);
/* The bar's text for done of total bytes after elapsed seconds:
 * "  12.0 MiB / 100.0 MiB  12%  6.0 MiB/s  ETA 0:14  (1/3 files)". total < 0: unknown. */
void cli_progress_format(char *out, size_t cap, int64_t done, int64_t total, double elapsed_s,
                         int files_done, int files_total);

#endif
