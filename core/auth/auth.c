/* auth: see auth.h. */
#include "auth/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <mbedtls/sha256.h>

#include "http/http.h"
#include "http/reply.h"
#include "base/hex.h"
#include "base/jsonw.h"
#include "auth/jwt.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/mpk.h"
#include "auth/ratelimit.h"
#include "net/server.h"
#include "store/store_client.h"
#include "store/store_read.h"
#include "store/store_write.h"

#define API_KEY_PREFIX "vgk_"

/* The token buckets: requests per address and per user, login attempts per account and per address. */
enum rl_kind { RL_IP, RL_USER, RL_LOGIN, RL_LOGIN_IP, RL_COUNT };

struct vg_auth {
    vg_http *http;
    vg_server *srv;
    vg_store *store;
    vg_jwt *jwt;
    vg_ratelimit *rl[RL_COUNT];       /* token buckets, by enum rl_kind */
    char dummy_hash[VG_DB_HASH_MAX];   /* verified against for unknown users (same timing) */
    vg_metric *m_auth;
    vg_series *s_ok, *s_denied, *s_forbidden, *s_limited;
};

/* ---- helpers ---------------------------------------------------------------- */

void
vg_auth_random_token(char *out, size_t cap, size_t n)
{
    uint8_t raw[64];
    if (n > sizeof raw)
        n = sizeof raw;
    if (getrandom(raw, n, 0) != (ssize_t)n) {
        /* getrandom on Linux does not fail for <= 256 bytes once seeded */
        abort();
    }
    vg_buf b;
    vg_buf_init(&b);
    vg_b64url_encode(&b, raw, n);
    snprintf(out, cap, "%s", vg_buf_cstr(&b));
    vg_buf_release(&b);
}


json_t *
vg_auth_json_body(vg_req *r)
{
    vg_str body = vg_req_body(r);
    json_error_t e;
    json_t *j = json_loadb(body.p ? body.p : "", body.n, JSON_REJECT_DUPLICATES, &e);
    if (!j || !json_is_object(j)) {
        vg_req_error(r, 400, "bad_request", "the body must be a JSON object%s%s", j ? "" : ": ", j ? "" : e.text);
        json_decref(j);
        return NULL;
    }
    return j;
}


void
vg_auth_store_error(vg_req *r, int err, const char *what)
{
    int st = vg_err_http_status(err);
    if (err == VG_E_STORE_BUSY || err == VG_E_STORE_DOWN)
        vg_req_add_header(r, "Retry-After", "1");
    vg_req_error(r, st, vg_err_code(err), "%s: %s", what, vg_err_str(err));
}


static int64_t
now_s(const vg_auth *a)
{
    return (int64_t)ev_now(vg_server_loop(a->srv));
}


static void
sha256(const void *p, size_t n, uint8_t out[32])
{
    mbedtls_sha256_ret(p, n, out, 0);
}

/* ---- credentials ---------------------------------------------------------------- */

int
vg_auth_check(vg_auth *a, const char *cred, size_t n, vg_principal *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    vg_user u;
    int rc;
    if (n == 0 || n > VG_JWT_MAX_TOKEN) {
        snprintf(why, whylen, "malformed credentials");
        return 401;
    }
    if (n > 4 && memcmp(cred, API_KEY_PREFIX, 4) == 0) {
        uint8_t h[32];
        vg_apikey k;
        sha256(cred, n, h);
        rc = vg_store_apikey_find(a->store, h, &k, &u);
        if (vg_store_read_failed(rc)) {
            snprintf(why, whylen, "%s", vg_err_str(rc));
            return 503;
        }
        if (rc != 0 || u.disabled) {
            snprintf(why, whylen, "unknown or revoked API key");
            return 401;
        }
        p->uid = u.id;
        p->kid = k.kid;
        p->role = k.role < u.role ? k.role : u.role;
        p->scoped = k.role < u.role;
        p->must_change = u.must_change;
        snprintf(p->name, sizeof p->name, "%s", u.name);
        return 0;
    }
    vg_jwt_claims c;
    rc = vg_jwt_verify(a->jwt, cred, n, now_s(a), &c);
    if (rc != 0) {
        snprintf(why, whylen, "%s", vg_jwt_strerror(rc));
        return 401;
    }
    char *end;
    errno = 0;
    unsigned long long uid = strtoull(c.sub, &end, 10);
    if (*end || errno || uid == 0) {
        snprintf(why, whylen, "token subject is not a user");
        return 401;
    }
    /* the login session: a malformed one is revoked, once the user is known */
    int bad_sid = c.sid[0] && vg_hex_decode(c.sid, strlen(c.sid), p->family, VG_DB_FAMILY) != 0;
    rc = vg_store_family_check(a->store, uid, c.sid[0] && !bad_sid ? p->family : NULL, now_s(a), &u);
    if (vg_store_read_failed(rc)) {
        snprintf(why, whylen, "%s", vg_err_str(rc));
        return 503;
    }
    if (rc == 0 && bad_sid)
        rc = VG_E_TOKEN_REVOKED;
    p->has_family = c.sid[0] != 0;
    if (rc != 0 || u.disabled) {
        snprintf(why, whylen, "%s", rc == VG_E_NOTFOUND || u.disabled ? "the user no longer exists or is disabled"
                                    : rc == VG_E_TOKEN_EXPIRED ? "the session has expired" : "the session was revoked");
        return 401;
    }
    p->uid = u.id;
    p->role = u.role;
    p->issued = c.iat;
    p->must_change = u.must_change;
    snprintf(p->name, sizeof p->name, "%s", u.name);
    return 0;
}


