/*
 * store: the store process (group commit over LMDB) and the password
 * hasher (argon2id), see store.h. Both run blocking loops in their own
 * process; nothing here runs in the master.
 */
#include "store/store.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "store/chan.h"
#include "store/db.h"
#include "store/repl_entry.h"
#include "base/clock.h"
#include "base/frame.h"
#include "base/log.h"
#include "base/mpk.h"
#include "store/unique_req.h"

/* ---- passwords ------------------------------------------------------------- */

int
vg_password_hash(const vg_hasher_config *c, const char *pw, size_t n, char *out, size_t cap)
{
    uint8_t salt[16];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return -1;
    int rc = argon2id_hash_encoded(c->t_cost, c->m_cost_kib, c->parallelism, pw, n, salt, sizeof salt, 32,
                                   out, cap);
    return rc == ARGON2_OK ? 0 : -1;
}


int
vg_password_verify(const char *encoded, const char *pw, size_t n)
{
    if (strncmp(encoded, "$argon2id$", 10) != 0)
        return 0;
    return argon2id_verify(encoded, pw, n) == ARGON2_OK;
}



static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
send_hello(int fd, int code, const char *msg)
{
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_array(&w, code ? 2 : 1);
    vg_mpw_i64(&w, code);
    if (code)
        vg_mpw_cstr(&w, msg);
    uint8_t h[VG_FRAME_HDR];
    vg_frame_put_len(h, b.len);
    (void)vg_frame_write_all(fd, h, sizeof h, b.data, b.len);
    vg_buf_release(&b);
}


/* Appends one framed answer: [status] plus what `extra` wrote (n elements). */
static void
reply_begin(vg_buf *out, size_t *at, vg_mpw *w, int status, uint32_t extra)
{
    *at = vg_frame_begin(out);
    vg_mpw_init(w, out);
    vg_mpw_array(w, 1 + extra);
    vg_mpw_i64(w, status);
}


static void
reply_end(vg_buf *out, size_t at)
{
    vg_frame_put_len((uint8_t *)out->data + at, out->len - at - VG_FRAME_HDR);
}

/* ---- the hasher ------------------------------------------------------------- */

void
vg_hasher_main(int fd, void *arg)
{
    vg_hasher_config cfg = *(const vg_hasher_config *)arg;
    fd = vg_chan_child_setup(fd, "hasher");
    if (fd < 0)
        _exit(1);
    send_hello(fd, 0, NULL);
    uint8_t *buf = NULL;
    size_t cap = 0;
    vg_buf out;
    vg_buf_init(&out);
    for (;;) {
        ssize_t n = vg_frame_read(fd, &buf, &cap, 8192);
        if (n < 0)
            break;
        vg_mpr r;
        uint32_t cnt;
        int64_t op = 0;
        vg_str pw = { "", 0 }, enc = { "", 0 };
        vg_mpr_init(&r, buf, (size_t)n);
        if (vg_mpr_array(&r, &cnt) == 0 && cnt >= 2)
            vg_mpr_i64(&r, &op);
        size_t at;
        vg_mpw w;
        out.len = 0;
        if (op == VG_HASHER_HASH && cnt == 2 && vg_mpr_str(&r, &pw) == 0 && pw.n <= VG_STORE_MAX_PASSWORD) {
            char encoded[VG_DB_HASH_MAX];
            int rc = vg_password_hash(&cfg, pw.p, pw.n, encoded, sizeof encoded);
            reply_begin(&out, &at, &w, rc == 0 ? 0 : VG_E_STORE_IO, rc == 0);
            if (rc == 0)
                vg_mpw_cstr(&w, encoded);
        } else if (op == VG_HASHER_VERIFY && cnt == 3 && vg_mpr_str(&r, &enc) == 0 && vg_mpr_str(&r, &pw) == 0 &&
                   enc.n < VG_DB_HASH_MAX && pw.n <= VG_STORE_MAX_PASSWORD) {
            char e[VG_DB_HASH_MAX];
            memcpy(e, enc.p, enc.n);
            e[enc.n] = '\0';
            reply_begin(&out, &at, &w, 0, 1);
            vg_mpw_bool(&w, vg_password_verify(e, pw.p, pw.n));
        } else {
            reply_begin(&out, &at, &w, VG_E_STORE_PROTO, 0);
        }
        reply_end(&out, at);
        if (vg_frame_write_all(fd, out.data, out.len, NULL, 0) != 0)
            break;
    }
    free(buf);
    vg_buf_release(&out);
    vg_log_flush();
    _exit(0);
}

/* ---- the store process ------------------------------------------------------- */

typedef struct st {
    vg_store_config cfg;
    vg_db db;
    vg_db_agg *agg;
    int fd;
    MDB_txn *txn;                  /* the open batch, or NULL */
    vg_buf frames;                 /* the batch's requests (u32 length + payload), for a replay */
    vg_buf replies;                /* framed answers, sent after the commit */
    unsigned count;                /* requests in the batch */
    double first;                  /* when the batch's first request was applied */
    double next_sweep;
    uint64_t commits, records;
} st;


