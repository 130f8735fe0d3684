/*
 * main: the command line. "vigia [serve]" runs the server; other
 * subcommands are one-shot tools sharing the config (DESIGN.md §3).
 * Exit status: 0 success, 1 runtime failure, 2 bad usage or config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_build.h"

#include "base/config.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/paths.h"
#include "cli/check_cli.h"
#include "cli/detect_cli.h"
#include "cli/serve.h"
#include "cli/user_cli.h"
#include "cli/worker_cli.h"
#include "net/server.h"

/* vigia --help: what a new user needs, on one screen. */
static void
overview(FILE *out)
{
    fprintf(out,
            "usage: vigia [serve] [OPTION]...           run the server (http://127.0.0.1:8080/ unless --listen)\n"
            "       vigia user add|list|passwd|role|del  manage users (vigia user --help)\n"
            "       vigia detect [OPTION]... IMAGE...    detect without a server (vigia detect --help)\n"
            "       vigia classify [OPTION]... IMAGE...  classify without a server (vigia classify --help)\n"
            "       vigia worker --cluster URL --models a,b  a worker node of a cluster (vigia worker --help)\n"
            "       vigia --check-config | --help-all | --version\n"
            "\n"
            "Options people use:\n"
            "  --config FILE                 the config file to read instead of the one below\n"
            "  --listen HOST:PORT            address to serve (repeatable; port 0: any free port)\n"
            "  --data DIR                    users, sessions and history (LMDB)\n"
            "  --models DIR                  the model folders (scripts/fetch-models fills it)\n"
            "  --web DIR                     the dashboard's files\n"
            "  --workers N                   worker processes per model (0: none, every job to the cluster)\n"
            "  --cluster redis://HOST:PORT   join a cluster of nodes on a Redis bus (no TLS: use stunnel\n"
            "                                or WireGuard between machines; docs/cluster.md)\n"
            "  --log-level LEVEL             debug, info, warn or error\n"
            "  --detect-default-model NAME   the model of requests that name none\n"
            "  --auth-open-detect true       detection without a token (trusted networks)\n"
            "  --check-config                print every setting and path in use, and check them\n"
            "\n"
            "Where this vigia (%s) reads and writes by default:\n"
            "  config  %s%s\n"
            "  data    %s\n"
            "  models  %s\n"
            "  web     %s\n"
            "\n"
            "Every setting can be given in the config file ([section] key = value), as an environment\n"
            "variable VIGIA_SECTION_KEY or as a flag --section-key: vigia --help-all lists them all.\n",
            vg_paths_build_tree() ? "from this build tree" : "installed", vg_paths_get(VG_PATH_CONFIG),
            access(vg_paths_get(VG_PATH_CONFIG), R_OK) == 0 ? "" : " (absent: built-in defaults)",
            vg_paths_get(VG_PATH_DATA), vg_paths_get(VG_PATH_MODELS), vg_paths_get(VG_PATH_WEB));
}


/* vigia --help-all: the usage and every key of the table. */
static void
usage(FILE *out)
{
    fprintf(out,
            "usage: vigia [serve] [--config FILE] [--listen HOST:PORT]... [--data DIR] [--models DIR]\n"
            "             [--web DIR] [--log-level debug|info|warn|error] [--workers N] [--SECTION-KEY VALUE]...\n"
            "       vigia user add [--admin|--role ROLE] NAME   (password on stdin)\n"
            "       vigia user list [--json] | passwd NAME | role NAME ROLE | del [--yes] NAME\n"
            "       vigia detect [--model NAME] [--backend B] [--threshold T] [--classes a,b] IMAGE...\n"
            "       vigia classify --model NAME|--model-file FILE.onnx --names FILE [--k N] IMAGE...\n"
            "       vigia worker --cluster redis://HOST:PORT [--models a,b] [--cluster-node NAME] [--workers N]\n"
            "       vigia --help | --help-all | --version | --check-config\n"
            "\n"
            "Every setting below can be given in the config file ([section] key = value), as an\n"
            "environment variable VIGIA_SECTION_KEY, or as the flag shown; flags win over the\n"
            "environment, which wins over the file.\n"
            "\n"
            "Config file: %s (read when it exists; --config FILE names another).\n"
            "Files: %s; --check-config lists every path in use and whether it exists.\n",
            vg_paths_get(VG_PATH_CONFIG),
            vg_paths_build_tree() ? "from this build tree" : "from the configured prefix (installed)");
    vg_config_print_help(out);
}


