/*
 * model: manifest parsing and model directory discovery (see model.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/ini.h"
#include "base/paths.h"
#include "pipeline/model.h"
#include "pipeline/model_auto.h"
#include "pipeline/postprocess.h"

#define CFG_MAX_BYTES   (1u << 20)
#define NAMES_MAX_BYTES (1u << 20)
#define MAX_KEYS        256
#define WEIGHTS_MAX     ((uint64_t)4 << 30)   /* 4 GiB: larger is not a weights file we load */
#define WEIGHTS_MIN     20                    /* darknet header: 3 int32 + int64 seen */


static char *
dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}


int
vg_model_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > VG_MODEL_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}


void
vg_model_destroy(vg_model *m)
{
    if (!m)
        return;
    char *strings[] = { m->name, m->dir, m->description, m->backend, m->cfg_path, m->weights_path,
                        m->names_path, m->weights_sha256, m->manifest };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        free(strings[i]);
    for (int i = 0; m->labels && i < m->classes; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->alias);
    for (int i = 0; m->alias_classes && i < m->alias_nclasses; i++)
        free(m->alias_classes[i]);
    free(m->alias_classes);
    for (size_t i = 0; i < m->nkeys; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    free(m->lines);
    free(m);
}


const char *
vg_model_get(const vg_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (size_t i = 0; i < m->nkeys; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->values[i];
    return NULL;
}


/* ---- manifest keys ------------------------------------------------------ */

struct parse_ctx {
    vg_model *m;
};


/* The manifest line a key was read from, or 0. */
static int
model_key_line(const vg_model *m, const char *key)
{
    for (size_t i = 0; key && i < m->nkeys; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->lines[i];
    return 0;
}


static int
key_line(const struct parse_ctx *ctx, const char *key)
{
    return model_key_line(ctx->m, key);
}


static int
ini_cb(void *ud, const char *section, const char *key, const char *value, int line,
       char *err, size_t errlen)
{
    struct parse_ctx *ctx = ud;
    vg_model *m = ctx->m;
    char full[256];

    if (section[0] == '\0') {
        snprintf(err, errlen, "key '%s' outside a section (expected [model])", key);
        return -1;
    }
    if (strcmp(section, "model") == 0)
        snprintf(full, sizeof full, "%s", key);
    else if ((size_t)snprintf(full, sizeof full, "%s.%s", section, key) >= sizeof full) {
        snprintf(err, errlen, "key too long");
        return -1;
    }
    if (vg_model_get(m, full)) {
        snprintf(err, errlen, "duplicate key '%s'", full);
        return -1;
    }
    if (m->nkeys >= MAX_KEYS) {
        snprintf(err, errlen, "more than %d keys", MAX_KEYS);
        return -1;
    }
    char **k = realloc(m->keys, (m->nkeys + 1) * sizeof *k);
    if (!k)
        goto nomem;
    m->keys = k;
    char **v = realloc(m->values, (m->nkeys + 1) * sizeof *v);
    if (!v)
        goto nomem;
    m->values = v;
    int *ln = realloc(m->lines, (m->nkeys + 1) * sizeof *ln);
    if (!ln)
        goto nomem;
    m->lines = ln;
    m->keys[m->nkeys] = strdup(full);
    m->values[m->nkeys] = strdup(value);
    if (!m->keys[m->nkeys] || !m->values[m->nkeys]) {
        free(m->keys[m->nkeys]);
        free(m->values[m->nkeys]);
        goto nomem;
    }
    m->lines[m->nkeys] = line;
    m->nkeys++;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}


/* A whole decimal integer in [lo, hi] (the manifest's and the typed getters'): 0, or -1. */
static int
parse_integer(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}


/* A finite number in [lo, hi], or (lo, hi] when lo_open: 0, or -1. */
static int
parse_number(const char *v, double lo, double hi, int lo_open, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !isfinite(x) || x > hi || x < lo || (lo_open && x == lo))
        return -1;
    *out = x;
    return 0;
}


static int
get_long(const vg_model *m, const char *key, long lo, long hi, long def, long *out,
         char *err, size_t errlen)
{
    const char *v = vg_model_get(m, key);
    long long x = def;
    if (v && *v && parse_integer(v, lo, hi, &x)) {
        snprintf(err, errlen, "'%s' must be an integer in [%ld, %ld], not '%s'", key, lo, hi, v);
        return -1;
    }
    *out = (long)x;
    return 0;
}


static int
get_float(const vg_model *m, const char *key, double lo, double hi, int lo_open, double def,
          float *out, char *err, size_t errlen)
{
    const char *v = vg_model_get(m, key);
    double x = def;
    if (v && *v && parse_number(v, lo, hi, lo_open, &x)) {
        snprintf(err, errlen, "'%s' must be a number in %c%g, %g], not '%s'",
                 key, lo_open ? '(' : '[', lo, hi, v);
        return -1;
    }
    *out = (float)x;
    return 0;
}


/*
 * The command that puts the files of the model in `dir` in place: the
 * fetch-models script beside this vigia, told where the model's folder is
 * unless it is the installed default (where the script looks by itself).
 */
static void
fetch_hint(const char *dir, char *out, size_t outlen)
{
    char models[PATH_MAX];
    snprintf(models, sizeof models, "%s", dir);
    char *slash = strrchr(models, '/');
    const char *name = slash ? slash + 1 : models;
    if (slash)
        *slash = '\0';
    const char *fetch = vg_paths_get(VG_PATH_FETCH_MODELS);
    const char *def = vg_paths_get(VG_PATH_MODELS);
    char real[PATH_MAX];
    int is_default = strcmp(models, def) == 0 || (realpath(def, real) && strcmp(models, real) == 0);
    int n;
    if (is_default && !vg_paths_build_tree())
        n = snprintf(out, outlen, "%s --download %s", fetch, name);
    else if (is_default)
        n = snprintf(out, outlen, "%s --dest %s --download %s", fetch, models, name);
    else
        n = snprintf(out, outlen, "%s --manifests %s --dest %s --download %s", fetch, models, models, name);
    if (n < 0 || (size_t)n >= outlen)
        out[0] = '\0';            /* a cut command would mislead: say none */
}


/*
 * Resolves `rel` against `dir` into an absolute path and checks that it is
 * a regular file of at most `max` bytes (0: no limit); *size gets its size.
 */
static int
resolve_file(const char *dir, const char *key, const char *rel, uint64_t max, char **out,
             uint64_t *size, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct stat st;

    if (!rel[0]) {
        snprintf(err, errlen, "'%s' is empty", key);
        return -1;
    }
    int n = rel[0] == '/' ? snprintf(path, sizeof path, "%s", rel)
                          : snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "'%s': path too long", key);
        return -1;
    }
    if (stat(path, &st) != 0) {
        int e = errno;
        char hint[PATH_MAX * 3];
        hint[0] = '\0';
        if (e == ENOENT)
            fetch_hint(dir, hint, sizeof hint);
        int w = snprintf(err, errlen, "%s '%.300s': %s%s%s%s", key, path, strerror(e),
                         hint[0] ? " (run '" : "", hint, hint[0] ? "' to fetch it)" : "");
        if (w >= 0 && (size_t)w >= errlen && hint[0])   /* no room for the command: the plain error */
            snprintf(err, errlen, "%s '%.300s': %s", key, path, strerror(e));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s '%.300s' is not a regular file", key, path);
        return -1;
    }
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s '%.300s': %s", key, path, strerror(errno));
        return -1;
    }
    if (max && (uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s '%.300s' is larger than %llu bytes", key, path,
                 (unsigned long long)max);
        return -1;
    }
    *out = strdup(path);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (size)
        *size = (uint64_t)st.st_size;
    return 0;
}


