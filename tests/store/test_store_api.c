/*
 * The store's HTTP routes on the real binary: login, refresh rotation and
 * reuse, logout, users CRUD with role checks, API keys, history, feedback,
 * stats, rate limits (every refusal: 400/401/403/404/409/422/429), the
 * kill -9 durability test (a write burst, kill -9 of the store process and
 * of the master at random points, restart, every acknowledged record
 * present) and a map that fills up (grows, then 507).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "support.h"
#include "api_support.h"

static void
auth_flow(void **state)
{
    (void)state;
    ts_server s;
    /* refresh_grace 0: a spent refresh token is refused at once (lost_answer below has the grace) */
    const char *extra[] = { "--auth-login-attempts", "4", "--auth-refresh-grace", "0", NULL };
    as_spawn_with_admin(&s, extra, NULL);
    int p = s.port;
    /* refusals of login */
    as_expect(p, "POST", "/v1/auth/login", NULL, "{\"username\":", 400, "bad_request");
    as_expect(p, "POST", "/v1/auth/login", NULL, "{\"username\":\"root\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/auth/login", NULL, "{\"username\":\"root\",\"password\":\"nope\"}", 401, "invalid_credentials");
    as_expect(p, "POST", "/v1/auth/login", NULL, "{\"username\":\"ghost\",\"password\":\"nope\"}", 401, "invalid_credentials");
    char *refresh = NULL;
    char *tok = as_login(p, "root", ADMIN_PW, &refresh);
    as_expect(p, "GET", "/v1/auth/me", tok, NULL, 200, "\"admin\"");
    as_expect(p, "GET", "/v1/auth/me", NULL, NULL, 401, "unauthorized");
    as_expect(p, "GET", "/v1/auth/me", "garbage", NULL, 401, "invalid_token");
    /* alg none with the admin's claims */
    as_expect(p, "GET", "/v1/auth/me", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwLCJpc3MiOiJ2aWdpYSIsImF1ZCI6InZpZ2lhIn0.",
           NULL, 401, "invalid_token");
    /* rotation: the new pair works, the old refresh token revokes the family */
    ts_resp r;
    char body[512];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh);
    assert_int_equal(as_call(p, "POST", "/v1/auth/refresh", NULL, body, &r), 200);
    json_t *j = as_body_json(&r);
    char *tok2 = strdup(json_string_value(json_object_get(j, "access_token")));
    char *refresh2 = strdup(json_string_value(json_object_get(j, "refresh_token")));
    json_decref(j);
    ts_resp_free(&r);
    as_expect(p, "GET", "/v1/auth/me", tok2, NULL, 200, NULL);
    as_expect(p, "POST", "/v1/auth/refresh", NULL, body, 401, "token_reused");
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh2);
    as_expect(p, "POST", "/v1/auth/refresh", NULL, body, 401, "invalid_token");
    as_expect(p, "GET", "/v1/auth/me", tok2, NULL, 401, "invalid_token");   /* the session is gone */
    as_expect(p, "GET", "/v1/auth/me", tok, NULL, 401, "invalid_token");
    as_expect(p, "POST", "/v1/auth/refresh", NULL, "{\"refresh_token\":\"unknown\"}", 401, "invalid_token");
    /* logout by access token */
    free(tok);
    tok = as_login(p, "root", ADMIN_PW, NULL);
    as_expect(p, "POST", "/v1/auth/logout", tok, NULL, 204, NULL);
    as_expect(p, "GET", "/v1/auth/me", tok, NULL, 401, "invalid_token");
    as_expect(p, "POST", "/v1/auth/logout", NULL, NULL, 401, "unauthorized");
    /* the account's login limit: 4 attempts per window, successes do not count */
    for (int i = 0; i < 3; i++)   /* the wrong password above was the first */
        as_expect(p, "POST", "/v1/auth/login", NULL, "{\"username\":\"Root\",\"password\":\"wrong\"}", 401, NULL);
    assert_int_equal(as_call(p, "POST", "/v1/auth/login", NULL, "{\"username\":\"root\",\"password\":\"" ADMIN_PW "\"}", &r), 429);
    assert_non_null(ts_header(&r, "Retry-After"));
    ts_resp_free(&r);
    free(tok);
    free(tok2);
    free(refresh);
    free(refresh2);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


