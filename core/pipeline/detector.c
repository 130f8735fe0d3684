/*
 * detector: decode -> stretch or letterbox -> infer -> postprocess -> annotate
 * (see detector.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/backend_loader.h"
#include "pipeline/candcheck.h"
#include "base/error.h"
#include "pipeline/detector.h"
#include "base/log.h"

struct vg_detector {
    const vg_model *model;
    vg_backend *be;
    vigia_model *bm;               /* the backend's model */
    vigia_model_info info;
    vg_image_limits limits;
    int full_decode;               /* never decode reduced (options) */
    char why[512];
    int resize;                    /* VG_RESIZE_*: the model's, unless the backend only letterboxes */
    char resize_why[128];          /* where that choice came from */
    size_t plane;                  /* floats per image tensor */
    void *block;                   /* one allocation holding every buffer below */
    float *tensor;                 /* max_batch tensors */
    vigia_candidates *cand;        /* max_batch candidate sets */
    float *box, *obj, *prob;       /* their storage */
    vg_image *images;              /* max_batch decoded images */
    vg_candcheck check;            /* malformed candidates refused so far */
};


static uint64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


void
vg_detector_close(vg_detector *d)
{
    if (!d)
        return;
    if (d->bm)
        d->be->ops->close(d->bm);
    vg_backend_unload(d->be);
    free(d->block);
    free(d);
}


/* Rounds n up to a cache line, so that each buffer of the block starts on one. */
static size_t
line_up(size_t n)
{
    return (n + 63) & ~(size_t)63;
}


/*
 * The buffers of a batch of nb images with up to cap candidates each, in
 * one zeroed block: tensors, candidate lists, boxes, objectness, class
 * scores, decoded images. 0, or -1 when out of memory.
 */
static int
alloc_buffers(vg_detector *d, size_t nb, size_t cap)
{
    size_t classes = (size_t)d->info.classes;
    size_t size[6] = {
        nb * d->plane * sizeof(float), nb * sizeof *d->cand, nb * cap * 4 * sizeof(float),
        nb * cap * sizeof(float), nb * cap * classes * sizeof(float), nb * sizeof *d->images,
    };
    size_t off[6], total = 0;
    for (int i = 0; i < 6; i++) {
        off[i] = total;
        total += line_up(size[i]);
    }
    if (posix_memalign(&d->block, 64, total) != 0) {
        d->block = NULL;
        return -1;
    }
    char *p = d->block;
    memset(p, 0, total);
    d->tensor = (float *)(p + off[0]);
    d->cand = (vigia_candidates *)(p + off[1]);
    d->box = (float *)(p + off[2]);
    d->obj = (float *)(p + off[3]);
    d->prob = (float *)(p + off[4]);
    d->images = (vg_image *)(p + off[5]);
    return 0;
}


int
vg_detector_open(const vg_model *model, const vg_detector_options *opts,
                 vg_detector **out, char *err, size_t errlen)
{
    vg_detector *d;
    int rc;

    *out = NULL;
    if ((rc = vg_image_init(err, errlen)) != 0)
        return rc;
    d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->model = model;
    if (opts) {
        d->limits = opts->limits;
        d->full_decode = opts->full_decode;
    }
    rc = vg_backend_open_model(opts ? opts->backend_dir : NULL, opts ? opts->backend : NULL, model,
                               &d->be, &d->bm, &d->info, d->why, sizeof d->why, err, errlen);
    if (rc != 0)
        goto fail;
    d->resize = model->resize;
    snprintf(d->resize_why, sizeof d->resize_why, "%s", model->resize_from);
    const vigia_backend *ops = d->be->ops;
    if (ops->struct_size >= offsetof(vigia_backend, only_resize) + sizeof ops->only_resize &&
        ops->only_resize && strcmp(ops->only_resize, "letterbox") == 0) {
        d->resize = VG_RESIZE_LETTERBOX;
        snprintf(d->resize_why, sizeof d->resize_why, "backend %.32s only letterboxes", ops->name);
    }
    if ((unsigned)d->info.max_batch > model->batch)
        d->info.max_batch = (int)model->batch;
    size_t nb = (size_t)d->info.max_batch;
    size_t cap = VG_DETECTOR_CANDIDATES;
    d->plane = (size_t)d->info.input_w * d->info.input_h * d->info.input_c;
    if (alloc_buffers(d, nb, cap) != 0) {
        snprintf(err, errlen, "out of memory for %zu tensors of %dx%d", nb, d->info.input_w, d->info.input_h);
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nb; i++) {
        d->cand[i].capacity = (uint32_t)cap;
        d->cand[i].box = d->box + i * cap * 4;
        d->cand[i].objectness = d->obj + i * cap;
        d->cand[i].prob = d->prob + i * cap * (size_t)d->info.classes;
    }
    *out = d;
    return 0;
fail:
    vg_detector_close(d);
    return rc;
}


const char *vg_detector_backend(const vg_detector *d) { return d->be->ops->name; }
const char *vg_detector_backend_version(const vg_detector *d) { return d->be->ops->version ? d->be->ops->version : ""; }
const char *vg_detector_why(const vg_detector *d) { return d->why; }
const vigia_model_info *vg_detector_info(const vg_detector *d) { return &d->info; }
const char *vg_detector_resize(const vg_detector *d) { return d->resize == VG_RESIZE_STRETCH ? "stretch" : "letterbox"; }
const char *vg_detector_resize_why(const vg_detector *d) { return d->resize_why; }


