/*
 * backend_loader: plugin discovery, dlopen and checks, backend=auto
 * (see backend_loader.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/backend_loader.h"
#include "base/error.h"
#include "base/log.h"
#include "base/paths.h"

#define BACKEND_NAME_MAX 32


static void
host_log(enum vigia_log_level level, const char *msg)
{
    enum vg_log_level l;
    switch (level) {
    case VIGIA_LOG_DEBUG: l = VG_LOG_DEBUG; break;
    case VIGIA_LOG_INFO: l = VG_LOG_INFO; break;
    case VIGIA_LOG_WARN: l = VG_LOG_WARN; break;
    default: l = VG_LOG_ERROR; break;
    }
    if (vg_log_enabled(l))
        vg_log(l, "backend", "%s", msg ? msg : "");
}


static const vigia_host host_table = {
    .abi_version = VIGIA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(vigia_host),
    .log = host_log,
};


const vigia_host *
vg_backend_host(void)
{
    return &host_table;
}


int
vg_backend_path(const char *dir, const char *name, char *out, size_t outlen)
{
    int n;
    if (name[0] == '/')
        n = snprintf(out, outlen, "%s", name);
    else if (dir && dir[0])
        n = snprintf(out, outlen, "%s/vigia-backend-%s.so", dir, name);
    else
        return vg_paths_backend(name, out, outlen);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}


static int
name_ok(const char *s)
{
    size_t n = strnlen(s, BACKEND_NAME_MAX + 1);
    if (n == 0 || n > BACKEND_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}


int
vg_backend_check(const vigia_backend *ops, char *err, size_t errlen)
{
    if (!ops) {
        snprintf(err, errlen, "the entry point returned no table");
        return VG_E_NOBACKEND;
    }
    if (ops->abi_version != VIGIA_BACKEND_ABI_VERSION) {
        snprintf(err, errlen, "ABI version %u, this host speaks %u: rebuild the plugin against this vigia",
                 ops->abi_version, VIGIA_BACKEND_ABI_VERSION);
        return VG_E_NOBACKEND;
    }
    if (ops->struct_size < offsetof(vigia_backend, reserved)) {
        snprintf(err, errlen, "table of %u bytes is shorter than ABI %u's %zu", ops->struct_size,
                 VIGIA_BACKEND_ABI_VERSION, offsetof(vigia_backend, reserved));
        return VG_E_NOBACKEND;
    }
    if (!ops->name || !name_ok(ops->name)) {
        snprintf(err, errlen, "missing or invalid backend name (lowercase letters, digits, '_', '-')");
        return VG_E_NOBACKEND;
    }
    if (!ops->open || !ops->describe || !ops->infer || !ops->close) {
        snprintf(err, errlen, "backend '%s' lacks open, describe, infer or close", ops->name);
        return VG_E_NOBACKEND;
    }
    return 0;
}


int
vg_backend_load(const char *dir, const char *name, vg_backend **out, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    vg_backend *be = NULL;
    void *dl = NULL;
    int rc;

    *out = NULL;
    if (name[0] != '/' && !name_ok(name)) {
        snprintf(err, errlen, "invalid backend name '%.40s'", name);
        return VG_E_NOBACKEND;
    }
    if (vg_backend_path(dir, name, path, sizeof path) != 0) {
        snprintf(err, errlen, "plugin path too long");
        return VG_E_NOBACKEND;
    }
    if (stat(path, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return rc == -ENOENT ? -ENOENT : VG_E_NOBACKEND;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%.300s: not a regular file", path);
        return VG_E_NOBACKEND;
    }
    dlerror();
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) {
        const char *e = dlerror();
        snprintf(err, errlen, "dlopen: %.400s", e ? e : "failed");
        return VG_E_NOBACKEND;
    }
    dlerror();
    void *sym = dlsym(dl, VIGIA_BACKEND_ENTRY);
    if (!sym) {
        snprintf(err, errlen, "%.300s does not export %s", path, VIGIA_BACKEND_ENTRY);
        rc = VG_E_NOBACKEND;
        goto fail;
    }
    vigia_backend_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);   /* object -> function pointer without a cast warning */
    const vigia_backend *ops = entry();
    char why[256];
    if ((rc = vg_backend_check(ops, why, sizeof why)) != 0) {
        snprintf(err, errlen, "%.300s: %s", path, why);
        goto fail;
    }
    if (name[0] != '/' && strcmp(ops->name, name) != 0) {
        snprintf(err, errlen, "%.300s calls itself '%s', not '%s'", path, ops->name, name);
        rc = VG_E_NOBACKEND;
        goto fail;
    }
    be = calloc(1, sizeof *be);
    if (!be || !(be->path = strdup(path))) {
        free(be);
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    be->dl = dl;
    be->ops = ops;
    *out = be;
    return 0;
fail:
    dlclose(dl);
    return rc;
}


void
vg_backend_unload(vg_backend *be)
{
    if (!be)
        return;
    if (be->dl)
        dlclose(be->dl);
    free(be->path);
    free(be);
}


static const char *
manifest_get(const void *ctx, const char *key)
{
    return vg_model_get(ctx, key);
}


