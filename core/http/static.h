/*
 * static: serves the dashboard's files from the web root for GET and HEAD
 * requests no route claims: MIME types, ETag / Last-Modified with 304,
 * single byte ranges (206/416), sendfile, and no way out of the root
 * (".." and its encodings are refused, symlinks must stay beneath the root).
 */
#ifndef VG_STATIC_H
#define VG_STATIC_H

struct vg_http;

typedef struct vg_static {
    int root_fd;        /* O_PATH directory, -1 when the web root is missing */
    char *root;         /* its path, for logs and the realpath fallback */
    char *missing;      /* the root as configured, when it is missing: "/" names it */
} vg_static;

/* Opens the root and installs the HTTP fallback handler. Returns 0 or -1 (logged). */
int vg_static_init(vg_static *st, struct vg_http *http, const char *root);
void vg_static_release(vg_static *st);

/* MIME type for a file name, by extension. */
const char *vg_mime_type(const char *name);

#endif
