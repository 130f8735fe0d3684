/*
 * backends/cpu/pool.c: the engine's compute threads.
 *
 * vgc_pool_run() hands out task indexes from an atomic counter to the
 * calling thread and threads-1 workers. A network runs many short layers
 * back to back, so between jobs a worker spins briefly before it sleeps on
 * a condition variable; the caller does the same while it waits for the
 * last task. With one thread nothing is started and tasks run inline.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define SPIN_ROUNDS 4000      /* ~50-100 us of pause instructions */

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
        int spins = 0;

        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop) && spins++ < SPIN_ROUNDS)
            cpu_relax();
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
    int spins = 0;

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

    while (atomic_load_explicit(&p->active, memory_order_acquire) > 0 && spins++ < SPIN_ROUNDS)
        cpu_relax();
    if (atomic_load_explicit(&p->active, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->active, memory_order_acquire) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
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