/* The refresh this POST answers: its refresh_token (to free), or NULL when not 200. */
static char *
refresh_with(int port, const char *refresh_token)
{
    ts_resp r;
    char body[512];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", refresh_token);
    if (as_call(port, "POST", "/v1/auth/refresh", NULL, body, &r) != 200) {
        ts_resp_free(&r);
        return NULL;
    }
    json_t *j = as_body_json(&r);
    char *next = strdup(json_string_value(json_object_get(j, "refresh_token")));
    json_decref(j);
    ts_resp_free(&r);
    return next;
}


/*
 * A lost answer (auth.refresh_grace, default 30 s): the client spent R1 for
 * R2 but never got R2, so it sends R1 again and gets R3; R2 is superseded,
 * and when it comes back (someone else had it) the session ends.
 */
static void
lost_refresh_answer(void **state)
{
    (void)state;
    ts_server s;
    as_spawn_with_admin(&s, NULL, NULL);
    int p = s.port;
    char *r1 = NULL, *tok = as_login(p, "root", ADMIN_PW, &r1);
    char *r2 = refresh_with(p, r1);
    assert_non_null(r2);
    char *r3 = refresh_with(p, r1);   /* the answer carrying r2 was lost */
    assert_non_null(r3);
    char *r4 = refresh_with(p, r3);   /* the retry's token is the session's now */
    assert_non_null(r4);
    char body[512];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", r2);
    as_expect(p, "POST", "/v1/auth/refresh", NULL, body, 401, "token_reused");
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", r4);
    as_expect(p, "POST", "/v1/auth/refresh", NULL, body, 401, "invalid_token");   /* the session is gone */
    free(tok);
    free(r1);
    free(r2);
    free(r3);
    free(r4);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
users_keys_history(void **state)
{
    (void)state;
    ts_server s;
    as_spawn_with_admin(&s, NULL, NULL);
    int p = s.port;
    char *admin = as_login(p, "root", ADMIN_PW, NULL);
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"vic\",\"password\":\"viewer-pass\",\"role\":\"viewer\"}", 201, "\"viewer\"");
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"opal\",\"password\":\"operator-pass\",\"role\":\"operator\",\"email\":\"o@x.io\"}", 201, NULL);
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"VIC\",\"password\":\"whatever1\"}", 409, "conflict");
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"x\",\"password\":\"short\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"x y\",\"password\":\"long enough\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"z\",\"password\":\"long enough\",\"role\":\"god\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"z\",\"password\":\"long enough\",\"email\":\"nope\"}", 422, "invalid");
    char *vic = as_login(p, "vic", "viewer-pass", NULL);
    char *opal = as_login(p, "o@x.io", "operator-pass", NULL);
    as_expect(p, "GET", "/v1/users", vic, NULL, 403, "forbidden");
    as_expect(p, "POST", "/v1/users", opal, "{\"name\":\"q\",\"password\":\"long enough\"}", 403, "forbidden");
    as_expect(p, "GET", "/v1/users/2", vic, NULL, 200, "\"vic\"");
    as_expect(p, "GET", "/v1/users/3", vic, NULL, 403, "forbidden");
    as_expect(p, "GET", "/v1/users/2/profile", vic, NULL, 200, "\"logins\":1");
    as_expect(p, "GET", "/v1/users/999", admin, NULL, 404, "not_found");
    as_expect(p, "GET", "/v1/users/abc", admin, NULL, 404, "not_found");
    as_expect(p, "PUT", "/v1/users/2", vic, "{\"role\":\"admin\"}", 403, "forbidden");
    as_expect(p, "PUT", "/v1/users/2", vic, "{\"password\":\"new-viewer-pass\"}", 403, "current_password");
    as_expect(p, "PUT", "/v1/users/2", vic, "{\"password\":\"new-viewer-pass\",\"current_password\":\"bad\"}", 403, "forbidden");
    as_expect(p, "PUT", "/v1/users/2", vic, "{\"password\":\"new-viewer-pass\",\"current_password\":\"viewer-pass\"}", 200, NULL);
    as_expect(p, "GET", "/v1/auth/me", vic, NULL, 401, "invalid_token");   /* a new password ends sessions */
    free(vic);
    vic = as_login(p, "vic", "new-viewer-pass", NULL);
    as_expect(p, "PUT", "/v1/users/3", admin, "{\"email\":\"o@x.io\"}", 200, NULL);
    as_expect(p, "POST", "/v1/users", admin, "{\"name\":\"other\",\"password\":\"long enough\",\"email\":\"O@X.IO\"}", 409, "conflict");
    as_expect(p, "PUT", "/v1/users/3", admin, "{\"colour\":\"red\"}", 422, "invalid");
    as_expect(p, "PUT", "/v1/users/1", admin, "{\"role\":\"viewer\"}", 409, "last_admin");
    as_expect(p, "DELETE", "/v1/users/1", admin, NULL, 409, "last_admin");
    as_expect(p, "DELETE", "/v1/users/3", vic, NULL, 403, "forbidden");

    /* API keys: made for a camera, used, revoked */
    ts_resp r;
    assert_int_equal(as_call(p, "POST", "/v1/users/3/apikeys", opal, "{\"name\":\"cam-1\",\"role\":\"operator\"}", &r), 201);
    json_t *j = as_body_json(&r);
    char key[128];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(j, "key")));
    int kid = (int)json_integer_value(json_object_get(json_object_get(j, "api_key"), "id"));
    json_decref(j);
    ts_resp_free(&r);
    assert_int_equal(strncmp(key, "vgk_", 4), 0);
    as_expect(p, "GET", "/v1/auth/me", key, NULL, 200, "\"api_key\"");
    as_expect(p, "POST", "/v1/users/3/apikeys", opal, "{\"name\":\"too-strong\",\"role\":\"admin\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/users/3/apikeys", opal, "{}", 422, "invalid");
    as_expect(p, "GET", "/v1/users/3/apikeys", vic, NULL, 403, "forbidden");
    as_expect(p, "GET", "/v1/users/3/apikeys", opal, NULL, 200, "cam-1");
    char path[128];
    snprintf(path, sizeof path, "/v1/users/3/apikeys/%d", kid);
    as_expect(p, "DELETE", path, opal, NULL, 204, NULL);
    as_expect(p, "DELETE", path, opal, NULL, 204, NULL);   /* revoking twice is harmless */
    as_expect(p, "DELETE", "/v1/users/3/apikeys/9999", opal, NULL, 404, "not_found");
    as_expect(p, "GET", "/v1/auth/me", key, NULL, 401, "invalid_token");

    /* history, feedback and stats with nothing stored yet; model routes need roles */
    as_expect(p, "GET", "/v1/detections", vic, NULL, 200, "\"count\":0");
    as_expect(p, "GET", "/v1/detections", NULL, NULL, 401, "unauthorized");
    as_expect(p, "GET", "/v1/detections?since=abc", vic, NULL, 422, "invalid");
    as_expect(p, "GET", "/v1/detections?limit=5000", vic, NULL, 422, "invalid");
    as_expect(p, "GET", "/v1/detections?cursor=xyz", vic, NULL, 422, "invalid");
    as_expect(p, "GET", "/v1/detections/0123", vic, NULL, 404, "not_found");
    as_expect(p, "GET", "/v1/detections/0123456789abcdef0123456789abcdef", vic, NULL, 404, "not_found");
    as_expect(p, "GET", "/v1/detections/0123456789abcdef0123456789abcdef/image", vic, NULL, 404, "not_found");
    as_expect(p, "POST", "/v1/feedback", opal, "{\"detection_id\":\"0123456789abcdef0123456789abcdef\",\"correct\":false}", 404, "not_found");
    as_expect(p, "POST", "/v1/feedback", opal, "{\"detection_id\":\"nope\",\"correct\":false}", 422, "invalid");
    as_expect(p, "POST", "/v1/feedback", opal, "{\"detection_id\":\"0123456789abcdef0123456789abcdef\"}", 422, "invalid");
    as_expect(p, "POST", "/v1/feedback", vic, "{\"detection_id\":\"0123456789abcdef0123456789abcdef\",\"correct\":true}", 403, "forbidden");
    as_expect(p, "GET", "/v1/feedback", opal, NULL, 403, "forbidden");
    as_expect(p, "GET", "/v1/feedback", admin, NULL, 200, "\"count\":0");
    as_expect(p, "GET", "/v1/stats", vic, NULL, 200, "\"period\":\"hour\"");
    as_expect(p, "GET", "/v1/stats?period=shift", vic, NULL, 200, "\"shift\"");
    as_expect(p, "GET", "/v1/stats?period=week", vic, NULL, 422, "invalid");
    as_expect(p, "POST", "/v1/models/x/load", opal, NULL, 403, "forbidden");
    as_expect(p, "POST", "/v1/detect", NULL, "{}", 401, "unauthorized");
    as_expect(p, "POST", "/v1/detect", vic, "{}", 403, "forbidden");
    as_expect(p, "GET", "/health", NULL, NULL, 200, NULL);
    as_expect(p, "DELETE", "/v1/users/2", admin, NULL, 204, NULL);
    as_expect(p, "GET", "/v1/users/2", admin, NULL, 404, "not_found");
    as_expect(p, "GET", "/v1/auth/me", vic, NULL, 401, "invalid_token");
    free(admin);
    free(vic);
    free(opal);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
