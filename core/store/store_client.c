/* store_client: see store_client.h. */
#include "store/store_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "store/chan.h"
#include "store/db.h"
#include "store/repl_entry.h"
#include "store/store_internal.h"
#include "base/log.h"
#include "base/metrics.h"

struct vg_store {
    struct ev_loop *loop;
    vg_store_options o;
    vg_chan *store, *hasher;
    vg_db db;
    vg_metric *m_pending, *m_map, *m_used, *m_restarts, *m_writes;
    vg_series *s_ok, *s_err;
    vg_store_commit_cb on_commit;      /* hears replicated writes (repl.h), or NULL */
    void *commit_ud;
};

typedef struct call {
    vg_store *s;
    vg_store_cb cb;
    void (*hash_cb)(int status, const char *encoded, void *ud);
    void (*verify_cb)(int status, int ok, void *ud);
    void *ud;
    uint8_t *req;                      /* the request without its tail, kept for on_commit; or NULL */
    size_t req_n;
} call;


static void
collect(vg_metric *m, void *ud)
{
    (void)m;
    vg_store *s = ud;
    size_t used = 0, total = 0;
    vg_db_usage(&s->db, &used, &total);
    vg_series_set(vg_metrics_single(s->m_pending), (double)vg_chan_pending(s->store));
    vg_series_set(vg_metrics_single(s->m_map), (double)total);
    vg_series_set(vg_metrics_single(s->m_used), (double)used);
    vg_series_set(vg_metrics_single(s->m_restarts), (double)vg_chan_restarts(s->store));
}


