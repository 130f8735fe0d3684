/* user_cli: see user_cli.h. */
#include "cli/user_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/password_policy.h"
#include "base/log.h"
#include "store/offline.h"
#include "store/store.h"
#include "api/users_api.h"


static void
help(FILE *out)
{
    fputs("usage: vigia user add [--role viewer|operator|admin | --admin] [--email ADDR] [--data DIR] NAME\n"
          "Creates a user in the data folder (beside a running server too). The password is asked\n"
          "twice on a terminal (not shown); otherwise it is the first line of standard input.\n"
          "Roles (the dashboard's default is the same, operator):\n"
          "  viewer    sees detections, history, statistics and the models\n"
          "  operator  that, and runs detections, streams and comparisons, gives feedback (default)\n"
          "  admin     everything: users, API keys, loading and unloading models\n", out);
}


static int
usage(void)
{
    help(stderr);
    return 2;
}


/* Reads one line into buf (at most n - 1 bytes, without its newline); 0, or -1 at end of input. */
static int
read_line(FILE *in, char *buf, size_t n)
{
    if (!fgets(buf, (int)n, in))
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}


/* Asks on the terminal with echo off; returns 0, or -1 at end of input. */
static int
ask_hidden(const char *prompt, char *buf, size_t n)
{
    struct termios old, quiet;
    int restore = tcgetattr(0, &old) == 0;
    fputs(prompt, stderr);
    fflush(stderr);
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    int rc = read_line(stdin, buf, n);
    if (restore)
        tcsetattr(0, TCSAFLUSH, &old);
    return rc;
}


/* The password: asked twice on a terminal, else the first line of standard input. */
static int
read_password(const char *name, char *pw, size_t n)
{
    if (!isatty(0)) {
        if (read_line(stdin, pw, n) < 0) {
            fprintf(stderr, "vigia: no password on standard input\n");
            return -1;
        }
        return 0;
    }
    char again[VG_STORE_MAX_PASSWORD + 2], prompt[160];
    snprintf(prompt, sizeof prompt, "Password for %s: ", name);
    if (ask_hidden(prompt, pw, n) < 0 || ask_hidden("Again: ", again, sizeof again) < 0) {
        fprintf(stderr, "vigia: no password given\n");
        return -1;
    }
    int same = strcmp(pw, again) == 0;
    memset(again, 0, sizeof again);
    if (!same) {
        fprintf(stderr, "vigia: the two passwords differ; nothing was created\n");
        return -1;
    }
    return 0;
}


int
vg_user_cli_run(const vg_config *cfg, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout);
            return 0;
        }
    }
    if (argc < 1 || strcmp(argv[0], "add") != 0)
        return usage();
    int role = VG_ROLE_OPERATOR;   /* as the dashboard's Users page */
    const char *name = NULL, *email = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0)
            role = VG_ROLE_ADMIN;
        else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = vg_role_parse(argv[i + 1], strlen(argv[i + 1]));
            i++;
            if (role == VG_ROLE_NONE)
                return usage();
        } else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc)
            email = argv[++i];
        else if (argv[i][0] == '-' || name)
            return usage();
        else
            name = argv[i];
    }
    char err[1200];
    if (!name)
        return usage();
    if (vg_user_name_valid(name, err, sizeof err) < 0 || vg_user_email_valid(email, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        return 2;
    }
    char pw[VG_STORE_MAX_PASSWORD + 2];
    if (read_password(name, pw, sizeof pw) < 0)
        return 2;
    size_t n = strlen(pw);
    if (vg_password_policy_check(pw, n, name, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        return 2;
    }
    vg_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.email, sizeof u.email, "%s", email);
    u.role = role;
    u.created = u.updated = (int64_t)time(NULL);
    vg_hasher_config hc = { (uint32_t)cfg->argon2_iterations, (uint32_t)(cfg->argon2_memory / 1024),
                            (uint32_t)cfg->argon2_parallelism };
    int rc = vg_password_hash(&hc, pw, n, u.hash, sizeof u.hash);
    memset(pw, 0, sizeof pw);
    if (rc != 0) {
        fprintf(stderr, "vigia: cannot hash the password\n");
        return 1;
    }
    vg_log_set_blocking(1);
    rc = vg_offline_user_add(cfg->data_dir, cfg->store_map_size, cfg->store_map_max, &u, err, sizeof err);
    if (rc == VG_E_SCHEMA) {
        fprintf(stderr, "vigia: %s\n", err);
        return 1;
    }
    if (rc == VG_E_CONFLICT) {
        fprintf(stderr, "vigia: a user named '%s'%s already exists\n", name, email[0] ? " or with that email" : "");
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "vigia: cannot create the user: %s\n", vg_err_str(rc));
        return 1;
    }
    printf("vigia: created user '%s' (id %llu, %s)\n", u.name, (unsigned long long)u.id, vg_role_name(u.role));
    return 0;
}
