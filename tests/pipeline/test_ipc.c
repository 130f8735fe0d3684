/*
 * test_ipc: frame and message codecs of the master <-> worker protocol:
 * round trips, every truncation, oversized and hostile frames, mutations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "pool/ipc.h"


/* Splits an encoded frame: checks the header and returns the payload. */
static const uint8_t *
payload_of(const vg_buf *b, const uint8_t *tail, size_t tail_len, uint8_t **joined, size_t *n)
{
    assert_true(b->len >= VG_IPC_HDR);
    const uint8_t *h = (const uint8_t *)b->data;
    size_t len = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    assert_int_equal(len, b->len - VG_IPC_HDR + tail_len);
    *joined = malloc(len ? len : 1);
    memcpy(*joined, b->data + VG_IPC_HDR, b->len - VG_IPC_HDR);
    if (tail_len)
        memcpy(*joined + b->len - VG_IPC_HDR, tail, tail_len);
    *n = len;
    return *joined;
}


static void
test_job_roundtrip(void **state)
{
    (void)state;
    uint8_t img[3000], mask[80];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof mask; i++)
        mask[i] = i % 3 == 0;
    vg_ipc_job j = { .id = 0x1234567890ull, .threshold = 0.25f, .nms = 0.45f, .class_mask = mask,
                     .mask_len = sizeof mask, .annotate = 1, .quality = 77, .attributes = 1, .image = img,
                     .image_len = sizeof img };
    vg_buf b;
    vg_buf_init(&b);
    assert_int_equal(vg_ipc_encode_job(&b, &j), 0);
    assert_true(b.len < 200);   /* the image is not in the prefix */
    uint8_t *p;
    size_t n;
    payload_of(&b, img, sizeof img, &p, &n);
    vg_ipc_msg m;
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.type, VG_IPC_JOB);
    assert_int_equal(m.u.job.id, j.id);
    assert_true(m.u.job.threshold == 0.25f && m.u.job.nms == 0.45f);
    assert_int_equal(m.u.job.mask_len, sizeof mask);
    assert_memory_equal(m.u.job.class_mask, mask, sizeof mask);
    assert_int_equal(m.u.job.annotate, 1);
    assert_int_equal(m.u.job.quality, 77);
    assert_int_equal(m.u.job.attributes, 1);
    assert_int_equal(m.u.job.image_len, sizeof img);
    assert_memory_equal(m.u.job.image, img, sizeof img);
    assert_true(m.u.job.image >= p && m.u.job.image < p + n);   /* zero copy */
    vg_ipc_msg_release(&m);
    free(p);

    /* no mask, defaults */
    b.len = 0;
    j.class_mask = NULL;
    j.mask_len = 0;
    j.threshold = -1;
    j.annotate = 0;
    assert_int_equal(vg_ipc_encode_job(&b, &j), 0);
    payload_of(&b, img, sizeof img, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_null(m.u.job.class_mask);
    assert_true(m.u.job.threshold < 0);
    free(p);
    /* an empty image is refused by the encoder */
    b.len = 0;
    j.image_len = 0;
    assert_int_equal(vg_ipc_encode_job(&b, &j), VG_E_INVAL);
    vg_buf_release(&b);
}


