/*
 * server: the master's reactor. Owns the libev loop's watchers for the
 * listeners, the open connections, signals (SIGTERM/SIGINT drain, SIGHUP
 * reload) and the close queue, and holds what every request needs: the
 * config, the router and the server-wide metrics.
 *
 * Loop phases: accept and read callbacks run handlers; output is written
 * as soon as it is queued; the prepare watcher frees closed connections
 * and finishes a drain once nothing is in flight.
 */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stdint.h>

#include <ev.h>

#include "base/config.h"
#include "net/conn.h"
#include "base/metrics.h"
#include "http/router.h"

#define VG_SERVER_MAX_LISTENERS (2 * VG_CONFIG_MAX_LISTEN)
#define VG_SERVER_READ_CHUNK (64 * 1024)

typedef struct vg_listener {
    int fd;
    int tls;                /* connections get the TLS transport */
    ev_io w;
    char addr[80];          /* "127.0.0.1:8080" as bound (real port) */
    char url[96];           /* "http://127.0.0.1:8080/" or "https://..." */
} vg_listener;

typedef struct vg_server vg_server;

/* A module's hook: config reloaded (return -1 to veto with a message), or drained. */
typedef struct vg_server_hooks {
    /* Called on SIGHUP with the new config before it replaces the old one. */
    int (*on_reload)(vg_server *s, const vg_config *next, void *ud, char *err, size_t errlen);
    /* Returns how many jobs the module still has in flight (drain waits for 0). */
    int (*busy)(vg_server *s, void *ud);
    /* Drain began: stop taking new work. */
    void (*on_drain)(vg_server *s, void *ud);
    /* GET /ready: 1 when ready, else 0 with the reason in why. */
    int (*ready)(vg_server *s, void *ud, char *why, size_t whylen);
    void *ud;
} vg_server_hooks;

#define VG_SERVER_MAX_HOOKS 16
#define VG_SERVER_MAX_FILTERS 8

struct vg_req;
/*
 * A request filter runs for every routed request after its body has
 * arrived and before its handler (not for static files or early errors).
 * Returns 0 to let the request go on, or 1 when it has answered the
 * request itself (e.g. 429 from a rate limit). Filters run in the order
 * they were added.
 */
typedef int (*vg_request_filter_fn)(struct vg_req *r, void *ud);

struct vg_server {
    struct ev_loop *loop;
    vg_config *cfg;                     /* current config, owned */
    vg_router router;
    struct vg_tls *tls;                 /* when tls.listen is set */
    vg_handler_fn fallback;             /* GET/HEAD without a route (static files), or NULL */
    void *fallback_ud;
    vg_listener listeners[VG_SERVER_MAX_LISTENERS];
    int n_listeners;
    vg_conn *conns;                     /* open connections */
    int n_conns;
    vg_conn *closed;                    /* freed in the prepare phase */
    ev_prepare prepare;
    ev_signal sig_term, sig_int, sig_hup;
    ev_timer drain_timer;
    int draining;                       /* SIGTERM seen: no new connections or requests */
    int exit_code;
    vg_server_hooks hooks[VG_SERVER_MAX_HOOKS];
    int n_hooks;
    struct {
        vg_request_filter_fn fn;
        void *ud;
    } filters[VG_SERVER_MAX_FILTERS];
    int n_filters;
    char *reload_argv_config;           /* config file path given at start, for SIGHUP */
    int reload_argc;
    char **reload_argv;                 /* command-line options given at start, for SIGHUP */
    char scratch[VG_SERVER_READ_CHUNK]; /* read buffer shared by all connections */
    ev_tstamp started;
    /* server-wide metrics */
    vg_series *m_conn_open, *m_conn_accepted, *m_conn_refused, *m_bytes_in, *m_bytes_out;
    vg_metric *m_requests, *m_latency;
};

/* Sets up watchers and metrics; takes ownership of cfg. */
void vg_server_init(vg_server *s, struct ev_loop *loop, vg_config *cfg);
/* Binds every configured address. Returns 0, or -1 with a message. */
int vg_server_listen(vg_server *s, char *err, size_t errlen);
/* Prints "vigia: serving URL" per listener on stdout. */
void vg_server_announce(vg_server *s);
/* Runs the loop until drained; returns the exit code. */
int vg_server_run(vg_server *s);
/* Starts a graceful shutdown (as SIGTERM does). */
void vg_server_drain(vg_server *s);
/* Re-reads the config (as SIGHUP does); returns 0 or -1 with a message. */
int vg_server_reload(vg_server *s, char *err, size_t errlen);
void vg_server_add_hooks(vg_server *s, const vg_server_hooks *h);
void vg_server_add_filter(vg_server *s, vg_request_filter_fn fn, void *ud);
/* In-flight work across modules (0 when drain may finish). */
int vg_server_busy(vg_server *s);
void vg_server_release(vg_server *s);

/* Checks what --check-config can check without binding: listen addresses. */
int vg_server_check_config(const vg_config *cfg, char *err, size_t errlen);

/* Serves HTTP on an accepted, non-blocking fd (the listener's path; fuzzing uses it directly). */
vg_conn *vg_server_adopt(vg_server *s, int fd, const char *peer);

/* Connection bookkeeping, used by conn.c. */
void vg_server_conn_closed(vg_server *s, vg_conn *c);

#endif
