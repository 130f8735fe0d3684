/*
 * ipc: frames and message codecs of the master <-> worker protocol
 * (see ipc.h). Encoding uses msgpack-c's packer; decoding is a bounded
 * cursor over the frame that allocates nothing (msgpack-c's unpacker
 * would allocate whatever element counts a hostile frame declares).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <msgpack.h>

#include "base/error.h"
#include "pool/ipc.h"

#define MAX_DEPTH 8          /* nesting skipped in unknown values */

/* ---- encoding -------------------------------------------------------------- */

static int
buf_write(void *data, const char *p, size_t n)
{
    vg_buf_append(data, p, n);
    return 0;
}


/* Reserves the 4-byte header; returns its offset. */
static size_t
frame_begin(vg_buf *out)
{
    size_t at = out->len;
    static const uint8_t zero[VG_IPC_HDR] = { 0 };
    vg_buf_append(out, zero, sizeof zero);
    return at;
}


/* Writes the header at `at` for a payload of what follows plus `extra` bytes. */
static int
frame_end(vg_buf *out, size_t at, size_t extra)
{
    size_t n = out->len - at - VG_IPC_HDR + extra;
    if (n > VG_IPC_MAX_FRAME) {
        out->len = at;
        return VG_E_INVAL;
    }
    uint8_t *h = (uint8_t *)out->data + at;
    h[0] = (uint8_t)(n >> 24);
    h[1] = (uint8_t)(n >> 16);
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)n;
    return 0;
}


static void
pk_key(msgpack_packer *pk, const char *k)
{
    size_t n = strlen(k);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}


static void
pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    if (n > VG_IPC_MAX_STR)
        n = VG_IPC_MAX_STR;
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s ? s : "", n);
}


int
vg_ipc_encode_job(vg_buf *out, const vg_ipc_job *job)
{
    msgpack_packer pk;
    if (!job->image || job->image_len == 0 || job->image_len > VG_IPC_MAX_FRAME ||
        job->mask_len > 1u << 20 || (job->mask_len && !job->class_mask))
        return VG_E_INVAL;
    size_t at = frame_begin(out);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 8);
    pk_key(&pk, "t");
    msgpack_pack_int(&pk, VG_IPC_JOB);
    pk_key(&pk, "id");
    msgpack_pack_uint64(&pk, job->id);
    pk_key(&pk, "thr");
    msgpack_pack_float(&pk, job->threshold);
    pk_key(&pk, "nms");
    msgpack_pack_float(&pk, job->nms);
    pk_key(&pk, "cls");
    if (job->class_mask) {
        msgpack_pack_bin(&pk, job->mask_len);
        msgpack_pack_bin_body(&pk, job->class_mask, job->mask_len);
    } else {
        msgpack_pack_nil(&pk);
    }
    pk_key(&pk, "ann");
    if (job->annotate)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pk_key(&pk, "q");
    msgpack_pack_int(&pk, job->quality);
    pk_key(&pk, "img");
    msgpack_pack_bin(&pk, job->image_len);
    return frame_end(out, at, job->image_len);
}


int
vg_ipc_encode_quit(vg_buf *out)
{
    msgpack_packer pk;
    size_t at = frame_begin(out);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 1);
    pk_key(&pk, "t");
    msgpack_pack_int(&pk, VG_IPC_QUIT);
    return frame_end(out, at, 0);
}


int
vg_ipc_encode_ready(vg_buf *out, const vg_ipc_ready *r)
{
    msgpack_packer pk;
    size_t at = frame_begin(out);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 11);
    pk_key(&pk, "t");
    msgpack_pack_int(&pk, VG_IPC_READY);
    pk_key(&pk, "pid");
    msgpack_pack_int(&pk, r->pid);
    pk_key(&pk, "be");
    pk_str(&pk, r->backend.p, r->backend.n);
    pk_key(&pk, "ver");
    pk_str(&pk, r->version.p, r->version.n);
    pk_key(&pk, "dev");
    pk_str(&pk, r->device.p, r->device.n);
    pk_key(&pk, "why");
    pk_str(&pk, r->why.p, r->why.n);
    pk_key(&pk, "w");
    msgpack_pack_int(&pk, r->input_w);
    pk_key(&pk, "h");
    msgpack_pack_int(&pk, r->input_h);
    pk_key(&pk, "c");
    msgpack_pack_int(&pk, r->classes);
    pk_key(&pk, "mb");
    msgpack_pack_int(&pk, r->max_batch);
    pk_key(&pk, "gf");
    msgpack_pack_double(&pk, r->gflops);
    return frame_end(out, at, 0);
}


