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
#include "pipeline/colors.h"
#include "base/clock.h"
#include "base/error.h"
#include "pipeline/detector.h"
#include "pipeline/rawimg.h"
#include "base/log.h"

struct vg_detector {
    const vg_model *model;
    vg_backend *be;
    vigia_model *bm;               /* the backend's model */
    vigia_model_info info;
    vg_image_limits limits;
    int full_decode;               /* never decode reduced (options) */
    char why[512];
    int resize;                    /* VG_RESIZE_*: the model's, unless the backend asks for one */
    int resize_none;               /* the backend takes images at its input size as they are */
    char resize_why[128];          /* where that choice came from */
    int converted;                 /* the backend's tensor is not planar RGB [0, 1] floats */
    size_t plane;                  /* floats of one planar RGB image (w * h * 3) */
    size_t tensor_bytes;           /* bytes of one image's tensor as the backend takes it */
    char failed[VIGIA_ERRLEN + 64];/* the backend said EFATAL: why; "" while usable */
    void *block;                   /* one allocation holding every buffer below */
    unsigned char *tensor;         /* max_batch tensors */
    float *scratch;                /* one planar RGB image, when converted */
    vigia_candidates *cand;        /* max_batch candidate sets */
    vigia_image *views;            /* max_batch image descriptions */
    float *box, *obj, *prob;       /* their storage */
    float *scores;                 /* classify: max_batch x classes */
    char *errs;                    /* max_batch per-image messages of VIGIA_ERRLEN */
    vg_image *images;              /* max_batch decoded images */
    vg_candcheck check;            /* malformed candidates refused so far */
    const char *const *labels;     /* info.classes: the names file's, else the plugin's */
};



void
vg_detector_close(vg_detector *d)
{
    if (!d)
        return;
    if (d->bm)
        vg_backend_close(d->be, d->bm);
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
 * one zeroed block: tensors, candidate lists, image views, boxes,
 * objectness, class scores, classify scores, messages, decoded images, the
 * conversion scratch. 0, or -1 when out of memory.
 */
static int
alloc_buffers(vg_detector *d, size_t nb, size_t cap)
{
    size_t classes = (size_t)d->info.classes;
    enum { N = 10 };
    size_t size[N] = {
        nb * d->tensor_bytes, nb * sizeof *d->cand, nb * sizeof *d->views, nb * cap * 4 * sizeof(float),
        nb * cap * sizeof(float), nb * cap * classes * sizeof(float), nb * classes * sizeof(float),
        nb * VIGIA_ERRLEN, nb * sizeof *d->images, d->converted ? d->plane * sizeof(float) : 0,
    };
    size_t off[N], total = 0;
    for (int i = 0; i < N; i++) {
        off[i] = total;
        total += line_up(size[i]);
    }
    if (posix_memalign(&d->block, 64, total) != 0) {
        d->block = NULL;
        return -1;
    }
    char *p = d->block;
    memset(p, 0, total);
    d->tensor = (unsigned char *)(p + off[0]);
    d->cand = (vigia_candidates *)(p + off[1]);
    d->views = (vigia_image *)(p + off[2]);
    d->box = (float *)(p + off[3]);
    d->obj = (float *)(p + off[4]);
    d->prob = (float *)(p + off[5]);
    d->scores = (float *)(p + off[6]);
    d->errs = p + off[7];
    d->images = (vg_image *)(p + off[8]);
    d->scratch = d->converted ? (float *)(p + off[9]) : NULL;
    return 0;
}


/* The input geometry the backend asked for, else the model's (manifest or cfg). */
static void
pick_resize(vg_detector *d)
{
    const vigia_input_desc *in = &d->info.input;
    const char *name = d->be->table.name;
    d->resize = d->model->resize;
    snprintf(d->resize_why, sizeof d->resize_why, "%s", d->model->resize_from);
    if (in->dtype == VIGIA_DTYPE_ENCODED || in->resize == VIGIA_RESIZE_NONE) {
        d->resize = VG_RESIZE_STRETCH;     /* boxes are fractions of the image itself */
        d->resize_none = 1;
        snprintf(d->resize_why, sizeof d->resize_why, "backend %.32s takes %s", name,
                 in->dtype == VIGIA_DTYPE_ENCODED ? "encoded images" : "images at its input size");
    } else if (in->resize == VIGIA_RESIZE_LETTERBOX || in->resize == VIGIA_RESIZE_STRETCH) {
        d->resize = in->resize == VIGIA_RESIZE_LETTERBOX ? VG_RESIZE_LETTERBOX : VG_RESIZE_STRETCH;
        snprintf(d->resize_why, sizeof d->resize_why, "backend %.32s only %s", name,
                 in->resize == VIGIA_RESIZE_LETTERBOX ? "letterboxes" : "stretches");
    }
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
                               opts ? opts->worker : 0, &d->be, &d->bm, &d->info, d->why, sizeof d->why, err, errlen);
    if (rc != 0)
        goto fail;
    pick_resize(d);
    d->labels = model->names_path ? (const char *const *)model->labels : d->info.labels;
    if ((unsigned)d->info.max_batch > model->batch)
        d->info.max_batch = (int)model->batch;
    size_t nb = (size_t)d->info.max_batch;
    size_t cap = d->info.task == VIGIA_TASK_CLASSIFY ? 0 : VG_DETECTOR_CANDIDATES;
    const vigia_input_desc *in = &d->info.input;
    if (in->dtype != VIGIA_DTYPE_ENCODED) {
        d->plane = (size_t)d->info.input_w * d->info.input_h * 3;
        d->tensor_bytes = vg_tensor_bytes(in, d->info.input_w, d->info.input_h);
        d->converted = !vg_tensor_is_planar_rgb(in);
    }
    if (alloc_buffers(d, nb, cap) != 0) {
        snprintf(err, errlen, "out of memory for %zu tensors of %dx%d", nb, d->info.input_w, d->info.input_h);
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nb; i++) {
        d->cand[i].struct_size = sizeof d->cand[i];
        d->cand[i].capacity = (uint32_t)cap;
        d->cand[i].box = d->box + i * cap * 4;
        d->cand[i].objectness = d->obj + i * cap;
        d->cand[i].prob = d->prob + i * cap * (size_t)d->info.classes;
        if (d->info.task == VIGIA_TASK_CLASSIFY)
            d->cand[i].scores = d->scores + i * (size_t)d->info.classes;
        d->cand[i].err = d->errs + i * VIGIA_ERRLEN;
        d->cand[i].errlen = VIGIA_ERRLEN;
        d->views[i].struct_size = sizeof d->views[i];
    }
    *out = d;
    return 0;
fail:
    vg_detector_close(d);
    return rc;
}