/* Reads a whole small file; NUL-terminated. */
static int
slurp(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    int rc = -1;
    char *buf = NULL;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(max + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}


static int
load_labels(vg_model *m, char *err, size_t errlen)
{
    int rc = -1;
    char *text = NULL;
    size_t len = 0;

    if (slurp(m->names_path, NAMES_MAX_BYTES, &text, &len, err, errlen) != 0)
        return -1;
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte", m->names_path);
        goto out;
    }
    size_t cap = 16;
    m->labels = calloc(cap, sizeof *m->labels);
    if (!m->labels)
        goto nomem;
    char *p = text;
    int lineno = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *next = nl ? nl + 1 : p + n;
        lineno++;
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        if (n == 0) {
            /* darknet reads blank lines as labels too; only trailing ones are harmless */
            const char *q = next;
            while (*q == '\n' || *q == '\r' || *q == ' ' || *q == '\t')
                q++;
            if (*q) {
                snprintf(err, errlen, "%s:%d: empty label", m->names_path, lineno);
                goto out;
            }
            break;
        }
        if (n > VG_MODEL_LABEL_MAX) {
            snprintf(err, errlen, "%s:%d: label longer than %d bytes", m->names_path, lineno,
                     VG_MODEL_LABEL_MAX);
            goto out;
        }
        if (m->classes >= VG_MODEL_MAX_LABELS) {
            snprintf(err, errlen, "%s: more than %d labels", m->names_path, VG_MODEL_MAX_LABELS);
            goto out;
        }
        if ((size_t)m->classes == cap) {
            char **l = realloc(m->labels, 2 * cap * sizeof *l);
            if (!l)
                goto nomem;
            m->labels = l;
            cap *= 2;
        }
        m->labels[m->classes] = strndup(p, n);
        if (!m->labels[m->classes])
            goto nomem;
        m->classes++;
        p = next;
    }
    if (m->classes == 0) {
        snprintf(err, errlen, "%s: no labels", m->names_path);
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    snprintf(err, errlen, "out of memory");
out:
    free(text);
    return rc;
}


