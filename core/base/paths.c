/* paths: see paths.h. */
#include "base/paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_paths.h"

#define MARKER_MAX 4096   /* bytes read of the marker file */
#define MARKER_UP 2       /* parents of the executable's folder searched for the marker */

static struct {
    int resolved;
    char *build;                  /* the build tree, NULL when installed */
    char *path[VG_PATH_COUNT];
} paths;

static const char *const names[VG_PATH_COUNT] = {
    "config", "data", "models", "web", "backends", "fetch-models",
};


static char *
join(const char *a, const char *b)
{
    size_t n = strlen(a) + 1 + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}


/* The source tree a marker names: "srcdir=PATH", PATH relative to the marker's folder or absolute. */
static char *
marker_srcdir(const char *build, const char *marker)
{
    char text[MARKER_MAX + 1];
    FILE *f = fopen(marker, "r");
    if (!f)
        return NULL;
    size_t n = fread(text, 1, MARKER_MAX, f);
    fclose(f);
    text[n] = '\0';
    char *line = strncmp(text, "srcdir=", 7) == 0 ? text : strstr(text, "\nsrcdir=");
    if (!line)
        return strdup(build);                /* no source tree named: the build tree is the source tree */
    line += line == text ? 7 : 8;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0])
        return strdup(build);
    char *joined = line[0] == '/' ? strdup(line) : join(build, line);
    char real[PATH_MAX];
    if (joined && realpath(joined, real)) {
        free(joined);
        return strdup(real);
    }
    return joined;
}


/* The folder holding the marker: the executable's folder or one of its MARKER_UP parents. */
static char *
find_build_tree(void)
{
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return NULL;
    dir[n] = '\0';
    for (int up = 0; up <= MARKER_UP; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return NULL;
        *slash = '\0';
        char marker[PATH_MAX + sizeof VG_PATHS_MARKER + 1];
        snprintf(marker, sizeof marker, "%s/%s", dir, VG_PATHS_MARKER);
        if (access(marker, F_OK) == 0)
            return strdup(dir);
    }
    return NULL;
}


static void
resolve(void)
{
    if (paths.resolved)
        return;
    paths.resolved = 1;
    paths.build = find_build_tree();
    if (paths.build) {
        char *marker = join(paths.build, VG_PATHS_MARKER);
        char *src = marker ? marker_srcdir(paths.build, marker) : NULL;
        free(marker);
        const char *s = src ? src : paths.build;
        paths.path[VG_PATH_CONFIG] = join(s, "etc/vigia.conf");
        paths.path[VG_PATH_DATA] = join(paths.build, "var");
        paths.path[VG_PATH_MODELS] = join(paths.build, "models");
        paths.path[VG_PATH_WEB] = join(s, "web");
        paths.path[VG_PATH_BACKENDS] = join(paths.build, "backends");
        paths.path[VG_PATH_FETCH_MODELS] = join(s, "scripts/fetch-models");
        free(src);
    } else {
        paths.path[VG_PATH_CONFIG] = join(VG_PATHS_SYSCONFDIR, "vigia/vigia.conf");
        paths.path[VG_PATH_DATA] = join(VG_PATHS_LOCALSTATEDIR, "lib/vigia");
        paths.path[VG_PATH_MODELS] = join(VG_PATHS_PKGDATADIR, "models");
        paths.path[VG_PATH_WEB] = join(VG_PATHS_PKGDATADIR, "web");
        paths.path[VG_PATH_BACKENDS] = join(VG_PATHS_PKGLIBDIR, "backends");
        paths.path[VG_PATH_FETCH_MODELS] = join(VG_PATHS_PKGDATADIR, "fetch-models");
    }
}


const char *
vg_paths_get(vg_path what)
{
    resolve();
    const char *p = (unsigned)what < VG_PATH_COUNT ? paths.path[what] : NULL;
    return p ? p : "";
}


const char *
vg_paths_name(vg_path what)
{
    return (unsigned)what < VG_PATH_COUNT ? names[what] : "?";
}


const char *
vg_paths_build_tree(void)
{
    resolve();
    return paths.build;
}


int
vg_paths_backend(const char *name, char *out, size_t outlen)
{
    const char *dir = vg_paths_get(VG_PATH_BACKENDS);
    int n = vg_paths_build_tree() ? snprintf(out, outlen, "%s/%s/vigia-backend-%s.so", dir, name, name)
                                  : snprintf(out, outlen, "%s/vigia-backend-%s.so", dir, name);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}
