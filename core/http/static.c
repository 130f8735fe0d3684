/* static: see static.h. */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "http/http.h"

#define MAX_PATH_DEPTH 32

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
    { "map", "application/json" }, { "txt", "text/plain; charset=utf-8" },
    { "md", "text/markdown; charset=utf-8" }, { "svg", "image/svg+xml" }, { "png", "image/png" },
    { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" }, { "gif", "image/gif" },
    { "webp", "image/webp" }, { "ico", "image/x-icon" }, { "wasm", "application/wasm" },
    { "woff2", "font/woff2" }, { "woff", "font/woff" }, { "mp4", "video/mp4" },
    { "webm", "video/webm" }, { "pdf", "application/pdf" }, { "xml", "application/xml" },
};


const char *
vg_mime_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}


/*
 * Decodes the request path and checks every segment: no "." or "..", no
 * hidden names, no NUL or backslash. Writes the path relative to the root
 * ("" for the root itself). Returns 0, or -1 for a path that must be refused.
 */
static int
safe_relative_path(vg_str raw, vg_buf *out)
{
    vg_buf dec;
    vg_buf_init(&dec);
    int rc = -1;
    if (vg_url_decode(raw.p, raw.n, &dec, 0) < 0)
        goto out;
    const char *p = vg_buf_cstr(&dec);
    if (memchr(p, '\0', dec.len) || strchr(p, '\\'))
        goto out;
    int depth = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (p[0] == '.' || ++depth > MAX_PATH_DEPTH)   /* ".", "..", ".git", ".env" */
            goto out;
        if (out->len)
            vg_buf_putc(out, '/');
        vg_buf_append(out, p, n);
        p += n;
    }
    vg_buf_cstr(out);
    rc = 0;
out:
    vg_buf_release(&dec);
    return rc;
}


/*
 * Opens rel beneath the root; symlinks may not lead outside it. O_NONBLOCK:
 * opening a FIFO (or a device) must not block the reactor; the caller serves
 * only directories and regular files, where the flag changes nothing.
 */
static int
open_beneath(vg_static *st, const char *rel)
{
    const char *name = rel[0] ? rel : ".";
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, st->root_fd, name, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS)
        return fd;
    /* kernels before 5.6: resolve and compare */
    char full[PATH_MAX], real[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", st->root, rel);
    if (!realpath(full, real))
        return -1;
    size_t rl = strlen(st->root);
    if (strncmp(real, st->root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
        errno = EXDEV;
        return -1;
    }
    return open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}


static int
etag_matches(vg_str header, const char *etag)
{
    const char *p = header.p, *end = header.p + header.n;
    size_t el = strlen(etag);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && e[-1] == ' ')
            e--;
        if (e - s == 1 && *s == '*')
            return 1;
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/')   /* weak comparison for If-None-Match */
            s += 2;
        if ((size_t)(e - s) == el && memcmp(s, etag, el) == 0)
            return 1;
    }
    return 0;
}


/* Parses "bytes=A-B", "bytes=A-", "bytes=-N". 1 = range set, 0 = ignore header, -1 = unsatisfiable. */
static int
parse_range(vg_str h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (h.n < 6 || strncmp(h.p, "bytes=", 6) != 0 || memchr(h.p, ',', h.n))
        return 0;
    char tmp[64];
    size_t n = h.n - 6;
    if (n == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, h.p + 6, n);
    tmp[n] = '\0';
    char *dash = strchr(tmp, '-');
    if (!dash)
        return 0;
    *dash = '\0';
    char *end;
    if (tmp[0] == '\0') {
        uint64_t suffix = strtoull(dash + 1, &end, 10);
        if (*end || dash[1] == '\0' || dash[1] == '-')
            return 0;
        if (suffix == 0 || size == 0)
            return -1;
        *from = suffix >= size ? 0 : size - suffix;
        *to = size - 1;
        return 1;
    }
    if (tmp[0] == '-' || tmp[0] == '+')
        return 0;
    *from = strtoull(tmp, &end, 10);
    if (*end)
        return 0;
    if (dash[1] == '\0') {
        *to = size ? size - 1 : 0;
    } else {
        if (dash[1] == '-' || dash[1] == '+')
            return 0;
        *to = strtoull(dash + 1, &end, 10);
        if (*end || *to < *from)
            return 0;
        if (*to >= size)
            *to = size ? size - 1 : 0;
    }
    return *from < size ? 1 : -1;
}


