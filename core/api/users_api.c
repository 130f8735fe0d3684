/* users_api: see users_api.h. */
#include "api/users_api.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ev.h>
#include <jansson.h>
#include <mbedtls/sha256.h>

#include "http/reply.h"
#include "auth/auth.h"
#include "auth/password_policy.h"
#include "auth/ratelimit.h"
#include "http/http.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mpk.h"
#include "net/server.h"
#include "store/store_client.h"
#include "store/store_read.h"
#include "store/store_write.h"

struct vg_users_api {
    vg_server *srv;
    vg_store *store;
    vg_ratelimit *rechecks;            /* password checks of signed-in callers (current_password, a new key's
                                          password) per account and address, on the login limits: a stolen
                                          token is no way around them to guess the password */
};

typedef struct op op;

/*
 * A kind of request that writes through the store: how the write is sent,
 * how its success is answered, and which failures the client is told as
 * such (TELL_*); any other failure is a store error "what: reason".
 */
typedef struct op_kind {
    int (*send)(op *o);                /* 0, or the store's refusal (then no answer comes) */
    int (*done)(op *o, vg_mpr *rest);  /* answers success: 0, or an error before answering */
    const char *what;                  /* "cannot create the user": a store error's message */
    unsigned told;                     /* TELL_* */
} op_kind;

/* The failures a kind of request tells the client as such (tell()). */
enum {
    TELL_NO_USER = 1,                  /* VG_E_NOTFOUND: 404 "no user N" */
    TELL_NO_KEY = 2,                   /* VG_E_NOTFOUND: 404 "no such API key" */
    TELL_NAME_TAKEN = 4,               /* VG_E_CONFLICT: 409, the name (or email) exists */
    TELL_EMAIL_TAKEN = 8,              /* VG_E_CONFLICT: 409, the email is another user's */
    TELL_LAST_ADMIN = 16,              /* VG_E_LASTADMIN: 409 "last_admin" */
};

/* What a route needs before it acts (op_begin()). */
enum {
    NEED_TARGET = 1,                   /* the {id} user; the caller is an admin or that user */
    NEED_TARGET_ADMIN = 2,             /* the {id} user; the caller is an admin */
    NEED_RECORD = 4,                   /* that user's record, in o->user */
    NEED_BODY = 8,                     /* a JSON object body, in o->body */
    NEED_ACCOUNT = 16,                 /* manages the account (email, password, API keys): not with an
                                          API key scoped below its user's role */
};

/* One request, from its route to its answer (through the hasher and the store). */
struct op {
    vg_users_api *u;
    vg_req *r;
    const op_kind *kind;               /* its write, or NULL */
    vg_principal who;                  /* the caller */
    uint64_t uid;                      /* the {id} user */
    vg_user user;                      /* that user's record; create: the new user */
    json_t *body;                      /* the JSON body, or NULL */
    vg_user_patch patch;               /* update */
    char password[VG_STORE_MAX_PASSWORD + 1];
    size_t pwlen;
    char *hash_to;                     /* where the password's hash goes */
    char key[80];                      /* a new API key */
    vg_apikey k;                       /* a new API key's record; revoke: its id */
    void (*rechecked)(op *o);          /* recheck(): what follows the caller's right password */
    const char *recheck_member;        /* recheck(): the body member that held it, named when it is wrong */
};


int
vg_user_name_valid(const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > VG_DB_NAME_MAX) {
        snprintf(err, errlen, "name must be 1 to %d characters", VG_DB_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') {
            snprintf(err, errlen, "name may hold letters, digits, '.', '_' and '-' only");
            return -1;
        }
    }
    return 0;
}


int
vg_user_email_valid(const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    const char *at = strchr(s, '@');
    if (n > VG_DB_EMAIL_MAX || !at || at == s || !at[1] || strchr(at + 1, '@') || strpbrk(s, " \t\r\n<>\"")) {
        snprintf(err, errlen, "email is not an address");
        return -1;
    }
    return 0;
}


