/* support: see support.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/cors.h"
#include "http/http.h"
#include "net/server.h"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


void
ts_mkdtemp(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, n, "%s/vigia-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out))
        fail_msg("mkdtemp: %s", strerror(errno));
}


const char *
ts_shared_dir(void)
{
    static char dir[1024];
    const char *s = getenv("VIGIA_SHARED");
    if (s && *s)
        return s;
    const char *src = getenv("VIGIA_SRCDIR");
    snprintf(dir, sizeof dir, "%s/../shared", src && *src ? src : ".");
    return dir;
}


void
ts_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("write %s: %s", path, strerror(errno));
    if (n && fwrite(data, 1, n, f) != n)
        fail_msg("write %s: short", path);
    fclose(f);
}


/* Reads lines from fd until one contains "serving http://", within secs. */
static int
wait_for_port(int fd, double secs, char *hostport, size_t n)
{
    char buf[4096];
    size_t len = 0;
    double end = now_s() + secs;
    while (now_s() < end && len < sizeof buf - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ms = (int)((end - now_s()) * 1000);
        if (poll(&p, 1, ms > 0 ? ms : 0) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *at = strstr(buf, "serving http://");
        if (at && strchr(at, '\n')) {
            at += strlen("serving http://");
            char *slash = strchr(at, '/');
            if (!slash)
                return -1;
            snprintf(hostport, n, "%.*s", (int)(slash - at), at);
            char *colon = strrchr(hostport, ':');
            return colon ? atoi(colon + 1) : -1;
        }
    }
    return -1;
}


/*
 * Forks a child whose stdout is a pipe back to us and whose stderr is the
 * server log; returns 0 in the child, the pid in the parent (*out_fd set).
 */
static pid_t
fork_server(ts_server *s, int *out_fd)
{
    int out[2];
    if (pipe(out) < 0)
        fail_msg("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out[1], 1);
        dup2(logfd, 2);
        close(out[0]);
        close(out[1]);
        close(logfd);
        return 0;
    }
    close(out[1]);
    *out_fd = out[0];
    return pid;
}


/* Waits for the child's "serving" line; fails the test with its log if none comes. */
static void
await_server(ts_server *s, pid_t pid, int out_fd)
{
    s->pid = pid;
    s->port = wait_for_port(out_fd, 60, s->host_port, sizeof s->host_port);
    close(out_fd);
    if (s->port <= 0) {
        char *log = ts_read_log(s);
        ts_stop(s, SIGKILL, 2);
        fail_msg("server did not start; log:\n%s", log ? log : "");
    }
}


void
ts_spawn(ts_server *s, const char *const *args, const char *const *env)
{
    memset(s, 0, sizeof *s);
    ts_mkdtemp(s->dir, sizeof s->dir);
    snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
    const char *bin = getenv("VIGIA_BIN");
    if (!bin)
        fail_msg("VIGIA_BIN is not set (run through make check)");
    char data[300], models[300];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(models, sizeof models, "%s/models", s->dir);
    mkdir(models, 0755);

    /* no models unless the caller's --models (which comes later, and wins) says */
    const char *argv[64];
    int n = 0;
    int own_listen = 0;
    for (int i = 0; args && args[i]; i++)
        own_listen |= strcmp(args[i], "--listen") == 0;
    argv[n++] = bin;
    if (!own_listen) {
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
    }
    argv[n++] = "--data";
    argv[n++] = data;
    argv[n++] = "--models";
    argv[n++] = models;
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    int out;
    pid_t pid = fork_server(s, &out);
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    await_server(s, pid, out);
}


void
ts_spawn_inproc(ts_server *s, ts_setup_fn setup, const char *const *config_args)
{
    memset(s, 0, sizeof *s);
    ts_mkdtemp(s->dir, sizeof s->dir);
    snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
    int out;
    pid_t pid = fork_server(s, &out);
    if (pid == 0) {
        vg_config *cfg = vg_xmalloc(sizeof *cfg);
        vg_config_init(cfg);
        char *argv[32] = { "--listen", "127.0.0.1:0" };
        int argc = 2;
        for (int i = 0; config_args && config_args[i] && argc < 30; i++)
            argv[argc++] = (char *)config_args[i];
        char *rest[33];
        int nrest;
        char err[512];
        char conf[300];
        snprintf(conf, sizeof conf, "%s/empty.conf", s->dir);
        ts_write_file(conf, "", 0);
        if (vg_config_load(cfg, conf, argc, argv, rest, &nrest, err, sizeof err) < 0) {
            fprintf(stderr, "config: %s\n", err);
            _exit(2);
        }
        vg_log_set_level(VG_LOG_DEBUG);
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        vg_server *srv = vg_server_create(loop, cfg);
        vg_http *http = vg_http_create(srv);
        vg_cors_install(http);
        setup(http);
        if (vg_server_listen(srv, err, sizeof err) < 0) {
            fprintf(stderr, "listen: %s\n", err);
            _exit(1);
        }
        vg_server_announce(srv);
        int rc = vg_server_run(srv);
        vg_server_destroy(srv);
        vg_http_destroy(http);
        vg_metrics_reset();
        ev_loop_destroy(loop);
        _exit(rc);
    }
    await_server(s, pid, out);
}


int
ts_alive(const ts_server *s)
{
    return s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0;
}


int
ts_stop(ts_server *s, int sig, double secs)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    double end = now_s() + secs;
    int status;
    while (now_s() < end) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return -1;
}