int
vg_store_create(struct ev_loop *loop, const vg_store_options *o, vg_store **out, char *err, size_t errlen)
{
    vg_store *s = vg_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->o = *o;
    vg_chan_options co = {
        .name = "store", .child = vg_store_main, .arg = &s->o.store,
        .max_pending = o->max_pending ? o->max_pending : 65536,
        .max_frame = 1 << 20,
    };
    if (vg_chan_create(loop, &co, &s->store, err, errlen) != 0)
        goto fail;
    if (vg_chan_wait_hello(s->store, 30, err, errlen) != 0)
        goto fail;
    vg_db_options dbo = { .map_size = o->store.map_size, .map_max = o->store.map_max, .readonly = 1 };
    if (vg_db_open(&s->db, o->store.data_dir, &dbo, err, errlen) != 0)
        goto fail;
    vg_chan_options ho = {
        .name = "hasher", .child = vg_hasher_main, .arg = &s->o.hasher,
        .max_pending = o->max_hash_pending ? o->max_hash_pending : 64,
        .max_frame = 4096,
    };
    if (vg_chan_create(loop, &ho, &s->hasher, err, errlen) != 0)
        goto fail;
    s->m_pending = vg_metrics_register("vigia_store_pending", "writes waiting for the store's commit",
                                       VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(s->m_pending, collect, s);
    s->m_map = vg_metrics_register("vigia_store_map_bytes", "size of the LMDB map", VG_GAUGE, "", NULL, 0);
    s->m_used = vg_metrics_register("vigia_store_used_bytes", "bytes of the LMDB map in use", VG_GAUGE, "", NULL, 0);
    s->m_restarts = vg_metrics_register("vigia_store_restarts_total", "store processes respawned", VG_COUNTER,
                                        "", NULL, 0);
    s->m_writes = vg_metrics_register("vigia_store_writes_total", "store requests answered, by result",
                                      VG_COUNTER, "result", NULL, 0);
    const char *ok[] = { "ok" }, *er[] = { "error" };
    s->s_ok = vg_metrics_series(s->m_writes, ok);
    s->s_err = vg_metrics_series(s->m_writes, er);
    *out = s;
    return 0;
fail:
    vg_chan_destroy(s->hasher, 1);
    vg_chan_destroy(s->store, 5);
    vg_db_close(&s->db);
    free(s);
    return -1;
}


void
vg_store_destroy(vg_store *s)
{
    if (!s)
        return;
    vg_chan_destroy(s->hasher, 2);
    vg_chan_destroy(s->store, 10);
    vg_db_close(&s->db);
    free(s);
}


vg_db *
vg_store__db(vg_store *s)
{
    return &s->db;
}


const char *
vg_store_data_dir(const vg_store *s)
{
    return s->o.store.data_dir;
}


size_t
vg_store_pending(const vg_store *s)
{
    return vg_chan_pending(s->store);
}


int
vg_store_pid(const vg_store *s)
{
    return vg_chan_pid(s->store);
}


void
vg_store__request_begin(vg_store__request *q, int op, uint32_t n)
{
    vg_buf_init(&q->b);
    vg_mpw_init(&q->w, &q->b);
    vg_mpw_array(&q->w, n + 1);
    vg_mpw_i64(&q->w, op);
}


/* Reads [status, ...]; returns the status and leaves r after it. */
static int
answer_status(const uint8_t *p, size_t n, vg_mpr *r)
{
    uint32_t cnt;
    int64_t st;
    vg_mpr_init(r, p, n);
    if (vg_mpr_array(r, &cnt) < 0 || cnt < 1 || vg_mpr_i64(r, &st) < 0)
        return VG_E_STORE_PROTO;
    return (int)st;
}


static void
on_store_answer(int status, const uint8_t *p, size_t n, void *ud)
{
    call *c = ud;
    vg_mpr r;
    if (status == 0)
        status = answer_status(p, n, &r);
    vg_series_add(status == 0 ? c->s->s_ok : c->s->s_err, 1);
    if (c->req && c->s->on_commit && p) {
        vg_mpr rest = r;
        vg_buf e;
        vg_buf_init(&e);
        if (vg_store_repl_entry(c->req, c->req_n, status, &rest, &e) == 1)
            c->s->on_commit(e.data, e.len, c->s->commit_ud);
        vg_buf_release(&e);
    }
    c->cb(status, p ? &r : NULL, c->ud);
    free(c->req);
    free(c);
}


void
vg_store_on_commit(vg_store *s, vg_store_commit_cb cb, void *ud)
{
    s->on_commit = cb;
    s->commit_ud = ud;
}


/* 1 when requests of this op are replicated once committed. */
static int
replicated(const void *msg, size_t n)
{
    vg_mpr r;
    uint32_t cnt;
    int64_t op;
    vg_mpr_init(&r, msg, n);
    return vg_mpr_array(&r, &cnt) == 0 && cnt >= 1 && vg_mpr_i64(&r, &op) == 0 && op != VG_STORE_SYNC &&
           op != VG_STORE_REPL && op != VG_STORE_OUTBOX_DONE;
}


int
vg_store_call(vg_store *s, const void *msg, size_t n, const void *tail, size_t tail_n, vg_store_cb cb, void *ud)
{
    call *c = vg_xcalloc(1, sizeof *c);
    c->s = s;
    c->cb = cb;
    c->ud = ud;
    if (s->on_commit && replicated(msg, n)) {
        c->req = vg_xmalloc(n);
        memcpy(c->req, msg, n);
        c->req_n = n;
    }
    int rc = vg_chan_call(s->store, msg, n, tail, tail_n, on_store_answer, c);
    if (rc != 0) {
        free(c->req);
        free(c);
    }
    return rc;
}


static void
on_hash(int status, const uint8_t *p, size_t n, void *ud)
{
    call *c = ud;
    vg_mpr r;
    char enc[VG_DB_HASH_MAX] = "";
    if (status == 0 && (status = answer_status(p, n, &r)) == 0 && vg_mpr_strcpy(&r, enc, sizeof enc) < 0)
        status = VG_E_STORE_PROTO;
    c->hash_cb(status, enc, c->ud);
    free(c);
}


static void
on_verify(int status, const uint8_t *p, size_t n, void *ud)
{
    call *c = ud;
    vg_mpr r;
    int ok = 0;
    if (status == 0 && (status = answer_status(p, n, &r)) == 0 && vg_mpr_bool(&r, &ok) < 0)
        status = VG_E_STORE_PROTO;
    c->verify_cb(status, ok, c->ud);
    free(c);
}


/*
 * Asks the hasher: [op, encoded (VERIFY only), password]. The call's state
 * is allocated here; exactly one of hash_cb and verify_cb is set.
 */
static int
hasher_call(vg_store *s, int op, const char *encoded, const char *pw, size_t n, vg_chan_cb on_answer, call proto)
{
    if (n > VG_STORE_MAX_PASSWORD)
        return VG_E_INVALID;
    vg_store__request q;
    vg_store__request_begin(&q, op, encoded ? 2 : 1);
    if (encoded)
        vg_mpw_cstr(&q.w, encoded);
    vg_mpw_str(&q.w, pw, n);
    call *c = vg_xmalloc(sizeof *c);
    *c = proto;
    c->s = s;
    int rc = vg_chan_call(s->hasher, q.b.data, q.b.len, NULL, 0, on_answer, c);
    if (rc != 0)
        free(c);
    vg_buf_release(&q.b);
    return rc;
}


int
vg_store_hash(vg_store *s, const char *pw, size_t n, void (*cb)(int status, const char *encoded, void *ud), void *ud)
{
    return hasher_call(s, VG_HASHER_HASH, NULL, pw, n, on_hash, (call){ .hash_cb = cb, .ud = ud });
}


int
vg_store_verify(vg_store *s, const char *encoded, const char *pw, size_t n,
                void (*cb)(int status, int ok, void *ud), void *ud)
{
    return hasher_call(s, VG_HASHER_VERIFY, encoded, pw, n, on_verify, (call){ .verify_cb = cb, .ud = ud });
}