/* An MJPEG overlay job ("ov"): every field comes back; what is beyond the limits is refused by the encoder. */
static void
test_overlay_roundtrip(void **state)
{
    (void)state;
    uint8_t img[64];
    memset(img, 9, sizeof img);
    vg_overlay *o = calloc(1, sizeof *o);
    assert_non_null(o);
    assert_int_equal(vg_overlay_label(o, "person"), 0);
    assert_int_equal(vg_overlay_label(o, "dog"), 1);
    assert_int_equal(vg_overlay_label(o, "person"), 0);
    o->nboxes = 2;
    o->boxes[0] = (vg_overlay_box){ 1, 2, 30, 40, 0, 0, 7 };
    o->boxes[1] = (vg_overlay_box){ 5, 6, 70, 80, 16, 1, 0 };
    o->nzones = 1;
    snprintf(o->zones[0].name, sizeof o->zones[0].name, "drive");
    o->zones[0].np = 3;
    int pts[3][2] = { { 0, 0 }, { 100, 0 }, { 50, 90 } };
    memcpy(o->zones[0].pts, pts, sizeof pts);
    o->nlines = 1;
    snprintf(o->lines[0].name, sizeof o->lines[0].name, "gate");
    o->lines[0] = (vg_overlay_line){ "gate", { 10, 50 }, { 90, 50 }, 3, 4 };
    vg_ipc_job j = { .id = 77, .threshold = -1, .nms = -1, .quality = 80, .overlay = o, .image = img,
                     .image_len = sizeof img };
    vg_buf b;
    vg_buf_init(&b);
    assert_int_equal(vg_ipc_encode_job(&b, &j), 0);
    uint8_t *p;
    size_t n;
    payload_of(&b, img, sizeof img, &p, &n);
    vg_ipc_msg m;
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    const vg_overlay *d = m.u.job.overlay;
    assert_non_null(d);
    assert_int_equal(d->nlabels, 2);
    assert_string_equal(d->labels[1], "dog");
    assert_int_equal(d->nboxes, 2);
    assert_memory_equal(&d->boxes[0], &o->boxes[0], sizeof o->boxes[0]);
    assert_memory_equal(&d->boxes[1], &o->boxes[1], sizeof o->boxes[1]);
    assert_int_equal(d->nzones, 1);
    assert_string_equal(d->zones[0].name, "drive");
    assert_int_equal(d->zones[0].np, 3);
    assert_memory_equal(d->zones[0].pts, pts, sizeof pts);
    assert_int_equal(d->nlines, 1);
    assert_string_equal(d->lines[0].name, "gate");
    assert_true(d->lines[0].b[0] == 90 && d->lines[0].forward == 3 && d->lines[0].backward == 4);
    vg_ipc_msg_release(&m);
    free(p);
    /* beyond the limits: a zone of two points, a coordinate past the largest, a label out of the table */
    o->zones[0].np = 2;
    b.len = 0;
    assert_int_equal(vg_ipc_encode_job(&b, &j), VG_E_INVAL);
    o->zones[0].np = 3;
    o->lines[0].a[0] = VG_OVERLAY_COORD_MAX + 1;
    b.len = 0;
    assert_int_equal(vg_ipc_encode_job(&b, &j), VG_E_INVAL);
    o->lines[0].a[0] = 10;
    o->boxes[1].label = 5;
    b.len = 0;
    assert_int_equal(vg_ipc_encode_job(&b, &j), VG_E_INVAL);
    vg_buf_release(&b);
    free(o);
}