void
vg_user_json(vg_jsonw *w, const vg_user *u)
{
    vg_jsonw_obj(w);
    vg_jsonw_kuint(w, "id", u->id);
    vg_jsonw_kstr(w, "name", u->name);
    vg_jsonw_kstr(w, "email", u->email);
    vg_jsonw_kstr(w, "role", vg_role_name(u->role));
    vg_jsonw_kbool(w, "disabled", u->disabled);
    vg_jsonw_kint(w, "created", u->created);
    vg_jsonw_kint(w, "updated", u->updated);
    vg_jsonw_obj_end(w);
}


static void
respond_user(vg_req *r, int status, const vg_user *u)
{
    vg_reply a;
    vg_reply_init(&a);
    vg_user_json(&a.w, u);
    vg_reply_send(&a, r, status);
}

/* ---- a request's life ------------------------------------------------------------ */

/* Answers a failure: those in `told` as such, any other as a store error "what: reason". */
static void
tell(op *o, int status, unsigned told, const char *what)
{
    if (status == VG_E_LASTADMIN && (told & TELL_LAST_ADMIN))
        vg_req_error(o->r, 409, "last_admin", "%s", vg_err_str(status));
    else if (status == VG_E_NOTFOUND && (told & TELL_NO_USER))
        vg_req_error(o->r, 404, "not_found", "no user %llu", (unsigned long long)o->uid);
    else if (status == VG_E_NOTFOUND && (told & TELL_NO_KEY))
        vg_req_error(o->r, 404, "not_found", "no such API key");
    else if (status == VG_E_CONFLICT && (told & TELL_NAME_TAKEN))
        vg_req_error(o->r, 409, "conflict", "a user named '%s'%s already exists", o->user.name,
                     o->user.email[0] ? " or with that email" : "");
    else if (status == VG_E_CONFLICT && (told & TELL_EMAIL_TAKEN))
        vg_req_error(o->r, 409, "conflict", "that email belongs to another user");
    else
        vg_auth_store_error(o->r, status, what);
}


/* Frees o (NULL is fine), wiping the secrets it held. */
static void
op_free(op *o)
{
    if (!o)
        return;
    json_decref(o->body);
    memset(o->password, 0, sizeof o->password);
    memset(o->key, 0, sizeof o->key);
    free(o);
}


/* Answers o's failure as its kind tells it, and frees o. */
static void
op_fail(op *o, int status)
{
    tell(o, status, o->kind->told, o->kind->what);
    op_free(o);
}


/* Answers a hasher failure or refusal (a store error "what: reason"), and frees o. */
static void
op_abort(op *o, int status, const char *what)
{
    tell(o, status, 0, what);
    op_free(o);
}


/* The store's answer to o's write (a vg_store_cb). */
static void
answered(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    if (status == 0)
        status = o->kind->done(o, rest);
    if (status != 0)
        op_fail(o, status);
    else
        op_free(o);
}


/* Sends o's write; a refused one is answered (a store error) and o freed. */
static void
op_send(op *o)
{
    int rc = o->kind->send(o);
    if (rc != 0)
        op_abort(o, rc, o->kind->what);
}


/* The hasher's answer: the hash goes where o wanted it, then o's write is sent. */
static void
hashed(int status, const char *encoded, void *ud)
{
    op *o = ud;
    if (status != 0) {
        op_abort(o, status, "cannot hash the password");
        return;
    }
    snprintf(o->hash_to, VG_DB_HASH_MAX, "%s", encoded);
    op_send(o);
}


/* Hashes o's password (wiped here) into `to` (VG_DB_HASH_MAX bytes), then sends o's write. */
static void
op_hash(op *o, char *to, const char *what)
{
    o->hash_to = to;
    int rc = vg_store_hash(o->u->store, o->password, o->pwlen, hashed, o);
    memset(o->password, 0, sizeof o->password);
    if (rc != 0)
        op_abort(o, rc, what);
}


/* Reads o's {id} user into o->user; -1 after answering 404/5xx. */
static int
read_user(op *o)
{
    int rc = vg_store_user_get(o->u->store, o->uid, &o->user);
    if (rc != 0)
        tell(o, rc, TELL_NO_USER, "cannot read the user");
    return rc != 0 ? -1 : 0;
}


