/*
 * backend_loader: finds, dlopen()s and checks backend plugins, and picks
 * one for a model (backend = auto: cuda, then cpu, then darknet).
 *
 * Workers only (and one-shot tools): a plugin may start threads and map
 * large libraries, so the master never loads one. Plugins are opened with
 * RTLD_NOW | RTLD_LOCAL (their symbols never bind to ours or each other's)
 * and RTLD_NODELETE (unloading libraries such as OpenCV mid-process is not
 * safe; a worker exits instead).
 *
 * Where a plugin NAME is looked for:
 *   dir/vigia-backend-NAME.so                      when a directory is configured
 *   BUILDDIR/backends/NAME/vigia-backend-NAME.so   when running from the build tree
 *   PKGLIBDIR/backends/vigia-backend-NAME.so       otherwise
 * A name starting with '/' is the plugin's path itself.
 */
#ifndef VG_BACKEND_LOADER_H
#define VG_BACKEND_LOADER_H

#include <stddef.h>

#include <vigia/backend.h>

#include "pipeline/model.h"

/* The automatic order; the first that probes and opens the model wins. */
#define VG_BACKEND_AUTO_ORDER { "cuda", "cpu", "darknet", NULL }

typedef struct vg_backend {
    void *dl;                      /* dlopen handle */
    const vigia_backend *ops;      /* the plugin's table, checked */
    char *path;                    /* where it was loaded from */
} vg_backend;

/* Writes the plugin path for `name` into out. Returns 0 or -ENAMETOOLONG. */
int vg_backend_path(const char *dir, const char *name, char *out, size_t outlen);

/*
 * Checks a table the way the loader does: ABI version, struct size, name,
 * mandatory operations. Returns 0 or VG_E_NOBACKEND with err set.
 */
int vg_backend_check(const vigia_backend *ops, char *err, size_t errlen);

/*
 * dlopen()s the plugin, resolves vigia_backend_entry, checks its table.
 * Errors (err set): -ENOENT (no such plugin file), VG_E_NOBACKEND.
 */
int vg_backend_load(const char *dir, const char *name, vg_backend **out, char *err, size_t errlen);
/* dlclose()s (a no-op for the code, see above) and frees. NULL is fine. */
void vg_backend_unload(vg_backend *be);

/* The table of host services handed to plugins (logging into vg_log). */
const vigia_host *vg_backend_host(void);

/* Fills a vigia_manifest that points into `model` (valid while it lives). */
void vg_backend_manifest(const vg_model *model, vigia_manifest *man);

/*
 * Loads a backend and opens the model with it. `want` is "auto", a name or
 * a path. With "auto" every candidate is tried in order and `why` records
 * each step ("cuda: not built; cpu: chosen"); otherwise only `want`.
 * On success *be, *model and *info are set; close the model with
 * (*be)->ops->close() before vg_backend_unload(). Errors: VG_E_NOBACKEND
 * (nothing usable; err says why per candidate), or the failing backend's
 * code mapped to VG_E_BACKEND / VG_E_MANIFEST.
 */
int vg_backend_open_model(const char *dir, const char *want, const vg_model *m,
                          vg_backend **be, vigia_model **model, vigia_model_info *info,
                          char *why, size_t whylen, char *err, size_t errlen);

#endif