int
vg_ipc_encode_fatal(vg_buf *out, int status, const char *msg)
{
    msgpack_packer pk;
    size_t at = frame_begin(out);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 3);
    pk_key(&pk, "t");
    msgpack_pack_int(&pk, VG_IPC_FATAL);
    pk_key(&pk, "st");
    msgpack_pack_int(&pk, status);
    pk_key(&pk, "msg");
    pk_str(&pk, msg, msg ? strlen(msg) : 0);
    return frame_end(out, at, 0);
}


int
vg_ipc_encode_result(vg_buf *out, const vg_ipc_result *r, const vg_detection *dets)
{
    msgpack_packer pk;
    if (r->ndet > VG_POST_MAX_DETECTIONS || (r->ndet && !dets) || (r->jpeg_len && !r->jpeg))
        return VG_E_INVAL;
    size_t at = frame_begin(out);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, 14);
    pk_key(&pk, "t");
    msgpack_pack_int(&pk, VG_IPC_RESULT);
    pk_key(&pk, "id");
    msgpack_pack_uint64(&pk, r->id);
    pk_key(&pk, "st");
    msgpack_pack_int(&pk, r->status);
    pk_key(&pk, "msg");
    pk_str(&pk, r->msg.p, r->msg.n);
    pk_key(&pk, "w");
    msgpack_pack_int(&pk, r->w);
    pk_key(&pk, "h");
    msgpack_pack_int(&pk, r->h);
    pk_key(&pk, "d");
    msgpack_pack_array(&pk, r->ndet);
    for (size_t i = 0; i < r->ndet; i++) {
        const vg_detection *d = &dets[i];
        msgpack_pack_array(&pk, 6);
        msgpack_pack_int(&pk, d->class_id);
        msgpack_pack_float(&pk, d->confidence);
        msgpack_pack_int(&pk, d->x_min);
        msgpack_pack_int(&pk, d->y_min);
        msgpack_pack_int(&pk, d->x_max);
        msgpack_pack_int(&pk, d->y_max);
    }
    pk_key(&pk, "td");
    msgpack_pack_uint64(&pk, r->decode_us);
    pk_key(&pk, "ti");
    msgpack_pack_uint64(&pk, r->infer_us);
    pk_key(&pk, "tp");
    msgpack_pack_uint64(&pk, r->post_us);
    pk_key(&pk, "ta");
    msgpack_pack_uint64(&pk, r->annotate_us);
    pk_key(&pk, "rss");
    msgpack_pack_uint64(&pk, r->rss);
    pk_key(&pk, "bye");
    if (r->last)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pk_key(&pk, "jpg");
    if (r->jpeg) {
        msgpack_pack_bin(&pk, r->jpeg_len);
        return frame_end(out, at, r->jpeg_len);
    }
    msgpack_pack_nil(&pk);
    return frame_end(out, at, 0);
}


/* ---- decoding -------------------------------------------------------------- */

typedef struct cur {
    const uint8_t *p, *end;
} cur;


static int
need(cur *c, size_t n)
{
    return (size_t)(c->end - c->p) >= n;
}


static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}


/* Reads a length of n bytes after the type byte. */
static int
rd_len(cur *c, int n, size_t *len)
{
    if (!need(c, (size_t)n))
        return -1;
    *len = (size_t)be(c->p, n);
    c->p += n;
    return 0;
}


static int
rd_int(cur *c, int64_t *v)
{
    if (!need(c, 1))
        return -1;
    uint8_t t = *c->p++;
    if (t <= 0x7f) { *v = t; return 0; }
    if (t >= 0xe0) { *v = (int8_t)t; return 0; }
    int n;
    switch (t) {
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xce: case 0xd2: n = 4; break;
    case 0xcf: case 0xd3: n = 8; break;
    default: return -1;
    }
    if (!need(c, (size_t)n))
        return -1;
    uint64_t u = be(c->p, n);
    c->p += n;
    if (t >= 0xd0) {               /* signed: sign-extend */
        int shift = 64 - 8 * n;
        *v = shift ? (int64_t)(u << shift) >> shift : (int64_t)u;
    } else {
        if (u > INT64_MAX)
            return -1;
        *v = (int64_t)u;
    }
    return 0;
}


