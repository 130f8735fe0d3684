/*
 * test_envelope: core/cluster/envelope: a job and a result survive the
 * trip through their stream fields (the worker protocol's own frames
 * inside), labels come back one per detection, and malformed entries and
 * placement records are refused with a message, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "cluster/envelope.h"

static size_t
to_kv(const char **argv, const size_t *lens, int n, vg_str *kv)
{
    for (int i = 0; i < n; i++) {
        kv[i].p = argv[i];
        kv[i].n = lens[i];
    }
    return (size_t)n;
}


static void
test_job_roundtrip(void **state)
{
    (void)state;
    vg_buf fr;
    vg_buf_init(&fr);
    static const uint8_t img[] = "\xff\xd8 not really a jpeg";
    vg_ipc_job ij = { .id = 42, .threshold = 0.5f, .nms = -1, .annotate = 1, .quality = 70, .image = img,
                      .image_len = sizeof img };
    assert_int_equal(vg_ipc_encode_job(&fr, &ij), 0);
    vg_buf_append(&fr, img, sizeof img);
    vg_cluster_job cj = { .id = 42, .reply = VG_STR("vigia:reply:C"), .deadline_ms = 1700000000123, .live = 1,
                          .classes = VG_STR("dog,cat"), .frame = { fr.data, fr.len } };
    const char *argv[2 * VG_CLUSTER_MAX_FIELDS];
    size_t lens[2 * VG_CLUSTER_MAX_FIELDS];
    char scratch[96], err[160];
    int n = vg_cluster_job_fields(&cj, scratch, argv, lens);
    vg_str kv[2 * VG_CLUSTER_MAX_FIELDS];
    vg_cluster_job out;
    assert_int_equal(vg_cluster_job_decode(kv, to_kv(argv, lens, n, kv), &out, err, sizeof err), 0);
    assert_int_equal(out.id, 42);
    assert_true(vg_str_eq(out.reply, "vigia:reply:C"));
    assert_int_equal(out.deadline_ms, 1700000000123);
    assert_int_equal(out.live, 1);
    assert_true(vg_str_eq(out.classes, "dog,cat"));
    assert_int_equal(out.msg.type, VG_IPC_JOB);
    assert_int_equal(out.msg.u.job.image_len, sizeof img);
    assert_memory_equal(out.msg.u.job.image, img, sizeof img);
    assert_int_equal(out.msg.u.job.annotate, 1);
    assert_int_equal(out.msg.u.job.quality, 70);
    vg_cluster_job_release(&out);

    /* each field missing in turn is refused; a cut frame is refused */
    for (int skip = 0; skip < n; skip += 2) {
        vg_str part[2 * VG_CLUSTER_MAX_FIELDS];
        size_t k = 0;
        for (int i = 0; i < n; i++)
            if (i != skip && i != skip + 1)
                part[k++] = kv[i];
        int rc = vg_cluster_job_decode(part, k, &out, err, sizeof err);
        int optional = vg_str_eq(kv[skip], "live") || vg_str_eq(kv[skip], "classes");
        if (optional) {
            assert_int_equal(rc, 0);
            vg_cluster_job_release(&out);
        } else {
            assert_int_equal(rc, VG_E_PROTO);
            assert_non_null(strstr(err, "malformed"));
        }
    }
    kv[n - 1].n--;
    assert_int_equal(vg_cluster_job_decode(kv, (size_t)n, &out, err, sizeof err), VG_E_PROTO);
    kv[n - 1].n++;
    kv[3].n = VG_CLUSTER_MAX_KEY + 1;   /* the reply stream name past its limit */
    assert_int_equal(vg_cluster_job_decode(kv, (size_t)n, &out, err, sizeof err), VG_E_PROTO);
    assert_int_equal(vg_cluster_job_decode(kv, 3, &out, err, sizeof err), VG_E_PROTO);   /* odd */
    vg_buf_release(&fr);
}