static void
test_result_roundtrip(void **state)
{
    (void)state;
    vg_detection d[3] = {
        { 16, NULL, 0.93f, 112, 162, 417, 540, 4, 8 },   /* colours: red over blue */
        { 2, NULL, 0.88f, 452, 71, 661, 164, 0, 0 },
        { 1, NULL, 0.5f, 0, 0, 767, 575, 0, 1 },
    };
    uint8_t jpeg[500];
    memset(jpeg, 0xab, sizeof jpeg);
    vg_ipc_result r = { .id = 42, .status = 0, .msg = VG_STR(""), .w = 768, .h = 576, .ndet = 3,
                        .decode_us = 1, .infer_us = 200000, .post_us = 3, .annotate_us = 4,
                        .rss = 123456789, .jpeg = jpeg, .jpeg_len = sizeof jpeg, .last = 1 };
    vg_buf b;
    vg_buf_init(&b);
    assert_int_equal(vg_ipc_encode_result(&b, &r, d), 0);
    uint8_t *p;
    size_t n;
    payload_of(&b, jpeg, sizeof jpeg, &p, &n);
    vg_ipc_msg m;
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.type, VG_IPC_RESULT);
    vg_ipc_result *x = &m.u.result;
    assert_int_equal(x->id, 42);
    assert_int_equal(x->w, 768);
    assert_int_equal(x->h, 576);
    assert_int_equal(x->ndet, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(x->dets[i].class_id, d[i].class_id);
        assert_true(x->dets[i].confidence == d[i].confidence);
        assert_int_equal(x->dets[i].x_min, d[i].x_min);
        assert_int_equal(x->dets[i].y_max, d[i].y_max);
        assert_int_equal(x->dets[i].upper_color, d[i].upper_color);
        assert_int_equal(x->dets[i].lower_color, d[i].lower_color);
    }
    assert_int_equal(x->infer_us, 200000);
    assert_int_equal(x->rss, 123456789);
    assert_int_equal(x->last, 1);
    assert_int_equal(x->jpeg_len, sizeof jpeg);
    assert_memory_equal(x->jpeg, jpeg, sizeof jpeg);
    vg_ipc_msg_release(&m);
    free(p);

    /* an error result */
    b.len = 0;
    vg_ipc_result e = { .id = 7, .status = VG_E_DECODE, .msg = VG_STR("undecodable jpeg: premature end") };
    assert_int_equal(vg_ipc_encode_result(&b, &e, NULL), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.u.result.status, VG_E_DECODE);
    assert_int_equal(m.u.result.msg.n, strlen("undecodable jpeg: premature end"));
    assert_memory_equal(m.u.result.msg.p, "undecodable jpeg: premature end", m.u.result.msg.n);
    assert_null(m.u.result.jpeg);
    vg_ipc_msg_release(&m);
    free(p);

    /* a box outside the image is a protocol error */
    b.len = 0;
    vg_detection bad = { .class_id = 0, .label = NULL, .confidence = 0.5f, .x_min = 10, .y_min = 10, .x_max = 800, .y_max = 20 };
    vg_ipc_result rb = { .id = 1, .w = 768, .h = 576, .ndet = 1 };
    assert_int_equal(vg_ipc_encode_result(&b, &rb, &bad), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), VG_E_PROTO);
    free(p);
    /* a colour beyond the palette is a protocol error */
    b.len = 0;
    vg_detection badc = { 0, NULL, 0.5f, 10, 10, 20, 20, 12, 0 };
    assert_int_equal(vg_ipc_encode_result(&b, &rb, &badc), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), VG_E_PROTO);
    free(p);
    vg_buf_release(&b);
}


static void
test_ready_fatal_quit(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_ipc_ready r = { .pid = 99, .backend = VG_STR("darknet"), .version = VG_STR("1.0"),
                       .device = VG_STR("cpu"), .why = VG_STR("auto: cpu: not installed"),
                       .input_w = 320, .input_h = 256, .classes = 80, .max_batch = 4, .gflops = 0.5,
                       .task = 1 };
    assert_int_equal(vg_ipc_encode_ready(&b, &r), 0);
    uint8_t *p;
    size_t n;
    vg_ipc_msg m;
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.type, VG_IPC_READY);
    assert_int_equal(m.u.ready.pid, 99);
    assert_int_equal(m.u.ready.input_h, 256);
    assert_int_equal(m.u.ready.max_batch, 4);
    assert_memory_equal(m.u.ready.backend.p, "darknet", 7);
    assert_true(m.u.ready.gflops == 0.5);
    assert_int_equal(m.u.ready.task, 1);   /* classify */
    assert_int_equal(m.u.ready.nlabels, 0);
    free(p);

    /* labels from the plugin: as many as classes, within the limits, or refused both ways */
    vg_str labels[3] = { VG_STR("cat"), VG_STR("dog"), VG_STR("bird") };
    r.classes = 3;
    r.labels = labels;
    r.nlabels = 3;
    b.len = 0;
    assert_int_equal(vg_ipc_encode_ready(&b, &r), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.u.ready.nlabels, 3);
    assert_memory_equal(m.u.ready.labels[2].p, "bird", 4);
    assert_int_equal(m.u.ready.labels[2].n, 4);
    vg_ipc_msg_release(&m);
    assert_null(m.u.ready.labels);
    free(p);
    r.classes = 4;               /* a count other than classes */
    assert_int_equal(vg_ipc_encode_ready(&b, &r), VG_E_INVAL);
    r.classes = 3;
    labels[1].n = 0;             /* an empty label */
    assert_int_equal(vg_ipc_encode_ready(&b, &r), VG_E_INVAL);
    char longl[VG_IPC_MAX_LABEL + 1];
    memset(longl, 'x', sizeof longl);
    labels[1] = (vg_str){ longl, sizeof longl };   /* one byte too long */
    assert_int_equal(vg_ipc_encode_ready(&b, &r), VG_E_INVAL);
    labels[1].n = VG_IPC_MAX_LABEL;
    b.len = 0;
    assert_int_equal(vg_ipc_encode_ready(&b, &r), 0);
    /* decoding refuses what encoding refuses: the count byte says 4 labels of 3 classes */
    payload_of(&b, NULL, 0, &p, &n);
    uint8_t *arr = memmem(p, n, "\xa2lb\x93", 4);
    assert_non_null(arr);
    arr[3] = 0x94;
    assert_int_equal(vg_ipc_decode(p, n, &m), VG_E_PROTO);
    arr[3] = 0x93;
    uint8_t *tag = memmem(p, n, "\xa4""bird", 5);   /* an empty label: "bird" becomes "" then junk */
    assert_non_null(tag);
    tag[0] = 0xa0;
    assert_int_equal(vg_ipc_decode(p, n, &m), VG_E_PROTO);
    free(p);
    r.labels = NULL;
    r.nlabels = 0;

    b.len = 0;
    assert_int_equal(vg_ipc_encode_fatal(&b, VG_E_MANIFEST, "weights truncated"), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.type, VG_IPC_FATAL);
    assert_int_equal(m.u.fatal.status, VG_E_MANIFEST);
    free(p);

    b.len = 0;
    assert_int_equal(vg_ipc_encode_quit(&b), 0);
    payload_of(&b, NULL, 0, &p, &n);
    assert_int_equal(vg_ipc_decode(p, n, &m), 0);
    assert_int_equal(m.type, VG_IPC_QUIT);
    free(p);
    vg_buf_release(&b);
}


