/* db_sessions: refresh-token sessions and their login families (see db.h). */
#include "store/db.h"

#include <string.h>

#include "store/db_internal.h"

typedef struct session {
    uint64_t uid;
    uint8_t family[VG_DB_FAMILY];
    int64_t created, expires;
    int used;
    int64_t used_at;          /* when it was exchanged (0: before this field, or superseded) */
    uint8_t next[32];         /* what it was exchanged for (zero: unknown) */
} session;


static const vg_db__field session_fields[] = {
    VG_DB__FIELD(session, uid, "u", U64), VG_DB__FIELD(session, family, "f", BIN),
    VG_DB__FIELD(session, created, "c", I64), VG_DB__FIELD(session, expires, "e", I64),
    VG_DB__FIELD(session, used, "used", BOOL), VG_DB__FIELD(session, used_at, "ua", I64),
    VG_DB__FIELD(session, next, "nx", BIN),
};
static const vg_db__record session_record = VG_DB__RECORD(session, session_fields);


typedef struct family {
    int64_t created, expires;
    int revoked;
} family;


static const vg_db__field family_fields[] = {
    VG_DB__FIELD(family, created, "c", I64), VG_DB__FIELD(family, expires, "e", I64),
    VG_DB__FIELD(family, revoked, "rev", BOOL),
};
static const vg_db__record family_record = VG_DB__RECORD(family, family_fields);


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
    int rc = vg_db__put_record(txn, db->sessions, hash, 32, &session_record, &s, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = vg_db__put_record(txn, db->families, fk, 24, &family_record, &f, 0);
    return vg_db_err(rc);
}


int
vg_db_family_check(vg_db *db, MDB_txn *txn, uint64_t uid, const uint8_t fam[VG_DB_FAMILY], int64_t now)
{
    uint8_t fk[24];
    family f;
    family_key(fk, uid, fam);
    int rc = vg_db__get_record(txn, db->families, fk, 24, &family_record, &f);
    if (rc == VG_E_NOTFOUND)
        return VG_E_TOKEN_REVOKED;
    if (rc != 0)
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
    family f;
    family_key(fk, uid, fam);
    int rc = vg_db__get_record(txn, db->families, fk, 24, &family_record, &f);
    if (rc != 0 || f.revoked)
        return rc;
    f.revoked = 1;
    return vg_db_err(vg_db__put_record(txn, db->families, fk, 24, &family_record, &f, 0));
}


int
vg_db_session_lookup(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t *uid, uint8_t fam[VG_DB_FAMILY])
{
    session s;
    int rc = vg_db__get_record(txn, db->sessions, hash, 32, &session_record, &s);
    if (rc != 0)
        return rc;
    *uid = s.uid;
    memcpy(fam, s.family, VG_DB_FAMILY);
    return 0;
}


/*
 * A token exchanged less than `grace` seconds ago whose successor was never
 * used: the answer that carried the successor was lost (a closed tab, a
 * dropped connection), so this is the same client asking again. The
 * successor is superseded (marked used with no grace of its own: if it ever
 * comes back, someone else has it and the family is revoked) and the
 * exchange goes on to new_hash. Returns 1 when that holds, 0 when not.
 */
static int
lost_answer(MDB_txn *txn, vg_db *db, const session *s, int64_t now, int64_t grace)
{
    static const uint8_t zero[32];
    session nx;
    if (grace <= 0 || s->used_at <= 0 || now - s->used_at > grace || memcmp(s->next, zero, 32) == 0)
        return 0;
    if (vg_db__get_record(txn, db->sessions, s->next, 32, &session_record, &nx) != 0 || nx.used)
        return 0;
    nx.used = 1;
    nx.used_at = 0;
    return vg_db__put_record(txn, db->sessions, s->next, 32, &session_record, &nx, 0) == 0;
}


int
vg_db_session_rotate(vg_db *db, MDB_txn *txn, const uint8_t old_hash[32], const uint8_t new_hash[32],
                     int64_t now, int64_t expires, int64_t grace, uint64_t *uid, uint8_t fam[VG_DB_FAMILY])
{
    session s;
    int rc = vg_db__get_record(txn, db->sessions, old_hash, 32, &session_record, &s);
    if (rc != 0)
        return rc;
    *uid = s.uid;
    memcpy(fam, s.family, VG_DB_FAMILY);
    if (s.used && !lost_answer(txn, db, &s, now, grace)) {
        /* a token that was already exchanged: someone else holds the family */
        rc = vg_db_family_revoke(db, txn, s.uid, s.family);
        return rc == 0 || rc == VG_E_NOTFOUND ? VG_E_TOKEN_REUSED : rc;
    }
    if ((rc = vg_db_family_check(db, txn, s.uid, s.family, now)) != 0)
        return rc;
    if (s.expires <= now)
        return VG_E_TOKEN_EXPIRED;
    if (!s.used)
        s.used_at = now;   /* a retry keeps the first exchange's time: the grace does not slide */
    s.used = 1;
    memcpy(s.next, new_hash, 32);
    if ((rc = vg_db__put_record(txn, db->sessions, old_hash, 32, &session_record, &s, 0)) != 0)
        return vg_db_err(rc);
    session ns = { .uid = s.uid, .created = now, .expires = expires };
    memcpy(ns.family, s.family, VG_DB_FAMILY);
    if ((rc = vg_db__put_record(txn, db->sessions, new_hash, 32, &session_record, &ns, MDB_NOOVERWRITE)) != 0)
        return vg_db_err(rc);
    /* the family lives as long as its newest token */
    uint8_t fk[24];
    family f;
    family_key(fk, s.uid, s.family);
    if ((rc = vg_db__get_record(txn, db->families, fk, 24, &family_record, &f)) != 0)
        return rc;
    f.expires = expires;
    return vg_db_err(vg_db__put_record(txn, db->families, fk, 24, &family_record, &f, 0));
}


int
vg_db__families_drop(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    uint8_t k[8];
    vg_db_be64(k, uid);
    return vg_db__del_prefix(txn, db->families, k, 8, NULL, NULL);
}
