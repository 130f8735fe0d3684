/* client: see client.h. */
#include "http/client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"

struct vg_http_client_req {
    struct ev_loop *loop;
    int fd;
    ev_io io;
    ev_timer timer;
    vg_buf out;                 /* the request */
    size_t sent;
    char in[VG_HTTP_CLIENT_HEAD_MAX];
    size_t got;
    int connected;
    vg_http_client_cb cb;
    void *ud;
};


int
vg_http_target_parse(vg_http_target *t, const char *url, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "'%.100s': only http:// URLs", url);
        return -1;
    }
    const char *p = url + 7, *slash = strchr(p, '/');
    size_t hn = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[280], host[256], port[8] = "80";
    if (hn == 0 || hn >= sizeof hostport) {
        snprintf(err, errlen, "'%.100s': no host", url);
        return -1;
    }
    memcpy(hostport, p, hn);
    hostport[hn] = '\0';
    const char *colon = hostport[0] == '[' ? strstr(hostport, "]:") : strrchr(hostport, ':');
    if (colon && hostport[0] == '[')
        colon++;
    size_t n = colon ? (size_t)(colon - hostport) : hn;
    if (hostport[0] == '[') {   /* [v6] */
        if (n < 3 || hostport[n - 1] != ']') {
            snprintf(err, errlen, "'%.100s': bad host", url);
            return -1;
        }
        memcpy(host, hostport + 1, n - 2);
        host[n - 2] = '\0';
    } else {
        memcpy(host, hostport, n);
        host[n] = '\0';
    }
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (v < 1 || v > 65535 || *end) {
            snprintf(err, errlen, "'%.100s': bad port", url);
            return -1;
        }
        snprintf(port, sizeof port, "%ld", v);
    }
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof t->path || strpbrk(path, " \r\n")) {
        snprintf(err, errlen, "'%.100s': bad path", url);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "'%.100s': cannot resolve '%s': %s", url, host, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(t->host, sizeof t->host, "%s", hostport);
    snprintf(t->path, sizeof t->path, "%s", path);
    return 0;
}


int
vg_http_client_status(const char *buf, size_t n, int *status)
{
    static const char pre[] = "HTTP/1.";
    for (size_t i = 0; i < n && i < sizeof pre - 1; i++)
        if (buf[i] != pre[i])
            return -1;
    const char *eol = memchr(buf, '\n', n);
    if (!eol)
        return n >= VG_HTTP_CLIENT_HEAD_MAX ? -1 : 0;
    size_t len = (size_t)(eol - buf);
    /* "HTTP/1.x NNN" at least, then a space or the line's end */
    if (len < 12 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        return -1;
    int v = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        v = v * 10 + (buf[i] - '0');
    }
    if (len > 12 && buf[12] != ' ' && buf[12] != '\r')
        return -1;
    if (v < 100 || v > 599)
        return -1;
    *status = v;
    return 1;
}


static void
req_free(vg_http_client_req *r)
{
    ev_io_stop(r->loop, &r->io);
    ev_timer_stop(r->loop, &r->timer);
    if (r->fd >= 0)
        close(r->fd);
    vg_buf_release(&r->out);
    free(r);
}


static void
finish(vg_http_client_req *r, int status, const char *err)
{
    vg_http_client_cb cb = r->cb;
    void *ud = r->ud;
    req_free(r);
    cb(status, err, ud);
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    vg_http_client_req *r = w->data;
    char err[128];
    if (!r->connected && (revents & EV_WRITE)) {
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e) {
            snprintf(err, sizeof err, "connect: %s", strerror(e));
            finish(r, 0, err);
            return;
        }
        r->connected = 1;
    }
    if ((revents & EV_WRITE) && r->sent < r->out.len) {
        ssize_t n = send(r->fd, r->out.data + r->sent, r->out.len - r->sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, sizeof err, "send: %s", strerror(errno));
            finish(r, 0, err);
            return;
        }
        if (n > 0)
            r->sent += (size_t)n;
        if (r->sent == r->out.len) {
            ev_io_stop(r->loop, &r->io);
            ev_io_set(&r->io, r->fd, EV_READ);
            ev_io_start(r->loop, &r->io);
        }
        return;
    }
    if (revents & EV_READ) {
        ssize_t n = recv(r->fd, r->in + r->got, sizeof r->in - r->got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            finish(r, 0, n == 0 ? "closed before an answer" : "recv failed");
            return;
        }
        r->got += (size_t)n;
        int status;
        int rc = vg_http_client_status(r->in, r->got, &status);
        if (rc > 0)
            finish(r, status, NULL);
        else if (rc < 0)
            finish(r, 0, "not an HTTP answer");
    }
}


static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    finish(w->data, 0, "timed out");
}


vg_http_client_req *
vg_http_client_post(struct ev_loop *loop, const vg_http_target *t, const char *headers, const void *body, size_t len,
                    double timeout, vg_http_client_cb cb, void *ud)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    vg_http_client_req *r = vg_xcalloc(1, sizeof *r);
    r->loop = loop;
    r->fd = fd;
    r->cb = cb;
    r->ud = ud;
    vg_buf_init(&r->out);
    vg_buf_printf(&r->out, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", t->path,
                  t->host, len, headers ? headers : "");
    vg_buf_append(&r->out, body, len);
    ev_io_init(&r->io, on_io, fd, EV_WRITE);
    r->io.data = r;
    ev_io_start(loop, &r->io);
    ev_timer_init(&r->timer, on_timeout, timeout, 0);
    r->timer.data = r;
    ev_timer_start(loop, &r->timer);
    return r;
}


void
vg_http_client_cancel(vg_http_client_req *r)
{
    if (r)
        req_free(r);
}