/* Path parameter i as a decimal number: 0, -1 when it is not one, 1 when it overflows (*v the maximum). */
static int
param_u64(vg_req *r, int i, uint64_t *v)
{
    vg_str s = vg_req_param(r, i);
    char buf[24];
    if (s.n == 0 || s.n >= sizeof buf)
        return -1;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    errno = 0;
    *v = strtoull(buf, &end, 10);
    if (*end || !isdigit((unsigned char)buf[0]))
        return -1;
    return errno ? 1 : 0;
}


/* The {id} parameter, when the caller may act on it (self_ok: the user itself may); 0 after answering 403/404. */
static uint64_t
target(op *o, int self_ok)
{
    vg_str s = vg_req_param(o->r, 0);
    uint64_t id;
    if (param_u64(o->r, 0, &id) != 0)
        id = 0;
    if (o->who.role != VG_ROLE_ADMIN && !(self_ok && o->who.uid == id && id != 0)) {
        vg_req_error(o->r, 403, "forbidden", "only an admin or the user itself may do this");
        return 0;
    }
    if (id == 0) {
        vg_req_error(o->r, 404, "not_found", "no user '%.*s'", (int)(s.n > 32 ? 32 : s.n), s.p);
        return 0;
    }
    return id;
}


/*
 * May o's caller manage the account? Not with an API key scoped below its
 * user's role: a viewer key of an admin reads the account like a viewer,
 * but changing its email, password or keys would act for the admin. 0
 * after answering 403.
 */
static int
within_scope(op *o)
{
    if (!o->who.scoped)
        return 1;
    vg_req_error(o->r, 403, "insufficient_scope",
                 "this API key is scoped to %s, below its user's role: it cannot change the account or its API keys; "
                 "log in, or use a key with the user's full role", vg_role_name(o->who.role));
    return 0;
}


/* Starts a request of this kind with what it needs (NEED_*); NULL after answering. */
static op *
op_begin(vg_users_api *u, vg_req *r, unsigned need, const op_kind *kind)
{
    op *o = vg_xcalloc(1, sizeof *o);
    o->u = u;
    o->r = r;
    o->kind = kind;
    vg_auth_principal(r, &o->who);
    if (((need & (NEED_TARGET | NEED_TARGET_ADMIN)) && !(o->uid = target(o, need & NEED_TARGET))) ||
        ((need & NEED_ACCOUNT) && !within_scope(o)) || ((need & NEED_RECORD) && read_user(o) < 0) ||
        ((need & NEED_BODY) && !(o->body = vg_auth_json_body(r)))) {
        op_free(o);
        return NULL;
    }
    return o;
}


