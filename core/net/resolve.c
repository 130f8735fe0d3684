/*
 * resolve: see resolve.h. A request lives in one place at a time: the
 * queue (waiting for a thread), a thread (its getaddrinfo running: in no
 * list), or the done list (answered, waiting for the loop thread). The
 * mutex guards both lists, the requests' state and answers, `stop`, the
 * threads' `busy` and the two counts that decide who frees the resolver;
 * `pending`, the callbacks and the libev calls belong to the loop thread
 * alone (ev_async_send is the one libev call the threads make, as libev
 * documents for ev_async, and never once `stop` is set).
 *
 * A stop does not wait for a getaddrinfo under way (glibc may take 5 s a
 * try against a dead DNS server): a thread in one is detached, and when
 * its call returns it frees its request and goes, touching neither the
 * lists nor the loop; the resolver's memory goes with the last of the
 * owner and those threads.
 */
#include "net/resolve.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/list.h"

#define HOST_MAX 256
#define ERR_MAX 128

enum { Q_QUEUED, Q_RUNNING, Q_DONE };

struct vg_resolve_req {
    vg_resolver *r;
    char host[HOST_MAX];
    char port[8];
    int state;                  /* Q_*: under r->mu */
    int cancelled;              /* the owner let go: freed, never delivered */
    int ok;                     /* the answer: res (1) or err (0) */
    vg_resolve_addr res;
    char err[ERR_MAX];
    vg_resolve_cb cb;
    void *ud;
    vg_link link;               /* in r->queue or r->done */
};

/* A thread of the pool: busy while its getaddrinfo runs (under r->mu). */
typedef struct resolve_thread {
    vg_resolver *r;
    pthread_t id;
    int busy;
} resolve_thread;

struct vg_resolver {
    struct ev_loop *loop;
    ev_async async;             /* a thread answered: the done list has work */
    int reffed;                 /* async holds the loop alive (while requests are pending) */
    int pending;                /* requests not freed yet (loop thread) */
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* the queue got work, or stop */
    vg_list queue;              /* waiting for a thread, oldest first */
    vg_list done;               /* answered, oldest first */
    int stop;
    resolve_thread threads[VG_RESOLVE_THREADS];
    int nthreads;
    int detached;               /* threads left in getaddrinfo by a stop, not gone yet */
    int owner_gone;             /* vg_resolver_destroy is done with it */
};


/* The async watcher keeps the loop running while an answer is due, and not otherwise. */
static void
ref_update(vg_resolver *r)
{
    int want = r->pending > 0;
    if (want == r->reffed)
        return;
    if (want)
        ev_ref(r->loop);
    else
        ev_unref(r->loop);
    r->reffed = want;
}


static void
req_free(vg_resolve_req *q)
{
    q->r->pending--;
    free(q);
}


static void
resolver_free(vg_resolver *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}


/*
 * A detached thread whose getaddrinfo returned after the stop (r->mu
 * held, released here): its request is nobody else's now, and the
 * resolver is freed by whichever of the owner and these threads is last.
 */
static void
leave_stopped(vg_resolver *r, vg_resolve_req *q)
{
    free(q);
    int last = --r->detached == 0 && r->owner_gone;
    pthread_mutex_unlock(&r->mu);
    if (last)
        resolver_free(r);
}


static void *
worker(void *arg)
{
    resolve_thread *self = arg;
    vg_resolver *r = self->r;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && vg_list_empty(&r->queue))
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        vg_resolve_req *q = vg_list_first(&r->queue, vg_resolve_req, link);
        vg_list_remove(&r->queue, &q->link);
        q->state = Q_RUNNING;
        self->busy = 1;
        char host[HOST_MAX], port[8];
        memcpy(host, q->host, sizeof host);
        memcpy(port, q->port, sizeof port);
        pthread_mutex_unlock(&r->mu);

        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        int rc = getaddrinfo(host, port, &hints, &ai);

        pthread_mutex_lock(&r->mu);
        self->busy = 0;
        if (r->stop) {   /* detached by the stop: nothing to deliver, nowhere to */
            if (ai)
                freeaddrinfo(ai);
            leave_stopped(r, q);
            return NULL;
        }
        if (rc == 0 && ai && ai->ai_addrlen <= sizeof q->res.addr) {
            memcpy(&q->res.addr, ai->ai_addr, ai->ai_addrlen);
            q->res.len = ai->ai_addrlen;
            q->ok = 1;
        } else {
            snprintf(q->err, sizeof q->err, "%s", rc ? gai_strerror(rc) : "no address");
        }
        if (ai)
            freeaddrinfo(ai);
        q->state = Q_DONE;
        vg_list_push_back(&r->done, &q->link);
        pthread_mutex_unlock(&r->mu);
        ev_async_send(r->loop, &r->async);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}