static int
poisoned(int rc)
{
    return rc == VG_E_FULL || rc == VG_E_STORE_IO;
}


static void
sha256(const void *p, size_t n, uint8_t out[32])
{
    mbedtls_sha256_ret(p, n, out, 0);
}


static int
fsync_dir(const char *path)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}


/* Writes an image file durably (content-addressed: an existing file is complete). */
static int
write_image(const st *s, const uint8_t sha[32], const uint8_t *p, size_t n)
{
    char path[1100], tmp[1200];
    vg_db_image_path(s->cfg.data_dir, sha, path, sizeof path);
    if (access(path, F_OK) == 0)
        return 0;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/images", s->cfg.data_dir);
    mkdir(dir, 0750);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0750);
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return errno == ENOSPC ? VG_E_FULL : VG_E_STORE_IO;
    int rc = vg_frame_write_all(fd, p, n, NULL, 0);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        fsync_dir(path);
    if (rc != 0) {
        unlink(tmp);
        vg_error("store", "cannot write image %s: %s", path, strerror(-rc));
        return rc == -ENOSPC ? VG_E_FULL : VG_E_STORE_IO;
    }
    return 0;
}


static int
op_det_add(st *s, vg_mpr *r, uint32_t cnt)
{
    vg_det_meta m;
    const uint8_t *key, *val, *img = NULL;
    size_t kn, vn, in = 0;
    uint32_t nl;
    int64_t uid;
    uint64_t total;
    memset(&m, 0, sizeof m);
    if (cnt != 9 || vg_mpr_bin(r, &key, &kn) < 0 || kn != 16 || vg_mpr_i64(r, &uid) < 0 ||
        vg_mpr_str(r, &m.source) < 0 || vg_mpr_str(r, &m.model) < 0 || vg_mpr_u64(r, &total) < 0 ||
        vg_mpr_array(r, &nl) < 0 || nl > 256)
        return VG_E_STORE_PROTO;
    memcpy(m.key, key, 16);
    m.uid = (uint64_t)uid;
    m.total_us = total;
    for (uint32_t i = 0; i < nl; i++) {
        uint32_t two;
        uint64_t c = 0;
        if (vg_mpr_array(r, &two) < 0 || two != 2 || vg_mpr_str(r, &m.labels[i]) < 0 || vg_mpr_u64(r, &c) < 0)
            return VG_E_STORE_PROTO;
        m.counts[i] = (uint32_t)c;
    }
    m.nlabels = nl;
    if (vg_mpr_bin(r, &val, &vn) < 0 || vn < 34)
        return VG_E_STORE_PROTO;
    if (!vg_mpr_nil(r) && vg_mpr_bin(r, &img, &in) < 0)
        return VG_E_STORE_PROTO;
    if (r->err)
        return VG_E_STORE_PROTO;
    if (!img)
        return vg_db_det_add(&s->db, s->txn, &m, val, vn, s->agg);
    /* the record ends with "img": bin8(32): fill in the hash */
    if (val[vn - 34] != 0xc4 || val[vn - 33] != 32)
        return VG_E_STORE_PROTO;
    uint8_t sha[32];
    sha256(img, in, sha);
    int rc = write_image(s, sha, img, in), is_new;
    if (rc != 0)
        return rc;
    uint8_t *copy = vg_xmalloc(vn);
    memcpy(copy, val, vn);
    memcpy(copy + vn - 32, sha, 32);
    /* a retried record must not count its image twice */
    MDB_val k = { 16, m.key }, old;
    if (mdb_get(s->txn, s->db.detections, &k, &old) == 0) {
        free(copy);
        return 0;
    }
    rc = vg_db_image_ref(&s->db, s->txn, sha, in, now_us() / 1000000, &is_new);
    if (rc == 0)
        rc = vg_db_det_add(&s->db, s->txn, &m, copy, vn, s->agg);
    free(copy);
    return rc;
}


/* UNIQUE_ADD [20, time_ms, label|nil, upper|nil, lower|nil]: into the batch's aggregates. */
static int
op_unique_add(st *s, vg_mpr *r, uint32_t cnt)
{
    vg_unique_req q;
    int rc = vg_unique_req_decode(r, cnt, &q);
    if (rc == 0)
        vg_db_agg_unique(s->agg, q.t_ms, q.label, q.upper, q.lower);
    return rc;
}


static int
opt_str(vg_mpr *r, char *out, size_t cap, int *set)
{
    *set = 0;
    if (vg_mpr_nil(r))
        return 0;
    *set = 1;
    return vg_mpr_strcpy(r, out, cap);
}


/* What a request answers besides its status. */
typedef struct op_out {
    uint64_t id, uid;                  /* USER_CREATE, APIKEY_CREATE: the new id; SESSION_ROTATE: the user */
    uint8_t family[VG_DB_FAMILY];      /* SESSION_ROTATE: the session */
    int with_id, with_family;
    int64_t inner;                     /* REPL: the replicated request's status */
} op_out;

