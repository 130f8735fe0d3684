/*
 * server: the master's reactor. Owns the libev loop's watchers for the
 * listeners, the open connections (net/conn.h), signals (SIGTERM/SIGINT
 * drain, SIGHUP reload) and the current config, and tells the modules
 * above it what happens through hooks: reload, drain, busy, ready.
 *
 * It knows no protocol: each accepted socket is handed to the acceptor the
 * layer above installed (HTTP, http/http.h), which makes it a connection.
 *
 * Loop phases: accept and read callbacks run handlers; output is written
 * as soon as it is queued; the prepare watcher frees closed connections
 * and finishes a drain once nothing is in flight.
 */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stddef.h>

#include "base/config.h"
#include "net/conn.h"

struct ev_loop;
typedef struct vg_server vg_server;

/* A module's hooks; any may be NULL. */
typedef struct vg_server_hooks {
    /* Called on SIGHUP with the new config before it replaces the old one (return -1 to veto with a message). */
    int (*on_reload)(vg_server *s, const vg_config *next, void *ud, char *err, size_t errlen);
    /* Returns how many jobs the module still has in flight (drain waits for 0). */
    int (*busy)(vg_server *s, void *ud);
    /* Drain began: stop taking new work. */
    void (*on_drain)(vg_server *s, void *ud);
    /* GET /ready: 1 when ready, else 0 with the reason in why. */
    int (*ready)(vg_server *s, void *ud, char *why, size_t whylen);
    void *ud;
} vg_server_hooks;

/*
 * Serves an accepted, non-blocking socket: makes it a connection of `set`
 * (vg_conn_create) speaking the protocol, and returns it.
 */
typedef vg_conn *(*vg_server_accept_fn)(vg_conns *set, int fd, const char *peer, void *ud);

/* Sets up watchers and metrics on `loop`; takes ownership of cfg. */
vg_server *vg_server_create(struct ev_loop *loop, vg_config *cfg);
/* Closes listeners and connections, stops the watchers, frees the config and s. */
void vg_server_destroy(vg_server *s);

/*
 * SIGTERM, SIGINT and SIGHUP are the caller's: stops the server's own
 * watchers for them (a worker node's listener: the node drains by its own
 * rules, and its config is not reloaded).
 */
void vg_server_leave_signals(vg_server *s);
/* The protocol of accepted connections (one; set before vg_server_listen). */
void vg_server_set_acceptor(vg_server *s, vg_server_accept_fn fn, void *ud);
/* What SIGHUP reloads: the config file and command-line options given at start (argv is kept, not copied). */
void vg_server_set_reload_args(vg_server *s, const char *config_path, int argc, char **argv);
void vg_server_add_hooks(vg_server *s, const vg_server_hooks *h);

struct ev_loop *vg_server_loop(const vg_server *s);
/* The current config: replaced on SIGHUP, so read it when needed rather than keeping fields. */
const vg_config *vg_server_config(const vg_server *s);
/* Seconds since vg_server_create, in loop time. */
double vg_server_uptime(const vg_server *s);
/* Open client connections. */
int vg_server_connection_count(const vg_server *s);
/* 1 once a drain has begun (no new connections or requests). */
int vg_server_is_draining(const vg_server *s);

/* Binds every configured address. Returns 0, or -1 with a message. */
int vg_server_listen(vg_server *s, char *err, size_t errlen);
/* The i-th bound address ("127.0.0.1:8080", the real port), or NULL past the last. */
const char *vg_server_address(const vg_server *s, int i);
/* Prints "vigia: serving URL" per listener on stdout. */
void vg_server_announce(vg_server *s);
/* Runs the loop until drained; returns the exit code. */
int vg_server_run(vg_server *s);
/* Starts a graceful shutdown (as SIGTERM does). */
void vg_server_drain(vg_server *s);
/* Re-reads the config (as SIGHUP does); returns 0 or -1 with a message. */
int vg_server_reload(vg_server *s, char *err, size_t errlen);
/* In-flight work across modules (0 when drain may finish). */
int vg_server_busy(vg_server *s);
/* Every module's ready hook: 1 when all are ready, else 0 with the first reason in why. */
int vg_server_ready(vg_server *s, char *why, size_t whylen);

/* Checks what --check-config can check without binding: listen addresses, TLS files. */
int vg_server_check_config(const vg_config *cfg, char *err, size_t errlen);

/* Closes every client connection now (tests and fuzzing). */
void vg_server_close_connections(vg_server *s, const char *why);
/* Serves an accepted, non-blocking fd as the listeners do (fuzzing and tests use it directly). */
vg_conn *vg_server_adopt(vg_server *s, int fd, const char *peer);

#endif
