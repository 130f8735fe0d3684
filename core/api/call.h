/*
 * call: one client call's detection jobs, the part every route that runs
 * images through the pool shares (/v1/detect and its batch, DeepStack,
 * /v1/compare, KServe's infer). The route module keeps what is its
 * dialect's: its fields, its answer, its errors.
 *
 *   intake   vg_call_read() takes the request body into the call and reads
 *            it by its type: a multipart form (image fields and option
 *            fields), JSON (the route reads the members; base64 images and
 *            data URLs go in with vg_call_add_base64()), or the raw image.
 *            Images point into the body or into buffers of their own; a
 *            buffer is freed with the last job that reads it.
 *   fan-out  vg_call_submit() sends every image x model to the pool (one
 *            model, or the models of vg_call_add_model()), in the call's
 *            lane (vg_call_set_lane(): the NVR routes' jobs go first).
 *   abort    when the client leaves, every job still queued or running is
 *            canceled (its item ends with VG_E_CANCELED).
 *   finish   done() runs once, when every item is in: its result or error,
 *            and its record's commit or refusal when the call records
 *            (vg_call_record()). The route renders its answer there, once;
 *            the call is freed when done() returns.
 *
 * The live streams and the zmq detector send one image at a time outside
 * any call; they share vg_call_job_init() and vg_call_history_rec().
 */
#ifndef VG_CALL_H
#define VG_CALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/detect_opts.h"
#include "api/history_api.h"
#include "pipeline/model.h"
#include "pool/pool.h"

struct vg_req;
struct vg_server;
struct json_t;
typedef struct vg_call vg_call;
typedef struct vg_call_buf vg_call_buf;

/* One image on one model: what went in, and what came out. */
typedef struct vg_call_item {
    const void *image;                  /* the bytes its job reads */
    size_t image_len;
    char model[VG_MODEL_NAME_MAX + 1];  /* the model it runs on; "" the pool's default */
    char id[33];                        /* its detection's id: the stored record's once recorded */
    int status;                         /* once in: 0, or a VG_E_* code */
    const char *message;                /* status != 0: the pool's reason ("" when it gave none) */
    vg_pool_result res;                 /* status == 0: the result, kept (its strings, detections and
                                           JPEG are the item's until the call is freed) */
    int unstored;                       /* recorded, but the store refused or lost the record */
    /* the call module's */
    vg_call *_call;
    vg_call_buf *_buf;                  /* holds the memory `image` points into */
    vg_pool_req *_preq;                 /* while the job is out */
    int _pending, _storing;
    void *_mem;                         /* res's strings and detections; the message */
} vg_call_item;

/*
 * A call for the request r (NULL: none; nothing is then canceled).
 * *inflight (may be NULL) counts the call until it is freed.
 */
vg_call *vg_call_create(vg_pool *pool, struct vg_req *r, int *inflight);
/* The server's drain waits while *inflight (a module's count of its calls) is not 0. */
void vg_call_count_busy(struct vg_server *srv, int *inflight);
/* Frees a call that was not submitted (a refused request). */
void vg_call_destroy(vg_call *c);

/* ---- intake ---------------------------------------------------------- */

/*
 * Each of `names` (NULL-terminated) that the request's query has goes to
 * option(ud, name, value, err, errlen), in order. Returns 0, or -1 with
 * err at the first value option() refuses (< 0).
 */
int vg_call_query(struct vg_req *r, const char *const *names,
                  int (*option)(void *ud, const char *name, const char *value, char *err, size_t errlen),
                  void *ud, char *err, size_t errlen);

/* The request body becomes the call's (vg_req_take_body()); images may point into it. */
char *vg_call_take_body(vg_call *c, size_t *len);
/* An image inside the body. */
void vg_call_add(vg_call *c, const void *image, size_t len);
/* An image in buf (malloc'd): the call owns it now. */
void vg_call_add_owned(vg_call *c, void *buf, size_t len);
/*
 * An image in base64, or a data URL of one. Returns its length, or -1
 * with err ("malformed data URL", "the image is not valid base64") and
 * no image added.
 */
ssize_t vg_call_add_base64(vg_call *c, const char *s, size_t n, char *err, size_t errlen);
int vg_call_count(const vg_call *c);
/* Valid until the next image is added, then from vg_call_submit() to the end of done(). */
vg_call_item *vg_call_item_at(vg_call *c, int i);

