/* db: see db.h. */
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/mpk.h"

const double vg_db_lat_bounds_ms[VG_DB_LAT_BUCKETS] = {
    1, 2, 5, 10, 20, 35, 50, 75, 100, 200, 500, 1000, 5000, 1e300
};

int
vg_db_err(int rc)
{
    if (rc == 0 || vg_err_known(rc))
        return rc;
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT || rc == MDB_TXN_FULL || rc == -ENOSPC)
        return VG_E_FULL;
    if (rc == MDB_NOTFOUND)
        return VG_E_NOTFOUND;
    if (rc == MDB_KEYEXIST)
        return VG_E_CONFLICT;
    return VG_E_STORE_IO;
}


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

/* ---- keys ------------------------------------------------------------- */

void
vg_db_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}


uint64_t
vg_db_get_be64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}


void
vg_db_key_hex(const uint8_t key[16], char out[33])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[key[i] >> 4];
        out[2 * i + 1] = hx[key[i] & 15];
    }
    out[32] = '\0';
}


static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}


int
vg_db_key_parse(const char *hex, size_t n, uint8_t key[16])
{
    if (n != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        key[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}


void
vg_db_key_new(uint8_t key[16], uint64_t time_us)
{
    vg_db_be64(key, time_us);
    if (getrandom(key + 8, 8, 0) != 8) {
        static uint64_t seq;
        vg_db_be64(key + 8, ++seq ^ (uint64_t)time_us);
    }
}


uint64_t
vg_db_key_time(const uint8_t key[16])
{
    return vg_db_get_be64(key);
}

/* ---- environment ------------------------------------------------------ */

static int
mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}


static int
meta_get_u64(vg_db *db, MDB_txn *txn, const char *name, uint64_t *v)
{
    MDB_val k = { strlen(name), (void *)name }, d;
    int rc = mdb_get(txn, db->meta, &k, &d);
    if (rc != 0)
        return rc;
    if (d.mv_size != 8)
        return VG_E_CORRUPT;
    *v = vg_db_get_be64(d.mv_data);
    return 0;
}


static int
meta_put_u64(vg_db *db, MDB_txn *txn, const char *name, uint64_t v)
{
    uint8_t b[8];
    vg_db_be64(b, v);
    MDB_val k = { strlen(name), (void *)name }, d = { 8, b };
    return mdb_put(txn, db->meta, &k, &d, 0);
}


/*
 * Migrations: migrate[v] takes a database at version v to v + 1. Version 0
 * is an empty environment. Each runs inside the opening write transaction,
 * so a crash half-way leaves the old version intact.
 */
static int
migrate_0_to_1(vg_db *db, MDB_txn *txn)
{
    int rc = meta_put_u64(db, txn, "next_uid", 1);
    if (rc == 0)
        rc = meta_put_u64(db, txn, "next_kid", 1);
    return rc;
}

static int (*const migrations[VG_DB_SCHEMA])(vg_db *, MDB_txn *) = { migrate_0_to_1 };


static int
open_dbis(vg_db *db, MDB_txn *txn, unsigned flags)
{
    struct { const char *name; MDB_dbi *dbi; } t[] = {
        { "meta", &db->meta }, { "users", &db->users }, { "users_by_name", &db->users_by_name },
        { "users_by_email", &db->users_by_email }, { "sessions", &db->sessions },
        { "families", &db->families }, { "apikeys", &db->apikeys },
        { "apikeys_by_hash", &db->apikeys_by_hash }, { "detections", &db->detections },
        { "idx_label", &db->idx_label }, { "idx_source", &db->idx_source },
        { "idx_model", &db->idx_model }, { "idx_user", &db->idx_user }, { "feedback", &db->feedback },
        { "idx_feedback", &db->idx_feedback }, { "aggregates", &db->aggregates }, { "images", &db->images },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int rc = mdb_dbi_open(txn, t[i].name, flags, t[i].dbi);
        if (rc != 0)
            return rc;
    }
    return 0;
}


int
vg_db_open(vg_db *db, const char *data_dir, const vg_db_options *o, char *err, size_t errlen)
{
    memset(db, 0, sizeof *db);
    db->readonly = o->readonly;
    db->map_max = o->map_max > o->map_size ? o->map_max : o->map_size;
    snprintf(db->dir, sizeof db->dir, "%s/db", data_dir);
    MDB_txn *txn = NULL;
    int rc;
    if (!o->readonly && mkdirs(db->dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", db->dir, strerror(errno));
        return -1;
    }
    if ((rc = mdb_env_create(&db->env)) != 0)
        goto fail;
    mdb_env_set_maxdbs(db->env, 24);
    mdb_env_set_maxreaders(db->env, 126);
    mdb_env_set_mapsize(db->env, o->map_size);
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (o->readonly ? MDB_RDONLY : 0) | (o->nosync ? MDB_NOSYNC : 0);
    if ((rc = mdb_env_open(db->env, db->dir, flags, 0640)) != 0)
        goto fail;
    MDB_envinfo info;
    mdb_env_info(db->env, &info);
    db->map_size = info.me_mapsize;
    if (db->map_max < db->map_size)
        db->map_max = db->map_size;
    if (!o->readonly)
        vg_db_reader_check(db);

    if ((rc = vg_db_begin(db, !o->readonly, &txn)) != 0)
        goto fail;
    if ((rc = open_dbis(db, txn, o->readonly ? 0 : MDB_CREATE)) != 0) {
        if (rc == MDB_NOTFOUND) {
            snprintf(err, errlen, "%s: no vigia database here yet", db->dir);
            goto fail_msg;
        }
        goto fail;
    }
    uint64_t version = 0;
    rc = meta_get_u64(db, txn, "schema", &version);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    if (version > VG_DB_SCHEMA) {
        snprintf(err, errlen, "%s: schema version %llu is newer than this vigia's (%d); upgrade vigia",
                 db->dir, (unsigned long long)version, VG_DB_SCHEMA);
        goto fail_msg;
    }
    if (version < VG_DB_SCHEMA) {
        if (o->readonly) {
            snprintf(err, errlen, "%s: schema version %llu, want %d (the store migrates it)", db->dir,
                     (unsigned long long)version, VG_DB_SCHEMA);
            goto fail_msg;
        }
        for (uint64_t v = version; v < VG_DB_SCHEMA; v++) {
            if ((rc = migrations[v](db, txn)) != 0)
                goto fail;
            if (v > 0)
                vg_info("store", "migrated the database from schema %llu to %llu",
                        (unsigned long long)v, (unsigned long long)v + 1);
        }
        if ((rc = meta_put_u64(db, txn, "schema", VG_DB_SCHEMA)) != 0)
            goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    return 0;

fail:
    snprintf(err, errlen, "%s: %s", db->dir, mdb_strerror(rc));
fail_msg:
    if (txn)
        mdb_txn_abort(txn);
    if (db->env)
        mdb_env_close(db->env);
    db->env = NULL;
    return -1;
}


void
vg_db_close(vg_db *db)
{
    if (!db->env)
        return;
    if (db->rtxn)
        mdb_txn_abort(db->rtxn);
    db->rtxn = NULL;
    mdb_env_close(db->env);
    db->env = NULL;
}


static void
follow_map(vg_db *db)
{
    mdb_env_set_mapsize(db->env, 0);
    MDB_envinfo info;
    mdb_env_info(db->env, &info);
    db->map_size = info.me_mapsize;
    if (db->map_max < db->map_size)
        db->map_max = db->map_size;
}


int
vg_db_begin(vg_db *db, int write, MDB_txn **txn)
{
    int rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        follow_map(db);
        rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY, txn);
    }
    return rc;
}


int
vg_db_read(vg_db *db, MDB_txn **txn)
{
    int rc;
    if (db->rtxn_live) {
        *txn = db->rtxn;
        return 0;
    }
    if (db->rtxn) {
        rc = mdb_txn_renew(db->rtxn);
        if (rc == 0) {
            db->rtxn_live = 1;
            *txn = db->rtxn;
            return 0;
        }
        mdb_txn_abort(db->rtxn);
        db->rtxn = NULL;
        if (rc == MDB_MAP_RESIZED)
            follow_map(db);
    }
    rc = vg_db_begin(db, 0, &db->rtxn);
    if (rc != 0) {
        db->rtxn = NULL;
        return vg_db_err(rc);
    }
    db->rtxn_live = 1;
    *txn = db->rtxn;
    return 0;
}


void
vg_db_read_end(vg_db *db)
{
    if (db->rtxn && db->rtxn_live)
        mdb_txn_reset(db->rtxn);
    db->rtxn_live = 0;
}


int
vg_db_grow(vg_db *db)
{
    if (db->map_size >= db->map_max)
        return VG_E_FULL;
    size_t next = db->map_size * 2;
    if (next > db->map_max || next < db->map_size)
        next = db->map_max;
    int rc = mdb_env_set_mapsize(db->env, next);
    if (rc != 0)
        return vg_db_err(rc);
    db->map_size = next;
    vg_info("store", "database map grown to %zu MiB (limit %zu MiB)", next >> 20, db->map_max >> 20);
    return 0;
}


int
vg_db_reader_check(vg_db *db)
{
    int dead = 0;
    mdb_reader_check(db->env, &dead);
    if (dead > 0)
        vg_info("store", "cleared %d stale reader slot(s)", dead);
    return dead;
}


void
vg_db_usage(vg_db *db, size_t *used, size_t *total)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(db->env, &info);
    mdb_env_stat(db->env, &st);
    *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    *total = info.me_mapsize;
}

