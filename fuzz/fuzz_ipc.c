/*
 * libFuzzer harness for the messages between processes: the master <->
 * worker protocol (core/pool/ipc.c: JOB and QUIT one way, READY, FATAL and
 * RESULT the other), the frames it and the store channels use
 * (core/base/frame.c), and the msgpack cursor every message is read with
 * (core/base/mpk.c).
 *
 * The first byte picks a mode; the rest is the input.
 *  0  one frame payload for vg_ipc_decode. It must answer 0,
 *     VG_E_PROTO or -ENOMEM; a decoded message has every field in its
 *     documented bounds and every pointer inside the payload; encoding it
 *     again (with the image or JPEG bytes appended as the caller does)
 *     gives a frame whose header counts its payload and which decodes to
 *     the same message.
 *  1  a byte stream of frames, fed to vg_frame_reader in chunks (sizes from
 *     the input) with a 4 KiB payload limit, and read with
 *     vg_frame_read from a pipe: both give exactly the frames a
 *     plain reading of the headers gives, then stop where it stops
 *     (incomplete frame, clean end, or VG_E_PROTO for an oversized
 *     header).
 *  2  one msgpack value read with the vg_mpr cursor (typed reads chosen
 *     by the type byte) and written back with vg_mpw. When the cursor
 *     accepts it, msgpack-c must accept the same bytes as one value and,
 *     packed again, give the same bytes as ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "base/error.h"
#include "base/frame.h"
#include "base/mpk.h"
#include "pipeline/colors.h"
#include "pool/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PAYLOAD 4096


static int
inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
    return n == 0 || ((const uint8_t *)p >= base && (const uint8_t *)p + n <= base + len);
}


static int
str_eq(vg_str a, vg_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}


/* Fields in their bounds, pointers inside the payload. */
static void
check_bounds(const vg_ipc_msg *m, const uint8_t *p, size_t n)
{
    switch (m->type) {
    case VG_IPC_JOB: {
        const vg_ipc_job *j = &m->u.job;
        if (!j->image || !j->image_len || !inside(j->image, j->image_len, p, n) ||
            (j->class_mask && !inside(j->class_mask, j->mask_len, p, n)) || j->quality < 0 || j->quality > 100 ||
            j->attributes < 0 || j->attributes > VG_ATTR_COLORS ||
            !(j->threshold <= 1) || !(j->nms <= 1))
            abort();
        break;
    }
    case VG_IPC_READY: {
        const vg_ipc_ready *r = &m->u.ready;
        const vg_str *s[] = { &r->backend, &r->version, &r->device, &r->why };
        for (int i = 0; i < 4; i++)
            if (s[i]->n > VG_IPC_MAX_STR || !inside(s[i]->p, s[i]->n, p, n))
                abort();
        if (r->pid < 1 || r->input_w < 1 || r->input_h < 1 || r->classes < 1 || r->max_batch < 1)
            abort();
        if (r->nlabels && (r->nlabels != (size_t)r->classes || r->nlabels > VG_IPC_MAX_LABELS || !r->labels))
            abort();
        for (size_t i = 0; i < r->nlabels; i++)
            if (r->labels[i].n < 1 || r->labels[i].n > VG_IPC_MAX_LABEL ||
                !inside(r->labels[i].p, r->labels[i].n, p, n))
                abort();
        break;
    }
    case VG_IPC_FATAL:
        if (m->u.fatal.status >= 0 || m->u.fatal.msg.n > VG_IPC_MAX_STR ||
            !inside(m->u.fatal.msg.p, m->u.fatal.msg.n, p, n))
            abort();
        break;
    case VG_IPC_RESULT: {
        const vg_ipc_result *r = &m->u.result;
        if (r->status > 0 || r->msg.n > VG_IPC_MAX_STR || !inside(r->msg.p, r->msg.n, p, n) ||
            (r->jpeg && !inside(r->jpeg, r->jpeg_len, p, n)) || r->ndet > VG_POST_MAX_DETECTIONS ||
            (r->ndet && !r->dets))
            abort();
        for (size_t i = 0; i < r->ndet; i++) {
            const vg_detection *d = &r->dets[i];
            if (d->x_min < 0 || d->y_min < 0 || d->x_min > d->x_max || d->y_min > d->y_max || d->x_max >= r->w ||
                d->y_max >= r->h || !(d->confidence >= 0 && d->confidence <= 1) || d->class_id < 0 ||
                d->upper_color >= VG_COLOR_COUNT || d->lower_color >= VG_COLOR_COUNT)
                abort();
        }
        break;
    }
    case VG_IPC_QUIT:
        break;
    default:
        abort();
    }
}


