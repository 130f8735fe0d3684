/*
 * The account attacks of issue 15 on the real binary, each as it was found
 * and as it must now be refused:
 *
 *   1. a viewer-scoped API key of an admin minted an admin key (201) and
 *      changed its owner's email, listed and revoked its keys;
 *   5. an access token alone (stolen, 600 s old) minted an API key, and the
 *      key outlived the owner's password change; an admin changed their own
 *      password without the current one;
 *   6. 4 failed logins from one address made the real user's correct
 *      password answer 429 from every other address, and the name and the
 *      email of one account had separate budgets;
 *  12. "aaaaaaaa", 8 spaces and a password equal to the user name were
 *      accepted, and the one-time password of the first admin never had to
 *      be changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auth/jwt.h"
#include "base/buf.h"
#include "support.h"
#include "api_support.h"


/* Creates an API key with this body; its secret (malloc'd) and, when kid is not NULL, its id. */
static char *
make_key(int port, const char *path, const char *token, const char *body, int *kid)
{
    ts_resp r;
    int st = as_call(port, "POST", path, token, body, &r);
    if (st != 201)
        fail_msg("POST %s %s: %d %s", path, body, st, r.body);
    json_t *j = as_body_json(&r);
    char *key = strdup(json_string_value(json_object_get(j, "key")));
    if (kid)
        *kid = (int)json_integer_value(json_object_get(json_object_get(j, "api_key"), "id"));
    json_decref(j);
    ts_resp_free(&r);
    return key;
}


static void
viewer_scoped_key_of_an_admin_mints_no_admin_key(void **state)
{
    (void)state;
    ts_server s;
    as_spawn_with_admin(&s, NULL, NULL);
    int p = s.port;
    char *admin = as_login(p, "root", ADMIN_PW, NULL);
    int wall_id;
    char *wall = make_key(p, "/v1/users/1/apikeys", admin, "{\"name\":\"wall\",\"role\":\"viewer\"}", &wall_id);
    as_expect(p, "GET", "/v1/auth/me", wall, NULL, 200, "\"viewer\"");
    /* the attack: the viewer key, with the owner's password even, asks for an admin key (was 201) */
    as_expect(p, "POST", "/v1/users/1/apikeys", wall, "{\"name\":\"x\",\"role\":\"admin\",\"password\":\"" ADMIN_PW "\"}",
              403, "insufficient_scope");
    as_expect(p, "POST", "/v1/users/1/apikeys", wall, "{\"name\":\"x\",\"role\":\"viewer\",\"password\":\"" ADMIN_PW "\"}",
              403, "insufficient_scope");
    /* nor does it manage the admin's account (were 200, 200, 204) */
    as_expect(p, "PUT", "/v1/users/1", wall, "{\"email\":\"evil@example.com\"}", 403, "insufficient_scope");
    as_expect(p, "GET", "/v1/users/1/apikeys", wall, NULL, 403, "insufficient_scope");
    char path[96];
    snprintf(path, sizeof path, "/v1/users/1/apikeys/%d", wall_id);
    as_expect(p, "DELETE", path, wall, NULL, 403, "insufficient_scope");
    /* it still reads what a viewer reads, its own account included */
    as_expect(p, "GET", "/v1/users/1", wall, NULL, 200, "\"root\"");
    as_expect(p, "GET", "/v1/detections", wall, NULL, 200, NULL);
    as_expect(p, "GET", "/v1/users", wall, NULL, 403, "forbidden");
    as_expect(p, "GET", "/v1/users/1/apikeys", admin, NULL, 200, "\"revoked\":false");

    /* a key with its user's full role acts for the user, and still makes nothing above it */
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"opal\",\"password\":\"operator-pass\",\"role\":\"operator\"}", 201, NULL);
    char *opal = as_login(p, "opal", "operator-pass", NULL);
    char *full = make_key(p, "/v1/users/2/apikeys", opal, "{\"name\":\"cam\"}", NULL);
    as_expect(p, "GET", "/v1/auth/me", full, NULL, 200, "\"operator\"");
    as_expect(p, "POST", "/v1/users/2/apikeys", full, "{\"name\":\"up\",\"role\":\"admin\",\"password\":\"operator-pass\"}",
              422, "invalid");
    as_expect(p, "POST", "/v1/users/2/apikeys", full, "{\"name\":\"cam2\",\"password\":\"operator-pass\"}", 201, "\"operator\"");
    as_expect(p, "GET", "/v1/users/2/apikeys", full, NULL, 200, "cam2");
    free(full);
    free(opal);
    free(wall);
    free(admin);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