static int op_repl(st *s, vg_mpr *r, uint32_t cnt, op_out *o);

/*
 * Runs request op (its elements after the op in r, cnt in all) in the
 * open transaction. `remote`: it came from another node (inside REPL),
 * where USER_CREATE and APIKEY_CREATE carry the id the origin assigned.
 */
static int
run_op(st *s, vg_mpr *rp, int64_t op, uint32_t cnt, op_out *o, int remote)
{
    vg_mpr r = *rp;
    int rc;
    uint8_t *fam = o->family;
    switch (op) {
    case VG_STORE_DET_ADD:
        rc = op_det_add(s, &r, cnt);
        break;
    case VG_STORE_REPL:
        rc = remote ? VG_E_STORE_PROTO : op_repl(s, &r, cnt, o);
        break;
    case VG_STORE_OUTBOX_DONE: {
        uint64_t upto;
        rc = remote || cnt != 2 || vg_mpr_u64(&r, &upto) < 0 ? VG_E_STORE_PROTO : vg_db_outbox_done(&s->db, s->txn, upto);
        break;
    }
    case VG_STORE_USER_CREATE: {
        vg_user u;
        int64_t role = 0, now = 0, id = 0;
        memset(&u, 0, sizeof u);
        if (cnt != (remote ? 8u : 7u) || vg_mpr_strcpy(&r, u.name, sizeof u.name) < 0 ||
            vg_mpr_strcpy(&r, u.email, sizeof u.email) < 0 || vg_mpr_i64(&r, &role) < 0 ||
            vg_mpr_strcpy(&r, u.hash, sizeof u.hash) < 0 || vg_mpr_i64(&r, &now) < 0 ||
            vg_mpr_bool(&r, &u.must_change) < 0 || (remote && (vg_mpr_i64(&r, &id) < 0 || id <= 0))) {
            rc = VG_E_STORE_PROTO;
            break;
        }
        u.id = (uint64_t)id;
        u.role = (int)role;
        u.created = u.updated = now;
        rc = vg_db_user_create(&s->db, s->txn, &u);
        o->id = u.id;
        o->with_id = rc == 0;
        break;
    }
    case VG_STORE_USER_UPDATE: {
        vg_user_patch pt;
        int64_t uid = 0, v = 0;
        memset(&pt, 0, sizeof pt);
        if (cnt != 7 || vg_mpr_i64(&r, &uid) < 0 || opt_str(&r, pt.email, sizeof pt.email, &pt.set_email) < 0) {
            rc = VG_E_STORE_PROTO;
            break;
        }
        if (!vg_mpr_nil(&r)) {
            pt.set_role = 1;
            vg_mpr_i64(&r, &v);
            pt.role = (int)v;
        }
        opt_str(&r, pt.hash, sizeof pt.hash, &pt.set_hash);
        if (!vg_mpr_nil(&r)) {
            pt.set_disabled = 1;
            vg_mpr_bool(&r, &pt.disabled);
        }
        vg_mpr_i64(&r, &pt.now);
        rc = r.err ? VG_E_STORE_PROTO : vg_db_user_update(&s->db, s->txn, (uint64_t)uid, &pt);
        break;
    }
    case VG_STORE_USER_DELETE: {
        int64_t uid = 0;
        rc = cnt != 2 || vg_mpr_i64(&r, &uid) < 0 ? VG_E_STORE_PROTO : vg_db_user_delete(&s->db, s->txn, (uint64_t)uid);
        break;
    }
    case VG_STORE_SESSION_CREATE: {
        const uint8_t *h, *f;
        size_t hn, fn;
        int64_t uid = 0, exp = 0, now = 0;
        if (cnt != 6 || vg_mpr_bin(&r, &h, &hn) < 0 || hn != 32 || vg_mpr_i64(&r, &uid) < 0 ||
            vg_mpr_bin(&r, &f, &fn) < 0 || fn != VG_DB_FAMILY || vg_mpr_i64(&r, &exp) < 0 || vg_mpr_i64(&r, &now) < 0) {
            rc = VG_E_STORE_PROTO;
            break;
        }
        rc = vg_db_session_create(&s->db, s->txn, h, (uint64_t)uid, f, exp, now);
        if (rc == 0)
            vg_db_agg_login(s->agg, (uint64_t)uid, now);
        break;
    }
    case VG_STORE_SESSION_ROTATE: {
        const uint8_t *od, *nw;
        size_t on, nn;
        int64_t now = 0, exp = 0, grace = 0;
        if ((cnt != 5 && cnt != 6) || vg_mpr_bin(&r, &od, &on) < 0 || on != 32 || vg_mpr_bin(&r, &nw, &nn) < 0 ||
            nn != 32 || vg_mpr_i64(&r, &now) < 0 || vg_mpr_i64(&r, &exp) < 0 ||
            (cnt == 6 && (vg_mpr_i64(&r, &grace) < 0 || grace < 0 || grace > 3600))) {
            rc = VG_E_STORE_PROTO;
            break;
        }
        memset(fam, 0, VG_DB_FAMILY);
        rc = vg_db_session_rotate(&s->db, s->txn, od, nw, now, exp, grace, &o->uid, fam);
        o->with_family = rc == 0;
        break;
    }
    case VG_STORE_FAMILY_REVOKE: {
        const uint8_t *f;
        size_t fn;
        int64_t uid = 0;
        rc = cnt != 3 || vg_mpr_i64(&r, &uid) < 0 || vg_mpr_bin(&r, &f, &fn) < 0 || fn != VG_DB_FAMILY
                 ? VG_E_STORE_PROTO : vg_db_family_revoke(&s->db, s->txn, (uint64_t)uid, f);
        break;
    }
    case VG_STORE_APIKEY_CREATE: {
        const uint8_t *h;
        size_t hn;
        int64_t uid = 0, role = 0, now = 0, kid = 0;
        vg_apikey k;
        memset(&k, 0, sizeof k);
        if (cnt != (remote ? 8u : 7u) || vg_mpr_bin(&r, &h, &hn) < 0 || hn != 32 || vg_mpr_i64(&r, &uid) < 0 ||
            vg_mpr_strcpy(&r, k.name, sizeof k.name) < 0 || vg_mpr_i64(&r, &role) < 0 ||
            vg_mpr_strcpy(&r, k.prefix, sizeof k.prefix) < 0 || vg_mpr_i64(&r, &now) < 0 ||
            (remote && (vg_mpr_i64(&r, &kid) < 0 || kid <= 0))) {
            rc = VG_E_STORE_PROTO;
            break;
        }
        k.uid = (uint64_t)uid;
        k.kid = (uint64_t)kid;
        k.role = (int)role;
        k.created = now;
        rc = vg_db_apikey_create(&s->db, s->txn, h, &k);
        o->id = k.kid;
        o->with_id = rc == 0;
        break;
    }
    case VG_STORE_APIKEY_REVOKE: {
        int64_t uid = 0, kid = 0;
        rc = cnt != 3 || vg_mpr_i64(&r, &uid) < 0 || vg_mpr_i64(&r, &kid) < 0
                 ? VG_E_STORE_PROTO : vg_db_apikey_revoke(&s->db, s->txn, (uint64_t)uid, (uint64_t)kid);
        break;
    }
    case VG_STORE_FEEDBACK_ADD: {
        const uint8_t *k, *d, *v;
        size_t kn, dn, vn;
        int64_t uid = 0;
        rc = cnt != 5 || vg_mpr_bin(&r, &k, &kn) < 0 || kn != 16 || vg_mpr_bin(&r, &d, &dn) < 0 || dn != 16 ||
                     vg_mpr_i64(&r, &uid) < 0 || vg_mpr_bin(&r, &v, &vn) < 0
                 ? VG_E_STORE_PROTO : vg_db_feedback_add(&s->db, s->txn, k, d, (uint64_t)uid, v, vn, s->agg);
        break;
    }
    case VG_STORE_SYNC:
        rc = remote ? VG_E_STORE_PROTO : 0;
        break;
    case VG_STORE_EVENT_ADD: {
        const uint8_t *k, *v;
        size_t kn, vn;
        rc = cnt != 3 || vg_mpr_bin(&r, &k, &kn) < 0 || kn != 16 || vg_mpr_bin(&r, &v, &vn) < 0
                 ? VG_E_STORE_PROTO : vg_db_event_add(&s->db, s->txn, k, v, vn);
        break;
    }
    case VG_STORE_CAMERA_PUT: {
        vg_str id;
        size_t vn;
        const uint8_t *v;
        rc = cnt != 3 || vg_mpr_str(&r, &id) < 0 || id.n == 0 || id.n > VG_DB_SOURCE_MAX ||
                     vg_mpr_bin(&r, &v, &vn) < 0
                 ? VG_E_STORE_PROTO : vg_db_camera_put(&s->db, s->txn, id.p, id.n, v, vn);
        break;
    }
    case VG_STORE_UNIQUE_ADD:
        rc = op_unique_add(s, &r, cnt);
        break;
    default:
        rc = VG_E_STORE_PROTO;
        break;
    }
    return rc;
}