/* On the loop thread: the answers, one at a time (a callback may start or cancel others). */
static void
on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_resolver *r = w->data;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        vg_resolve_req *q = vg_list_empty(&r->done) ? NULL : vg_list_first(&r->done, vg_resolve_req, link);
        if (q)
            vg_list_remove(&r->done, &q->link);
        pthread_mutex_unlock(&r->mu);
        if (!q)
            break;
        if (!q->cancelled)
            q->cb(q->ok ? &q->res : NULL, q->ok ? NULL : q->err, q->ud);
        req_free(q);
    }
    ref_update(r);
}


vg_resolver *
vg_resolver_create(struct ev_loop *loop)
{
    vg_resolver *r = vg_xcalloc(1, sizeof *r);
    r->loop = loop;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    vg_list_init(&r->queue);
    vg_list_init(&r->done);
    ev_async_init(&r->async, on_async);
    r->async.data = r;
    ev_async_start(loop, &r->async);
    ev_unref(loop);   /* ref_update takes it back while requests are pending */
    return r;
}


/* The threads, with every signal blocked (they inherit the mask); 0, or -1 when none could start. */
static int
threads_start(vg_resolver *r)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (r->nthreads < VG_RESOLVE_THREADS) {
        resolve_thread *t = &r->threads[r->nthreads];
        t->r = r;
        t->busy = 0;
        if (pthread_create(&t->id, NULL, worker, t) != 0)
            break;
        r->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r->nthreads ? 0 : -1;
}


int
vg_resolver_start(vg_resolver *r, const char *host, const char *port, vg_resolve_addr *out,
                  vg_resolve_cb cb, void *ud, vg_resolve_req **req, char *err, size_t errlen)
{
    if (req)
        *req = NULL;
    char *end;
    long pn = strtol(port, &end, 10);
    if (!host[0] || strlen(host) >= HOST_MAX || pn < 0 || pn > 65535 || *end || end == port) {
        snprintf(err, errlen, "bad host or port");
        return -1;
    }
    /* a numeric address: getaddrinfo answers it without the network */
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) == 0 && ai) {
        int rc = -1;
        if (ai->ai_addrlen <= sizeof out->addr) {
            memcpy(&out->addr, ai->ai_addr, ai->ai_addrlen);
            out->len = ai->ai_addrlen;
            rc = 1;
        } else {
            snprintf(err, errlen, "address too long");
        }
        freeaddrinfo(ai);
        return rc;
    }
    if (r->pending >= VG_RESOLVE_PENDING) {
        snprintf(err, errlen, "too many names being resolved (%d)", VG_RESOLVE_PENDING);
        return -1;
    }
    if (!r->nthreads && threads_start(r) < 0) {
        snprintf(err, errlen, "cannot start the resolver's thread");
        return -1;
    }
    vg_resolve_req *q = vg_xcalloc(1, sizeof *q);
    q->r = r;
    snprintf(q->host, sizeof q->host, "%s", host);
    snprintf(q->port, sizeof q->port, "%ld", pn);
    q->cb = cb;
    q->ud = ud;
    r->pending++;
    ref_update(r);
    pthread_mutex_lock(&r->mu);
    q->state = Q_QUEUED;
    vg_list_push_back(&r->queue, &q->link);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (req)
        *req = q;
    return 0;
}


void
vg_resolve_cancel(vg_resolve_req *q)
{
    if (!q)
        return;
    vg_resolver *r = q->r;
    pthread_mutex_lock(&r->mu);
    int now = q->state != Q_RUNNING;   /* queued or answered: ours to free; running: the answer is dropped */
    if (now)
        vg_list_remove(q->state == Q_QUEUED ? &r->queue : &r->done, &q->link);
    else
        q->cancelled = 1;
    pthread_mutex_unlock(&r->mu);
    if (now) {
        req_free(q);
        ref_update(r);
    }
}


int
vg_resolver_pending(const vg_resolver *r)
{
    return r->pending;
}


void
vg_resolver_destroy(vg_resolver *r)
{
    if (!r)
        return;
    /* the idle threads see stop and end now: joined; one in getaddrinfo is left to it (leave_stopped) */
    int join[VG_RESOLVE_THREADS] = { 0 };
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    for (int i = 0; i < r->nthreads; i++) {
        if (r->threads[i].busy) {
            pthread_detach(r->threads[i].id);
            r->detached++;
        } else {
            join[i] = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nthreads; i++)
        if (join[i])
            pthread_join(r->threads[i].id, NULL);
    vg_list_each_safe(q, nq, &r->queue, vg_resolve_req, link)
        req_free(q);
    vg_list_each_safe(q, nq, &r->done, vg_resolve_req, link)
        req_free(q);
    if (!r->reffed)
        ev_ref(r->loop);   /* libev: a watcher unref'd after start is ref'd again before its stop */
    ev_async_stop(r->loop, &r->async);
    pthread_mutex_lock(&r->mu);
    r->owner_gone = 1;
    int last = r->detached == 0;
    pthread_mutex_unlock(&r->mu);
    if (last)
        resolver_free(r);
}
