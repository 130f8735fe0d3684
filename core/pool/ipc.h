/*
 * ipc: the master <-> worker protocol. A stream of frames over a
 * socketpair (base/frame.h: a 4-byte big-endian payload length, then the
 * payload), each payload one msgpack map.
 *
 * Messages ("t" key):
 *   master -> worker   JOB     one image and its options
 *                      QUIT    finish the current job and exit
 *   worker -> master   READY   model loaded: backend, device, input size, and the
 *                              labels when the plugin supplies them (no names file)
 *                      FATAL   cannot serve (model/back-end failure), then exit
 *                      RESULT  the answer to one JOB
 *
 * Large byte strings (a JOB's image, a RESULT's JPEG) are the last value
 * of their map, so an encoder writes a small prefix and the caller sends
 * the bytes from where they already are (writev): the image is copied only
 * by the kernel. Decoding never copies them either: decoded strings and
 * byte arrays point into the frame and live as long as it does.
 *
 * Every length is bounded: a frame by the reader's maximum, each field by
 * the limits below; anything malformed is VG_E_PROTO, never a crash.
 */
#ifndef VG_IPC_H
#define VG_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/frame.h"
#include "pipeline/model.h"
#include "pipeline/overlay.h"
#include "pipeline/postprocess.h"

#define VG_IPC_HDR        VG_FRAME_HDR      /* frame header bytes */
#define VG_IPC_MAX_FRAME  VG_FRAME_MAX      /* largest payload */
#define VG_IPC_MAX_STR    4096              /* longest string field */
#define VG_IPC_MAX_LABELS VG_MODEL_MAX_LABELS  /* labels in a READY */
#define VG_IPC_MAX_LABEL  VG_MODEL_LABEL_MAX   /* bytes of one label (never empty) */

enum vg_ipc_type {
    VG_IPC_JOB = 1,
    VG_IPC_QUIT = 2,
    VG_IPC_READY = 3,
    VG_IPC_FATAL = 4,
    VG_IPC_RESULT = 5
};

typedef struct vg_ipc_job {
    uint64_t id;
    float threshold;               /* < 0: the model's */
    float nms;                     /* < 0: the model's */
    const uint8_t *class_mask;     /* one byte per class, or NULL */
    size_t mask_len;
    int annotate;
    int quality;
    int attributes;                /* VG_ATTR_* (pipeline/colors.h) */
    /* an overlay job ("ov"): draw this on the image and answer its JPEG, no
       inference; decoded: malloc'd, freed by vg_ipc_msg_release() */
    const vg_overlay *overlay;
    const uint8_t *image;
    size_t image_len;
} vg_ipc_job;

typedef struct vg_ipc_ready {
    int pid;
    vg_str backend, version, device, why;
    vg_str resize, resize_why;     /* "stretch" | "letterbox", and where that came from */
    vg_str head, head_from;        /* the output layout ("yolov8"), and "detected" | "manifest"; empty: none */
    int input_w, input_h, classes, max_batch;
    double gflops;
    int task;                      /* VIGIA_TASK_*: 0 detect, 1 classify */
    vg_str *labels;                /* 0 or `classes` labels; decoded: malloc'd (the strings point
                                      into the frame), freed by vg_ipc_msg_release() */
    size_t nlabels;
} vg_ipc_ready;

typedef struct vg_ipc_fatal {
    int status;                    /* a negative VG_E_* code */
    vg_str msg;
} vg_ipc_fatal;

typedef struct vg_ipc_result {
    uint64_t id;
    int status;                    /* 0 or a negative VG_E_* code */
    vg_str msg;
    int w, h;
    size_t ndet;
    vg_detection *dets;            /* decoded: malloc'd by vg_ipc_decode, labels NULL */
    uint64_t decode_us, infer_us, post_us, annotate_us;
    uint64_t rss;                  /* worker RSS after the job, bytes */
    int last;                      /* the worker exits after this answer (memory cap) */
    const uint8_t *jpeg;
    size_t jpeg_len;
} vg_ipc_result;

typedef struct vg_ipc_msg {
    enum vg_ipc_type type;
    union {
        vg_ipc_job job;
        vg_ipc_ready ready;
        vg_ipc_fatal fatal;
        vg_ipc_result result;
    } u;
} vg_ipc_msg;

/*
 * Encoders append one frame to `out`. For JOB and RESULT the frame's last
 * bytes (image, JPEG) are NOT appended: the frame header already counts
 * them and the caller must send them right after what was appended.
 * Fail with VG_E_INVAL when a field is out of range or the frame would
 * exceed VG_IPC_MAX_FRAME.
 */
int vg_ipc_encode_job(vg_buf *out, const vg_ipc_job *job);
int vg_ipc_encode_quit(vg_buf *out);
/* READY: VG_E_INVAL beyond VG_IPC_MAX_LABELS labels, a label empty or over
 * VG_IPC_MAX_LABEL bytes, or a count other than 0 or `classes`. */
int vg_ipc_encode_ready(vg_buf *out, const vg_ipc_ready *ready);
int vg_ipc_encode_fatal(vg_buf *out, int status, const char *msg);
int vg_ipc_encode_result(vg_buf *out, const vg_ipc_result *res, const vg_detection *dets);

/*
 * Decodes one payload (without its 4-byte header). Pointers in *msg point
 * into `p`; a RESULT's dets and a READY's labels are malloc'd: call
 * vg_ipc_msg_release(). A READY's labels are refused beyond the limits
 * vg_ipc_encode_ready() keeps.
 * Errors: VG_E_PROTO (malformed), -ENOMEM.
 */
int vg_ipc_decode(const uint8_t *p, size_t n, vg_ipc_msg *msg);
void vg_ipc_msg_release(vg_ipc_msg *msg);

#endif
