/* user_cli: see user_cli.h. */
#include "cli/user_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/password_policy.h"
#include "base/log.h"
#include "store/offline.h"
#include "store/store.h"
#include "api/users_api.h"


static int
usage(void)
{
    fprintf(stderr, "usage: vigia user add [--admin | --role viewer|operator|admin] [--email ADDR] NAME  (password on stdin)\n");
    return 2;
}


int
vg_user_cli_run(const vg_config *cfg, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "add") != 0)
        return usage();
    int role = VG_ROLE_VIEWER;
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
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "vigia: no password on standard input\n");
        return 2;
    }
    size_t n = strcspn(pw, "\r\n");
    pw[n] = '\0';
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
