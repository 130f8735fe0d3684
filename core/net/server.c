/* server: see server.h. */
#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "base/log.h"
#include "base/metrics.h"
#include "net/looplag.h"
#include "net/tls.h"

#define MAX_LISTENERS (2 * VG_CONFIG_MAX_LISTEN)
#define MAX_HOOKS 16
/* At the fd limit with no spare descriptor, accepting pauses this long. */
#define ACCEPT_PAUSE_S 0.25
/* An fd-limit episode ends after this long without EMFILE/ENFILE (then its one summary line). */
#define FD_EPISODE_QUIET_S 5.
#define LOOP_LAG_INTERVAL_S 0.1   /* ten ticks a second: cheap, and fine enough for stalls that matter */
/* Descriptors the master holds besides its clients: loop, log, listeners, store and hasher
 * channels, LMDB, the web root, files being sent, the reserve; and per worker. */
#define FDS_OWN 64
#define FDS_PER_WORKER 4

typedef struct listener {
    int fd;
    int tls;                /* connections get the TLS transport */
    ev_io w;
    char addr[80];          /* "127.0.0.1:8080" as bound (real port) */
    char url[96];           /* "http://127.0.0.1:8080/" or "https://..." */
} listener;

struct vg_server {
    struct ev_loop *loop;
    vg_config *cfg;                     /* current config, owned */
    struct vg_tls *tls;                 /* when tls.listen is set */
    vg_server_accept_fn accept;         /* makes an accepted socket a connection */
    void *accept_ud;
    listener listeners[MAX_LISTENERS];
    int n_listeners;
    vg_conns *conns;                    /* open connections */
    ev_prepare prepare;
    ev_signal sig_term, sig_int, sig_hup;
    ev_timer drain_timer;
    ev_timer accept_pause;              /* at the fd limit: restarts the listeners */
    vg_looplag *lag;                    /* how late the loop runs (vigia_event_loop_lag_seconds) */
    ev_timer fd_quiet;                  /* ends an fd-limit episode FD_EPISODE_QUIET_S after its last EMFILE */
    int reserve_fd;                     /* spare descriptor given up to answer 503 at the fd limit, or -1 */
    int fd_limited;                     /* an fd-limit episode is on: accept met EMFILE/ENFILE */
    unsigned long fd_refused, fd_pauses;   /* this episode's 503s and pauses, for its closing log line */
    int draining;                       /* SIGTERM seen: no new connections or requests */
    int exit_code;
    vg_server_hooks hooks[MAX_HOOKS];
    int n_hooks;
    char *reload_config;                /* config file path given at start, for SIGHUP */
    int reload_argc;
    char **reload_argv;                 /* command-line options given at start, for SIGHUP */
    ev_tstamp started;
    vg_series *m_conn_accepted, *m_conn_refused, *m_fd_refused, *m_fd_pauses;
};

static void on_accept(struct ev_loop *loop, ev_io *w, int revents);
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents);
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents);
static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents);
static void on_fd_quiet(struct ev_loop *loop, ev_timer *w, int revents);


static void
collect_conns(vg_metric *m, void *ud)
{
    vg_server *s = ud;
    vg_series_set(vg_metrics_single(m), vg_conns_count(s->conns));
}


