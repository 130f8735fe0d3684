/*
 * libFuzzer harness for JSON request bodies and query strings of the API
 * routes, through the whole server as `vigia serve` assembles it (store
 * and hasher processes forked once at start, auth, users, history, the
 * detection routes, comparisons, KServe), driven over a socketpair. No
 * model is loaded, so no worker is forked: a request that parses is
 * answered by the pool (404/503), one that does not by its parser.
 *
 * The first input byte picks the route; the rest is the JSON body (POST,
 * PUT) or the query string (GET). For KServe, a NUL byte ends the JSON
 * part and starts the binary tensor data (Inference-Header-Content-Length). Requests carry an administrator's
 * token, obtained at start through /v1/auth/login.
 *
 * Invariants, whatever the input:
 *  - exactly one well-formed HTTP/1.1 response per request, within 10 s;
 *  - never 500 (a 5xx is only 503 unavailable, 504 or 507 store full);
 *  - a JSON answer parses as JSON; an error answer has the route's error
 *    shape ({"error": {"code", "message"}}, DeepStack's {"success": false,
 *    ...}, KServe's {"error": "..."}).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "base/config.h"
#include "base/log.h"
#include "cli/serve.h"
#include "harness.h"
#include "net/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum shape { STD, DEEPSTACK, KSERVE };

static const struct route {
    const char *method;
    const char *path;              /* the query follows for GET */
    enum shape shape;
    int anonymous;                 /* sent without the token: logout would end the admin's session */
} routes[] = {
    { "POST", "/v1/detect", STD, 0 },
    { "POST", "/v1/detect?model=m&annotate=1", STD, 0 },
    { "POST", "/v1/detect/batch", STD, 0 },
    { "POST", "/v1/vision/detection", DEEPSTACK, 0 },
    { "POST", "/v1/vision/custom/m", DEEPSTACK, 0 },
    { "POST", "/v1/compare?models=m,m2", STD, 0 },
    { "POST", "/v2/models/m/infer", KSERVE, 0 },
    { "POST", "/v2/models/m/versions/1/infer", KSERVE, 0 },
    { "POST", "/v1/auth/login", STD, 1 },
    { "POST", "/v1/auth/refresh", STD, 1 },
    { "POST", "/v1/auth/logout", STD, 1 },
    { "POST", "/v1/users", STD, 0 },
    { "PUT", "/v1/users/2", STD, 0 },
    { "POST", "/v1/users/2/apikeys", STD, 0 },
    { "POST", "/v1/feedback", STD, 0 },
    { "GET", "/v1/detections?", STD, 0 },
    { "GET", "/v1/stats?", STD, 0 },
    { "GET", "/v1/feedback?", STD, 0 },
    { "GET", "/v1/users?", STD, 0 },
    { "GET", "/v1/models/m/stats?", STD, 0 },
    { "GET", "/v1/detect?", STD, 0 },
};
#define NROUTES (sizeof routes / sizeof routes[0])

static vg_server *srv;
/* kept for the life of the process (LeakSanitizer sees it reachable) */
static vg_app *app;
static char token[2048];
static char root[256];


/* One request with the admin token; the whole answer in out. */
static int
call(const char *method, const char *target, const void *body, size_t n, const char *extra, int anonymous,
     vg_buf *out)
{
    vg_buf req;
    vg_buf_init(&req);
    int auth = token[0] && !anonymous;
    vg_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n%s%s%s", method, target,
                  auth ? "Authorization: Bearer " : "", auth ? token : "", auth ? "\r\n" : "");
    if (extra)
        vg_buf_puts(&req, extra);
    if (strcmp(method, "GET") != 0)
        vg_buf_printf(&req, "Content-Length: %zu\r\n", n);
    vg_buf_puts(&req, "Connection: close\r\n\r\n");
    if (strcmp(method, "GET") != 0)
        vg_buf_append(&req, body, n);
    out->len = 0;
    int rc = fz_exchange(srv, req.data, req.len, out, 10);
    vg_buf_release(&req);
    return rc;
}