static int
rd_uint64(cur *c, uint64_t *v)
{
    if (need(c, 9) && c->p[0] == 0xcf) {
        *v = be(c->p + 1, 8);
        c->p += 9;
        return 0;
    }
    int64_t x;
    if (rd_int(c, &x) != 0 || x < 0)
        return -1;
    *v = (uint64_t)x;
    return 0;
}


static int
rd_i32(cur *c, int *v, int64_t lo, int64_t hi)
{
    int64_t x;
    if (rd_int(c, &x) != 0 || x < lo || x > hi)
        return -1;
    *v = (int)x;
    return 0;
}


static int
rd_double(cur *c, double *v)
{
    if (!need(c, 1))
        return -1;
    uint8_t t = *c->p;
    if (t == 0xca) {
        if (!need(c, 5))
            return -1;
        uint32_t u = (uint32_t)be(c->p + 1, 4);
        float f;
        memcpy(&f, &u, 4);
        *v = f;
        c->p += 5;
        return 0;
    }
    if (t == 0xcb) {
        if (!need(c, 9))
            return -1;
        uint64_t u = be(c->p + 1, 8);
        memcpy(v, &u, 8);
        c->p += 9;
        return 0;
    }
    int64_t x;
    if (rd_int(c, &x) != 0)
        return -1;
    *v = (double)x;
    return 0;
}


static int
rd_bool(cur *c, int *v)
{
    if (!need(c, 1) || (*c->p != 0xc2 && *c->p != 0xc3))
        return -1;
    *v = *c->p++ == 0xc3;
    return 0;
}


static int
is_nil(cur *c)
{
    if (need(c, 1) && *c->p == 0xc0) {
        c->p++;
        return 1;
    }
    return 0;
}


static int
rd_str(cur *c, const char **s, size_t *n)
{
    if (!need(c, 1))
        return -1;
    uint8_t t = *c->p++;
    size_t len;
    if (t >= 0xa0 && t <= 0xbf)
        len = t & 0x1f;
    else if (t == 0xd9) { if (rd_len(c, 1, &len)) return -1; }
    else if (t == 0xda) { if (rd_len(c, 2, &len)) return -1; }
    else if (t == 0xdb) { if (rd_len(c, 4, &len)) return -1; }
    else return -1;
    if (!need(c, len))
        return -1;
    *s = (const char *)c->p;
    *n = len;
    c->p += len;
    return 0;
}


static int
rd_bin(cur *c, const uint8_t **b, size_t *n)
{
    if (!need(c, 1))
        return -1;
    uint8_t t = *c->p++;
    size_t len;
    if (t == 0xc4) { if (rd_len(c, 1, &len)) return -1; }
    else if (t == 0xc5) { if (rd_len(c, 2, &len)) return -1; }
    else if (t == 0xc6) { if (rd_len(c, 4, &len)) return -1; }
    else return -1;
    if (!need(c, len))
        return -1;
    *b = c->p;
    *n = len;
    c->p += len;
    return 0;
}


/* Map or array header; the count is bounded by the bytes left (>= 1 each). */
static int
rd_container(cur *c, int map, size_t *n)
{
    if (!need(c, 1))
        return -1;
    uint8_t t = *c->p++;
    size_t len;
    if (map && t >= 0x80 && t <= 0x8f)
        len = t & 0x0f;
    else if (!map && t >= 0x90 && t <= 0x9f)
        len = t & 0x0f;
    else if (t == (map ? 0xde : 0xdc)) { if (rd_len(c, 2, &len)) return -1; }
    else if (t == (map ? 0xdf : 0xdd)) { if (rd_len(c, 4, &len)) return -1; }
    else return -1;
    if (len > (size_t)(c->end - c->p) / (map ? 2 : 1))
        return -1;
    *n = len;
    return 0;
}


static int
skip(cur *c, int depth)
{
    if (!need(c, 1) || depth > MAX_DEPTH)
        return -1;
    uint8_t t = *c->p;
    const char *s;
    const uint8_t *b;
    size_t n;
    int64_t i;
    double d;
    if (t == 0xcf) {
        uint64_t u;
        return rd_uint64(c, &u);
    }
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xce) || (t >= 0xd0 && t <= 0xd3))
        return rd_int(c, &i);
    if (t == 0xc0 || t == 0xc2 || t == 0xc3) {
        c->p++;
        return 0;
    }
    if (t == 0xca || t == 0xcb)
        return rd_double(c, &d);
    if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb))
        return rd_str(c, &s, &n);
    if (t >= 0xc4 && t <= 0xc6)
        return rd_bin(c, &b, &n);
    if ((t >= 0x80 && t <= 0x8f) || t == 0xde || t == 0xdf) {
        if (rd_container(c, 1, &n))
            return -1;
        for (size_t k = 0; k < 2 * n; k++)
            if (skip(c, depth + 1))
                return -1;
        return 0;
    }
    if ((t >= 0x90 && t <= 0x9f) || t == 0xdc || t == 0xdd) {
        if (rd_container(c, 0, &n))
            return -1;
        for (size_t k = 0; k < n; k++)
            if (skip(c, depth + 1))
                return -1;
        return 0;
    }
    /* ext types and the reserved 0xc1: not part of this protocol */
    return -1;
}