/*
 * REPL [12, ms, seq, request bin]: a request replicated from another node
 * (core/store/repl.h), applied at most once: an id at or below the last one
 * applied is skipped, and a new one is recorded in the same transaction as
 * its effect, so a store killed at any point applies it exactly once. The
 * answer is [0, inner status]: the entry is consumed whatever its request
 * answered (a conflict there is logged); only a poisoning error (a full
 * map) fails the REPL itself and leaves the position where it was.
 */
static int
op_repl(st *s, vg_mpr *r, uint32_t cnt, op_out *o)
{
    uint64_t ms, seq, lms, lseq, epoch = 0, lepoch = 0, oseq = 0, loseq = 0;
    vg_str origin = { 0 };
    const uint8_t *p;
    size_t n;
    if ((cnt != 4 && cnt != 5 && cnt != 7) || vg_mpr_u64(r, &ms) < 0 || vg_mpr_u64(r, &seq) < 0 ||
        (cnt >= 5 && vg_mpr_u64(r, &epoch) < 0) ||
        (cnt == 7 && (vg_mpr_str(r, &origin) < 0 || vg_mpr_u64(r, &oseq) < 0 || origin.n == 0 || origin.n > 64)) ||
        vg_mpr_bin(r, &p, &n) < 0 || (ms == 0 && seq == 0))
        return VG_E_STORE_PROTO;
    int rc = vg_db_repl_get(&s->db, s->txn, &lms, &lseq);
    if (rc == 0)
        rc = vg_db_repl_epoch_get(&s->db, s->txn, &lepoch);
    if (rc != 0)
        return rc;
    if (epoch && lepoch && epoch != lepoch)
        lms = lseq = 0;   /* a stream made anew (the state Redis lost its data): its ids start over */
    o->with_id = 0;
    o->inner = 0;
    if (ms < lms || (ms == lms && seq <= lseq)) {
        o->inner = VG_STORE_REPL_SEEN;
        return 0;
    }
    if (oseq && (rc = vg_db_repl_origin_get(&s->db, s->txn, origin.p, origin.n, &loseq)) != 0)
        return rc;
    if (oseq && oseq <= loseq) {
        /* the origin appended it again (its bus dropped after Redis took it): applied under its first id */
        o->inner = VG_STORE_REPL_SEEN;
        rc = vg_db_repl_put(&s->db, s->txn, ms, seq);
        if (rc == 0 && epoch && epoch != lepoch)
            rc = vg_db_repl_epoch_put(&s->db, s->txn, epoch);
        return rc;
    }
    vg_mpr in;
    uint32_t icnt = 0;
    int64_t op = -1;
    vg_mpr_init(&in, p, n);
    if (vg_mpr_array(&in, &icnt) < 0 || icnt < 1 || vg_mpr_i64(&in, &op) < 0)
        op = -1;
    op_out io;
    memset(&io, 0, sizeof io);
    int irc = op < 0 ? VG_E_STORE_PROTO : run_op(s, &in, op, icnt, &io, 1);
    if (poisoned(irc))
        return irc;
    if (irc != 0)
        vg_warn("store", "replicated entry %llu-%llu (op %lld): %s", (unsigned long long)ms,
                (unsigned long long)seq, (long long)op, vg_err_str(irc));
    o->inner = irc;
    rc = vg_db_repl_put(&s->db, s->txn, ms, seq);
    if (rc == 0 && epoch && epoch != lepoch)
        rc = vg_db_repl_epoch_put(&s->db, s->txn, epoch);
    if (rc == 0 && oseq)
        rc = vg_db_repl_origin_put(&s->db, s->txn, origin.p, origin.n, oseq);
    return rc;
}


