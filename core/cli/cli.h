/* core/cli/cli.h: option parsing and the roles of the `cairn` executable. */
#ifndef CN_CLI_H
#define CN_CLI_H

#include <signal.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

typedef struct cli_opts {
	cn_config cfg;
} cli_opts;

/* Defaults < --config file (or CAIRN_CONFIG) < environment < flags. */
cn_code cli_parse(cli_opts *o, int argc, char **argv, cn_err *err);

/* Each runs until SIGTERM/SIGINT arrives (taken with sigwait on `sigs`) and
 * returns the process exit status. */
int cli_run_server(cli_opts *o, const sigset_t *sigs, int64_t start_ns);
int cli_run_service(cli_opts *o, const char *name, const sigset_t *sigs);
int cli_run_gateway(cli_opts *o, const sigset_t *sigs, int64_t start_ns);
/* `cairn gc [options]` (gc.c): argv holds only gc's own options. */
int cli_run_gc(int argc, char **argv);
/* `cairn audit [options]` (audit_cmd.c): read the audit trail of a server. */
int cli_run_audit(int argc, char **argv);

/* `cairn artifacts <upload|download|list> ...` (argv[0] is the subcommand);
 * returns the exit status: 0 done, 1 failed, 2 bad usage. */
int cli_artifacts_main(int argc, char **argv);

#endif