static int
key_is(const char *k, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}


static int
rd_vstr(cur *c, vg_str *out)
{
    const char *s;
    size_t n;
    if (rd_str(c, &s, &n) || n > VG_IPC_MAX_STR)
        return -1;
    out->p = s;
    out->n = n;
    return 0;
}


static int
rd_us(cur *c, uint64_t *v)
{
    /* a microsecond timing: at most a day */
    return rd_uint64(c, v) || *v > 86400ull * 1000000u ? -1 : 0;
}


static int
decode_dets(cur *c, vg_ipc_result *r)
{
    size_t n;
    if (rd_container(c, 0, &n) || n > VG_POST_MAX_DETECTIONS)
        return -1;
    r->ndet = n;
    if (n == 0)
        return 0;
    r->dets = calloc(n, sizeof *r->dets);
    if (!r->dets)
        return -2;
    for (size_t i = 0; i < n; i++) {
        vg_detection *d = &r->dets[i];
        size_t m;
        double conf;
        if (rd_container(c, 0, &m) || m != 6)
            return -1;
        if (rd_i32(c, &d->class_id, 0, 1 << 20) || rd_double(c, &conf) ||
            rd_i32(c, &d->x_min, 0, INT32_MAX) || rd_i32(c, &d->y_min, 0, INT32_MAX) ||
            rd_i32(c, &d->x_max, 0, INT32_MAX) || rd_i32(c, &d->y_max, 0, INT32_MAX))
            return -1;
        if (!(conf >= 0 && conf <= 1))
            return -1;
        d->confidence = (float)conf;
        d->label = NULL;
    }
    return 0;
}


