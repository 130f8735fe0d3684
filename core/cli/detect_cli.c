/*
 * detect_cli: `vigia detect`, one-shot detection on image files through
 * the worker pool (see detect_cli.h). Each image's answer is exactly what
 * /v1/detect answers for it (api/render), one JSON line each, or a table
 * for people; the model is ready before the first image is queued, so
 * "queue" is the time an image waited, not the model's loading.
 * --model-file runs an ONNX file ad hoc (cli/model_file.h). `vigia classify`
 * is the same run for classifiers: what /v1/classify answers, k best.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "base/buf.h"
#include "cli/detect_cli.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "base/hex.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "cli/model_file.h"
#include "pipeline/backend_loader.h"
#include "pipeline/model.h"
#include "pipeline/postprocess.h"
#include "pool/pool.h"

#define DEFAULT_MODEL "yolo-fastest-1.1-xl"

static const char *prog = "detect";   /* the subcommand, for messages: detect or classify */
#define MAX_CLASSES_ARG 256

typedef struct item {
    const char *path;
    uint8_t *data;
    size_t len;
    int done;
    int status;
    vg_buf line;                   /* the JSON line, once answered */
} item;

typedef struct run {
    struct ev_loop *loop;
    vg_pool *pool;
    item *items;
    size_t n, printed, pending;
    const char *annotate_dir;      /* a folder: DIR/NAME.annotated.jpg per image */
    const char *annotate_file;     /* or one file, for one image */
    int table;                     /* --format table: for people */
    int classify;                  /* vigia classify: a classifier's k best */
    vg_detect_opts cut;            /* its k */
    int failed, unavailable;
    char unavailable_why[512];
} run;


static void
usage_classify(FILE *f)
{
    fputs("usage: vigia classify [--model NAME] [--backend B] [--k N] [--threshold T] [--classes a,b]\n"
          "                      [--format json|table] [--jobs N] [--timeout S] IMAGE...\n"
          "Runs a classifier on image files without a server (\"-\" reads standard input).\n"
          "  --format json    one line per image: exactly what POST /v1/classify answers for it\n"
          "  --format table   label and confidence of the k best classes (the default on a terminal)\n"
          "  --k N            the classes given per image, best first: 1..10 (default 5)\n"
          "  --threshold T    only classes at least this confident (default: any)\n"
          "  --model NAME     a classifier in the models directory (--models DIR)\n"
          "  --model-file FILE.onnx --names FILE   run an ONNX classifier ad hoc, with\n"
          "    --resize stretch|letterbox  (default stretch)\n"
          "    --mean R,G,B --std R,G,B    the graph's input normalisation in 0..1 units (default 0,0,0 and 1,1,1)\n"
          "Exit status: 0 all answered, 1 an image failed, 2 bad usage or the model cannot run (or detects).\n", f);
}


static void
usage(FILE *f)
{
    fputs("usage: vigia detect [--model NAME] [--backend B] [--threshold T] [--nms N] [--classes a,b]\n"
          "                    [--format json|table] [--annotate OUT.jpg|DIR] [--jobs N] [--timeout S] IMAGE...\n"
          "Runs a model on image files without a server (\"-\" reads standard input).\n"
          "  --format json    one line per image: exactly what POST /v1/detect answers for it\n"
          "  --format table   label, confidence and box per object (the default on a terminal)\n"
          "  --annotate OUT.jpg  the image with its boxes drawn (a folder: NAME.annotated.jpg per image)\n"
          "  --model NAME     a folder of the models directory (--models DIR); default yolo-fastest-1.1-xl\n"
          "  --backend B      auto, cuda, cpu, darknet or a plugin's absolute path\n"
          "  --model-file FILE.onnx --names FILE   run an ONNX detector ad hoc (no models directory), with\n"
          "    --resize stretch|letterbox  (default letterbox)\n"
          "    --mean R,G,B --std R,G,B    the graph's input normalisation in 0..1 units (default 0,0,0 and 1,1,1)\n"
          "    --head auto|yolov5|yolov8|boxes  its output's layout (default: from its shape)\n"
          "Exit status: 0 all answered, 1 an image failed, 2 bad usage or the model cannot run.\n", f);
}


