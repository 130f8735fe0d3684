/* check_cli: see check_cli.h. */
#include "cli/check_cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/paths.h"
#include "pipeline/backend_loader.h"
#include "pipeline/model.h"

enum want { WANT_DIR, WANT_FILE };


/* One line: "#   WHAT  PATH  STATE". A relative path is shown with what it means from here. */
static int
report(FILE *out, const char *what, const char *path, enum want want, const char *if_missing)
{
    char abs[PATH_MAX] = "";
    if (path[0] != '/' && getcwd(abs, sizeof abs)) {
        size_t n = strlen(abs);
        snprintf(abs + n, sizeof abs - n, "/%s", path);
    }
    struct stat st;
    const char *state;
    int missing = 0;
    if (stat(path, &st) != 0) {
        state = errno == ENOENT ? "missing" : strerror(errno);
        missing = 1;
    } else if (want == WANT_DIR && !S_ISDIR(st.st_mode)) {
        state = "not a directory";
        missing = 1;
    } else if (want == WANT_FILE && !S_ISREG(st.st_mode)) {
        state = "not a regular file";
        missing = 1;
    } else if (access(path, R_OK) != 0) {
        state = "not readable";
        missing = 1;
    } else {
        state = "exists";
    }
    fprintf(out, "#   %-16s %s%s%s  (%s%s%s)\n", what, path, abs[0] ? " = " : "", abs, state,
            missing && if_missing ? ": " : "", missing && if_missing ? if_missing : "");
    return missing;
}


/* A setting naming a file: reported when set. */
static void
report_setting(FILE *out, const char *what, const char *path, const char *if_missing)
{
    if (path && path[0])
        report(out, what, path, WANT_FILE, if_missing);
}


/* The default model: its folder, its manifest and the files it names. */
static int
report_model(FILE *out, const vg_config *cfg)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", cfg->models_dir, cfg->default_model);
    int missing = report(out, "default model", dir, WANT_DIR, "no such model in the models folder");
    if (missing)
        return missing;
    vg_model *m = NULL;
    char err[1024];
    if (vg_model_load(dir, &m, err, sizeof err) != 0) {
        fprintf(out, "#   %-16s %s\n", "", err);
        return 1;
    }
    if (m->cfg_path)
        report(out, "  cfg", m->cfg_path, WANT_FILE, NULL);
    if (m->weights_path)
        report(out, "  weights", m->weights_path, WANT_FILE, NULL);
    if (m->names_path)
        report(out, "  names", m->names_path, WANT_FILE, NULL);
    vg_model_destroy(m);
    return 0;
}


int
vg_check_cli_default_model(const vg_config *cfg, char *why, size_t whylen)
{
    struct stat st;
    if (stat(cfg->models_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "the models folder %s: %s (name another with --models DIR)", cfg->models_dir,
                 errno == ENOENT ? "no such directory" : "not a readable directory");
        return -1;
    }
    if (!cfg->default_model[0])
        return 0;
    char dir[PATH_MAX], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", cfg->models_dir, cfg->default_model);
    if (stat(dir, &st) != 0) {
        snprintf(why, whylen, "the default model '%s' is not in the models folder %s (fetch it with "
                 "scripts/fetch-models %s, or choose another model with --detect-default-model NAME)",
                 cfg->default_model, cfg->models_dir, cfg->default_model);
        return -1;
    }
    vg_model *m = NULL;
    if (vg_model_load(dir, &m, err, sizeof err) != 0) {
        snprintf(why, whylen, "the default model '%s' is invalid: %s", cfg->default_model, err);
        return -1;
    }
    vg_model_destroy(m);
    return 0;
}


int
vg_check_cli_paths(const vg_config *cfg, FILE *out)
{
    const char *build = vg_paths_build_tree();
    int missing = 0;
    fprintf(out, "\n# Paths. This vigia runs %s%s%s.\n", build ? "from the build tree " : "installed",
            build ? build : " (no " VG_PATHS_MARKER " beside it)", build ? " (its " VG_PATHS_MARKER " marker)" : "");
    if (cfg->config_path)
        report(out, "config file", cfg->config_path, WANT_FILE, NULL);
    else
        report(out, "config file", vg_paths_get(VG_PATH_CONFIG), WANT_FILE, "built-in defaults apply");
    report(out, "data", cfg->data_dir, WANT_DIR, "made at first start");
    missing += report(out, "models", cfg->models_dir, WANT_DIR, NULL);
    missing += report(out, "web", cfg->web_dir, WANT_DIR, "the dashboard will not be served");
    int none = report(out, "backends", cfg->backends_dir[0] ? cfg->backends_dir : vg_paths_get(VG_PATH_BACKENDS),
                      WANT_DIR, NULL);
    static const char *const order[] = VG_BACKEND_AUTO_ORDER;
    int found = 0;
    for (int i = 0; order[i]; i++) {
        char path[PATH_MAX], what[32];
        if (vg_backend_path(cfg->backends_dir, order[i], path, sizeof path) != 0)
            continue;
        snprintf(what, sizeof what, "  %s", order[i]);
        found += !report(out, what, path, WANT_FILE, "not built");
    }
    missing += none || !found;
    missing += report_model(out, cfg);
    report(out, "fetch-models", vg_paths_get(VG_PATH_FETCH_MODELS), WANT_FILE, NULL);
    report_setting(out, "log file", cfg->log_file, "made at start");
    report_setting(out, "tls cert", cfg->tls_cert, NULL);
    report_setting(out, "tls key", cfg->tls_key, NULL);
    if (cfg->jwt_secret_file[0]) {
        report_setting(out, "jwt secret", cfg->jwt_secret_file, NULL);
    } else {
        char secret[PATH_MAX];
        snprintf(secret, sizeof secret, "%s/jwt.secret", cfg->data_dir);
        report_setting(out, "jwt secret", secret, "made at first start");
    }
    report_setting(out, "jwt private key", cfg->jwt_private_key, NULL);
    report_setting(out, "jwt public key", cfg->jwt_public_key, NULL);
    report_setting(out, "zmq curve key", cfg->zmq_curve_secret_key_file, NULL);
    return missing;
}
