/* fuzz/harness: see harness.h. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>


static void
on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(int *)w->data = 1;
    ev_break(loop, EVBREAK_ONE);
}


static void
drain(int fd, vg_buf *out)
{
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        vg_buf_append(out, buf, (size_t)r);
}


int
fz_exchange(vg_server *srv, const void *req, size_t n, vg_buf *out, double timeout)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();   /* out of fds: a leak in the code under test */
    int sz = 4 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    int before = vg_server_connection_count(srv);
    vg_server_adopt(srv, sv[0], "127.0.0.1:1");
    int late = 0;
    ev_timer deadline;
    ev_timer_init(&deadline, on_deadline, timeout, 0);
    deadline.data = &late;
    ev_timer_start(vg_server_loop(srv), &deadline);
    size_t sent = 0;
    int shut = 0;
    while (!late) {
        if (sent < n) {
            ssize_t w = write(sv[1], (const char *)req + sent, n - sent);
            if (w > 0)
                sent += (size_t)w;
        }
        /* block only when everything is written: the answer may wait for a child process */
        ev_run(vg_server_loop(srv), sent < n ? EVRUN_NOWAIT : EVRUN_ONCE);
        drain(sv[1], out);
        if (sent == n && vg_server_connection_count(srv) <= before)
            break;
        /* a whole answer is in: our end of the close (the server lingers for it) */
        size_t at = 0;
        fz_resp r;
        if (sent == n && !shut && fz_response(out->data, out->len, &at, &r) == 0 && r.status >= 200 && at == out->len) {
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
    }
    ev_timer_stop(vg_server_loop(srv), &deadline);
    drain(sv[1], out);
    close(sv[1]);
    vg_server_close_connections(srv, "fuzz done");
    ev_run(vg_server_loop(srv), EVRUN_NOWAIT);   /* the prepare watcher frees closed connections */
    return late ? -1 : 0;
}


int
fz_response(const char *p, size_t n, size_t *at, fz_resp *r)
{
    memset(r, 0, sizeof *r);
    if (!p || *at >= n)
        return -1;
    const char *s = p + *at;
    size_t left = n - *at;
    if (left < 12 || memcmp(s, "HTTP/1.1 ", 9) != 0)
        return -1;
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (r->status < 100 || r->status > 599)
        return -1;
    const char *end = memmem(s, left, "\r\n\r\n", 4);
    if (!end)
        return -1;
    r->head = s;
    r->head_len = (size_t)(end - s);
    size_t head = r->head_len + 4;
    vg_str cl = fz_header(r, "content-length");
    size_t body = 0;
    if (cl.p) {
        char num[24];
        if (cl.n == 0 || cl.n >= sizeof num)
            return -1;
        memcpy(num, cl.p, cl.n);
        num[cl.n] = '\0';
        char *e;
        errno = 0;
        unsigned long long v = strtoull(num, &e, 10);
        if (*e || errno)
            return -1;
        body = (size_t)v;
    }
    if (body > left - head)
        return -1;
    r->body = s + head;
    r->body_len = body;
    *at += head + body;
    return 0;
}


vg_str
fz_header(const fz_resp *r, const char *name)
{
    vg_str none = { NULL, 0 };
    size_t nl = strlen(name);
    const char *p = memchr(r->head, '\n', r->head_len);
    const char *end = r->head + r->head_len;
    while (p && p < end) {
        const char *line = p + 1;
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            vg_str s = { v, (size_t)(eol - v) };
            return s;
        }
        p = eol < end ? eol + 1 : NULL;
    }
    return none;
}


int
fz_is_json_error(const fz_resp *r)
{
    vg_str ct = fz_header(r, "content-type");
    if (r->status < 400 || !ct.p || ct.n < 16 || strncasecmp(ct.p, "application/json", 16) != 0)
        return 0;
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    int ok = json_is_object(e) && json_is_string(json_object_get(e, "code")) &&
             json_is_string(json_object_get(e, "message"));
    json_decref(j);
    return ok;
}


static char temp_root[256];


static void
remove_temp_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", temp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", temp_root);
}


void
fz_temp_root(const char *prefix, char *root, size_t cap)
{
    if (temp_root[0] || cap < sizeof temp_root)
        abort();   /* one per process, and a buffer for any path */
    snprintf(temp_root, sizeof temp_root, "/dev/shm/%s-XXXXXX", prefix);
    if (!mkdtemp(temp_root)) {
        snprintf(temp_root, sizeof temp_root, "/tmp/%s-XXXXXX", prefix);
        if (!mkdtemp(temp_root))
            abort();
    }
    atexit(remove_temp_root);
    snprintf(root, cap, "%s", temp_root);
}


void
fz_write_unloaded_model(const char *models_dir)
{
    static const char manifest[] = "[model]\nname = m\nbackend = cpu\ncfg = m.cfg\nweights = m.weights\n"
                                   "names = m.names\nworkers = 1\n";
    char path[512];
    snprintf(path, sizeof path, "%s/m", models_dir);
    if (mkdir(path, 0700) != 0)
        abort();
    snprintf(path, sizeof path, "%s/m/model.conf", models_dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(manifest, f) < 0 || fclose(f) != 0)
        abort();
}


void
fz_config_set(vg_config *cfg, const char *section, const char *key, const char *value)
{
    char err[256];
    if (vg_config_set(cfg, section, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
}
