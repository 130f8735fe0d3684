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
};

/* One request in flight through the hasher and the store. */
typedef struct op {
    vg_users_api *u;
    vg_req *r;
    uint64_t uid;
    vg_user user;                  /* create: the new user */
    vg_user_patch patch;           /* update */
    char password[VG_STORE_MAX_PASSWORD + 1];
    size_t pwlen;
    char key[80];                  /* a new API key */
    vg_apikey k;
} op;


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


int
vg_user_password_valid(const char *s, size_t n, char *err, size_t errlen)
{
    if (n < 8 || n > VG_STORE_MAX_PASSWORD || memchr(s, '\0', n)) {
        snprintf(err, errlen, "password must be 8 to %d bytes", VG_STORE_MAX_PASSWORD);
        return -1;
    }
    return 0;
}


static void
user_json(vg_jsonw *w, const vg_user *u)
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
    user_json(&a.w, u);
    vg_reply_send(&a, r, status);
}


/* Reads the user `uid`; answers 404/5xx and returns -1 when it cannot. */
static int
read_user(vg_users_api *u, vg_req *r, uint64_t uid, vg_user *out)
{
    int rc = vg_store_user_get(u->store, uid, out);
    if (rc == VG_E_NOTFOUND) {
        vg_req_error(r, 404, "not_found", "no user %llu", (unsigned long long)uid);
        return -1;
    }
    if (rc != 0) {
        vg_auth_store_error(r, rc, "cannot read the user");
        return -1;
    }
    return 0;
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


/* The {id} parameter; 0 after answering 404. Also checks admin-or-self (403). */
static uint64_t
target(vg_users_api *u, vg_req *r, int self_ok, vg_principal *who)
{
    vg_str s = vg_req_param(r, 0);
    uint64_t id;
    if (param_u64(r, 0, &id) != 0)
        id = 0;
    (void)u;
    vg_auth_principal(r, who);
    if (who->role != VG_ROLE_ADMIN && !(self_ok && who->uid == id && id != 0)) {
        vg_req_error(r, 403, "forbidden", "only an admin or the user itself may do this");
        return 0;
    }
    if (id == 0) {
        vg_req_error(r, 404, "not_found", "no user '%.*s'", (int)(s.n > 32 ? 32 : s.n), s.p);
        return 0;
    }
    return id;
}


/* target() for the admin or the user itself, and that user read into usr; 0 after answering. */
static uint64_t
target_user(vg_users_api *u, vg_req *r, vg_principal *who, vg_user *usr)
{
    uint64_t id = target(u, r, 1, who);
    return id && read_user(u, r, id, usr) == 0 ? id : 0;
}


/* A request's state for its trip through the hasher and the store. */
static op *
op_new(vg_users_api *u, vg_req *r)
{
    op *o = vg_xcalloc(1, sizeof *o);
    o->u = u;
    o->r = r;
    return o;
}


/* After sending o's store request: answers and frees o when it could not be sent (rc). */
static void
op_sent(op *o, int rc, const char *what)
{
    if (rc != 0) {
        vg_auth_store_error(o->r, rc, what);
        free(o);
    }
}

/* ---- list and read ------------------------------------------------------------- */

/* Lists users into a JSON array. */
typedef struct user_lister {
    vg_jsonw *w;
    size_t n;
} user_lister;


static int
list_user(const vg_user *usr, void *ud)
{
    user_lister *l = ud;
    user_json(l->w, usr);
    l->n++;
    return 0;
}


static void
route_list(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_reply a;
    vg_reply_init(&a);
    vg_reply_list(&a, "users");
    user_lister l = { &a.w, 0 };
    int rc = vg_store_user_list(u->store, list_user, &l);
    if (rc != 0) {
        vg_reply_release(&a);
        vg_auth_store_error(r, rc, "cannot read users");
        return;
    }
    vg_jsonw_arr_end(&a.w);
    vg_jsonw_kuint(&a.w, "count", l.n);
    vg_jsonw_obj_end(&a.w);
    vg_reply_send(&a, r, 200);
}


static void
route_get(vg_req *r, void *ud)
{
    vg_principal who;
    vg_user usr;
    if (target_user(ud, r, &who, &usr))
        respond_user(r, 200, &usr);
}


static void
route_profile(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    vg_user usr;
    uint64_t id = target_user(u, r, &who, &usr);
    if (!id)
        return;
    vg_user_activity act;
    vg_store_user_activity(u->store, id, &act);
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "user");
    user_json(w, &usr);
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
    vg_reply_send(&a, r, 200);
}

/* ---- create ---------------------------------------------------------------------- */

