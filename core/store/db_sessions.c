/* db_sessions: refresh-token sessions and their login families (see db.h). */
#include "store/db.h"

#include <string.h>

#include "base/mpk.h"
#include "store/db_internal.h"

typedef struct session {
    uint64_t uid;
    uint8_t family[VG_DB_FAMILY];
    int64_t created, expires;
    int used;
} session;


static void
session_encode(vg_buf *out, const session *s)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 5);
    vg_mpw_cstr(&w, "u"); vg_mpw_u64(&w, s->uid);
    vg_mpw_cstr(&w, "f"); vg_mpw_bin(&w, s->family, VG_DB_FAMILY);
    vg_mpw_cstr(&w, "c"); vg_mpw_i64(&w, s->created);
    vg_mpw_cstr(&w, "e"); vg_mpw_i64(&w, s->expires);
    vg_mpw_cstr(&w, "used"); vg_mpw_bool(&w, s->used);
}


static int
session_decode(const void *p, size_t n, session *s)
{
    vg_mpr r;
    uint32_t cnt;
    memset(s, 0, sizeof *s);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        const uint8_t *b;
        size_t bn;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "u"))
            vg_mpr_u64(&r, &s->uid);
        else if (vg_str_eq(k, "f")) {
            if (vg_mpr_bin(&r, &b, &bn) == 0 && bn == VG_DB_FAMILY)
                memcpy(s->family, b, bn);
        } else if (vg_str_eq(k, "c"))
            vg_mpr_i64(&r, &s->created);
        else if (vg_str_eq(k, "e"))
            vg_mpr_i64(&r, &s->expires);
        else if (vg_str_eq(k, "used"))
            vg_mpr_bool(&r, &s->used);
        else
            vg_mpr_skip(&r);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


typedef struct family {
    int64_t created, expires;
    int revoked;
} family;


static void
family_encode(vg_buf *out, const family *f)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 3);
    vg_mpw_cstr(&w, "c"); vg_mpw_i64(&w, f->created);
    vg_mpw_cstr(&w, "e"); vg_mpw_i64(&w, f->expires);
    vg_mpw_cstr(&w, "rev"); vg_mpw_bool(&w, f->revoked);
}


static int
family_decode(const void *p, size_t n, family *f)
{
    vg_mpr r;
    uint32_t cnt;
    memset(f, 0, sizeof *f);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "c"))
            vg_mpr_i64(&r, &f->created);
        else if (vg_str_eq(k, "e"))
            vg_mpr_i64(&r, &f->expires);
        else if (vg_str_eq(k, "rev"))
            vg_mpr_bool(&r, &f->revoked);
        else
            vg_mpr_skip(&r);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


static void
family_key(uint8_t out[24], uint64_t uid, const uint8_t fam[VG_DB_FAMILY])
{
    vg_db_be64(out, uid);
    memcpy(out + 8, fam, VG_DB_FAMILY);
}


int
vg_db_session_create(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t uid,
                     const uint8_t fam[VG_DB_FAMILY], int64_t expires, int64_t now)
{
    session s = { .uid = uid, .created = now, .expires = expires };
    family f = { .created = now, .expires = expires };
    memcpy(s.family, fam, VG_DB_FAMILY);
    uint8_t fk[24];
    family_key(fk, uid, fam);
    vg_buf b;
    vg_buf_init(&b);
    session_encode(&b, &s);
    int rc = vg_db__put_buf(txn, db->sessions, hash, 32, &b, MDB_NOOVERWRITE);
    if (rc == 0) {
        family_encode(&b, &f);
        rc = vg_db__put_buf(txn, db->families, fk, 24, &b, 0);
    }
    return vg_db_err(rc);
}