int
vg_auth_fresh(const vg_principal *p, int64_t now)
{
    return p->kid == 0 && p->issued > 0 && now - p->issued < VG_AUTH_FRESH_TOKEN_S;
}


/* The credential a request carries, if any. */
static int
request_credential(vg_req *r, int access, vg_buf *out)
{
    vg_str h = vg_req_header(r, "authorization");
    if (h.p) {
        if (h.n > 7 && strncasecmp(h.p, "Bearer ", 7) == 0) {
            size_t i = 7;
            while (i < h.n && h.p[i] == ' ')
                i++;
            vg_buf_append(out, h.p + i, h.n - i);
            return 1;
        }
        return -1;
    }
    h = vg_req_header(r, "x-api-key");
    if (h.p) {
        vg_buf_append(out, h.p, h.n);
        return 1;
    }
    /* browsers cannot set headers on a WebSocket request: ?token= (or ?access_token=) */
    if ((access & VG_ACCESS_QUERY_TOKEN) &&
        (vg_req_query_get(r, "token", out) == 0 || vg_req_query_get(r, "access_token", out) == 0))
        return 1;
    return 0;
}


/* A bucket's rate (tokens per second) and burst in the config. */
static void
limit_of(const vg_config *cfg, int kind, double *rate, double *burst)
{
    switch (kind) {
    case RL_IP: *rate = cfg->rate_ip; *burst = cfg->burst_ip; break;
    case RL_USER: *rate = cfg->rate_user; *burst = cfg->burst_user; break;
    case RL_LOGIN: *rate = cfg->login_attempts / cfg->login_window; *burst = cfg->login_attempts; break;
    default: *rate = cfg->login_ip_attempts / cfg->login_window; *burst = cfg->login_ip_attempts; break;
    }
}


/* The bucket `kind`, following the current config (SIGHUP may have changed its rate). */
static vg_ratelimit *
limiter(vg_auth *a, int kind)
{
    double rate, burst;
    limit_of(vg_server_config(a->srv), kind, &rate, &burst);
    vg_ratelimit_set(a->rl[kind], rate, burst);
    return a->rl[kind];
}


/* The role a route's access asks of this caller (auth.open_detect opens the detection routes). */
static int
required_role(const vg_auth *a, int access)
{
    const vg_config *cfg = vg_server_config(a->srv);
    switch (access & VG_ACCESS_ROLES) {
    case VG_ACCESS_OPEN: return VG_ROLE_NONE;
    case VG_ACCESS_VIEWER: return VG_ROLE_VIEWER;
    case VG_ACCESS_OPERATOR: return VG_ROLE_OPERATOR;
    case VG_ACCESS_DETECT: return cfg->auth_open_detect ? VG_ROLE_NONE : VG_ROLE_OPERATOR;
    case VG_ACCESS_READ: return cfg->auth_open_detect ? VG_ROLE_NONE : VG_ROLE_VIEWER;
    default: return VG_ROLE_ADMIN;   /* VG_ACCESS_ADMIN, and anything unknown: closed */
    }
}


void
vg_auth_too_many(vg_req *r, double wait, const char *what)
{
    unsigned secs = (unsigned)(wait + 0.999);
    vg_req_add_header(r, "Retry-After", "%u", secs ? secs : 1);
    vg_req_error(r, 429, "rate_limited", "too many %s; retry in %u s", what, secs ? secs : 1);
}