const char *vg_detector_backend(const vg_detector *d) { return d->be->table.name; }
const char *vg_detector_backend_version(const vg_detector *d) { return d->be->table.version ? d->be->table.version : ""; }
const char *vg_detector_failed(const vg_detector *d) { return d->failed[0] ? d->failed : NULL; }
const char *vg_detector_why(const vg_detector *d) { return d->why; }
const vigia_model_info *vg_detector_info(const vg_detector *d) { return &d->info; }
const char *const *vg_detector_labels(const vg_detector *d) { return d->labels; }
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


/*
 * Decodes image x into batch slot `slot` and prepares it as the backend
 * asked (tensor, or the encoded bytes). 0, or a code with r->err set.
 */
static int
prepare(vg_detector *d, const vg_detect_input *x, size_t slot, vg_detect_result *r)
{
    const vigia_input_desc *in = &d->info.input;
    vg_image *im = &d->images[slot];
    vigia_image *v = &d->views[slot];
    int w = d->info.input_w, h = d->info.input_h, rc;
    if (in->dtype == VIGIA_DTYPE_ENCODED && !x->annotate && !x->attributes) {
        /* the backend decodes: the host only checks the limits and reads the size */
        if ((rc = vg_image_probe(x->image, x->len, &d->limits, &r->w, &r->h, r->err, sizeof r->err)) != 0)
            return rc;
        v->width = r->w;
        v->height = r->h;
        v->data = x->image;
        v->len = x->len;
        return 0;
    }
    /*
     * decoded reduced, down to the network input, unless the full image is drawn on, sent as it
     * is, or letterboxed: darknet's bilinear resize samples a camera frame so sparsely that a
     * reduced decode moves its boxes (tests/pipeline/test_decode_scale), a stretch does not
     */
    int full = d->full_decode || x->annotate || d->resize_none || d->resize != VG_RESIZE_STRETCH;
    rc = vg_image_decode_at(x->image, x->len, &d->limits, full ? 0 : w, full ? 0 : h, im, r->err,
                                sizeof r->err);
    if (rc != 0)
        return rc;
    r->w = v->width = im->full_w;
    r->h = v->height = im->full_h;
    if (in->dtype == VIGIA_DTYPE_ENCODED) {      /* decoded here only to be drawn or estimated on */
        if (vg_rawimg_is(x->image, x->len)) {
            snprintf(r->err, sizeof r->err, "backend %s decodes images itself: raw pixels are not one",
                     d->be->table.name);
            vg_image_release(im);
            return VG_E_NOTIMAGE;
        }
        v->data = x->image;
        v->len = x->len;
        return 0;
    }
    if (d->resize_none && (im->w != w || im->h != h)) {
        snprintf(r->err, sizeof r->err, "backend %s takes %dx%d images as they are (resize none); this one is %dx%d",
                 d->be->table.name, w, h, im->w, im->h);
        vg_image_release(im);
        return VG_E_INVAL;
    }
    unsigned char *t = d->tensor + slot * d->tensor_bytes;
    float *chw = d->converted ? d->scratch : (float *)(void *)t;
    rc = d->resize == VG_RESIZE_STRETCH ? vg_image_stretch(im, w, h, chw) : vg_image_letterbox(im, w, h, chw);
    if (rc != 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        vg_image_release(im);
        return rc;
    }
    if (d->converted)
        vg_tensor_from_chw(chw, w, h, in, t);
    v->data = t;
    v->len = d->tensor_bytes;
    return 0;
}


