/* db_events: the streams' track events, and the named cameras' zones and lines (see db.h and docs/events.md). */
#include "store/db.h"

#include "store/db_internal.h"


int
vg_db_event_add(vg_db *db, MDB_txn *txn, const uint8_t key[16], const void *json, size_t n)
{
    int rc = vg_db__put(txn, db->events, key, 16, json, n, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : vg_db_err(rc);
}


int
vg_db_events_prune(vg_db *db, MDB_txn *txn, uint64_t limit_us, int budget, int *n)
{
    MDB_cursor *c;
    MDB_val k, v;
    *n = 0;
    int rc = mdb_cursor_open(txn, db->events, &c);
    if (rc != 0)
        return vg_db_err(rc);
    while (*n < budget && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && k.mv_size == 16 &&
           vg_db_key_time(k.mv_data) < limit_us) {
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : vg_db_err(rc);
}


int
vg_db_camera_put(vg_db *db, MDB_txn *txn, const char *id, size_t idn, const void *json, size_t n)
{
    int rc = n ? vg_db__put(txn, db->cameras, id, idn, json, n, 0) : vg_db__del(txn, db->cameras, id, idn);
    return rc == MDB_NOTFOUND ? 0 : vg_db_err(rc);
}