size_t
vg_auth_peer_ip(vg_req *r, const char **ip)
{
    const char *p = vg_req_peer(r);
    *ip = p;
    const char *colon = strrchr(p, ':');
    if (p[0] == '[') {
        const char *close = strchr(p, ']');
        *ip = p + 1;
        return close ? (size_t)(close - p - 1) : strlen(p);
    }
    return colon ? (size_t)(colon - p) : strlen(p);
}


static void
principal_free(void *p)
{
    free(p);
}


static int
filter(vg_req *r, void *ud)
{
    vg_auth *a = ud;
    const vg_config *cfg = vg_server_config(a->srv);
    const vg_route *route = vg_req_route(r);
    int access = route ? route->access : 0;
    double now = ev_now(vg_server_loop(a->srv));
    if (vg_req_method(r) == VG_M_OPTIONS)
        return 0;   /* CORS preflights carry no credentials */
    int limited = !(access & VG_ACCESS_NO_LIMIT);
    /* after the body (a form credential): the address was charged at the head */
    if (limited && cfg->rate_ip > 0 && !vg_req_filter_again(r)) {
        const char *ip;
        size_t n = vg_auth_peer_ip(r, &ip);
        double wait = vg_ratelimit_take(limiter(a, RL_IP), ip, n, 1, now);
        if (wait > 0) {
            vg_series_add(a->s_limited, 1);
            vg_auth_too_many(r, wait, "requests from this address");
            return 1;
        }
    }
    int need = required_role(a, access);
    if ((access & VG_ACCESS_NO_LIMIT) && need == VG_ROLE_NONE)
        return 0;   /* /health, /ready, /metrics: no credential parsing at all */
    vg_buf cred;
    vg_buf_init(&cred);
    int has = request_credential(r, access, &cred);
    if (has == 0 && (access & VG_ACCESS_FORM_KEY)) {
        if (vg_req_body_pending(r)) {
            vg_buf_release(&cred);
            return VG_FILTER_AFTER_BODY;   /* api_key may be in the form: check it once the body is in */
        }
        has = vg_req_form_get(r, "api_key", &cred) == 0 && cred.len > 0;   /* "": no key, as DeepStack has it */
    }
    if (has < 0) {
        vg_buf_release(&cred);
        vg_series_add(a->s_denied, 1);
        vg_req_add_header(r, "WWW-Authenticate", "Bearer");
        vg_req_error(r, 401, "unauthorized", "the Authorization header must be 'Bearer <token>'");
        return 1;
    }
    vg_principal who;
    memset(&who, 0, sizeof who);
    if (has) {
        char why[160];
        int st = vg_auth_check(a, cred.data, cred.len, &who, why, sizeof why);
        vg_buf_release(&cred);
        if (st != 0) {
            vg_series_add(a->s_denied, 1);
            if (st == 401)
                vg_req_add_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            vg_req_error(r, st, st == 401 ? "invalid_token" : "store_unavailable", "%s", why);
            return 1;
        }
        /* the caller lives on the request from now on */
        vg_principal *id = vg_xmalloc(sizeof *id);
        *id = who;
        vg_req_set_identity(r, id, principal_free);
    }
    vg_buf_release(&cred);
    if (need > VG_ROLE_NONE && !has) {
        vg_series_add(a->s_denied, 1);
        vg_req_add_header(r, "WWW-Authenticate", "Bearer");
        vg_req_error(r, 401, "unauthorized", "this route needs a token or an API key");
        return 1;
    }
    if (has && who.role < need) {
        vg_series_add(a->s_forbidden, 1);
        vg_req_error(r, 403, "forbidden", "this route needs the %s role (you are %s)", vg_role_name(need),
                     vg_role_name(who.role));
        return 1;
    }
    if (has && who.must_change && !(access & VG_ACCESS_FIRST_PASSWORD)) {
        vg_series_add(a->s_forbidden, 1);
        vg_req_error(r, 403, "password_change_required",
                     "change your one-time password first: PUT /v1/users/%llu {\"current_password\": ..., "
                     "\"password\": ...}, then log in again", (unsigned long long)who.uid);
        return 1;
    }
    if (limited && has && cfg->rate_user > 0) {
        char key[32];
        int n = snprintf(key, sizeof key, "%llu", (unsigned long long)who.uid);
        double wait = vg_ratelimit_take(limiter(a, RL_USER), key, (size_t)n, 1, now);
        if (wait > 0) {
            vg_series_add(a->s_limited, 1);
            vg_auth_too_many(r, wait, "requests from this user");
            return 1;
        }
    }
    if (has)
        vg_series_add(a->s_ok, 1);
    return 0;
}


