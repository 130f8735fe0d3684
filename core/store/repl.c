/* repl: replicated entries applied by the local store (see repl.h). */
#include "store/repl.h"

#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/store.h"
#include "store/store_client.h"
#include "store/store_internal.h"
#include "base/error.h"

int
vg_store_repl_position(vg_store *s, uint64_t *ms, uint64_t *seq, uint64_t *epoch)
{
    vg_db *db = vg_store__db(s);
    MDB_txn *txn;
    *ms = *seq = *epoch = 0;
    int rc = vg_db_read(db, &txn);
    if (rc != 0)
        return rc;
    rc = vg_db_repl_get(db, txn, ms, seq);
    if (rc == 0)
        rc = vg_db_repl_epoch_get(db, txn, epoch);
    vg_db_read_end(db);
    return rc;
}


int
vg_store_outbox_read(vg_store *s, uint64_t after, size_t max,
                     void (*each)(uint64_t num, const void *p, size_t n, void *ud), void *ud)
{
    vg_db *db = vg_store__db(s);
    MDB_txn *txn;
    int rc = vg_db_read(db, &txn);
    if (rc != 0)
        return rc;
    rc = vg_db_outbox_read(db, txn, after, max, each, ud);
    vg_db_read_end(db);
    return rc;
}


size_t
vg_store_outbox_count(vg_store *s)
{
    vg_db *db = vg_store__db(s);
    MDB_txn *txn;
    if (vg_db_read(db, &txn) != 0)
        return 0;
    size_t n = vg_db_outbox_count(db, txn);
    vg_db_read_end(db);
    return n;
}


typedef struct done_call {
    void (*cb)(int status, void *ud);
    void *ud;
} done_call;


static void
on_outbox_done(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    done_call c = *(done_call *)ud;
    free(ud);
    if (c.cb)
        c.cb(status, c.ud);
}


int
vg_store_outbox_done(vg_store *s, uint64_t upto, void (*cb)(int status, void *ud), void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_OUTBOX_DONE, 1);
    vg_mpw_u64(&q.w, upto);
    done_call *c = vg_xmalloc(sizeof *c);
    c->cb = cb;
    c->ud = ud;
    int rc = vg_store_call(s, q.b.data, q.b.len, NULL, 0, on_outbox_done, c);
    if (rc != 0)
        free(c);
    vg_buf_release(&q.b);
    return rc;
}


typedef struct apply_call {
    void (*cb)(int status, int64_t inner, void *ud);
    void *ud;
} apply_call;


static void
on_applied(int status, vg_mpr *rest, void *ud)
{
    apply_call c = *(apply_call *)ud;
    free(ud);
    int64_t inner = 0;
    if (status == 0 && (!rest || vg_mpr_i64(rest, &inner) < 0))
        status = VG_E_STORE_PROTO;
    c.cb(status, inner, c.ud);
}


int
vg_store_repl_apply(vg_store *s, const vg_store_repl_id *id, const void *p, size_t n,
                    void (*cb)(int status, int64_t inner, void *ud), void *ud)
{
    int named = id->origin && id->oseq;
    if (n == 0 || n > VG_STORE_REPL_MAX - 160 || (id->ms == 0 && id->seq == 0) ||
        (named && (id->origin_n == 0 || id->origin_n > 64)))
        return VG_E_INVAL;
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_REPL, named ? 6 : 4);
    vg_mpw_u64(&q.w, id->ms);
    vg_mpw_u64(&q.w, id->seq);
    vg_mpw_u64(&q.w, id->epoch);
    if (named) {
        vg_mpw_str(&q.w, id->origin, id->origin_n);
        vg_mpw_u64(&q.w, id->oseq);
    }
    vg_mpw_bin_header(&q.w, n);
    apply_call *c = vg_xmalloc(sizeof *c);
    c->cb = cb;
    c->ud = ud;
    int rc = vg_store_call(s, q.b.data, q.b.len, p, n, on_applied, c);
    if (rc != 0)
        free(c);
    vg_buf_release(&q.b);
    return rc;
}