int
vg_ipc_decode(const uint8_t *p, size_t len, vg_ipc_msg *msg)
{
    cur c = { p, p + len };
    size_t nkeys;
    int type = 0, r = 0;
    unsigned seen = 0;   /* bit per required key */

    memset(msg, 0, sizeof *msg);
    if (rd_container(&c, 1, &nkeys) || nkeys > 64)
        return VG_E_PROTO;
    /* "t" first: every encoder writes it first, so the fields can be typed */
    const char *k;
    size_t kn;
    if (nkeys < 1 || rd_str(&c, &k, &kn) || !key_is(k, kn, "t") || rd_i32(&c, &type, 1, 5))
        return VG_E_PROTO;
    msg->type = (enum vg_ipc_type)type;
    if (type == VG_IPC_JOB) {
        msg->u.job.threshold = -1;
        msg->u.job.nms = -1;
    }
    for (size_t i = 1; i < nkeys && r == 0; i++) {
        if (rd_str(&c, &k, &kn)) {
            r = -1;
            break;
        }
        switch (type) {
        case VG_IPC_JOB: {
            vg_ipc_job *j = &msg->u.job;
            double d;
            if (key_is(k, kn, "id")) { r = rd_uint64(&c, &j->id); seen |= 1; }
            else if (key_is(k, kn, "thr")) { r = rd_double(&c, &d); j->threshold = (float)d; if (!r && !(d <= 1 && isfinite(d))) r = -1; }
            else if (key_is(k, kn, "nms")) { r = rd_double(&c, &d); j->nms = (float)d; if (!r && !(d <= 1 && isfinite(d))) r = -1; }
            else if (key_is(k, kn, "cls")) {
                if (!is_nil(&c))
                    r = rd_bin(&c, &j->class_mask, &j->mask_len);
            }
            else if (key_is(k, kn, "ann")) r = rd_bool(&c, &j->annotate);
            else if (key_is(k, kn, "q")) r = rd_i32(&c, &j->quality, 0, 100);
            else if (key_is(k, kn, "img")) { r = rd_bin(&c, &j->image, &j->image_len); seen |= 2; }
            else r = skip(&c, 0);
            break;
        }
        case VG_IPC_READY: {
            vg_ipc_ready *x = &msg->u.ready;
            if (key_is(k, kn, "pid")) { r = rd_i32(&c, &x->pid, 1, INT32_MAX); seen |= 1; }
            else if (key_is(k, kn, "be")) { r = rd_vstr(&c, &x->backend); seen |= 2; }
            else if (key_is(k, kn, "ver")) r = rd_vstr(&c, &x->version);
            else if (key_is(k, kn, "dev")) r = rd_vstr(&c, &x->device);
            else if (key_is(k, kn, "why")) r = rd_vstr(&c, &x->why);
            else if (key_is(k, kn, "w")) { r = rd_i32(&c, &x->input_w, 1, 1 << 16); seen |= 4; }
            else if (key_is(k, kn, "h")) { r = rd_i32(&c, &x->input_h, 1, 1 << 16); seen |= 8; }
            else if (key_is(k, kn, "c")) { r = rd_i32(&c, &x->classes, 1, 1 << 20); seen |= 16; }
            else if (key_is(k, kn, "mb")) r = rd_i32(&c, &x->max_batch, 1, 1 << 16);
            else if (key_is(k, kn, "gf")) { r = rd_double(&c, &x->gflops); if (!r && !isfinite(x->gflops)) r = -1; }
            else r = skip(&c, 0);
            break;
        }
        case VG_IPC_FATAL: {
            vg_ipc_fatal *x = &msg->u.fatal;
            if (key_is(k, kn, "st")) { r = rd_i32(&c, &x->status, INT32_MIN, -1); seen |= 1; }
            else if (key_is(k, kn, "msg")) r = rd_vstr(&c, &x->msg);
            else r = skip(&c, 0);
            break;
        }
        case VG_IPC_RESULT: {
            vg_ipc_result *x = &msg->u.result;
            if (key_is(k, kn, "id")) { r = rd_uint64(&c, &x->id); seen |= 1; }
            else if (key_is(k, kn, "st")) { r = rd_i32(&c, &x->status, INT32_MIN, 0); seen |= 2; }
            else if (key_is(k, kn, "msg")) r = rd_vstr(&c, &x->msg);
            else if (key_is(k, kn, "w")) r = rd_i32(&c, &x->w, 0, INT32_MAX);
            else if (key_is(k, kn, "h")) r = rd_i32(&c, &x->h, 0, INT32_MAX);
            else if (key_is(k, kn, "d")) { if (x->dets) r = -1; else r = decode_dets(&c, x); }
            else if (key_is(k, kn, "td")) r = rd_us(&c, &x->decode_us);
            else if (key_is(k, kn, "ti")) r = rd_us(&c, &x->infer_us);
            else if (key_is(k, kn, "tp")) r = rd_us(&c, &x->post_us);
            else if (key_is(k, kn, "ta")) r = rd_us(&c, &x->annotate_us);
            else if (key_is(k, kn, "rss")) r = rd_uint64(&c, &x->rss);
            else if (key_is(k, kn, "bye")) r = rd_bool(&c, &x->last);
            else if (key_is(k, kn, "jpg")) {
                if (!is_nil(&c))
                    r = rd_bin(&c, &x->jpeg, &x->jpeg_len);
            }
            else r = skip(&c, 0);
            break;
        }
        default:
            r = skip(&c, 0);
            break;
        }
    }
    if (r == -2) {
        vg_ipc_msg_release(msg);
        return -ENOMEM;
    }
    if (r != 0 || c.p != c.end)
        goto bad;
    switch (type) {
    case VG_IPC_JOB:
        if (seen != 3 || msg->u.job.image_len == 0)
            goto bad;
        break;
    case VG_IPC_READY:
        if (seen != 31)
            goto bad;
        if (msg->u.ready.max_batch < 1)
            msg->u.ready.max_batch = 1;
        break;
    case VG_IPC_FATAL:
        if (seen != 1)
            goto bad;
        break;
    case VG_IPC_RESULT:
        if (seen != 3)
            goto bad;
        for (size_t i = 0; i < msg->u.result.ndet; i++) {
            vg_detection *d = &msg->u.result.dets[i];
            if (d->x_min > d->x_max || d->y_min > d->y_max ||
                d->x_max >= msg->u.result.w || d->y_max >= msg->u.result.h)
                goto bad;
        }
        break;
    default:
        break;
    }
    return 0;
bad:
    vg_ipc_msg_release(msg);
    return VG_E_PROTO;
}


