/*
 * Units of shared state (docs/cluster.md, "Shared state"): what a committed
 * store request becomes on the replication stream (store/repl_entry.h:
 * users, detections without their images, track events, cameras),
 * and the store applying replicated entries exactly once (store/repl.h):
 * an id at or below the recorded one skipped, the position surviving a
 * SIGKILL of the store process, replicated ids kept and the next local id
 * following them.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "base/error.h"
#include "base/mpk.h"
#include "store/repl.h"
#include "store/repl_entry.h"
#include "store/store.h"
#include "store/store_client.h"
#include "store/store_read.h"
#include "store/store_write.h"
#include "support.h"

/* [2, name, email, role, hash, now, must_change] */
static void
user_request(vg_buf *b, const char *name)
{
    vg_mpw w;
    vg_buf_init(b);
    vg_mpw_init(&w, b);
    vg_mpw_array(&w, 7);
    vg_mpw_i64(&w, VG_STORE_USER_CREATE);
    vg_mpw_cstr(&w, name);
    vg_mpw_cstr(&w, "");
    vg_mpw_i64(&w, 2);
    vg_mpw_cstr(&w, "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA");
    vg_mpw_i64(&w, 1700000000);
    vg_mpw_bool(&w, 0);
}


static void
entries_of_requests(void **state)
{
    (void)state;
    vg_buf req, ans, out;
    vg_mpw w;
    vg_mpr rest;
    uint32_t cnt;
    int64_t op;
    uint64_t id;
    user_request(&req, "ann");
    /* the answer after its status: the id this node assigned */
    vg_buf_init(&ans);
    vg_mpw_init(&w, &ans);
    vg_mpw_u64(&w, 42);
    vg_buf_init(&out);
    vg_mpr_init(&rest, ans.data, ans.len);
    assert_int_equal(vg_store_repl_entry((uint8_t *)req.data, req.len, 0, &rest, &out), 1);
    vg_mpr r;
    vg_mpr_init(&r, out.data, out.len);
    assert_int_equal(vg_mpr_array(&r, &cnt), 0);
    assert_int_equal(cnt, 8);
    assert_int_equal(vg_mpr_i64(&r, &op), 0);
    assert_int_equal(op, VG_STORE_USER_CREATE);
    for (int i = 0; i < 6; i++)
        assert_int_equal(vg_mpr_skip(&r), 0);
    assert_int_equal(vg_mpr_u64(&r, &id), 0);
    assert_int_equal(id, 42);
    assert_true(r.p == r.end);
    /* a failed write is not replicated; a malformed answer is refused and leaves out as it was */
    size_t had = out.len;
    vg_mpr_init(&rest, ans.data, ans.len);
    assert_int_equal(vg_store_repl_entry((uint8_t *)req.data, req.len, VG_E_CONFLICT, &rest, &out), 0);
    vg_mpr_init(&rest, ans.data, 0);
    assert_int_equal(vg_store_repl_entry((uint8_t *)req.data, req.len, 0, &rest, &out), VG_E_STORE_PROTO);
    assert_int_equal(out.len, had);
    /* a detection goes without its image: the record's "img" and the image become nil */
    vg_buf det;
    vg_buf_init(&det);
    vg_mpw_init(&w, &det);
    uint8_t key[16] = { 1, 2, 3 }, rec[40];
    memset(rec, 0, sizeof rec);
    rec[0] = 0x81;   /* a map of one entry, "img": bin8(32) */
    memcpy(rec + 1, "\xa3img\xc4\x20", 6);
    vg_mpw_array(&w, 9);
    vg_mpw_i64(&w, VG_STORE_DET_ADD);
    vg_mpw_bin(&w, key, 16);
    vg_mpw_i64(&w, 2);
    vg_mpw_cstr(&w, "cam");
    vg_mpw_cstr(&w, "m");
    vg_mpw_u64(&w, 5);
    vg_mpw_array(&w, 0);
    vg_mpw_bin(&w, rec, 39);
    vg_mpw_bin_header(&w, 1000);   /* the image itself is the call's tail, not in the request */
    out.len = 0;
    assert_int_equal(vg_store_repl_entry((uint8_t *)det.data, det.len, 0, NULL, &out), 1);
    const uint8_t *p;
    size_t n;
    vg_mpr_init(&r, out.data, out.len);
    assert_int_equal(vg_mpr_array(&r, &cnt), 0);
    assert_int_equal(cnt, 9);
    for (int i = 0; i < 7; i++)
        assert_int_equal(vg_mpr_skip(&r), 0);
    assert_int_equal(vg_mpr_bin(&r, &p, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(p, "\x81\xa3img\xc0", 6);
    assert_true(vg_mpr_nil(&r));
    assert_true(r.p == r.end);
    /* a track event and a camera's zones and lines go as they are */
    for (int which = 0; which < 2; which++) {
        vg_buf q;
        vg_buf_init(&q);
        vg_mpw_init(&w, &q);
        vg_mpw_array(&w, 3);
        vg_mpw_i64(&w, which ? VG_STORE_CAMERA_PUT : VG_STORE_EVENT_ADD);
        if (which)
            vg_mpw_cstr(&w, "gate");
        else
            vg_mpw_bin(&w, key, 16);
        vg_mpw_bin(&w, "{\"zones\":[]}", 12);
        out.len = 0;
        assert_int_equal(vg_store_repl_entry((uint8_t *)q.data, q.len, 0, NULL, &out), 1);
        assert_int_equal(out.len, q.len);
        assert_memory_equal(out.data, q.data, q.len);
        /* a node applying the camera's entry tells its streams: the id and the shapes read back */
        vg_str cam;
        const uint8_t *sh;
        size_t shn;
        assert_int_equal(vg_store_repl_entry_camera((uint8_t *)out.data, out.len, &cam, &sh, &shn), which);
        if (which)
            assert_true(cam.n == 4 && memcmp(cam.p, "gate", 4) == 0 && shn == 12 && memcmp(sh, "{\"zones\":[]}", 12) == 0);
        vg_buf_release(&q);
    }
    /* a sync is never replicated */
    vg_buf sync;
    vg_buf_init(&sync);
    vg_mpw_init(&w, &sync);
    vg_mpw_array(&w, 1);
    vg_mpw_i64(&w, VG_STORE_SYNC);
    assert_int_equal(vg_store_repl_entry((uint8_t *)sync.data, sync.len, 0, NULL, &out), 0);
    vg_buf_release(&sync);
    vg_buf_release(&det);
    vg_buf_release(&req);
    vg_buf_release(&ans);
    vg_buf_release(&out);
}

/* ---- the store applying entries ----------------------------------------------- */

typedef struct answer {
    int done, status;
    int64_t inner;
} answer;


static void
on_applied(int status, int64_t inner, void *ud)
{
    answer *a = ud;
    a->done = 1;
    a->status = status;
    a->inner = inner;
}


static uint64_t cur_epoch;   /* the epoch apply() names its entries' stream with */
static const char *cur_origin;   /* ... and their origin node and number there (NULL, 0: none) */
static uint64_t cur_oseq;

/* Applies entry e as ms-seq and runs the loop until the store answered (bounded by the test's timeout). */
static answer
apply(struct ev_loop *loop, vg_store *s, uint64_t ms, uint64_t seq, const vg_buf *e)
{
    answer a = { 0, 0, 0 };
    int rc;
    vg_store_repl_id id = { .ms = ms, .seq = seq, .epoch = cur_epoch, .origin = cur_origin,
                            .origin_n = cur_origin ? strlen(cur_origin) : 0, .oseq = cur_oseq };
    while ((rc = vg_store_repl_apply(s, &id, e->data, e->len, on_applied, &a)) == VG_E_STORE_DOWN)
        ev_run(loop, EVRUN_ONCE);   /* respawning */
    assert_int_equal(rc, 0);
    while (!a.done)
        ev_run(loop, EVRUN_ONCE);
    return a;
}


/* A remote USER_CREATE: the request with the origin's id. */
static void
remote_user(vg_buf *e, const char *name, uint64_t id)
{
    vg_buf req, ans;
    vg_mpw w;
    vg_mpr rest;
    user_request(&req, name);
    vg_buf_init(&ans);
    vg_mpw_init(&w, &ans);
    vg_mpw_u64(&w, id);
    vg_mpr_init(&rest, ans.data, ans.len);
    vg_buf_init(e);
    assert_int_equal(vg_store_repl_entry((uint8_t *)req.data, req.len, 0, &rest, e), 1);
    vg_buf_release(&req);
    vg_buf_release(&ans);
}


static void
on_created(int status, vg_mpr *rest, void *ud)
{
    uint64_t *id = ud;
    assert_int_equal(status, 0);
    assert_int_equal(vg_mpr_u64(rest, id), 0);
}


static void
store_applies_once(void **state)
{
    (void)state;
    char dir[256];
    ts_mkdtemp(dir, sizeof dir);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    vg_store_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.store.data_dir, sizeof o.store.data_dir, "%s", dir);
    o.store.map_size = 8u << 20;
    o.store.map_max = 64u << 20;
    o.store.commit_records = 64;
    o.store.commit_interval = 0.002;
    o.store.sweep_interval = 60;
    o.hasher.t_cost = 1;
    o.hasher.m_cost_kib = 1024;
    o.hasher.parallelism = 1;
    vg_store *s = NULL;
    char err[256];
    assert_int_equal(vg_store_create(loop, &o, &s, err, sizeof err), 0);
    uint64_t ms, seq, ep;
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 0 && seq == 0);

    vg_buf bob, cy;
    remote_user(&bob, "bob", 7);
    remote_user(&cy, "cy", 9);
    answer a = apply(loop, s, 100, 3, &bob);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.inner, 0);
    vg_user u;
    assert_int_equal(vg_store_user_get(s, 7, &u), 0);
    assert_string_equal(u.name, "bob");
    /* the same id again, and an older one: skipped */
    a = apply(loop, s, 100, 3, &bob);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);
    a = apply(loop, s, 99, 8, &cy);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);
    assert_int_not_equal(vg_store_user_get(s, 9, &u), 0);
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 100 && seq == 3);

    /* SIGKILL of the store process: the position is on disk with the user it recorded */
    int pid = vg_store_pid(s);
    assert_true(pid > 0);
    kill(pid, SIGKILL);
    while (vg_store_pid(s) == pid || vg_store_pid(s) == 0)
        ev_run(loop, EVRUN_ONCE);
    a = apply(loop, s, 100, 3, &bob);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);
    a = apply(loop, s, 100, 4, &cy);
    assert_int_equal(a.inner, 0);
    assert_int_equal(vg_store_user_get(s, 9, &u), 0);
    assert_string_equal(u.name, "cy");
    /* an entry whose request conflicts is consumed (logged), not retried */
    vg_buf bob2;
    remote_user(&bob2, "bob", 12);
    a = apply(loop, s, 101, 0, &bob2);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.inner, VG_E_CONFLICT);
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 101 && seq == 0);
    /* a user made here takes the id after the replicated ones */
    vg_user nu;
    memset(&nu, 0, sizeof nu);
    snprintf(nu.name, sizeof nu.name, "dee");
    snprintf(nu.hash, sizeof nu.hash, "$argon2id$x");
    nu.role = 1;
    uint64_t id = 0;
    assert_int_equal(vg_store_user_create(s, &nu, on_created, &id), 0);
    while (!id)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(id, 10);
    /* malformed: an empty entry or id 0-0 */
    vg_store_repl_id zero = { 0 }, five = { .ms = 5 };
    assert_int_equal(vg_store_repl_apply(s, &zero, bob.data, bob.len, on_applied, &a), VG_E_INVAL);
    assert_int_equal(vg_store_repl_apply(s, &five, bob.data, 0, on_applied, &a), VG_E_INVAL);
    /* epochs: the stream named, then made anew (the state Redis lost it): its lower ids are applied */
    vg_buf eve, fay, gus;
    remote_user(&eve, "eve", 20);
    remote_user(&fay, "fay", 21);
    remote_user(&gus, "gus", 22);
    cur_epoch = 0xe1;
    a = apply(loop, s, 200, 0, &eve);
    assert_int_equal(a.inner, 0);
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 200 && seq == 0 && ep == 0xe1);
    a = apply(loop, s, 150, 0, &fay);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);   /* the same stream: an older id */
    cur_epoch = 0xe2;
    a = apply(loop, s, 5, 0, &fay);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.inner, 0);                    /* another stream: its ids start over */
    assert_int_equal(vg_store_user_get(s, 21, &u), 0);
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 5 && seq == 0 && ep == 0xe2);
    a = apply(loop, s, 5, 0, &gus);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);   /* and from then on, once */
    cur_epoch = 0;
    a = apply(loop, s, 4, 0, &gus);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);   /* an unnamed stream keeps the recorded id */
    assert_int_not_equal(vg_store_user_get(s, 22, &u), 0);
    /* origin numbers: an entry appended again (a new stream id, the same number) is skipped */
    vg_buf hal, ida;
    remote_user(&hal, "hal", 23);
    remote_user(&ida, "ida", 24);
    cur_origin = "node-a";
    cur_oseq = (1ull << 32) + 1;
    a = apply(loop, s, 10, 0, &hal);
    assert_int_equal(a.inner, 0);
    a = apply(loop, s, 11, 0, &hal);                 /* the same write again under a later id */
    assert_int_equal(a.status, 0);
    assert_int_equal(a.inner, VG_STORE_REPL_SEEN);
    assert_int_equal(vg_store_repl_position(s, &ms, &seq, &ep), 0);
    assert_true(ms == 11 && seq == 0);               /* its id is recorded all the same */
    cur_origin = "node-b";                           /* another origin's numbers are its own */
    cur_oseq = 1;
    a = apply(loop, s, 12, 0, &ida);
    assert_int_equal(a.inner, 0);
    assert_int_equal(vg_store_user_get(s, 24, &u), 0);
    cur_origin = "node-a";
    cur_oseq = (2ull << 32) + 1;                     /* node-a after a restart: numbered above */
    vg_buf jon;
    remote_user(&jon, "jon", 25);
    a = apply(loop, s, 13, 0, &jon);
    assert_int_equal(a.inner, 0);
    assert_int_equal(vg_store_user_get(s, 25, &u), 0);
    vg_buf_release(&jon);
    cur_origin = NULL;
    cur_oseq = 0;
    vg_buf_release(&hal);
    vg_buf_release(&ida);
    vg_buf_release(&eve);
    vg_buf_release(&fay);
    vg_buf_release(&gus);
    vg_buf_release(&bob);
    vg_buf_release(&bob2);
    vg_buf_release(&cy);
    vg_store_destroy(s);
    ev_loop_destroy(loop);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entries_of_requests),
        cmocka_unit_test(store_applies_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