/* Reads a string member of the body into out; -1 (after answering 422) when it is not a string or too long. */
static int
member(op *o, const char *key, char *out, size_t cap, int *present)
{
    json_t *v = json_object_get(o->body, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap) {
        vg_req_error(o->r, 422, "invalid", "\"%s\" must be a string of at most %zu bytes", key, cap - 1);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}


/* A role member into *role (absent: keep *role); -1 after answering 422 when it is not a role. */
static int
role_member(op *o, int *role, int *present)
{
    char name[16] = "";
    if (member(o, "role", name, sizeof name, present) < 0)
        return -1;
    if (*present)
        *role = vg_role_parse(name, strlen(name));
    return 0;
}


static int64_t
now_s(const op *o)
{
    return (int64_t)ev_now(vg_server_loop(o->u->srv));
}

/* ---- list and read ------------------------------------------------------------- */

/*
 * Answers a read (after the set-up `need` asks for) with what `fill` puts
 * in the JSON answer (200), or with the store error it returns ("what:
 * reason").
 */
static void
answer_read(vg_req *r, void *ud, unsigned need, int (*fill)(op *o, vg_jsonw *w), const char *what)
{
    op *o = op_begin(ud, r, need, NULL);
    if (!o)
        return;
    vg_reply a;
    vg_reply_init(&a);
    int rc = fill(o, &a.w);
    if (rc != 0) {
        vg_reply_release(&a);
        vg_auth_store_error(r, rc, what);
    } else {
        vg_reply_send(&a, r, 200);
    }
    op_free(o);
}


/* Lists users into a JSON array. */
typedef struct user_lister {
    vg_jsonw *w;
    size_t n;
} user_lister;


static int
list_user(const vg_user *usr, void *ud)
{
    user_lister *l = ud;
    vg_user_json(l->w, usr);
    l->n++;
    return 0;
}


static int
users_write(op *o, vg_jsonw *w)
{
    user_lister l = { w, 0 };
    vg_jsonw_obj(w);
    vg_jsonw_karr(w, "users");
    int rc = vg_store_user_list(o->u->store, list_user, &l);
    if (rc != 0)
        return rc;
    vg_jsonw_arr_end(w);
    vg_jsonw_kuint(w, "count", l.n);
    vg_jsonw_obj_end(w);
    return 0;
}


static void
route_list(vg_req *r, void *ud)
{
    answer_read(r, ud, 0, users_write, "cannot read users");
}


static int
user_write(op *o, vg_jsonw *w)
{
    vg_user_json(w, &o->user);
    return 0;
}


static void
route_get(vg_req *r, void *ud)
{
    answer_read(r, ud, NEED_TARGET | NEED_RECORD, user_write, NULL);
}


/* The user and its activity counters. */
static int
profile_write(op *o, vg_jsonw *w)
{
    vg_user_activity act;
    vg_store_user_activity(o->u->store, o->uid, &act);
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "user");
    vg_user_json(w, &o->user);
    vg_jsonw_kobj(w, "activity");
    vg_jsonw_kuint(w, "detections", act.detections);
    vg_jsonw_kuint(w, "objects", act.objects);
    vg_jsonw_kuint(w, "feedback", act.feedback);
    vg_jsonw_kuint(w, "logins", act.logins);
    vg_jsonw_key(w, "last_detection");
    if (act.last_detection_us)
        vg_jsonw_double_prec(w, (double)act.last_detection_us / 1e6, 16);
    else
        vg_jsonw_null(w);
    vg_jsonw_key(w, "last_login");
    if (act.last_login)
        vg_jsonw_int(w, act.last_login);
    else
        vg_jsonw_null(w);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    return 0;
}


static void
route_profile(vg_req *r, void *ud)
{
    answer_read(r, ud, NEED_TARGET | NEED_RECORD, profile_write, NULL);
}

/* ---- the caller's password, checked again ------------------------------------------ */

/* The caller's bucket of password checks in key (VG_RATELIMIT_KEY_MAX bytes); its length. */
static size_t
recheck_key(op *o, char *key)
{
    const char *ip;
    size_t ipn = vg_auth_peer_ip(o->r, &ip);
    int n = snprintf(key, VG_RATELIMIT_KEY_MAX, "u%llu %.*s", (unsigned long long)o->who.uid, (int)ipn, ip);
    return n < 0 ? 0 : (size_t)n >= VG_RATELIMIT_KEY_MAX ? VG_RATELIMIT_KEY_MAX - 1 : (size_t)n;
}


/* The hasher's word on the caller's password: o goes on, or 403 (a right one gives its check back). */
static void
rechecked(int status, int ok, void *ud)
{
    op *o = ud;
    char key[VG_RATELIMIT_KEY_MAX];
    if (status != 0) {
        op_abort(o, status, "cannot check the password");
    } else if (!ok) {
        vg_req_error(o->r, 403, "forbidden", "%s is not your current password", o->recheck_member);
        op_free(o);
    } else {
        vg_ratelimit_give(o->u->rechecks, key, recheck_key(o, key), 1);
        o->rechecked(o);
    }
}


/*
 * Verifies the caller's password pw (wiped here; the body's `member`)
 * against hash once the caller's budget of checks allows; then, when it is
 * right, runs then(o). Else answers (403, 429, or the hasher's refusal)
 * and frees o.
 */