void
vg_ipc_msg_release(vg_ipc_msg *msg)
{
    if (msg && msg->type == VG_IPC_RESULT) {
        free(msg->u.result.dets);
        msg->u.result.dets = NULL;
        msg->u.result.ndet = 0;
    }
}


/* ---- framing --------------------------------------------------------------- */

void
vg_ipc_reader_init(vg_ipc_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof *r);
    r->max = max_payload ? max_payload : VG_IPC_MAX_FRAME;
}


void
vg_ipc_reader_release(vg_ipc_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}


/* Makes room for at least `want` more bytes after the held ones. */
static int
reader_room(vg_ipc_reader *r, size_t want)
{
    if (r->off > 0) {   /* drop consumed frames */
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->cap - r->len >= want)
        return 0;
    size_t ncap = r->cap ? r->cap : 64 * 1024;
    while (ncap - r->len < want)
        ncap *= 2;
    uint8_t *nb = realloc(r->buf, ncap);
    if (!nb)
        return -ENOMEM;
    r->buf = nb;
    r->cap = ncap;
    return 0;
}


/* How many more bytes the pending frame needs (at least 1 to make progress). */
static int
reader_want(vg_ipc_reader *r, size_t *want)
{
    size_t have = r->len - r->off;
    if (have < VG_IPC_HDR) {
        *want = 64 * 1024;
        return 0;
    }
    size_t n = (size_t)be(r->buf + r->off, VG_IPC_HDR);
    if (n > r->max)
        return VG_E_PROTO;
    size_t total = VG_IPC_HDR + n;
    *want = total > have ? total - have : 64 * 1024;
    if (*want < 64 * 1024)
        *want = 64 * 1024;
    return 0;
}


ssize_t
vg_ipc_reader_fill(vg_ipc_reader *r, int fd)
{
    size_t want;
    int rc = reader_want(r, &want);
    if (rc != 0)
        return rc;
    if (reader_room(r, want) != 0)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        r->len += (size_t)n;
        if (n > 0 && (rc = reader_want(r, &want)) != 0)
            return rc;
        return n;
    }
}


ssize_t
vg_ipc_reader_feed(vg_ipc_reader *r, const void *p, size_t n)
{
    size_t want;
    int rc = reader_want(r, &want);
    if (rc != 0)
        return rc;
    if (reader_room(r, n) != 0)
        return -ENOMEM;
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    if ((rc = reader_want(r, &want)) != 0)
        return rc;
    return (ssize_t)n;
}


int
vg_ipc_reader_next(vg_ipc_reader *r, const uint8_t **payload, size_t *len)
{
    size_t have = r->len - r->off;
    if (have < VG_IPC_HDR)
        return 0;
    size_t n = (size_t)be(r->buf + r->off, VG_IPC_HDR);
    if (n > r->max)
        return VG_E_PROTO;
    if (have < VG_IPC_HDR + n)
        return 0;
    *payload = r->buf + r->off + VG_IPC_HDR;
    *len = n;
    r->off += VG_IPC_HDR + n;
    return 1;
}


int
vg_ipc_write_all(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
    int cnt = 2, i = 0;
    while (i < cnt) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t n = writev(fd, iov + i, cnt - i);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && i < cnt) {
            if ((size_t)n >= iov[i].iov_len) {
                n -= (ssize_t)iov[i].iov_len;
                iov[i].iov_len = 0;
                i++;
            } else {
                iov[i].iov_base = (char *)iov[i].iov_base + n;
                iov[i].iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return 0;
}


static int
read_full(int fd, void *p, size_t n, int *eof_at_start)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (eof_at_start)
                *eof_at_start = got == 0;
            return -EPIPE;
        }
        got += (size_t)r;
    }
    return 0;
}


ssize_t
vg_ipc_read_frame(int fd, uint8_t **buf, size_t *cap, size_t max)
{
    uint8_t h[VG_IPC_HDR];
    int clean = 0;
    int rc = read_full(fd, h, sizeof h, &clean);
    if (rc != 0)
        return rc == -EPIPE && !clean ? VG_E_PROTO : rc;
    size_t n = (size_t)be(h, VG_IPC_HDR);
    if (n > max)
        return VG_E_PROTO;
    if (n > *cap || !*buf) {
        uint8_t *nb = realloc(*buf, n ? n : 1);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = n ? n : 1;
    }
    rc = read_full(fd, *buf, n, NULL);
    if (rc != 0)
        return rc == -EPIPE ? VG_E_PROTO : rc;
    return (ssize_t)n;
}
