/*
 * resolve: host names resolved off the reactor. getaddrinfo blocks (glibc
 * waits 5 s per try on a dead DNS server, and tries several times), so it
 * runs on a small pool of worker threads (VG_RESOLVE_THREADS, started at
 * the first name), fed from a bounded queue (VG_RESOLVE_PENDING requests
 * queued or running at most); each answer comes back to the loop thread
 * through an ev_async watcher and is delivered there by the request's
 * callback. A numeric address (IPv4, IPv6) is answered at once, on the
 * caller's stack, without the threads.
 *
 * Everything but the threads' getaddrinfo runs on the loop thread: create,
 * start, cancel, destroy and the callbacks. The threads block every signal
 * (the reactor's signal watchers keep them). A process forked while a
 * resolver runs must not use it (its child has no threads).
 */
#ifndef VG_NET_RESOLVE_H
#define VG_NET_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#define VG_RESOLVE_THREADS 2    /* getaddrinfo calls at once: a slow name holds one, not every other */
#define VG_RESOLVE_PENDING 64   /* requests queued or running at most: more are refused, never waited for */

typedef struct vg_resolver vg_resolver;
typedef struct vg_resolve_req vg_resolve_req;

/* An answer: the first address getaddrinfo gave (SOCK_STREAM, any family). */
typedef struct vg_resolve_addr {
    struct sockaddr_storage addr;
    socklen_t len;
} vg_resolve_addr;

/*
 * On the loop thread, once per request that was not cancelled: addr is the
 * answer (NULL on failure, err then says why: gai_strerror's text, or
 * "resolver stopped"). addr is valid during the call only. The request is
 * freed after the callback returns: do not cancel it from there.
 */
typedef void (*vg_resolve_cb)(const vg_resolve_addr *addr, const char *err, void *ud);

/* A resolver on loop; no thread yet (the first name starts them). */
vg_resolver *vg_resolver_create(struct ev_loop *loop);

/*
 * Resolves host (NUL-terminated, under 256 bytes) and port (a number as
 * text). Returns:
 *   1  host is a numeric address: *out holds it now, cb never fires;
 *   0  the name went to the threads: *req (when req is not NULL) is the
 *      request, cb fires exactly once later unless it is cancelled;
 *  -1  refused (a bad host or port, VG_RESOLVE_PENDING requests already
 *      pending, no thread could be started): err says why, cb never fires.
 */
int vg_resolver_start(vg_resolver *r, const char *host, const char *port, vg_resolve_addr *out,
                      vg_resolve_cb cb, void *ud, vg_resolve_req **req, char *err, size_t errlen);

/* Drops a request not answered yet: its callback never fires; it is freed (now or when its getaddrinfo returns). NULL: nothing. */
void vg_resolve_cancel(vg_resolve_req *q);

/* Requests queued or running (cancelled ones whose getaddrinfo still runs included). */
int vg_resolver_pending(const vg_resolver *r);

/*
 * Stops the threads and frees every request (no callback fires: the
 * owners must not use theirs afterwards) and the resolver. It never waits
 * for DNS: the idle threads are joined, and a thread whose getaddrinfo is
 * under way is detached, to free its request and end when the call
 * returns (the resolver's memory lasts until then; the process may exit
 * first). NULL: nothing.
 */
void vg_resolver_destroy(vg_resolver *r);

#endif
