/* db_users: roles and user records, with their name and email indexes (see db.h). */
#include "store/db.h"

#include <stdio.h>
#include <string.h>

#include "store/db_internal.h"

const char *
vg_role_name(int role)
{
    switch (role) {
    case VG_ROLE_VIEWER: return "viewer";
    case VG_ROLE_OPERATOR: return "operator";
    case VG_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}


int
vg_role_parse(const char *s, size_t n)
{
    for (int r = VG_ROLE_VIEWER; r <= VG_ROLE_ADMIN; r++) {
        const char *nm = vg_role_name(r);
        if (strlen(nm) == n && memcmp(nm, s, n) == 0)
            return r;
    }
    return VG_ROLE_NONE;
}


static const vg_db__field user_fields[] = {
    VG_DB__FIELD(vg_user, id, "id", U64), VG_DB__FIELD(vg_user, name, "name", STR),
    VG_DB__FIELD(vg_user, email, "email", STR), VG_DB__FIELD(vg_user, role, "role", ROLE),
    VG_DB__FIELD(vg_user, hash, "hash", STR), VG_DB__FIELD(vg_user, created, "created", I64),
    VG_DB__FIELD(vg_user, updated, "updated", I64), VG_DB__FIELD(vg_user, disabled, "disabled", BOOL),
    /* absent from records written before it existed: they decode as 0 */
    VG_DB__FIELD(vg_user, must_change, "must_change", BOOL),
};
static const vg_db__record user_record = VG_DB__RECORD(vg_user, user_fields);


int
vg_user_decode(const void *p, size_t n, vg_user *u)
{
    return vg_db__decode(p, n, &user_record, u);
}


static int
user_put(vg_db *db, MDB_txn *txn, const vg_user *u)
{
    uint8_t k[8];
    vg_db_be64(k, u->id);
    return vg_db__put_record(txn, db->users, k, 8, &user_record, u, 0);
}


int
vg_db_user_get(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user *u)
{
    uint8_t k[8];
    vg_db_be64(k, uid);
    return vg_db__get_record(txn, db->users, k, 8, &user_record, u);
}


int
vg_db_user_find(vg_db *db, MDB_txn *txn, const char *login, vg_user *u)
{
    char low[VG_DB_EMAIL_MAX + 1];
    if (strlen(login) > VG_DB_EMAIL_MAX)
        return VG_E_NOTFOUND;
    size_t n = vg_db__lower_copy(low, sizeof low, login);
    MDB_val v;
    int rc = vg_db__get(txn, strchr(low, '@') ? db->users_by_email : db->users_by_name, low, n, &v);
    if (rc == MDB_NOTFOUND && !strchr(low, '@'))
        return VG_E_NOTFOUND;
    if (rc == MDB_NOTFOUND)   /* names may not hold '@', but be lenient */
        rc = vg_db__get(txn, db->users_by_name, low, n, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if (v.mv_size != 8)
        return VG_E_CORRUPT;
    return vg_db_user_get(db, txn, vg_db_get_be64(v.mv_data), u);
}


int
vg_db_user_count(vg_db *db, MDB_txn *txn, size_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(txn, db->users, &st);
    if (rc == 0)
        *n = st.ms_entries;
    return vg_db_err(rc);
}


int
vg_db_user_each(vg_db *db, MDB_txn *txn, int (*fn)(const vg_user *u, void *ud), void *ud)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, db->users, &c);
    if (rc != 0)
        return vg_db_err(rc);
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        vg_user u;
        if (vg_user_decode(v.mv_data, v.mv_size, &u) == 0 && fn(&u, ud))
            break;
    }
    mdb_cursor_close(c);
    return 0;
}