/* What the host needs from a darknet cfg (scan_cfg). */
typedef struct cfg_facts {
    int net_w, net_h;          /* [net] width, height; 0 when absent */
    int classes;               /* of the last detection layer; 0 when none */
    int letter_box;            /* AlexeyAB's key: 0 or absent = stretch, 1 = letterbox */
    int nms_kind;              /* VG_NMS_*, of the last [yolo] layer (AlexeyAB detector.c) */
    float beta_nms;            /* of that layer; AlexeyAB's default 0.6 */
} cfg_facts;


/* AlexeyAB's nms_kind spellings (src/parser.c parse_yolo), index = VG_NMS_*. */
static const char *const nms_kinds[] = { "default", "greedynms", "diounms" };

const char *
vg_model_nms_kind_name(int kind)
{
    return kind >= 0 && kind < (int)(sizeof nms_kinds / sizeof nms_kinds[0]) ? nms_kinds[kind] : "?";
}


float
vg_model_diou_beta(const vg_model *m)
{
    /* box_diou's exponent is fixed at 0.6 (greedynms); box_diounms takes beta_nms */
    return m->nms_kind == VG_NMS_GREEDY ? 0.6f : m->nms_kind == VG_NMS_DIOU ? m->beta_nms : 0.0f;
}


/* nms_kind / beta_nms values, from the cfg or the manifest: -1 and a message naming both. */
static int
parse_nms_kind(const char *v, int *kind)
{
    for (int k = 0; k < (int)(sizeof nms_kinds / sizeof nms_kinds[0]); k++)
        if (strcmp(v, nms_kinds[k]) == 0) {
            *kind = k;
            return 0;
        }
    return -1;
}


static int
parse_beta_nms(const char *v, float *beta)
{
    double x;
    if (parse_number(v, 0, VG_POST_MAX_DIOU_BETA, 1, &x))
        return -1;
    *beta = (float)x;
    return 0;
}


/*
 * The [yolo] NMS keys of one cfg line (AlexeyAB's darknet src/parser.c
 * parse_yolo, parse_gaussian_yolo; src/detector.c runs the NMS of the last
 * detection layer). A value vigia does not run is refused: AlexeyAB's own
 * fallback for an unknown nms_kind is `default`, but so is its reading of
 * `cornersnms` in [yolo], and guessing would change the boxes silently.
 */
static int
scan_nms_key(const char *path, int line, const char *section, const char *k, const char *v,
             cfg_facts *f, char *err, size_t errlen)
{
    int yolo = strcmp(section, "yolo") == 0 || strcmp(section, "Gaussian_yolo") == 0;
    if (!yolo) {
        snprintf(err, errlen, "%s line %d: `%s` in [%s]: AlexeyAB's darknet reads it only in [yolo], "
                 "so it would not run; remove it or set it in the manifest", path, line, k, section);
        return -1;
    }
    if (strcmp(k, "nms_kind") == 0 && parse_nms_kind(v, &f->nms_kind)) {
        snprintf(err, errlen, "%s line %d: nms_kind=%.40s is not supported (default, greedynms or diounms)",
                 path, line, v);
        return -1;
    }
    if (strcmp(k, "beta_nms") == 0 && parse_beta_nms(v, &f->beta_nms)) {
        snprintf(err, errlen, "%s line %d: beta_nms=%.40s must be a number in (0, %d]", path, line, v,
                 VG_POST_MAX_DIOU_BETA);
        return -1;
    }
    return 0;
}


/*
 * Reads the facts above from a darknet cfg. Not a cfg parser: backends
 * parse the cfg for real; this reads what the host itself honours (the
 * input geometry and the NMS, which the host runs for every backend).
 */