void
vg_detect_result_release(vg_detect_result *r)
{
    if (!r)
        return;
    free(r->dets);
    free(r->jpeg);
    r->dets = NULL;
    r->jpeg = NULL;
    r->n = r->jpeg_len = 0;
}


static void
set_error(vg_detect_result *r, int status, const char *msg)
{
    r->status = status;
    snprintf(r->err, sizeof r->err, "%s", msg);
}


int
vg_detector_run(vg_detector *d, size_t n, const vg_detect_input *in, vg_detect_result *out)
{
    size_t idx[VG_MODEL_MAX_BATCH];   /* result index of each tensor slot */
    size_t nb = 0;
    int rc = 0;

    if (n == 0 || n > (size_t)d->info.max_batch)
        return VG_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        const vg_detect_input *x = &in[i];
        float thr = x->threshold < 0 ? d->model->threshold : x->threshold;
        float nms = x->nms < 0 ? d->model->nms : x->nms;
        if (!(thr >= 0 && thr <= 1) || !(nms >= 0 && nms <= 1)) {
            set_error(&out[i], VG_E_INVAL, "threshold and nms must be in [0, 1]");
            continue;
        }
        uint64_t t0 = now_us();
        vg_image *im = &d->images[nb];
        /*
         * decoded reduced, down to the network input, unless the full image is drawn on or the
         * model letterboxes: darknet's bilinear resize samples a camera frame so sparsely that a
         * reduced decode moves its boxes (tests/pipeline/test_decode_scale), a stretch does not
         */
        int full = d->full_decode || x->annotate || d->resize != VG_RESIZE_STRETCH;
        int r = vg_image_decode_at(x->image, x->len, &d->limits, full ? 0 : d->info.input_w,
                                   full ? 0 : d->info.input_h, im, out[i].err, sizeof out[i].err);
        if (r != 0) {
            out[i].status = r;
            continue;
        }
        out[i].w = im->full_w;
        out[i].h = im->full_h;
        float *t = d->tensor + nb * d->plane;
        r = d->resize == VG_RESIZE_STRETCH ? vg_image_stretch(im, d->info.input_w, d->info.input_h, t)
                                           : vg_image_letterbox(im, d->info.input_w, d->info.input_h, t);
        if (r != 0) {
            set_error(&out[i], r, "out of memory");
            vg_image_release(im);
            continue;
        }
        out[i].decode_us = now_us() - t0;
        idx[nb++] = i;
    }
    if (nb == 0)
        return 0;

    /* the smallest threshold of the batch: each image filters its own after */
    float thr = 1;
    for (size_t s = 0; s < nb; s++) {
        const vg_detect_input *x = &in[idx[s]];
        float t = x->threshold < 0 ? d->model->threshold : x->threshold;
        if (t < thr)
            thr = t;
    }
    char e[VIGIA_ERRLEN] = "";
    for (size_t s = 0; s < nb; s++) {
        d->cand[s].count = 0;
        d->cand[s].truncated = 0;
    }
    uint64_t t0 = now_us();
    int ir = d->be->ops->infer(d->bm, d->tensor, (int)nb, thr, d->cand, e, sizeof e);
    uint64_t infer_us = now_us() - t0;
    e[sizeof e - 1] = '\0';
    if (ir != 0) {
        char msg[288];
        snprintf(msg, sizeof msg, "%s infer: %.250s", d->be->ops->name, e[0] ? e : "failed");
        for (size_t s = 0; s < nb; s++) {
            set_error(&out[idx[s]], VG_E_BACKEND, msg);
            vg_image_release(&d->images[s]);
        }
        return VG_E_BACKEND;
    }

    for (size_t s = 0; s < nb; s++) {
        const vg_detect_input *x = &in[idx[s]];
        vg_detect_result *r = &out[idx[s]];
        vg_image *im = &d->images[s];
        vg_post_params pp = {
            .net_w = d->info.input_w, .net_h = d->info.input_h,
            .img_w = im->full_w, .img_h = im->full_h,
            .stretch = d->resize == VG_RESIZE_STRETCH,
            .classes = d->info.classes,
            .threshold = x->threshold < 0 ? d->model->threshold : x->threshold,
            .nms = x->nms < 0 ? d->model->nms : x->nms,
            .diou_beta = vg_model_diou_beta(d->model),
            .class_mask = x->class_mask,
        };
        r->infer_us = infer_us;
        if (d->cand[s].truncated)
            vg_debug("detector", "%s: candidates truncated to %u", d->model->name, d->cand[s].count);
        if (vg_candcheck_run(&d->check, &d->cand[s], d->info.classes, d->be->ops->name, d->model->name,
                             r->err, sizeof r->err) != 0) {
            r->status = VG_E_BACKEND;
            vg_image_release(im);
            continue;
        }
        t0 = now_us();
        int pr = vg_post_run(&d->cand[s], &pp, &r->dets, &r->n);
        r->post_us = now_us() - t0;
        if (pr != 0) {
            set_error(r, pr, pr == -ENOMEM ? "out of memory" : "backend returned malformed candidates");
            vg_image_release(im);
            rc = 0;
            continue;
        }
        for (size_t k = 0; k < r->n; k++)
            r->dets[k].label = d->model->labels[r->dets[k].class_id];
        if (x->annotate) {
            t0 = now_us();
            int ar = vg_image_annotate(im, r->dets, r->n, x->quality, &r->jpeg, &r->jpeg_len,
                                       r->err, sizeof r->err);
            r->annotate_us = now_us() - t0;
            if (ar != 0) {
                r->status = ar;
                vg_detect_result_release(r);
            }
        }
        vg_image_release(im);
    }
    return rc;
}
