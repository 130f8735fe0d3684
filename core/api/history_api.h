/*
 * history_api: what vigia saw. Records every detection through the store
 * (with its image when history.images keeps one), and serves:
 *
 *   GET  /v1/detections                viewer: filters since, until (unix seconds),
 *                                      label, user (id), source, model; newest first;
 *                                      limit (1..1000, 50) and cursor pagination
 *   GET  /v1/detections/{id}           viewer: one detection
 *   GET  /v1/detections/{id}/image     viewer: its image, when kept
 *   POST /v1/feedback                  operator: {"detection_id", "correct"?, "label"?, "text"?} -> 201
 *   GET  /v1/feedback                  admin: newest first, filter detection_id, cursor pagination
 *   GET  /v1/stats                     viewer: period=hour|day|shift, since, until: counts per
 *                                      label and model, latency percentiles (incremental aggregates)
 *
 * docs/api.md has the formats.
 */
#ifndef VG_HISTORY_API_H
#define VG_HISTORY_API_H

#include <stddef.h>
#include <stdint.h>

#include "http/reply.h"
#include "pipeline/postprocess.h"
#include "store/store_read.h"

struct vg_http;
struct vg_store;
struct vg_principal;
typedef struct vg_history vg_history;

enum vg_history_images { VG_HIST_IMG_NONE = 0, VG_HIST_IMG_ANNOTATED = 1, VG_HIST_IMG_ORIGINAL = 2 };

vg_history *vg_history_create(struct vg_http *http, struct vg_store *store);
void vg_history_destroy(vg_history *h);

/* Which image a stored detection keeps (history.images). */
int vg_history_images(const vg_history *h);
/* Whether detections are stored by default (history.store). */
int vg_history_enabled(const vg_history *h);

/*
 * A stored list's page, for the routes that list records (detections,
 * feedback, track events): vg_history_page_open parses the query's filters
 * (since, until, label, source, model, user, limit, cursor) into f and opens
 * the answer a with {"key":[ ; -1 after answering 422. vg_history_page_send
 * answers the page read with rc: the records written into a->w, then
 * "count" and "next_cursor" (null on the last page); a store error is
 * answered with `what`.
 */
int vg_history_page_open(struct vg_req *r, vg_det_filter *f, vg_reply *a, const char *key);
void vg_history_page_send(vg_reply *a, struct vg_req *r, int rc, const vg_store_page *page, const char *what);

/* One detection to store. Pointers are read during vg_history_record() only. */
typedef struct vg_history_rec {
    uint64_t uid;                  /* 0: anonymous */
    const char *user;              /* name, or NULL */
    const char *source;            /* "http", "deepstack", a camera name, ... */
    const char *model, *backend;
    int width, height;
    const vg_detection *dets;
    size_t count;
    int task;                      /* VG_POOL_TASK_*: a classifier's dets are classes of the whole image */
    uint64_t queue_us, decode_us, infer_us, post_us, annotate_us, total_us;
    const void *image;             /* the image to keep, or NULL */
    size_t image_len;
} vg_history_rec;

/*
 * Sends the record to the store; its id (32 hex digits, time-ordered) is
 * written to id at once. cb fires once the store committed it (status 0)
 * or failed (a VG_E_* code). Returns 0, or an error without firing cb.
 */
int vg_history_record(vg_history *h, const vg_history_rec *rec, char id[33],
                      void (*cb)(int status, void *ud), void *ud);

/*
 * A unique tracked object of `label` (a stream's track, when it is
 * confirmed) and/or a person track's voted colours (when it ends), counted
 * in /v1/stats's buckets at t_ms (unix ms). NULL or "" leaves a part out.
 * Kept while history.store is on. Returns 0 (sent), 1 (history.store is
 * off: nothing counted) or an error (the store is busy or down).
 */
int vg_history_unique(vg_history *h, uint64_t t_ms, const char *label, const char *upper, const char *lower);

#endif