static void
recheck(op *o, const char *hash, char *pw, const char *member, void (*then)(op *o))
{
    const vg_config *cfg = vg_server_config(o->u->srv);
    char key[VG_RATELIMIT_KEY_MAX];
    size_t n = recheck_key(o, key), pwlen = strlen(pw);
    vg_ratelimit_set(o->u->rechecks, cfg->login_attempts / cfg->login_window, cfg->login_attempts);
    double wait = vg_ratelimit_take(o->u->rechecks, key, n, 1, ev_now(vg_server_loop(o->u->srv)));
    o->rechecked = then;
    o->recheck_member = member;
    int rc = wait > 0 ? 0 : vg_store_verify(o->u->store, hash, pw, pwlen, rechecked, o);
    memset(pw, 0, pwlen);
    if (wait > 0) {
        vg_auth_too_many(o->r, wait, "password checks for this account from this address");
        op_free(o);
    } else if (rc != 0) {
        op_abort(o, rc, "cannot check the password");
    }
}


/* ---- create, update, delete ------------------------------------------------------- */

static int
create_send(op *o)
{
    return vg_store_user_create(o->u->store, &o->user, answered, o);
}


static int
created(op *o, vg_mpr *rest)
{
    if (vg_mpr_u64(rest, &o->user.id) < 0)
        return VG_E_STORE_PROTO;
    vg_info("users", "created user '%s' (id %llu, %s)", o->user.name, (unsigned long long)o->user.id,
            vg_role_name(o->user.role));
    vg_req_add_header(o->r, "Location", "/v1/users/%llu", (unsigned long long)o->user.id);
    respond_user(o->r, 201, &o->user);
    return 0;
}


static const op_kind create_op = { create_send, created, "cannot create the user", TELL_NAME_TAKEN };


/* The new user of a create request, checked; -1 after answering 422. */
static int
create_read(op *o)
{
    char err[160];
    int has_name, has_pw, has_mail, has_role;
    o->user.role = VG_ROLE_VIEWER;
    if (member(o, "name", o->user.name, sizeof o->user.name, &has_name) < 0 ||
        member(o, "password", o->password, sizeof o->password, &has_pw) < 0 ||
        member(o, "email", o->user.email, sizeof o->user.email, &has_mail) < 0 ||
        role_member(o, &o->user.role, &has_role) < 0)
        return -1;
    o->pwlen = strlen(o->password);
    if (!has_name || !has_pw) {
        vg_req_error(o->r, 422, "invalid", "a user needs \"name\" and \"password\"");
        return -1;
    }
    if (vg_user_name_valid(o->user.name, err, sizeof err) < 0 || vg_user_email_valid(o->user.email, err, sizeof err) < 0 ||
        vg_password_policy_check(o->password, o->pwlen, o->user.name, err, sizeof err) < 0) {
        vg_req_error(o->r, 422, "invalid", "%s", err);
        return -1;
    }
    if (o->user.role == VG_ROLE_NONE) {
        vg_req_error(o->r, 422, "invalid", "role must be viewer, operator or admin");
        return -1;
    }
    return 0;
}


static void
route_create(vg_req *r, void *ud)
{
    op *o = op_begin(ud, r, NEED_BODY, &create_op);
    if (!o || create_read(o) < 0) {
        op_free(o);
        return;
    }
    o->user.created = o->user.updated = now_s(o);
    op_hash(o, o->user.hash, "cannot hash the password");
}


static int
update_send(op *o)
{
    return vg_store_user_update(o->u->store, o->uid, &o->patch, answered, o);
}


/* Answers an update with the user as it is now. */
static int
updated(op *o, vg_mpr *rest)
{
    (void)rest;
    if (read_user(o) == 0)
        respond_user(o->r, 200, &o->user);
    return 0;
}


static const op_kind update_op = { update_send, updated, "cannot update the user",
                                TELL_EMAIL_TAKEN | TELL_LAST_ADMIN | TELL_NO_USER };


/* Hashes the new password of an update, then sends it. */
static void
update_hash(op *o)
{
    op_hash(o, o->patch.hash, "cannot hash the password");
}


/*
 * The change an update asks for, checked, into o->patch (a new password
 * into o->password, the caller's current one into current); -1 after
 * answering.
 */
