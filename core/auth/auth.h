/*
 * auth: who is calling, and may they. Owns the access-token keys (JWT),
 * the login, refresh and logout routes, and one request filter (http.h)
 * that runs before every routed handler:
 *
 *   1. the per-address token bucket (limits.rate_ip), except /health,
 *      /ready and /metrics;
 *   2. authentication: "Authorization: Bearer <JWT or API key>" or
 *      "X-API-Key: <key>" (WebSocket routes also take ?access_token=,
 *      DeepStack's routes the form field api_key, an empty one being none);
 *      a presented credential that fails is 401 even on open routes;
 *   3. the route's access (VG_ACCESS_* below, declared where the route is
 *      registered with vg_http_route): 401 without credentials, 403 below
 *      the role;
 *   4. a user who must change their password first (the one-time password
 *      of the first admin) gets 403 "password_change_required" on every
 *      route but those marked VG_ACCESS_FIRST_PASSWORD;
 *   5. the per-user token bucket (limits.rate_user).
 *
 * The caller it establishes lives on the request (vg_req_identity), so
 * handlers read it with vg_auth_principal() without checking it again.
 *
 * Access tokens are checked against the store on every request (the user
 * exists, is enabled, and the token's login session is not revoked), so
 * logout, a new password, a role change or a deleted user take effect at
 * once. Roles: viewer < operator < admin (core/store/records.h).
 *
 *   POST /v1/auth/login    {"username"|"email", "password"} -> tokens
 *                          (limited per address, and per account and address:
 *                          failures elsewhere never lock the real user out)
 *   POST /v1/auth/refresh  {"refresh_token"} -> new tokens (the old refresh token is spent)
 *   POST /v1/auth/logout   {"refresh_token"} or a Bearer access token -> 204
 *   GET  /v1/auth/me       the caller
 */
#ifndef VG_AUTH_H
#define VG_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "http/http.h"
#include "store/records.h"

struct vg_store;
typedef struct vg_auth vg_auth;

/*
 * Who may call a route: the `access` of vg_http_route, one of the roles
 * below, optionally with flags.
 */
enum vg_access {
    VG_ACCESS_OPEN = 1,              /* anyone */
    VG_ACCESS_VIEWER = 2,            /* the viewer role or above */
    VG_ACCESS_OPERATOR = 3,
    VG_ACCESS_ADMIN = 4,
    VG_ACCESS_DETECT = 5,            /* operator, or anyone with auth.open_detect */
    VG_ACCESS_READ = 6,              /* viewer, or anyone with auth.open_detect */
    VG_ACCESS_ROLES = 0xff,          /* mask of the above */
    VG_ACCESS_NO_LIMIT = 0x100,      /* exempt from the rate limits (probes) */
    VG_ACCESS_QUERY_TOKEN = 0x200,   /* also takes ?token= / ?access_token= (WebSocket, <img>) */
    VG_ACCESS_FIRST_PASSWORD = 0x400,/* open to a user who must change their password first */
    VG_ACCESS_FORM_KEY = 0x800       /* also takes the body's form field api_key (DeepStack's clients):
                                        without a header credential the body is read, within the
                                        route's limit, before the credential is checked */
};

/*
 * An access token younger than this (seconds since it was issued, at login
 * or refresh) may create an API key by itself; an older one, or an API key,
 * must send the caller's password with the request.
 */
#define VG_AUTH_FRESH_TOKEN_S 300

typedef struct vg_principal {
    uint64_t uid;                      /* 0: anonymous */
    char name[VG_DB_NAME_MAX + 1];
    int role;                          /* VG_ROLE_*; VG_ROLE_NONE when anonymous */
    uint64_t kid;                      /* the API key used, or 0 */
    int scoped;                        /* that key's role is below its user's: it acts for less than the user */
    int has_family;                    /* an access token's login session */
    uint8_t family[VG_DB_FAMILY];
    int64_t issued;                    /* an access token's iat (unix seconds); 0 for an API key */
    int must_change;                   /* the user must change their password before anything else */
} vg_principal;

/* 1 when p is an access token issued less than VG_AUTH_FRESH_TOKEN_S before `now`. */
int vg_auth_fresh(const vg_principal *p, int64_t now);

/* Loads or creates the token keys, registers the routes and the filter on http. NULL with err. */
vg_auth *vg_auth_create(vg_http *http, struct vg_store *store, char *err, size_t errlen);
void vg_auth_destroy(vg_auth *a);

/* The caller of r, as the filter established it: 1 with *p, or 0 when anonymous (no auth: always 0). */
int vg_auth_principal(const vg_req *r, vg_principal *p);
/*
 * Checks a credential (JWT or API key) wherever it came from. 0 with *p,
 * or an HTTP status (401) with a reason in why.
 */
int vg_auth_check(vg_auth *a, const char *cred, size_t n, vg_principal *p, char *why, size_t whylen);

/*
 * On an empty database: creates user "admin" with a random password and
 * prints it once on `out`, once the user is stored (hashing and storing
 * finish in the background, on the loop), so the password works when it
 * is read: `out` must stay open until then.
 * Returns 1 when it did, 0 when users exist, -1 on error.
 */
int vg_auth_bootstrap(vg_auth *a, FILE *out);

/*
 * Nodes that share state must share the signing key: a probe is a token
 * naming no user (sub 0) signed with this node's key, that another node
 * checks with its own (docs/cluster.md, "Shared state"). Probe: 0 or a
 * vg_jwt_sign error; check: 0 when it verifies here, else a VG_JWT_E* code.
 */
int vg_auth_key_probe(vg_auth *a, vg_buf *out);
int vg_auth_key_probe_check(vg_auth *a, const char *tok, size_t n);

/* Helpers shared by the store's HTTP modules. */
/* Parses a JSON object body; NULL after answering 400. */
struct json_t;
struct json_t *vg_auth_json_body(vg_req *r);
/* Answers a store error with its status and code. */
void vg_auth_store_error(vg_req *r, int err, const char *what);
/* A random token: n random bytes as base64url. */
void vg_auth_random_token(char *out, size_t cap, size_t n);
/* The client address of r without its port: *ip points into r, the length is returned. */
size_t vg_auth_peer_ip(vg_req *r, const char **ip);
/* Answers 429 "too many <what>" with Retry-After: the `wait` seconds rounded up. */
void vg_auth_too_many(vg_req *r, double wait, const char *what);

#endif