/* ---- small helpers ------------------------------------------------------ */

static size_t
lower_copy(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < cap; n++)
        out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
    return n;
}


static int
put_raw(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn, unsigned flags)
{
    MDB_val key = { kn, (void *)k }, val = { vn, (void *)v };
    return mdb_put(txn, dbi, &key, &val, flags);
}


static int
del_raw(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn)
{
    MDB_val key = { kn, (void *)k };
    int rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}


static int
get_raw(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out)
{
    MDB_val key = { kn, (void *)k };
    return mdb_get(txn, dbi, &key, out);
}


/* Deletes every key starting with prefix; calls fn (may be NULL) on each value first. */
static int
del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn,
           int (*fn)(const MDB_val *k, const MDB_val *v, void *ud), void *ud)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    MDB_val k = { pn, (void *)prefix }, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= pn && memcmp(k.mv_data, prefix, pn) == 0) {
        if (fn && (rc = fn(&k, &v, ud)) != 0)
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
        if (rc == EINVAL)   /* deleted the last item */
            rc = MDB_NOTFOUND;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- users ---------------------------------------------------------------- */

void
vg_user_encode(vg_buf *out, const vg_user *u)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 8);
    vg_mpw_cstr(&w, "id"); vg_mpw_u64(&w, u->id);
    vg_mpw_cstr(&w, "name"); vg_mpw_cstr(&w, u->name);
    vg_mpw_cstr(&w, "email"); vg_mpw_cstr(&w, u->email);
    vg_mpw_cstr(&w, "role"); vg_mpw_cstr(&w, vg_role_name(u->role));
    vg_mpw_cstr(&w, "hash"); vg_mpw_cstr(&w, u->hash);
    vg_mpw_cstr(&w, "created"); vg_mpw_i64(&w, u->created);
    vg_mpw_cstr(&w, "updated"); vg_mpw_i64(&w, u->updated);
    vg_mpw_cstr(&w, "disabled"); vg_mpw_bool(&w, u->disabled);
}


