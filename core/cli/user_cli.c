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

#define ROLES_HELP \
    "Roles (the dashboard's default is the same, operator):\n" \
    "  viewer    sees detections, history, statistics and the models\n" \
    "  operator  that, and runs detections, streams and comparisons, gives feedback (default)\n" \
    "  admin     everything: users, API keys, loading and unloading models\n"

/* One subcommand: its usage line, what it does, and how many names it takes. */
typedef struct subcommand {
    const char *name, *usage, *about;
} subcommand;

static const subcommand subcommands[] = {
    { "add", "vigia user add [--role viewer|operator|admin | --admin] [--email ADDR] [--data DIR] NAME",
      "Creates a user. The password is asked twice on a terminal (not shown); otherwise it is\n"
      "the first line of standard input.\n" ROLES_HELP },
    { "list", "vigia user list [--json] [--data DIR]",
      "Lists the users: id, name, role, state and e-mail (--json: one JSON object per line, as\n"
      "GET /v1/users shows them).\n" },
    { "passwd", "vigia user passwd [--data DIR] NAME",
      "Sets a new password (asked as by add). It ends the user's sessions and revokes its API\n"
      "keys, and clears a one-time password's forced change.\n" },
    { "role", "vigia user role [--data DIR] NAME viewer|operator|admin",
      "Changes the user's role; it applies to their next request. The last active admin cannot\n"
      "be demoted.\n" ROLES_HELP },
    { "del", "vigia user del [--yes] [--data DIR] NAME",
      "Removes the user, its sessions and API keys (its detections stay). Asks first on a\n"
      "terminal unless --yes. The last active admin cannot be removed.\n" },
};
#define NSUB (sizeof subcommands / sizeof subcommands[0])


static void
help(FILE *out, const subcommand *only)
{
    if (only) {
        fprintf(out, "usage: %s\n%s", only->usage, only->about);
        return;
    }
    fputs("usage:\n", out);
    for (size_t i = 0; i < NSUB; i++)
        fprintf(out, "  %s\n", subcommands[i].usage);
    fputs("Changes the users in the data folder, with or without a server running on it; a running\n"
          "server sees each change at the next request. NAME may also be the user's e-mail.\n"
          "vigia user COMMAND --help says more about one.\n", out);
}