rate_limits(void **state)
{
    (void)state;
    ts_server s;
    const char *extra[] = { "--limits-rate-ip", "1", "--limits-burst-ip", "3", NULL };
    as_spawn_with_admin(&s, extra, NULL);
    int p = s.port;
    int limited = 0;
    ts_resp r;
    for (int i = 0; i < 6; i++) {
        int st = as_call(p, "GET", "/v1/detections", NULL, NULL, &r);
        if (st == 429) {
            limited++;
            assert_non_null(ts_header(&r, "Retry-After"));
            assert_non_null(strstr(r.body, "rate_limited"));
        } else {
            assert_int_equal(st, 401);
        }
        ts_resp_free(&r);
    }
    assert_true(limited >= 2);
    for (int i = 0; i < 10; i++)
        as_expect(p, "GET", "/health", NULL, NULL, 200, NULL);   /* operations routes are not limited */
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
first_start_prints_admin_password(void **state)
{
    (void)state;
    ts_server s;
    char pw[64];
    as_first_start(&s, pw);   /* it works, and a second start prints nothing */
    ts_resp r;
    as_first_admin_login(s.port, pw, &r);
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}

/* ---- durability ------------------------------------------------------------------------- */

static int
store_pid(int master)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", master, master);
    FILE *f = fopen(path, "r");
    int pid, found = 0;
    while (f && fscanf(f, "%d", &pid) == 1) {
        char comm[64] = "", cp[64];
        snprintf(cp, sizeof cp, "/proc/%d/comm", pid);
        FILE *c = fopen(cp, "r");
        if (c && fgets(comm, sizeof comm, c) && strncmp(comm, "vg:store", 8) == 0)
            found = pid;
        if (c)
            fclose(c);
    }
    if (f)
        fclose(f);
    return found;
}


