/* api_support: see api_support.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api_support.h"


void
as_make_admin(const char *data)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "echo '" ADMIN_PW "' | '%s' user add --admin --data '%s' --auth-argon2-memory 1M root >/dev/null",
             getenv("VIGIA_BIN"), data);
    assert_int_equal(system(cmd), 0);
}


void
as_spawn_with_admin(ts_server *s, const char *const *extra, char *data_out)
{
    char dir[256], data[300];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    as_make_admin(data);
    const char *args[32] = { "--data", data, "--auth-argon2-memory", "1M", "--auth-argon2-iterations", "1" };
    int n = 6;   /* ts_spawn copies what it needs before returning */
    for (int i = 0; extra && extra[i] && n < 30; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    ts_spawn(s, args, NULL);
    if (data_out)
        snprintf(data_out, 300, "%s", data);
}


/* Sends the request on fd, reads the answer and closes fd. */
static int
call_on(int fd, const char *method, const char *path, const char *token, const char *body, ts_resp *r)
{
    char head[4096];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "", bl);
    ts_send(fd, head, (size_t)n);
    if (bl)
        ts_send(fd, body, bl);
    int rc = ts_read_response(fd, r, strcmp(method, "HEAD") == 0);
    ts_close(fd);
    return rc < 0 ? -1 : r->status;
}


int
as_call(int port, const char *method, const char *path, const char *token, const char *body, ts_resp *r)
{
    return call_on(ts_connect(port), method, path, token, body, r);
}


int
as_call_from(const char *from, int port, const char *method, const char *path, const char *token,
             const char *body, ts_resp *r)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, from, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail_msg("bind to %s: %s", from, strerror(errno));
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail_msg("connect from %s to port %d: %s", from, port, strerror(errno));
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return call_on(fd, method, path, token, body, r);
}


json_t *
as_body_json(const ts_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    if (!j)
        fail_msg("not JSON: %.300s", r->body);
    return j;
}


void
as_expect(int port, const char *method, const char *path, const char *token, const char *body, int status,
          const char *code)
{
    ts_resp r;
    int st = as_call(port, method, path, token, body, &r);
    if (st != status)
        fail_msg("%s %s: status %d, want %d: %s", method, path, st, status, r.body);
    if (code && !strstr(r.body, code))
        fail_msg("%s %s: want code %s: %s", method, path, code, r.body);
    ts_resp_free(&r);
}


char *
as_login(int port, const char *user, const char *pw, char **refresh)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    ts_resp r;
    int st = as_call(port, "POST", "/v1/auth/login", NULL, body, &r);
    if (st != 200)
        fail_msg("login %s: %d %s", user, st, r.body);
    json_t *j = as_body_json(&r);
    char *tok = strdup(json_string_value(json_object_get(j, "access_token")));
    if (refresh)
        *refresh = strdup(json_string_value(json_object_get(j, "refresh_token")));
    json_decref(j);
    ts_resp_free(&r);
    return tok;
}


void
as_first_start(ts_server *s, char pw[64])
{
    char dir[256], cmd[1024];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "'%s' --listen 127.0.0.1:0 --data '%s/data' --models '%s' --auth-argon2-memory 1M & "
             "pid=$!; sleep 2; kill $pid; wait $pid", getenv("VIGIA_BIN"), dir, dir);
    FILE *f = popen(cmd, "r");
    char line[512], url[128] = "";
    pw[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char *at = strstr(line, "one-time password ");
        if (at)
            sscanf(at + 18, "%63s", pw);
        at = strstr(line, "serving http://");
        if (at)
            sscanf(at + 8, "%127s", url);
    }
    pclose(f);
    assert_true(strlen(pw) >= 16);
    assert_true(url[0]);
    char data[300];
    snprintf(data, sizeof data, "%s/data", dir);
    const char *args[] = { "--data", data, "--auth-argon2-memory", "1M", NULL };
    ts_spawn(s, args, NULL);
}


void
as_first_admin_login(int port, const char *pw, ts_resp *r)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", pw);
    for (int i = 0; i < 50; i++) {
        int st = as_call(port, "POST", "/v1/auth/login", NULL, body, r);
        if (st == 200)
            return;
        assert_int_equal(st, 401);   /* the hash may still be on its way */
        ts_resp_free(r);
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fail_msg("the first admin cannot log in");
}