/* The same access token as if it had been issued `age` seconds earlier, signed with the server's secret. */
static char *
older_token(const char *data, const char *tok, int64_t age)
{
    char path[400];
    snprintf(path, sizeof path, "%s/jwt.secret", data);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t secret[256];
    size_t n = fread(secret, 1, sizeof secret, f);
    fclose(f);
    vg_jwt_options o = { .alg = VG_JWT_HS256, .secret = secret, .secret_len = n, .issuer = "vigia",
                         .audience = "vigia", .leeway = 30 };
    vg_jwt *j = NULL;
    char err[256];
    assert_int_equal(vg_jwt_create(&o, &j, err, sizeof err), 0);
    vg_jwt_claims c;
    assert_int_equal(vg_jwt_verify(j, tok, strlen(tok), (int64_t)time(NULL), &c), 0);
    c.nbf = c.iat - age;
    c.iat -= age;
    vg_buf out;
    vg_buf_init(&out);
    assert_int_equal(vg_jwt_sign(j, &c, &out), 0);
    char *old = strdup(vg_buf_cstr(&out));
    vg_buf_release(&out);
    vg_jwt_destroy(j);
    return old;
}


static void
token_issued_600s_ago_mints_no_key_and_a_new_password_revokes_keys(void **state)
{
    (void)state;
    ts_server s;
    char data[300];
    const char *extra[] = { "--auth-login-attempts", "5", NULL };
    as_spawn_with_admin(&s, extra, data);
    int p = s.port;
    char *admin = as_login(p, "root", ADMIN_PW, NULL);
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"vic\",\"password\":\"viewer-pass\"}", 201, NULL);
    char *vic = as_login(p, "vic", "viewer-pass", NULL);
    char *stolen = older_token(data, vic, 600);
    as_expect(p, "GET", "/v1/auth/me", stolen, NULL, 200, "\"vic\"");   /* a valid token, 10 minutes old */
    /* the attack: the old token alone mints a key that outlives it (was 201) */
    ts_resp r;
    assert_int_equal(as_call(p, "POST", "/v1/users/2/apikeys", stolen, "{\"name\":\"backdoor\"}", &r), 401);
    assert_non_null(strstr(r.body, "reauth_required"));
    assert_non_null(strstr(ts_header(&r, "WWW-Authenticate"), "insufficient_user_authentication"));
    ts_resp_free(&r);
    as_expect(p, "POST", "/v1/users/2/apikeys", stolen, "{\"name\":\"backdoor\",\"password\":\"guessed-pass\"}", 403, "forbidden");
    /* the user, who knows the password, may; so may a token issued a moment ago */
    char *k1 = make_key(p, "/v1/users/2/apikeys", stolen, "{\"name\":\"cam-1\",\"password\":\"viewer-pass\"}", NULL);
    char *k2 = make_key(p, "/v1/users/2/apikeys", vic, "{\"name\":\"cam-2\"}", NULL);
    /* an admin making a key for someone else with an old token proves it with the admin's password */
    char *admin_old = older_token(data, admin, 600);
    as_expect(p, "POST", "/v1/users/2/apikeys", admin_old, "{\"name\":\"cam-3\"}", 401, "reauth_required");
    as_expect(p, "POST", "/v1/users/2/apikeys", admin_old, "{\"name\":\"cam-3\",\"password\":\"viewer-pass\"}", 403, "forbidden");
    char *k3 = make_key(p, "/v1/users/2/apikeys", admin_old, "{\"name\":\"cam-3\",\"password\":\"" ADMIN_PW "\"}", NULL);
    /* an API key proves nothing about a sign-in: it needs the password too */
    as_expect(p, "POST", "/v1/users/2/apikeys", k1, "{\"name\":\"cam-4\"}", 401, "reauth_required");
    as_expect(p, "GET", "/v1/auth/me", k1, NULL, 200, NULL);
    as_expect(p, "GET", "/v1/auth/me", k3, NULL, 200, NULL);
    /* nor is the password check a way around the login limit (5 here): the thief guessing from 127.0.0.7 */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(as_call_from("127.0.0.7", p, "POST", "/v1/users/2/apikeys", stolen,
                                      "{\"name\":\"x\",\"password\":\"guess-number-n\"}", &r), 403);
        ts_resp_free(&r);
    }
    assert_int_equal(as_call_from("127.0.0.7", p, "POST", "/v1/users/2/apikeys", stolen,
                                  "{\"name\":\"x\",\"password\":\"viewer-pass\"}", &r), 429);
    assert_non_null(ts_header(&r, "Retry-After"));
    ts_resp_free(&r);

    /* a new password revokes every key of the user (they kept working before) */
    as_expect(p, "PUT", "/v1/users/2", vic, "{\"password\":\"new-viewer-pass\",\"current_password\":\"viewer-pass\"}", 200, NULL);
    as_expect(p, "GET", "/v1/auth/me", k1, NULL, 401, "invalid_token");
    as_expect(p, "GET", "/v1/auth/me", k2, NULL, 401, "invalid_token");
    as_expect(p, "GET", "/v1/auth/me", k3, NULL, 401, "invalid_token");
    assert_int_equal(as_call(p, "GET", "/v1/users/2/apikeys", admin, NULL, &r), 200);
    assert_null(strstr(r.body, "\"revoked\":false"));
    assert_non_null(strstr(r.body, "\"revoked\":true"));
    ts_resp_free(&r);

    /* an admin changing their own password gives the current one (was 200 without) */
    as_expect(p, "PUT", "/v1/users/1", admin, "{\"password\":\"a new admin secret\"}", 403, "current_password");
    as_expect(p, "PUT", "/v1/users/1", admin, "{\"password\":\"a new admin secret\",\"current_password\":\"wrong one\"}",
              403, "forbidden");
    as_expect(p, "PUT", "/v1/users/1", admin,
              "{\"password\":\"a new admin secret\",\"current_password\":\"" ADMIN_PW "\"}", 200, NULL);
    /* ... and resets another user's without it */
    char *admin2 = as_login(p, "root", "a new admin secret", NULL);
    as_expect(p, "PUT", "/v1/users/2", admin2, "{\"password\":\"reset-by-admin\"}", 200, NULL);
    free(as_login(p, "vic", "reset-by-admin", NULL));
    free(admin2);
    free(k1);
    free(k2);
    free(k3);
    free(admin_old);
    free(stolen);
    free(vic);
    free(admin);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static int