/*
 * Without a web root, "/" is a plain page that names the missing folder and
 * how to give one (a browser shows JSON as a puzzle); other paths stay JSON 404s.
 */
static void
missing_root(vg_req *r, const vg_static *st)
{
    vg_str path = vg_req_path(r);
    if (!(path.n == 1 && path.p[0] == '/') && !(path.n == 11 && memcmp(path.p, "/index.html", 11) == 0)) {
        vg_req_error(r, 404, "not_found", "no such resource");
        return;
    }
    vg_buf b, dir;
    vg_buf_init(&b);
    vg_buf_init(&dir);
    for (const char *p = st->missing ? st->missing : "(none)"; *p; p++) {
        switch (*p) {
        case '&': vg_buf_puts(&dir, "&amp;"); break;
        case '<': vg_buf_puts(&dir, "&lt;"); break;
        case '>': vg_buf_puts(&dir, "&gt;"); break;
        case '"': vg_buf_puts(&dir, "&quot;"); break;
        default: vg_buf_putc(&dir, *p); break;
        }
    }
    vg_buf_printf(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigia: no dashboard</title>"
                  "</head>\n<body>\n<h1>vigia is running, but its dashboard is missing</h1>\n"
                  "<p>The web folder <code>%s</code> does not exist, so there is no dashboard to serve.</p>\n"
                  "<p>Start vigia with <code>--web DIR</code> naming the folder that holds <code>index.html</code> "
                  "(<code>web/</code> of the source tree), or set <code>web</code> under <code>[paths]</code> in the "
                  "config file; <code>vigia --check-config</code> lists every folder in use.</p>\n"
                  "<p>The API works without it: <a href=\"/health\">/health</a>, <a href=\"/v1/models\">/v1/models</a>."
                  "</p>\n</body></html>\n", vg_buf_cstr(&dir));
    vg_req_respond(r, 404, "text/html; charset=utf-8", b.data, b.len);
    vg_buf_release(&b);
    vg_buf_release(&dir);
}