/*
 * The entry another node applies for request p (n bytes) answered `status`
 * with `ans` ([status, ...]), put in the outbox in the open transaction: 0
 * (also when the request is not replicated), or a poisoning error.
 */
static int
outbox_put(st *s, const uint8_t *p, size_t n, int status, const uint8_t *ans, size_t an)
{
    vg_mpr rest;
    uint32_t cnt;
    int64_t st_;
    vg_mpr_init(&rest, ans, an);
    if (vg_mpr_array(&rest, &cnt) < 0 || vg_mpr_i64(&rest, &st_) < 0)
        return 0;
    vg_buf e;
    vg_buf_init(&e);
    int rc = vg_store_repl_entry(p, n, status, &rest, &e);
    if (rc == 1) {
        uint64_t num;
        rc = vg_db_outbox_put(&s->db, s->txn, e.data, e.len, &num);
        if (rc != 0 && !poisoned(rc))
            vg_error("store", "outbox: %s: the write is not replicated", vg_err_str(rc));
        rc = poisoned(rc) ? rc : 0;
    } else if (rc < 0) {
        vg_error("store", "outbox: a replicated write could not be made an entry (%s)", vg_err_str(rc));
        rc = 0;
    }
    vg_buf_release(&e);
    return rc;
}


/* Applies one request inside the batch; appends its answer. Returns the status. */
static int
apply(st *s, const uint8_t *p, size_t n)
{
    vg_mpr r;
    uint32_t cnt = 0;
    int64_t op = 0;
    int rc;
    size_t at;
    vg_mpw w;
    op_out o;

    if (!s->txn) {
        rc = vg_db_begin(&s->db, 1, &s->txn);
        if (rc != 0) {
            s->txn = NULL;
            rc = vg_db_err(rc);
            reply_begin(&s->replies, &at, &w, rc, 0);
            reply_end(&s->replies, at);
            return rc;
        }
        s->first = vg_mono_s();
    }
    memset(&o, 0, sizeof o);
    vg_mpr_init(&r, p, n);
    if (vg_mpr_array(&r, &cnt) < 0 || cnt < 1 || vg_mpr_i64(&r, &op) < 0)
        op = -1;
    rc = run_op(s, &r, op, cnt, &o, 0);
    if (rc == VG_E_STORE_PROTO)
        vg_error("store", "malformed request (op %lld)", (long long)op);
    int repl = op == VG_STORE_REPL && rc == 0;
    reply_begin(&s->replies, &at, &w, rc, (uint32_t)(repl ? 1 : o.with_id ? 1 : o.with_family ? 2 : 0));
    if (repl)
        vg_mpw_i64(&w, o.inner);
    else if (o.with_id)
        vg_mpw_u64(&w, o.id);
    if (!repl && o.with_family) {
        vg_mpw_u64(&w, o.uid);
        vg_mpw_bin(&w, o.family, VG_DB_FAMILY);
    }
    reply_end(&s->replies, at);
    if (s->cfg.outbox && op != VG_STORE_REPL && op != VG_STORE_SYNC && op != VG_STORE_OUTBOX_DONE && !poisoned(rc)) {
        int orc = outbox_put(s, p, n, rc, (const uint8_t *)s->replies.data + at + VG_FRAME_HDR,
                             s->replies.len - at - VG_FRAME_HDR);
        if (orc != 0) {   /* the write and its entry go together or not at all */
            s->replies.len = at;
            reply_begin(&s->replies, &at, &w, orc, 0);
            reply_end(&s->replies, at);
            return orc;
        }
    }
    return rc;
}


