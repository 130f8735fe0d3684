/* multipart: see multipart.h. */
#include "http/multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Value of parameter `param` (e.g. "boundary") in a header value, quoted or not. */
static int
header_param(const char *v, size_t n, const char *param, char *out, size_t cap)
{
    size_t pl = strlen(param);
    size_t i = 0;
    while (i < n) {
        /* find the next ';' separated item */
        while (i < n && v[i] != ';')
            i++;
        if (i >= n)
            break;
        i++;
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (i + pl < n && strncasecmp(v + i, param, pl) == 0 && v[i + pl] == '=') {
            i += pl + 1;
            size_t o = 0;
            if (i < n && v[i] == '"') {
                i++;
                while (i < n && v[i] != '"') {
                    if (v[i] == '\\' && i + 1 < n)
                        i++;
                    if (o + 1 >= cap)
                        return -1;
                    out[o++] = v[i++];
                }
                if (i >= n)
                    return -1;
            } else {
                while (i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t') {
                    if (o + 1 >= cap)
                        return -1;
                    out[o++] = v[i++];
                }
            }
            out[o] = '\0';
            return 0;
        }
    }
    return -1;
}


int
vg_multipart_boundary(vg_str ct, char out[VG_MULTIPART_MAX_BOUNDARY + 1])
{
    if (!ct.p || ct.n < 19 || strncasecmp(ct.p, "multipart/form-data", 19) != 0)
        return -1;
    if (header_param(ct.p, ct.n, "boundary", out, VG_MULTIPART_MAX_BOUNDARY + 1) < 0 || !out[0])
        return -1;
    return 0;
}


static void
copy_trunc(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}


/* Parses one part's header block [p, p+n) into part. */
static int
parse_part_head(const char *p, size_t n, vg_part *part, char *err, size_t errlen)
{
    int has_disposition = 0;
    size_t i = 0;
    while (i < n) {
        const char *eol = memmem(p + i, n - i, "\r\n", 2);
        size_t ln = eol ? (size_t)(eol - (p + i)) : n - i;
        const char *line = p + i;
        const char *colon = memchr(line, ':', ln);
        if (!colon) {
            snprintf(err, errlen, "malformed part header");
            return -1;
        }
        size_t kn = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vn = ln - kn - 1;
        while (vn && (*v == ' ' || *v == '\t')) {
            v++;
            vn--;
        }
        if (kn == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            if (vn < 9 || strncasecmp(v, "form-data", 9) != 0) {
                snprintf(err, errlen, "part is not form-data");
                return -1;
            }
            has_disposition = 1;
            if (header_param(v, vn, "name", part->name, sizeof part->name) < 0) {
                snprintf(err, errlen, "part without a field name");
                return -1;
            }
            if (header_param(v, vn, "filename", part->filename, sizeof part->filename) < 0)
                part->filename[0] = '\0';
        } else if (kn == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            copy_trunc(part->content_type, sizeof part->content_type, v, vn);
        }
        i += ln + 2;
    }
    if (!has_disposition) {
        snprintf(err, errlen, "part without Content-Disposition");
        return -1;
    }
    return 0;
}


int
vg_multipart_parse(const char *body, size_t len, const char *boundary, vg_multipart *mp,
                   char *err, size_t errlen)
{
    char delim[VG_MULTIPART_MAX_BOUNDARY + 5];
    size_t bl = strlen(boundary);
    mp->count = 0;
    if (bl == 0 || bl > VG_MULTIPART_MAX_BOUNDARY) {
        snprintf(err, errlen, "bad boundary");
        return -1;
    }
    /* the first delimiter may come without a CRLF before it */
    int dn = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const char *p = body, *end = body + len;
    if ((size_t)(end - p) >= bl + 2 && memcmp(p, delim + 2, bl + 2) == 0) {
        p += bl + 2;
    } else {
        const char *first = memmem(p, (size_t)(end - p), delim, (size_t)dn);
        if (!first) {
            snprintf(err, errlen, "no multipart boundary in the body");
            return -1;
        }
        p = first + dn;
    }
    for (;;) {
        /* after a delimiter: "--" ends the body, else CRLF and a part follow */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            snprintf(err, errlen, "malformed multipart delimiter");
            return -1;
        }
        p += 2;
        if (mp->count == VG_MULTIPART_MAX_PARTS) {
            snprintf(err, errlen, "more than %d parts", VG_MULTIPART_MAX_PARTS);
            return -1;
        }
        vg_part *part = &mp->parts[mp->count];
        memset(part, 0, sizeof *part);
        size_t room = (size_t)(end - p) < VG_MULTIPART_MAX_HEAD + 4 ? (size_t)(end - p) : VG_MULTIPART_MAX_HEAD + 4;
        const char *hend = memmem(p, room, "\r\n\r\n", 4);
        if (!hend) {
            if (room >= 2 && p[0] == '\r' && p[1] == '\n') {
                hend = p - 2;   /* a part with no headers */
            } else {
                snprintf(err, errlen, "part headers missing or longer than %d bytes", VG_MULTIPART_MAX_HEAD);
                return -1;
            }
        }
        if (hend > p && parse_part_head(p, (size_t)(hend - p), part, err, errlen) < 0)
            return -1;
        if (hend <= p) {
            snprintf(err, errlen, "part without Content-Disposition");
            return -1;
        }
        const char *data = hend + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dn);
        if (!next) {
            snprintf(err, errlen, "multipart body ends inside a part");
            return -1;
        }
        part->data = data;
        part->len = (size_t)(next - data);
        mp->count++;
        p = next + dn;
    }
}


const vg_part *
vg_multipart_find(const vg_multipart *mp, const char *name)
{
    for (int i = 0; i < mp->count; i++)
        if (strcmp(mp->parts[i].name, name) == 0)
            return &mp->parts[i];
    return NULL;
}