int
vg_user_decode(const void *p, size_t n, vg_user *u)
{
    vg_mpr r;
    uint32_t cnt;
    memset(u, 0, sizeof *u);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k, s;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "id"))
            vg_mpr_u64(&r, &u->id);
        else if (vg_str_eq(k, "name"))
            vg_mpr_strcpy(&r, u->name, sizeof u->name);
        else if (vg_str_eq(k, "email"))
            vg_mpr_strcpy(&r, u->email, sizeof u->email);
        else if (vg_str_eq(k, "role")) {
            if (vg_mpr_str(&r, &s) == 0)
                u->role = vg_role_parse(s.p, s.n);
        } else if (vg_str_eq(k, "hash"))
            vg_mpr_strcpy(&r, u->hash, sizeof u->hash);
        else if (vg_str_eq(k, "created"))
            vg_mpr_i64(&r, &u->created);
        else if (vg_str_eq(k, "updated"))
            vg_mpr_i64(&r, &u->updated);
        else if (vg_str_eq(k, "disabled"))
            vg_mpr_bool(&r, &u->disabled);
        else
            vg_mpr_skip(&r);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


static int
user_put(vg_db *db, MDB_txn *txn, const vg_user *u)
{
    uint8_t k[8];
    vg_buf b;
    vg_buf_init(&b);
    vg_db_be64(k, u->id);
    vg_user_encode(&b, u);
    int rc = put_raw(txn, db->users, k, 8, b.data, b.len, 0);
    vg_buf_release(&b);
    return rc;
}


int
vg_db_user_get(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user *u)
{
    uint8_t k[8];
    MDB_val v;
    vg_db_be64(k, uid);
    int rc = get_raw(txn, db->users, k, 8, &v);
    if (rc != 0)
        return vg_db_err(rc);
    return vg_user_decode(v.mv_data, v.mv_size, u);
}


int
vg_db_user_find(vg_db *db, MDB_txn *txn, const char *login, vg_user *u)
{
    char low[VG_DB_EMAIL_MAX + 1];
    if (strlen(login) > VG_DB_EMAIL_MAX)
        return VG_E_NOTFOUND;
    size_t n = lower_copy(low, sizeof low, login);
    MDB_val v;
    int rc = get_raw(txn, strchr(low, '@') ? db->users_by_email : db->users_by_name, low, n, &v);
    if (rc == MDB_NOTFOUND && !strchr(low, '@'))
        return VG_E_NOTFOUND;
    if (rc == MDB_NOTFOUND)   /* names may not hold '@', but be lenient */
        rc = get_raw(txn, db->users_by_name, low, n, &v);
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
    size_t nn = lower_copy(lname, sizeof lname, u->name);
    size_t en = lower_copy(lmail, sizeof lmail, u->email);
    MDB_val v;
    int rc;
    if (get_raw(txn, db->users_by_name, lname, nn, &v) == 0)
        return VG_E_CONFLICT;
    if (en && get_raw(txn, db->users_by_email, lmail, en, &v) == 0)
        return VG_E_CONFLICT;
    uint64_t next = 1;
    rc = meta_get_u64(db, txn, "next_uid", &next);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return vg_db_err(rc);
    u->id = next;
    uint8_t k[8];
    vg_db_be64(k, u->id);
    if ((rc = meta_put_u64(db, txn, "next_uid", next + 1)) != 0 ||
        (rc = user_put(db, txn, u)) != 0 ||
        (rc = put_raw(txn, db->users_by_name, lname, nn, k, 8, 0)) != 0 ||
        (en && (rc = put_raw(txn, db->users_by_email, lmail, en, k, 8, 0)) != 0))
        return vg_db_err(rc);
    return 0;
}


static int
revoke_family_cb(const MDB_val *k, const MDB_val *v, void *ud)
{
    (void)k;
    (void)v;
    (void)ud;
    return 0;
}


/* Deletes every family of uid (their refresh tokens then fail the family check). */
static int
drop_families(vg_db *db, MDB_txn *txn, uint64_t uid)
{
    uint8_t k[8];
    vg_db_be64(k, uid);
    return del_prefix(txn, db->families, k, 8, revoke_family_cb, NULL);
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
        size_t on = lower_copy(lold, sizeof lold, u.email);
        size_t nn = lower_copy(lnew, sizeof lnew, p->email);
        if (on != nn || memcmp(lold, lnew, on) != 0) {
            MDB_val v;
            if (nn && get_raw(txn, db->users_by_email, lnew, nn, &v) == 0)
                return VG_E_CONFLICT;
            if ((on && (rc = del_raw(txn, db->users_by_email, lold, on)) != 0) ||
                (nn && (rc = put_raw(txn, db->users_by_email, lnew, nn, k, 8, 0)) != 0))
                return vg_db_err(rc);
        }
        snprintf(u.email, sizeof u.email, "%s", p->email);
    }
    if (p->set_hash)
        snprintf(u.hash, sizeof u.hash, "%s", p->hash);
    u.role = role;
    u.disabled = disabled;
    u.updated = p->now;
    if ((rc = user_put(db, txn, &u)) != 0)
        return vg_db_err(rc);
    /* a new password or a disabled account ends every session */
    if ((p->set_hash || (p->set_disabled && disabled)) && (rc = drop_families(db, txn, uid)) != 0)
        return vg_db_err(rc);
    return 0;
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
    return del_raw(txn, db->apikeys_by_hash, key.hash, 32);
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
    void *ud[2] = { db, txn };
    size_t n = lower_copy(low, sizeof low, u.name);
    if ((rc = del_raw(txn, db->users_by_name, low, n)) != 0)
        return vg_db_err(rc);
    n = lower_copy(low, sizeof low, u.email);
    if (n && (rc = del_raw(txn, db->users_by_email, low, n)) != 0)
        return vg_db_err(rc);
    if ((rc = del_raw(txn, db->users, k, 8)) != 0 ||
        (rc = drop_families(db, txn, uid)) != 0 ||
        (rc = del_prefix(txn, db->apikeys, k, 8, unhash_key_cb, ud)) != 0)
        return vg_db_err(rc);
    return 0;
}