void
vg_backend_manifest(const vg_model *m, vigia_manifest *man)
{
    *man = (vigia_manifest){
        .name = m->name, .dir = m->dir, .cfg_path = m->cfg_path, .weights_path = m->weights_path,
        .input_w = m->input_w, .input_h = m->input_h,
        .max_batch = (int)m->batch, .threads = (int)m->threads,
        .get = manifest_get, .get_ctx = m,
    };
}


static void
why_append(char *why, size_t whylen, const char *name, const char *what)
{
    size_t used = strlen(why);
    if (used + 1 >= whylen)
        return;
    snprintf(why + used, whylen - used, "%s%s: %s", used ? "; " : "", name, what);
}


/* Sanity of what describe() says, against what the manifest says. */
static int
check_info(const vg_backend *be, const vg_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    if (info->input_w <= 0 || info->input_h <= 0 || info->input_w > VG_MODEL_MAX_SIDE ||
        info->input_h > VG_MODEL_MAX_SIDE) {
        snprintf(err, errlen, "%s: describe() gave an input of %dx%d", be->ops->name, info->input_w, info->input_h);
        return VG_E_BACKEND;
    }
    if (info->input_c != 3) {
        snprintf(err, errlen, "%s: the model takes %d channels; vigia feeds RGB (3)", be->ops->name, info->input_c);
        return VG_E_BACKEND;
    }
    if (info->classes != m->classes) {
        snprintf(err, errlen, "%s: the network has %d classes but %s has %d labels", be->ops->name,
                 info->classes, m->names_path, m->classes);
        return VG_E_MANIFEST;
    }
    if (info->max_batch < 1)
        info->max_batch = 1;
    if (!info->device)
        info->device = "";
    return 0;
}


/* One candidate: load, probe, open, describe. */
static int
try_backend(const char *dir, const char *name, const vg_model *m, vg_backend **bep,
            vigia_model **modelp, vigia_model_info *info, char *err, size_t errlen)
{
    vg_backend *be = NULL;
    vigia_model *model = NULL;
    vigia_manifest man;
    char e[VIGIA_ERRLEN];
    int rc;

    if ((rc = vg_backend_load(dir, name, &be, err, errlen)) != 0)
        return rc;
    if (be->ops->probe) {
        e[0] = '\0';
        int pr = be->ops->probe(vg_backend_host(), e, sizeof e);
        e[sizeof e - 1] = '\0';
        if (pr != 0) {
            snprintf(err, errlen, "%s", pr == VIGIA_ENODEV ? (e[0] ? e : "no device") : (e[0] ? e : "probe failed"));
            rc = pr == VIGIA_ENODEV ? -ENODEV : VG_E_BACKEND;
            goto fail;
        }
    }
    vg_backend_manifest(m, &man);
    e[0] = '\0';
    int orc = be->ops->open(vg_backend_host(), &man, &model, e, sizeof e);
    e[sizeof e - 1] = '\0';
    if (orc != 0 || !model) {
        snprintf(err, errlen, "%s", e[0] ? e : "open failed");
        rc = orc == VIGIA_ENOENT || orc == VIGIA_EINVAL ? VG_E_MANIFEST : VG_E_BACKEND;
        if (orc == 0)   /* returned success without a model */
            rc = VG_E_BACKEND;
        goto fail;
    }
    memset(info, 0, sizeof *info);
    e[0] = '\0';
    if (be->ops->describe(model, info, e, sizeof e) != 0) {
        e[sizeof e - 1] = '\0';
        snprintf(err, errlen, "describe: %s", e[0] ? e : "failed");
        rc = VG_E_BACKEND;
        goto fail;
    }
    if ((rc = check_info(be, m, info, err, errlen)) != 0)
        goto fail;
    *bep = be;
    *modelp = model;
    return 0;
fail:
    if (model)
        be->ops->close(model);
    vg_backend_unload(be);
    return rc;
}


int
vg_backend_open_model(const char *dir, const char *want, const vg_model *m,
                      vg_backend **be, vigia_model **model, vigia_model_info *info,
                      char *why, size_t whylen, char *err, size_t errlen)
{
    static const char *const order[] = VG_BACKEND_AUTO_ORDER;
    char e[512];
    int rc;

    *be = NULL;
    *model = NULL;
    if (whylen)
        why[0] = '\0';
    if (!want || !*want)
        want = m->backend;
    if (strcmp(want, "auto") != 0) {
        rc = try_backend(dir, want, m, be, model, info, e, sizeof e);
        if (rc != 0) {
            snprintf(err, errlen, "backend %s: %s", want, e);
            return rc == -ENOENT || rc == -ENODEV ? VG_E_NOBACKEND : rc;
        }
        snprintf(why, whylen, "%s: set by the manifest", (*be)->ops->name);
        return 0;
    }
    int last = VG_E_NOBACKEND;
    for (int i = 0; order[i]; i++) {
        rc = try_backend(dir, order[i], m, be, model, info, e, sizeof e);
        if (rc == 0) {
            why_append(why, whylen, order[i], "chosen");
            return 0;
        }
        if (rc == -ENOENT)
            why_append(why, whylen, order[i], "not installed");
        else if (rc == -ENODEV)
            why_append(why, whylen, order[i], e);
        else {
            why_append(why, whylen, order[i], e);
            last = rc;
        }
    }
    snprintf(err, errlen, "no backend can run model %s (%s)", m->name, why);
    return last == VG_E_MANIFEST ? VG_E_MANIFEST : VG_E_NOBACKEND;
}