int
vg_auth_principal(const vg_req *r, vg_principal *p)
{
    const vg_principal *id = vg_req_identity(r);
    if (!id) {
        memset(p, 0, sizeof *p);
        return 0;
    }
    *p = *id;
    return 1;
}

/* A new refresh token: 32 random bytes in base64url into out, its SHA-256 (what the store keeps) into hash. */
static void
new_refresh_token(char *out, size_t cap, uint8_t hash[32])
{
    uint8_t raw[32];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw)
        abort();
    vg_buf tb;
    vg_buf_init(&tb);
    vg_b64url_encode(&tb, raw, sizeof raw);
    snprintf(out, cap, "%s", vg_buf_cstr(&tb));
    vg_buf_release(&tb);
    sha256(out, strlen(out), hash);
}

/* ---- the key shared by the nodes (docs/cluster.md, "Shared state") ---------------------- */

#define KEY_PROBE_NAME "key-probe"

int
vg_auth_key_probe(vg_auth *a, vg_buf *out)
{
    vg_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "0");   /* no user has id 0: the probe opens nothing */
    snprintf(c.name, sizeof c.name, KEY_PROBE_NAME);
    snprintf(c.role, sizeof c.role, "none");
    vg_auth_random_token(c.jti, sizeof c.jti, 16);
    c.iat = now_s(a);
    c.exp = c.iat + 10 * 366 * 86400;
    return vg_jwt_sign(a->jwt, &c, out);
}


int
vg_auth_key_probe_check(vg_auth *a, const char *tok, size_t n)
{
    vg_jwt_claims c;
    int rc = vg_jwt_verify(a->jwt, tok, n, now_s(a), &c);
    return rc == 0 && strcmp(c.name, KEY_PROBE_NAME) != 0 ? VG_JWT_ECLAIMS : rc;
}

/* ---- tokens out -------------------------------------------------------------- */

/* Writes the token answer for user u with a new access token in session `family`. */
static int
write_tokens(vg_auth *a, vg_buf *out, const vg_user *u, const uint8_t family[VG_DB_FAMILY], const char *refresh)
{
    const vg_config *cfg = vg_server_config(a->srv);
    vg_jwt_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "%llu", (unsigned long long)u->id);
    snprintf(c.name, sizeof c.name, "%s", u->name);
    snprintf(c.role, sizeof c.role, "%s", vg_role_name(u->role));
    vg_hex_encode(family, VG_DB_FAMILY, c.sid);
    vg_auth_random_token(c.jti, sizeof c.jti, 16);
    c.iat = now_s(a);
    c.exp = c.iat + (int64_t)cfg->access_ttl;
    vg_buf tok;
    vg_buf_init(&tok);
    if (vg_jwt_sign(a->jwt, &c, &tok) != 0) {
        vg_buf_release(&tok);
        return -1;
    }
    vg_jsonw w;
    vg_jsonw_init(&w, out);
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "access_token");
    vg_jsonw_str(&w, tok.data, tok.len);
    vg_jsonw_kstr(&w, "token_type", "Bearer");
    vg_jsonw_kint(&w, "expires_in", (int64_t)cfg->access_ttl);
    vg_jsonw_kstr(&w, "refresh_token", refresh);
    vg_jsonw_kint(&w, "refresh_expires_in", (int64_t)cfg->refresh_ttl);
    /* only PUT /v1/users/{id} with a new password works until it is changed */
    vg_jsonw_kbool(&w, "must_change_password", u->must_change);
    vg_jsonw_kobj(&w, "user");
    vg_jsonw_kuint(&w, "id", u->id);
    vg_jsonw_kstr(&w, "name", u->name);
    vg_jsonw_kstr(&w, "role", vg_role_name(u->role));
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(out, '\n');
    vg_buf_release(&tok);
    return 0;
}

/* ---- login and refresh: a session's tokens ------------------------------------------ */

/* A login session being opened (login) or renewed (refresh) for a request. */
typedef struct session {
    vg_auth *a;
    vg_req *r;
    vg_user u;                         /* its user (login: when known) */
    int known;                         /* login: the user exists and is enabled */
    char account[VG_DB_EMAIL_MAX + 1]; /* login: the lower-cased login (logs); refresh: "" */
    char limit_key[VG_RATELIMIT_KEY_MAX]; /* login: its account-and-address bucket (login_key()) */
    size_t limit_n;
    char refresh[64];                  /* the new refresh token */
    uint8_t family[VG_DB_FAMILY];      /* the session */
} session;


static session *
session_new(vg_auth *a, vg_req *r)
{
    session *s = vg_xcalloc(1, sizeof *s);
    s->a = a;
    s->r = r;
    return s;
}