static int
scan_cfg(const char *path, cfg_facts *f, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    char section[64] = "";
    int saw_net = 0, line = 0, rc = -1;

    if (slurp(path, CFG_MAX_BYTES, &text, &len, err, errlen) != 0)
        return -1;
    memset(f, 0, sizeof *f);
    f->nms_kind = VG_NMS_DEFAULT;
    f->beta_nms = 0.6f;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        line++;
        if (nl)
            *nl = '\0';
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        char *end = p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (*p == '[') {
            char *close = strchr(p, ']');
            size_t n = close ? (size_t)(close - p - 1) : 0;
            if (n >= sizeof section)
                n = sizeof section - 1;
            memcpy(section, p + 1, n);
            section[n] = '\0';
            if (strcmp(section, "net") == 0 || strcmp(section, "network") == 0)
                saw_net = 1;
            if (strcmp(section, "yolo") == 0 || strcmp(section, "region") == 0 ||
                strcmp(section, "detection") == 0 || strcmp(section, "Gaussian_yolo") == 0) {
                /* each detection layer has its own; the last one's runs ([region]: default) */
                f->nms_kind = VG_NMS_DEFAULT;
                f->beta_nms = 0.6f;
            }
        } else if (*p && *p != '#' && *p != ';') {
            char *eq = strchr(p, '=');
            if (eq) {
                char *k = p, *v = eq + 1;
                char *ke = eq;
                while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
                    ke--;
                *ke = '\0';
                while (*v == ' ' || *v == '\t')
                    v++;
                int is_net = strcmp(section, "net") == 0 || strcmp(section, "network") == 0;
                int is_det = strcmp(section, "yolo") == 0 || strcmp(section, "region") == 0 ||
                             strcmp(section, "detection") == 0 || strcmp(section, "Gaussian_yolo") == 0;
                if (is_net && strcmp(k, "width") == 0)
                    f->net_w = atoi(v);
                else if (is_net && strcmp(k, "height") == 0)
                    f->net_h = atoi(v);
                else if (is_net && strcmp(k, "letter_box") == 0)
                    f->letter_box = strcmp(v, "0") == 0 ? 0 : strcmp(v, "1") == 0 ? 1 : -1;
                else if (is_det && strcmp(k, "classes") == 0)
                    f->classes = atoi(v);
                else if (is_det && (strcmp(k, "nms_kind") == 0 || strcmp(k, "beta_nms") == 0) &&
                         scan_nms_key(path, line, section, k, v, f, err, errlen))
                    goto out;
            }
        }
        p = next;
    }
    if (!saw_net) {
        snprintf(err, errlen, "%s: no [net] section: not a darknet cfg", path);
        goto out;
    }
    if (f->letter_box < 0) {
        snprintf(err, errlen, "%s: [net] letter_box must be 0 or 1", path);
        goto out;
    }
    rc = 0;
out:
    free(text);
    return rc;
}


static int
is_sha256_hex(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}


static int
backend_valid(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > 1024)
        return 0;
    if (b[0] == '/')
        return 1;
    if (n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!islower(c) && !isdigit(c) && c != '_' && c != '-')
            return 0;
    }
    return 1;
}


/* The manifest's integer keys, in the order they are checked: range, default, the field set. */
static const struct int_key {
    const char *key;
    long lo, hi, def;
    size_t off;                /* of an int or unsigned field of vg_model */
    int is_int;                /* the field is an int (else an unsigned) */
} int_keys[] = {
    { "workers", 0, VG_MODEL_MAX_WORKERS, 0, offsetof(vg_model, workers), 0 },
    { "batch", 1, VG_MODEL_MAX_BATCH, 1, offsetof(vg_model, batch), 0 },
    { "threads", 1, 256, 1, offsetof(vg_model, threads), 0 },
    { "width", 0, VG_MODEL_MAX_SIDE, 0, offsetof(vg_model, input_w), 1 },
    { "height", 0, VG_MODEL_MAX_SIDE, 0, offsetof(vg_model, input_h), 1 },
};


static const char *const known_model_keys[] = {
    "name", "description", "backend", "cfg", "weights", "names", "width", "height",
    "threshold", "nms", "nms_kind", "beta_nms", "resize", "workers", "batch", "threads", "devices", "alias",
    "classes",
    "mem_cap", "infer_timeout",    /* read by the pool (core/pool/pool_model.c) */
    "head", "mean", "std",         /* read by the backend: an ONNX graph's output layout, input normalisation */
    NULL
};


/* `devices = 0,1,...`: device numbers in [0, 255], at most VG_MODEL_MAX_DEVICES. */
static int
parse_devices(vg_model *m, const char *v, char *msg, size_t msglen)
{
    if (!v)
        return 0;
    for (const char *p = v;;) {
        char *end;
        while (*p == ' ' || *p == '\t')
            p++;
        errno = 0;
        long d = strtol(p, &end, 10);
        if (end == p || errno || d < 0 || d > 255) {
            snprintf(msg, msglen, "'devices' must be device numbers in [0, 255] separated by commas, not '%.60s'", v);
            return -1;
        }
        if (m->ndevices == VG_MODEL_MAX_DEVICES) {
            snprintf(msg, msglen, "'devices' lists more than %d devices", VG_MODEL_MAX_DEVICES);
            return -1;
        }
        m->devices[m->ndevices++] = (int)d;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return 0;
        if (*p != ',') {
            snprintf(msg, msglen, "'devices' must be device numbers in [0, 255] separated by commas, not '%.60s'", v);
            return -1;
        }
        p++;
    }
}