vg_server *
vg_server_create(struct ev_loop *loop, vg_config *cfg)
{
    vg_server *s = vg_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    ev_set_userdata(loop, s);
    for (int i = 0; i < MAX_LISTENERS; i++)
        s->listeners[i].fd = -1;
    ev_prepare_init(&s->prepare, on_prepare);
    s->prepare.data = s;
    ev_prepare_start(loop, &s->prepare);
    ev_signal_init(&s->sig_term, on_signal, SIGTERM);
    ev_signal_init(&s->sig_int, on_signal, SIGINT);
    ev_signal_init(&s->sig_hup, on_signal, SIGHUP);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    ev_signal_start(loop, &s->sig_term);
    ev_signal_start(loop, &s->sig_int);
    ev_signal_start(loop, &s->sig_hup);
    ev_init(&s->drain_timer, on_drain_timeout);
    s->drain_timer.data = s;
    ev_init(&s->accept_pause, on_accept_pause);
    s->accept_pause.data = s;
    ev_init(&s->fd_quiet, on_fd_quiet);
    s->fd_quiet.repeat = FD_EPISODE_QUIET_S;
    s->fd_quiet.data = s;
    s->reserve_fd = -1;
    s->started = ev_now(loop);
    signal(SIGPIPE, SIG_IGN);

    vg_metric *open_m = vg_metrics_register("vigia_http_connections", "open client connections",
                                            VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(open_m, collect_conns, s);
    s->m_conn_accepted = vg_metrics_single(vg_metrics_register(
        "vigia_http_connections_accepted_total", "client connections accepted", VG_COUNTER, "", NULL, 0));
    s->m_conn_refused = vg_metrics_single(vg_metrics_register(
        "vigia_http_connections_refused_total", "connections refused at server.max_connections",
        VG_COUNTER, "", NULL, 0));
    s->m_fd_refused = vg_metrics_single(vg_metrics_register(
        "vigia_http_fd_limit_refused_total",
        "connections answered 503 because the master was at its file-descriptor limit", VG_COUNTER, "", NULL, 0));
    s->m_fd_pauses = vg_metrics_single(vg_metrics_register(
        "vigia_http_fd_limit_pauses_total", "times accepting paused at the file-descriptor limit", VG_COUNTER,
        "", NULL, 0));
    vg_series *bytes_in = vg_metrics_single(vg_metrics_register(
        "vigia_http_received_bytes_total", "bytes read from clients", VG_COUNTER, "", NULL, 0));
    vg_series *bytes_out = vg_metrics_single(vg_metrics_register(
        "vigia_http_sent_bytes_total", "bytes written to clients", VG_COUNTER, "", NULL, 0));
    s->conns = vg_conns_create(loop, cfg->write_timeout, bytes_in, bytes_out);
    s->lag = vg_looplag_start(loop, LOOP_LAG_INTERVAL_S);
    return s;
}


void
vg_server_add_hooks(vg_server *s, const vg_server_hooks *h)
{
    if (s->n_hooks < MAX_HOOKS)
        s->hooks[s->n_hooks++] = *h;
    else
        vg_error("server", "too many module hooks");
}


void
vg_server_set_acceptor(vg_server *s, vg_server_accept_fn fn, void *ud)
{
    s->accept = fn;
    s->accept_ud = ud;
}


void
vg_server_set_reload_args(vg_server *s, const char *config_path, int argc, char **argv)
{
    free(s->reload_config);
    s->reload_config = config_path ? vg_xstrdup(config_path) : NULL;
    s->reload_argc = argc;
    s->reload_argv = argv;
}


struct ev_loop *vg_server_loop(const vg_server *s) { return s->loop; }
const vg_config *vg_server_config(const vg_server *s) { return s->cfg; }
double vg_server_uptime(const vg_server *s) { return ev_now(s->loop) - s->started; }
int vg_server_is_draining(const vg_server *s) { return s->draining; }
int vg_server_connection_count(const vg_server *s) { return vg_conns_count(s->conns); }


void
vg_server_close_connections(vg_server *s, const char *why)
{
    vg_conns_close_all(s->conns, why);
}


int
vg_server_ready(vg_server *s, char *why, size_t whylen)
{
    for (int i = 0; i < s->n_hooks; i++)
        if (s->hooks[i].ready && !s->hooks[i].ready(s, s->hooks[i].ud, why, whylen))
            return 0;
    return 1;
}


/* "127.0.0.1:8080", "[::1]:0", "0.0.0.0:80", ":8080" (all IPv4). */
static int
parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
    char host[64];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host) {
            snprintf(err, errlen, "listen address '%s': expected [IPv6]:PORT", spec);
            return -1;
        }
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host) {
            snprintf(err, errlen, "listen address '%s': expected HOST:PORT", spec);
            return -1;
        }
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
        if (!host[0] || strcmp(host, "*") == 0)
            strcpy(host, "0.0.0.0");
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "listen address '%s': bad port '%s'", spec, port);
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
    } else {
        /* names would need DNS, which the reactor never does: numeric only */
        snprintf(err, errlen, "listen address '%s': '%s' is not a numeric IPv4 or IPv6 address", spec, host);
        return -1;
    }
    return 0;
}


static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, n, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, n, "[%s]:%d", ip, port);
    } else {
        snprintf(out, n, "unix");
    }
}


int
vg_server_check_config(const vg_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    for (int i = 0; i < cfg->listen.n; i++)
        if (parse_addr(cfg->listen.v[i], &ss, &len, err, errlen) < 0)
            return -1;
    for (int i = 0; i < cfg->tls_listen.n; i++)
        if (parse_addr(cfg->tls_listen.v[i], &ss, &len, err, errlen) < 0)
            return -1;
    if (cfg->tls_listen.n > 0) {
        vg_tls *t = vg_tls_create(cfg, err, errlen);
        if (!t)
            return -1;
        vg_tls_destroy(t);
    }
    return 0;
}


