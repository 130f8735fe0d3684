/*
 * user_cli: "vigia user add [--admin|--role ROLE] NAME", the password read
 * from standard input (its first line). Writes straight to the LMDB
 * environment of --data with its own short transaction, so it works with
 * or without a server running on the same data directory.
 * Exit status: 0 created, 1 failure (e.g. the name exists), 2 usage.
 */
#ifndef VG_USER_CLI_H
#define VG_USER_CLI_H

#include "base/config.h"

int vg_user_cli_run(const vg_config *cfg, int argc, char **argv);

#endif
