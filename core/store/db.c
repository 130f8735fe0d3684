/* db: the environment, transactions, keys and migrations (see db.h). */
#include "store/db.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mpk.h"
#include "store/db_internal.h"

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
    vg_hex_encode(key, 16, out);
}


int
vg_db_key_parse(const char *hex, size_t n, uint8_t key[16])
{
    return vg_hex_decode(hex, n, key, 16);
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

/* ---- records as msgpack maps ---------------------------------------------- */

void
vg_db__encode(vg_buf *out, const vg_db__record *rec, const void *r)
{
    const vg_db__field *f = rec->fields;
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, (uint32_t)rec->nfields);
    for (size_t i = 0; i < rec->nfields; i++) {
        const void *p = (const char *)r + f[i].off;
        vg_mpw_cstr(&w, f[i].key);
        switch (f[i].type) {
        case VG_DB__U64: vg_mpw_u64(&w, *(const uint64_t *)p); break;
        case VG_DB__I64: vg_mpw_i64(&w, *(const int64_t *)p); break;
        case VG_DB__BOOL: vg_mpw_bool(&w, *(const int *)p); break;
        case VG_DB__STR: vg_mpw_cstr(&w, p); break;
        case VG_DB__ROLE: vg_mpw_cstr(&w, vg_role_name(*(const int *)p)); break;
        case VG_DB__BIN: vg_mpw_bin(&w, p, f[i].size); break;
        }
    }
}


int
vg_db__map_read(const void *p, size_t n, void (*field)(vg_mpr *r, vg_str key, void *ud), void *ud)
{
    vg_mpr r;
    uint32_t cnt;
    vg_mpr_init(&r, p, n);
    if (vg_mpr_map(&r, &cnt) < 0)
        return VG_E_CORRUPT;
    for (uint32_t i = 0; i < cnt && !r.err; i++) {
        vg_str k;
        if (vg_mpr_str(&r, &k) < 0)
            break;
        field(&r, k, ud);
    }
    return r.err ? VG_E_CORRUPT : 0;
}


/* Reads the value of key into the record, by the table (a vg_db__map_read field()). */
static void
decode_field(vg_mpr *r, vg_str key, void *ud)
{
    const vg_db__record *rec = ((void **)ud)[0];
    const vg_db__field *f = rec->fields;
    size_t j = 0;
    while (j < rec->nfields && !vg_str_eq(key, f[j].key))
        j++;
    if (j == rec->nfields) {
        vg_mpr_skip(r);
        return;
    }
    void *p = (char *)((void **)ud)[1] + f[j].off;
    vg_str s;
    const uint8_t *b;
    size_t bn;
    switch (f[j].type) {
    case VG_DB__U64: vg_mpr_u64(r, p); break;
    case VG_DB__I64: vg_mpr_i64(r, p); break;
    case VG_DB__BOOL: vg_mpr_bool(r, p); break;
    case VG_DB__STR: vg_mpr_strcpy(r, p, f[j].size); break;
    case VG_DB__ROLE:
        if (vg_mpr_str(r, &s) == 0)
            *(int *)p = vg_role_parse(s.p, s.n);
        break;
    case VG_DB__BIN:
        if (vg_mpr_bin(r, &b, &bn) == 0 && bn == f[j].size)
            memcpy(p, b, bn);
        break;
    }
}


int
vg_db__decode(const void *p, size_t n, const vg_db__record *rec, void *out)
{
    void *ud[2] = { (void *)rec, out };
    memset(out, 0, rec->size);
    return vg_db__map_read(p, n, decode_field, ud);
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


int
vg_db__meta_get(vg_db *db, MDB_txn *txn, const char *name, uint64_t *v)
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


int
vg_db__meta_put(vg_db *db, MDB_txn *txn, const char *name, uint64_t v)
{
    uint8_t b[8];
    vg_db_be64(b, v);
    MDB_val k = { strlen(name), (void *)name }, d = { 8, b };
    return mdb_put(txn, db->meta, &k, &d, 0);
}


int
vg_db_repl_get(vg_db *db, MDB_txn *txn, uint64_t *ms, uint64_t *seq)
{
    *ms = *seq = 0;
    int rc = vg_db__meta_get(db, txn, "repl_ms", ms);
    if (rc == 0)
        rc = vg_db__meta_get(db, txn, "repl_seq", seq);
    if (rc == MDB_NOTFOUND) {
        *ms = *seq = 0;
        return 0;
    }
    return vg_db_err(rc);
}


int
vg_db_repl_put(vg_db *db, MDB_txn *txn, uint64_t ms, uint64_t seq)
{
    int rc = vg_db__meta_put(db, txn, "repl_ms", ms);
    if (rc == 0)
        rc = vg_db__meta_put(db, txn, "repl_seq", seq);
    return vg_db_err(rc);
}


static int
origin_key(const char *origin, size_t n, char *key, size_t cap)
{
    if (n == 0 || n > 64 || memchr(origin, '\0', n))
        return VG_E_INVAL;
    snprintf(key, cap, "ro:%.*s", (int)n, origin);
    return 0;
}


int
vg_db_repl_origin_get(vg_db *db, MDB_txn *txn, const char *origin, size_t n, uint64_t *oseq)
{
    char key[80];
    *oseq = 0;
    int rc = origin_key(origin, n, key, sizeof key);
    if (rc != 0)
        return rc;
    rc = vg_db__meta_get(db, txn, key, oseq);
    if (rc == MDB_NOTFOUND) {
        *oseq = 0;
        return 0;
    }
    return vg_db_err(rc);
}


int
vg_db_repl_origin_put(vg_db *db, MDB_txn *txn, const char *origin, size_t n, uint64_t oseq)
{
    char key[80];
    int rc = origin_key(origin, n, key, sizeof key);
    return rc != 0 ? rc : vg_db_err(vg_db__meta_put(db, txn, key, oseq));
}


int
vg_db_outbox_put(vg_db *db, MDB_txn *txn, const void *p, size_t n, uint64_t *num)
{
    uint64_t last = 0;
    int rc = vg_db__meta_get(db, txn, "outbox_next", &last);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return vg_db_err(rc);
    if (!db->has_outbox)
        return VG_E_STORE_IO;
    uint8_t k[8];
    vg_db_be64(k, last + 1);
    MDB_val key = { 8, k }, val = { n, (void *)p };
    rc = mdb_put(txn, db->outbox, &key, &val, MDB_APPEND);
    if (rc == 0)
        rc = vg_db__meta_put(db, txn, "outbox_next", last + 1);
    if (rc == 0)
        *num = last + 1;
    return vg_db_err(rc);
}


size_t
vg_db_outbox_count(vg_db *db, MDB_txn *txn)
{
    MDB_stat st;
    return db->has_outbox && mdb_stat(txn, db->outbox, &st) == 0 ? st.ms_entries : 0;
}


int
vg_db_outbox_done(vg_db *db, MDB_txn *txn, uint64_t upto)
{
    if (!db->has_outbox)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->outbox, &c);
    if (rc != 0)
        return vg_db_err(rc);
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || vg_db_get_be64(k.mv_data) > upto)
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : vg_db_err(rc);
}