static void
send_replies(st *s)
{
    if (s->replies.len && vg_frame_write_all(s->fd, s->replies.data, s->replies.len, NULL, 0) != 0) {
        vg_warn("store", "the master is gone: %zu bytes of answers dropped", s->replies.len);
    }
    s->replies.len = 0;
    s->frames.len = 0;
    s->count = 0;
}


static void
abort_batch(st *s)
{
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
    vg_db_agg_clear(s->agg);
    s->replies.len = 0;
}


/* Commits the open batch: 0, or a poisoning code (the txn is gone either way). */
static int
commit_txn(st *s)
{
    int rc = vg_db_agg_flush(&s->db, s->txn, s->agg);
    if (rc != 0) {
        abort_batch(s);
        return rc;
    }
    rc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    if (rc != 0) {
        vg_db_agg_clear(s->agg);
        s->replies.len = 0;
        return vg_db_err(rc);
    }
    s->commits++;
    return 0;
}


/* Re-applies the batch's requests one transaction each (the map is at its cap). */
static void
replay_each(st *s)
{
    size_t off = 0;
    vg_buf frames = s->frames;
    vg_buf_init(&s->frames);
    vg_buf answers;
    vg_buf_init(&answers);
    while (off + 4 <= frames.len) {
        const uint8_t *h = (const uint8_t *)frames.data + off;
        size_t n = vg_frame_len(h);
        const uint8_t *p = h + 4;
        off += 4 + n;
        s->replies.len = 0;
        int rc = apply(s, p, n);
        if (!poisoned(rc))
            rc = commit_txn(s);
        else
            abort_batch(s);
        if (rc != 0 && poisoned(rc)) {
            s->replies.len = 0;
            size_t at;
            vg_mpw w;
            reply_begin(&s->replies, &at, &w, VG_E_FULL, 0);
            reply_end(&s->replies, at);
        }
        vg_buf_append(&answers, s->replies.data, s->replies.len);
    }
    vg_buf_release(&frames);
    s->replies.len = 0;
    vg_buf_append(&s->replies, answers.data, answers.len);
    vg_buf_release(&answers);
    send_replies(s);
}


/* The batch failed with `why`: grow the map and replay it, or retry its requests one by one. */
static void
recover(st *s, int why)
{
    abort_batch(s);
    for (;;) {
        if (why != VG_E_FULL || vg_db_grow(&s->db) != 0) {
            vg_warn("store", "%s: retrying %u request(s) one at a time", vg_err_str(why), s->count);
            replay_each(s);
            return;
        }
        /* replay the whole batch in the larger map */
        size_t off = 0;
        int rc = 0;
        while (off + 4 <= s->frames.len && !poisoned(rc)) {
            const uint8_t *h = (const uint8_t *)s->frames.data + off;
            size_t n = vg_frame_len(h);
            off += 4 + n;
            rc = apply(s, h + 4, n);
        }
        if (!poisoned(rc))
            rc = commit_txn(s);
        if (rc == 0) {
            send_replies(s);
            return;
        }
        abort_batch(s);
        why = rc;
    }
}


