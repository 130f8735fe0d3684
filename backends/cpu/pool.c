/*
 * backends/cpu/pool.c: the engine's compute threads.
 *
 * vgc_pool_run() hands out task indexes from an atomic counter to the
 * calling thread and threads-1 workers. A network runs many short layers
 * back to back, so between jobs a worker spins (up to 250 us) before it
 * sleeps on a condition variable; the caller does the same while it waits
 * for the last task. With one thread nothing is started and tasks run
 * inline; vgc_pool_run_serial() runs a job inline whatever the pool.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define SPIN_NS 250000L       /* how long a worker spins for the next job before sleeping */

struct vgc_pool {
    int threads;              /* caller included */
    pthread_t *tids;          /* threads-1 workers */
    pthread_mutex_t mu;
    pthread_cond_t start;     /* a job was posted (or stop) */
    pthread_cond_t done;      /* the last worker finished a job */
    atomic_uint gen;          /* job generation, bumped per run */
    atomic_int next;          /* next task index to hand out */
    atomic_int active;        /* workers still in the current job */
    atomic_int stop;          /* destroy() asked workers to exit */
    int ntasks;               /* current job */
    vgc_task_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    vgc_pool *pool;
    int id;
} worker_arg;


static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}


static long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}


/*
 * Wait while cond(p, arg) holds, at most SPIN_NS: a few hundred pause
 * instructions first, then sched_yield(), so that on a busy machine a
 * waiting thread hands its core to whoever can use it (the thread it waits
 * for, or another process) instead of burning it. Returns whether cond
 * still holds.
 */
static int spin_while(vgc_pool *p, int (*cond)(vgc_pool *, unsigned), unsigned arg)
{
    long until = 0;

    for (unsigned i = 0; cond(p, arg); i++) {
        if (i < 512) {
            cpu_relax();
            continue;
        }
        if ((i & 15) == 0) {
            long t = now_ns();

            if (!until)
                until = t + SPIN_NS;
            else if (t > until)
                return 1;
        }
        sched_yield();
    }
    return 0;
}


static int no_new_job(vgc_pool *p, unsigned seen)
{
    return atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop);
}


static int workers_busy(vgc_pool *p, unsigned unused)
{
    (void)unused;
    return atomic_load_explicit(&p->active, memory_order_acquire) > 0;
}


static void do_tasks(vgc_pool *p, int id)
{
    int t;

    while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->ntasks)
        p->fn(p->ctx, t, id);
}


static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    vgc_pool *p = wa->pool;
    int id = wa->id;
    unsigned seen = 0;

    free(wa);
    for (;;) {
        unsigned g;

        spin_while(p, no_new_job, seen);
        g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
                   !atomic_load(&p->stop))
                pthread_cond_wait(&p->start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        do_tasks(p, id);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}


int vgc_pool_create(vgc_pool **out, int threads)
{
    vgc_pool *p = calloc(1, sizeof *p);
    int started = 0;

    *out = NULL;
    if (!p)
        return -1;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->tids = calloc((size_t)p->threads - 1, sizeof *p->tids);
        if (!p->tids)
            goto fail;
        for (; started < p->threads - 1; started++) {
            worker_arg *wa = malloc(sizeof *wa);

            if (!wa)
                goto fail;
            wa->pool = p;
            wa->id = started + 1;
            if (pthread_create(&p->tids[started], NULL, worker_main, wa) != 0) {
                free(wa);
                goto fail;
            }
        }
    }
    *out = p;
    return 0;

fail:
    p->threads = started + 1;
    vgc_pool_destroy(p);
    return -1;
}


void vgc_pool_run(vgc_pool *p, int ntasks, vgc_task_fn fn, void *ctx)
{
    if (ntasks <= 0)
        return;
    if (p->threads == 1 || ntasks == 1) {
        for (int t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->active, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    do_tasks(p, 0);

    if (spin_while(p, workers_busy, 0)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->active, memory_order_acquire) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}


void vgc_pool_run_serial(vgc_pool *p, int ntasks, vgc_task_fn fn, void *ctx)
{
    (void)p;
    for (int t = 0; t < ntasks; t++)
        fn(ctx, t, 0);
}


int vgc_pool_threads(const vgc_pool *p)
{
    return p->threads;
}


void vgc_pool_destroy(vgc_pool *p)
{
    if (!p)
        return;
    if (p->tids) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->threads - 1; i++)
            pthread_join(p->tids[i], NULL);
        free(p->tids);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p);
}
