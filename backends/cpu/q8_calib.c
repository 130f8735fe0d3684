/*
 * backends/cpu/q8_calib.c: int8 calibration (q8_calib.h): the folder of
 * input tensors, the cache's key, reading and writing the cache, and the
 * calibration pass itself (the network run over every tensor with the q8
 * layers adding their inputs' ranges to net->q8->calib).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "q8.h"
#include "q8_calib.h"

#define NAME_MAX_BYTES 255
#define IO_CHUNK ((size_t)1 << 20)

typedef struct calib_file {
    char name[NAME_MAX_BYTES + 1];
    struct stat st;
} calib_file;


static int by_name(const void *a, const void *b)
{
    return strcmp(((const calib_file *)a)->name, ((const calib_file *)b)->name);
}


/* The *.f32 regular files of dir, sorted, each of `bytes` bytes. */
static int list_tensors(const char *dir, size_t bytes, calib_file **out, int *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    calib_file *f = NULL;
    struct dirent *e;
    int n = 0, rc = 0;

    *out = NULL;
    *count = 0;
    if (!d)
        return vgc_fail(err, errlen, errno == ENOENT ? VIGIA_ENOENT : VIGIA_EINVAL,
                        "int8 calibration folder %s: %s", dir, strerror(errno));
    if (!(f = calloc(VGC_Q8_CALIB_MAX_FILES, sizeof *f))) {
        closedir(d);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    while (rc == 0 && (e = readdir(d))) {
        const size_t len = strlen(e->d_name);
        char path[4096];

        if (len < 5 || strcmp(e->d_name + len - 4, ".f32") != 0 || e->d_name[0] == '.')
            continue;
        if (n == VGC_Q8_CALIB_MAX_FILES || len > NAME_MAX_BYTES) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL, "int8 calibration folder %s: %s", dir,
                          n == VGC_Q8_CALIB_MAX_FILES ? "more than 256 tensors" : "a name too long");
            break;
        }
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path || stat(path, &f[n].st) < 0 ||
            !S_ISREG(f[n].st.st_mode))
            continue;
        if ((size_t)f[n].st.st_size != bytes) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                          "int8 calibration tensor %s is %lld bytes; the network's input needs %zu", path,
                          (long long)f[n].st.st_size, bytes);
            break;
        }
        memcpy(f[n].name, e->d_name, len + 1);
        n++;
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "int8 calibration folder %s has no .f32 tensor", dir);
    if (rc < 0) {
        free(f);
        return rc;
    }
    qsort(f, (size_t)n, sizeof *f, by_name);
    *out = f;
    *count = n;
    return 0;
}


/* Read exactly n bytes of fd into p (or, p NULL, hash them into *h through buf). */
static int read_all(int fd, void *p, size_t n, uint64_t *h, void *buf)
{
    size_t got = 0;

    while (got < n || (!p && n == SIZE_MAX)) {
        const size_t want = p ? n - got : IO_CHUNK;
        ssize_t r = read(fd, p ? (char *)p + got : buf, want);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return p ? -1 : 0;
        if (!p)
            *h = vgc_q8_hash(*h, buf, (size_t)r);
        got += (size_t)r;
    }
    return 0;
}


/* Hash a whole file into *h. */
static int hash_file(const char *path, uint64_t *h, void *buf, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return vgc_fail(err, errlen, VIGIA_ENOENT, "int8 calibration: %s: %s", path, strerror(errno));
    rc = read_all(fd, NULL, SIZE_MAX, h, buf);
    close(fd);
    return rc < 0 ? vgc_fail(err, errlen, VIGIA_EINVAL, "int8 calibration: reading %s failed", path) : 0;
}


static uint64_t cache_key(const vgc_net *net, int w, int ht, const calib_file *f, int n, uint64_t files)
{
    uint64_t h = files;
    const int32_t shape[4] = { w, ht, net->q8_min_channels, n };

    h = vgc_q8_hash(h, shape, sizeof shape);
    for (int i = 0; i < n; i++) {
        const int64_t meta[3] = { (int64_t)f[i].st.st_size, (int64_t)f[i].st.st_mtim.tv_sec,
                                  (int64_t)f[i].st.st_mtim.tv_nsec };

        h = vgc_q8_hash(h, f[i].name, strlen(f[i].name) + 1);
        h = vgc_q8_hash(h, meta, sizeof meta);
    }
    return h;
}