static void
check_same(const vg_ipc_msg *a, const vg_ipc_msg *b)
{
    if (a->type != b->type)
        abort();
    switch (a->type) {
    case VG_IPC_JOB: {
        const vg_ipc_job *x = &a->u.job, *y = &b->u.job;
        if (x->id != y->id || x->threshold != y->threshold || x->nms != y->nms || x->annotate != y->annotate ||
            x->quality != y->quality || x->attributes != y->attributes || x->mask_len != y->mask_len || !x->class_mask != !y->class_mask ||
            (x->mask_len && memcmp(x->class_mask, y->class_mask, x->mask_len)) || x->image_len != y->image_len ||
            memcmp(x->image, y->image, x->image_len))
            abort();
        break;
    }
    case VG_IPC_READY: {
        const vg_ipc_ready *x = &a->u.ready, *y = &b->u.ready;
        if (x->pid != y->pid || !str_eq(x->backend, y->backend) || !str_eq(x->version, y->version) ||
            !str_eq(x->device, y->device) || !str_eq(x->why, y->why) || x->input_w != y->input_w ||
            x->input_h != y->input_h || x->classes != y->classes || x->max_batch != y->max_batch ||
            x->gflops != y->gflops || x->nlabels != y->nlabels)
            abort();
        for (size_t i = 0; i < x->nlabels; i++)
            if (!str_eq(x->labels[i], y->labels[i]))
                abort();
        break;
    }
    case VG_IPC_FATAL:
        if (a->u.fatal.status != b->u.fatal.status || !str_eq(a->u.fatal.msg, b->u.fatal.msg))
            abort();
        break;
    case VG_IPC_RESULT: {
        const vg_ipc_result *x = &a->u.result, *y = &b->u.result;
        if (x->id != y->id || x->status != y->status || !str_eq(x->msg, y->msg) || x->w != y->w || x->h != y->h ||
            x->ndet != y->ndet || x->decode_us != y->decode_us || x->infer_us != y->infer_us ||
            x->post_us != y->post_us || x->annotate_us != y->annotate_us || x->rss != y->rss ||
            x->last != y->last || !x->jpeg != !y->jpeg || x->jpeg_len != y->jpeg_len ||
            (x->jpeg_len && memcmp(x->jpeg, y->jpeg, x->jpeg_len)))
            abort();
        for (size_t i = 0; i < x->ndet; i++) {
            const vg_detection *d = &x->dets[i], *e = &y->dets[i];
            if (d->class_id != e->class_id || d->confidence != e->confidence || d->x_min != e->x_min ||
                d->y_min != e->y_min || d->x_max != e->x_max || d->y_max != e->y_max ||
                d->upper_color != e->upper_color || d->lower_color != e->lower_color)
                abort();
        }
        break;
    }
    default:
        break;
    }
}


static void
mode_decode(const uint8_t *p, size_t n)
{
    vg_ipc_msg m, again;
    int rc = vg_ipc_decode(p, n, &m);
    if (rc != 0) {
        if (rc != VG_E_PROTO && rc != -ENOMEM)
            abort();
        return;
    }
    check_bounds(&m, p, n);
    vg_buf out;
    vg_buf_init(&out);
    switch (m.type) {
    case VG_IPC_JOB:
        rc = vg_ipc_encode_job(&out, &m.u.job);
        if (rc == 0)
            vg_buf_append(&out, m.u.job.image, m.u.job.image_len);
        break;
    case VG_IPC_QUIT:
        rc = vg_ipc_encode_quit(&out);
        break;
    case VG_IPC_READY:
        rc = vg_ipc_encode_ready(&out, &m.u.ready);
        break;
    case VG_IPC_FATAL: {
        /* the encoder takes a C string: a message with a NUL comes back cut there */
        char msg[VG_IPC_MAX_STR + 1];
        memcpy(msg, m.u.fatal.msg.p ? m.u.fatal.msg.p : "", m.u.fatal.msg.n);
        msg[m.u.fatal.msg.n] = '\0';
        if (memchr(msg, 0, m.u.fatal.msg.n))
            goto out;
        rc = vg_ipc_encode_fatal(&out, m.u.fatal.status, msg);
        break;
    }
    case VG_IPC_RESULT:
        rc = vg_ipc_encode_result(&out, &m.u.result, m.u.result.dets);
        if (rc == 0 && m.u.result.jpeg)
            vg_buf_append(&out, m.u.result.jpeg, m.u.result.jpeg_len);
        break;
    }
    if (rc != 0)
        abort();   /* what decodes must encode */
    const uint8_t *f = (const uint8_t *)out.data;
    size_t len = (size_t)f[0] << 24 | (size_t)f[1] << 16 | (size_t)f[2] << 8 | f[3];
    if (len != out.len - VG_IPC_HDR)
        abort();
    if (vg_ipc_decode(f + VG_IPC_HDR, len, &again) != 0)
        abort();
    check_same(&m, &again);
    vg_ipc_msg_release(&again);
out:
    vg_ipc_msg_release(&m);
    vg_buf_release(&out);
}