int
vg_model_set_labels(vg_model *m, const vg_str *labels, size_t n, char *err, size_t errlen)
{
    if (m->names_path || m->labels) {
        snprintf(err, errlen, "model %s has its labels already", m->name);
        return VG_E_INVAL;
    }
    if (n == 0 || n > VG_MODEL_MAX_LABELS) {
        snprintf(err, errlen, "%zu labels: a model has 1 to %d", n, VG_MODEL_MAX_LABELS);
        return VG_E_INVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (labels[i].n == 0 || labels[i].n > VG_MODEL_LABEL_MAX || memchr(labels[i].p, '\0', labels[i].n)) {
            snprintf(err, errlen, "label %zu is empty, longer than %d bytes or holds a NUL", i,
                     VG_MODEL_LABEL_MAX);
            return VG_E_INVAL;
        }
    char **l = calloc(n, sizeof *l);
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(l[i] = strndup(labels[i].p, labels[i].n))) {
            while (i--)
                free(l[i]);
            free(l);
            return -ENOMEM;
        }
    m->labels = l;
    m->classes = (int)n;
    return 0;
}


const char *
vg_model_labels_source(const vg_model *m)
{
    return m->names_path ? "names file" : "plugin";
}


int
vg_model_device(const vg_model *m, int worker)
{
    if (!m->ndevices)
        return -1;
    return m->devices[(worker < 0 ? 0 : worker) % m->ndevices];
}


/* "MANIFEST:LINE: KEY: why" (or without the line when the key has none). */
static int
key_error(const vg_model *m, const char *key, char *err, size_t errlen, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    int line = model_key_line(m, key);
    const char *file = m->manifest ? m->manifest : VG_MODEL_MANIFEST;
    if (line)
        snprintf(err, errlen, "%s:%d: %s: %s", file, line, key, why);
    else
        snprintf(err, errlen, "%s: %s: %s", file, key, why);
    return VG_E_MANIFEST;
}


int
vg_model_get_int(const vg_model *m, const char *key, long long lo, long long hi, long long def,
                 long long *out, char *err, size_t errlen)
{
    const char *v = vg_model_get(m, key);
    *out = def;
    if (v && *v && parse_integer(v, lo, hi, out))
        return key_error(m, key, err, errlen, "must be an integer in [%lld, %lld], not '%.60s'", lo, hi, v);
    return 0;
}


int
vg_model_get_float(const vg_model *m, const char *key, double lo, double hi, double def,
                   double *out, char *err, size_t errlen)
{
    const char *v = vg_model_get(m, key);
    *out = def;
    if (v && *v && parse_number(v, lo, hi, 0, out))
        return key_error(m, key, err, errlen, "must be a number in [%g, %g], not '%.60s'", lo, hi, v);
    return 0;
}


