/*
 * worker_cli: `vigia worker --cluster URL --models a,b`: a worker node. No
 * HTTP clients: the same forked workers and backends as `vigia serve`,
 * fed with jobs from the cluster bus (core/cluster/node.h).
 */
#ifndef VG_WORKER_CLI_H
#define VG_WORKER_CLI_H

#include "base/config.h"

/*
 * Takes `--models a,b` out of argv (for this subcommand it names the models
 * to serve, not their folder: give that with --paths-models DIR) into
 * out; returns the new argc.
 */
int vg_worker_cli_take_models(int argc, char **argv, char *out, size_t outlen);

/* Runs the node until SIGTERM or SIGINT. Exit status: 0, 1 runtime failure, 2 usage. */
int vg_worker_cli_run(vg_config *cfg, const char *models, int argc, char **argv);

#endif