login_from(const char *ip, int port, const char *user, const char *pw)
{
    char body[256];
    ts_resp r;
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    int st = as_call_from(ip, port, "POST", "/v1/auth/login", NULL, body, &r);
    if (st == 429 && !ts_header(&r, "Retry-After"))
        fail_msg("429 without Retry-After: %s", r.body);
    ts_resp_free(&r);
    return st;
}


static void
four_failed_logins_from_one_address_lock_no_other_address_out(void **state)
{
    (void)state;
    char data[300];
    char dir[256];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "echo '" ADMIN_PW "' | '%s' user add --admin --email root@example.com --data '%s' "
             "--auth-argon2-memory 1M root >/dev/null", getenv("VIGIA_BIN"), data);
    assert_int_equal(system(cmd), 0);
    ts_server s;
    const char *args[] = { "--data", data, "--auth-argon2-memory", "1M", "--auth-argon2-iterations", "1",
                           "--auth-login-attempts", "4", "--auth-login-ip-attempts", "12", NULL };
    ts_spawn(&s, args, NULL);
    int p = s.port;
    /* the attacker at 127.0.0.2 spends the account's 4 attempts */
    for (int i = 0; i < 4; i++)
        assert_int_equal(login_from("127.0.0.2", p, "root", "guess"), 401);
    assert_int_equal(login_from("127.0.0.2", p, "root", ADMIN_PW), 429);
    /* the real user at 127.0.0.3 is not locked out (was 429) */
    assert_int_equal(login_from("127.0.0.3", p, "root", ADMIN_PW), 200);
    assert_int_equal(login_from("127.0.0.2", p, "ROOT@example.com", ADMIN_PW), 429);   /* the email is the same account */

    /* name and email share the account's budget: 2 + 2 failures, then 429 (was 200) */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(login_from("127.0.0.4", p, "root", "guess"), 401);
        assert_int_equal(login_from("127.0.0.4", p, "root@example.com", "guess"), 401);
    }
    assert_int_equal(login_from("127.0.0.4", p, "root@example.com", ADMIN_PW), 429);
    /* unknown names are limited alike, so the limit does not tell which names exist */
    for (int i = 0; i < 4; i++)
        assert_int_equal(login_from("127.0.0.5", p, "ghost", "guess"), 401);
    assert_int_equal(login_from("127.0.0.5", p, "ghost", "guess"), 429);
    /* the per-address limit still holds: 12 attempts from 127.0.0.6 on 12 names, the 13th is refused */
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "nobody%d", i);
        assert_int_equal(login_from("127.0.0.6", p, name, "guess"), 401);
    }
    assert_int_equal(login_from("127.0.0.6", p, "root", ADMIN_PW), 429);
    assert_int_equal(login_from("127.0.0.1", p, "root", ADMIN_PW), 200);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