static void
commit_batch(st *s)
{
    if (!s->txn)
        return;
    int rc = commit_txn(s);
    if (rc != 0) {
        recover(s, rc);
        return;
    }
    s->records += s->count;
    send_replies(s);
}


/* Applies one request read from the master. */
static void
take(st *s, const uint8_t *p, size_t n)
{
    uint8_t h[VG_FRAME_HDR];
    vg_frame_put_len(h, n);
    vg_buf_append(&s->frames, h, sizeof h);
    vg_buf_append(&s->frames, p, n);
    s->count++;
    int rc = apply(s, p, n);
    if (poisoned(rc)) {
        recover(s, rc);
        return;
    }
    if (s->count >= s->cfg.commit_records)
        commit_batch(s);
}

/* ---- retention ------------------------------------------------------------ */

#define SWEEP_BUDGET 2000

static void
unlink_image(const st *s, const uint8_t sha[32])
{
    char path[1100];
    vg_db_image_path(s->cfg.data_dir, sha, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        vg_warn("store", "cannot remove %s: %s", path, strerror(errno));
}


/* One pass; returns 1 when more work is left. */
static int
sweep(st *s)
{
    MDB_txn *txn;
    int more = 0, rc;
    int64_t now = now_us();
    uint8_t gone[SWEEP_BUDGET][32];
    int ngone = 0, budget = SWEEP_BUDGET;
    if (vg_db_begin(&s->db, 1, &txn) != 0)
        return 0;
    MDB_cursor *c;
    MDB_val k, v;
    /* detections past the retention */
    if (s->cfg.retention > 0 && mdb_cursor_open(txn, s->db.detections, &c) == 0) {
        uint64_t limit = (uint64_t)(now - (int64_t)(s->cfg.retention * 1e6));
        uint8_t keys[SWEEP_BUDGET][16];
        int nk = 0;
        while (nk < budget && mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0 && k.mv_size == 16 &&
               vg_db_key_time(k.mv_data) < limit)
            memcpy(keys[nk++], k.mv_data, 16);
        mdb_cursor_close(c);
        more |= nk == budget;
        budget -= nk;
        for (int i = 0; i < nk; i++) {
            uint8_t sha[32];
            int has, g = 0;
            if ((rc = vg_db_det_delete(&s->db, txn, keys[i], sha, &has)) != 0 && rc != VG_E_NOTFOUND)
                goto fail;
            if (has && (rc = vg_db_image_unref(&s->db, txn, sha, &g)) != 0)
                goto fail;
            if (g)
                memcpy(gone[ngone++], sha, 32);
        }
    }
    /* track events past the retention */
    if (s->cfg.retention > 0 && budget > 0) {
        int ne = 0;
        if ((rc = vg_db_events_prune(&s->db, txn, (uint64_t)(now - (int64_t)(s->cfg.retention * 1e6)), budget,
                                     &ne)) != 0)
            goto fail;
        more |= ne == budget;
        budget -= ne;
    }
    /* images past the image retention: drop the reference, keep the record */
    if (s->cfg.image_retention > 0 && budget > 0 && mdb_cursor_open(txn, s->db.detections, &c) == 0) {
        uint64_t limit = (uint64_t)(now - (int64_t)(s->cfg.image_retention * 1e6));
        MDB_val mk = { 9, "img_swept" }, mv;
        uint8_t start[16] = { 0 };
        if (mdb_get(txn, s->db.meta, &mk, &mv) == 0 && mv.mv_size == 16)
            memcpy(start, mv.mv_data, 16);
        k.mv_size = 16;
        k.mv_data = start;
        int r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        uint8_t last[16];
        int moved = 0;
        vg_buf nv;
        vg_buf_init(&nv);
        while (r == 0 && budget > 0 && k.mv_size == 16 && vg_db_key_time(k.mv_data) < limit) {
            memcpy(last, k.mv_data, 16);
            moved = 1;
            const uint8_t *val = v.mv_data;
            size_t vn = v.mv_size;
            if (vn >= 34 && val[vn - 34] == 0xc4 && val[vn - 33] == 32) {
                uint8_t sha[32];
                int g = 0;
                memcpy(sha, val + vn - 32, 32);
                nv.len = 0;
                vg_buf_append(&nv, val, vn - 34);
                vg_buf_putc(&nv, (char)0xc0);   /* "img": nil */
                MDB_val nval = { nv.len, nv.data };
                if ((rc = mdb_cursor_put(c, &k, &nval, MDB_CURRENT)) != 0 ||
                    (rc = vg_db_image_unref(&s->db, txn, sha, &g)) != 0) {
                    vg_buf_release(&nv);
                    mdb_cursor_close(c);
                    rc = vg_db_err(rc);
                    goto fail;
                }
                if (g)
                    memcpy(gone[ngone++], sha, 32);
                budget--;
            }
            r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        vg_buf_release(&nv);
        mdb_cursor_close(c);
        more |= budget == 0;
        if (moved) {
            MDB_val lv = { 16, last };
            if ((rc = mdb_put(txn, s->db.meta, &mk, &lv, 0)) != 0) {
                rc = vg_db_err(rc);
                goto fail;
            }
        }
    }
    /* expired refresh tokens and families */
    int64_t now_s = now / 1000000;
    MDB_dbi dbis[2] = { s->db.sessions, s->db.families };
    for (int d = 0; d < 2 && budget > 0; d++) {
        if (mdb_cursor_open(txn, dbis[d], &c) != 0)
            continue;
        while (budget > 0 && mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            vg_mpr r;
            uint32_t cnt;
            int64_t exp = INT64_MAX;
            vg_mpr_init(&r, v.mv_data, v.mv_size);
            if (vg_mpr_map(&r, &cnt) == 0) {
                for (uint32_t i = 0; i < cnt && !r.err; i++) {
                    vg_str key;
                    if (vg_mpr_str(&r, &key) < 0)
                        break;
                    if (vg_str_eq(key, "e"))
                        vg_mpr_i64(&r, &exp);
                    else
                        vg_mpr_skip(&r);
                }
            }
            if (exp < now_s - 86400) {   /* a day of grace: reuse of a just-expired token still revokes */
                mdb_cursor_del(c, 0);
                budget--;
            }
        }
        mdb_cursor_close(c);
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        vg_warn("store", "retention pass: %s", mdb_strerror(rc));
        return 0;
    }
    for (int i = 0; i < ngone; i++)
        unlink_image(s, gone[i]);
    return more;
fail:
    mdb_txn_abort(txn);
    vg_warn("store", "retention pass: %s", vg_err_str(rc));
    if (rc == VG_E_FULL)
        vg_db_grow(&s->db);
    return 0;
}


void
vg_store_main(int fd, void *arg)
{
    st s;
    memset(&s, 0, sizeof s);
    s.cfg = *(const vg_store_config *)arg;
    if (!s.cfg.commit_records)
        s.cfg.commit_records = 1;
    s.fd = fd = vg_chan_child_setup(fd, "store");
    if (fd < 0)
        _exit(1);
    char err[1200];
    vg_db_options o = { .map_size = s.cfg.map_size, .map_max = s.cfg.map_max, .nosync = s.cfg.nosync };
    if (vg_db_open(&s.db, s.cfg.data_dir, &o, err, sizeof err) != 0) {
        vg_error("store", "%s", err);
        send_hello(fd, VG_E_SCHEMA, err);
        vg_log_flush();
        _exit(1);
    }
    s.agg = vg_db_agg_create();
    vg_buf_init(&s.frames);
    vg_buf_init(&s.replies);
    send_hello(fd, 0, NULL);
    vg_info("store", "ready: %s, map %zu MiB (up to %zu MiB), commit every %u records or %.1f ms",
            s.db.dir, s.db.map_size >> 20, s.db.map_max >> 20, s.cfg.commit_records, s.cfg.commit_interval * 1000);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    vg_frame_reader rd;
    vg_frame_reader_init(&rd, VG_FRAME_MAX);
    s.next_sweep = vg_mono_s() + 1;
    int eof = 0;
    while (!eof) {
        double now = vg_mono_s();
        int timeout;
        if (s.txn)
            timeout = (int)((s.first + s.cfg.commit_interval - now) * 1000 + 0.999);
        else
            timeout = (int)((s.next_sweep - now) * 1000 + 0.999);
        if (timeout < 0)
            timeout = 0;
        struct pollfd p = { fd, POLLIN, 0 };
        int pr = poll(&p, 1, timeout);
        if (pr > 0) {
            for (;;) {
                ssize_t r = vg_frame_reader_fill(&rd, fd);
                if (r == -EAGAIN)
                    break;
                if (r <= 0) {
                    eof = 1;
                    break;
                }
                const uint8_t *pl;
                size_t n;
                int got;
                while ((got = vg_frame_reader_next(&rd, &pl, &n)) == 1)
                    take(&s, pl, n);
                if (got < 0) {
                    vg_error("store", "oversized frame from the master");
                    eof = 1;
                    break;
                }
            }
        }
        now = vg_mono_s();
        if (s.txn && (eof || now >= s.first + s.cfg.commit_interval))
            commit_batch(&s);
        if (!s.txn && !eof && now >= s.next_sweep) {
            int more = sweep(&s);
            vg_db_reader_check(&s.db);
            s.next_sweep = vg_mono_s() + (more ? 0.05 : s.cfg.sweep_interval);
        }
    }
    commit_batch(&s);
    vg_info("store", "stopping: %llu records in %llu commits", (unsigned long long)s.records,
            (unsigned long long)s.commits);
    vg_frame_reader_release(&rd);
    vg_buf_release(&s.frames);
    vg_buf_release(&s.replies);
    vg_db_agg_destroy(s.agg);
    vg_db_close(&s.db);
    vg_log_flush();
    _exit(0);
}