static int
read_input(const char *path, size_t max, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(err, errlen, "no such file: %s", path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory", path);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 256 * 1024;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= n) {
                snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
                goto out;
            }
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd > 0)
        close(fd);
    return rc;
}


static void
error_line(item *it, int status, const char *msg)
{
    vg_jsonw w;
    vg_jsonw_init(&w, &it->line);
    vg_jsonw_obj(&w);                       /* /v1/detect's error: {"error": {"code", "message"}} */
    vg_jsonw_kobj(&w, "error");
    vg_jsonw_kstr(&w, "code", vg_err_code(status));
    vg_jsonw_kstr(&w, "message", msg && msg[0] ? msg : vg_err_str(status));
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    it->status = status;
    it->done = 1;
}


/* An image's failure: its error line (JSON) or message (table); a model that cannot run is said once. */
static void
item_error(run *r, item *it, int status, const char *msg)
{
    if (status == VG_E_UNAVAILABLE || status == VG_E_NOBACKEND || status == VG_E_BACKEND ||
        status == VG_E_WORKERDIED || status == VG_E_MANIFEST) {
        if (!r->unavailable)
            snprintf(r->unavailable_why, sizeof r->unavailable_why, "%s", msg && msg[0] ? msg : vg_err_str(status));
        r->unavailable = 1;
    }
    if (r->table) {
        vg_buf_puts(&it->line, msg && msg[0] ? msg : vg_err_str(status));
        it->status = status;
        it->done = 1;
    } else {
        error_line(it, status, msg);
    }
    r->failed = 1;
}


/* Prints the answered lines that are next in argument order. */
static void
flush_ready(run *r)
{
    while (r->printed < r->n && r->items[r->printed].done) {
        item *it = &r->items[r->printed++];
        if (r->unavailable && it->status) {
            ;   /* the model cannot run: said once at the end, not per image */
        } else if (!r->table) {
            fwrite(it->line.data, 1, it->line.len, stdout);
            fputc('\n', stdout);
        } else if (it->status) {
            fprintf(stderr, "vigia %s: %s\n", prog, vg_buf_cstr(&it->line));
        } else {
            fwrite(it->line.data, 1, it->line.len, stdout);
        }
        fflush(stdout);
        vg_buf_release(&it->line);
    }
}


static void
write_annotated(run *r, item *it, const vg_pool_result *res)
{
    char path[4096];
    const char *base = strrchr(it->path, '/');
    base = base ? base + 1 : it->path;
    if (strcmp(it->path, "-") == 0)
        base = "stdin";
    if (r->annotate_file)
        snprintf(path, sizeof path, "%s", r->annotate_file);
    else
        snprintf(path, sizeof path, "%s/%s.annotated.jpg", r->annotate_dir, base);
    FILE *f = fopen(path, "wbe");
    if (!f || fwrite(res->jpeg, 1, res->jpeg_len, f) != res->jpeg_len) {
        fprintf(stderr, "vigia %s: %s: %s\n", prog, path, strerror(errno));
        r->failed = 1;
        if (f)
            fclose(f);
        return;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "vigia %s: %s: %s\n", prog, path, strerror(errno));
        r->failed = 1;
    }
}


/* "id": 32 hex digits, as /v1/detect's ids (here no record has it). */
static void
new_id(char out[33])
{
    unsigned char b[16];
    if (getentropy(b, sizeof b) != 0)
        memset(b, 0, sizeof b);
    vg_hex_encode(b, sizeof b, out);
    out[32] = '\0';
}