weak_passwords_aaaaaaaa_8_spaces_and_the_name_refused(void **state)
{
    (void)state;
    ts_server s;
    as_spawn_with_admin(&s, NULL, NULL);
    int p = s.port;
    char *admin = as_login(p, "root", ADMIN_PW, NULL);
    static const char *const weak[] = {
        "aaaaaaaa", "        ", "\\t\\t\\t\\t\\t\\t\\t\\t", "operator7", "OPERATOR7", "my-operator7-pw", "password",
        "Password1", "12345678", "qwertyuiop", "Sunshine2024!", "iloveyou",
    };
    char body[256];
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        snprintf(body, sizeof body, "{\"name\":\"operator7\",\"password\":\"%s\"}", weak[i]);
        as_expect(p, "POST", "/v1/users", admin, body, 422, "invalid");   /* each was 201 */
    }
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"operator7\",\"password\":\"seven long words\"}", 201, NULL);
    /* a new password passes the same rules */
    char *op = as_login(p, "operator7", "seven long words", NULL);
    as_expect(p, "PUT", "/v1/users/2", op, "{\"password\":\"bbbbbbbb\",\"current_password\":\"seven long words\"}", 422,
              "repeat");
    as_expect(p, "PUT", "/v1/users/2", admin, "{\"password\":\"Operator7-2024\"}", 422, "user name");
    /* and so does `vigia user add` */
    char dir[256], cmd[1024];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "echo 'aaaaaaaa' | '%s' user add --data '%s/data' --auth-argon2-memory 1M cam 2>/dev/null",
             getenv("VIGIA_BIN"), dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "echo 'cam-cam-cam' | '%s' user add --data '%s/data' --auth-argon2-memory 1M cam 2>/dev/null",
             getenv("VIGIA_BIN"), dir);
    assert_int_not_equal(system(cmd), 0);
    free(op);
    free(admin);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
one_time_admin_password_must_be_changed_first(void **state)
{
    (void)state;
    ts_server s;
    char pw[64];
    as_first_start(&s, pw);
    int p = s.port;
    ts_resp r;
    as_first_admin_login(p, pw, &r);
    json_t *j = as_body_json(&r);
    assert_true(json_is_true(json_object_get(j, "must_change_password")));   /* the login answer says so */
    char *tok = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    ts_resp_free(&r);
    /* nothing but the password change works (each was 200) */
    as_expect(p, "GET", "/v1/users", tok, NULL, 403, "password_change_required");
    as_expect(p, "GET", "/v1/detections", tok, NULL, 403, "password_change_required");
    as_expect(p, "GET", "/v1/users/1", tok, NULL, 403, "password_change_required");
    as_expect(p, "POST", "/v1/users/1/apikeys", tok, "{\"name\":\"k\"}", 403, "password_change_required");
    as_expect(p, "PUT", "/v1/users/1", tok, "{\"email\":\"me@example.com\"}", 403, "password_change_required");
    as_expect(p, "GET", "/v1/auth/me", tok, NULL, 200, "\"must_change_password\":true");
    char body[256];
    snprintf(body, sizeof body, "{\"password\":\"a fresh secret phrase\",\"current_password\":\"%s\"}", pw);
    as_expect(p, "PUT", "/v1/users/1", tok, "{\"password\":\"aaaaaaaa\"}", 422, "invalid");
    as_expect(p, "PUT", "/v1/users/1", tok, "{\"password\":\"a fresh secret phrase\"}", 403, "current_password");
    as_expect(p, "PUT", "/v1/users/1", tok, body, 200, NULL);
    free(tok);
    /* the new password opens everything */
    assert_int_equal(as_call(p, "POST", "/v1/auth/login", NULL,
                             "{\"username\":\"admin\",\"password\":\"a fresh secret phrase\"}", &r), 200);
    j = as_body_json(&r);
    assert_true(json_is_false(json_object_get(j, "must_change_password")));
    tok = strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    ts_resp_free(&r);
    as_expect(p, "GET", "/v1/users", tok, NULL, 200, "\"admin\"");
    free(tok);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(viewer_scoped_key_of_an_admin_mints_no_admin_key),
        cmocka_unit_test(token_issued_600s_ago_mints_no_key_and_a_new_password_revokes_keys),
        cmocka_unit_test(four_failed_logins_from_one_address_lock_no_other_address_out),
        cmocka_unit_test(weak_passwords_aaaaaaaa_8_spaces_and_the_name_refused),
        cmocka_unit_test(one_time_admin_password_must_be_changed_first),
    };
    return cmocka_run_group_tests_name("account security", tests, NULL, NULL);
}