/* Ends s with a store or hasher failure (a store error "what: reason"). */
static void
session_fail(session *s, int status, const char *what)
{
    vg_auth_store_error(s->r, status, what);
    free(s);
}


/* Answers s with its new tokens (a login is logged), or 500 when they cannot be signed; frees s. */
static void
session_answer(session *s)
{
    vg_buf out;
    vg_buf_init(&out);
    if (write_tokens(s->a, &out, &s->u, s->family, s->refresh) != 0) {
        vg_req_error(s->r, 500, "internal", "cannot sign the access token");
    } else {
        if (s->account[0])
            vg_info("auth", "login of '%s' (id %llu) from %s", s->u.name, (unsigned long long)s->u.id,
                    vg_req_peer(s->r));
        vg_req_respond_buf(s->r, 200, "application/json", &out);
    }
    vg_buf_release(&out);
    free(s);
}


static void
login_stored(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    if (status != 0)
        session_fail(ud, status, "cannot open a session");
    else
        session_answer(ud);
}


static void
login_verified(int status, int ok, void *ud)
{
    session *l = ud;
    vg_auth *a = l->a;
    if (status != 0) {
        session_fail(l, status, "cannot check the password");
        return;
    }
    if (!ok || !l->known) {
        vg_warn("auth", "failed login for '%s' from %s", l->account, vg_req_peer(l->r));
        vg_req_error(l->r, 401, "invalid_credentials", "wrong user name or password");
        free(l);
        return;
    }
    /* a successful login does not count against the account */
    vg_ratelimit_give(a->rl[RL_LOGIN], l->limit_key, l->limit_n, 1);
    uint8_t h[32];
    if (getrandom(l->family, sizeof l->family, 0) != sizeof l->family)
        abort();
    new_refresh_token(l->refresh, sizeof l->refresh, h);
    int64_t now = now_s(a);
    int rc = vg_store_session_create(a->store, h, l->u.id, l->family,
                                     now + (int64_t)vg_server_config(a->srv)->refresh_ttl, now, login_stored, l);
    if (rc != 0)
        session_fail(l, rc, "cannot open a session");
}


/*
 * The bucket of l's account limit: the account (by id, so that its name
 * and its email share one budget) from this address. Keyed on the address
 * too, failures from one place never lock the user out everywhere; the
 * per-address limit bounds what one address tries over all accounts. An
 * unknown login is keyed on its text, so that the limit behaves the same
 * whether the name exists or not.
 */
static void
login_key(session *l, int exists, const char *ip, size_t ipn)
{
    int n;
    if (exists)
        n = snprintf(l->limit_key, sizeof l->limit_key, "u%llu %.*s", (unsigned long long)l->u.id, (int)ipn, ip);
    else   /* a long login is cut at the key's size: it only merges its tail with others from that address */
        n = snprintf(l->limit_key, sizeof l->limit_key, "n%.*s %s", (int)ipn, ip, l->account);
    l->limit_n = n < 0 ? 0 : (size_t)n >= sizeof l->limit_key ? sizeof l->limit_key - 1 : (size_t)n;
}


static void
route_login(vg_req *r, void *ud)
{
    vg_auth *a = ud;
    json_t *j = vg_auth_json_body(r);
    if (!j)
        return;
    json_t *name = json_object_get(j, "username");
    if (!name)
        name = json_object_get(j, "email");
    if (!name)
        name = json_object_get(j, "login");
    json_t *pw = json_object_get(j, "password");
    if (!json_is_string(name) || !json_is_string(pw) || json_string_length(name) == 0 ||
        json_string_length(name) > VG_DB_EMAIL_MAX || json_string_length(pw) > VG_STORE_MAX_PASSWORD) {
        json_decref(j);
        vg_req_error(r, 422, "invalid", "the body needs \"username\" (or \"email\") and \"password\" strings");
        return;
    }
    session *l = session_new(a, r);
    size_t n = json_string_length(name);
    for (size_t i = 0; i < n; i++)
        l->account[i] = (char)tolower((unsigned char)json_string_value(name)[i]);
    double now = ev_now(vg_server_loop(a->srv));
    const char *ip;
    size_t ipn = vg_auth_peer_ip(r, &ip);
    int rc = 0;
    double wait = vg_ratelimit_take(limiter(a, RL_LOGIN_IP), ip, ipn, 1, now);
    if (wait <= 0) {
        rc = vg_store_user_find(a->store, json_string_value(name), &l->u);
        l->known = rc == 0 && !l->u.disabled;
        login_key(l, rc == 0, ip, ipn);
        if (rc == 0 || rc == VG_E_NOTFOUND)
            wait = vg_ratelimit_take(limiter(a, RL_LOGIN), l->limit_key, l->limit_n, 1, now);
    }
    if (wait > 0) {
        vg_series_add(a->s_limited, 1);
        vg_warn("auth", "login attempts for '%s' from %s are rate-limited", l->account, vg_req_peer(r));
        vg_auth_too_many(r, wait, "login attempts");
        json_decref(j);
        free(l);
        return;
    }
    if (rc != 0 && rc != VG_E_NOTFOUND) {
        json_decref(j);
        session_fail(l, rc, "cannot read users");
        return;
    }
    /* unknown users cost a hash too, so that timing does not tell which names exist */
    const char *against = l->known ? l->u.hash : a->dummy_hash[0] ? a->dummy_hash : "$argon2id$v=19$m=65536,t=3,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    rc = vg_store_verify(a->store, against, json_string_value(pw), json_string_length(pw), login_verified, l);
    json_decref(j);
    if (rc != 0)
        session_fail(l, rc, "cannot check the password");
}