/* The table for people: a heading line per image, then label, confidence and box per object. */
static void
table_lines(vg_buf *b, const char *path, const vg_pool_result *res)
{
    if (res->task == VG_POOL_TASK_CLASSIFY)
        vg_buf_printf(b, "%s: (%s on %s, %dx%d, %.0f ms)\n", path, res->model, res->backend, res->width, res->height,
                      (double)res->total_us / 1000.0);
    else
        vg_buf_printf(b, "%s: %zu object%s (%s on %s, %dx%d, %.0f ms)\n", path, res->count,
                      res->count == 1 ? "" : "s", res->model, res->backend, res->width, res->height,
                      (double)res->total_us / 1000.0);
    if (res->task == VG_POOL_TASK_CLASSIFY) {
        vg_buf_printf(b, "  %-20s %10s\n", "class", "confidence");
        for (size_t i = 0; i < res->count; i++)
            vg_buf_printf(b, "  %-20s %9.1f%%\n", res->detections[i].label, res->detections[i].confidence * 100.0);
        return;
    }
    if (res->count)
        vg_buf_printf(b, "  %-20s %10s   %s\n", "label", "confidence", "box (x_min, y_min, x_max, y_max)");
    for (size_t i = 0; i < res->count; i++) {
        const vg_detection *d = &res->detections[i];
        vg_buf_printf(b, "  %-20s %9.1f%%   %d, %d, %d, %d\n", d->label, d->confidence * 100.0,
                      (int)lround(d->x_min), (int)lround(d->y_min), (int)lround(d->x_max), (int)lround(d->y_max));
    }
}


typedef struct cbctx {
    run *r;
    item *it;
} cbctx;


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    cbctx *c = ud;
    run *r = c->r;
    item *it = c->it;
    free(c);
    r->pending--;
    if (status != 0) {
        item_error(r, it, status, res->message);
    } else {
        vg_detect_opts_cut(&r->cut, res);
        if (r->table) {
            table_lines(&it->line, it->path, res);
        } else {
            /* what /v1/detect (/v1/classify) answers (detect_api.c), without the JPEG it did not ask for */
            vg_jsonw w;
            vg_render o;
            char id[33];
            new_id(id);
            vg_jsonw_init(&w, &it->line);
            vg_render_text(&o, &w);
            vg_jsonw_obj(&w);
            vg_jsonw_kstr(&w, "id", id);
            vg_render_result(&o, res, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
            vg_jsonw_obj_end(&w);
        }
        it->done = 1;
        if ((r->annotate_dir || r->annotate_file) && res->jpeg)
            write_annotated(r, it, res);
    }
    flush_ready(r);
    if (r->pending == 0)
        ev_break(r->loop, EVBREAK_ALL);
}


static void
free_item_data(void *ctx)
{
    item *it = ctx;
    free(it->data);
    it->data = NULL;
}


/* Polls until the model has a ready worker, or cannot get one: the first job's queue time is then its own. */
typedef struct waiter {
    ev_timer t;
    run *r;
    const char *model;
} waiter;


static void
on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    waiter *w = (waiter *)t;
    vg_pool_model_stats st;
    if (vg_pool_model_stats_by_name(w->r->pool, w->model, &st) != 0 || strcmp(st.state, "loading") != 0) {
        ev_timer_stop(loop, t);
        ev_break(loop, EVBREAK_ONE);
    }
}


static void
await_model(run *r, const char *model)
{
    waiter w = { .r = r, .model = model };
    ev_timer_init(&w.t, on_poll, 0.0, 0.01);
    ev_timer_start(r->loop, &w.t);
    ev_run(r->loop, 0);
    ev_timer_stop(r->loop, &w.t);
}


static void
on_stopped(void *ud)
{
    run *r = ud;
    ev_break(r->loop, EVBREAK_ALL);
}


/* Splits "a,b,c" in place into at most `max` labels. */
static size_t
split_classes(char *s, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        if (*tok)
            out[n++] = tok;
    }
    return n;
}


static int
pick_default(void *ud, const char *name, const char *dir)
{
    char *out = ud;
    (void)dir;
    if (!out[0] || strcmp(name, DEFAULT_MODEL) == 0)
        snprintf(out, VG_MODEL_NAME_MAX + 1, "%s", name);
    return 0;
}