static void
serve(vg_req *r, void *ud)
{
    vg_static *st = ud;
    vg_buf rel, loc;
    vg_buf_init(&rel);
    vg_buf_init(&loc);
    int fd = -1;
    if (st->root_fd < 0) {
        missing_root(r, st);
        goto out;
    }
    if (safe_relative_path(vg_req_path(r), &rel) < 0) {
        vg_req_error(r, 404, "not_found", "no such resource");
        goto out;
    }
    fd = open_beneath(st, vg_buf_cstr(&rel));
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        /* the server is at its file-descriptor limit: the file is there, come back */
        vg_req_add_header(r, "Retry-After", "1");
        vg_req_error(r, 503, "busy", "the server is at its file limit, retry");
        goto out;
    }
    if (fd < 0) {
        vg_req_error(r, 404, "not_found", "no such resource");
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        vg_req_error(r, 500, "internal", "cannot stat file");
        goto out;
    }
    if (S_ISDIR(sb.st_mode)) {
        vg_str path = vg_req_path(r);
        if (path.n == 0 || path.p[path.n - 1] != '/') {
            /* one leading slash: "//js/" would be another host to a browser */
            while (path.n > 0 && path.p[0] == '/') {
                path.p++;
                path.n--;
            }
            vg_buf_putc(&loc, '/');
            vg_buf_append(&loc, path.p, path.n);
            vg_req_add_header(r, "Location", "%s/", vg_buf_cstr(&loc));
            vg_req_respond(r, 301, "text/plain; charset=utf-8", "moved\n", 6);
            goto out;
        }
        close(fd);
        if (rel.len)
            vg_buf_putc(&rel, '/');
        vg_buf_puts(&rel, "index.html");
        fd = open_beneath(st, vg_buf_cstr(&rel));
        if (fd < 0 || fstat(fd, &sb) < 0) {
            vg_req_error(r, 404, "not_found", "no such resource");
            goto out;
        }
    }
    if (!S_ISREG(sb.st_mode)) {
        /* closed before answering: a FIFO's writer must not find us still holding its read end */
        close(fd);
        fd = -1;
        vg_req_error(r, 404, "not_found", "no such resource");
        goto out;
    }

    char etag[64], lastmod[32];
    snprintf(etag, sizeof etag, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)sb.st_size,
             (uint64_t)sb.st_mtim.tv_sec * UINT64_C(1000000000) + (uint64_t)sb.st_mtim.tv_nsec);
    vg_http_format_date(sb.st_mtim.tv_sec, lastmod);
    vg_req_add_header(r, "ETag", "%s", etag);
    vg_req_add_header(r, "Last-Modified", "%s", lastmod);
    vg_req_add_header(r, "Cache-Control", "no-cache");
    vg_req_add_header(r, "Accept-Ranges", "bytes");
    vg_req_add_header(r, "X-Content-Type-Options", "nosniff");

    vg_str inm = vg_req_header(r, "if-none-match");
    vg_str ims = vg_req_header(r, "if-modified-since");
    int not_modified = inm.p ? etag_matches(inm, etag)
                             : (ims.p && vg_http_parse_date(ims.p, ims.n) >= (int64_t)sb.st_mtim.tv_sec);
    if (not_modified) {
        vg_req_respond(r, 304, NULL, NULL, 0);
        goto out;
    }

    const char *type = vg_mime_type(rel.data ? rel.data : "index.html");
    uint64_t size = (uint64_t)sb.st_size, from = 0, to = size ? size - 1 : 0;
    vg_str range = vg_req_header(r, "range");
    vg_str if_range = vg_req_header(r, "if-range");
    int ranged = 0;
    if (range.p && (!if_range.p || vg_str_eq(if_range, etag) || vg_str_eq(if_range, lastmod)))
        ranged = parse_range(range, size, &from, &to);
    if (ranged < 0) {
        vg_req_add_header(r, "Content-Range", "bytes */%" PRIu64, size);
        vg_req_error(r, 416, "range_not_satisfiable", "range outside the file's %" PRIu64 " bytes", size);
        goto out;
    }
    if (ranged) {
        vg_req_add_header(r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, size);
        vg_req_respond_file(r, 206, type, fd, (off_t)from, (size_t)(to - from + 1));
    } else {
        vg_req_respond_file(r, 200, type, fd, 0, (size_t)size);
    }
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    vg_buf_release(&rel);
    vg_buf_release(&loc);
}


int
vg_static_init(vg_static *st, vg_http *http, const char *root)
{
    char real[PATH_MAX];
    st->root_fd = -1;
    st->root = NULL;
    st->missing = NULL;
    vg_http_set_fallback(http, serve, st);
    if (!realpath(root, real)) {
        vg_error("static", "web root '%s': %s: the dashboard will not be served (\"/\" answers a page that says "
                 "so); name its folder with --web DIR or [paths] web", root, strerror(errno));
        st->missing = vg_xstrdup(root);
        return -1;
    }
    st->root = vg_xstrdup(real);
    st->root_fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        vg_warn("static", "web root '%s': %s; no static files will be served", real, strerror(errno));
        return -1;
    }
    return 0;
}


void
vg_static_release(vg_static *st)
{
    if (st->root_fd >= 0)
        close(st->root_fd);
    free(st->root);
    free(st->missing);
    st->missing = NULL;
    st->root_fd = -1;
    st->root = NULL;
}