typedef struct frames {
    size_t *off, *len;             /* n / 4 + 1 entries: a frame takes 4 bytes at least */
    int n;
    int proto;                     /* stopped at an oversized header */
} frames;


static void
ref_frames(const uint8_t *p, size_t n, size_t max, frames *fr)
{
    size_t at = 0;
    memset(fr, 0, sizeof *fr);
    fr->off = calloc(n / VG_IPC_HDR + 1, sizeof *fr->off);
    fr->len = calloc(n / VG_IPC_HDR + 1, sizeof *fr->len);
    while (n - at >= VG_IPC_HDR) {
        size_t len = (size_t)p[at] << 24 | (size_t)p[at + 1] << 16 | (size_t)p[at + 2] << 8 | p[at + 3];
        if (len > max) {
            fr->proto = 1;
            return;
        }
        if (n - at - VG_IPC_HDR < len)
            return;
        fr->off[fr->n] = at + VG_IPC_HDR;
        fr->len[fr->n++] = len;
        at += VG_IPC_HDR + len;
    }
}


static void
mode_frames(const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    uint32_t seed = data[0] * 2654435761u + 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    frames want;
    ref_frames(p, n, MAX_PAYLOAD, &want);

    /* the reactor's reader, fed in chunks */
    vg_frame_reader r;
    vg_frame_reader_init(&r, MAX_PAYLOAD);
    int got = 0, proto = 0;
    size_t at = 0;
    while (at < n && !proto) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 300;
        if (chunk > n - at)
            chunk = n - at;
        ssize_t fed = vg_frame_reader_feed(&r, p + at, chunk);
        if (fed == VG_E_PROTO)
            proto = 1;
        else if (fed != (ssize_t)chunk)
            abort();
        at += chunk;
        const uint8_t *pl;
        size_t pn;
        int k;
        while ((k = vg_frame_reader_next(&r, &pl, &pn)) == 1) {
            if (got >= want.n || pn != want.len[got] || memcmp(pl, p + want.off[got], pn) != 0)
                abort();
            got++;
        }
        if (k == VG_E_PROTO)
            proto = 1;
        else if (k != 0)
            abort();
    }
    if (got != want.n || proto != want.proto)
        abort();
    vg_frame_reader_release(&r);

    /* the workers' blocking reader, from a pipe */
    if (n > 60000)
        goto out;   /* more than a pipe holds without a reader */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        abort();
    if (n && write(fds[1], p, n) != (ssize_t)n)
        abort();
    close(fds[1]);
    uint8_t *buf = NULL;
    size_t cap = 0;
    got = 0;
    for (;;) {
        ssize_t len = vg_frame_read(fds[0], &buf, &cap, MAX_PAYLOAD);
        if (len < 0) {
            /* a clean end only at a frame boundary after the last frame */
            size_t end = got ? want.off[got - 1] + want.len[got - 1] : 0;
            if (got != want.n || (len == -EPIPE) != (!want.proto && end == n) ||
                (len != -EPIPE && len != VG_E_PROTO))
                abort();
            break;
        }
        if (got >= want.n || (size_t)len != want.len[got] || memcmp(buf, p + want.off[got], (size_t)len) != 0)
            abort();
        got++;
    }
    free(buf);
    close(fds[0]);
out:
    free(want.off);
    free(want.len);
}