int vgc_q8_slots(const vgc_net *net)
{
    return net->n + (net->q8 ? net->q8->nown : 0);
}


/* The q8 layer of range slot s (q8.h), or NULL. */
static vgc_q8_layer *slot_layer(const vgc_net *net, int s)
{
    return s < net->n ? net->layers[s].q8 : net->q8->own[s - net->n];
}


int vgc_q8_chans(const vgc_net *net)
{
    size_t n = 0;

    for (int i = 0; i < vgc_q8_slots(net); i++) {
        const vgc_q8_layer *q = slot_layer(net, i);

        n += q ? (size_t)q->ncr : 0;
    }
    return n > VGC_Q8_CALIB_MAX_CHANS ? -1 : (int)n;
}


void vgc_q8_chan_ranges(const vgc_net *net, float *ranges)
{
    for (int i = 0; i < vgc_q8_slots(net); i++) {
        const vgc_q8_layer *q = slot_layer(net, i);

        if (!q || !q->ncr)
            continue;
        for (int c = 0; c < 2 * q->ncr; c++)
            *ranges++ = q->crs ? q->cr[c] : 0;
    }
}


void vgc_q8_ranges(const vgc_net *net, float *ranges)
{
    for (int i = 0; i < vgc_q8_slots(net); i++) {
        const vgc_q8_layer *q = slot_layer(net, i);

        ranges[2 * i] = q && q->xmin < q->xmax ? q->xmin : 0;
        ranges[2 * i + 1] = q && q->xmin < q->xmax ? q->xmax : 0;
    }
}


/* Slot ranges, then the depthwise layers' channel ranges (the cache's order), into the layers. */
static void apply(vgc_net *net, const float *ranges)
{
    const int slots = vgc_q8_slots(net);
    const float *cr = ranges + 2 * (size_t)slots;

    for (int i = 0; i < slots; i++) {
        vgc_q8_layer *q = slot_layer(net, i);

        if (q && ranges[2 * i] < ranges[2 * i + 1]) {
            q->xmin = ranges[2 * i];
            q->xmax = ranges[2 * i + 1];
            /* a depthwise layer's channels: static only where asked (net->q8_dw_static, docs/engine.md);
               a block 1x1 layer's always (it runs int8 only with static ranges) */
            if (q->ncr && (!q->dw || net->q8_dw_static)) {
                memcpy(q->cr, cr, 2 * (size_t)q->ncr * sizeof *cr);
                q->crs = 1;
                /* a block 1x1 layer: its input channels' scales into its weights */
                if (!q->dw && (i >= net->n || vgc_q8_fold(net, i) < 0))
                    q->crs = 0;
            }
        }
        cr += q ? 2 * (size_t)q->ncr : 0;
    }
    vgc_q8_plan(net);
    vgc_q8_note(net, -1);
}


/*
 * After a calibration run: each slot's range and each depthwise channel's
 * (what the layers collected) in the cache's order. A depthwise layer
 * collects per channel (q8.c's dw_task); its slot gets their union.
 */
static void collect(const vgc_net *net, float *ranges)
{

    const int slots = vgc_q8_slots(net);
    float *cr = ranges + 2 * (size_t)slots;

    for (int i = 0; i < slots; i++) {
        const vgc_q8_layer *q = slot_layer(net, i);

        ranges[2 * i] = q ? net->q8->calib[2 * i] : 0;
        ranges[2 * i + 1] = q ? net->q8->calib[2 * i + 1] : 0;
        for (int c = 0; q && q->ncr && c < q->ncr; c++) {
            cr[2 * c] = q->cr[2 * c];
            cr[2 * c + 1] = q->cr[2 * c + 1];
            ranges[2 * i] = q->cr[2 * c] < ranges[2 * i] ? q->cr[2 * c] : ranges[2 * i];
            ranges[2 * i + 1] = q->cr[2 * c + 1] > ranges[2 * i + 1] ? q->cr[2 * c + 1] : ranges[2 * i + 1];
        }
        cr += q ? 2 * (size_t)q->ncr : 0;
    }
}


