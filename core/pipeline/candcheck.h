/*
 * candcheck: what the host refuses in a backend's candidates before
 * postprocessing them (the plugin contract of vigia/backend.h, enforced).
 *
 * A plugin that reports more candidates than the arrays it was given, or
 * a box that is not finite, has a negative size, is in pixels instead of
 * fractions of the input, or lies wholly outside the input, is broken: the
 * image is answered VG_E_BACKEND (500) naming the backend, the model and
 * the first bad candidate, never a phantom or a silently dropped detection.
 * Only candidates that carry a score are judged (an all-zero row is what a
 * backend leaves in unused slots). A box that merely overlaps the edge is
 * normal and gets clamped by postprocess.
 *
 * Each model's refusals are logged once with a running count: the first,
 * then the 10th, 100th, 1000th... (a per-detector counter). Pure
 * computation apart from that log line; one guard per detector.
 */
#ifndef VG_CANDCHECK_H
#define VG_CANDCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <vigia/backend.h>

/* Coordinates beyond these (fractions of the input) are taken for pixels. */
#define VG_CANDCHECK_MAX_CENTRE 2.0f
#define VG_CANDCHECK_MIN_CENTRE (-1.0f)
#define VG_CANDCHECK_MAX_SIZE   4.0f

/* The refusals of one detector's model so far. Zero it to start. */
typedef struct vg_candcheck {
    uint64_t refused;              /* images answered VG_E_BACKEND for bad candidates */
} vg_candcheck;

/*
 * Judges `c` (a candidate set of `classes` scores per box) as returned by
 * backend `backend` for model `model`. 0 when it may be postprocessed;
 * VG_E_BACKEND with msg (lowercase, one line) saying what and which
 * candidate otherwise, logged as described above.
 */
int vg_candcheck_run(vg_candcheck *g, const vigia_candidates *c, int classes, const char *backend,
                     const char *model, char *msg, size_t msglen);

/*
 * The same for a classifier's answer: `classes` scores, each finite and in
 * [0, 1] (count and the candidate arrays are not used). 0 or VG_E_BACKEND
 * with msg set, logged as above.
 */
int vg_candcheck_scores(vg_candcheck *g, const float *scores, int classes, const char *backend,
                        const char *model, char *msg, size_t msglen);

#endif