static void
created(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    if (status == 0 && vg_mpr_u64(rest, &o->user.id) < 0)
        status = VG_E_STORE_PROTO;
    if (status == VG_E_CONFLICT)
        vg_req_error(o->r, 409, "conflict", "a user named '%s'%s already exists", o->user.name,
                     o->user.email[0] ? " or with that email" : "");
    else if (status != 0)
        vg_auth_store_error(o->r, status, "cannot create the user");
    else {
        vg_info("users", "created user '%s' (id %llu, %s)", o->user.name, (unsigned long long)o->user.id,
                vg_role_name(o->user.role));
        vg_req_add_header(o->r, "Location", "/v1/users/%llu", (unsigned long long)o->user.id);
        respond_user(o->r, 201, &o->user);
    }
    free(o);
}


static void
create_hashed(int status, const char *encoded, void *ud)
{
    op *o = ud;
    if (status != 0) {
        vg_auth_store_error(o->r, status, "cannot hash the password");
        free(o);
        return;
    }
    snprintf(o->user.hash, sizeof o->user.hash, "%s", encoded);
    op_sent(o, vg_store_user_create(o->u->store, &o->user, created, o), "cannot create the user");
}


/* Reads a string member into out; -1 (after answering 422) when it is not a string or too long. */
static int
member(vg_req *r, json_t *j, const char *key, char *out, size_t cap, int *present)
{
    json_t *v = json_object_get(j, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap) {
        vg_req_error(r, 422, "invalid", "\"%s\" must be a string of at most %zu bytes", key, cap - 1);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}


static void
route_create(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    json_t *j = vg_auth_json_body(r);
    if (!j)
        return;
    op *o = op_new(u, r);
    char role[16] = "viewer", err[160];
    int has_name, has_pw, has_mail, has_role;
    if (member(r, j, "name", o->user.name, sizeof o->user.name, &has_name) < 0 ||
        member(r, j, "password", o->password, sizeof o->password, &has_pw) < 0 ||
        member(r, j, "email", o->user.email, sizeof o->user.email, &has_mail) < 0 ||
        member(r, j, "role", role, sizeof role, &has_role) < 0)
        goto fail;
    o->pwlen = strlen(o->password);
    o->user.role = vg_role_parse(role, strlen(role));
    if (!has_name || !has_pw) {
        vg_req_error(r, 422, "invalid", "a user needs \"name\" and \"password\"");
        goto fail;
    }
    if (vg_user_name_valid(o->user.name, err, sizeof err) < 0 || vg_user_email_valid(o->user.email, err, sizeof err) < 0 ||
        vg_user_password_valid(o->password, o->pwlen, err, sizeof err) < 0) {
        vg_req_error(r, 422, "invalid", "%s", err);
        goto fail;
    }
    if (o->user.role == VG_ROLE_NONE) {
        vg_req_error(r, 422, "invalid", "role must be viewer, operator or admin");
        goto fail;
    }
    json_decref(j);
    o->user.created = o->user.updated = (int64_t)ev_now(vg_server_loop(u->srv));
    int rc = vg_store_hash(u->store, o->password, o->pwlen, create_hashed, o);
    memset(o->password, 0, sizeof o->password);
    if (rc != 0) {
        vg_auth_store_error(r, rc, "cannot hash the password");
        free(o);
    }
    return;
fail:
    json_decref(j);
    free(o);
}

/* ---- update and delete ------------------------------------------------------------- */

static void
updated(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    (void)rest;
    if (status == VG_E_CONFLICT)
        vg_req_error(o->r, 409, "conflict", "that email belongs to another user");
    else if (status == VG_E_LASTADMIN)
        vg_req_error(o->r, 409, "last_admin", "%s", vg_err_str(status));
    else if (status == VG_E_NOTFOUND)
        vg_req_error(o->r, 404, "not_found", "no user %llu", (unsigned long long)o->uid);
    else if (status != 0)
        vg_auth_store_error(o->r, status, "cannot update the user");
    else {
        vg_user usr;
        if (read_user(o->u, o->r, o->uid, &usr) == 0)
            respond_user(o->r, 200, &usr);
    }
    free(o);
}


static void
update_send(op *o)
{
    op_sent(o, vg_store_user_update(o->u->store, o->uid, &o->patch, updated, o), "cannot update the user");
}


static void
update_hashed(int status, const char *encoded, void *ud)
{
    op *o = ud;
    if (status != 0) {
        vg_auth_store_error(o->r, status, "cannot hash the password");
        free(o);
        return;
    }
    o->patch.set_hash = 1;
    snprintf(o->patch.hash, sizeof o->patch.hash, "%s", encoded);
    update_send(o);
}


static void
update_verified(int status, int ok, void *ud)
{
    op *o = ud;
    if (status != 0 || !ok) {
        if (status != 0)
            vg_auth_store_error(o->r, status, "cannot check the password");
        else
            vg_req_error(o->r, 403, "forbidden", "current_password is wrong");
        free(o);
        return;
    }
    int rc = vg_store_hash(o->u->store, o->password, o->pwlen, update_hashed, o);
    memset(o->password, 0, sizeof o->password);
    if (rc != 0) {
        vg_auth_store_error(o->r, rc, "cannot hash the password");
        free(o);
    }
}


static void
route_update(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    vg_user usr;
    uint64_t id = target_user(u, r, &who, &usr);
    json_t *j = id ? vg_auth_json_body(r) : NULL;
    if (!j)
        return;
    int admin = who.role == VG_ROLE_ADMIN;
    op *o = op_new(u, r);
    o->uid = id;
    o->patch.now = (int64_t)ev_now(vg_server_loop(u->srv));
    char role[16] = "", current[VG_STORE_MAX_PASSWORD + 1] = "", err[160];
    int has_pw, has_role, has_cur;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        if (strcmp(key, "email") && strcmp(key, "password") && strcmp(key, "role") && strcmp(key, "disabled") &&
            strcmp(key, "current_password")) {
            vg_req_error(r, 422, "invalid", "unknown member \"%.32s\" (email, password, role, disabled)", key);
            goto fail;
        }
    }
    if (member(r, j, "email", o->patch.email, sizeof o->patch.email, &o->patch.set_email) < 0 ||
        member(r, j, "password", o->password, sizeof o->password, &has_pw) < 0 ||
        member(r, j, "role", role, sizeof role, &has_role) < 0 ||
        member(r, j, "current_password", current, sizeof current, &has_cur) < 0)
        goto fail;
    json_t *dis = json_object_get(j, "disabled");
    if (dis && !json_is_boolean(dis)) {
        vg_req_error(r, 422, "invalid", "\"disabled\" must be true or false");
        goto fail;
    }
    if ((has_role || dis) && !admin) {
        vg_req_error(r, 403, "forbidden", "only an admin may change roles or disable users");
        goto fail;
    }
    if (o->patch.set_email && vg_user_email_valid(o->patch.email, err, sizeof err) < 0) {
        vg_req_error(r, 422, "invalid", "%s", err);
        goto fail;
    }
    if (has_role) {
        o->patch.set_role = 1;
        o->patch.role = vg_role_parse(role, strlen(role));
        if (o->patch.role == VG_ROLE_NONE) {
            vg_req_error(r, 422, "invalid", "role must be viewer, operator or admin");
            goto fail;
        }
    }
    if (dis) {
        o->patch.set_disabled = 1;
        o->patch.disabled = json_is_true(dis);
    }
    o->pwlen = strlen(o->password);
    if (has_pw && vg_user_password_valid(o->password, o->pwlen, err, sizeof err) < 0) {
        vg_req_error(r, 422, "invalid", "%s", err);
        goto fail;
    }
    json_decref(j);
    int rc = 0;
    if (has_pw && !admin) {
        /* a stolen access token alone cannot take the account over */
        if (!has_cur) {
            vg_req_error(r, 403, "forbidden", "changing your password needs current_password");
            free(o);
            return;
        }
        rc = vg_store_verify(u->store, usr.hash, current, strlen(current), update_verified, o);
    } else if (has_pw) {
        rc = vg_store_hash(u->store, o->password, o->pwlen, update_hashed, o);
        memset(o->password, 0, sizeof o->password);
    } else {
        update_send(o);
        return;
    }
    memset(current, 0, sizeof current);
    if (rc != 0) {
        vg_auth_store_error(r, rc, "cannot check the password");
        free(o);
    }
    return;
fail:
    json_decref(j);
    free(o);
}