/* ---- sessions ------------------------------------------------------------- */

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


static int
put_encoded(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, vg_buf *b, unsigned flags)
{
    int rc = put_raw(txn, dbi, k, kn, b->data, b->len, flags);
    vg_buf_release(b);
    return rc;
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
    int rc = put_encoded(txn, db->sessions, hash, 32, &b, MDB_NOOVERWRITE);
    if (rc == 0) {
        family_encode(&b, &f);
        rc = put_encoded(txn, db->families, fk, 24, &b, 0);
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
    int rc = get_raw(txn, db->families, fk, 24, &v);
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
    int rc = get_raw(txn, db->families, fk, 24, &v);
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
    return vg_db_err(put_encoded(txn, db->families, fk, 24, &b, 0));
}


int
vg_db_session_lookup(vg_db *db, MDB_txn *txn, const uint8_t hash[32], uint64_t *uid, uint8_t fam[VG_DB_FAMILY])
{
    MDB_val v;
    session s;
    int rc = get_raw(txn, db->sessions, hash, 32, &v);
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
    int rc = get_raw(txn, db->sessions, old_hash, 32, &v);
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
    if ((rc = put_encoded(txn, db->sessions, old_hash, 32, &b, 0)) != 0)
        return vg_db_err(rc);
    session ns = { .uid = s.uid, .created = now, .expires = expires };
    memcpy(ns.family, s.family, VG_DB_FAMILY);
    session_encode(&b, &ns);
    if ((rc = put_encoded(txn, db->sessions, new_hash, 32, &b, MDB_NOOVERWRITE)) != 0)
        return vg_db_err(rc);
    /* the family lives as long as its newest token */
    uint8_t fk[24];
    family f;
    family_key(fk, s.uid, s.family);
    if ((rc = get_raw(txn, db->families, fk, 24, &v)) != 0 || (rc = family_decode(v.mv_data, v.mv_size, &f)) != 0)
        return vg_db_err(rc);
    f.expires = expires;
    family_encode(&b, &f);
    return vg_db_err(put_encoded(txn, db->families, fk, 24, &b, 0));
}

/* ---- API keys -------------------------------------------------------------- */

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
    int rc = meta_get_u64(db, txn, "next_kid", &next);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return vg_db_err(rc);
    uint8_t uk[8];
    vg_db_be64(uk, k->uid);
    MDB_val v;
    if ((rc = get_raw(txn, db->users, uk, 8, &v)) != 0)
        return vg_db_err(rc);
    k->kid = next;
    memcpy(k->hash, hash, 32);
    uint8_t key[16];
    vg_db_be64(key, k->uid);
    vg_db_be64(key + 8, k->kid);
    vg_buf b;
    vg_buf_init(&b);
    vg_apikey_encode(&b, k);
    if ((rc = meta_put_u64(db, txn, "next_kid", next + 1)) != 0 ||
        (rc = put_encoded(txn, db->apikeys, key, 16, &b, 0)) != 0 ||
        (rc = put_raw(txn, db->apikeys_by_hash, hash, 32, key, 16, MDB_NOOVERWRITE)) != 0) {
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
    int rc = get_raw(txn, db->apikeys, key, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = vg_apikey_decode(v.mv_data, v.mv_size, &k)) != 0)
        return rc;
    k.revoked = 1;
    vg_buf b;
    vg_buf_init(&b);
    vg_apikey_encode(&b, &k);
    if ((rc = put_encoded(txn, db->apikeys, key, 16, &b, 0)) != 0 ||
        (rc = del_raw(txn, db->apikeys_by_hash, k.hash, 32)) != 0)
        return vg_db_err(rc);
    return 0;
}