/* What a route takes from a request body (vg_call_read()). */
typedef struct vg_call_form {
    const char *const *image_fields;    /* the form fields that are images, NULL-terminated */
    int max_images;                     /* one more is refused: */
    int too_many_status;                /* with this status (0: 413) */
    const char *too_many;               /* and message (NULL: "more than N images") */
    /* A form field that is not an image (under 1 KiB), as text; < 0 refuses it with err (400). */
    int (*option)(void *ud, const char *name, const char *value, char *err, size_t errlen);
    /* A JSON body (an object): the route reads its members. 0, or an HTTP status with err. */
    int (*json)(void *ud, vg_call *c, struct json_t *root, char *err, size_t errlen);
    void *ud;
} vg_call_form;

/* What the body was. */
enum { VG_CALL_RAW, VG_CALL_MULTIPART, VG_CALL_JSON };

/*
 * Takes the request body into the call and reads it by its Content-Type:
 * multipart/form-data (image fields become images, other fields under
 * 1 KiB go to option()), application/json (json() reads the object), else
 * the body is one image (none when it is empty). *kind says which.
 * Returns 0, or an HTTP status with err ("malformed JSON body: ...", the
 * form's own error, too many images, or what option() or json() said).
 */
int vg_call_read(vg_call *c, const vg_call_form *f, int *kind, char *err, size_t errlen);

/* ---- fan-out, records, the finish -------------------------------------- */

/*
 * A model every image runs on (in the order added), when fewer than max
 * are there. Returns 1; 0 when it is there already; -1 when max are.
 */
int vg_call_add_model(vg_call *c, const char *name, int max);
int vg_call_model_count(const vg_call *c);

/*
 * Records each successful item in h as coming from `source`, on behalf of
 * the request's caller (vg_auth_principal()): an item's id becomes its
 * record's, and the call finishes only once the store has committed or
 * refused the record (vg_call_item.unstored). When h keeps annotated
 * images, every job draws one. Call before vg_call_submit().
 */
void vg_call_record(vg_call *c, vg_history *h, const char *source);

/*
 * The pool lane the call's jobs wait in (pool.h, "lanes"):
 * VG_POOL_LANE_BULK (the default) or VG_POOL_LANE_NVR for the routes whose
 * clients give up after a short timeout (DeepStack and CodeProject.AI).
 * Call before vg_call_submit().
 */
void vg_call_set_lane(vg_call *c, int lane);

/*
 * The task every result must be (VG_POOL_TASK_DETECT or _CLASSIFY; -1, the
 * default: any). A result of another task ends its item with
 * VG_E_WRONGTASK (400) naming the route to use, and is never recorded.
 * Call before vg_call_submit().
 */
void vg_call_set_task(vg_call *c, int task);

typedef void (*vg_call_done_fn)(vg_call *c, void *ud);

/*
 * Sends every item to the pool with opt's detection options (NULL: the
 * model's), on each model added, else on `model` (NULL or "": the
 * default). done(c, ud) runs once every item is in -- within this call
 * when the pool refused every job -- and the call is freed when it returns.
 */
void vg_call_submit(vg_call *c, const char *model, const vg_detect_opts *opt, vg_call_done_fn done, void *ud);

struct vg_req *vg_call_req(vg_call *c);
/* The call's own id (its first item's until that is recorded). */
const char *vg_call_id(const vg_call *c);
/* A failed item's reason: the pool's message, else its error's. */
const char *vg_call_item_message(const vg_call_item *it);
/*
 * The HTTP status that answers a failed item (a canceled job's 499 answers
 * 400), adding Retry-After when its model's queue was full.
 */
int vg_call_error_status(vg_call *c, const vg_call_item *it);

/* ---- one image, outside a call ------------------------------------------ */

/*
 * A pool job for `image` with opt's detection options (NULL: the model's):
 * release(ctx) runs once the pool no longer reads the image (only when the
 * pool took the job).
 */
void vg_call_job_init(vg_pool_job *job, const vg_detect_opts *opt, const void *image, size_t len,
                      void (*release)(void *ctx), void *ctx);
/*
 * Fills a history record from a result: what was found, the timings, and
 * the image h keeps (the annotated JPEG, or `image`: the bytes submitted,
 * NULL when they are gone). Who and the source are the caller's to set.
 */
void vg_call_history_rec(vg_history_rec *rec, const vg_history *h, const vg_pool_result *res, const void *image,
                         size_t image_len);

#endif