/* Logs in with this body (the account may still be on its way) and keeps the token; aborts when it cannot. */
static void
log_in(struct ev_loop *loop, const char *login, vg_buf *out)
{
    token[0] = '\0';
    for (int tries = 0; tries < 200 && !token[0]; tries++) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(10000);
        if (call("POST", "/v1/auth/login", login, strlen(login), NULL, 1, out) != 0)
            continue;
        size_t at = 0;
        fz_resp r;
        if (fz_response(out->data, out->len, &at, &r) == 0 && r.status == 200) {
            json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
            const char *t = json_string_value(json_object_get(j, "access_token"));
            if (t)
                snprintf(token, sizeof token, "%s", t);
            json_decref(j);
        }
    }
    if (!token[0]) {
        fprintf(stderr, "fuzz_api: cannot log in: %.*s\n", (int)out->len, out->data ? out->data : "");
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_set_level(VG_LOG_OFF);
    fz_temp_root("vigia-fuzz-api", root, sizeof root);
    char data[512], models[512];
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(models, sizeof models, "%s/models", root);
    if (mkdir(data, 0700) || mkdir(models, 0700))
        abort();
    fz_write_unloaded_model(models);   /* KServe and the detection routes parse, then get 503 */

    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    fz_config_set(cfg, "paths", "data", data);
    fz_config_set(cfg, "paths", "models", models);
    fz_config_set(cfg, "paths", "web", root);
    fz_config_set(cfg, "detect", "default_model", "m");
    fz_config_set(cfg, "detect", "load", "not-loaded");
    fz_config_set(cfg, "detect", "max_upload", "256K");
    fz_config_set(cfg, "log", "access", "false");
    fz_config_set(cfg, "auth", "argon2_memory", "64K");
    fz_config_set(cfg, "auth", "argon2_iterations", "1");
    fz_config_set(cfg, "auth", "access_ttl", "1d");
    fz_config_set(cfg, "auth", "login_attempts", "100000");
    fz_config_set(cfg, "auth", "login_ip_attempts", "100000");
    fz_config_set(cfg, "store", "map_size", "1M");
    fz_config_set(cfg, "store", "map_max", "32M");
    fz_config_set(cfg, "store", "commit_records", "1");
    fz_config_set(cfg, "history", "images", "original");

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);   /* child watchers need the default loop */
    char err[512];
    app = vg_app_create(loop, cfg, err, sizeof err);   /* the server serve() assembles, without listening */
    if (!app) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    srv = vg_app_server(app);

    /* the one-time admin password, then a token */
    char *boot = NULL;
    size_t bn = 0;
    FILE *f = open_memstream(&boot, &bn);
    if (vg_app_bootstrap(app, f) != 1)
        abort();
    /* the password is printed once the account is stored: run the loop until then */
    for (int tries = 0; tries < 500; tries++) {
        ev_run(loop, EVRUN_NOWAIT);
        fflush(f);
        if (boot && strstr(boot, "one-time password "))
            break;
        usleep(10000);
    }
    fclose(f);
    const char *pw = boot ? strstr(boot, "one-time password ") : NULL;
    if (!pw)
        abort();
    pw += strlen("one-time password ");
    int pn = (int)strcspn(pw, "\n");
    char login[256], change[256];
    snprintf(login, sizeof login, "{\"username\":\"admin\",\"password\":\"%.*s\"}", pn, pw);
    snprintf(change, sizeof change, "{\"current_password\":\"%.*s\",\"password\":\"fuzzing every route\"}", pn, pw);
    free(boot);
    vg_buf out;
    vg_buf_init(&out);
    /* the one-time password opens nothing else until it is changed; the change ends that session */
    log_in(loop, login, &out);
    if (call("PUT", "/v1/users/1", change, strlen(change), NULL, 0, &out) != 0)
        abort();
    log_in(loop, "{\"username\":\"admin\",\"password\":\"fuzzing every route\"}", &out);
    /* user 2, whom the PUT and API-key routes change (never the admin) */
    const char *user = "{\"name\":\"fuzz\",\"password\":\"an operator's password\",\"role\":\"operator\"}";
    if (call("POST", "/v1/users", user, strlen(user), NULL, 0, &out) != 0)
        abort();
    vg_buf_release(&out);
    return 0;
}


static void
check_answer(const struct route *rt, const fz_resp *r)
{
    if (r->status >= 500 && r->status != 503 && r->status != 504 && r->status != 507) {
        fprintf(stderr, "fuzz_api: %s %s answered %d: %.*s\n", rt->method, rt->path, r->status, (int)r->body_len,
                r->body);
        abort();
    }
    vg_str ct = fz_header(r, "content-type");
    if (!ct.p || ct.n < 16 || strncasecmp(ct.p, "application/json", 16) != 0)
        return;
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    if (!j)
        abort();   /* a JSON answer that is not JSON */
    if (r->status >= 400) {
        json_t *e = json_object_get(j, "error");
        int ok;
        switch (rt->shape) {
        case KSERVE:
            ok = json_is_string(e);
            break;
        case DEEPSTACK:
            ok = json_is_false(json_object_get(j, "success")) || fz_is_json_error(r);
            break;
        default:
            ok = fz_is_json_error(r);
            break;
        }
        if (!ok) {
            fprintf(stderr, "fuzz_api: %s %s: error without its shape: %.*s\n", rt->method, rt->path,
                    (int)r->body_len, r->body);
            abort();
        }
    }
    json_decref(j);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const struct route *rt = &routes[data[0] % NROUTES];
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    vg_buf target, out;
    vg_buf_init(&target);
    vg_buf_init(&out);
    vg_buf_puts(&target, rt->path);
    char extra[96] = "";
    if (!strcmp(rt->method, "GET")) {
        /* the query: bytes a request-target cannot carry are escaped */
        for (size_t i = 0; i < n; i++) {
            unsigned char c = body[i];
            if (c <= 0x20 || c >= 0x7f || strchr("#\"<>\\^`{|}", c))
                vg_buf_printf(&target, "%%%02X", c);
            else
                vg_buf_putc(&target, (char)c);
        }
        n = 0;
    } else if (rt->shape == KSERVE && memchr(body, 0, n)) {
        /* the binary tensor extension: the JSON up to the first NUL, then raw bytes from it on */
        snprintf(extra, sizeof extra, "Inference-Header-Content-Length: %zu\r\n",
                 (size_t)((const uint8_t *)memchr(body, 0, n) - body));
    }
    if (call(rt->method, vg_buf_cstr(&target), body, n, extra[0] ? extra : NULL, rt->anonymous, &out) != 0) {
        fprintf(stderr, "fuzz_api: %s %s: no answer within 10 s\n", rt->method, rt->path);
        abort();
    }
    size_t at = 0;
    fz_resp r;
    if (fz_response(out.data, out.len, &at, &r) != 0 || at != out.len) {
        fprintf(stderr, "fuzz_api: %s %s: malformed answer: %.*s\n", rt->method, rt->path, (int)out.len, out.data);
        abort();
    }
    check_answer(rt, &r);
    vg_buf_release(&target);
    vg_buf_release(&out);
    return 0;
}
