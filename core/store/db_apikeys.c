/* db_apikeys: API keys and their hash index (see db.h). */
#include "store/db.h"

#include <stdlib.h>
#include <string.h>

#include "store/db_internal.h"

static const vg_db__field apikey_fields[] = {
    VG_DB__FIELD(vg_apikey, uid, "u", U64), VG_DB__FIELD(vg_apikey, kid, "id", U64),
    VG_DB__FIELD(vg_apikey, name, "name", STR), VG_DB__FIELD(vg_apikey, role, "role", ROLE),
    VG_DB__FIELD(vg_apikey, created, "c", I64), VG_DB__FIELD(vg_apikey, revoked, "rev", BOOL),
    VG_DB__FIELD(vg_apikey, prefix, "pre", STR), VG_DB__FIELD(vg_apikey, hash, "h", BIN),
};
static const vg_db__record apikey_record = VG_DB__RECORD(vg_apikey, apikey_fields);


int
vg_db_apikey_create(vg_db *db, MDB_txn *txn, const uint8_t hash[32], vg_apikey *k)
{
    uint64_t next = 1;
    int rc = vg_db__meta_get(db, txn, "next_kid", &next);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return vg_db_err(rc);
    uint8_t uk[8];
    vg_db_be64(uk, k->uid);
    MDB_val v;
    if ((rc = vg_db__get(txn, db->users, uk, 8, &v)) != 0)
        return vg_db_err(rc);
    uint8_t key[16];
    vg_db_be64(key, k->uid);
    if (k->kid) {   /* replicated: keep its id */
        vg_db_be64(key + 8, k->kid);
        if (vg_db__get(txn, db->apikeys, key, 16, &v) == 0)
            return VG_E_CONFLICT;
        next = k->kid >= next ? k->kid : next - 1;
    } else {
        k->kid = next;
    }
    memcpy(k->hash, hash, 32);
    vg_db_be64(key + 8, k->kid);
    if ((rc = vg_db__meta_put(db, txn, "next_kid", next + 1)) != 0 ||
        (rc = vg_db__put_record(txn, db->apikeys, key, 16, &apikey_record, k, 0)) != 0 ||
        (rc = vg_db__put(txn, db->apikeys_by_hash, hash, 32, key, 16, MDB_NOOVERWRITE)) != 0)
        return vg_db_err(rc);
    return 0;
}


int
vg_db_apikey_revoke(vg_db *db, MDB_txn *txn, uint64_t uid, uint64_t kid)
{
    uint8_t key[16];
    vg_db_be64(key, uid);
    vg_db_be64(key + 8, kid);
    vg_apikey k;
    int rc = vg_db__get_record(txn, db->apikeys, key, 16, &apikey_record, &k);
    if (rc != 0)
        return rc;
    k.revoked = 1;
    if ((rc = vg_db__put_record(txn, db->apikeys, key, 16, &apikey_record, &k, 0)) != 0 ||
        (rc = vg_db__del(txn, db->apikeys_by_hash, k.hash, 32)) != 0)
        return vg_db_err(rc);
    return 0;
}


int
vg_db_apikey_find(vg_db *db, MDB_txn *txn, const uint8_t hash[32], vg_apikey *k)
{
    MDB_val v;
    int rc = vg_db__get(txn, db->apikeys_by_hash, hash, 32, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if (v.mv_size != 16)
        return VG_E_CORRUPT;
    uint8_t key[16];
    memcpy(key, v.mv_data, 16);
    if ((rc = vg_db__get_record(txn, db->apikeys, key, 16, &apikey_record, k)) != 0)
        return rc;
    return k->revoked ? VG_E_TOKEN_REVOKED : 0;
}


int
vg_db_apikey_list(vg_db *db, MDB_txn *txn, uint64_t uid, int (*fn)(const vg_apikey *k, void *ud), void *ud)
{
    uint8_t pre[8];
    vg_db_be64(pre, uid);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->apikeys, &c);
    if (rc != 0)
        return vg_db_err(rc);
    MDB_val k = { 8, pre }, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, pre, 8) == 0) {
        vg_apikey key;
        if (vg_db__decode(v.mv_data, v.mv_size, &apikey_record, &key) == 0 && fn(&key, ud))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : vg_db_err(rc);
}


/* The ids of a user's live keys, gathered before any is written (no write under an open cursor). */
typedef struct live_keys {
    uint64_t *kid;
    size_t n, cap;
} live_keys;


static int
gather_live(const vg_apikey *k, void *ud)
{
    live_keys *l = ud;
    if (k->revoked)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->kid = vg_xrealloc(l->kid, l->cap * sizeof *l->kid);
    }
    l->kid[l->n++] = k->kid;
    return 0;
}


int
vg_db__apikeys_revoke(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    live_keys l = { NULL, 0, 0 };
    int rc = vg_db_apikey_list(db, txn, uid, gather_live, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = vg_db_apikey_revoke(db, txn, uid, l.kid[i]);
    free(l.kid);
    return rc;
}


static int
unhash_key_cb(const MDB_val *k, const MDB_val *v, void *ud)
{
    (void)k;
    vg_db *db = ((void **)ud)[0];
    MDB_txn *txn = ((void **)ud)[1];
    vg_apikey key;
    if (vg_db__decode(v->mv_data, v->mv_size, &apikey_record, &key) != 0)
        return 0;
    return vg_db__del(txn, db->apikeys_by_hash, key.hash, 32);
}


int
vg_db__apikeys_drop(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    uint8_t k[8];
    void *ud[2] = { db, txn };
    vg_db_be64(k, uid);
    return vg_db__del_prefix(txn, db->apikeys, k, 8, unhash_key_cb, ud);
}