static void
test_result_roundtrip(void **state)
{
    (void)state;
    vg_buf fr;
    vg_buf_init(&fr);
    vg_detection d[2] = {
        { .class_id = 16, .label = "dog", .confidence = 0.9f, .x_min = 1, .y_min = 2, .x_max = 30, .y_max = 40 },
        { .class_id = 15, .label = "cat", .confidence = 0.5f, .x_min = 5, .y_min = 6, .x_max = 7, .y_max = 8 },
    };
    vg_ipc_result ir = { .id = 9, .w = 640, .h = 480, .ndet = 2, .infer_us = 1234 };
    assert_int_equal(vg_ipc_encode_result(&fr, &ir, d), 0);
    const char *argv[2 * VG_CLUSTER_MAX_FIELDS];
    size_t lens[2 * VG_CLUSTER_MAX_FIELDS];
    char scratch[48], err[160];
    vg_cluster_result r = { .id = 9, .node = VG_STR("B"), .labels = VG_STR("dog\ncat"), .frame = { fr.data, fr.len } };
    int n = vg_cluster_result_fields(&r, scratch, argv, lens);
    vg_str kv[2 * VG_CLUSTER_MAX_FIELDS];
    vg_cluster_result out;
    assert_int_equal(vg_cluster_result_decode(kv, to_kv(argv, lens, n, kv), &out, err, sizeof err), 0);
    assert_int_equal(out.id, 9);
    assert_true(vg_str_eq(out.node, "B"));
    assert_int_equal(out.msg.u.result.ndet, 2);
    assert_string_equal(out.msg.u.result.dets[0].label, "dog");
    assert_string_equal(out.msg.u.result.dets[1].label, "cat");
    assert_int_equal(out.msg.u.result.dets[0].x_max, 30);
    assert_int_equal(out.msg.u.result.infer_us, 1234);
    vg_cluster_result_release(&out);
    /* labels that do not match the detections */
    static const char *bad[] = { "dog", "dog\ncat\nbird", "dog\n", "\ncat", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r.labels = vg_str_of(bad[i]);
        n = vg_cluster_result_fields(&r, scratch, argv, lens);
        assert_int_equal(vg_cluster_result_decode(kv, to_kv(argv, lens, n, kv), &out, err, sizeof err), VG_E_PROTO);
        assert_non_null(strstr(err, "labels"));
    }
    r.labels = VG_STR("dog\ncat");
    r.node = VG_STR("bad node");
    n = vg_cluster_result_fields(&r, scratch, argv, lens);
    assert_int_equal(vg_cluster_result_decode(kv, to_kv(argv, lens, n, kv), &out, err, sizeof err), VG_E_PROTO);
    vg_buf_release(&fr);
}


static void
test_node_record(void **state)
{
    (void)state;
    vg_cluster_node a = { .name = "B", .role = "worker", .nmodels = 2 };
    snprintf(a.models[0].name, sizeof a.models[0].name, "yolo-fastest-1.1");
    snprintf(a.models[0].state, sizeof a.models[0].state, "ready");
    a.models[0].ready = 2;
    a.models[0].free = 1;
    snprintf(a.models[1].name, sizeof a.models[1].name, "yoloface-50k");
    snprintf(a.models[1].state, sizeof a.models[1].state, "loading");
    vg_buf b;
    vg_buf_init(&b);
    vg_cluster_node_encode(&b, &a);
    vg_cluster_node out;
    char err[160];
    assert_int_equal(vg_cluster_node_decode(b.data, b.len, &out, err, sizeof err), 0);
    assert_memory_equal(&a, &out, sizeof a);
    static const char *bad[] = {
        "vigia-node 2 worker B\n", "vigia-node 1 boss B\n", "vigia-node 1 worker B", "vigia-node 1 worker B C\n",
        "vigia-node 1 worker B\nm ready 1\n", "vigia-node 1 worker B\nm ready 1 x\n", "vigia-node 1 worker B\nm ready 1 1",
        "vigia-node 1 worker B\nm r/e 1 1\n", "vigia-node 1 worker B\nm ready 1234567 1\n", "vigia-node 1 worker b@d\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (vg_cluster_node_decode(bad[i], strlen(bad[i]), &out, err, sizeof err) != VG_E_PROTO || !err[0])
            fail_msg("accepted: %s", bad[i]);
    }
    /* more models than a record holds */
    vg_buf_release(&b);
    vg_buf_puts(&b, "vigia-node 1 worker B\n");
    for (int i = 0; i <= VG_CLUSTER_MAX_MODELS; i++)
        vg_buf_printf(&b, "m%d ready 1 1\n", i);
    assert_int_equal(vg_cluster_node_decode(b.data, b.len, &out, err, sizeof err), VG_E_PROTO);
    assert_non_null(strstr(err, "too many"));
    vg_buf_release(&b);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_node_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