/* Active admins other than `except`. */
static int
count_admins(vg_db *db, MDB_txn *txn, uint64_t except, size_t *n)
{
    MDB_cursor *c;
    MDB_val k, v;
    *n = 0;
    int rc = mdb_cursor_open(txn, db->users, &c);
    if (rc != 0)
        return rc;
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        vg_user u;
        if (vg_user_decode(v.mv_data, v.mv_size, &u) == 0 && u.id != except && u.role == VG_ROLE_ADMIN && !u.disabled)
            (*n)++;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
vg_db_user_create(vg_db *db, MDB_txn *txn, vg_user *u)
{
    char lname[VG_DB_NAME_MAX + 1], lmail[VG_DB_EMAIL_MAX + 1];
    size_t nn = vg_db__lower_copy(lname, sizeof lname, u->name);
    size_t en = vg_db__lower_copy(lmail, sizeof lmail, u->email);
    MDB_val v;
    int rc;
    if (vg_db__get(txn, db->users_by_name, lname, nn, &v) == 0)
        return VG_E_CONFLICT;
    if (en && vg_db__get(txn, db->users_by_email, lmail, en, &v) == 0)
        return VG_E_CONFLICT;
    uint64_t next = 1;
    rc = vg_db__meta_get(db, txn, "next_uid", &next);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return vg_db_err(rc);
    uint8_t k[8];
    if (u->id) {   /* replicated: keep its id */
        vg_db_be64(k, u->id);
        if (vg_db__get(txn, db->users, k, 8, &v) == 0)
            return VG_E_CONFLICT;
        next = u->id >= next ? u->id : next - 1;
    } else {
        u->id = next;
    }
    vg_db_be64(k, u->id);
    if ((rc = vg_db__meta_put(db, txn, "next_uid", next + 1)) != 0 ||
        (rc = user_put(db, txn, u)) != 0 ||
        (rc = vg_db__put(txn, db->users_by_name, lname, nn, k, 8, 0)) != 0 ||
        (en && (rc = vg_db__put(txn, db->users_by_email, lmail, en, k, 8, 0)) != 0))
        return vg_db_err(rc);
    return 0;
}



int
vg_db_user_update(vg_db *db, MDB_txn *txn, uint64_t uid, const vg_user_patch *p)
{
    vg_user u;
    int rc = vg_db_user_get(db, txn, uid, &u);
    if (rc != 0)
        return rc;
    int was_admin = u.role == VG_ROLE_ADMIN && !u.disabled;
    int role = p->set_role ? p->role : u.role;
    int disabled = p->set_disabled ? p->disabled : u.disabled;
    if (was_admin && (role != VG_ROLE_ADMIN || disabled)) {
        size_t others;
        if ((rc = count_admins(db, txn, uid, &others)) != 0)
            return vg_db_err(rc);
        if (others == 0)
            return VG_E_LASTADMIN;
    }
    uint8_t k[8];
    vg_db_be64(k, uid);
    if (p->set_email) {
        char lold[VG_DB_EMAIL_MAX + 1], lnew[VG_DB_EMAIL_MAX + 1];
        size_t on = vg_db__lower_copy(lold, sizeof lold, u.email);
        size_t nn = vg_db__lower_copy(lnew, sizeof lnew, p->email);
        if (on != nn || memcmp(lold, lnew, on) != 0) {
            MDB_val v;
            if (nn && vg_db__get(txn, db->users_by_email, lnew, nn, &v) == 0)
                return VG_E_CONFLICT;
            if ((on && (rc = vg_db__del(txn, db->users_by_email, lold, on)) != 0) ||
                (nn && (rc = vg_db__put(txn, db->users_by_email, lnew, nn, k, 8, 0)) != 0))
                return vg_db_err(rc);
        }
        snprintf(u.email, sizeof u.email, "%s", p->email);
    }
    if (p->set_hash) {
        snprintf(u.hash, sizeof u.hash, "%s", p->hash);
        u.must_change = 0;
    }
    u.role = role;
    u.disabled = disabled;
    u.updated = p->now;
    if ((rc = user_put(db, txn, &u)) != 0)
        return vg_db_err(rc);
    /* a new password or a disabled account ends every session */
    if ((p->set_hash || (p->set_disabled && disabled)) && (rc = vg_db__families_drop(db, txn, uid)) != 0)
        return vg_db_err(rc);
    /* ... and a new password revokes every API key: whoever took the account made some */
    if (p->set_hash && (rc = vg_db__apikeys_revoke(db, txn, uid)) != 0)
        return rc;
    return 0;
}



int
vg_db_user_delete(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    vg_user u;
    int rc = vg_db_user_get(db, txn, uid, &u);
    if (rc != 0)
        return rc;
    if (u.role == VG_ROLE_ADMIN && !u.disabled) {
        size_t others;
        if ((rc = count_admins(db, txn, uid, &others)) != 0)
            return vg_db_err(rc);
        if (others == 0)
            return VG_E_LASTADMIN;
    }
    char low[VG_DB_EMAIL_MAX + 1];
    uint8_t k[8];
    vg_db_be64(k, uid);
    size_t n = vg_db__lower_copy(low, sizeof low, u.name);
    if ((rc = vg_db__del(txn, db->users_by_name, low, n)) != 0)
        return vg_db_err(rc);
    n = vg_db__lower_copy(low, sizeof low, u.email);
    if (n && (rc = vg_db__del(txn, db->users_by_email, low, n)) != 0)
        return vg_db_err(rc);
    if ((rc = vg_db__del(txn, db->users, k, 8)) != 0 ||
        (rc = vg_db__families_drop(db, txn, uid)) != 0 ||
        (rc = vg_db__apikeys_drop(db, txn, uid)) != 0)
        return vg_db_err(rc);
    return 0;
}