/* Creates API keys as fast as 8 connections allow; records the ids acknowledged (201). */
static int
burst(int port, const char *tok, int want, int *acked, int nacked_max, int kill_store_at, int kill_master_at,
      ts_server *s)
{
    int n = 0, sent = 0;
    const int conns = 8;
    int fds[8];
    char body[64];
    for (int c = 0; c < conns; c++)
        fds[c] = -1;
    while (sent < want) {
        for (int c = 0; c < conns && sent < want; c++, sent++) {
            if (sent == kill_store_at) {
                int sp = store_pid(s->pid);
                if (sp > 0)
                    kill(sp, SIGKILL);
            }
            if (sent == kill_master_at) {
                kill(s->pid, SIGKILL);
                return n;
            }
            snprintf(body, sizeof body, "{\"name\":\"k%d\"}", sent);
            char head[1024];
            int hn = snprintf(head, sizeof head, "POST /v1/users/1/apikeys HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", tok, strlen(body), body);
            fds[c] = ts_connect(port);
            ts_send(fds[c], head, (size_t)hn);
        }
        for (int c = 0; c < conns; c++) {
            if (fds[c] < 0)
                continue;
            ts_resp r;
            if (ts_read_response(fds[c], &r, 0) == 0) {
                if (r.status == 201 && n < nacked_max) {
                    json_t *j = json_loads(r.body, 0, NULL);
                    acked[n++] = (int)json_integer_value(json_object_get(json_object_get(j, "api_key"), "id"));
                    json_decref(j);
                } else if (r.status != 201) {
                    assert_int_equal(r.status, 503);   /* the store was restarting */
                }
                ts_resp_free(&r);
            }
            ts_close(fds[c]);
            fds[c] = -1;
        }
    }
    return n;
}