/* The store's answer to a refresh: [uid, family] of the renewed session. */
static void
refresh_done(int status, vg_mpr *rest, void *ud)
{
    session *s = ud;
    uint64_t uid = 0;
    const uint8_t *fam = NULL;
    size_t fn = 0;
    if (status == 0 && (vg_mpr_u64(rest, &uid) < 0 || vg_mpr_bin(rest, &fam, &fn) < 0 || fn != VG_DB_FAMILY))
        status = VG_E_STORE_PROTO;
    if (status == 0) {
        if (vg_store_user_get(s->a->store, uid, &s->u) == 0 && !s->u.disabled) {
            memcpy(s->family, fam, VG_DB_FAMILY);
            session_answer(s);
            return;
        }
        vg_req_error(s->r, 401, "invalid_token", "the user no longer exists or is disabled");
    } else if (status == VG_E_TOKEN_REUSED) {
        vg_warn("auth", "refresh token reused from %s: session of user %llu revoked", vg_req_peer(s->r),
                (unsigned long long)uid);
        vg_req_error(s->r, 401, "token_reused", "this refresh token was already used: the session is revoked, log in again");
    } else if (status == VG_E_NOTFOUND || status == VG_E_TOKEN_EXPIRED || status == VG_E_TOKEN_REVOKED) {
        vg_req_error(s->r, 401, "invalid_token", "refresh token %s",
                     status == VG_E_NOTFOUND ? "unknown" : status == VG_E_TOKEN_EXPIRED ? "expired" : "revoked");
    } else {
        vg_auth_store_error(s->r, status, "cannot refresh");
    }
    free(s);
}

/* ---- refresh and logout ------------------------------------------------------------- */

/* The body's refresh token; -1 after answering 422. */
static int
refresh_token_of(vg_req *r, json_t *j, const char **tok)
{
    json_t *t = json_object_get(j, "refresh_token");
    if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 128) {
        vg_req_error(r, 422, "invalid", "the body needs \"refresh_token\"");
        return -1;
    }
    *tok = json_string_value(t);
    return 0;
}


static void
route_refresh(vg_req *r, void *ud)
{
    vg_auth *a = ud;
    json_t *j = vg_auth_json_body(r);
    const char *tok;
    if (!j)
        return;
    if (refresh_token_of(r, j, &tok) < 0) {
        json_decref(j);
        return;
    }
    session *s = session_new(a, r);
    uint8_t oh[32], nh[32];
    sha256(tok, strlen(tok), oh);
    json_decref(j);
    new_refresh_token(s->refresh, sizeof s->refresh, nh);
    int64_t now = now_s(a);
    const vg_config *cfg = vg_server_config(a->srv);
    int rc = vg_store_session_rotate(a->store, oh, nh, now, now + (int64_t)cfg->refresh_ttl,
                                     (int64_t)cfg->refresh_grace, refresh_done, s);
    if (rc != 0)
        session_fail(s, rc, "cannot refresh");
}


static void
logout_done(int status, vg_mpr *rest, void *ud)
{
    vg_req *r = ud;
    (void)rest;
    if (status != 0 && status != VG_E_NOTFOUND)
        vg_auth_store_error(r, status, "cannot log out");
    else
        vg_req_respond(r, 204, NULL, NULL, 0);
}


