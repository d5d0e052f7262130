/* core/cli/cli_progress.c: progress bar and summary of `cairn artifacts` (see cli_progress.h). */
#include "core/cli/cli_progress.h"

#include <string.h>

#include "core/clock.h"

#define CLI_PROGRESS_DELAY_NS  500000000ll /* half a second before the bar shows */
#define CLI_PROGRESS_REDRAW_NS 100000000ll

void cli_progress_bytes(char *out, size_t cap, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%.0f B", bytes);
	else
		snprintf(out, cap, "%.1f %s", bytes, units[u]);
}

void cli_progress_format(char *out, size_t cap, int64_t done, int64_t total, double elapsed_s,
                         int files_done, int files_total)
{
	char d[32], t[32], r[32], eta[32] = "--:--";
	cli_progress_bytes(d, sizeof d, (double)done);
	cli_progress_bytes(t, sizeof t, (double)(total > 0 ? total : 0));
	double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
	cli_progress_bytes(r, sizeof r, rate);
	if (rate > 0 && total >= done) {
		long long s = (long long)((double)(total - done) / rate + 0.5);
		if (s >= 3600)
			snprintf(eta, sizeof eta, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
			         s % 60);
		else
			snprintf(eta, sizeof eta, "%lld:%02lld", s / 60, s % 60);
	}
	int pct = total > 0 ? (int)(done * 100 / total) : 100;
	if (total < 0)
		snprintf(out, cap, "  %s  %s/s", d, r);
	else
		snprintf(out, cap, "  %s / %s  %3d%%  %s/s  ETA %s  (%d/%d files)", d, t, pct, r,
		         eta, files_done, files_total);
}

void cli_progress_init(cli_progress *p, FILE *out, bool enabled, bool forced, const char *verb)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->enabled = enabled || forced;
	p->forced = forced;
	p->verb = verb;
	p->start_ns = cn_mono_ns();
}

void cli_progress_expect(cli_progress *p, int64_t bytes, int files)
{
	p->total += bytes;
	p->files_total += files;
}

static void cli_progress_draw(cli_progress *p, int64_t now)
{
	char line[256];
	cli_progress_format(line, sizeof line, p->done, p->total, (double)(now - p->start_ns) / 1e9,
	                    p->files_done, p->files_total);
	/* \r and erase-to-end-of-line: one line, redrawn in place. */
	fprintf(p->out, "\r%s%s\033[K", p->verb, line);
	fflush(p->out);
	p->drawn = true;
	p->last_draw_ns = now;
}

static void cli_progress_tick(cli_progress *p)
{
	if (!p->enabled)
		return;
	int64_t now = cn_mono_ns();
	if (!p->forced && now - p->start_ns < CLI_PROGRESS_DELAY_NS)
		return;
	if (p->drawn && now - p->last_draw_ns < CLI_PROGRESS_REDRAW_NS)
		return;
	cli_progress_draw(p, now);
}

void cli_progress_add(cli_progress *p, int64_t bytes)
{
	p->done += bytes;
	cli_progress_tick(p);
}

void cli_progress_file_done(cli_progress *p)
{
	p->files_done++;
	cli_progress_tick(p);
}

void cli_progress_finish(cli_progress *p, const char *done_verb, bool ok)
{
	int64_t now = cn_mono_ns();
	if (p->drawn) {
		cli_progress_draw(p, now);
		fputc('\n', p->out);
	}
	if (!ok)
		return;
	double s = (double)(now - p->start_ns) / 1e9;
	char b[32], r[32];
	cli_progress_bytes(b, sizeof b, (double)p->done);
	cli_progress_bytes(r, sizeof r, s > 0 ? (double)p->done / s : 0);
	fprintf(p->out, "%s %d file%s (%s) in %.2f s (%s/s)\n", done_verb, p->files_done,
	        p->files_done == 1 ? "" : "s", b, s, r);
	fflush(p->out);
}