size_t
vg_detector_input_bytes(const vg_detector *d)
{
    return d->tensor_bytes;
}


int
vg_detector_prepare(vg_detector *d, const void *image, size_t len, void *out, vigia_image *view,
                    char *err, size_t errlen)
{
    vg_detect_input x = { .image = image, .len = len, .threshold = -1, .nms = -1 };
    vg_detect_result r;
    memset(&r, 0, sizeof r);
    int rc = prepare(d, &x, 0, &r);
    if (rc != 0) {
        snprintf(err, errlen, "%s", r.err);
        return rc;
    }
    *view = d->views[0];
    if (d->info.input.dtype != VIGIA_DTYPE_ENCODED) {
        memcpy(out, d->tensor, d->tensor_bytes);
        view->data = out;
    }
    vg_image_release(&d->images[0]);
    return 0;
}


/*
 * One backend call for the nb prepared images, run once more when the
 * backend says the failure is transient (VIGIA_EAGAIN). A permanent one
 * (VIGIA_EFATAL) marks the detector failed. 0 or the backend's code, e set.
 */
static int
infer_batch(vg_detector *d, size_t nb, float thr, char *e, size_t elen)
{
    vigia_batch batch = {
        .struct_size = sizeof batch, .count = (uint32_t)nb, .images = d->views, .threshold = thr,
        .input = d->info.input.dtype == VIGIA_DTYPE_ENCODED ? NULL : d->tensor,
    };
    int ir = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        for (size_t s = 0; s < nb; s++) {
            d->cand[s].count = 0;
            d->cand[s].truncated = 0;
            d->cand[s].status = 0;
            d->cand[s].err[0] = '\0';
        }
        e[0] = '\0';
        ir = vg_backend_infer(d->be, d->bm, &batch, d->cand, e, elen);
        e[elen - 1] = '\0';
        if (ir != VIGIA_EAGAIN)
            break;
        vg_warn("detector", "%s: %s infer failed for now (%.200s)%s", d->model->name, d->be->table.name,
                e[0] ? e : "no message", attempt ? "" : ": running the batch once more");
    }
    if (ir == VIGIA_EFATAL) {
        snprintf(d->failed, sizeof d->failed, "%s: the backend can no longer run the model: %.250s",
                 d->be->table.name, e[0] ? e : "no message");
        vg_error("detector", "%s: %s", d->model->name, d->failed);
    }
    return ir;
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
        if (d->failed[0]) {
            set_error(&out[i], VG_E_BACKEND, d->failed);
            continue;
        }
        uint64_t t0 = vg_mono_us();
        int r = prepare(d, x, nb, &out[i]);
        if (r != 0) {
            out[i].status = r;
            continue;
        }
        out[i].decode_us = vg_mono_us() - t0;
        idx[nb++] = i;
    }
    if (nb == 0)
        return d->failed[0] ? VG_E_BACKEND : 0;

    /* the smallest threshold of the batch: each image filters its own after */
    float thr = 1;
    for (size_t s = 0; s < nb; s++) {
        const vg_detect_input *x = &in[idx[s]];
        float t = x->threshold < 0 ? d->model->threshold : x->threshold;
        if (t < thr)
            thr = t;
    }
    char e[VIGIA_ERRLEN] = "";
    uint64_t t0 = vg_mono_us();
    int ir = infer_batch(d, nb, thr, e, sizeof e);
    uint64_t infer_us = vg_mono_us() - t0;
    if (ir != 0) {
        char msg[288];
        snprintf(msg, sizeof msg, "%s infer: %.250s", d->be->table.name, e[0] ? e : "failed");
        for (size_t s = 0; s < nb; s++) {
            set_error(&out[idx[s]], VG_E_BACKEND, d->failed[0] ? d->failed : msg);
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
            .img_w = r->w, .img_h = r->h,          /* as sent (an encoded image is not decoded here) */
            .stretch = d->resize == VG_RESIZE_STRETCH,
            .classes = d->info.classes,
            .threshold = x->threshold < 0 ? d->model->threshold : x->threshold,
            /* a backend that returns final boxes ran its own NMS */
            .nms = d->info.output == VIGIA_OUTPUT_BOXES ? 0 : x->nms < 0 ? d->model->nms : x->nms,
            .diou_beta = vg_model_diou_beta(d->model),
            .class_mask = x->class_mask,
        };
        r->infer_us = infer_us;
        if (d->cand[s].truncated)
            vg_debug("detector", "%s: candidates truncated to %u", d->model->name, d->cand[s].count);
        if (d->cand[s].status != 0) {     /* this image alone failed in the backend */
            char msg[320];
            d->cand[s].err[VIGIA_ERRLEN - 1] = '\0';
            snprintf(msg, sizeof msg, "%s: %.250s", d->be->table.name, d->cand[s].err[0] ? d->cand[s].err : "failed");
            set_error(r, d->cand[s].status == VIGIA_EINVAL ? VG_E_DECODE : VG_E_BACKEND, msg);
            vg_image_release(im);
            continue;
        }
        int bad = d->info.task == VIGIA_TASK_CLASSIFY
                      ? vg_candcheck_scores(&d->check, d->cand[s].scores, d->info.classes, d->be->table.name,
                                            d->model->name, r->err, sizeof r->err)
                      : vg_candcheck_run(&d->check, &d->cand[s], d->info.classes, d->be->table.name,
                                         d->model->name, r->err, sizeof r->err);
        if (bad != 0) {
            r->status = VG_E_BACKEND;
            vg_image_release(im);
            continue;
        }
        t0 = vg_mono_us();
        int pr = d->info.task == VIGIA_TASK_CLASSIFY ? vg_post_scores(d->cand[s].scores, &pp, &r->dets, &r->n)
                                                     : vg_post_run(&d->cand[s], &pp, &r->dets, &r->n);
        r->post_us = vg_mono_us() - t0;
        if (pr != 0) {
            set_error(r, pr, pr == -ENOMEM ? "out of memory" : "backend returned malformed candidates");
            vg_image_release(im);
            rc = 0;
            continue;
        }
        for (size_t k = 0; k < r->n; k++)
            r->dets[k].label = d->labels[r->dets[k].class_id];
        if (x->attributes & VG_ATTR_COLORS)
            vg_colors_persons(im, r->dets, r->n);   /* on the pixels as decoded, before any resize */
        if (x->annotate) {
            t0 = vg_mono_us();
            int ar = vg_image_annotate(im, r->dets, r->n, x->quality, &r->jpeg, &r->jpeg_len,
                                       r->err, sizeof r->err);
            r->annotate_us = vg_mono_us() - t0;
            if (ar != 0) {
                r->status = ar;
                vg_detect_result_release(r);
            }
        }
        vg_image_release(im);
    }
    return rc;
}
