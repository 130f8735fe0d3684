/* offline: see offline.h. */
#include "store/offline.h"

#include "store/db.h"


int
vg_offline_user_add(const char *data_dir, size_t map_size, size_t map_max, vg_user *u, char *err, size_t errlen)
{
    vg_db db;
    vg_db_options o = { .map_size = map_size, .map_max = map_max };
    int rc;
    if (vg_db_open(&db, data_dir, &o, err, errlen) != 0)
        return VG_E_SCHEMA;
    for (int attempt = 0; attempt < 8; attempt++) {
        MDB_txn *txn;
        rc = vg_db_begin(&db, 1, &txn);
        if (rc != 0) {
            rc = vg_db_err(rc);
            break;
        }
        rc = vg_db_user_create(&db, txn, u);
        if (rc == 0)
            rc = vg_db_err(mdb_txn_commit(txn));
        else
            mdb_txn_abort(txn);
        if (rc != VG_E_FULL || vg_db_grow(&db) != 0)
            break;
    }
    vg_db_close(&db);
    return rc;
}