static void
route_logout(vg_req *r, void *ud)
{
    vg_auth *a = ud;
    vg_principal p;
    uint64_t uid = 0;
    uint8_t fam[VG_DB_FAMILY];
    int found = 0;
    vg_str body = vg_req_body(r);
    if (body.n > 0) {
        json_t *j = vg_auth_json_body(r);
        const char *tok;
        if (!j)
            return;
        if (json_object_get(j, "refresh_token")) {
            if (refresh_token_of(r, j, &tok) < 0) {
                json_decref(j);
                return;
            }
            uint8_t h[32];
            sha256(tok, strlen(tok), h);
            found = vg_store_session_lookup(a->store, h, &uid, fam) == 0;
            if (!found) {
                json_decref(j);
                vg_req_error(r, 401, "invalid_token", "unknown refresh token");
                return;
            }
        }
        json_decref(j);
    }
    if (!found && vg_auth_principal(r, &p) && p.has_family) {
        uid = p.uid;
        memcpy(fam, p.family, VG_DB_FAMILY);
        found = 1;
    }
    if (!found) {
        vg_req_add_header(r, "WWW-Authenticate", "Bearer");
        vg_req_error(r, 401, "unauthorized", "send the refresh token, or the access token of the session");
        return;
    }
    int rc = vg_store_family_revoke(a->store, uid, fam, logout_done, r);
    if (rc != 0)
        vg_auth_store_error(r, rc, "cannot log out");
}


static void
route_me(vg_req *r, void *ud)
{
    (void)ud;
    vg_principal p;
    vg_auth_principal(r, &p);
    vg_reply out;
    vg_reply_init(&out);
    vg_jsonw_obj(&out.w);
    vg_jsonw_kuint(&out.w, "id", p.uid);
    vg_jsonw_kstr(&out.w, "name", p.name);
    vg_jsonw_kstr(&out.w, "role", vg_role_name(p.role));
    vg_jsonw_kstr(&out.w, "via", p.kid ? "api_key" : "token");
    vg_jsonw_kbool(&out.w, "must_change_password", p.must_change);
    if (p.kid) {
        vg_jsonw_kuint(&out.w, "api_key_id", p.kid);
    }
    vg_jsonw_obj_end(&out.w);
    vg_reply_send(&out, r, 200);
}

/* ---- set-up ----------------------------------------------------------------------------- */