static int
parse_float(const char *opt, const char *v, double lo, double hi, int lo_open, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x > hi || x < lo || (lo_open && x == lo)) {
        fprintf(stderr, "vigia %s: %s wants a number in %c%g, %g], not '%s'\n", prog, opt,
                lo_open ? '(' : '[', lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}


/* `vigia detect` (classify 0) or `vigia classify` (1). */
static int
cli_run(const vg_config *cfg, int classify, int argc, char **argv)
{
    prog = classify ? "classify" : "detect";
    long k = 0;
    const char *model = NULL, *backend = NULL, *annotate = NULL;
    vg_model_file mf = { 0 };
    double threshold = -1, nms = -1, timeout = 60;
    long jobs = 0;
    char *classes_arg = NULL;
    int format_given = 0, null_fd = -1;
    const char *classes[MAX_CLASSES_ARG];
    size_t nclasses = 0;
    const char **paths = NULL;
    size_t npaths = 0;
    char err[1024], defname[VG_MODEL_NAME_MAX + 1] = "";
    run r;
    int rc = 2;

    memset(&r, 0, sizeof r);
    paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        return 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            (classify ? usage_classify : usage)(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                paths[npaths++] = argv[i];
            break;
        } else if (a[0] != '-' || strcmp(a, "-") == 0) {
            paths[npaths++] = a;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "vigia %s: %s needs a value\n", prog, a);
            goto out;
        } else if (strcmp(a, "--model") == 0) {
            model = v;
        } else if (strcmp(a, "--backend") == 0) {
            backend = v;
        } else if (strcmp(a, "--model-file") == 0) {
            mf.graph = v;
        } else if (strcmp(a, "--names") == 0) {
            mf.names = v;
        } else if (strcmp(a, "--resize") == 0) {
            mf.resize = v;
        } else if (strcmp(a, "--mean") == 0) {
            mf.mean = v;
        } else if (strcmp(a, "--std") == 0) {
            mf.std = v;
        } else if (strcmp(a, "--head") == 0 && !classify) {
            mf.head = v;
        } else if (strcmp(a, "--k") == 0 && classify) {
            char *end;
            k = strtol(v, &end, 10);
            if (*end || k < 1 || k > VG_POST_MAX_CLASSES) {
                fprintf(stderr, "vigia classify: --k wants 1..%d\n", VG_POST_MAX_CLASSES);
                goto out;
            }
        } else if (strcmp(a, "--annotate") == 0 && !classify) {
            annotate = v;
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "json") != 0 && strcmp(v, "table") != 0) {
                fprintf(stderr, "vigia %s: --format is json or table, not '%s'\n", prog, v);
                goto out;
            }
            r.table = strcmp(v, "table") == 0;
            format_given = 1;
        } else if (strcmp(a, "--classes") == 0) {
            classes_arg = (char *)v;
        } else if (strcmp(a, "--threshold") == 0) {
            if (parse_float(a, v, 0, 1, 1, &threshold))
                goto out;
        } else if (strcmp(a, "--nms") == 0 && !classify) {
            if (parse_float(a, v, 0, 1, 0, &nms))
                goto out;
        } else if (strcmp(a, "--timeout") == 0) {
            if (parse_float(a, v, 0, 3600, 1, &timeout))
                goto out;
        } else if (strcmp(a, "--jobs") == 0) {
            char *end;
            jobs = strtol(v, &end, 10);
            if (*end || jobs < 1 || jobs > VG_MODEL_MAX_WORKERS) {
                fprintf(stderr, "vigia %s: --jobs wants 1..%d\n", prog, VG_MODEL_MAX_WORKERS);
                goto out;
            }
        } else {
            fprintf(stderr, "vigia %s: unknown option '%s'\n", prog, a);
            (classify ? usage_classify : usage)(stderr);
            goto out;
        }
        i += takes;
    }
    if (npaths == 0) {
        (classify ? usage_classify : usage)(stderr);
        goto out;
    }
    r.classify = classify;
    vg_detect_opts_init(&r.cut);
    r.cut.top_k = (int)k;
    if (classify && threshold < 0)
        threshold = 1e-6;   /* as /v1/classify: k decides what comes back, however unsure */
    if (classes_arg)
        nclasses = split_classes(classes_arg, classes, MAX_CLASSES_ARG);
    if (!format_given)
        r.table = isatty(1);
    if (annotate) {
        struct stat st;
        if (stat(annotate, &st) == 0 && S_ISDIR(st.st_mode)) {
            r.annotate_dir = annotate;
        } else if (npaths > 1) {
            fprintf(stderr, "vigia %s: --annotate %s: one file takes one image; name a folder for %zu\n", prog,
                    annotate, npaths);
            goto out;
        } else {
            r.annotate_file = annotate;
        }
    }
    if (backend && backend[0] != '/' && strcmp(backend, "auto") != 0) {
        static const char *const known[] = VG_BACKEND_AUTO_ORDER;
        int found = 0;
        for (int i = 0; known[i]; i++)
            found |= strcmp(backend, known[i]) == 0;
        if (!found) {
            fprintf(stderr, "vigia %s: unknown backend '%s' (known: auto", prog, backend);
            for (int i = 0; known[i]; i++)
                fprintf(stderr, ", %s", known[i]);
            fprintf(stderr, ", or a plugin's absolute path)\n");
            goto out;
        }
    }

    /* a CLI's stderr is for its own messages, each problem said once: the server's log lines only
     * when asked for debug */
    enum vg_log_level lvl = VG_LOG_OFF;
    if (cfg->log_level && vg_log_level_parse(cfg->log_level, &lvl) == 0 && lvl != VG_LOG_DEBUG)
        lvl = VG_LOG_OFF;
    vg_log_set_level(lvl);
    vg_log_set_blocking(1);
    vg_log_set_process("detect");

    const char *models_dir = cfg->models_dir;
    if (!mf.graph && (mf.names || mf.resize || mf.mean || mf.std || mf.head)) {
        fprintf(stderr, "vigia %s: --names, --resize, --mean, --std and --head go with --model-file\n", prog);
        goto out;
    }
    if (mf.graph) {
        if (model || !mf.names) {
            fprintf(stderr, "vigia %s: --model-file %s\n", prog, model ? "replaces --model" : "needs --names FILE");
            goto out;
        }
        mf.backend = backend;
        if (classify && !mf.resize)
            mf.resize = "stretch";   /* a classifier looks at the whole frame */
        if (vg_model_file_make(&mf, err, sizeof err) != 0) {
            fprintf(stderr, "vigia %s: %s\n", prog, err);
            goto out;
        }
        models_dir = mf.root;
        model = mf.name;
    }
    if (!model && classify) {
        fprintf(stderr, "vigia classify: name a classifier: --model NAME or --model-file FILE.onnx --names FILE\n");
        goto out;
    }
    if (!model) {
        int n = vg_model_scan(cfg->models_dir, pick_default, defname);
        if (n <= 0) {
            fprintf(stderr, "vigia %s: no models in %s%s\n", prog, cfg->models_dir,
                    n < 0 ? "" : " (scripts/fetch-models puts them there)");
            goto out;
        }
        model = defname;
    }

    vg_pool_options po;
    vg_pool_options_init(&po);
    po.models_dir = models_dir;
    po.backend_dir = cfg->backends_dir && cfg->backends_dir[0] ? cfg->backends_dir : NULL;
    po.queue_max = (unsigned)npaths + 1;
    po.job_timeout_ms = (uint32_t)(timeout * 1000);
    if (lvl == VG_LOG_OFF)
        null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    po.log_fd = lvl == VG_LOG_OFF ? null_fd : 2;
    if (!jobs)
        jobs = cfg->workers > 0 ? cfg->workers : 1;
    if ((size_t)jobs > npaths)
        jobs = (long)npaths;
    r.loop = ev_loop_new(EVFLAG_AUTO);
    if (!r.loop) {
        fprintf(stderr, "vigia %s: cannot create an event loop\n", prog);
        goto out;
    }
    if (vg_pool_create(r.loop, &po, &r.pool) != 0) {
        fprintf(stderr, "vigia %s: cannot create the worker pool\n", prog);
        goto out;
    }
    if (vg_pool_model_load(r.pool, model, backend, (unsigned)jobs, err, sizeof err) != 0) {
        fprintf(stderr, "vigia %s: %s\n", prog, err);
        goto out;
    }

    r.items = calloc(npaths, sizeof *r.items);
    if (!r.items)
        goto out;
    r.n = npaths;
    await_model(&r, model);
    {
        vg_pool_model_stats st;
        if (vg_pool_model_stats_by_name(r.pool, model, &st) == 0 && strcmp(st.state, "ready") == 0 &&
            (st.task == VG_POOL_TASK_CLASSIFY) != classify) {
            fprintf(stderr, "vigia %s: model %s %s: use vigia %s\n", prog, model,
                    classify ? "detects objects" : "classifies images", classify ? "detect" : "classify");
            goto out;
        }
    }
    for (size_t i = 0; i < npaths; i++) {
        item *it = &r.items[i];
        it->path = paths[i];
        vg_buf_init(&it->line);
        if (read_input(it->path, po.max_image_bytes, &it->data, &it->len, err, sizeof err) != 0) {
            item_error(&r, it, strncmp(err, "no such file", 12) == 0 ? VG_E_NOTFOUND : VG_E_IO, err);
            continue;
        }
        vg_pool_job job = {
            .image = it->data, .image_len = it->len,
            .min_confidence = (float)threshold, .nms = (float)nms,
            .classes = nclasses ? classes : NULL, .nclasses = nclasses,
            .annotate = annotate != NULL,
        };
        /* the pool uses the bytes in place and frees them when done */
        job.image_free = free_item_data;
        job.image_ctx = it;
        cbctx *c = malloc(sizeof *c);
        if (!c) {
            item_error(&r, it, -ENOMEM, "out of memory");
            continue;
        }
        c->r = &r;
        c->it = it;
        int s = vg_pool_submit(r.pool, model, &job, on_answer, c, NULL, err, sizeof err);
        if (s != 0) {
            free(c);
            item_error(&r, it, s, err);
            if (s == VG_E_INVAL) {
                fprintf(stderr, "vigia %s: %s\n", prog, err);
                rc = 2;
                flush_ready(&r);
                goto out;
            }
            continue;
        }
        r.pending++;
    }
    flush_ready(&r);
    if (r.pending)
        ev_run(r.loop, 0);
    flush_ready(&r);
    vg_pool_stop(r.pool, 5000, on_stopped, &r);
    ev_run(r.loop, 0);
    if (r.unavailable) {
        fprintf(stderr, "vigia %s: model %s cannot run: %s\n", prog, model, r.unavailable_why);
        rc = 2;
    } else {
        rc = r.failed ? 1 : 0;
    }
out:
    if (r.pool)
        vg_pool_destroy(r.pool);
    if (r.loop)
        ev_loop_destroy(r.loop);
    for (size_t i = 0; r.items && i < r.n; i++) {
        free(r.items[i].data);
        vg_buf_release(&r.items[i].line);
    }
    free(r.items);
    free(paths);
    vg_model_file_remove(&mf);
    if (null_fd >= 0)
        close(null_fd);
    return rc;
}


int
vg_detect_cli_run(const vg_config *cfg, int argc, char **argv)
{
    return cli_run(cfg, 0, argc, argv);
}


int
vg_classify_cli_run(const vg_config *cfg, int argc, char **argv)
{
    return cli_run(cfg, 1, argc, argv);
}