static void
deleted(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    (void)rest;
    if (status == VG_E_LASTADMIN)
        vg_req_error(o->r, 409, "last_admin", "%s", vg_err_str(status));
    else if (status == VG_E_NOTFOUND)
        vg_req_error(o->r, 404, "not_found", "no user %llu", (unsigned long long)o->uid);
    else if (status != 0)
        vg_auth_store_error(o->r, status, "cannot delete the user");
    else {
        vg_info("users", "deleted user %llu", (unsigned long long)o->uid);
        vg_req_respond(o->r, 204, NULL, NULL, 0);
    }
    free(o);
}


static void
route_delete(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    uint64_t id = target(u, r, 0, &who);
    if (!id)
        return;
    op *o = op_new(u, r);
    o->uid = id;
    op_sent(o, vg_store_user_delete(u->store, id, deleted, o), "cannot delete the user");
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


static void
route_keys(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    vg_user usr;
    uint64_t id = target_user(u, r, &who, &usr);
    if (!id)
        return;
    vg_reply a;
    vg_reply_init(&a);
    vg_reply_list(&a, "api_keys");
    int rc = vg_store_apikey_list(u->store, id, list_key, &a.w);
    if (rc != 0) {
        vg_reply_release(&a);
        vg_auth_store_error(r, rc, "cannot read API keys");
        return;
    }
    vg_jsonw_arr_end(&a.w);
    vg_jsonw_obj_end(&a.w);
    vg_reply_send(&a, r, 200);
}


static void
key_created(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    if (status == 0 && vg_mpr_u64(rest, &o->k.kid) < 0)
        status = VG_E_STORE_PROTO;
    if (status == VG_E_NOTFOUND)
        vg_req_error(o->r, 404, "not_found", "no user %llu", (unsigned long long)o->k.uid);
    else if (status != 0)
        vg_auth_store_error(o->r, status, "cannot create the API key");
    else {
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
    }
    memset(o->key, 0, sizeof o->key);
    free(o);
}


static void
route_key_create(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    vg_user usr;
    uint64_t id = target_user(u, r, &who, &usr);
    json_t *j = id ? vg_auth_json_body(r) : NULL;
    if (!j)
        return;
    op *o = op_new(u, r);
    char role[16] = "";
    int has_name, has_role;
    if (member(r, j, "name", o->k.name, sizeof o->k.name, &has_name) < 0 ||
        member(r, j, "role", role, sizeof role, &has_role) < 0) {
        json_decref(j);
        free(o);
        return;
    }
    json_decref(j);
    if (!has_name || !o->k.name[0]) {
        vg_req_error(r, 422, "invalid", "an API key needs a \"name\"");
        free(o);
        return;
    }
    o->k.role = has_role ? vg_role_parse(role, strlen(role)) : usr.role;
    if (o->k.role == VG_ROLE_NONE || o->k.role > usr.role) {
        vg_req_error(r, 422, "invalid", "role must be viewer, operator or admin, and at most the user's (%s)",
                     vg_role_name(usr.role));
        free(o);
        return;
    }
    o->k.uid = id;
    o->k.created = (int64_t)ev_now(vg_server_loop(u->srv));
    char secret[64];
    vg_auth_random_token(secret, sizeof secret, 32);
    snprintf(o->key, sizeof o->key, "vgk_%s", secret);
    snprintf(o->k.prefix, sizeof o->k.prefix, "%.11s", o->key);
    uint8_t h[32];
    mbedtls_sha256_ret((const unsigned char *)o->key, strlen(o->key), h, 0);
    op_sent(o, vg_store_apikey_create(u->store, h, &o->k, key_created, o), "cannot create the API key");
}


static void
key_revoked(int status, vg_mpr *rest, void *ud)
{
    op *o = ud;
    (void)rest;
    if (status == VG_E_NOTFOUND)
        vg_req_error(o->r, 404, "not_found", "no such API key");
    else if (status != 0)
        vg_auth_store_error(o->r, status, "cannot revoke the API key");
    else
        vg_req_respond(o->r, 204, NULL, NULL, 0);
    free(o);
}


static void
route_key_delete(vg_req *r, void *ud)
{
    vg_users_api *u = ud;
    vg_principal who;
    uint64_t id = target(u, r, 1, &who);
    if (!id)
        return;
    uint64_t kid;
    if (param_u64(r, 1, &kid) < 0)
        kid = 0;
    if (!kid) {
        vg_req_error(r, 404, "not_found", "no such API key");
        return;
    }
    op *o = op_new(u, r);
    op_sent(o, vg_store_apikey_revoke(u->store, id, kid, key_revoked, o), "cannot revoke the API key");
}


vg_users_api *
vg_users_api_create(vg_http *http, vg_store *store)
{
    vg_users_api *u = vg_xcalloc(1, sizeof *u);
    u->srv = vg_http_server(http);
    u->store = store;
    vg_http_route(http, VG_M_GET, "/v1/users", route_list, u, 0, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_POST, "/v1/users", route_create, u, 16384, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_GET, "/v1/users/{id}", route_get, u, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_PUT, "/v1/users/{id}", route_update, u, 16384, VG_ACCESS_VIEWER);
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
    free(u);
}