/* The cache, when it is there and current: 0 with the ranges, else < 0 with why in err. */
static int cache_read(const char *path, int layers, int chans, uint64_t key, float *ranges, unsigned *images,
                      char *err, size_t errlen)
{
    /* any size a cache can have is read, so that the parser names what differs (an older version) */
    const size_t most = vgc_q8_cache_size(VGC_MAX_LAYERS, VGC_Q8_CALIB_MAX_CHANS);
    size_t want;
    uint8_t *buf;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return vgc_fail(err, errlen, VIGIA_ENOENT, "no cache");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 40 || (size_t)st.st_size > most) {
        close(fd);
        return vgc_fail(err, errlen, VIGIA_EINVAL, "int8 cache %s: not a cache of 40 to %zu bytes", path, most);
    }
    want = (size_t)st.st_size;
    if (!(buf = malloc(want))) {
        close(fd);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    rc = read_all(fd, buf, want, NULL, NULL) < 0
             ? vgc_fail(err, errlen, VIGIA_EINVAL, "int8 cache %s: short read", path)
             : vgc_q8_cache_parse(buf, want, layers, chans, key, ranges, images, err, errlen);
    close(fd);
    free(buf);
    return rc;
}


/* Write the cache next to its final name, then rename: a reader never sees half of one. 0, or -1 with why. */
static int cache_write(const char *path, int layers, int chans, uint64_t key, const float *ranges, unsigned images,
                       char *why, size_t whylen)
{
    const size_t n = vgc_q8_cache_size(layers, chans);
    uint8_t *buf = malloc(n);
    char tmp[4096];
    FILE *fp;
    int ok;

    if (!buf)
        return snprintf(why, whylen, "out of memory"), -1;
    vgc_q8_cache_format(buf, layers, chans, key, ranges, images);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp) {
        free(buf);
        return snprintf(why, whylen, "path too long"), -1;
    }
    if (!(fp = fopen(tmp, "wbx"))) {
        snprintf(why, whylen, "creating it: %s", strerror(errno));
        free(buf);
        return -1;
    }
    ok = fwrite(buf, 1, n, fp) == n;
    ok = (fclose(fp) == 0) && ok;
    free(buf);
    if (!ok || rename(tmp, path) < 0) {
        snprintf(why, whylen, "%s: %s", ok ? "renaming it" : "writing it", strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}


/* What calibration runs: a cfg network, or another runner over the q8 state of `net`. */
typedef struct calib_target {
    vgc_net *net;
    int c, w, h;              /* one input tensor */
    int (*run)(void *ctx, const float *x, char *err, size_t errlen);
    void *ctx;
    const char *hashed[2];    /* files hashed into the cache's key (NULL: none) */
} calib_target;


/* Run the network over every tensor, collecting the ranges into net->q8->calib. */
static int calibrate_run(const calib_target *t, const char *dir, const calib_file *f, int n, char *err,
                         size_t errlen)
{
    vgc_net *net = t->net;
    const size_t count = (size_t)t->c * t->w * t->h;
    float *x = malloc(count * sizeof *x);
    int rc = 0;

    if (!x || !(net->q8->calib = calloc(2 * (size_t)vgc_q8_slots(net), sizeof(float)))) {
        free(x);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for int8 calibration");
    }
    /* depthwise layers collect per channel, from nothing (and run on each image's own ranges meanwhile) */
    for (int s = 0; s < vgc_q8_slots(net); s++) {
        vgc_q8_layer *q = slot_layer(net, s);

        if (q && q->ncr) {
            memset(q->cr, 0, 2 * (size_t)q->ncr * sizeof *q->cr);
            q->crs = 0;
        }
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        char path[4096];
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, f[i].name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || read_all(fd, x, count * sizeof *x, NULL, NULL) < 0) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL, "int8 calibration tensor %s: %s", path,
                          fd < 0 ? strerror(errno) : "short read");
        } else {
            for (size_t k = 0; rc == 0 && k < count; k++)
                if (!isfinite(x[k]) || fabsf(x[k]) > 1e6f)
                    rc = vgc_fail(err, errlen, VIGIA_EINVAL, "int8 calibration tensor %s: value %zu is not a pixel",
                                  path, k);
            if (rc == 0)
                rc = t->run(t->ctx, x, err, errlen);
        }
        if (fd >= 0)
            close(fd);
    }
    free(x);
    return rc;
}