/* Every strict prefix of a valid payload is refused (never read past the end). */
static void
check_truncations(const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, p, k);
        vg_ipc_msg m;
        int rc = vg_ipc_decode(cut, k, &m);
        assert_int_equal(rc, VG_E_PROTO);
        free(cut);
    }
}


static void
test_truncated(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_detection d[2] = {
        { .class_id = 3, .label = NULL, .confidence = 0.7f, .x_min = 1, .y_min = 2, .x_max = 3, .y_max = 4 },
        { .class_id = 5, .label = NULL, .confidence = 0.6f, .x_min = 5, .y_min = 6, .x_max = 7, .y_max = 8 },
    };
    uint8_t jpeg[40] = { 0 };
    vg_ipc_result r = { .id = 9, .w = 100, .h = 100, .ndet = 2, .msg = VG_STR("x"), .jpeg = jpeg, .jpeg_len = 40 };
    assert_int_equal(vg_ipc_encode_result(&b, &r, d), 0);
    uint8_t *p;
    size_t n;
    payload_of(&b, jpeg, sizeof jpeg, &p, &n);
    check_truncations(p, n);
    free(p);

    b.len = 0;
    uint8_t img[64] = { 0xff, 0xd8, 0xff };
    vg_ipc_job j = { .id = 1, .threshold = 0.5f, .nms = 0.4f, .image = img, .image_len = sizeof img };
    assert_int_equal(vg_ipc_encode_job(&b, &j), 0);
    payload_of(&b, img, sizeof img, &p, &n);
    check_truncations(p, n);
    /* trailing garbage is refused too */
    uint8_t *more = malloc(n + 1);
    memcpy(more, p, n);
    more[n] = 0xc0;
    vg_ipc_msg m;
    assert_int_equal(vg_ipc_decode(more, n + 1, &m), VG_E_PROTO);
    free(more);
    free(p);
    vg_buf_release(&b);
}


