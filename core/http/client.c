/* client: see client.h. */
#include "http/client.h"

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "base/buf.h"
#include "base/rng.h"
#include "net/tls_conf.h"

struct vg_http_client_tls {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    vg_rng rng;
    int refs;                   /* the owner's, and one per request */
};

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
    int events;                 /* what io watches */
    vg_http_client_tls *tls;    /* https: a reference, and the session */
    mbedtls_ssl_context *ssl;
    int handshake_done;
    vg_http_client_cb cb;
    void *ud;
};


int
vg_http_target_parse(vg_http_target *t, const char *url, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        t->tls = 1;
    } else {
        snprintf(err, errlen, "'%.100s': only http:// and https:// URLs", url);
        return -1;
    }
    const char *slash = strchr(p, '/');
    size_t hn = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[280], host[256], port[8];
    snprintf(port, sizeof port, "%s", t->tls ? "443" : "80");
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
    if (n == 0 || n >= sizeof host) {
        snprintf(err, errlen, "'%.100s': bad host", url);
        return -1;
    }
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
    /* a name or an address, nothing else: the host goes into the Host header, and is resolved only later */
    if (host[strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:%")] != '\0'
        || (hostport[0] != '[' && strpbrk(host, ":%"))) {
        snprintf(err, errlen, "'%.100s': bad host", url);
        return -1;
    }
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (v < 1 || v > 65535 || *end || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {   /* digits only: it goes into the Host header */
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
    snprintf(t->port, sizeof t->port, "%s", port);
    snprintf(t->host, sizeof t->host, "%s", hostport);
    snprintf(t->name, sizeof t->name, "%s", host);
    snprintf(t->path, sizeof t->path, "%s", path);
    return 0;
}


static void
tls_unref(vg_http_client_tls *tls)
{
    if (!tls || --tls->refs > 0)
        return;
    mbedtls_ssl_config_free(&tls->conf);
    mbedtls_x509_crt_free(&tls->ca);
    vg_rng_free(&tls->rng);
    free(tls);
}


vg_http_client_tls *
vg_http_client_tls_create(const char *ca_file, char *err, size_t errlen)
{
    if (!ca_file || !ca_file[0])
        ca_file = VG_HTTP_CLIENT_CA_FILE;
    vg_http_client_tls *tls = vg_xcalloc(1, sizeof *tls);
    tls->refs = 1;
    mbedtls_ssl_config_init(&tls->conf);
    mbedtls_x509_crt_init(&tls->ca);
    int rc;
    char what[600];
    if ((rc = vg_rng_init(&tls->rng, "vigia-http-client")) != 0) {
        vg_tls_describe(rc, "seeding the random generator", err, errlen);
        goto fail;
    }
    /* a bundle may hold certificates mbedtls cannot read (rc > 0: how many); one it can read is enough */
    rc = mbedtls_x509_crt_parse_file(&tls->ca, ca_file);
    if (rc < 0 || tls->ca.version == 0) {
        snprintf(what, sizeof what, "CA file '%.500s'", ca_file);
        vg_tls_describe(rc < 0 ? rc : MBEDTLS_ERR_X509_INVALID_FORMAT, what, err, errlen);
        goto fail;
    }
    if (vg_tls_conf_init(&tls->conf, MBEDTLS_SSL_IS_CLIENT, &tls->rng, err, errlen) != 0)
        goto fail;
    mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&tls->conf, &tls->ca, NULL);
    return tls;
fail:
    tls_unref(tls);
    return NULL;
}


void
vg_http_client_tls_destroy(vg_http_client_tls *tls)
{
    tls_unref(tls);
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
    if (r->ssl) {
        mbedtls_ssl_free(r->ssl);
        free(r->ssl);
    }
    tls_unref(r->tls);
    vg_buf_release(&r->out);
    free(r);
}


static void
finish(vg_http_client_req *r, int status, const char *err, int tls_failed)
{
    vg_http_client_cb cb = r->cb;
    void *ud = r->ud;
    req_free(r);
    cb(status, err, tls_failed, ud);
}


/* The socket's watcher on `events` (EV_READ or EV_WRITE). */
static void
watch(vg_http_client_req *r, int events)
{
    if (r->events == events)
        return;
    ev_io_stop(r->loop, &r->io);
    ev_io_set(&r->io, r->fd, events);
    ev_io_start(r->loop, &r->io);
    r->events = events;
}

/* ---- mbedtls reads and writes the socket through these ---- */

static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    return vg_tls_fd_send(((vg_http_client_req *)ctx)->fd, buf, len);
}


static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    return vg_tls_fd_recv(((vg_http_client_req *)ctx)->fd, buf, len);
}


/*
 * The handshake's next step: 1 when it is done, 0 while it waits for the
 * socket (the watcher set for what it waits on), -1 when it failed (finished).
 */