/* Finds --config FILE / --config=FILE and removes it from argv. */
static const char *
take_config_flag(int *argc, char **argv)
{
    const char *path = NULL;
    int o = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < *argc) {
            path = argv[++i];
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
            continue;
        }
        argv[o++] = argv[i];
    }
    *argc = o;
    return path;
}


int
main(int argc, char **argv)
{
    const char *cmd = "serve";
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    int nargs = argc - first;
    char **args = argv + first;
    const char *config_path = take_config_flag(&nargs, args);
    char node_models[1024] = "";
    if (strcmp(cmd, "worker") == 0)   /* there --models names the models, not their folder */
        nargs = vg_worker_cli_take_models(nargs, args, node_models, sizeof node_models);

    int own_help = strcmp(cmd, "user") == 0 || strcmp(cmd, "detect") == 0 || strcmp(cmd, "worker") == 0 ||
                   strcmp(cmd, "classify") == 0;   /* they answer their own */
    for (int i = 0; i < nargs; i++) {
        if (strcmp(args[i], "--help-all") == 0) {
            usage(stdout);
            return 0;
        }
        if (!own_help && (strcmp(args[i], "--help") == 0 || strcmp(args[i], "-h") == 0)) {
            overview(stdout);
            return 0;
        }
        if (strcmp(args[i], "--version") == 0) {
            printf("vigia %s\n", PACKAGE_VERSION);
            return 0;
        }
    }

    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    char **rest = vg_xcalloc((size_t)nargs + 1, sizeof *rest);
    int nrest = 0;
    char err[512];
    int rc = 2;
    if (vg_config_load(cfg, config_path, nargs, args, rest, &nrest, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        goto out;
    }

    int check = 0;
    for (int i = 0; i < nrest; i++) {
        if (strcmp(rest[i], "--check-config") == 0) {
            check = 1;
            memmove(rest + i, rest + i + 1, (size_t)(nrest - i) * sizeof *rest);
            nrest--;
            i--;
            continue;
        }
        if (strcmp(cmd, "serve") == 0) {
            fprintf(stderr, "vigia: unknown option '%s' (see vigia --help)\n", rest[i]);
            goto out;
        }
    }
    if (check) {
        if (vg_server_check_config(cfg, err, sizeof err) < 0) {
            fprintf(stderr, "vigia: %s\n", err);
            goto out;
        }
        vg_config_print(cfg, stdout);
        int missing = vg_check_cli_paths(cfg, stdout);
        if (vg_check_cli_default_model(cfg, err, sizeof err) < 0) {
            fprintf(stderr, "vigia: %s\n", err);
            goto out;
        }
        fprintf(stderr, "vigia: configuration OK (%s)\n", cfg->config_path ? cfg->config_path : "defaults");
        if (missing)
            fprintf(stderr, "vigia: %d of the paths above %s missing: see the lines marked missing\n", missing,
                    missing == 1 ? "is" : "are");
        rc = 0;
        goto out;
    }

    if (strcmp(cmd, "serve") == 0) {
        rc = vg_serve(cfg, config_path, nargs, args);
        cfg = NULL;   /* the server owned it */
        goto out;
    }
    if (strcmp(cmd, "user") == 0) {
        rc = vg_user_cli_run(cfg, nrest, rest);
        goto out;
    }
    if (strcmp(cmd, "detect") == 0) {
        rc = vg_detect_cli_run(cfg, nrest, rest);
        goto out;
    }
    if (strcmp(cmd, "classify") == 0) {
        rc = vg_classify_cli_run(cfg, nrest, rest);
        goto out;
    }
    if (strcmp(cmd, "worker") == 0) {
        rc = vg_worker_cli_run(cfg, node_models, nrest, rest);
        goto out;
    }
    fprintf(stderr, "vigia: unknown command '%s' (see vigia --help)\n", cmd);
out:
    free(rest);
    if (cfg) {
        vg_config_release(cfg);
        free(cfg);
    }
    return rc;
}