/* Reads DATA/jwt.secret, creating it (0600) on first start. Start-up only. */
static int
load_secret(const vg_config *cfg, uint8_t *out, size_t *len, char *err, size_t errlen)
{
    char path[1100];
    if (cfg->jwt_secret_file[0])
        snprintf(path, sizeof path, "%s", cfg->jwt_secret_file);
    else
        snprintf(path, sizeof path, "%s/jwt.secret", cfg->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !cfg->jwt_secret_file[0]) {
        uint8_t raw[48];
        if (getrandom(raw, sizeof raw, 0) != sizeof raw)
            abort();
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (w < 0 || write(w, raw, sizeof raw) != (ssize_t)sizeof raw || fsync(w) != 0 || close(w) != 0 ||
            rename(tmp, path) != 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            if (w >= 0)
                close(w);
            return -1;
        }
        vg_info("auth", "generated the token secret %s", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        vg_warn("auth", "%s is readable by other users (chmod 600 it)", path);
    ssize_t n = read(fd, out, 256);
    close(fd);
    if (n < 32) {
        snprintf(err, errlen, "%s: the secret must hold at least 32 bytes", path);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}


static void
dummy_done(int status, const char *encoded, void *ud)
{
    vg_auth *a = ud;
    if (status == 0)
        snprintf(a->dummy_hash, sizeof a->dummy_hash, "%s", encoded);
}


vg_auth *
vg_auth_create(vg_http *http, vg_store *store, char *err, size_t errlen)
{
    vg_server *srv = vg_http_server(http);
    const vg_config *cfg = vg_server_config(srv);
    vg_auth *a = vg_xcalloc(1, sizeof *a);
    a->http = http;
    a->srv = srv;
    a->store = store;
    vg_jwt_options jo = {
        .alg = vg_jwt_alg_parse(cfg->jwt_alg),
        .private_key = cfg->jwt_private_key,
        .public_key = cfg->jwt_public_key,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway = cfg->jwt_leeway,
    };
    uint8_t secret[256];
    size_t slen = 0;
    if (jo.alg == VG_JWT_HS256) {
        if (load_secret(cfg, secret, &slen, err, errlen) < 0) {
            free(a);
            return NULL;
        }
        jo.secret = secret;
        jo.secret_len = slen;
    }
    int rc = vg_jwt_create(&jo, &a->jwt, err, errlen);
    memset(secret, 0, sizeof secret);
    if (rc != 0) {
        free(a);
        return NULL;
    }
    for (int i = 0; i < RL_COUNT; i++) {
        double rate, burst;
        limit_of(cfg, i, &rate, &burst);
        a->rl[i] = vg_ratelimit_create(rate, burst, 65536);
    }
    a->m_auth = vg_metrics_register("vigia_auth_requests_total", "requests by authentication outcome", VG_COUNTER,
                                    "result", NULL, 0);
    const char *v1[] = { "ok" }, *v2[] = { "unauthorized" }, *v3[] = { "forbidden" }, *v4[] = { "rate_limited" };
    a->s_ok = vg_metrics_series(a->m_auth, v1);
    a->s_denied = vg_metrics_series(a->m_auth, v2);
    a->s_forbidden = vg_metrics_series(a->m_auth, v3);
    a->s_limited = vg_metrics_series(a->m_auth, v4);

    vg_http_route(http, VG_M_POST, "/v1/auth/login", route_login, a, 8192, VG_ACCESS_OPEN | VG_ACCESS_FIRST_PASSWORD);
    vg_http_route(http, VG_M_POST, "/v1/auth/refresh", route_refresh, a, 8192,
                  VG_ACCESS_OPEN | VG_ACCESS_FIRST_PASSWORD);
    vg_http_route(http, VG_M_POST, "/v1/auth/logout", route_logout, a, 8192, VG_ACCESS_OPEN | VG_ACCESS_FIRST_PASSWORD);
    vg_http_route(http, VG_M_GET, "/v1/auth/me", route_me, a, 0, VG_ACCESS_VIEWER | VG_ACCESS_FIRST_PASSWORD);
    vg_http_add_filter(http, filter, a);
    if (vg_store_hash(store, "not a password", 14, dummy_done, a) != 0)
        vg_warn("auth", "cannot prepare the dummy hash");
    return a;
}


void
vg_auth_destroy(vg_auth *a)
{
    if (!a)
        return;
    vg_jwt_destroy(a->jwt);
    for (int i = 0; i < RL_COUNT; i++)
        vg_ratelimit_destroy(a->rl[i]);
    free(a);
}

/* ---- the first admin ----------------------------------------------------------------------- */

#define FIRST_ADMIN "admin"


/* The first admin on its way: the password is shown only once the user is stored, so it works when read. */
typedef struct boot {
    vg_auth *a;
    FILE *out;
    char pw[32];
} boot;


static void
boot_done(boot *b)
{
    memset(b->pw, 0, sizeof b->pw);
    free(b);
}


static void
boot_created(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    boot *b = ud;
    if (status == 0) {
        vg_info("auth", "created the first admin '%s'", FIRST_ADMIN);
        fprintf(b->out, "vigia: empty database: created user '" FIRST_ADMIN "' with the one-time password %s\n"
                        "vigia: log in and change it (PUT /v1/users/1 {\"current_password\": ..., \"password\": "
                        "...}); nothing else works until then, and it is not shown again\n", b->pw);
        fflush(b->out);
    } else if (status == VG_E_CONFLICT) {
        vg_info("auth", "an admin named '%s' was created meanwhile (vigia user add): no one-time password", FIRST_ADMIN);
    } else {
        vg_error("auth", "cannot create the first admin: %s", vg_err_str(status));
    }
    boot_done(b);
}


static void
boot_hashed(int status, const char *encoded, void *ud)
{
    boot *b = ud;
    if (status != 0) {
        vg_error("auth", "cannot hash the first admin's password: %s", vg_err_str(status));
        boot_done(b);
        return;
    }
    vg_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", FIRST_ADMIN);
    u.role = VG_ROLE_ADMIN;
    snprintf(u.hash, sizeof u.hash, "%s", encoded);
    u.created = now_s(b->a);
    u.must_change = 1;   /* the password went to a terminal or a log: it is changed before anything else */
    int rc = vg_store_user_create(b->a->store, &u, boot_created, b);
    if (rc != 0) {
        vg_error("auth", "cannot create the first admin: %s", vg_err_str(rc));
        boot_done(b);
    }
}


int
vg_auth_bootstrap(vg_auth *a, FILE *out)
{
    size_t n = 0;
    if (vg_store_user_count(a->store, &n) != 0)
        return -1;
    if (n > 0)
        return 0;
    boot *b = vg_xcalloc(1, sizeof *b);
    b->a = a;
    b->out = out;
    vg_auth_random_token(b->pw, sizeof b->pw, 15);
    if (vg_store_hash(a->store, b->pw, strlen(b->pw), boot_hashed, b) != 0) {
        boot_done(b);
        return -1;
    }
    return 1;
}