static int calibrate(const calib_target *t, const char *dir, const char *cache_path, char *note, size_t notelen,
                     char *err, size_t errlen)
{
    vgc_net *net = t->net;
    const int slots = vgc_q8_slots(net), chans = net->q8 ? vgc_q8_chans(net) : 0;
    calib_file *f = NULL;
    float *ranges = NULL;
    void *buf = NULL;
    uint64_t files = VGC_Q8_HASH_SEED, key;
    unsigned images = 0;
    int n = 0, rc;
    char why[VIGIA_ERRLEN];
    struct timespec t0, t1;

    note[0] = '\0';
    if (!net->q8 || net->precision != VGC_PREC_INT8)
        return 0;
    if (slots < 1 || slots > VGC_MAX_LAYERS)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "int8 calibration: %d convolutions, at most %d", slots,
                        VGC_MAX_LAYERS);
    if (chans < 0)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "int8 calibration: more than %d depthwise channels",
                        VGC_Q8_CALIB_MAX_CHANS);
    if ((rc = list_tensors(dir, (size_t)t->c * t->w * t->h * sizeof(float), &f, &n, err, errlen)) < 0)
        return rc;
    if (!(ranges = calloc(2 * ((size_t)slots + (size_t)chans), sizeof *ranges)) || !(buf = malloc(IO_CHUNK))) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < 2; i++)
        if (t->hashed[i] && (rc = hash_file(t->hashed[i], &files, buf, err, errlen)) < 0)
            goto out;
    key = cache_key(net, t->w, t->h, f, n, files);
    if (cache_path && cache_read(cache_path, slots, chans, key, ranges, &images, why, sizeof why) == 0) {
        apply(net, ranges);
        snprintf(note, notelen, "int8 ranges from the cache (%u tensors)", images);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = calibrate_run(t, dir, f, n, err, errlen);
    if (rc == 0) {
        collect(net, ranges);
        apply(net, ranges);
    }
    free(net->q8->calib);
    net->q8->calib = NULL;
    if (rc < 0)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        const double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        char wr[VIGIA_ERRLEN] = "";

        if (!cache_path)
            snprintf(note, notelen, "int8 calibrated on %d tensors in %.1f s", n, s);
        else if (cache_write(cache_path, slots, chans, key, ranges, (unsigned)n, wr, sizeof wr) < 0)
            snprintf(note, notelen, "int8 calibrated on %d tensors in %.1f s (%s); cache not written: %s", n, s,
                     why, wr);
        else
            snprintf(note, notelen, "int8 calibrated on %d tensors in %.1f s (%s); cache written", n, s, why);
    }
out:
    free(f);
    free(ranges);
    free(buf);
    return rc;
}


static int net_run(void *ctx, const float *x, char *err, size_t errlen)
{
    return vgc_net_forward(ctx, x, 1, err, errlen);
}


int vgc_q8_calibrate(vgc_net *net, const char *dir, const char *cache_path, const char *cfg_path,
                     const char *weights_path, char *note, size_t notelen, char *err, size_t errlen)
{
    const calib_target t = { net, net->c, net->w, net->h, net_run, net, { cfg_path, weights_path } };

    return calibrate(&t, dir, cache_path, note, notelen, err, errlen);
}


int vgc_q8_calibrate_with(vgc_net *qnet, int c, int w, int h, int (*run)(void *ctx, const float *x, char *err,
                          size_t errlen), void *ctx, const char *dir, const char *cache_path, const char *model_path,
                          char *note, size_t notelen, char *err, size_t errlen)
{
    const calib_target t = { qnet, c, w, h, run, ctx, { model_path, NULL } };

    return calibrate(&t, dir, cache_path, note, notelen, err, errlen);
}