/* Reads one value by its type byte with the typed reads and writes it back. */
static int
walk(vg_mpr *r, vg_mpw *w, int depth)
{
    if (r->p >= r->end || depth > VG_MPK_MAX_DEPTH)
        return -1;   /* the cursor's nesting limit, as vg_mpr_skip has it */
    uint8_t t = *r->p;
    uint32_t n;
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        if (vg_mpr_array(r, &n) < 0)
            return -1;
        vg_mpw_array(w, n);
        for (uint32_t i = 0; i < n; i++)
            if (walk(r, w, depth + 1) < 0)
                return -1;
        return 0;
    }
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        if (vg_mpr_map(r, &n) < 0)
            return -1;
        vg_mpw_map(w, n);
        for (uint32_t i = 0; i < 2 * n; i++)
            if (walk(r, w, depth + 1) < 0)
                return -1;
        return 0;
    }
    if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) {
        vg_str s;
        if (vg_mpr_str(r, &s) < 0)
            return -1;
        vg_mpw_str(w, s.p, s.n);
        return 0;
    }
    if (t >= 0xc4 && t <= 0xc6) {
        const uint8_t *b;
        size_t bn;
        if (vg_mpr_bin(r, &b, &bn) < 0)
            return -1;
        vg_mpw_bin(w, b, bn);
        return 0;
    }
    if (t == 0xc0) {
        if (!vg_mpr_nil(r))
            abort();
        vg_mpw_nil(w);
        return 0;
    }
    if (t == 0xc2 || t == 0xc3) {
        int v;
        if (vg_mpr_bool(r, &v) < 0)
            return -1;
        vg_mpw_bool(w, v);
        return 0;
    }
    if (t == 0xca || t == 0xcb) {
        double d;
        if (vg_mpr_f64(r, &d) < 0)
            return -1;
        if (t == 0xca)
            msgpack_pack_float(&w->pk, (float)d);
        else
            vg_mpw_f64(w, d);
        return 0;
    }
    if (t <= 0x7f || (t >= 0xcc && t <= 0xcf)) {
        uint64_t u;
        if (vg_mpr_u64(r, &u) < 0)
            return -1;
        vg_mpw_u64(w, u);
        return 0;
    }
    int64_t i;
    if (vg_mpr_i64(r, &i) < 0)
        return -1;
    /* msgpack-c reads a non-negative signed encoding as a positive integer */
    if (i >= 0)
        vg_mpw_u64(w, (uint64_t)i);
    else
        vg_mpw_i64(w, i);
    return 0;
}


static int
depth_of(const msgpack_object *o)
{
    int d = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            int k = depth_of(&o->via.array.ptr[i]);
            d = k > d ? k : d;
        }
    if (o->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            int k = depth_of(&o->via.map.ptr[i].key), v = depth_of(&o->via.map.ptr[i].val);
            d = k > d ? k : d;
            d = v > d ? v : d;
        }
    return o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP ? d + 1 : d;
}


static void
mode_mpk(const uint8_t *p, size_t n)
{
    vg_mpr r, s;
    vg_mpr_init(&r, p, n);
    vg_mpr_init(&s, p, n);
    vg_buf ours;
    vg_buf_init(&ours);
    vg_mpw w;
    vg_mpw_init(&w, &ours);
    int ok = walk(&r, &w, 0) == 0 && !r.err;
    /* skip agrees with the typed reads */
    int skipped = vg_mpr_skip(&s) == 0;
    if (ok && (!skipped || s.p != r.p))
        abort();
    if (ok) {
        size_t used = (size_t)(r.p - p), off = 0;
        msgpack_zone zone;
        msgpack_zone_init(&zone, 2048);
        msgpack_object obj;
        if (msgpack_unpack((const char *)p, used, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS || off != used)
            abort();
        if (depth_of(&obj) > VG_MPK_MAX_DEPTH + 1)
            abort();   /* the cursor's nesting limit */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, obj);
        if (sb.size != ours.len || memcmp(sb.data, ours.data, sb.size) != 0)
            abort();
        msgpack_sbuffer_destroy(&sb);
        msgpack_zone_destroy(&zone);
    }
    vg_buf_release(&ours);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    switch (data[0] % 3) {
    case 0:
        mode_decode(data + 1, size - 1);
        break;
    case 1:
        mode_frames(data + 1, size - 1);
        break;
    default:
        mode_mpk(data + 1, size - 1);
        break;
    }
    return 0;
}
