/*
 * user_cli: `vigia user add|list|passwd|role|del`, each with its own
 * --help. Passwords are asked twice with echo off on a terminal, else read
 * from the first line of standard input. Reads and writes the LMDB
 * environment of --data directly (store/offline.h), so it works with or
 * without a server running on the same data directory.
 * Exit status: 0 done, 1 failure (the name exists, no such user, the last
 * admin), 2 usage or a refused password.
 */
#ifndef VG_USER_CLI_H
#define VG_USER_CLI_H

#include "base/config.h"

int vg_user_cli_run(const vg_config *cfg, int argc, char **argv);

#endif
