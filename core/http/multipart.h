/*
 * multipart: parses a complete multipart/form-data body (RFC 7578) held in
 * memory. Parts point into the body; nothing is copied. Bounded: at most
 * VG_MULTIPART_MAX_PARTS parts, VG_MULTIPART_MAX_HEAD bytes of headers each.
 */
#ifndef VG_MULTIPART_H
#define VG_MULTIPART_H

#include <stddef.h>

#include "base/buf.h"

#define VG_MULTIPART_MAX_PARTS 64
#define VG_MULTIPART_MAX_HEAD 4096
#define VG_MULTIPART_MAX_BOUNDARY 70   /* RFC 2046 */

typedef struct vg_part {
    char name[128];          /* form field name (Content-Disposition name=) */
    char filename[256];      /* "" when not a file */
    char content_type[128];  /* "" when absent */
    const char *data;        /* into the body */
    size_t len;
} vg_part;

typedef struct vg_multipart {
    vg_part parts[VG_MULTIPART_MAX_PARTS];
    int count;
} vg_multipart;

/* Extracts the boundary from a Content-Type value; 0 or -1 when absent or bad. */
int vg_multipart_boundary(vg_str content_type, char out[VG_MULTIPART_MAX_BOUNDARY + 1]);

/* Parses body; returns 0, or -1 with a reason in err. */
int vg_multipart_parse(const char *body, size_t len, const char *boundary, vg_multipart *mp,
                       char *err, size_t errlen);

/* The first part with that field name, or NULL. */
const vg_part *vg_multipart_find(const vg_multipart *mp, const char *name);

#endif