static int
bind_one(vg_server *s, const char *spec, int tls, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(spec, &ss, &len, err, errlen) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for %s: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, s->cfg->backlog) < 0) {
        int e = errno;
        const char *key = tls ? "tls-listen" : "listen";
        if (e == EADDRINUSE)
            snprintf(err, errlen, "cannot listen on %s: another program (another vigia?) is already listening "
                     "there: stop it, or pick another address with --%s HOST:PORT (e.g. --%s %s:0 for any free "
                     "port) or %s in the config file", spec, key, key, ss.ss_family == AF_INET6 ? "[::1]" : "127.0.0.1",
                     tls ? "[tls] listen" : "[server] listen");
        else if (e == EACCES)
            snprintf(err, errlen, "cannot listen on %s: %s (ports below 1024 need root or CAP_NET_BIND_SERVICE; "
                     "pick another address with --%s HOST:PORT)", spec, strerror(e), key);
        else if (e == EADDRNOTAVAIL)
            snprintf(err, errlen, "cannot listen on %s: no interface of this machine has that address "
                     "(pick another with --%s HOST:PORT)", spec, key);
        else
            snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(e));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &blen);
    listener *l = &s->listeners[s->n_listeners++];
    l->fd = fd;
    l->tls = tls;
    char addr[sizeof l->addr];
    format_addr(&bound, addr, sizeof addr);
    memcpy(l->addr, addr, sizeof addr);
    snprintf(l->url, sizeof l->url, "%s://%s/", tls ? "https" : "http", addr);
    ev_io_init(&l->w, on_accept, fd, EV_READ);
    l->w.data = l;
    ev_io_start(s->loop, &l->w);
    return 0;
}


/*
 * The soft RLIMIT_NOFILE should hold server.max_connections clients plus the
 * master's own descriptors: raise it toward that (never past the hard limit)
 * and warn when it stays below, since past it connections get 503.
 */
static void
fit_fd_limit(const vg_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t need = (rlim_t)cfg->max_connections + FDS_OWN + FDS_PER_WORKER * (rlim_t)cfg->workers;
    if (rl.rlim_cur >= need)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
        vg_info("server", "raised the file-descriptor limit from %llu to %llu", (unsigned long long)was,
                (unsigned long long)rl.rlim_cur);
    else
        rl.rlim_cur = was;
    if (rl.rlim_cur < need)
        vg_warn("server", "the file-descriptor limit (%llu, hard %llu) is below the %llu that "
                "server.max_connections = %d and %d workers need: connections past it are answered 503; "
                "raise it (LimitNOFILE, ulimit -n) or lower server.max_connections", (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max, (unsigned long long)need, cfg->max_connections, cfg->workers);
}


/* The spare descriptor at_fd_limit gives up to take one connection and answer it 503. */
static void
reserve_fd_take(vg_server *s)
{
    if (s->reserve_fd < 0)
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}


int
vg_server_listen(vg_server *s, char *err, size_t errlen)
{
    fit_fd_limit(s->cfg);
    reserve_fd_take(s);
    if (s->cfg->tls_listen.n > 0 && !s->tls) {
        s->tls = vg_tls_create(s->cfg, err, errlen);
        if (!s->tls)
            return -1;
    }
    for (int i = 0; i < s->cfg->listen.n; i++)
        if (bind_one(s, s->cfg->listen.v[i], 0, err, errlen) < 0)
            return -1;
    for (int i = 0; i < s->cfg->tls_listen.n; i++)
        if (bind_one(s, s->cfg->tls_listen.v[i], 1, err, errlen) < 0)
            return -1;
    return 0;
}


const char *
vg_server_address(const vg_server *s, int i)
{
    return i >= 0 && i < s->n_listeners ? s->listeners[i].addr : NULL;
}


void
vg_server_announce(vg_server *s)
{
    for (int i = 0; i < s->n_listeners; i++) {
        printf("vigia: serving %s\n", s->listeners[i].url);
        vg_info("server", "listening on %s", s->listeners[i].addr);
    }
    fflush(stdout);
}


/* Over the connection limit: a short 503 written once, without a connection object; counted in `m`. */
static void
refuse(int fd, vg_series *m)
{
#define REFUSAL_BODY "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"connection limit reached, retry\"}}\n"
    static char msg[512];
    static int len;
    if (!len)
        len = snprintf(msg, sizeof msg,
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                       "Retry-After: 1\r\nContent-Length: %zu\r\n\r\n%s", sizeof REFUSAL_BODY - 1, REFUSAL_BODY);
    ssize_t w = send(fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    shutdown(fd, SHUT_WR);
    close(fd);
    vg_series_add(m, 1);
}


static void
listeners_set_active(vg_server *s, int on)
{
    for (int i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i].fd < 0)
            continue;
        if (on)
            ev_io_start(s->loop, &s->listeners[i].w);
        else
            ev_io_stop(s->loop, &s->listeners[i].w);
    }
}


