/*
 * core/cli/main.c: the one `cairn` executable and its roles.
 *
 *   cairn server    gateway + every service in one process over inproc://
 *   cairn service   one service on a bus address (split mode)
 *   cairn gateway   the HTTP gateway alone, calling services over the bus
 *   cairn config    print the effective configuration
 *   cairn gc        purge deleted runs and experiments (a client of a server)
 *   cairn version
 *
 * Both process modes run the same code; only the bus addresses differ.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli/cli.h"
#include "core/clock.h"
#include "core/log.h"

static void cli_usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn <command> [options]\n"
	        "\n"
	        "commands:\n"
	        "  server                 run the gateway and all services in one process\n"
	        "  service <name>         run one service (split mode); needs --listen\n"
	        "  gateway                run the HTTP gateway; needs --service NAME=ADDR per "
	        "service\n"
	        "  config                 print the effective configuration and exit\n"
	        "  artifacts upload|download|list   move artifacts to and from any store or a "
	        "server\n"
	        "  gc                     purge deleted runs and experiments for good (`cairn gc "
	        "--help`)\n"
	        "  audit                  who did what, when, from where (`cairn audit --help`)\n"
	        "  version                print versions and exit\n"
	        "\n"
	        "common options (every setting also reads CAIRN_<KEY> and a YAML --config file):\n"
	        "  --config FILE          YAML configuration file\n"
	        "  --host ADDR            gateway bind address (127.0.0.1)\n"
	        "  --port N               gateway port (5000)\n"
	        "  --data DIR             data directory (./cairn-data); alias --data-dir\n"
	        "  --listen ADDR          bus address a service binds (tcp://, ipc://, "
	        "tls+tcp://)\n"
	        "  --service NAME=ADDR    where the gateway finds a service\n"
	        "  --default-artifact-root URI, --artifacts-destination URI,\n"
	        "  --serve-artifacts / --no-serve-artifacts   as in `mlflow server`\n"
	        "  --artifacts-only       serve only the artifact routes, as in `mlflow server`\n"
	        "  --log-level LEVEL      debug|info|warn|error\n"
	        "Run `cairn config` to see every setting.\n");
}

int main(int argc, char **argv)
{
	int64_t start_ns = cn_mono_ns();
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		cli_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("cairn %s (MLflow REST API %s)\n", CAIRN_VERSION, CAIRN_MLFLOW_API_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "artifacts")) {
		signal(SIGPIPE, SIG_IGN);
		return cli_artifacts_main(argc - 2, argv + 2);
	}
	if (!strcmp(cmd, "gc")) /* a client of a running server: none of the server's options */
		return cli_run_gc(argc - 2, argv + 2);
	if (!strcmp(cmd, "audit")) /* likewise a client: `cairn audit --help` */
		return cli_run_audit(argc - 2, argv + 2);
	/* Signals are taken synchronously by the main thread (sigwait), so every
	 * thread created from here on must have them blocked. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	cli_opts opts;
	cn_err err;
	int argi = 2;
	const char *service_name = NULL;
	if (!strcmp(cmd, "service")) {
		if (argc < 3 || argv[2][0] == '-') {
			fprintf(stderr, "cairn service: name the service (e.g. `cairn service "
			                "tracking --listen tcp://127.0.0.1:7001`)\n");
			return 2;
		}
		service_name = argv[2];
		argi = 3;
	}
	if (cli_parse(&opts, argc - argi, argv + argi, &err) != CN_OK) {
		fprintf(stderr, "cairn %s: %s\n", cmd, err.msg);
		return 2;
	}
	cn_log_init(cn_log_level_from_name(opts.cfg.log_level), opts.cfg.log_json);
	if (!strcmp(cmd, "config")) {
		cn_config_dump(&opts.cfg, stdout);
		return 0;
	}
	int rc;
	if (!strcmp(cmd, "server"))
		rc = cli_run_server(&opts, &sigs, start_ns);
	else if (!strcmp(cmd, "service"))
		rc = cli_run_service(&opts, service_name, &sigs);
	else if (!strcmp(cmd, "gateway"))
		rc = cli_run_gateway(&opts, &sigs, start_ns);
	else {
		fprintf(stderr, "cairn: unknown command '%s'\n\n", cmd);
		cli_usage(stderr);
		return 2;
	}
	return rc;
}