int
vg_db_apikey_find(vg_db *db, MDB_txn *txn, const uint8_t hash[32], vg_apikey *k)
{
    MDB_val v;
    int rc = get_raw(txn, db->apikeys_by_hash, hash, 32, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if (v.mv_size != 16)
        return VG_E_CORRUPT;
    uint8_t key[16];
    memcpy(key, v.mv_data, 16);
    if ((rc = get_raw(txn, db->apikeys, key, 16, &v)) != 0)
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

/* ---- aggregates -------------------------------------------------------- */

void
vg_agg_key(uint8_t out[5], char kind, uint32_t index)
{
    out[0] = (uint8_t)kind;
    out[1] = (uint8_t)(index >> 24);
    out[2] = (uint8_t)(index >> 16);
    out[3] = (uint8_t)(index >> 8);
    out[4] = (uint8_t)index;
}


void
vg_agg_bucket_init(vg_agg_bucket *b)
{
    memset(b, 0, sizeof *b);
}


void
vg_agg_bucket_release(vg_agg_bucket *b)
{
    free(b->labels);
    free(b->models);
    memset(b, 0, sizeof *b);
}


static vg_agg_named *
named_find(vg_agg_named **arr, int *n, const char *name, size_t len)
{
    if (len > VG_DB_LABEL_MAX)
        len = VG_DB_LABEL_MAX;
    for (int i = 0; i < *n; i++)
        if (strlen((*arr)[i].name) == len && memcmp((*arr)[i].name, name, len) == 0)
            return &(*arr)[i];
    *arr = vg_xrealloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    vg_agg_named *e = &(*arr)[(*n)++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    return e;
}


static int
lat_bucket(uint64_t us)
{
    double ms = (double)us / 1000.0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS - 1; i++)
        if (ms <= vg_db_lat_bounds_ms[i])
            return i;
    return VG_DB_LAT_BUCKETS - 1;
}


static void
read_hist(vg_mpr *r, uint64_t hist[VG_DB_LAT_BUCKETS])
{
    uint32_t n;
    if (vg_mpr_array(r, &n) < 0)
        return;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = 0;
        vg_mpr_u64(r, &v);
        if (i < VG_DB_LAT_BUCKETS)
            hist[i] += v;
    }
}


static void
write_hist(vg_mpw *w, const uint64_t hist[VG_DB_LAT_BUCKETS])
{
    vg_mpw_array(w, VG_DB_LAT_BUCKETS);
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        vg_mpw_u64(w, hist[i]);
}


int
vg_agg_bucket_decode(const void *p, size_t n, vg_agg_bucket *b)
{
    vg_mpr r;
    uint32_t cnt;
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        uint64_t v = 0;
        uint32_t m;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "n")) {
            vg_mpr_u64(&r, &v);
            b->n += v;
        } else if (vg_str_eq(k, "o")) {
            vg_mpr_u64(&r, &v);
            b->objects += v;
        } else if (vg_str_eq(k, "ls")) {
            vg_mpr_u64(&r, &v);
            b->lat_sum_us += v;
        } else if (vg_str_eq(k, "lat")) {
            read_hist(&r, b->hist);
        } else if (vg_str_eq(k, "l") && vg_mpr_map(&r, &m) == 0) {
            for (uint32_t j = 0; j < m && !r.err; j++) {
                vg_str name;
                if (vg_mpr_str(&r, &name) < 0 || vg_mpr_u64(&r, &v) < 0)
                    break;
                named_find(&b->labels, &b->nlabels, name.p, name.n)->objects += v;
            }
        } else if (vg_str_eq(k, "m") && vg_mpr_map(&r, &m) == 0) {
            for (uint32_t j = 0; j < m && !r.err; j++) {
                vg_str name;
                uint32_t an;
                if (vg_mpr_str(&r, &name) < 0 || vg_mpr_array(&r, &an) < 0 || an != 4)
                    break;
                vg_agg_named *e = named_find(&b->models, &b->nmodels, name.p, name.n);
                uint64_t a = 0, o = 0, s = 0;
                vg_mpr_u64(&r, &a);
                vg_mpr_u64(&r, &o);
                vg_mpr_u64(&r, &s);
                e->n += a;
                e->objects += o;
                e->lat_sum_us += s;
                read_hist(&r, e->hist);
            }
        } else {
            vg_mpr_skip(&r);
        }
    }
    return r.err ? VG_E_CORRUPT : 0;
}


static void
bucket_encode(vg_buf *out, const vg_agg_bucket *b)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 6);
    vg_mpw_cstr(&w, "n"); vg_mpw_u64(&w, b->n);
    vg_mpw_cstr(&w, "o"); vg_mpw_u64(&w, b->objects);
    vg_mpw_cstr(&w, "ls"); vg_mpw_u64(&w, b->lat_sum_us);
    vg_mpw_cstr(&w, "lat"); write_hist(&w, b->hist);
    vg_mpw_cstr(&w, "l");
    vg_mpw_map(&w, (uint32_t)b->nlabels);
    for (int i = 0; i < b->nlabels; i++) {
        vg_mpw_cstr(&w, b->labels[i].name);
        vg_mpw_u64(&w, b->labels[i].objects);
    }
    vg_mpw_cstr(&w, "m");
    vg_mpw_map(&w, (uint32_t)b->nmodels);
    for (int i = 0; i < b->nmodels; i++) {
        const vg_agg_named *e = &b->models[i];
        vg_mpw_cstr(&w, e->name);
        vg_mpw_array(&w, 4);
        vg_mpw_u64(&w, e->n);
        vg_mpw_u64(&w, e->objects);
        vg_mpw_u64(&w, e->lat_sum_us);
        write_hist(&w, e->hist);
    }
}


void
vg_agg_bucket_merge(vg_agg_bucket *dst, const vg_agg_bucket *src)
{
    dst->n += src->n;
    dst->objects += src->objects;
    dst->lat_sum_us += src->lat_sum_us;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        dst->hist[i] += src->hist[i];
    for (int i = 0; i < src->nlabels; i++)
        named_find(&dst->labels, &dst->nlabels, src->labels[i].name, strlen(src->labels[i].name))->objects +=
            src->labels[i].objects;
    for (int i = 0; i < src->nmodels; i++) {
        const vg_agg_named *s = &src->models[i];
        vg_agg_named *d = named_find(&dst->models, &dst->nmodels, s->name, strlen(s->name));
        d->n += s->n;
        d->objects += s->objects;
        d->lat_sum_us += s->lat_sum_us;
        for (int j = 0; j < VG_DB_LAT_BUCKETS; j++)
            d->hist[j] += s->hist[j];
    }
}


