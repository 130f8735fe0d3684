/*
 * pt.h: helpers shared by the pipeline tests (header-only, static).
 *
 * Where test data lives: $VIGIA_SHARED, else $VIGIA_SRCDIR/../shared, else
 * the configure-time source dir's ../shared. PNG images are written by
 * hand (stored deflate blocks) so that tests that fork workers never run
 * libvips in the test process (DEPENDENCIES.md §3.6).
 */
#ifndef VG_PT_H
#define VG_PT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * ASan builds: leaks inside third-party libraries the tests load are not
 * ours to fix -- libdarknet's free_network() misses parts of a network,
 * fontconfig and pango (libvips text) keep caches. LeakSanitizer reads this.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
    return "leak:libdarknet.so\nleak:libfontconfig.so\nleak:libpango\n";
}


static inline const char *
pt_shared(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("VIGIA_SHARED");
    if (env && *env)
        return env;
    const char *src = getenv("VIGIA_SRCDIR");
    snprintf(dir, sizeof dir, "%s/../shared", src && *src ? src : VIGIA_SRCDIR);
    return dir;
}


/* Path of a file under ../shared; NULL when it is not there. */
static inline const char *
pt_shared_file(const char *rel)
{
    static char path[8][PATH_MAX + 256];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, PATH_MAX + 256, "%s/%.200s", pt_shared(), rel);
    return access(p, R_OK) == 0 ? p : NULL;
}


/* Path of `rel` in the source tree (build: 0) or the build tree (1), from the environment or configure. */
static inline const char *
pt_tree_file(int build, const char *rel)
{
    static char path[8][PATH_MAX];
    static int slot;
    char *p = path[slot++ % 8];
    const char *b = getenv(build ? "VIGIA_BUILDDIR" : "VIGIA_SRCDIR");
    snprintf(p, PATH_MAX, "%s/%s", b && *b ? b : build ? VIGIA_BUILDDIR : VIGIA_SRCDIR, rel);
    return p;
}


static inline uint8_t *
pt_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc(n > 0 ? (size_t)n + 1 : 1);   /* + a NUL: text files may be searched as strings */
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n > 0 ? n : 0] = 0;
    fclose(f);
    if (b)
        *len = (size_t)n;
    return b;
}


static inline int
pt_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}


/* A fresh directory under $TMPDIR; removed by pt_rmtree. */
static inline char *
pt_tmpdir(const char *tag)
{
    char *p = malloc(PATH_MAX);
    const char *t = getenv("TMPDIR");
    snprintf(p, PATH_MAX, "%s/vigia-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}


static inline void
pt_rmtree(char *dir)
{
    char cmd[PATH_MAX + 16];
    if (!dir)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    free(dir);
}


/* ---- a minimal PNG encoder (RGB8, stored deflate) ------------------------- */

static inline uint32_t
pt_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}


typedef struct pt_bytes {
    uint8_t *p;
    size_t n, cap;
} pt_bytes;


static inline void
pt_put(pt_bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 1024;
        while (c < b->n + n)
            c *= 2;
        b->p = realloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}


static inline void
pt_put32(pt_bytes *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    pt_put(b, x, 4);
}


static inline void
pt_chunk(pt_bytes *b, const char *type, const uint8_t *data, size_t n)
{
    pt_put32(b, (uint32_t)n);
    size_t at = b->n;
    pt_put(b, type, 4);
    if (n)
        pt_put(b, data, n);
    pt_put32(b, pt_crc32(0, b->p + at, n + 4));
}


/*
 * PNG of w x h pixels, every pixel from `rgb` (w*h*3 bytes) or, when rgb
 * is NULL, the colour (r, g, b). `declared_w/h` (0 = the real ones) lets a
 * test lie in the header: a "bomb" that claims a huge size.
 */
static inline uint8_t *
pt_png(int w, int h, const uint8_t *rgb, uint8_t r, uint8_t g, uint8_t bl,
       uint32_t declared_w, uint32_t declared_h, size_t *len)
{
    pt_bytes out = { 0 }, raw = { 0 }, z = { 0 };
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    pt_put(&out, sig, 8);
    uint8_t ihdr[13];
    uint32_t dw = declared_w ? declared_w : (uint32_t)w, dh = declared_h ? declared_h : (uint32_t)h;
    ihdr[0] = (uint8_t)(dw >> 24); ihdr[1] = (uint8_t)(dw >> 16); ihdr[2] = (uint8_t)(dw >> 8); ihdr[3] = (uint8_t)dw;
    ihdr[4] = (uint8_t)(dh >> 24); ihdr[5] = (uint8_t)(dh >> 16); ihdr[6] = (uint8_t)(dh >> 8); ihdr[7] = (uint8_t)dh;
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    pt_chunk(&out, "IHDR", ihdr, 13);
    for (int y = 0; y < h; y++) {
        uint8_t f = 0;
        pt_put(&raw, &f, 1);
        for (int x = 0; x < w; x++) {
            uint8_t px[3] = { r, g, bl };
            if (rgb)
                memcpy(px, rgb + ((size_t)y * w + x) * 3, 3);
            pt_put(&raw, px, 3);
        }
    }
    /* zlib: header, stored blocks of <= 65535 bytes, adler32 */
    uint8_t zh[2] = { 0x78, 0x01 };
    pt_put(&z, zh, 2);
    size_t off = 0;
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < raw.n; i++) {
        a = (a + raw.p[i]) % 65521;
        bsum = (bsum + a) % 65521;
    }
    do {
        size_t n = raw.n - off > 65535 ? 65535 : raw.n - off;
        uint8_t hdr[5] = { (uint8_t)(off + n == raw.n), (uint8_t)n, (uint8_t)(n >> 8),
                           (uint8_t)~n, (uint8_t)(~n >> 8) };
        pt_put(&z, hdr, 5);
        pt_put(&z, raw.p + off, n);
        off += n;
    } while (off < raw.n);
    pt_put32(&z, (bsum << 16) | a);
    pt_chunk(&out, "IDAT", z.p, z.n);
    pt_chunk(&out, "IEND", NULL, 0);
    free(raw.p);
    free(z.p);
    *len = out.n;
    return out.p;
}


/* Writes a model directory: model.conf with `extra` lines in [model], a names file. */
static inline int
pt_make_model(const char *models_dir, const char *name, const char *labels, const char *extra)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s", models_dir, name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s/labels.names", dir);
    if (pt_write(path, labels, strlen(labels)) != 0)
        return -1;
    char conf[4096];
    int n = snprintf(conf, sizeof conf, "[model]\nname = %s\nnames = labels.names\n%s\n", name, extra ? extra : "");
    snprintf(path, sizeof path, "%s/model.conf", dir);
    return pt_write(path, conf, (size_t)n);
}

#endif
