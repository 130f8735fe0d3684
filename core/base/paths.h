/*
 * paths: where vigia's own files are -- the config file, the state
 * directory, models, dashboard, backend plugins and the fetch-models script
 * -- decided once per process, never from the working directory.
 *
 * A build tree is known by its marker, the file `vigia-build-tree` that make
 * writes at the top of the build directory (VG_PATHS_MARKER): when it lies in
 * the directory of /proc/self/exe or one of that directory's two parents
 * (test programs sit below the top), the files come from that build tree and
 * from the source tree the marker names (a path relative to the marker's
 * folder, or absolute), wherever the trees were copied or moved. Without a
 * marker the executable is an installed one and the directories configure
 * was given apply: they reach this module alone through vg_paths.h, which
 * make writes from $(sysconfdir), $(localstatedir), $(pkgdatadir) and
 * $(pkglibdir) and rewrites only when one of them changes.
 *
 *                  build tree                          installed
 *   config         SRCDIR/etc/vigia.conf               $(sysconfdir)/vigia/vigia.conf
 *   data           BUILDDIR/var                        $(localstatedir)/lib/vigia
 *   models         BUILDDIR/models                     $(pkgdatadir)/models
 *   web            SRCDIR/web                          $(pkgdatadir)/web
 *   backends       BUILDDIR/backends/NAME/             $(pkglibdir)/backends
 *   fetch-models   SRCDIR/scripts/fetch-models         $(pkgdatadir)/fetch-models
 *
 * Every answer is an absolute path owned by this module, valid for the life
 * of the process. Safe to call from any process of the tree (the answers are
 * computed on first use; call once before forking to share them).
 */
#ifndef VG_PATHS_H
#define VG_PATHS_H

#include <stddef.h>

#define VG_PATHS_MARKER "vigia-build-tree"

typedef enum vg_path {
    VG_PATH_CONFIG,       /* the default config file (it may not exist) */
    VG_PATH_DATA,         /* the default state directory (made at first start) */
    VG_PATH_MODELS,       /* the default folder of model folders */
    VG_PATH_WEB,          /* the default dashboard folder */
    VG_PATH_BACKENDS,     /* the folder of first-party and installed backend plugins */
    VG_PATH_FETCH_MODELS, /* the script that puts model files in place */
    VG_PATH_COUNT
} vg_path;

/* The default location of `what`, absolute. */
const char *vg_paths_get(vg_path what);

/* A short name for `what`: "config", "data", "models", "web", "backends", "fetch-models". */
const char *vg_paths_name(vg_path what);

/* The build tree this executable runs from (absolute), or NULL when it is installed. */
const char *vg_paths_build_tree(void);

/*
 * The file of the backend plugin NAME where vigia looks when no backends
 * folder is configured: BUILDDIR/backends/NAME/vigia-backend-NAME.so in a
 * build tree, $(pkglibdir)/backends/vigia-backend-NAME.so installed.
 * Returns 0, or -ENAMETOOLONG when it does not fit in outlen.
 */
int vg_paths_backend(const char *name, char *out, size_t outlen);

#endif