int
vg_db_outbox_read(vg_db *db, MDB_txn *txn, uint64_t after, size_t max,
                  void (*each)(uint64_t num, const void *p, size_t n, void *ud), void *ud)
{
    if (!db->has_outbox || max == 0)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db->outbox, &c);
    if (rc != 0)
        return vg_db_err(rc);
    uint8_t kb[8];
    vg_db_be64(kb, after + 1);
    MDB_val k = { 8, kb }, v;
    int got = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && (size_t)got < max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8)
            continue;
        each(vg_db_get_be64(k.mv_data), v.mv_data, v.mv_size, ud);
        got++;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? got : vg_db_err(rc);
}


int
vg_db_repl_epoch_get(vg_db *db, MDB_txn *txn, uint64_t *epoch)
{
    int rc = vg_db__meta_get(db, txn, "repl_epoch", epoch);
    if (rc == MDB_NOTFOUND) {
        *epoch = 0;
        return 0;
    }
    return vg_db_err(rc);
}


int
vg_db_repl_epoch_put(vg_db *db, MDB_txn *txn, uint64_t epoch)
{
    return vg_db_err(vg_db__meta_put(db, txn, "repl_epoch", epoch));
}


/*
 * Migrations: migrate[v] takes a database at version v to v + 1. Version 0
 * is an empty environment. Each runs inside the opening write transaction,
 * so a crash half-way leaves the old version intact.
 */
static int
migrate_0_to_1(vg_db *db, MDB_txn *txn)
{
    int rc = vg_db__meta_put(db, txn, "next_uid", 1);
    if (rc == 0)
        rc = vg_db__meta_put(db, txn, "next_kid", 1);
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
        { "events", &db->events }, { "cameras", &db->cameras },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int rc = mdb_dbi_open(txn, t[i].name, flags, t[i].dbi);
        if (rc != 0)
            return rc;
    }
    /* added after schema 1 without a migration: created by the first writable open */
    int rc = mdb_dbi_open(txn, "outbox", flags, &db->outbox);
    db->has_outbox = rc == 0;
    return rc == MDB_NOTFOUND && !(flags & MDB_CREATE) ? 0 : rc;
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
    rc = vg_db__meta_get(db, txn, "schema", &version);
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
        if ((rc = vg_db__meta_put(db, txn, "schema", VG_DB_SCHEMA)) != 0)
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

/* ---- helpers of the record kinds (db_internal.h) ---------------------------- */

size_t
vg_db__lower_copy(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < cap; n++)
        out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
    return n;
}


int
vg_db__put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn, unsigned flags)
{
    MDB_val key = { kn, (void *)k }, val = { vn, (void *)v };
    return mdb_put(txn, dbi, &key, &val, flags);
}


int
vg_db__del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn)
{
    MDB_val key = { kn, (void *)k };
    int rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}


int
vg_db__get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out)
{
    MDB_val key = { kn, (void *)k };
    return mdb_get(txn, dbi, &key, out);
}


int
vg_db__del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn,
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


int
vg_db__put_buf(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, vg_buf *b, unsigned flags)
{
    int rc = vg_db__put(txn, dbi, k, kn, b->data, b->len, flags);
    vg_buf_release(b);
    return rc;
}


int
vg_db__put_record(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const vg_db__record *rec, const void *r,
                  unsigned flags)
{
    vg_buf b;
    vg_buf_init(&b);
    vg_db__encode(&b, rec, r);
    return vg_db__put_buf(txn, dbi, k, kn, &b, flags);
}


int
vg_db__get_record(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const vg_db__record *rec, void *out)
{
    MDB_val v;
    int rc = vg_db__get(txn, dbi, k, kn, &v);
    if (rc != 0)
        return vg_db_err(rc);
    return vg_db__decode(v.mv_data, v.mv_size, rec, out);
}