static void
test_hostile(void **state)
{
    (void)state;
    vg_ipc_msg m;
    /* a map claiming 2^32-1 entries in 6 bytes */
    const uint8_t huge_map[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0 };
    assert_int_equal(vg_ipc_decode(huge_map, sizeof huge_map, &m), VG_E_PROTO);
    /* a result whose detection array claims 2^32-1 elements */
    const uint8_t huge_arr[] = { 0x83, 0xa1, 't', 0x05, 0xa1, 'd', 0xdd, 0xff, 0xff, 0xff, 0xff,
                                 0xa2, 'i', 'd', 0x01 };
    assert_int_equal(vg_ipc_decode(huge_arr, sizeof huge_arr, &m), VG_E_PROTO);
    /* a bin length past the end */
    const uint8_t bin[] = { 0x83, 0xa1, 't', 0x01, 0xa2, 'i', 'd', 0x01, 0xa3, 'i', 'm', 'g', 0xc6, 0x7f, 0xff, 0xff, 0xff };
    assert_int_equal(vg_ipc_decode(bin, sizeof bin, &m), VG_E_PROTO);
    /* deep nesting in an unknown key */
    uint8_t deep[64];
    size_t k = 0;
    deep[k++] = 0x83;
    deep[k++] = 0xa1; deep[k++] = 't'; deep[k++] = 0x02;
    deep[k++] = 0xa1; deep[k++] = 'z';
    for (int i = 0; i < 40; i++)
        deep[k++] = 0x91;
    deep[k++] = 0xc0;
    deep[k++] = 0xa1; deep[k++] = 'y'; deep[k++] = 0xc0;
    assert_int_equal(vg_ipc_decode(deep, k, &m), VG_E_PROTO);
    /* unknown type, type not first, not a map, ext types, empty */
    const uint8_t t9[] = { 0x81, 0xa1, 't', 0x09 };
    assert_int_equal(vg_ipc_decode(t9, sizeof t9, &m), VG_E_PROTO);
    const uint8_t notfirst[] = { 0x82, 0xa2, 'i', 'd', 0x01, 0xa1, 't', 0x01 };
    assert_int_equal(vg_ipc_decode(notfirst, sizeof notfirst, &m), VG_E_PROTO);
    const uint8_t arr[] = { 0x91, 0x01 };
    assert_int_equal(vg_ipc_decode(arr, sizeof arr, &m), VG_E_PROTO);
    const uint8_t ext[] = { 0x82, 0xa1, 't', 0x02, 0xa1, 'x', 0xd4, 0x01, 0x02 };
    assert_int_equal(vg_ipc_decode(ext, sizeof ext, &m), VG_E_PROTO);
    assert_int_equal(vg_ipc_decode((const uint8_t *)"", 0, &m), VG_E_PROTO);
    /* a quit with an unknown extra key is fine (forward compatible) */
    const uint8_t quit_extra[] = { 0x82, 0xa1, 't', 0x02, 0xa1, 'x', 0x92, 0x01, 0xa1, 'a' };
    assert_int_equal(vg_ipc_decode(quit_extra, sizeof quit_extra, &m), 0);
    assert_int_equal(m.type, VG_IPC_QUIT);
}


/* Random byte flips of valid frames: decode returns 0 or PROTO, never crashes. */
static void
test_mutations(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_detection d[4] = {
        { .class_id = 3, .label = NULL, .confidence = 0.7f, .x_min = 1, .y_min = 2, .x_max = 3, .y_max = 4 },
        { .class_id = 5, .label = NULL, .confidence = 0.6f, .x_min = 5, .y_min = 6, .x_max = 7, .y_max = 8 },
        { .class_id = 1, .label = NULL, .confidence = 0.9f, .x_min = 0, .y_min = 0, .x_max = 9, .y_max = 9 },
        { .class_id = 0, .label = NULL, .confidence = 0.1f, .x_min = 2, .y_min = 2, .x_max = 2, .y_max = 2 },
    };
    vg_ipc_result r = { .id = 9, .w = 100, .h = 100, .ndet = 4, .msg = VG_STR("hello") };
    assert_int_equal(vg_ipc_encode_result(&b, &r, d), 0);
    size_t n = b.len - VG_IPC_HDR;
    uint8_t *orig = malloc(n), *p = malloc(n);
    memcpy(orig, b.data + VG_IPC_HDR, n);
    srand(12345);
    int ok = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(p, orig, n);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            p[rand() % n] = (uint8_t)rand();
        size_t len = rand() % 8 ? n : (size_t)rand() % (n + 1);
        vg_ipc_msg m;
        int rc = vg_ipc_decode(p, len, &m);
        if (rc == 0) {
            ok++;
            if (m.type == VG_IPC_RESULT)
                for (size_t i = 0; i < m.u.result.ndet; i++)
                    assert_true(m.u.result.dets[i].x_max < m.u.result.w);
            vg_ipc_msg_release(&m);
        } else {
            assert_int_equal(rc, VG_E_PROTO);
            bad++;
        }
    }
    assert_true(bad > 0);
    free(orig);
    free(p);
    vg_buf_release(&b);
}


