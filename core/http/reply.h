/*
 * reply: a JSON answer, written into a buffer and sent whole:
 *
 *     vg_reply a;
 *     vg_reply_init(&a);
 *     vg_reply_list(&a, "users");      // {"users":[
 *     ... vg_jsonw calls on &a.w ...
 *     vg_reply_send(&a, r, 200);       // the body, a newline, and the buffer freed
 *
 * The vg_reply must stay where it is between init and send (the writer
 * points at its buffer). vg_reply_release() frees an answer not sent.
 */
#ifndef VG_REPLY_H
#define VG_REPLY_H

#include "base/buf.h"
#include "base/jsonw.h"

struct vg_req;

typedef struct vg_reply {
    vg_buf buf;                        /* the body */
    vg_jsonw w;                        /* writes into buf */
} vg_reply;

void vg_reply_init(vg_reply *a);
/* Opens the answer's object with an array member: {"key":[ */
void vg_reply_list(vg_reply *a, const char *key);
/* Answers r with the body as application/json (a newline appended) and releases it. */
void vg_reply_send(vg_reply *a, struct vg_req *r, int status);
void vg_reply_release(vg_reply *a);

#endif
