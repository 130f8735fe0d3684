/*
 * detector: the whole detection path in one process: decode, stretch or
 * letterbox (the model's `resize`), backend infer, postprocess, optional
 * annotation.
 *
 * Used inside worker processes (worker.c) and by one-shot tools that never
 * fork afterwards (tests, vigia-plugin-check). It starts libvips and loads
 * a backend plugin, so the server master never creates one.
 * Not thread-safe: one detector per thread.
 */
#ifndef VG_DETECTOR_H
#define VG_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

#include <vigia/backend.h>

#include "pipeline/image.h"
#include "pipeline/model.h"
#include "pipeline/postprocess.h"

#define VG_DETECTOR_CANDIDATES 4096   /* candidate boxes per image handed to a backend */

typedef struct vg_detector vg_detector;

typedef struct vg_detector_options {
    const char *backend_dir;       /* plugin directory; NULL: the default places */
    const char *backend;           /* overrides the manifest's backend; NULL: keep */
    vg_image_limits limits;        /* decode limits; zeros: no limit */
    int full_decode;               /* decode every image at full size, never reduced to the
                                      network input (vg_image_decode_at); the reference path */
    int worker;                    /* this worker's number within the model (its device) */
} vg_detector_options;

/* One image to detect on. */
typedef struct vg_detect_input {
    const void *image;             /* encoded bytes */
    size_t len;
    float threshold;               /* < 0: the manifest's */
    float nms;                     /* < 0: the manifest's */
    const uint8_t *class_mask;     /* model->classes bytes, non-zero = keep; NULL = all */
    int annotate;                  /* also produce an annotated JPEG */
    int quality;                   /* its JPEG quality; 0 = 85 */
    int attributes;                /* VG_ATTR_* (colors.h): estimated on the decoded pixels */
} vg_detect_input;

typedef struct vg_detect_result {
    int status;                    /* 0 or a VG_E_* code for this image */
    char err[320];                 /* why, when status != 0 */
    int w, h;                      /* image size after auto-rotation */
    vg_detection *dets;            /* malloc'd, labels point into the model */
    size_t n;
    uint64_t decode_us, infer_us, post_us, annotate_us;
    uint8_t *jpeg;                 /* malloc'd annotated JPEG or NULL */
    size_t jpeg_len;
} vg_detect_result;

/*
 * Starts libvips, loads the backend (auto-selection included) and opens
 * the model. `model` must outlive the detector. Errors: see
 * vg_backend_open_model(); err says why.
 */
int vg_detector_open(const vg_model *model, const vg_detector_options *opts,
                     vg_detector **out, char *err, size_t errlen);
void vg_detector_close(vg_detector *d);

/* What was loaded. Strings live as long as the detector. */
const char *vg_detector_backend(const vg_detector *d);        /* "darknet" */
const char *vg_detector_backend_version(const vg_detector *d);
const char *vg_detector_why(const vg_detector *d);            /* auto-selection trail */
const vigia_model_info *vg_detector_info(const vg_detector *d);
/* info->classes labels: the names file's when the manifest has one, else the plugin's. */
const char *const *vg_detector_labels(const vg_detector *d);
/* The input geometry in use, "stretch" or "letterbox", and where it came from:
 * "manifest", "cfg", "default", or the backend that only letterboxes. */
const char *vg_detector_resize(const vg_detector *d);
const char *vg_detector_resize_why(const vg_detector *d);

/*
 * Runs n images (1 <= n <= info->max_batch) through one backend call,
 * prepared as the backend described its input. Each result gets its own
 * status: a bad image, or one the backend failed alone, fails alone.
 * Returns 0, or a negative code when the backend call itself failed
 * (every result then carries VG_E_BACKEND). A transient failure
 * (VIGIA_EAGAIN) is run once more first; a permanent one (VIGIA_EFATAL)
 * leaves the detector failed: see vg_detector_failed(). Release each
 * result with vg_detect_result_release().
 */
int vg_detector_run(vg_detector *d, size_t n, const vg_detect_input *in, vg_detect_result *out);
void vg_detect_result_release(vg_detect_result *r);

/*
 * For tools that call the backend themselves (vigia-plugin-check): prepares
 * one encoded image exactly as vg_detector_run() would hand it to the
 * backend (decode, resize, the tensor the input descriptor asks for) into
 * `out`, which holds vg_detector_input_bytes() bytes; `view` gets the
 * image's description, its data pointing at `out`, or at `image` itself
 * for a backend that decodes (ENCODED: nothing is written to out, and
 * `image` must outlive the view). 0, or a VG_E_* code with err set.
 */
size_t vg_detector_input_bytes(const vg_detector *d);
int vg_detector_prepare(vg_detector *d, const void *image, size_t len, void *out, vigia_image *view,
                        char *err, size_t errlen);

/*
 * NULL while the backend can run; after it answered VIGIA_EFATAL, why (the
 * backend's message): every later run fails at once with it, and the model
 * should be marked failed.
 */
const char *vg_detector_failed(const vg_detector *d);

#endif
