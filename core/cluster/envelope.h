/*
 * envelope: what the cluster puts on the bus, and reads back, as plain
 * data (no Redis, no loop): a job (one stream entry of vigia:jobs:MODEL),
 * a result (one entry of a front end's reply stream) and a node's
 * placement record (the value of vigia:node:NAME).
 *
 * A job or result entry is a list of field/value pairs. The image and the
 * answer travel in the worker protocol's own frames (pool/ipc.h: a JOB
 * frame with the image, a RESULT frame with the detections and the JPEG):
 * there is one encoding of a job, not two. The envelope adds what the
 * bus needs around them: the job id, the reply stream, the deadline, the
 * live flag, the class names (a JOB frame's class mask depends on one
 * node's label order) and a result's labels.
 *
 * Every decoder is bounded and refuses what is malformed with VG_E_PROTO
 * and a message; decoded strings point into the input.
 */
#ifndef VG_CLUSTER_ENVELOPE_H
#define VG_CLUSTER_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "pool/ipc.h"

#define VG_CLUSTER_MAX_NAME    64      /* bytes of a model or node name: [A-Za-z0-9._-] */
#define VG_CLUSTER_MAX_KEY     160     /* bytes of a reply stream key */
#define VG_CLUSTER_MAX_CLASSES 4096    /* bytes of the class list */
#define VG_CLUSTER_MAX_LABELS  (VG_POST_MAX_DETECTIONS * (VG_IPC_MAX_LABEL + 1))
#define VG_CLUSTER_MAX_MODELS  32      /* models in one node's placement record */
#define VG_CLUSTER_MAX_FIELDS  16      /* field/value pairs in an entry */

/* The wall clock in ms since the epoch: deadlines and placement expiry, shared by every node. */
int64_t vg_cluster_wall_ms(void);

/* 1 when s[0..n) is a usable model or node name. */
int vg_cluster_name_ok(const char *s, size_t n);

typedef struct vg_cluster_job {
    uint64_t id;                   /* the front end's job id */
    vg_str reply;                  /* the front end's reply stream */
    int64_t deadline_ms;           /* wall clock, ms since the epoch */
    int live;                      /* a live frame: dropped when late, never retried */
    vg_str classes;                /* comma-separated labels, "" = all */
    vg_str frame;                  /* a whole JOB frame (header, payload, image) */
    vg_ipc_msg msg;                /* decoded from frame: a JOB (image points into frame) */
} vg_cluster_job;

/*
 * Appends the fields of a job entry to argv/lens (at most
 * VG_CLUSTER_MAX_FIELDS * 2 slots; returns how many were used), with the
 * numbers written into `scratch` (which must outlive argv). `frame` is the
 * JOB frame built by vg_ipc_encode_job with the image appended.
 */
int vg_cluster_job_fields(const vg_cluster_job *job, char scratch[96], const char **argv, size_t *lens);

/*
 * Decodes a job entry from its n values (kv[0] field, kv[1] value, ...).
 * Errors: VG_E_PROTO with a message; -ENOMEM. On success release with
 * vg_cluster_job_release().
 */
int vg_cluster_job_decode(const vg_str *kv, size_t n, vg_cluster_job *out, char *err, size_t errlen);
void vg_cluster_job_release(vg_cluster_job *job);

typedef struct vg_cluster_result {
    uint64_t id;
    vg_str node;                   /* who ran it */
    vg_str labels;                 /* the detections' labels, '\n'-separated, in order */
    vg_str frame;                  /* a whole RESULT frame (with the JPEG) */
    vg_ipc_msg msg;                /* decoded: a RESULT; dets malloc'd, labels set by vg_cluster_result_decode
                                      into `names` */
    char *names;                   /* malloc'd copy of labels, NUL-separated */
} vg_cluster_result;

int vg_cluster_result_fields(const vg_cluster_result *r, char scratch[48], const char **argv, size_t *lens);
/* Decodes a result entry; each detection gets its label. VG_E_PROTO, -ENOMEM. */
int vg_cluster_result_decode(const vg_str *kv, size_t n, vg_cluster_result *out, char *err, size_t errlen);
void vg_cluster_result_release(vg_cluster_result *r);

/* ---- placement -------------------------------------------------------- */

typedef struct vg_cluster_model {
    char name[VG_CLUSTER_MAX_NAME + 1];
    char state[16];                /* the pool's state word: "ready", "loading", "failed", ... */
    unsigned ready;                /* workers ready */
    unsigned free;                 /* jobs it would pull now */
} vg_cluster_model;

typedef struct vg_cluster_node {
    char name[VG_CLUSTER_MAX_NAME + 1];
    char role[16];                 /* "worker" or "front" */
    size_t nmodels;
    vg_cluster_model models[VG_CLUSTER_MAX_MODELS];
} vg_cluster_node;

/*
 * A placement record, text: "vigia-node 1 ROLE NAME\n" then one line per
 * model "MODEL STATE READY FREE\n". Encode appends it to out.
 */
void vg_cluster_node_encode(vg_buf *out, const vg_cluster_node *node);
/* VG_E_PROTO with a message when malformed or past the limits. */
int vg_cluster_node_decode(const char *p, size_t n, vg_cluster_node *out, char *err, size_t errlen);

#endif
