/*
 * main: the command line. "vigia [serve]" runs the server; other
 * subcommands are one-shot tools sharing the config (DESIGN.md §3).
 * Exit status: 0 success, 1 runtime failure, 2 bad usage or config.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "base/config.h"
#include "api/detect_api.h"
#include "cli/detect_cli.h"
#include "api/dialects.h"
#include "base/log.h"
#include "api/ops.h"
#include "net/server.h"
#include "http/static.h"
#include "api/store_api.h"
#include "api/stream_api.h"
#include "cli/user_cli.h"
#include "vg_build.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: vigia [serve] [--config FILE] [--listen HOST:PORT]... [--data DIR] [--models DIR]\n"
            "             [--web DIR] [--log-level debug|info|warn|error] [--workers N] [--SECTION-KEY VALUE]...\n"
            "       vigia user add [--admin|--role ROLE] NAME   (password on stdin)\n"
            "       vigia detect [--model NAME] [--backend B] [--threshold T] [--classes a,b] IMAGE...\n"
            "       vigia --help | --version | --check-config\n"
            "\n"
            "Every setting below can be given in the config file ([section] key = value), as an\n"
            "environment variable VIGIA_SECTION_KEY, or as the flag shown; flags win over the\n"
            "environment, which wins over the file.\n");
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


static int
setup_log(const vg_config *cfg, char *err, size_t errlen)
{
    enum vg_log_level lvl;
    if (vg_log_level_parse(cfg->log_level, &lvl) == 0)
        vg_log_set_level(lvl);
    vg_log_set_format(strcmp(cfg->log_format, "json") == 0 ? VG_LOG_JSON : VG_LOG_TEXT);
    if (cfg->log_file[0]) {
        int fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "log.file '%s': %s", cfg->log_file, strerror(errno));
            return -1;
        }
        vg_log_set_fd(fd);
    }
    return 0;
}


static int
serve(vg_config *cfg, const char *config_path, int argc, char **argv)
{
    char err[512];
    if (setup_log(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        return 2;
    }
    vg_log_set_process("master");
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "vigia: cannot start the event loop\n");
        return 1;
    }
    vg_server *srv = vg_xmalloc(sizeof *srv);
    vg_server_init(srv, loop, cfg);
    srv->reload_argv_config = config_path ? vg_xstrdup(config_path) : NULL;
    srv->reload_argc = argc;
    srv->reload_argv = argv;

    vg_static st;
    vg_ops_register(srv);
    vg_static_init(&st, srv, cfg->web_dir);

    int rc = 1;
    vg_detect_api *detect = NULL;
    vg_stream_api *stream = NULL;
    vg_store_api *store = NULL;
    vg_dialects *dialects = NULL;
    /* the store and the hasher fork first, before workers and listeners */
    store = vg_store_api_create(srv, err, sizeof err);
    if (!store) {
        vg_error("server", "%s", err);
        goto out;
    }
    /* workers fork here, before any listener exists for them to inherit */
    detect = vg_detect_api_create(srv, err, sizeof err);
    if (!detect) {
        vg_error("server", "%s", err);
        goto out;
    }
    vg_detect_api_set_history(detect, vg_store_api_history(store), vg_store_api_auth(store));
    stream = vg_stream_api_create(srv, vg_detect_api_pool(detect));
    vg_stream_api_set_history(stream, vg_store_api_history(store), vg_store_api_auth(store));
    dialects = vg_dialects_create(srv, vg_detect_api_pool(detect), vg_store_api_store(store), stream, err, sizeof err);
    if (!dialects) {
        vg_error("server", "%s", err);
        goto out;
    }
    if (vg_server_listen(srv, err, sizeof err) < 0) {
        vg_error("server", "%s", err);
        goto out;
    }
    vg_log_attach(loop);
    vg_info("server", "vigia %s started (pid %d, config %s)", PACKAGE_VERSION, (int)getpid(),
            cfg->config_path ? cfg->config_path : "defaults");
    vg_server_announce(srv);
    vg_store_api_bootstrap(store, stdout);   /* the one-time admin password on an empty database */
    rc = vg_server_run(srv);
out:
    vg_dialects_destroy(dialects);
    vg_stream_api_destroy(stream);
    vg_detect_api_destroy(detect);
    vg_store_api_destroy(store);
    vg_static_release(&st);
    vg_server_release(srv);
    free(srv->reload_argv_config);
    free(srv);
    vg_metrics_reset();
    vg_log_set_blocking(1);
    ev_loop_destroy(loop);
    return rc;
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

    for (int i = 0; i < nargs; i++) {
        if (strcmp(args[i], "--help") == 0 || strcmp(args[i], "-h") == 0) {
            usage(stdout);
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
        fprintf(stderr, "vigia: configuration OK (%s)\n", cfg->config_path ? cfg->config_path : "defaults");
        rc = 0;
        goto out;
    }

    if (strcmp(cmd, "serve") == 0) {
        rc = serve(cfg, config_path, nargs, args);
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
    fprintf(stderr, "vigia: unknown command '%s' (see vigia --help)\n", cmd);
out:
    free(rest);
    if (cfg) {
        vg_config_release(cfg);
        free(cfg);
    }
    return rc;
}