static int
update_read(op *o, char current[VG_STORE_MAX_PASSWORD + 1], int *has_cur)
{
    int admin = o->who.role == VG_ROLE_ADMIN;
    char err[160];
    int has_pw, has_role;
    const char *key;
    json_t *v;
    json_object_foreach(o->body, key, v) {
        if (strcmp(key, "email") && strcmp(key, "password") && strcmp(key, "role") && strcmp(key, "disabled") &&
            strcmp(key, "current_password")) {
            vg_req_error(o->r, 422, "invalid", "unknown member \"%.32s\" (email, password, role, disabled)", key);
            return -1;
        }
    }
    if (member(o, "email", o->patch.email, sizeof o->patch.email, &o->patch.set_email) < 0 ||
        member(o, "password", o->password, sizeof o->password, &has_pw) < 0 ||
        role_member(o, &o->patch.role, &has_role) < 0 ||
        member(o, "current_password", current, VG_STORE_MAX_PASSWORD + 1, has_cur) < 0)
        return -1;
    json_t *dis = json_object_get(o->body, "disabled");
    if (dis && !json_is_boolean(dis)) {
        vg_req_error(o->r, 422, "invalid", "\"disabled\" must be true or false");
        return -1;
    }
    if ((has_role || dis) && !admin) {
        vg_req_error(o->r, 403, "forbidden", "only an admin may change roles or disable users");
        return -1;
    }
    if (o->patch.set_email && vg_user_email_valid(o->patch.email, err, sizeof err) < 0) {
        vg_req_error(o->r, 422, "invalid", "%s", err);
        return -1;
    }
    o->patch.set_role = has_role;
    if (has_role && o->patch.role == VG_ROLE_NONE) {
        vg_req_error(o->r, 422, "invalid", "role must be viewer, operator or admin");
        return -1;
    }
    if (dis) {
        o->patch.set_disabled = 1;
        o->patch.disabled = json_is_true(dis);
    }
    o->pwlen = strlen(o->password);
    o->patch.set_hash = has_pw;
    if (has_pw && vg_password_policy_check(o->password, o->pwlen, o->user.name, err, sizeof err) < 0) {
        vg_req_error(o->r, 422, "invalid", "%s", err);
        return -1;
    }
    o->patch.now = now_s(o);
    return 0;
}


/*
 * A user who must change their password may send only that: its own new
 * password (with the current one). 0 after answering 403.
 */
static int
first_password_only(op *o)
{
    const vg_user_patch *p = &o->patch;
    if (!o->who.must_change ||
        (o->uid == o->who.uid && p->set_hash && !p->set_email && !p->set_role && !p->set_disabled))
        return 1;
    vg_req_error(o->r, 403, "password_change_required",
                 "change your one-time password first: PUT /v1/users/%llu {\"current_password\": ..., "
                 "\"password\": ...} with nothing else", (unsigned long long)o->who.uid);
    return 0;
}


static void
route_update(vg_req *r, void *ud)
{
    op *o = op_begin(ud, r, NEED_TARGET | NEED_ACCOUNT | NEED_RECORD | NEED_BODY, &update_op);
    char current[VG_STORE_MAX_PASSWORD + 1] = "";
    int has_cur = 0;
    if (!o || update_read(o, current, &has_cur) < 0 || !first_password_only(o)) {
        op_free(o);
    } else if (!o->patch.set_hash) {
        op_send(o);
    } else if (o->who.role == VG_ROLE_ADMIN && o->uid != o->who.uid) {
        op_hash(o, o->patch.hash, "cannot check the password");
    } else if (!has_cur) {
        /* a stolen access token alone cannot take the account over, an admin's neither */
        vg_req_error(r, 403, "forbidden", "changing your password needs current_password");
        op_free(o);
    } else {
        recheck(o, o->user.hash, current, "current_password", update_hash);
    }
    memset(current, 0, sizeof current);
}


static int
delete_send(op *o)
{
    return vg_store_user_delete(o->u->store, o->uid, answered, o);
}


static int
deleted(op *o, vg_mpr *rest)
{
    (void)rest;
    vg_info("users", "deleted user %llu", (unsigned long long)o->uid);
    vg_req_respond(o->r, 204, NULL, NULL, 0);
    return 0;
}


static const op_kind delete_op = { delete_send, deleted, "cannot delete the user", TELL_LAST_ADMIN | TELL_NO_USER };