char *
ts_read_log(const ts_server *s)
{
    FILE *f = fopen(s->log, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}


char *
ts_wait_log(const ts_server *s, const char *needle, double secs)
{
    char *log = ts_read_log(s);
    for (int i = 0; i < (int)(secs * 50) && log && !strstr(log, needle); i++) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        free(log);
        log = ts_read_log(s);
    }
    return log;
}


int
ts_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        fail_msg("connect to port %d: %s", port, strerror(errno));
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}


void
ts_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}


void
ts_send_str(int fd, const char *s)
{
    ts_send(fd, s, strlen(s));
}


ssize_t
ts_recv_some(int fd, char *buf, size_t n, double secs)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, (int)(secs * 1000)) <= 0)
        return -1;
    ssize_t r = recv(fd, buf, n, 0);
    return r < 0 ? 0 : r;
}


int
ts_wait_closed(int fd, double secs)
{
    char buf[4096];
    double end = now_s() + secs;
    while (now_s() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ms = (int)((end - now_s()) * 1000);
        if (poll(&p, 1, ms > 0 ? ms : 0) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            return 1;
    }
    return 0;
}


/* Bytes read past one response, per fd, for the next ts_read_response (pipelining). */
#define MAX_CARRY_FD 4096
static struct {
    char *p;
    size_t n;
} carry[MAX_CARRY_FD];

/* Reads until the buffer holds "\r\n\r\n"; keeps extra bytes in *extra. */
static int
read_head(int fd, ts_resp *r, char **extra, size_t *nextra)
{
    static char buf[1 << 16];
    size_t len = 0;
    if (fd < MAX_CARRY_FD && carry[fd].n) {
        len = carry[fd].n < sizeof buf - 1 ? carry[fd].n : sizeof buf - 1;
        memcpy(buf, carry[fd].p, len);
        free(carry[fd].p);
        carry[fd].p = NULL;
        carry[fd].n = 0;
    }
    for (;;) {
        buf[len] = '\0';
        char *end = len ? strstr(buf, "\r\n\r\n") : NULL;
        if (!end) {
            if (len >= sizeof buf - 1)
                return -1;
            ssize_t n = recv(fd, buf + len, sizeof buf - len - 1, 0);
            if (n <= 0)
                return -1;
            len += (size_t)n;
            continue;
        }
        size_t hl = (size_t)(end - buf) + 4;
        if (hl >= sizeof r->head)
            return -1;
        memcpy(r->head, buf, hl);
        r->head[hl] = '\0';
        *nextra = len - hl;
        *extra = malloc(*nextra + 1);
        memcpy(*extra, buf + hl, *nextra);
        return 0;
    }
}


static int
recv_exact(int fd, char *dst, size_t n, char **extra, size_t *nextra)
{
    size_t take = *nextra < n ? *nextra : n;
    memcpy(dst, *extra, take);
    memmove(*extra, *extra + take, *nextra - take);
    *nextra -= take;
    size_t got = take;
    while (got < n) {
        ssize_t r = recv(fd, dst + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}


static int
recv_line(int fd, char *dst, size_t cap, char **extra, size_t *nextra)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (recv_exact(fd, dst + n, 1, extra, nextra) < 0)
            return -1;
        if (n > 0 && dst[n - 1] == '\r' && dst[n] == '\n') {
            dst[n - 1] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}


const char *
ts_header(const ts_resp *r, const char *name)
{
    static char value[4096];
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= sizeof value)
                n = sizeof value - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}


int
ts_read_response(int fd, ts_resp *r, int head_request)
{
    memset(r, 0, sizeof *r);
    char *extra = NULL;
    size_t nextra = 0;
    int rc = -1;
    if (read_head(fd, r, &extra, &nextra) < 0)
        goto out;
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        goto out;
    if (r->status == 100) {
        /* an interim response: the caller reads the final one next */
        r->body = calloc(1, 1);
        rc = 0;
        goto out;
    }
    const char *cl = ts_header(r, "content-length");
    const char *te = ts_header(r, "transfer-encoding");
    if (head_request || r->status == 204 || r->status == 304) {
        r->body = calloc(1, 1);
    } else if (te && strcasecmp(te, "chunked") == 0) {
        size_t cap = 1024, len = 0;
        r->body = malloc(cap);
        for (;;) {
            char line[128];
            if (recv_line(fd, line, sizeof line, &extra, &nextra) < 0)
                goto out;
            size_t n = strtoul(line, NULL, 16);
            if (n == 0) {
                recv_line(fd, line, sizeof line, &extra, &nextra);
                break;
            }
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                r->body = realloc(r->body, cap);
            }
            if (recv_exact(fd, r->body + len, n, &extra, &nextra) < 0 ||
                recv_line(fd, line, sizeof line, &extra, &nextra) < 0)
                goto out;
            len += n;
        }
        r->body[len] = '\0';
        r->body_len = len;
    } else if (cl) {
        r->body_len = strtoul(cl, NULL, 10);
        r->body = malloc(r->body_len + 1);
        if (recv_exact(fd, r->body, r->body_len, &extra, &nextra) < 0)
            goto out;
        r->body[r->body_len] = '\0';
    } else {
        size_t cap = 4096, len = 0;
        r->body = malloc(cap);
        for (;;) {
            if (len + 1 >= cap)
                r->body = realloc(r->body, cap *= 2);
            if (nextra) {
                size_t t = nextra < cap - len - 1 ? nextra : cap - len - 1;
                recv_exact(fd, r->body + len, t, &extra, &nextra);
                len += t;
                continue;
            }
            ssize_t n = recv(fd, r->body + len, cap - len - 1, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        r->body[len] = '\0';
        r->body_len = len;
    }
    rc = 0;
out:
    if (nextra > 0 && fd < MAX_CARRY_FD) {
        carry[fd].p = extra;
        carry[fd].n = nextra;
        extra = NULL;
    }
    free(extra);
    return rc;
}


void
ts_resp_free(ts_resp *r)
{
    free(r->body);
    r->body = NULL;
}


ssize_t
ts_recv_exact(int fd, void *buf, size_t n)
{
    char *dst = buf;
    size_t got = 0;
    if (fd < MAX_CARRY_FD && carry[fd].n) {
        size_t take = carry[fd].n < n ? carry[fd].n : n;
        memcpy(dst, carry[fd].p, take);
        memmove(carry[fd].p, carry[fd].p + take, carry[fd].n - take);
        carry[fd].n -= take;
        got = take;
    }
    while (got < n) {
        ssize_t r = recv(fd, dst + got, n - got, 0);
        if (r <= 0)
            return got ? (ssize_t)got : -1;
        got += (size_t)r;
    }
    return (ssize_t)got;
}


void
ts_close(int fd)
{
    if (fd >= 0 && fd < MAX_CARRY_FD) {
        free(carry[fd].p);
        carry[fd].p = NULL;
        carry[fd].n = 0;
    }
    close(fd);
}


int
ts_request(int port, const char *raw, ts_resp *r)
{
    int fd = ts_connect(port);
    ts_send_str(fd, raw);
    int rc = ts_read_response(fd, r, strncmp(raw, "HEAD ", 5) == 0);
    ts_close(fd);
    return rc;
}


int
ts_get(int port, const char *path, ts_resp *r)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (ts_request(port, req, r) < 0)
        return -1;
    return r->status;
}