double
vg_agg_percentile(const uint64_t hist[VG_DB_LAT_BUCKETS], double q)
{
    uint64_t total = 0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    double want = q * (double)total, cum = 0;
    for (int i = 0; i < VG_DB_LAT_BUCKETS; i++) {
        if (hist[i] == 0)
            continue;
        if (cum + (double)hist[i] >= want) {
            double lo = i ? vg_db_lat_bounds_ms[i - 1] : 0;
            if (i == VG_DB_LAT_BUCKETS - 1)
                return lo;
            double hi = vg_db_lat_bounds_ms[i];
            return lo + (hi - lo) * ((want - cum) / (double)hist[i]);
        }
        cum += (double)hist[i];
    }
    return vg_db_lat_bounds_ms[VG_DB_LAT_BUCKETS - 2];
}


/* Pending changes of one batch, applied once per key at commit. */
typedef struct agg_entry {
    uint8_t key[9];
    size_t klen;
    vg_agg_bucket b;               /* hour/day buckets */
    vg_user_activity a;            /* 'u' entries: deltas (last_* are maxima) */
} agg_entry;

struct vg_db_agg {
    agg_entry *e;
    int n, cap;
};


vg_db_agg *
vg_db_agg_create(void)
{
    return vg_xcalloc(1, sizeof(vg_db_agg));
}


void
vg_db_agg_clear(vg_db_agg *a)
{
    for (int i = 0; i < a->n; i++)
        vg_agg_bucket_release(&a->e[i].b);
    a->n = 0;
}


void
vg_db_agg_destroy(vg_db_agg *a)
{
    if (!a)
        return;
    vg_db_agg_clear(a);
    free(a->e);
    free(a);
}


static agg_entry *
agg_get(vg_db_agg *a, const uint8_t *key, size_t klen)
{
    for (int i = a->n - 1; i >= 0; i--)
        if (a->e[i].klen == klen && memcmp(a->e[i].key, key, klen) == 0)
            return &a->e[i];
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->e = vg_xrealloc(a->e, (size_t)a->cap * sizeof *a->e);
    }
    agg_entry *e = &a->e[a->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, klen);
    e->klen = klen;
    return e;
}


static agg_entry *
agg_user(vg_db_agg *a, uint64_t uid)
{
    uint8_t k[9];
    k[0] = 'u';
    vg_db_be64(k + 1, uid);
    return agg_get(a, k, 9);
}


void
vg_db_agg_login(vg_db_agg *a, uint64_t uid, int64_t now)
{
    agg_entry *e = agg_user(a, uid);
    e->a.logins++;
    if (now > e->a.last_login)
        e->a.last_login = now;
}


void
vg_db_agg_feedback(vg_db_agg *a, uint64_t uid)
{
    agg_user(a, uid)->a.feedback++;
}


static void
activity_decode(const void *p, size_t n, vg_user_activity *a)
{
    vg_mpr r;
    uint32_t cnt;
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        uint64_t v = 0;
        int64_t s = 0;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "det") && vg_mpr_u64(&r, &v) == 0)
            a->detections += v;
        else if (vg_str_eq(k, "obj") && vg_mpr_u64(&r, &v) == 0)
            a->objects += v;
        else if (vg_str_eq(k, "fb") && vg_mpr_u64(&r, &v) == 0)
            a->feedback += v;
        else if (vg_str_eq(k, "logins") && vg_mpr_u64(&r, &v) == 0)
            a->logins += v;
        else if (vg_str_eq(k, "last") && vg_mpr_i64(&r, &s) == 0) {
            if (s > a->last_detection_us)
                a->last_detection_us = s;
        } else if (vg_str_eq(k, "login") && vg_mpr_i64(&r, &s) == 0) {
            if (s > a->last_login)
                a->last_login = s;
        } else
            vg_mpr_skip(&r);
    }
}