static void
route_delete(vg_req *r, void *ud)
{
    op *o = op_begin(ud, r, NEED_TARGET_ADMIN, &delete_op);
    if (o)
        op_send(o);
}

/* ---- API keys ----------------------------------------------------------------------- */

static void
key_json(vg_jsonw *w, const vg_apikey *k)
{
    vg_jsonw_obj(w);
    vg_jsonw_kuint(w, "id", k->kid);
    vg_jsonw_kuint(w, "user", k->uid);
    vg_jsonw_kstr(w, "name", k->name);
    vg_jsonw_kstr(w, "role", vg_role_name(k->role));
    vg_jsonw_kstr(w, "prefix", k->prefix);
    vg_jsonw_kint(w, "created", k->created);
    vg_jsonw_kbool(w, "revoked", k->revoked);
    vg_jsonw_obj_end(w);
}


static int
list_key(const vg_apikey *k, void *ud)
{
    key_json(ud, k);
    return 0;
}


static int
keys_write(op *o, vg_jsonw *w)
{
    vg_jsonw_obj(w);
    vg_jsonw_karr(w, "api_keys");
    int rc = vg_store_apikey_list(o->u->store, o->uid, list_key, w);
    if (rc != 0)
        return rc;
    vg_jsonw_arr_end(w);
    vg_jsonw_obj_end(w);
    return 0;
}


static void
route_keys(vg_req *r, void *ud)
{
    answer_read(r, ud, NEED_TARGET | NEED_ACCOUNT | NEED_RECORD, keys_write, "cannot read API keys");
}


/* Sends a new key: only its SHA-256 is stored. */
static int
key_create_send(op *o)
{
    uint8_t h[32];
    mbedtls_sha256_ret((const unsigned char *)o->key, strlen(o->key), h, 0);
    return vg_store_apikey_create(o->u->store, h, &o->k, answered, o);
}


/* Answers a new key with the key itself, shown this once. */
static int
key_created(op *o, vg_mpr *rest)
{
    if (vg_mpr_u64(rest, &o->k.kid) < 0)
        return VG_E_STORE_PROTO;
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw_obj(&a.w);
    vg_jsonw_kstr(&a.w, "key", o->key);
    vg_jsonw_key(&a.w, "api_key");
    key_json(&a.w, &o->k);
    vg_jsonw_obj_end(&a.w);
    vg_info("users", "API key %llu '%s' created for user %llu", (unsigned long long)o->k.kid, o->k.name,
            (unsigned long long)o->k.uid);
    vg_reply_send(&a, o->r, 201);
    return 0;
}


static const op_kind key_create_op = { key_create_send, key_created, "cannot create the API key", TELL_NO_USER };


/* Makes o's new key and sends it. */
static void
key_send(op *o)
{
    o->k.uid = o->uid;
    o->k.created = now_s(o);
    char secret[64];
    vg_auth_random_token(secret, sizeof secret, 32);
    snprintf(o->key, sizeof o->key, "vgk_%s", secret);
    snprintf(o->k.prefix, sizeof o->k.prefix, "%.11s", o->key);
    memset(secret, 0, sizeof secret);
    op_send(o);
}


/*
 * The new key's name and role, checked: the role is at most the user's and
 * the caller's own (a credential never makes a stronger one). -1 after
 * answering 422 or 403.
 */
static int
key_read(op *o, int *has_pw)
{
    int has_name, has_role;
    o->k.role = o->user.role < o->who.role ? o->user.role : o->who.role;
    if (member(o, "name", o->k.name, sizeof o->k.name, &has_name) < 0 || role_member(o, &o->k.role, &has_role) < 0 ||
        member(o, "password", o->password, sizeof o->password, has_pw) < 0)
        return -1;
    if (!has_name || !o->k.name[0]) {
        vg_req_error(o->r, 422, "invalid", "an API key needs a \"name\"");
        return -1;
    }
    if (o->k.role == VG_ROLE_NONE || o->k.role > o->user.role) {
        vg_req_error(o->r, 422, "invalid", "role must be viewer, operator or admin, and at most the user's (%s)",
                     vg_role_name(o->user.role));
        return -1;
    }
    if (o->k.role > o->who.role) {
        vg_req_error(o->r, 403, "insufficient_scope", "you act as %s: a key you make may have that role at most",
                     vg_role_name(o->who.role));
        return -1;
    }
    return 0;
}