int
vg_model_get_bool(const vg_model *m, const char *key, int def, int *out, char *err, size_t errlen)
{
    static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
    const char *v = vg_model_get(m, key);
    if (!v || !*v) {
        *out = def ? 1 : 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return key_error(m, key, err, errlen, "must be true or false (yes/no, on/off, 1/0), not '%.60s'", v);
}


int
vg_model_get_string(const vg_model *m, const char *key, const char *const *choices, const char *def,
                    const char **out, char *err, size_t errlen)
{
    const char *v = vg_model_get(m, key);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (!choices) {
        *out = v;
        return 0;
    }
    char list[256] = "";
    for (size_t i = 0; choices[i]; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", choices[i]);
    }
    return key_error(m, key, err, errlen, "must be one of %s, not '%.60s'", list, v);
}


int
vg_model_check_section(const vg_model *m, const char *section, const char *const *keys, const char *who,
                       char *err, size_t errlen)
{
    size_t slen = strlen(section);
    for (size_t i = 0; keys && i < m->nkeys; i++) {
        const char *k = m->keys[i];
        if (strncmp(k, section, slen) != 0 || k[slen] != '.')
            continue;
        int known = 0;
        for (size_t j = 0; keys[j] && !known; j++)
            known = strcmp(k + slen + 1, keys[j]) == 0;
        if (known)
            continue;
        char list[256] = "";
        for (size_t j = 0; keys[j]; j++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", keys[j]);
        }
        return key_error(m, k, err, errlen, "unknown key '%s' in [%s] (backend %s reads %s)", k + slen + 1,
                         section, who, list[0] ? list : "no keys there");
    }
    return 0;
}


/*
 * An alias manifest: `alias` names the model that runs, `classes` (optional)
 * the comma-separated labels kept. No file, no other [model] key.
 */
static int
load_alias(vg_model *m, const char *target, char *msg, size_t msglen)
{
    static const char *const alias_keys[] = { "name", "description", "alias", "classes", NULL };
    for (size_t i = 0; i < m->nkeys; i++) {
        int ok = strchr(m->keys[i], '.') != NULL;   /* [files] and the like are left alone */
        for (int k = 0; !ok && alias_keys[k]; k++)
            ok = strcmp(m->keys[i], alias_keys[k]) == 0;
        if (!ok) {
            snprintf(msg, msglen, "an alias takes name, description, alias and classes, not '%s'", m->keys[i]);
            return -1;
        }
    }
    if (!vg_model_name_valid(target) || strcmp(target, m->name) == 0) {
        snprintf(msg, msglen, "alias '%.80s' is not another model's name", target);
        return -1;
    }
    if (!(m->alias = dupstr(target)))
        return -ENOMEM;
    const char *list = vg_model_get(m, "classes");
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        p = end ? end + 1 : p + n;
        while (n && isspace((unsigned char)*q))
            q++, n--;
        while (n && isspace((unsigned char)q[n - 1]))
            n--;
        if (n == 0 || n >= VG_MODEL_LABEL_MAX) {
            snprintf(msg, msglen, "classes: an empty label, or one of %d bytes or more", VG_MODEL_LABEL_MAX);
            return -1;
        }
        if (m->alias_nclasses == VG_MODEL_MAX_LABELS) {
            snprintf(msg, msglen, "classes: more than %d labels", VG_MODEL_MAX_LABELS);
            return -1;
        }
        char **nl = realloc(m->alias_classes, (size_t)(m->alias_nclasses + 1) * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        m->alias_classes = nl;
        if (!(nl[m->alias_nclasses] = strndup(q, n)))
            return -ENOMEM;
        m->alias_nclasses++;
    }
    if (list && m->alias_nclasses == 0) {
        snprintf(msg, msglen, "classes is empty: leave it out to keep every class of %.80s", target);
        return -1;
    }
    return 0;
}


int
vg_model_load(const char *dir, vg_model **out, char *err, size_t errlen)
{
    char manifest[PATH_MAX], absdir[PATH_MAX], msg[1024];
    struct parse_ctx ctx;
    vg_model *m = NULL;
    int rc = VG_E_MANIFEST;
    const char *bad_key = NULL;   /* the key an error is about: "FILE:LINE: KEY: why" */

    *out = NULL;
    msg[0] = '\0';
    if (!realpath(dir, absdir)) {
        snprintf(err, errlen, "model directory '%s': %s", dir, strerror(errno));
        return VG_E_MANIFEST;
    }
    if ((size_t)snprintf(manifest, sizeof manifest, "%s/%s", absdir, VG_MODEL_MANIFEST) >= sizeof manifest) {
        snprintf(err, errlen, "model directory '%s': path too long", dir);
        return VG_E_MANIFEST;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->dir = strdup(absdir);
    m->manifest = strdup(manifest);
    if (!m->dir || !m->manifest)
        goto nomem;
    ctx.m = m;
    char onnx[NAME_MAX + 1], labels[NAME_MAX + 1], desc_auto[2 * NAME_MAX + 64];
    if (access(manifest, F_OK) != 0 && errno == ENOENT &&
        vg_model_auto_find(absdir, onnx, sizeof onnx, labels, sizeof labels, NULL, 0) == 1) {
        /* no manifest: the graph, its labels and the cpu backend, as if model.conf named them */
        snprintf(desc_auto, sizeof desc_auto, "%s and %s (no model.conf)", onnx, labels);
        if (ini_cb(&ctx, "model", "backend", "cpu", 0, msg, sizeof msg) ||
            ini_cb(&ctx, "model", "weights", onnx, 0, msg, sizeof msg) ||
            ini_cb(&ctx, "model", "names", labels, 0, msg, sizeof msg) ||
            ini_cb(&ctx, "model", "description", desc_auto, 0, msg, sizeof msg)) {
            snprintf(err, errlen, "%s", msg);
            goto fail;
        }
    } else if (vg_ini_parse_file(manifest, ini_cb, &ctx, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s", msg);
        goto fail;
    }

    /* unknown [model] keys are typos: refuse them */
    for (size_t i = 0; i < m->nkeys; i++) {
        if (strchr(m->keys[i], '.'))
            continue;
        int known = 0;
        for (int k = 0; known_model_keys[k]; k++)
            known |= strcmp(m->keys[i], known_model_keys[k]) == 0;
        if (!known) {
            bad_key = m->keys[i];
            snprintf(msg, sizeof msg, "unknown key '%s' in [model]", m->keys[i]);
            goto bad;
        }
    }

    const char *base = strrchr(absdir, '/');
    base = base ? base + 1 : absdir;
    const char *name = vg_model_get(m, "name");
    if (!name)
        name = base;
    bad_key = "name";
    if (!vg_model_name_valid(name)) {
        snprintf(msg, sizeof msg, "invalid model name '%.80s' (letters, digits, '.', '_', '-'; at most %d)",
                 name, VG_MODEL_NAME_MAX);
        goto bad;
    }
    if (strcmp(name, base) != 0) {
        snprintf(msg, sizeof msg, "name '%.80s' differs from its directory '%.80s'", name, base);
        goto bad;
    }
    const char *desc = vg_model_get(m, "description");
    const char *backend = vg_model_get(m, "backend");
    m->name = dupstr(name);
    m->description = dupstr(desc ? desc : "");
    m->backend = dupstr(backend && *backend ? backend : "auto");
    if (!m->name || !m->description || !m->backend)
        goto nomem;
    bad_key = "backend";
    if (!backend_valid(m->backend)) {
        snprintf(msg, sizeof msg, "invalid backend '%.80s' (auto, a backend name or an absolute path)",
                 m->backend);
        goto bad;
    }
    const char *target = vg_model_get(m, "alias");
    if (target) {
        bad_key = "alias";
        int arc = load_alias(m, target, msg, sizeof msg);
        if (arc == -ENOMEM)
            goto nomem;
        if (arc)
            goto bad;
        *out = m;
        return 0;
    }
    bad_key = "classes";
    if (vg_model_get(m, "classes")) {
        snprintf(msg, sizeof msg, "'classes' belongs to an alias manifest (one with 'alias = MODEL')");
        goto bad;
    }

    if (get_float(m, (bad_key = "threshold"), 0, 1, 1, 0.25, &m->threshold, msg, sizeof msg) ||
        get_float(m, (bad_key = "nms"), 0, 1, 0, 0.45, &m->nms, msg, sizeof msg))
        goto bad;
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        const struct int_key *k = &int_keys[i];
        long lv;
        bad_key = k->key;
        if (get_long(m, k->key, k->lo, k->hi, k->def, &lv, msg, sizeof msg))
            goto bad;
        void *field = (char *)m + k->off;
        if (k->is_int)
            *(int *)field = (int)lv;
        else
            *(unsigned *)field = (unsigned)lv;
    }
    bad_key = m->input_w ? "width" : "height";
    if ((m->input_w == 0) != (m->input_h == 0)) {
        snprintf(msg, sizeof msg, "give both width and height, or neither");
        goto bad;
    }

    bad_key = "devices";
    if (parse_devices(m, vg_model_get(m, "devices"), msg, sizeof msg))
        goto bad;

    bad_key = "files.weights_size";
    const char *sz = vg_model_get(m, bad_key);
    if (sz && *sz) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(sz, &end, 10);
        if (errno || *end || v < WEIGHTS_MIN || v > WEIGHTS_MAX) {
            snprintf(msg, sizeof msg, "'files.weights_size' must be a byte count, not '%s'", sz);
            goto bad;
        }
        m->weights_size = v;
    }
    bad_key = "files.weights_sha256";
    const char *sha = vg_model_get(m, bad_key);
    if (sha && *sha) {
        if (!is_sha256_hex(sha)) {
            snprintf(msg, sizeof msg, "'files.weights_sha256' is not 64 hex digits");
            goto bad;
        }
        m->weights_sha256 = dupstr(sha);
        if (!m->weights_sha256)
            goto nomem;
        for (char *p = m->weights_sha256; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }

    /* without a names file the plugin must supply the labels (the worker refuses it otherwise) */
    bad_key = "names";
    const char *names = vg_model_get(m, bad_key);
    if (names && resolve_file(absdir, "names", names, NAMES_MAX_BYTES, &m->names_path, NULL, msg, sizeof msg))
        goto bad;
    if (names && load_labels(m, msg, sizeof msg))
        goto bad;

    bad_key = "resize";
    const char *resize = vg_model_get(m, bad_key);
    m->resize = VG_RESIZE_LETTERBOX;
    m->resize_from = "default";
    if (resize) {
        if (strcmp(resize, "stretch") != 0 && strcmp(resize, "letterbox") != 0) {
            snprintf(msg, sizeof msg, "'resize' must be stretch or letterbox, not '%.40s'", resize);
            goto bad;
        }
        m->resize = strcmp(resize, "stretch") == 0 ? VG_RESIZE_STRETCH : VG_RESIZE_LETTERBOX;
        m->resize_from = "manifest";
    }
    const char *kind = vg_model_get(m, "nms_kind"), *beta = vg_model_get(m, "beta_nms");
    m->nms_kind = VG_NMS_DEFAULT;
    m->beta_nms = 0.6f;
    bad_key = "nms_kind";
    if (kind && parse_nms_kind(kind, &m->nms_kind)) {
        snprintf(msg, sizeof msg, "'nms_kind' must be default, greedynms or diounms, not '%.40s'", kind);
        goto bad;
    }
    bad_key = "beta_nms";
    if (beta && parse_beta_nms(beta, &m->beta_nms)) {
        snprintf(msg, sizeof msg, "'beta_nms' must be a number in (0, %d], not '%.40s'", VG_POST_MAX_DIOU_BETA,
                 beta);
        goto bad;
    }
    m->nms_kind_from = kind ? "manifest" : "default";
    bad_key = "cfg";
    const char *cfg = vg_model_get(m, bad_key);
    if (cfg) {
        cfg_facts f;
        if (resolve_file(absdir, "cfg", cfg, CFG_MAX_BYTES, &m->cfg_path, NULL, msg, sizeof msg))
            goto bad;
        if (scan_cfg(m->cfg_path, &f, msg, sizeof msg))
            goto bad;
        if (!resize) {
            m->resize = f.letter_box ? VG_RESIZE_LETTERBOX : VG_RESIZE_STRETCH;
            m->resize_from = "cfg";
        }
        if (!kind) {
            m->nms_kind = f.nms_kind;
            m->nms_kind_from = "cfg";
        }
        if (!beta)
            m->beta_nms = f.beta_nms;
        if (f.classes > 0 && m->names_path && f.classes != m->classes) {
            snprintf(msg, sizeof msg, "%s has %d labels but the cfg's detection layer has classes=%d",
                     m->names_path, m->classes, f.classes);
            goto bad;
        }
        if (m->input_w == 0 && f.net_w > 0 && f.net_h > 0 && f.net_w <= VG_MODEL_MAX_SIDE &&
            f.net_h <= VG_MODEL_MAX_SIDE) {
            m->input_w = f.net_w;
            m->input_h = f.net_h;
        }
    }
    bad_key = "weights";
    const char *weights = vg_model_get(m, bad_key);
    if (weights) {
        uint64_t size = 0;
        if (resolve_file(absdir, "weights", weights, WEIGHTS_MAX, &m->weights_path, &size, msg, sizeof msg))
            goto bad;
        if (size < WEIGHTS_MIN) {
            snprintf(msg, sizeof msg, "weights '%s' is %llu bytes: too short for a weights file",
                     m->weights_path, (unsigned long long)size);
            goto bad;
        }
        if (m->weights_size && size != m->weights_size) {
            snprintf(msg, sizeof msg, "weights '%s' is %llu bytes, the manifest says %llu (truncated or wrong file)",
                     m->weights_path, (unsigned long long)size, (unsigned long long)m->weights_size);
            goto bad;
        }
    }
    *out = m;
    return 0;

bad:
    if (key_line(&ctx, bad_key))
        snprintf(err, errlen, "%s:%d: %s: %s", manifest, key_line(&ctx, bad_key), bad_key, msg);
    else if (bad_key)
        snprintf(err, errlen, "%s: %s: %s", manifest, bad_key, msg);
    else
        snprintf(err, errlen, "%s: %s", manifest, msg);
    goto fail;
nomem:
    snprintf(err, errlen, "out of memory");
    rc = -ENOMEM;
fail:
    vg_model_destroy(m);
    return rc;
}


static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


int
vg_model_scan(const char *models_dir, int (*cb)(void *ud, const char *name, const char *dir), void *ud)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    DIR *d = opendir(models_dir);

    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s/%s", models_dir, de->d_name, VG_MODEL_MANIFEST) >= sizeof path)
            continue;
        int missing = stat(path, &st) != 0;
        if (missing || !S_ISREG(st.st_mode)) {
            char onnx[NAME_MAX + 1], labels[NAME_MAX + 1];
            if (!missing || errno != ENOENT)
                continue;
            path[strlen(path) - strlen(VG_MODEL_MANIFEST) - 1] = '\0';   /* the directory */
            if (!vg_model_auto_find(path, onnx, sizeof onnx, labels, sizeof labels, NULL, 0))
                continue;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", models_dir, names[i]);
        if (cb) {
            int r = cb(ud, names[i], path);
            if (r != 0) {
                rc = r;
                goto out;
            }
        }
    }
    rc = (int)n;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}