static void
kill9_durability(void **state)
{
    (void)state;
    char dir[256], data[300];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    as_make_admin(data);
    const char *args[] = { "--data", data, "--auth-argon2-memory", "1M", NULL };
    static int acked[4000];
    int nacked = 0;
    unsigned seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (unsigned)time(NULL);
    print_message("# seed %u\n", seed);
    srand(seed);
    for (int round = 0; round < 3; round++) {
        ts_server s;
        ts_spawn(&s, args, NULL);
        char *tok = as_login(s.port, "root", ADMIN_PW, NULL);
        int kill_store = 50 + rand() % 300;
        int kill_master = kill_store + 100 + rand() % 300;
        int got = burst(s.port, tok, 800, acked + nacked, 4000 - nacked, kill_store, kill_master, &s);
        print_message("# round %d: store killed at write %d, master at %d; %d acknowledged\n", round, kill_store,
                      kill_master, got);
        nacked += got;
        free(tok);
        ts_stop(&s, SIGKILL, 5);
        /* the orphaned store sees the master's socket close, commits and exits */
        struct timespec ts = { 0, 300 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    assert_true(nacked > 100);
    /* restart: every acknowledged key is there */
    ts_server s;
    ts_spawn(&s, args, NULL);
    char *tok = as_login(s.port, "root", ADMIN_PW, NULL);
    ts_resp r;
    assert_int_equal(as_call(s.port, "GET", "/v1/users/1/apikeys", tok, NULL, &r), 200);
    json_t *j = as_body_json(&r);
    json_t *keys = json_object_get(j, "api_keys");
    size_t have = json_array_size(keys);
    char *present = calloc(100000, 1);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        json_int_t id = json_integer_value(json_object_get(k, "id"));
        if (id > 0 && id < 100000)
            present[id] = 1;
    }
    for (int a = 0; a < nacked; a++)
        if (!present[acked[a]])
            fail_msg("acknowledged API key %d is missing after kill -9 (%zu keys stored)", acked[a], have);
    print_message("# %d acknowledged writes, %zu stored, all acknowledged present\n", nacked, have);
    free(present);
    json_decref(j);
    ts_resp_free(&r);
    free(tok);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
map_fills_up(void **state)
{
    (void)state;
    ts_server s;
    const char *extra[] = { "--store-map-size", "1M", "--store-map-max", "2M", NULL };
    as_spawn_with_admin(&s, extra, NULL);
    int p = s.port;
    char *tok = as_login(p, "root", ADMIN_PW, NULL);
    char name[200], body[300];
    memset(name, 'n', 120);
    name[120] = '\0';
    int full = 0, ok = 0;
    for (int i = 0; i < 20000 && !full; i++) {
        ts_resp r;
        snprintf(body, sizeof body, "{\"name\":\"%s%d\"}", name, i);
        int st = as_call(p, "POST", "/v1/users/1/apikeys", tok, body, &r);
        if (st == 507) {
            assert_non_null(strstr(r.body, "insufficient_storage"));
            full = 1;
        } else {
            assert_int_equal(st, 201);
            ok++;
        }
        ts_resp_free(&r);
    }
    assert_true(full);
    assert_true(ok > 1000);
    char *log = ts_read_log(&s);
    assert_non_null(strstr(log, "database map grown to 2 MiB"));
    free(log);
    /* reads and small writes that fit still work; the server is healthy */
    as_expect(p, "GET", "/v1/auth/me", tok, NULL, 200, NULL);
    as_expect(p, "GET", "/health", NULL, NULL, 200, NULL);
    free(tok);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(auth_flow),
        cmocka_unit_test(lost_refresh_answer),
        cmocka_unit_test(users_keys_history),
        cmocka_unit_test(rate_limits),
        cmocka_unit_test(first_start_prints_admin_password),
        cmocka_unit_test(kill9_durability),
        cmocka_unit_test(map_fills_up),
    };
    return cmocka_run_group_tests_name("store api", tests, NULL, NULL);
}