/*
 * A new API key. Without a fresh access token the caller proves who they
 * are again with their password: a key outlives the token that made it,
 * so a stolen token must not be enough.
 */
static void
route_key_create(vg_req *r, void *ud)
{
    op *o = op_begin(ud, r, NEED_TARGET | NEED_ACCOUNT | NEED_RECORD | NEED_BODY, &key_create_op);
    int has_pw = 0;
    if (!o)
        return;
    if (key_read(o, &has_pw) < 0) {
        op_free(o);
        return;
    }
    if (!has_pw && vg_auth_fresh(&o->who, now_s(o))) {
        key_send(o);
        return;
    }
    if (!has_pw) {
        vg_req_add_header(r, "WWW-Authenticate", "Bearer error=\"insufficient_user_authentication\"");
        vg_req_error(r, 401, "reauth_required",
                     "creating an API key needs a recent sign-in: send your current password as \"password\", "
                     "or use an access token issued in the last %d minutes (log in or refresh)",
                     VG_AUTH_FRESH_TOKEN_S / 60);
        op_free(o);
        return;
    }
    vg_user caller;   /* an admin making a key for someone else proves they are that admin */
    int rc = 0;
    if (o->who.uid == o->uid)
        caller = o->user;
    else
        rc = vg_store_user_get(o->u->store, o->who.uid, &caller);
    if (rc == 0)
        recheck(o, caller.hash, o->password, "\"password\"", key_send);
    else
        op_abort(o, rc, "cannot check the password");
    memset(&caller, 0, sizeof caller);
}


static int
key_revoke_send(op *o)
{
    return vg_store_apikey_revoke(o->u->store, o->uid, o->k.kid, answered, o);
}


static int
key_revoked(op *o, vg_mpr *rest)
{
    (void)rest;
    vg_req_respond(o->r, 204, NULL, NULL, 0);
    return 0;
}


static const op_kind key_revoke_op = { key_revoke_send, key_revoked, "cannot revoke the API key", TELL_NO_KEY };


static void
route_key_delete(vg_req *r, void *ud)
{
    op *o = op_begin(ud, r, NEED_TARGET | NEED_ACCOUNT, &key_revoke_op);
    if (!o)
        return;
    if (param_u64(r, 1, &o->k.kid) < 0)
        o->k.kid = 0;
    if (!o->k.kid)
        op_fail(o, VG_E_NOTFOUND);   /* as the store would answer */
    else
        op_send(o);
}


vg_users_api *
vg_users_api_create(vg_http *http, vg_store *store)
{
    vg_users_api *u = vg_xcalloc(1, sizeof *u);
    u->srv = vg_http_server(http);
    u->store = store;
    const vg_config *cfg = vg_server_config(u->srv);
    u->rechecks = vg_ratelimit_create(cfg->login_attempts / cfg->login_window, cfg->login_attempts, 65536);
    vg_http_route(http, VG_M_GET, "/v1/users", route_list, u, 0, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_POST, "/v1/users", route_create, u, 16384, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_GET, "/v1/users/{id}", route_get, u, 0, VG_ACCESS_VIEWER);
    /* the one route open to a user who must change their password first (first_password_only()) */
    vg_http_route(http, VG_M_PUT, "/v1/users/{id}", route_update, u, 16384, VG_ACCESS_VIEWER | VG_ACCESS_FIRST_PASSWORD);
    vg_http_route(http, VG_M_DELETE, "/v1/users/{id}", route_delete, u, 0, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_GET, "/v1/users/{id}/profile", route_profile, u, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_GET, "/v1/users/{id}/apikeys", route_keys, u, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_POST, "/v1/users/{id}/apikeys", route_key_create, u, 8192, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_DELETE, "/v1/users/{id}/apikeys/{kid}", route_key_delete, u, 0, VG_ACCESS_VIEWER);
    return u;
}


void
vg_users_api_destroy(vg_users_api *u)
{
    if (!u)
        return;
    vg_ratelimit_destroy(u->rechecks);
    free(u);
}