static int
usage(const subcommand *sc)
{
    help(stderr, sc);
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


/* The password: asked twice on a terminal, else the first line of standard input; checked against the policy. */
static int
read_password(const char *name, char *pw, size_t n)
{
    char err[1200];
    if (!isatty(0)) {
        if (read_line(stdin, pw, n) < 0) {
            fprintf(stderr, "vigia: no password on standard input\n");
            return -1;
        }
    } else {
        char again[VG_STORE_MAX_PASSWORD + 2], prompt[160];
        snprintf(prompt, sizeof prompt, "Password for %s: ", name);
        if (ask_hidden(prompt, pw, n) < 0 || ask_hidden("Again: ", again, sizeof again) < 0) {
            fprintf(stderr, "vigia: no password given\n");
            return -1;
        }
        int same = strcmp(pw, again) == 0;
        memset(again, 0, sizeof again);
        if (!same) {
            fprintf(stderr, "vigia: the two passwords differ; nothing was changed\n");
            return -1;
        }
    }
    if (vg_password_policy_check(pw, strlen(pw), name, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        return -1;
    }
    return 0;
}


/* The argon2id hash of a password read as read_password does; 0, or an exit status. */
static int
new_hash(const vg_config *cfg, const char *name, char *hash, size_t hashlen)
{
    char pw[VG_STORE_MAX_PASSWORD + 2];
    if (read_password(name, pw, sizeof pw) < 0)
        return 2;
    vg_hasher_config hc = { (uint32_t)cfg->argon2_iterations, (uint32_t)(cfg->argon2_memory / 1024),
                            (uint32_t)cfg->argon2_parallelism };
    int rc = vg_password_hash(&hc, pw, strlen(pw), hash, hashlen);
    memset(pw, 0, sizeof pw);
    if (rc != 0) {
        fprintf(stderr, "vigia: cannot hash the password\n");
        return 1;
    }
    return 0;
}


/* The exit status of a store result, with the line that explains it. */
static int
report(int rc, const char *login, const char *err)
{
    switch (rc) {
    case 0:
        return 0;
    case VG_E_SCHEMA:
        fprintf(stderr, "vigia: %s\n", err);
        return 1;
    case VG_E_NOTFOUND:
        fprintf(stderr, "vigia: no user '%s' (vigia user list shows them)\n", login);
        return 1;
    case VG_E_LASTADMIN:
        fprintf(stderr, "vigia: '%s' is the last active admin: make another user admin first\n", login);
        return 1;
    default:
        fprintf(stderr, "vigia: %s\n", vg_err_str(rc));
        return 1;
    }
}


static int
cmd_add(const vg_config *cfg, const vg_offline *o, int role, const char *email, const char *name)
{
    char err[1200];
    if (vg_user_name_valid(name, err, sizeof err) < 0 || vg_user_email_valid(email, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        return 2;
    }
    vg_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.email, sizeof u.email, "%s", email);
    u.role = role;
    u.created = u.updated = (int64_t)time(NULL);
    int rc = new_hash(cfg, name, u.hash, sizeof u.hash);
    if (rc != 0)
        return rc;
    rc = vg_offline_user_add(o, &u, err, sizeof err);
    if (rc == VG_E_CONFLICT) {
        fprintf(stderr, "vigia: a user named '%s'%s already exists\n", name, email[0] ? " or with that email" : "");
        return 1;
    }
    if ((rc = report(rc, name, err)) != 0)
        return rc;
    printf("vigia: created user '%s' (id %llu, %s)\n", u.name, (unsigned long long)u.id, vg_role_name(u.role));
    return 0;
}


static int
print_row(const vg_user *u, void *ud)
{
    int json = *(int *)ud;
    if (json) {
        vg_buf b;
        vg_buf_init(&b);
        vg_jsonw w;
        vg_jsonw_init(&w, &b);
        vg_user_json(&w, u);
        printf("%s\n", vg_buf_cstr(&b));
        vg_buf_release(&b);
        return 0;
    }
    const char *state = u->disabled ? "disabled" : u->must_change ? "must change password" : "active";
    printf("%-6llu %-24s %-9s %-21s %s\n", (unsigned long long)u->id, u->name, vg_role_name(u->role), state,
           u->email[0] ? u->email : "-");
    return 0;
}


static int
cmd_list(const vg_offline *o, int json)
{
    char err[1200];
    if (!json)
        printf("%-6s %-24s %-9s %-21s %s\n", "ID", "NAME", "ROLE", "STATE", "EMAIL");
    return report(vg_offline_user_list(o, print_row, &json, err, sizeof err), "", err);
}


static int
cmd_change(const vg_config *cfg, const vg_offline *o, const char *sub, const char *name, const char *role_name)
{
    char err[1200];
    vg_user_patch p;
    vg_user u;
    memset(&p, 0, sizeof p);
    p.now = (int64_t)time(NULL);
    if (strcmp(sub, "role") == 0) {
        p.set_role = 1;
        p.role = vg_role_parse(role_name, strlen(role_name));
        if (p.role == VG_ROLE_NONE) {
            fprintf(stderr, "vigia: unknown role '%s' (viewer, operator or admin)\n", role_name);
            return 2;
        }
    } else {
        p.set_hash = 1;
        int rc = new_hash(cfg, name, p.hash, sizeof p.hash);
        if (rc != 0)
            return rc;
    }
    int rc = report(vg_offline_user_update(o, name, &p, &u, err, sizeof err), name, err);
    if (rc != 0)
        return rc;
    if (p.set_role)
        printf("vigia: user '%s' is now %s\n", u.name, vg_role_name(u.role));
    else
        printf("vigia: new password for '%s'; its sessions ended and its API keys were revoked\n", u.name);
    return 0;
}


static int
cmd_del(const vg_offline *o, const char *name, int yes)
{
    char err[1200], line[16];
    if (!yes && isatty(0)) {
        fprintf(stderr, "Remove user '%s', its sessions and API keys? [y/N] ", name);
        fflush(stderr);
        if (read_line(stdin, line, sizeof line) < 0 || (line[0] != 'y' && line[0] != 'Y')) {
            fprintf(stderr, "vigia: nothing was removed\n");
            return 1;
        }
    }
    vg_user u;
    int rc = report(vg_offline_user_delete(o, name, &u, err, sizeof err), name, err);
    if (rc == 0)
        printf("vigia: removed user '%s' (id %llu)\n", u.name, (unsigned long long)u.id);
    return rc;
}


int
vg_user_cli_run(const vg_config *cfg, int argc, char **argv)
{
    const subcommand *sc = NULL;
    for (size_t i = 0; argc > 0 && i < NSUB; i++)
        if (strcmp(argv[0], subcommands[i].name) == 0)
            sc = &subcommands[i];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout, sc);
            return 0;
        }
    }
    if (!sc)
        return usage(NULL);
    int role = VG_ROLE_OPERATOR, json = 0, yes = 0;   /* operator: as the dashboard's Users page */
    const char *email = "", *names[2] = { NULL, NULL };
    int nnames = 0;
    int is_add = sc == &subcommands[0];
    for (int i = 1; i < argc; i++) {
        if (is_add && strcmp(argv[i], "--admin") == 0)
            role = VG_ROLE_ADMIN;
        else if (is_add && strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = vg_role_parse(argv[i + 1], strlen(argv[i + 1]));
            i++;
            if (role == VG_ROLE_NONE)
                return usage(sc);
        } else if (is_add && strcmp(argv[i], "--email") == 0 && i + 1 < argc)
            email = argv[++i];
        else if (strcmp(sc->name, "list") == 0 && strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(sc->name, "del") == 0 && strcmp(argv[i], "--yes") == 0)
            yes = 1;
        else if (argv[i][0] == '-' || nnames == 2)
            return usage(sc);
        else
            names[nnames++] = argv[i];
    }
    int want = strcmp(sc->name, "list") == 0 ? 0 : strcmp(sc->name, "role") == 0 ? 2 : 1;
    if (nnames != want)
        return usage(sc);
    vg_log_set_blocking(1);
    vg_offline o = { cfg->data_dir, cfg->store_map_size, cfg->store_map_max };
    if (is_add)
        return cmd_add(cfg, &o, role, email, names[0]);
    if (want == 0)
        return cmd_list(&o, json);
    if (strcmp(sc->name, "del") == 0)
        return cmd_del(&o, names[0], yes);
    return cmd_change(cfg, &o, sc->name, names[0], names[1]);
}
