/* offline: see offline.h. */
#include "store/offline.h"

#include <stdio.h>
#include <sys/stat.h>

#include "store/db.h"


/* Opens DATA/db: a reader or writer; one that only changes records wants it there already. */
static int
open_db(const vg_offline *o, vg_db *db, int readonly, int must_exist, char *err, size_t errlen)
{
    struct stat st;
    char path[4200];
    snprintf(path, sizeof path, "%s/db/data.mdb", o->data_dir);
    if (must_exist && stat(path, &st) != 0) {
        snprintf(err, errlen, "no vigia database in %s/db (vigia user add NAME creates one; --data DIR names "
                 "another folder)", o->data_dir);
        return VG_E_SCHEMA;
    }
    vg_db_options opts = { .map_size = o->map_size, .map_max = o->map_max, .readonly = readonly };
    return vg_db_open(db, o->data_dir, &opts, err, errlen) != 0 ? VG_E_SCHEMA : 0;
}


/* Runs op in one write transaction, growing the map and trying again when it is full. */
static int
write_txn(const vg_offline *o, int must_exist, int (*op)(vg_db *db, MDB_txn *txn, void *ud), void *ud,
          char *err, size_t errlen)
{
    vg_db db;
    int rc = open_db(o, &db, 0, must_exist, err, errlen);
    if (rc != 0)
        return rc;
    for (int attempt = 0; attempt < 8; attempt++) {
        MDB_txn *txn;
        rc = vg_db_begin(&db, 1, &txn);
        if (rc != 0) {
            rc = vg_db_err(rc);
            break;
        }
        rc = op(&db, txn, ud);
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


static int
add_op(vg_db *db, MDB_txn *txn, void *ud)
{
    return vg_db_user_create(db, txn, ud);
}


int
vg_offline_user_add(const vg_offline *o, vg_user *u, char *err, size_t errlen)
{
    return write_txn(o, 0, add_op, u, err, errlen);
}


int
vg_offline_user_list(const vg_offline *o, int (*fn)(const vg_user *u, void *ud), void *ud, char *err,
                     size_t errlen)
{
    vg_db db;
    int rc = open_db(o, &db, 1, 1, err, errlen);
    if (rc != 0)
        return rc;
    MDB_txn *txn;
    if ((rc = vg_db_begin(&db, 0, &txn)) == 0) {
        rc = vg_db_user_each(&db, txn, fn, ud);
        mdb_txn_abort(txn);
    } else
        rc = vg_db_err(rc);
    vg_db_close(&db);
    return rc;
}


typedef struct change {
    const char *login;
    const vg_user_patch *patch;        /* NULL: delete */
    vg_user *out;
} change;


static int
change_op(vg_db *db, MDB_txn *txn, void *ud)
{
    change *c = ud;
    int rc = vg_db_user_find(db, txn, c->login, c->out);
    if (rc != 0)
        return rc;
    if (!c->patch)
        return vg_db_user_delete(db, txn, c->out->id);
    if ((rc = vg_db_user_update(db, txn, c->out->id, c->patch)) != 0)
        return rc;
    return vg_db_user_get(db, txn, c->out->id, c->out);
}


int
vg_offline_user_update(const vg_offline *o, const char *login, const vg_user_patch *p, vg_user *out, char *err,
                       size_t errlen)
{
    change c = { login, p, out };
    return write_txn(o, 1, change_op, &c, err, errlen);
}


int
vg_offline_user_delete(const vg_offline *o, const char *login, vg_user *out, char *err, size_t errlen)
{
    change c = { login, NULL, out };
    return write_txn(o, 1, change_op, &c, err, errlen);
}
