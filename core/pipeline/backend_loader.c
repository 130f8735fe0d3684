/*
 * backend_loader: plugin discovery, dlopen and checks, backend=auto
 * (see backend_loader.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/backend_abi1.h"
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


#define KEYS_MAX 64                /* declared keys of a backend's section */

int
vg_backend_check(const vigia_backend *ops, char *err, size_t errlen)
{
    if (!ops) {
        snprintf(err, errlen, "the entry point returned no table");
        return VG_E_NOBACKEND;
    }
    if (VIGIA_ABI_MAJOR(ops->abi_version) != VIGIA_BACKEND_ABI_MAJOR) {
        snprintf(err, errlen, "ABI %u.%u, this host speaks %u.x (and 1.x): rebuild the plugin against this vigia",
                 VIGIA_ABI_MAJOR(ops->abi_version), VIGIA_ABI_MINOR(ops->abi_version), VIGIA_BACKEND_ABI_MAJOR);
        return VG_E_NOBACKEND;
    }
    if (ops->struct_size < offsetof(vigia_backend, reserved)) {
        snprintf(err, errlen, "table of %u bytes is shorter than ABI %u.0's %zu", ops->struct_size,
                 VIGIA_BACKEND_ABI_MAJOR, offsetof(vigia_backend, reserved));
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
    for (int i = 0; ops->keys && ops->keys[i]; i++)
        if (i == KEYS_MAX || !name_ok(ops->keys[i])) {
            snprintf(err, errlen, "backend '%s': its keys must be at most %d names of lowercase letters, digits, "
                     "'_', '-'", ops->name, KEYS_MAX);
            return VG_E_NOBACKEND;
        }
    return 0;
}


/*
 * The table behind the entry point, whichever ABI: an ABI 2 table copied
 * into be->table at this host's size (a table from an older minor is
 * zero-filled), or an ABI 1 one kept in be->abi1.
 */
static int
adopt_table(vg_backend *be, const void *table, char *err, size_t errlen)
{
    const vigia_backend *ops = table;
    memset(&be->table, 0, sizeof be->table);
    if (ops && VIGIA_ABI_MAJOR(ops->abi_version) == VG_ABI1_VERSION) {
        const vg_abi1_backend *t1 = table;
        if (!t1->name || !name_ok(t1->name)) {
            snprintf(err, errlen, "missing or invalid backend name (lowercase letters, digits, '_', '-')");
            return VG_E_NOBACKEND;
        }
        if (vg_abi1_check(t1, err, errlen) != 0)
            return VG_E_NOBACKEND;
        be->abi1 = t1;
        be->abi_major = VG_ABI1_VERSION;
        be->table.abi_version = t1->abi_version;
        be->table.struct_size = t1->struct_size;
        be->table.name = t1->name;
        be->table.version = t1->version;
        return 0;
    }
    int rc = vg_backend_check(ops, err, errlen);
    if (rc != 0)
        return rc;
    memcpy(&be->table, ops, ops->struct_size < sizeof be->table ? ops->struct_size : sizeof be->table);
    be->abi_major = VIGIA_BACKEND_ABI_MAJOR;
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
    be = calloc(1, sizeof *be);
    if (!be) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = adopt_table(be, ops, why, sizeof why)) != 0) {
        snprintf(err, errlen, "%.300s: %s", path, why);
        goto fail;
    }
    if (name[0] != '/' && strcmp(be->table.name, name) != 0) {
        snprintf(err, errlen, "%.300s calls itself '%s', not '%s'", path, be->table.name, name);
        rc = VG_E_NOBACKEND;
        goto fail;
    }
    if (!(be->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    be->dl = dl;
    *out = be;
    return 0;
fail:
    free(be);
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


/* The manifest's getters: the model is the host context; errors become the ABI's code. */
static const vg_model *
man_model(const vigia_manifest *m)
{
    return m->host_ctx;
}


static const char *
man_get(const vigia_manifest *m, const char *key)
{
    return key ? vg_model_get(man_model(m), key) : NULL;
}


static int
man_get_int(const vigia_manifest *m, const char *key, long long lo, long long hi, long long def,
            long long *out, char *err, size_t errlen)
{
    return vg_model_get_int(man_model(m), key, lo, hi, def, out, err, errlen) ? VIGIA_EINVAL : 0;
}


static int
man_get_float(const vigia_manifest *m, const char *key, double lo, double hi, double def, double *out,
              char *err, size_t errlen)
{
    return vg_model_get_float(man_model(m), key, lo, hi, def, out, err, errlen) ? VIGIA_EINVAL : 0;
}


static int
man_get_bool(const vigia_manifest *m, const char *key, int def, int *out, char *err, size_t errlen)
{
    return vg_model_get_bool(man_model(m), key, def, out, err, errlen) ? VIGIA_EINVAL : 0;
}


static int
man_get_string(const vigia_manifest *m, const char *key, const char *const *choices, const char *def,
               const char **out, char *err, size_t errlen)
{
    return vg_model_get_string(man_model(m), key, choices, def, out, err, errlen) ? VIGIA_EINVAL : 0;
}


void
vg_backend_manifest(const vg_model *m, int worker, vigia_manifest *man)
{
    *man = (vigia_manifest){
        .struct_size = sizeof *man,
        .name = m->name, .dir = m->dir, .cfg_path = m->cfg_path, .weights_path = m->weights_path,
        .names_path = m->names_path,
        .input_w = m->input_w, .input_h = m->input_h,
        .max_batch = (int)m->batch, .threads = (int)m->threads,
        .worker = worker < 0 ? 0 : worker, .device = vg_model_device(m, worker),
        .get = man_get, .get_int = man_get_int, .get_float = man_get_float, .get_bool = man_get_bool,
        .get_string = man_get_string, .host_ctx = m,
    };
}


int
vg_backend_probe(const vg_backend *be, const vigia_host *host, char *err, size_t errlen)
{
    if (be->abi1)
        return vg_abi1_probe(be->abi1, host, err, errlen);
    return be->table.probe ? be->table.probe(host, err, errlen) : 0;
}


int
vg_backend_open(const vg_backend *be, const vigia_host *host, const vigia_manifest *man, vigia_model **out,
                char *err, size_t errlen)
{
    if (be->abi1)
        return vg_abi1_open(be->abi1, host, man, out, err, errlen);
    return be->table.open(host, man, out, err, errlen);
}


int
vg_backend_describe(const vg_backend *be, vigia_model *model, vigia_model_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    if (be->abi1)
        return vg_abi1_describe(model, info, err, errlen);
    int rc = be->table.describe(model, info, err, errlen);
    info->struct_size = sizeof *info;    /* whatever the backend did with it */
    return rc;
}


int
vg_backend_infer(const vg_backend *be, vigia_model *model, const vigia_batch *batch, vigia_candidates *out,
                 char *err, size_t errlen)
{
    if (be->abi1)
        return vg_abi1_infer(model, batch, out, err, errlen);
    return be->table.infer(model, batch, out, err, errlen);
}


void
vg_backend_close(const vg_backend *be, vigia_model *model)
{
    if (!model)
        return;
    if (be->abi1)
        vg_abi1_close(model);
    else
        be->table.close(model);
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
int
vg_backend_check_info(const vg_backend *be, const vg_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    const char *name = be->table.name;
    const vigia_input_desc *in = &info->input;
    if (info->input.dtype != VIGIA_DTYPE_ENCODED &&
        (info->input_w <= 0 || info->input_h <= 0 || info->input_w > VG_MODEL_MAX_SIDE ||
         info->input_h > VG_MODEL_MAX_SIDE)) {
        snprintf(err, errlen, "%s: describe() gave an input of %dx%d", name, info->input_w, info->input_h);
        return VG_E_BACKEND;
    }
    if (info->input.dtype != VIGIA_DTYPE_ENCODED && info->input_c != 3) {
        snprintf(err, errlen, "%s: the model takes %d channels; vigia feeds RGB (3)", name, info->input_c);
        return VG_E_BACKEND;
    }
    if (info->task > VIGIA_TASK_CLASSIFY) {
        snprintf(err, errlen, "%s: describe() gave task %u; this vigia runs detect (0) and classify (1)", name,
                 info->task);
        return VG_E_BACKEND;
    }
    int classify = info->task == VIGIA_TASK_CLASSIFY;
    if (classify ? info->output != VIGIA_OUTPUT_SCORES
                 : info->output != VIGIA_OUTPUT_CANDIDATES && info->output != VIGIA_OUTPUT_BOXES) {
        snprintf(err, errlen, "%s: describe() gave output %u for a %s model (%s)", name, info->output,
                 classify ? "classify" : "detect", classify ? "scores (2)" : "candidates (0) or boxes (1)");
        return VG_E_BACKEND;
    }
    if (in->dtype > VIGIA_DTYPE_ENCODED || in->layout > VIGIA_LAYOUT_NHWC || in->channels > VIGIA_CHANNELS_BGR ||
        in->resize > VIGIA_RESIZE_NONE) {
        snprintf(err, errlen, "%s: describe() gave an input this vigia does not know (dtype %u, layout %u, "
                 "channels %u, resize %u)", name, in->dtype, in->layout, in->channels, in->resize);
        return VG_E_BACKEND;
    }
    for (int c = 0; c < 3; c++)
        if (!isfinite(in->mean[c]) || !isfinite(in->std[c]) || in->std[c] < 0) {
            snprintf(err, errlen, "%s: describe() gave mean %g or std %g for channel %d", name, in->mean[c],
                     in->std[c], c);
            return VG_E_BACKEND;
        }
    if (!m->names_path && !info->labels) {
        snprintf(err, errlen, "%s: the manifest %s has no 'names' and backend %s supplies no labels", name,
                 m->manifest, name);
        return VG_E_MANIFEST;
    }
    if (!m->names_path && (info->classes < 1 || info->classes > VG_MODEL_MAX_LABELS)) {
        snprintf(err, errlen, "%s: describe() gave %d classes (1 to %d)", name, info->classes, VG_MODEL_MAX_LABELS);
        return VG_E_BACKEND;
    }
    if (m->names_path && info->classes != m->classes) {
        snprintf(err, errlen, "%s: the network has %d classes but %s has %d labels", name,
                 info->classes, m->names_path, m->classes);
        return VG_E_MANIFEST;
    }
    for (int k = 0; info->labels && k < info->classes; k++) {
        const char *l = info->labels[k];
        if (!l || !l[0] || strnlen(l, VG_MODEL_LABEL_MAX + 1) > VG_MODEL_LABEL_MAX) {
            snprintf(err, errlen, "%s: describe() gave label %d %s", name, k,
                     !l ? "NULL" : !l[0] ? "empty" : "too long");
            return VG_E_BACKEND;
        }
        /* the operator's names file wins; say where the two disagree */
        if (m->names_path && strcmp(l, m->labels[k]) != 0)
            vg_warn("backend", "%s: class %d is '%.40s' for backend %s, '%.40s' in %s: using %s", m->name, k, l,
                    name, m->labels[k], m->names_path, m->names_path);
    }
    if (info->max_batch < 1)
        info->max_batch = 1;
    if (!info->device)
        info->device = "";
    return 0;
}


/* One candidate: load, probe, check its keys, open, describe. */
static int
try_backend(const char *dir, const char *name, const vg_model *m, int worker, vg_backend **bep,
            vigia_model **modelp, vigia_model_info *info, char *err, size_t errlen)
{
    vg_backend *be = NULL;
    vigia_model *model = NULL;
    vigia_manifest man;
    char e[VIGIA_ERRLEN];
    int rc;

    if ((rc = vg_backend_load(dir, name, &be, err, errlen)) != 0)
        return rc;
    e[0] = '\0';
    int pr = vg_backend_probe(be, vg_backend_host(), e, sizeof e);
    e[sizeof e - 1] = '\0';
    if (pr != 0) {
        snprintf(err, errlen, "%s", pr == VIGIA_ENODEV ? (e[0] ? e : "no device") : (e[0] ? e : "probe failed"));
        rc = pr == VIGIA_ENODEV ? -ENODEV : VG_E_BACKEND;
        goto fail;
    }
    if ((rc = vg_model_check_section(m, be->table.name, be->table.keys, be->table.name, err, errlen)) != 0)
        goto fail;
    vg_backend_manifest(m, worker, &man);
    e[0] = '\0';
    int orc = vg_backend_open(be, vg_backend_host(), &man, &model, e, sizeof e);
    e[sizeof e - 1] = '\0';
    if (orc != 0 || !model) {
        snprintf(err, errlen, "%s", e[0] ? e : "open failed");
        rc = orc == VIGIA_ENOENT || orc == VIGIA_EINVAL ? VG_E_MANIFEST : VG_E_BACKEND;
        if (orc == 0)   /* returned success without a model */
            rc = VG_E_BACKEND;
        goto fail;
    }
    e[0] = '\0';
    if (vg_backend_describe(be, model, info, e, sizeof e) != 0) {
        e[sizeof e - 1] = '\0';
        snprintf(err, errlen, "describe: %s", e[0] ? e : "failed");
        rc = VG_E_BACKEND;
        goto fail;
    }
    if ((rc = vg_backend_check_info(be, m, info, err, errlen)) != 0)
        goto fail;
    *bep = be;
    *modelp = model;
    return 0;
fail:
    if (model)
        vg_backend_close(be, model);
    vg_backend_unload(be);
    return rc;
}


int
vg_backend_open_model(const char *dir, const char *want, const vg_model *m, int worker,
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
        rc = try_backend(dir, want, m, worker, be, model, info, e, sizeof e);
        if (rc != 0) {
            snprintf(err, errlen, "backend %s: %s", want, e);
            return rc == -ENOENT || rc == -ENODEV ? VG_E_NOBACKEND : rc;
        }
        snprintf(why, whylen, "%s: set by the manifest", (*be)->table.name);
        return 0;
    }
    int last = VG_E_NOBACKEND;
    for (int i = 0; order[i]; i++) {
        rc = try_backend(dir, order[i], m, worker, be, model, info, e, sizeof e);
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