int
vg_db_user_activity(vg_db *db, MDB_txn *txn, uint64_t uid, vg_user_activity *a)
{
    uint8_t k[9];
    MDB_val v;
    memset(a, 0, sizeof *a);
    k[0] = 'u';
    vg_db_be64(k + 1, uid);
    int rc = get_raw(txn, db->aggregates, k, 9, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return vg_db_err(rc);
    activity_decode(v.mv_data, v.mv_size, a);
    return 0;
}


int
vg_db_agg_flush(vg_db *db, MDB_txn *txn, vg_db_agg *a)
{
    vg_buf b;
    vg_buf_init(&b);
    int rc = 0;
    for (int i = 0; i < a->n && rc == 0; i++) {
        agg_entry *e = &a->e[i];
        MDB_val v;
        int found = get_raw(txn, db->aggregates, e->key, e->klen, &v) == 0;
        b.len = 0;
        if (e->key[0] == 'u') {
            vg_user_activity cur;
            memset(&cur, 0, sizeof cur);
            if (found)
                activity_decode(v.mv_data, v.mv_size, &cur);
            cur.detections += e->a.detections;
            cur.objects += e->a.objects;
            cur.feedback += e->a.feedback;
            cur.logins += e->a.logins;
            if (e->a.last_detection_us > cur.last_detection_us)
                cur.last_detection_us = e->a.last_detection_us;
            if (e->a.last_login > cur.last_login)
                cur.last_login = e->a.last_login;
            vg_mpw w;
            vg_mpw_init(&w, &b);
            vg_mpw_map(&w, 6);
            vg_mpw_cstr(&w, "det"); vg_mpw_u64(&w, cur.detections);
            vg_mpw_cstr(&w, "obj"); vg_mpw_u64(&w, cur.objects);
            vg_mpw_cstr(&w, "fb"); vg_mpw_u64(&w, cur.feedback);
            vg_mpw_cstr(&w, "logins"); vg_mpw_u64(&w, cur.logins);
            vg_mpw_cstr(&w, "last"); vg_mpw_i64(&w, cur.last_detection_us);
            vg_mpw_cstr(&w, "login"); vg_mpw_i64(&w, cur.last_login);
        } else {
            vg_agg_bucket cur;
            vg_agg_bucket_init(&cur);
            if (found && vg_agg_bucket_decode(v.mv_data, v.mv_size, &cur) != 0) {
                vg_agg_bucket_release(&cur);
                vg_agg_bucket_init(&cur);   /* a damaged bucket restarts from this batch */
            }
            vg_agg_bucket_merge(&cur, &e->b);
            bucket_encode(&b, &cur);
            vg_agg_bucket_release(&cur);
        }
        rc = put_raw(txn, db->aggregates, e->key, e->klen, b.data, b.len, 0);
    }
    vg_buf_release(&b);
    if (rc == 0)
        vg_db_agg_clear(a);
    return vg_db_err(rc);
}

/* ---- detections ------------------------------------------------------------ */

static int
put_index(MDB_txn *txn, MDB_dbi dbi, const char *val, size_t vn, const uint8_t key[16])
{
    uint8_t k[VG_DB_LABEL_MAX + 1 + 16];
    if (vn > VG_DB_LABEL_MAX)
        vn = VG_DB_LABEL_MAX;
    memcpy(k, val, vn);
    k[vn] = 0;
    memcpy(k + vn + 1, key, 16);
    return put_raw(txn, dbi, k, vn + 17, "", 0, 0);
}


static int
del_index(MDB_txn *txn, MDB_dbi dbi, const char *val, size_t vn, const uint8_t key[16])
{
    uint8_t k[VG_DB_LABEL_MAX + 1 + 16];
    if (vn > VG_DB_LABEL_MAX)
        vn = VG_DB_LABEL_MAX;
    memcpy(k, val, vn);
    k[vn] = 0;
    memcpy(k + vn + 1, key, 16);
    return del_raw(txn, dbi, k, vn + 17);
}


int
vg_db_det_add(vg_db *db, MDB_txn *txn, const vg_det_meta *m, const void *value, size_t len, vg_db_agg *agg)
{
    int rc = put_raw(txn, db->detections, m->key, 16, value, len, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;   /* the same record sent twice (a retry) */
    if (rc != 0)
        return vg_db_err(rc);
    uint8_t uk[24];
    vg_db_be64(uk, m->uid);
    memcpy(uk + 8, m->key, 16);
    if ((rc = put_raw(txn, db->idx_user, uk, 24, "", 0, 0)) != 0)
        return vg_db_err(rc);
    if (m->source.n && (rc = put_index(txn, db->idx_source, m->source.p, m->source.n, m->key)) != 0)
        return vg_db_err(rc);
    if (m->model.n && (rc = put_index(txn, db->idx_model, m->model.p, m->model.n, m->key)) != 0)
        return vg_db_err(rc);
    uint64_t objects = 0;
    for (uint32_t i = 0; i < m->nlabels; i++) {
        if ((rc = put_index(txn, db->idx_label, m->labels[i].p, m->labels[i].n, m->key)) != 0)
            return vg_db_err(rc);
        objects += m->counts[i];
    }
    if (!agg)
        return 0;
    uint64_t t = vg_db_key_time(m->key);
    uint32_t hour = (uint32_t)(t / 3600000000ull), day = (uint32_t)(t / 86400000000ull);
    int lb = lat_bucket(m->total_us);
    for (int pass = 0; pass < 2; pass++) {
        uint8_t k[5];
        vg_agg_key(k, pass ? 'd' : 'h', pass ? day : hour);
        vg_agg_bucket *b = &agg_get(agg, k, 5)->b;
        b->n++;
        b->objects += objects;
        b->lat_sum_us += m->total_us;
        b->hist[lb]++;
        for (uint32_t i = 0; i < m->nlabels; i++)
            named_find(&b->labels, &b->nlabels, m->labels[i].p, m->labels[i].n)->objects += m->counts[i];
        vg_agg_named *e = named_find(&b->models, &b->nmodels, m->model.p, m->model.n);
        e->n++;
        e->objects += objects;
        e->lat_sum_us += m->total_us;
        e->hist[lb]++;
    }
    agg_entry *u = agg_user(agg, m->uid);
    u->a.detections++;
    u->a.objects += objects;
    if ((int64_t)t > u->a.last_detection_us)
        u->a.last_detection_us = (int64_t)t;
    return 0;
}


int
vg_det_view_decode(const void *p, size_t n, vg_det_view *v)
{
    vg_mpr r;
    uint32_t cnt;
    memset(v, 0, sizeof *v);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        if (vg_str_eq(k, "u")) {
            vg_mpr_u64(&r, &v->uid);
        } else if (vg_str_eq(k, "src")) {
            vg_mpr_str(&r, &v->source);
        } else if (vg_str_eq(k, "m")) {
            vg_mpr_str(&r, &v->model);
        } else if (vg_str_eq(k, "img")) {
            const uint8_t *b;
            size_t bn;
            if (!vg_mpr_nil(&r) && vg_mpr_bin(&r, &b, &bn) == 0 && bn == 32)
                v->image = b;
        } else if (vg_str_eq(k, "d")) {
            uint32_t nd;
            if (vg_mpr_array(&r, &nd) < 0)
                break;
            for (uint32_t j = 0; j < nd && !r.err; j++) {
                uint32_t f;
                vg_str label;
                if (vg_mpr_array(&r, &f) < 0 || f < 1 || vg_mpr_str(&r, &label) < 0)
                    break;
                for (uint32_t x = 1; x < f; x++)
                    vg_mpr_skip(&r);
                uint32_t l;
                for (l = 0; l < v->nlabels; l++)
                    if (v->labels[l].n == label.n && memcmp(v->labels[l].p, label.p, label.n) == 0)
                        break;
                if (l == v->nlabels && v->nlabels < 256)
                    v->labels[v->nlabels++] = label;
            }
        } else {
            vg_mpr_skip(&r);
        }
    }
    return r.err ? VG_E_CORRUPT : 0;
}


int
vg_db_det_delete(vg_db *db, MDB_txn *txn, const uint8_t key[16], uint8_t image[32], int *has_image)
{
    MDB_val v;
    vg_det_view dv;
    *has_image = 0;
    int rc = get_raw(txn, db->detections, key, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if (vg_det_view_decode(v.mv_data, v.mv_size, &dv) == 0) {
        /* copy what we need before the delete frees the page */
        char src[VG_DB_SOURCE_MAX + 1], model[VG_DB_LABEL_MAX + 1];
        size_t sn = dv.source.n < sizeof src ? dv.source.n : sizeof src - 1;
        size_t mn = dv.model.n < sizeof model ? dv.model.n : sizeof model - 1;
        memcpy(src, dv.source.p, sn);
        memcpy(model, dv.model.p, mn);
        if (dv.image) {
            memcpy(image, dv.image, 32);
            *has_image = 1;
        }
        uint8_t uk[24];
        vg_db_be64(uk, dv.uid);
        memcpy(uk + 8, key, 16);
        if ((rc = del_raw(txn, db->idx_user, uk, 24)) != 0)
            return vg_db_err(rc);
        for (uint32_t i = 0; i < dv.nlabels; i++) {
            char l[VG_DB_LABEL_MAX + 1];
            size_t ln = dv.labels[i].n < sizeof l ? dv.labels[i].n : sizeof l - 1;
            memcpy(l, dv.labels[i].p, ln);
            if ((rc = del_index(txn, db->idx_label, l, ln, key)) != 0)
                return vg_db_err(rc);
        }
        if ((sn && (rc = del_index(txn, db->idx_source, src, sn, key)) != 0) ||
            (mn && (rc = del_index(txn, db->idx_model, model, mn, key)) != 0))
            return vg_db_err(rc);
    }
    return vg_db_err(del_raw(txn, db->detections, key, 16));
}

/* ---- feedback ---------------------------------------------------------------- */

int
vg_db_feedback_add(vg_db *db, MDB_txn *txn, const uint8_t key[16], const uint8_t det[16], uint64_t uid,
                   const void *value, size_t len, vg_db_agg *agg)
{
    MDB_val v;
    int rc = get_raw(txn, db->detections, det, 16, &v);
    if (rc != 0)
        return vg_db_err(rc);
    if ((rc = put_raw(txn, db->feedback, key, 16, value, len, MDB_NOOVERWRITE)) != 0)
        return rc == MDB_KEYEXIST ? 0 : vg_db_err(rc);
    uint8_t ik[32];
    memcpy(ik, det, 16);
    memcpy(ik + 16, key, 16);
    if ((rc = put_raw(txn, db->idx_feedback, ik, 32, "", 0, 0)) != 0)
        return vg_db_err(rc);
    if (agg)
        vg_db_agg_feedback(agg, uid);
    return 0;
}

/* ---- images ------------------------------------------------------------------ */

void
vg_db_image_path(const char *data_dir, const uint8_t sha[32], char *out, size_t cap)
{
    char hex[65];
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = hx[sha[i] >> 4];
        hex[2 * i + 1] = hx[sha[i] & 15];
    }
    hex[64] = '\0';
    snprintf(out, cap, "%s/images/%.2s/%s.jpg", data_dir, hex, hex + 2);
}


int
vg_db_image_ref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], uint64_t size, int64_t now, int *is_new)
{
    MDB_val v;
    uint64_t refs = 0;
    int rc = get_raw(txn, db->images, sha, 32, &v);
    *is_new = rc == MDB_NOTFOUND;
    if (rc == 0) {
        vg_mpr r;
        uint32_t n;
        vg_mpr_init(&r, v.mv_data, v.mv_size);
        if (vg_mpr_array(&r, &n) == 0 && n >= 1)
            vg_mpr_u64(&r, &refs);
    } else if (rc != MDB_NOTFOUND) {
        return vg_db_err(rc);
    }
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_array(&w, 3);
    vg_mpw_u64(&w, refs + 1);
    vg_mpw_u64(&w, size);
    vg_mpw_i64(&w, now);
    return vg_db_err(put_encoded(txn, db->images, sha, 32, &b, 0));
}


int
vg_db_image_unref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], int *gone)
{
    MDB_val v;
    uint64_t refs = 0, size = 0;
    int64_t created = 0;
    *gone = 0;
    int rc = get_raw(txn, db->images, sha, 32, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return vg_db_err(rc);
    vg_mpr r;
    uint32_t n;
    vg_mpr_init(&r, v.mv_data, v.mv_size);
    if (vg_mpr_array(&r, &n) == 0 && n >= 3) {
        vg_mpr_u64(&r, &refs);
        vg_mpr_u64(&r, &size);
        vg_mpr_i64(&r, &created);
    }
    if (refs <= 1) {
        *gone = 1;
        return vg_db_err(del_raw(txn, db->images, sha, 32));
    }
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_array(&w, 3);
    vg_mpw_u64(&w, refs - 1);
    vg_mpw_u64(&w, size);
    vg_mpw_i64(&w, created);
    return vg_db_err(put_encoded(txn, db->images, sha, 32, &b, 0));
}
