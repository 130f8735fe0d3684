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
 *
 * ABI: a plugin of this host's major loads whatever its minor; its table
 * is copied into one of this host's size, zero-filled past what the plugin
 * built (zero is every field's default). ABI 1 plugins load through
 * backend_abi1. Callers go through vg_backend_probe() ... vg_backend_close(),
 * which dispatch on the plugin's ABI.
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
    vigia_backend table;           /* the plugin's table, checked, at this host's size; for an
                                      ABI 1 plugin only name, version and abi_version are set */
    unsigned abi_major;            /* 1 or VIGIA_BACKEND_ABI_MAJOR */
    const struct vg_abi1_backend *abi1; /* the ABI 1 plugin's table, or NULL */
    char *path;                    /* where it was loaded from */
} vg_backend;

/* Writes the plugin path for `name` into out. Returns 0 or -ENAMETOOLONG. */
int vg_backend_path(const char *dir, const char *name, char *out, size_t outlen);

/*
 * Checks an ABI 2 table the way the loader does: ABI major, struct size,
 * name, mandatory operations, declared keys. Returns 0 or VG_E_NOBACKEND
 * with err set.
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

/*
 * Fills a vigia_manifest that points into `model` (valid while it lives),
 * for worker number `worker` (its device: vg_model_device()).
 */
void vg_backend_manifest(const vg_model *model, int worker, vigia_manifest *man);

/*
 * The plugin's operations, whatever its ABI (see above). Same contracts as
 * in vigia/backend.h; a model opened by one backend goes only to it.
 */
int vg_backend_probe(const vg_backend *be, const vigia_host *host, char *err, size_t errlen);
int vg_backend_open(const vg_backend *be, const vigia_host *host, const vigia_manifest *man,
                    vigia_model **out, char *err, size_t errlen);
int vg_backend_describe(const vg_backend *be, vigia_model *model, vigia_model_info *info,
                        char *err, size_t errlen);
int vg_backend_infer(const vg_backend *be, vigia_model *model, const vigia_batch *batch,
                     vigia_candidates *out, char *err, size_t errlen);
void vg_backend_close(const vg_backend *be, vigia_model *model);

/*
 * Whether describe()'s answer is one this host can serve (input size and
 * channels, task, output, input descriptor), against the manifest's class
 * count. 0, or VG_E_BACKEND / VG_E_MANIFEST with err set.
 */
int vg_backend_check_info(const vg_backend *be, const vg_model *m, vigia_model_info *info,
                          char *err, size_t errlen);

/*
 * Loads a backend and opens the model with it. `want` is "auto", a name or
 * a path. With "auto" every candidate is tried in order and `why` records
 * each step ("cuda: not built; cpu: chosen"); otherwise only `want`.
 * The plugin's declared keys are checked against its manifest section
 * before open(). `worker` is this worker's number (the manifest's worker
 * and device). On success *be, *model and *info are set; close the model
 * with vg_backend_close() before vg_backend_unload(). Errors: VG_E_NOBACKEND
 * (nothing usable; err says why per candidate), or the failing backend's
 * code mapped to VG_E_BACKEND / VG_E_MANIFEST.
 */
int vg_backend_open_model(const char *dir, const char *want, const vg_model *m, int worker,
                          vg_backend **be, vigia_model **model, vigia_model_info *info,
                          char *why, size_t whylen, char *err, size_t errlen);

#endif