static int
handshake(vg_http_client_req *r)
{
    int rc = mbedtls_ssl_handshake(r->ssl);
    if (rc == 0) {
        r->handshake_done = 1;
        return 1;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        watch(r, rc == MBEDTLS_ERR_SSL_WANT_READ ? EV_READ : EV_WRITE);
        return 0;
    }
    char err[512];
    uint32_t flags = mbedtls_ssl_get_verify_result(r->ssl);
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags && flags != (uint32_t)-1) {
        char info[384];
        int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        /* one line: mbedtls ends each reason with a newline */
        for (int i = 0; i < n && info[i]; i++)
            if (info[i] == '\n')
                info[i] = (i + 1 < n && info[i + 1]) ? ';' : '\0';
        snprintf(err, sizeof err, "TLS handshake: certificate verify failed: %s", n > 0 ? info : "unknown reason");
    } else {
        vg_tls_describe(rc, "TLS handshake", err, sizeof err);
    }
    finish(r, 0, err, 1);
    return -1;
}


/* Writes what is left of the request: n bytes, or -1 with errno (EAGAIN: later). */
static ssize_t
put(vg_http_client_req *r)
{
    if (!r->ssl)
        return send(r->fd, r->out.data + r->sent, r->out.len - r->sent, MSG_NOSIGNAL);
    int n = mbedtls_ssl_write(r->ssl, (const unsigned char *)r->out.data + r->sent, r->out.len - r->sent);
    if (n >= 0)
        return n;
    errno = (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) ? EAGAIN : EPROTO;
    return -1;
}


/* Reads into what is left of in: n bytes (0: closed), or -1 with errno (EAGAIN: later). */
static ssize_t
get(vg_http_client_req *r)
{
    if (!r->ssl)
        return recv(r->fd, r->in + r->got, sizeof r->in - r->got, 0);
    int n = mbedtls_ssl_read(r->ssl, (unsigned char *)r->in + r->got, sizeof r->in - r->got);
    if (n >= 0)
        return n;
    if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        return 0;
    errno = (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) ? EAGAIN : EPROTO;
    return -1;
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    vg_http_client_req *r = w->data;
    char err[128];
    if (!r->connected) {
        if (!(revents & EV_WRITE))
            return;
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e) {
            snprintf(err, sizeof err, "connect: %s", strerror(e));
            finish(r, 0, err, 0);
            return;
        }
        r->connected = 1;
    }
    if (r->ssl && !r->handshake_done && handshake(r) <= 0)
        return;
    if (r->sent < r->out.len) {
        watch(r, EV_WRITE);
        ssize_t n = put(r);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, sizeof err, "send: %s", strerror(errno));
            finish(r, 0, err, 0);
            return;
        }
        if (n > 0)
            r->sent += (size_t)n;
        if (r->sent < r->out.len)
            return;
        watch(r, EV_READ);
        if (!r->ssl)
            return;             /* TLS may hold a record already read: try it now */
    }
    /* TLS may hand out less than it has buffered, and the socket says nothing of that: read until it waits */
    for (;;) {
        ssize_t n = get(r);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            finish(r, 0, n == 0 ? "closed before an answer" : "recv failed", 0);
            return;
        }
        r->got += (size_t)n;
        int status;
        int rc = vg_http_client_status(r->in, r->got, &status);
        if (rc > 0) {
            finish(r, status, NULL, 0);
            return;
        }
        if (rc < 0 || r->got == sizeof r->in) {
            finish(r, 0, "not an HTTP answer", 0);
            return;
        }
    }
}


static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_http_client_req *r = w->data;
    finish(r, 0, r->ssl && !r->handshake_done && r->connected ? "timed out in the TLS handshake" : "timed out", 0);
}


vg_http_client_req *
vg_http_client_post(struct ev_loop *loop, const vg_http_target *t, vg_http_client_tls *tls, const char *headers,
                    const void *body, size_t len, double timeout, vg_http_client_cb cb, void *ud)
{
    if (t->tls && !tls)
        return NULL;
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
    if (t->tls) {
        r->tls = tls;
        tls->refs++;
        r->ssl = vg_xcalloc(1, sizeof *r->ssl);
        mbedtls_ssl_init(r->ssl);
        if (mbedtls_ssl_setup(r->ssl, &tls->conf) != 0 || mbedtls_ssl_set_hostname(r->ssl, t->name) != 0) {
            r->fd = fd;
            req_free(r);
            return NULL;
        }
        mbedtls_ssl_set_bio(r->ssl, r, bio_send, bio_recv, NULL);
    }
    vg_buf_init(&r->out);
    vg_buf_printf(&r->out, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", t->path,
                  t->host, len, headers ? headers : "");
    vg_buf_append(&r->out, body, len);
    ev_io_init(&r->io, on_io, fd, EV_WRITE);
    r->events = EV_WRITE;
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
