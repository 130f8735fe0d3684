/* db_apikeys: API keys and their hash index (see db.h). */
#include "store/db.h"

#include <string.h>

#include "base/mpk.h"
#include "store/db_internal.h"

void
vg_apikey_encode(vg_buf *out, const vg_apikey *k)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 8);
    vg_mpw_cstr(&w, "u"); vg_mpw_u64(&w, k->uid);
    vg_mpw_cstr(&w, "id"); vg_mpw_u64(&w, k->kid);
    vg_mpw_cstr(&w, "name"); vg_mpw_cstr(&w, k->name);
    vg_mpw_cstr(&w, "role"); vg_mpw_cstr(&w, vg_role_name(k->role));
    vg_mpw_cstr(&w, "c"); vg_mpw_i64(&w, k->created);
    vg_mpw_cstr(&w, "rev"); vg_mpw_bool(&w, k->revoked);
    vg_mpw_cstr(&w, "pre"); vg_mpw_cstr(&w, k->prefix);
    vg_mpw_cstr(&w, "h"); vg_mpw_bin(&w, k->hash, 32);
}


int
vg_apikey_decode(const void *p, size_t n, vg_apikey *k)
{
    vg_mpr r;
    uint32_t cnt;
    memset(k, 0, sizeof *k);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str key, s;
        const uint8_t *b;
        size_t bn;
        if (vg_mpr_str(&r, &key) < 0)
            break;
        if (vg_str_eq(key, "u"))
            vg_mpr_u64(&r, &k->uid);
        else if (vg_str_eq(key, "id"))
            vg_mpr_u64(&r, &k->kid);
        else if (vg_str_eq(key, "name"))
            vg_mpr_strcpy(&r, k->name, sizeof k->name);
        else if (vg_str_eq(key, "role")) {
            if (vg_mpr_str(&r, &s) == 0)
                k->role = vg_role_parse(s.p, s.n);
        } else if (vg_str_eq(key, "c"))
            vg_mpr_i64(&r, &k->created);
        else if (vg_str_eq(key, "rev"))
            vg_mpr_bool(&r, &k->revoked);
        else if (vg_str_eq(key, "pre"))
            vg_mpr_strcpy(&r, k->prefix, sizeof k->prefix);
        else if (vg_str_eq(key, "h")) {
            if (vg_mpr_bin(&r, &b, &bn) == 0 && bn == 32)
                memcpy(k->hash, b, 32);
        } else
            vg_mpr_skip(&r);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


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
    k->kid = next;
    memcpy(k->hash, hash, 32);
    uint8_t key[16];
    vg_db_be64(key, k->uid);
    vg_db_be64(key + 8, k->kid);
    vg_buf b;
    vg_buf_init(&b);
    vg_apikey_encode(&b, k);
    if ((rc = vg_db__meta_put(db, txn, "next_kid", next + 1)) != 0 ||
        (rc = vg_db__put_buf(txn, db->apikeys, key, 16, &b, 0)) != 0 ||
        (rc = vg_db__put(txn, db->apikeys_by_hash, hash, 32, key, 16, MDB_NOOVERWRITE)) != 0) {
        vg_buf_release(&b);
        return vg_db_err(rc);
    }
    return 0;
}


int
vg_db_apikey_revoke(vg_db *db, MDB_txn *txn, uint64_t uid, uint64_t kid)
{
    uint8_t key[16];
    vg_db_be64(key, uid);
    vg_db_be64(key + 8, kid);
    MDB_val v;
    vg_apikey k;
    int rc = vg_db__get(txn, db->apikeys, key, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = vg_apikey_decode(v.mv_data, v.mv_size, &k)) != 0)
        return rc;
    k.revoked = 1;
    vg_buf b;
    vg_buf_init(&b);
    vg_apikey_encode(&b, &k);
    if ((rc = vg_db__put_buf(txn, db->apikeys, key, 16, &b, 0)) != 0 ||
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
    if ((rc = vg_db__get(txn, db->apikeys, key, 16, &v)) != 0)
        return vg_db_err(rc);
    if ((rc = vg_apikey_decode(v.mv_data, v.mv_size, k)) != 0)
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
        if (vg_apikey_decode(v.mv_data, v.mv_size, &key) == 0 && fn(&key, ud))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : vg_db_err(rc);
}


static int
unhash_key_cb(const MDB_val *k, const MDB_val *v, void *ud)
{
    (void)k;
    vg_db *db = ((void **)ud)[0];
    MDB_txn *txn = ((void **)ud)[1];
    vg_apikey key;
    if (vg_apikey_decode(v->mv_data, v->mv_size, &key) != 0)
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