int
vg_db_family_check(vg_db *db, MDB_txn *txn, uint64_t uid, const uint8_t fam[VG_DB_FAMILY], int64_t now)
{
    uint8_t fk[24];
    MDB_val v;
    family f;
    family_key(fk, uid, fam);
    int rc = vg_db__get(txn, db->families, fk, 24, &v);
    if (rc == MDB_NOTFOUND)
        return VG_E_TOKEN_REVOKED;
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = family_decode(v.mv_data, v.mv_size, &f)) != 0)
        return rc;
    if (f.revoked)
        return VG_E_TOKEN_REVOKED;
    if (f.expires <= now)
        return VG_E_TOKEN_EXPIRED;
    return 0;
}


int
vg_db_family_revoke(vg_db *db, MDB_txn *txn, uint64_t uid, const uint8_t fam[VG_DB_FAMILY])
{
    uint8_t fk[24];
    MDB_val v;
    family f;
    family_key(fk, uid, fam);
    int rc = vg_db__get(txn, db->families, fk, 24, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = family_decode(v.mv_data, v.mv_size, &f)) != 0)
        return rc;
    if (f.revoked)
        return 0;
    f.revoked = 1;
    vg_buf b;
    vg_buf_init(&b);
    family_encode(&b, &f);
    return vg_db_err(vg_db__put_buf(txn, db->families, fk, 24, &b, 0));
}


int
vg_db_session_lookup(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t *uid, uint8_t fam[VG_DB_FAMILY])
{
    MDB_val v;
    session s;
    int rc = vg_db__get(txn, db->sessions, hash, 32, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = session_decode(v.mv_data, v.mv_size, &s)) != 0)
        return rc;
    *uid = s.uid;
    memcpy(fam, s.family, VG_DB_FAMILY);
    return 0;
}


int
vg_db_session_rotate(vg_db *db, MDB_txn *txn, const uint8_t old_hash[32], const uint8_t new_hash[32],
                     int64_t now, int64_t expires, uint64_t *uid, uint8_t fam[VG_DB_FAMILY])
{
    MDB_val v;
    session s;
    int rc = vg_db__get(txn, db->sessions, old_hash, 32, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = session_decode(v.mv_data, v.mv_size, &s)) != 0)
        return rc;
    *uid = s.uid;
    memcpy(fam, s.family, VG_DB_FAMILY);
    if (s.used) {
        /* a token that was already exchanged: someone else holds the family */
        rc = vg_db_family_revoke(db, txn, s.uid, s.family);
        return rc == 0 || rc == VG_E_NOTFOUND ? VG_E_TOKEN_REUSED : rc;
    }
    if ((rc = vg_db_family_check(db, txn, s.uid, s.family, now)) != 0)
        return rc;
    if (s.expires <= now)
        return VG_E_TOKEN_EXPIRED;
    vg_buf b;
    vg_buf_init(&b);
    s.used = 1;
    session_encode(&b, &s);
    if ((rc = vg_db__put_buf(txn, db->sessions, old_hash, 32, &b, 0)) != 0)
        return vg_db_err(rc);
    session ns = { .uid = s.uid, .created = now, .expires = expires };
    memcpy(ns.family, s.family, VG_DB_FAMILY);
    session_encode(&b, &ns);
    if ((rc = vg_db__put_buf(txn, db->sessions, new_hash, 32, &b, MDB_NOOVERWRITE)) != 0)
        return vg_db_err(rc);
    /* the family lives as long as its newest token */
    uint8_t fk[24];
    family f;
    family_key(fk, s.uid, s.family);
    if ((rc = vg_db__get(txn, db->families, fk, 24, &v)) != 0 || (rc = family_decode(v.mv_data, v.mv_size, &f)) != 0)
        return vg_db_err(rc);
    f.expires = expires;
    family_encode(&b, &f);
    return vg_db_err(vg_db__put_buf(txn, db->families, fk, 24, &b, 0));
}


int
vg_db__families_drop(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    uint8_t k[8];
    vg_db_be64(k, uid);
    return vg_db__del_prefix(txn, db->families, k, 8, NULL, NULL);
}