/*
 * accept() met EMFILE/ENFILE: the connection stays in the backlog and the
 * listener stays readable, so returning would spin the loop (and the log).
 * Give the reserve descriptor up for as long as it takes to accept the
 * connection and answer 503; without one, or when even that fails, stop
 * accepting for ACCEPT_PAUSE_S. One log line opens the episode and one
 * closes it with its counts, FD_EPISODE_QUIET_S after the last EMFILE
 * (on_fd_quiet), however often the limit is met in between. Returns 1 to
 * go on accepting, 0 to stop for now.
 */
static int
at_fd_limit(vg_server *s, int listen_fd, int err)
{
    if (!s->fd_limited) {
        s->fd_limited = 1;
        s->fd_refused = s->fd_pauses = 0;
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        vg_warn("server", "accept: %s: the master is at its file-descriptor limit (%llu); new connections are "
                "answered 503 until descriptors free up (raise LimitNOFILE or lower server.max_connections)",
                strerror(err), (unsigned long long)rl.rlim_cur);
    }
    ev_timer_again(s->loop, &s->fd_quiet);
    if (s->reserve_fd >= 0) {
        close(s->reserve_fd);
        s->reserve_fd = -1;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int e = errno;
        if (fd >= 0) {
            refuse(fd, s->m_fd_refused);   /* closes it: the reserve takes its place */
            s->fd_refused++;
        }
        reserve_fd_take(s);
        if (fd >= 0)
            return 1;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return 0;
        if (e == EINTR || e == ECONNABORTED)
            return 1;
    }
    listeners_set_active(s, 0);
    ev_timer_set(&s->accept_pause, ACCEPT_PAUSE_S, 0.);
    ev_timer_start(s->loop, &s->accept_pause);
    vg_series_add(s->m_fd_pauses, 1);
    s->fd_pauses++;
    return 0;
}


static void
on_fd_quiet(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    vg_server *s = w->data;
    ev_timer_stop(loop, w);
    s->fd_limited = 0;
    vg_info("server", "file-descriptor limit episode over: %lu connections answered 503, accepting paused %lu "
            "times", s->fd_refused, s->fd_pauses);
}


static void
on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_server *s = w->data;
    reserve_fd_take(s);
    if (!s->draining)
        listeners_set_active(s, 1);
}


static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    listener *l = (listener *)((char *)w - offsetof(listener, w));
    vg_server *s = ev_userdata(loop);
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                if (at_fd_limit(s, w->fd, errno))
                    continue;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                vg_warn("server", "accept: %s", strerror(errno));
            }
            return;
        }
        if (vg_conns_count(s->conns) >= s->cfg->max_connections || s->draining) {
            refuse(fd, s->m_conn_refused);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char peer[64];
        format_addr(&ss, peer, sizeof peer);
        vg_conn *c = vg_server_adopt(s, fd, peer);
        if (c && l->tls && vg_tls_attach(s->tls, c) < 0)
            vg_conn_close(c, "TLS setup failed");
    }
}


vg_conn *
vg_server_adopt(vg_server *s, int fd, const char *peer)
{
    if (!s->accept) {
        vg_error("server", "no protocol to serve connections with");
        close(fd);
        return NULL;
    }
    vg_conn *c = s->accept(s->conns, fd, peer, s->accept_ud);
    vg_series_add(s->m_conn_accepted, 1);
    return c;
}


int
vg_server_busy(vg_server *s)
{
    int busy = 0;
    for (int i = 0; i < s->n_hooks; i++)
        if (s->hooks[i].busy)
            busy += s->hooks[i].busy(s, s->hooks[i].ud);
    return busy;
}


static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    vg_server *s = w->data;
    vg_conns_reap(s->conns);
    if (s->draining && vg_conns_count(s->conns) == 0 && vg_server_busy(s) == 0) {
        vg_info("server", "drained, exiting");
        ev_break(loop, EVBREAK_ALL);
    }
}