static void
test_reader(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    assert_int_equal(vg_ipc_encode_quit(&b), 0);
    vg_ipc_ready r = { .pid = 5, .backend = VG_STR("cpu"), .input_w = 1, .input_h = 1, .classes = 1, .max_batch = 1 };
    assert_int_equal(vg_ipc_encode_ready(&b, &r), 0);
    assert_int_equal(vg_ipc_encode_quit(&b), 0);

    /* byte by byte: three frames come out, in order */
    vg_frame_reader rd;
    vg_frame_reader_init(&rd, 1024);
    int types[3], got = 0;
    for (size_t i = 0; i < b.len; i++) {
        assert_int_equal(vg_frame_reader_feed(&rd, b.data + i, 1), 1);
        const uint8_t *p;
        size_t n;
        while (vg_frame_reader_next(&rd, &p, &n) == 1) {
            vg_ipc_msg m;
            assert_int_equal(vg_ipc_decode(p, n, &m), 0);
            types[got++] = m.type;
        }
    }
    assert_int_equal(got, 3);
    assert_int_equal(types[0], VG_IPC_QUIT);
    assert_int_equal(types[1], VG_IPC_READY);
    assert_int_equal(types[2], VG_IPC_QUIT);
    vg_frame_reader_release(&rd);

    /* a header over the limit is refused before any payload arrives */
    vg_frame_reader_init(&rd, 1024);
    const uint8_t big[4] = { 0, 0, 0x04, 0x01 };   /* 1025 */
    assert_int_equal(vg_frame_reader_feed(&rd, big, 4), VG_E_PROTO);
    vg_frame_reader_release(&rd);
    vg_frame_reader_init(&rd, 0);
    const uint8_t neg[4] = { 0xff, 0xff, 0xff, 0xff };
    assert_int_equal(vg_frame_reader_feed(&rd, neg, 4), VG_E_PROTO);
    vg_frame_reader_release(&rd);

    /* through a real socketpair, with fill(), and end of stream */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(vg_frame_write_all(sv[0], b.data, b.len, NULL, 0), 0);
    close(sv[0]);
    vg_frame_reader_init(&rd, 1024);
    got = 0;
    for (;;) {
        ssize_t n = vg_frame_reader_fill(&rd, sv[1]);
        assert_true(n >= 0);
        const uint8_t *p;
        size_t len;
        while (vg_frame_reader_next(&rd, &p, &len) == 1)
            got++;
        if (n == 0)
            break;
    }
    assert_int_equal(got, 3);
    vg_frame_reader_release(&rd);
    close(sv[1]);

    /* blocking read_frame: whole frames, then -EPIPE at a clean end, PROTO mid-frame */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(vg_frame_write_all(sv[0], b.data, b.len - 2, NULL, 0), 0);
    close(sv[0]);
    uint8_t *fb = NULL;
    size_t cap = 0;
    assert_true(vg_frame_read(sv[1], &fb, &cap, 1024) > 0);
    assert_true(vg_frame_read(sv[1], &fb, &cap, 1024) > 0);
    assert_int_equal(vg_frame_read(sv[1], &fb, &cap, 1024), VG_E_PROTO);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[0]);
    assert_int_equal(vg_frame_read(sv[1], &fb, &cap, 1024), -EPIPE);
    close(sv[1]);
    free(fb);
    vg_buf_release(&b);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip),
        cmocka_unit_test(test_overlay_roundtrip),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_ready_fatal_quit),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