static void
stop_listeners(vg_server *s)
{
    for (int i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i].fd < 0)
            continue;
        ev_io_stop(s->loop, &s->listeners[i].w);
        close(s->listeners[i].fd);
        s->listeners[i].fd = -1;
    }
}


void
vg_server_drain(vg_server *s)
{
    if (s->draining)
        return;
    s->draining = 1;
    vg_info("server", "draining: %d connections open, %d jobs in flight", vg_conns_count(s->conns),
            vg_server_busy(s));
    stop_listeners(s);
    for (int i = 0; i < s->n_hooks; i++)
        if (s->hooks[i].on_drain)
            s->hooks[i].on_drain(s, s->hooks[i].ud);
    vg_conns_shutdown(s->conns);
    ev_timer_set(&s->drain_timer, s->cfg->drain_timeout, 0.);
    ev_timer_start(s->loop, &s->drain_timer);
}


static void
on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    vg_server *s = w->data;
    vg_warn("server", "drain timeout: closing %d connections with %d jobs in flight", vg_conns_count(s->conns),
            vg_server_busy(s));
    vg_conns_close_all(s->conns, "drain timeout");
    ev_break(loop, EVBREAK_ALL);
}


int
vg_server_reload(vg_server *s, char *err, size_t errlen)
{
    vg_config *next = vg_xmalloc(sizeof *next);
    vg_config_init(next);
    char **rest = vg_xcalloc((size_t)s->reload_argc + 1, sizeof *rest);
    int nrest;
    int rc = vg_config_load(next, s->reload_config, s->reload_argc, s->reload_argv, rest, &nrest,
                            err, errlen);
    free(rest);
    if (rc == 0) {
        for (int i = 0; i < s->n_hooks && rc == 0; i++)
            if (s->hooks[i].on_reload)
                rc = s->hooks[i].on_reload(s, next, s->hooks[i].ud, err, errlen);
    }
    if (rc < 0) {
        vg_config_release(next);
        free(next);
        return -1;
    }
    int same = next->listen.n == s->cfg->listen.n;
    for (int i = 0; same && i < next->listen.n; i++)
        same = strcmp(next->listen.v[i], s->cfg->listen.v[i]) == 0;
    if (!same)
        vg_warn("server", "server.listen changed: takes effect at the next start");
    enum vg_log_level lvl;
    if (vg_log_level_parse(next->log_level, &lvl) == 0)
        vg_log_set_level(lvl);
    vg_log_set_format(strcmp(next->log_format, "json") == 0 ? VG_LOG_JSON : VG_LOG_TEXT);
    vg_log_set_flush(next->log_flush);
    vg_config_release(s->cfg);
    free(s->cfg);
    s->cfg = next;
    vg_conns_set_write_timeout(s->conns, next->write_timeout);
    fit_fd_limit(next);
    return 0;
}


static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_server *s = w->data;
    if (w->signum == SIGHUP) {
        char err[512];
        if (vg_server_reload(s, err, sizeof err) == 0)
            vg_info("server", "configuration reloaded");
        else
            vg_error("server", "reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (s->draining) {
        vg_warn("server", "second %s: exiting now", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    vg_info("server", "%s: draining", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
    vg_server_drain(s);
}


void
vg_server_leave_signals(vg_server *s)
{
    ev_signal_stop(s->loop, &s->sig_term);
    ev_signal_stop(s->loop, &s->sig_int);
    ev_signal_stop(s->loop, &s->sig_hup);
}


int
vg_server_run(vg_server *s)
{
    ev_run(s->loop, 0);
    return s->exit_code;
}


void
vg_server_destroy(vg_server *s)
{
    if (!s)
        return;
    stop_listeners(s);
    vg_conns_destroy(s->conns);
    ev_prepare_stop(s->loop, &s->prepare);
    ev_signal_stop(s->loop, &s->sig_term);
    ev_signal_stop(s->loop, &s->sig_int);
    ev_signal_stop(s->loop, &s->sig_hup);
    ev_timer_stop(s->loop, &s->drain_timer);
    ev_timer_stop(s->loop, &s->accept_pause);
    ev_timer_stop(s->loop, &s->fd_quiet);
    vg_looplag_stop(s->lag);
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    vg_tls_destroy(s->tls);
    if (s->cfg) {
        vg_config_release(s->cfg);
        free(s->cfg);
    }
    free(s->reload_config);
    free(s);
}
