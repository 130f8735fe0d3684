/*
 * test_pool: the worker pool on a real libev loop with real forked workers
 * running the test backend (testbe.c): concurrency, batches, queue full,
 * SIGKILL mid-job, deadlines, crashing and hanging plugins, bad images,
 * cancel, drain, rolling reload, unload, memory cap, and the lanes: NVR
 * jobs ahead of bulk ones, the starvation bound, the reserved worker share.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include <ev.h>

#include "pool/pool.h"
#include "pt.h"

#define MAXR 64

typedef struct answer {
    int fired;
    int status;
    char message[256];
    int pid;
    int attempts;
    size_t count;
    char label[32];
    uint64_t total_us;
    int seq;                       /* 1 for the first answer since start_pool(), 2 for the next, ... */
} answer;

typedef struct fixture {
    struct ev_loop *loop;
    vg_pool *pool;
    char *dir;
    answer a[MAXR];
    int answers;                   /* answers since start_pool() */
    int stopped;
} fixture;

static fixture F;
static uint8_t *gray, *green, *red, *blue, *white;
static size_t gray_n, green_n, red_n, blue_n, white_n;


static const char *
testbe_path(void)
{
    static char p[PATH_MAX];
    const char *b = getenv("VIGIA_BUILDDIR");
    snprintf(p, sizeof p, "%s/tests/pipeline/vigia-backend-testbe.so", b && *b ? b : VIGIA_BUILDDIR);
    return p;
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    answer *a = ud;
    a->fired++;
    a->status = status;
    snprintf(a->message, sizeof a->message, "%s", res->message);
    a->pid = res->worker_pid;
    a->attempts = res->attempts;
    a->count = res->count;
    a->total_us = res->total_us;
    a->seq = ++F.answers;
    snprintf(a->label, sizeof a->label, "%s", res->count ? res->detections[0].label : "");
}


static void
tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
}


/* Runs the loop until pred() holds or `secs` pass; returns pred(). */
static int
run_until(int (*pred)(void *), void *ctx, double secs)
{
    ev_timer t;
    ev_timer_init(&t, tick, 0.01, 0.01);
    ev_timer_start(F.loop, &t);
    ev_now_update(F.loop);
    ev_tstamp end = ev_now(F.loop) + secs;
    while (!pred(ctx) && ev_now(F.loop) < end)
        ev_run(F.loop, EVRUN_ONCE);
    ev_timer_stop(F.loop, &t);
    return pred(ctx);
}


static int
all_fired(void *ctx)
{
    int n = *(int *)ctx;
    for (int i = 0; i < n; i++)
        if (!F.a[i].fired)
            return 0;
    return 1;
}


/* All of the listed answers fired (a list ending with -1). */
static int
these_fired(void *ctx)
{
    const int *idx = ctx;
    for (; *idx >= 0; idx++)
        if (!F.a[*idx].fired)
            return 0;
    return 1;
}


typedef struct wait_ready {
    const char *model;
    unsigned n;
} wait_ready;


static int
model_ready(void *ctx)
{
    wait_ready *w = ctx;
    vg_pool_model_stats s;
    return vg_pool_model_stats_by_name(F.pool, w->model, &s) == 0 && s.workers_ready >= w->n;
}


static int
model_state_is(void *ctx)
{
    const char **want = ctx;
    vg_pool_model_stats s;
    return vg_pool_model_stats_by_name(F.pool, want[0], &s) == 0 && strcmp(s.state, want[1]) == 0;
}


static void
start_pool(vg_pool_options *o)
{
    memset(F.a, 0, sizeof F.a);
    F.answers = 0;
    F.dir = pt_tmpdir("pool");
    assert_non_null(F.dir);
    o->models_dir = F.dir;
    o->log_fd = 2;
    assert_int_equal(vg_pool_create(F.loop, o, &F.pool), 0);
}


static void
stop_pool(void)
{
    vg_pool_destroy(F.pool);
    F.pool = NULL;
    pt_rmtree(F.dir);
    F.dir = NULL;
    /* every worker was reaped: no child of ours is left */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}


static void
add_model(const char *name, const char *extra)
{
    char conf[PATH_MAX + 1024];
    snprintf(conf, sizeof conf, "backend = %s\n%s", testbe_path(), extra ? extra : "");
    assert_int_equal(pt_make_model(F.dir, name, "dark\nbright\n", conf), 0);
}


static void
load(const char *name, unsigned workers)
{
    char err[512] = "";
    int rc = vg_pool_model_load(F.pool, name, NULL, workers, err, sizeof err);
    if (rc != 0)
        fail_msg("load %s: %s", name, err);
    wait_ready w = { name, workers };
    if (!run_until(model_ready, &w, 20))
        fail_msg("model %s not ready", name);
}


static int
submit_lane(const char *model, int lane, const uint8_t *img, size_t n, answer *a, uint32_t deadline_ms,
            vg_pool_req **req)
{
    vg_pool_job j;
    memset(&j, 0, sizeof j);
    j.image = img;
    j.image_len = n;
    j.min_confidence = -1;
    j.nms = -1;
    j.deadline_ms = deadline_ms;
    j.lane = lane;
    char err[256];
    return vg_pool_submit(F.pool, model, &j, on_answer, a, req, err, sizeof err);
}


static int
submit(const char *model, const uint8_t *img, size_t n, answer *a, uint32_t deadline_ms, vg_pool_req **req)
{
    return submit_lane(model, VG_POOL_LANE_BULK, img, n, a, deadline_ms, req);
}


static int
busy_pid(const char *model)
{
    vg_pool_worker_info w[8];
    int n = vg_pool_model_workers(F.pool, model, w, 8);
    for (int i = 0; i < n && i < 8; i++)
        if (w[i].busy)
            return w[i].pid;
    return 0;
}


/* ---- tests ------------------------------------------------------------------ */

static void
test_concurrency(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("m", NULL);
    load("m", 2);
    int n = 12;
    for (int i = 0; i < n; i++)
        assert_int_equal(submit("m", i % 2 ? gray : white, i % 2 ? gray_n : white_n, &F.a[i], 0, NULL), 0);
    assert_true(run_until(all_fired, &n, 20));
    int pids[2] = { 0, 0 };
    for (int i = 0; i < n; i++) {
        assert_int_equal(F.a[i].fired, 1);
        assert_int_equal(F.a[i].status, 0);
        assert_int_equal(F.a[i].count, 1);
        assert_string_equal(F.a[i].label, i % 2 ? "dark" : "bright");
        if (!pids[0] || pids[0] == F.a[i].pid)
            pids[0] = F.a[i].pid;
        else
            pids[1] = F.a[i].pid;
    }
    assert_true(pids[0] && pids[1]);   /* both workers served */
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_by_name(F.pool, "m", &s), 0);
    assert_int_equal(s.jobs_ok, n);
    assert_string_equal(s.state, "ready");
    assert_string_equal(s.backend, "testbe");
    assert_int_equal(s.crashes, 0);
    assert_true(s.p50_ms > 0 && s.p99_ms >= s.p50_ms);
    assert_int_equal(vg_pool_is_ready(F.pool), 1);
    stop_pool();
}


static void
test_batch(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("b", "batch = 4\n");
    load("b", 1);
    int n = 9;
    for (int i = 0; i < n; i++)
        assert_int_equal(submit("b", i % 3 ? gray : white, i % 3 ? gray_n : white_n, &F.a[i], 0, NULL), 0);
    assert_true(run_until(all_fired, &n, 20));
    for (int i = 0; i < n; i++) {
        assert_int_equal(F.a[i].status, 0);
        assert_string_equal(F.a[i].label, i % 3 ? "dark" : "bright");
    }
    stop_pool();
}


static void
test_queue_full(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.queue_max = 3;
    start_pool(&o);
    add_model("q", "[test]\ndelay_ms = 300\n");
    load("q", 1);
    for (int i = 0; i < 4; i++)   /* one runs, three wait */
        assert_int_equal(submit("q", green, green_n, &F.a[i], 0, NULL), 0);
    assert_int_equal(submit("q", green, green_n, &F.a[4], 0, NULL), VG_E_QUEUEFULL);
    assert_int_equal(vg_err_http_status(VG_E_QUEUEFULL), 429);
    assert_true(vg_pool_retry_after(F.pool, "q") >= 1);
    int n = 4;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[4].fired, 0);   /* a refused submit never calls back */
    for (int i = 0; i < 4; i++)
        assert_int_equal(F.a[i].status, 0);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "q", &s);
    assert_int_equal(s.jobs_rejected, 1);
    assert_int_equal(s.queue_depth, 0);
    stop_pool();
}


static int
two_ready(void *ctx)
{
    (void)ctx;
    vg_pool_model_stats s;
    return vg_pool_model_stats_by_name(F.pool, "k", &s) == 0 && s.workers_ready == 2;
}


static void
test_kill_mid_job(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("k", "[test]\ndelay_ms = 700\n");
    load("k", 2);
    assert_int_equal(submit("k", green, green_n, &F.a[0], 0, NULL), 0);
    int victim = 0;
    for (int i = 0; i < 100 && !victim; i++) {
        ev_run(F.loop, EVRUN_NOWAIT);
        victim = busy_pid("k");
        usleep(2000);
    }
    assert_true(victim > 0);
    usleep(100 * 1000);          /* the job is inside infer() now */
    assert_int_equal(kill(victim, SIGKILL), 0);
    int n = 1;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[0].status, 0);         /* retried on a healthy worker */
    assert_int_equal(F.a[0].attempts, 2);
    assert_int_not_equal(F.a[0].pid, victim);
    assert_true(run_until(two_ready, NULL, 20)); /* and the dead one was replaced */
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "k", &s);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.jobs_retried, 1);
    assert_true(s.restarts >= 1);
    vg_pool_worker_info w[4];
    int nw = vg_pool_model_workers(F.pool, "k", w, 4);
    assert_int_equal(nw, 2);
    for (int i = 0; i < nw; i++)
        assert_int_not_equal(w[i].pid, victim);
    stop_pool();
}


static const char *
abi2be_path(void)
{
    static char p[PATH_MAX];
    const char *b = getenv("VIGIA_BUILDDIR");
    snprintf(p, sizeof p, "%s/tests/pipeline/vigia-backend-abi2be.so", b && *b ? b : VIGIA_BUILDDIR);
    return p;
}


/* Model "d" has two ready workers, neither of them process `ctx`. */
static int
two_ready_without(void *ctx)
{
    vg_pool_worker_info w[4];
    int n = vg_pool_model_workers(F.pool, "d", w, 4), ready = 0;
    for (int i = 0; i < n && i < 4; i++) {
        if (w[i].pid == *(int *)ctx)
            return 0;
        ready += strcmp(w[i].state, "ready") == 0;
    }
    return ready == 2;
}


/* Each worker of "d" runs in its own slot on device slot mod 2, as abi2be says it was told. */
static void
assert_slots_spread(void)
{
    vg_pool_worker_info w[4];
    int n = vg_pool_model_workers(F.pool, "d", w, 4), seen[2] = { 0, 0 };
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        char want[64];
        assert_in_range(w[i].slot, 0, 1);
        seen[w[i].slot]++;
        snprintf(want, sizeof want, "abi2be worker %d device %d", w[i].slot, w[i].slot % 2);
        assert_string_equal(w[i].device, want);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
}


/* A SIGKILLed worker's replacement takes its slot, so its device: the workers stay spread. */
static void
test_respawn_keeps_slot(void **state)
{
    (void)state;
    char conf[PATH_MAX + 64];
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    snprintf(conf, sizeof conf, "backend = %s\ndevices = 0,1\n", abi2be_path());
    assert_int_equal(pt_make_model(F.dir, "d", "red\nblue\n", conf), 0);
    load("d", 2);
    assert_slots_spread();
    vg_pool_worker_info w[4];
    int n = vg_pool_model_workers(F.pool, "d", w, 4), victim = 0, index = 0;
    for (int i = 0; i < n; i++)
        if (w[i].slot == 1)
            victim = w[i].pid, index = w[i].index;
    assert_true(victim > 0);
    assert_int_equal(kill(victim, SIGKILL), 0);
    assert_true(run_until(two_ready_without, &victim, 20));
    assert_slots_spread();
    n = vg_pool_model_workers(F.pool, "d", w, 4);
    for (int i = 0; i < n; i++)
        if (w[i].slot == 1)
            assert_true(w[i].index > index);   /* a new process, with a new number */
    stop_pool();
}


static void
test_deadline(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.backoff_min_ms = 50;
    start_pool(&o);
    add_model("d", NULL);
    load("d", 2);
    assert_int_equal(submit("d", blue, blue_n, &F.a[0], 600, NULL), 0);   /* hangs */
    assert_int_equal(submit("d", gray, gray_n, &F.a[1], 0, NULL), 0);
    int n = 2;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[0].status, VG_E_TIMEDOUT);
    assert_int_equal(vg_err_http_status(F.a[0].status), 504);
    assert_true(F.a[0].total_us >= 600000);
    assert_int_equal(F.a[1].status, 0);
    /* the hung worker was killed and replaced; the model keeps serving */
    wait_ready w = { "d", 2 };
    assert_true(run_until(model_ready, &w, 20));
    assert_int_equal(submit("d", gray, gray_n, &F.a[2], 0, NULL), 0);
    n = 3;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[2].status, 0);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "d", &s);
    assert_int_equal(s.jobs_timedout, 1);
    assert_int_equal(s.crashes, 1);
    stop_pool();
}


static void
test_crash_twice(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.backoff_min_ms = 20;
    start_pool(&o);
    add_model("c", NULL);
    load("c", 2);
    assert_int_equal(submit("c", red, red_n, &F.a[0], 0, NULL), 0);   /* kills every worker it meets */
    assert_int_equal(submit("c", gray, gray_n, &F.a[1], 0, NULL), 0);
    int n = 2;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[0].status, VG_E_WORKERDIED);
    assert_int_equal(vg_err_http_status(F.a[0].status), 503);
    assert_int_equal(F.a[0].attempts, 2);
    assert_int_equal(F.a[1].status, 0);
    wait_ready w = { "c", 2 };
    assert_true(run_until(model_ready, &w, 20));
    assert_int_equal(submit("c", white, white_n, &F.a[2], 0, NULL), 0);
    n = 3;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[2].status, 0);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "c", &s);
    assert_int_equal(s.crashes, 2);
    stop_pool();
}


static int
why_has(void *ctx)
{
    vg_pool_model_stats s;
    return vg_pool_model_stats_by_name(F.pool, "x", &s) == 0 && strstr(s.why, (const char *)ctx) != NULL;
}


static void
broken(const char *mode, const char *why_part)
{
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.backoff_min_ms = 20;
    o.start_timeout_ms = 800;
    start_pool(&o);
    char extra[128];
    snprintf(extra, sizeof extra, "[test]\nopen = %s\n", mode);
    add_model("x", extra);
    add_model("ok", NULL);
    char err[256];
    assert_int_equal(vg_pool_model_load(F.pool, "x", NULL, 1, err, sizeof err), 0);
    /* a job submitted while it loads waits, then fails with the reason */
    assert_int_equal(submit("x", gray, gray_n, &F.a[0], 0, NULL), 0);
    const char *want[2] = { "x", "failed" };
    assert_true(run_until(model_state_is, want, 30));
    int n = 1;
    assert_true(run_until(all_fired, &n, 5));
    assert_int_equal(F.a[0].status, VG_E_UNAVAILABLE);
    /* the reason is complete once the worker is reaped (the signal that killed it) */
    if (!run_until(why_has, (void *)why_part, 5)) {
        vg_pool_model_stats s;
        vg_pool_model_stats_by_name(F.pool, "x", &s);
        fail_msg("mode %s: why '%s' lacks '%s'", mode, s.why, why_part);
    }
    assert_int_equal(submit("x", gray, gray_n, &F.a[1], 0, NULL), VG_E_UNAVAILABLE);
    /* the test process and the other models are unharmed */
    load("ok", 1);
    assert_int_equal(submit("ok", gray, gray_n, &F.a[2], 0, NULL), 0);
    int idx[] = { 2, -1 };
    assert_true(run_until(these_fired, idx, 20));
    assert_int_equal(F.a[2].status, 0);
    stop_pool();
}


/* A backend that says the model can no longer run (VIGIA_EFATAL) fails the model with its message. */
static void
test_backend_fatal(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.backoff_min_ms = 20;
    start_pool(&o);
    char conf[PATH_MAX + 256], so[PATH_MAX];
    const char *b = getenv("VIGIA_BUILDDIR");
    snprintf(so, sizeof so, "%s/tests/pipeline/vigia-backend-abi2be.so", b && *b ? b : VIGIA_BUILDDIR);
    char *abs = realpath(so, NULL);
    assert_non_null(abs);
    snprintf(conf, sizeof conf, "backend = %s\n[abi2be]\nfail = fatal_once\n", abs);
    free(abs);
    assert_int_equal(pt_make_model(F.dir, "f", "dark\nbright\n", conf), 0);
    load("f", 1);
    assert_int_equal(submit("f", gray, gray_n, &F.a[0], 0, NULL), 0);
    int n = 1;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[0].status, VG_E_BACKEND);
    const char *want[2] = { "f", "failed" };
    assert_true(run_until(model_state_is, want, 20));
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_by_name(F.pool, "f", &s), 0);
    if (!strstr(s.why, "abi2be: the backend can no longer run the model: device lost"))
        fail_msg("why: %s", s.why);
    assert_int_equal(submit("f", gray, gray_n, &F.a[1], 0, NULL), VG_E_UNAVAILABLE);
    stop_pool();
}


static void test_open_crash(void **state) { (void)state; broken("crash", "signal"); }
static void test_open_exit(void **state) { (void)state; broken("exit", "exit()"); }
static void test_open_fail(void **state) { (void)state; broken("fail", "told to fail"); }
static void test_open_hang(void **state) { (void)state; broken("hang", "start timeout"); }


static void
test_bad_images(void **state)
{
    (void)state;
    const char *dog = pt_shared_file("images/dog.jpg");
    if (!dog) {
        skip();
        return;
    }
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.max_image_pixels = 20000000;
    start_pool(&o);
    add_model("i", NULL);
    load("i", 2);
    size_t dn = 0, bomb_n = 0;
    uint8_t *jpg = pt_read(dog, &dn);
    assert_non_null(jpg);
    uint8_t *bomb = pt_png(8, 8, NULL, 10, 10, 10, 100000, 100000, &bomb_n);
    uint8_t noise[4096];
    srand(7);
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)rand();
    noise[0] = 0x12;   /* never a JPEG/PNG/WebP signature */
    assert_int_equal(submit("i", jpg, dn / 3, &F.a[0], 0, NULL), 0);     /* truncated JPEG */
    assert_int_equal(submit("i", bomb, bomb_n, &F.a[1], 0, NULL), 0);    /* declares 10^10 pixels */
    assert_int_equal(submit("i", noise, sizeof noise, &F.a[2], 0, NULL), 0);
    assert_int_equal(submit("i", gray, gray_n, &F.a[3], 0, NULL), 0);   /* a good one beside them */
    assert_int_equal(submit("i", jpg, dn, &F.a[4], 0, NULL), 0);
    assert_int_equal(submit("i", noise, 0, &F.a[5], 0, NULL), VG_E_NOTIMAGE);
    int n = 5;
    assert_true(run_until(all_fired, &n, 30));
    assert_int_equal(F.a[0].status, VG_E_DECODE);
    assert_int_equal(vg_err_http_status(F.a[0].status), 422);
    assert_int_equal(F.a[1].status, VG_E_TOOBIG);
    assert_int_equal(vg_err_http_status(F.a[1].status), 413);
    assert_int_equal(F.a[2].status, VG_E_NOTIMAGE);
    assert_int_equal(vg_err_http_status(F.a[2].status), 415);
    assert_int_equal(F.a[3].status, 0);
    assert_int_equal(F.a[4].status, 0);
    assert_int_equal(F.a[5].fired, 0);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "i", &s);
    assert_int_equal(s.crashes, 0);            /* bad input never costs a worker */
    assert_int_equal(s.workers_ready, 2);
    free(jpg);
    free(bomb);
    stop_pool();
}


static void
test_options(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.max_image_bytes = 20000;
    start_pool(&o);
    add_model("o", NULL);
    load("o", 1);
    vg_pool_job j;
    char err[256];
    memset(&j, 0, sizeof j);
    j.image = white;
    j.image_len = white_n;
    j.min_confidence = -1;
    j.nms = -1;
    const char *want[] = { "dark" };
    j.classes = want;
    j.nclasses = 1;
    assert_int_equal(vg_pool_submit(F.pool, "o", &j, on_answer, &F.a[0], NULL, err, sizeof err), 0);
    const char *unknown[] = { "zebra" };
    j.classes = unknown;
    assert_int_equal(vg_pool_submit(F.pool, "o", &j, on_answer, &F.a[1], NULL, err, sizeof err), VG_E_INVAL);
    assert_non_null(strstr(err, "zebra"));
    j.classes = NULL;
    j.nclasses = 0;
    j.min_confidence = 1.5f;
    assert_int_equal(vg_pool_submit(F.pool, "o", &j, on_answer, &F.a[1], NULL, err, sizeof err), VG_E_INVAL);
    j.min_confidence = 0.95f;   /* above the 0.9 the backend reports */
    assert_int_equal(vg_pool_submit(F.pool, "o", &j, on_answer, &F.a[2], NULL, err, sizeof err), 0);
    j.min_confidence = -1;
    assert_int_equal(vg_pool_submit(F.pool, "nope", &j, on_answer, &F.a[1], NULL, err, sizeof err), VG_E_NOMODEL);
    static uint8_t big[30000];
    j.image = big;
    j.image_len = sizeof big;
    assert_int_equal(vg_pool_submit(F.pool, NULL, &j, on_answer, &F.a[1], NULL, err, sizeof err), VG_E_TOOBIG);
    assert_int_equal(F.a[1].fired, 0);
    int idx[] = { 0, 2, -1 };
    assert_true(run_until(these_fired, idx, 20));
    assert_int_equal(F.a[0].status, 0);
    assert_int_equal(F.a[0].count, 0);   /* "bright" filtered out */
    assert_int_equal(F.a[2].status, 0);
    assert_int_equal(F.a[2].count, 0);
    assert_string_equal(vg_pool_default_model(F.pool), "o");
    stop_pool();
}


static void
test_cancel(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("x", "[test]\ndelay_ms = 300\n");
    load("x", 1);
    vg_pool_req *r0, *r1;
    assert_int_equal(submit("x", green, green_n, &F.a[0], 0, &r0), 0);   /* goes to the worker */
    assert_int_equal(submit("x", green, green_n, &F.a[1], 0, &r1), 0);   /* waits */
    assert_int_equal(submit("x", gray, gray_n, &F.a[2], 0, NULL), 0);
    vg_pool_cancel(r1);
    assert_int_equal(F.a[1].fired, 1);                 /* synchronously */
    assert_int_equal(F.a[1].status, VG_E_CANCELED);
    ev_run(F.loop, EVRUN_NOWAIT);
    vg_pool_cancel(r0);                                /* in flight: answered now, result dropped */
    assert_int_equal(F.a[0].fired, 1);
    assert_int_equal(F.a[0].status, VG_E_CANCELED);
    int n = 3;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[2].status, 0);
    assert_int_equal(F.a[0].fired, 1);                 /* never twice */
    assert_int_equal(F.a[1].fired, 1);
    stop_pool();
}


static void
on_stopped(void *ud)
{
    (void)ud;
    F.stopped = 1;
}


static int
is_stopped(void *ctx)
{
    (void)ctx;
    return F.stopped;
}


static void
test_drain(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("s", "[test]\ndelay_ms = 200\n");
    load("s", 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit("s", green, green_n, &F.a[i], 0, NULL), 0);
    F.stopped = 0;
    vg_pool_stop(F.pool, 10000, on_stopped, NULL);
    assert_int_equal(submit("s", gray, gray_n, &F.a[4], 0, NULL), VG_E_STOPPING);
    assert_true(run_until(is_stopped, NULL, 20));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(F.a[i].fired, 1);
        assert_int_equal(F.a[i].status, 0);   /* drained, not dropped */
    }
    vg_pool_worker_info w[4];
    assert_int_equal(vg_pool_model_workers(F.pool, "s", w, 4), 0);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);   /* all exited and reaped */
    stop_pool();
}


typedef struct stream {
    int next, total, done, failures, inflight;
    int pids_before[2];
    int served_new;
    char last_error[256];
} stream;

static stream S;
static answer sink;


static int stream_submit(void);


static void
on_stream(int status, vg_pool_result *res, void *ud)
{
    (void)ud;
    S.done++;
    S.inflight--;
    if (status != 0) {
        S.failures++;
        snprintf(S.last_error, sizeof S.last_error, "%s", res->message);
    }
    if (res->worker_pid && res->worker_pid != S.pids_before[0] && res->worker_pid != S.pids_before[1])
        S.served_new = 1;
    /* keep 4 jobs flowing until a new worker has served some, and at least `total` */
    if ((S.next < S.total || !S.served_new) && S.next < 100000)
        assert_int_equal(stream_submit(), 0);
}


static int
stream_submit(void)
{
    vg_pool_job j;
    memset(&j, 0, sizeof j);
    j.image = gray;
    j.image_len = gray_n;
    j.min_confidence = -1;
    j.nms = -1;
    S.next++;
    S.inflight++;
    return vg_pool_submit(F.pool, "r", &j, on_stream, &sink, NULL, NULL, 0);
}


static int
stream_done(void *ctx)
{
    (void)ctx;
    return S.inflight == 0 && S.done >= S.total && S.served_new;
}


static int
two_workers(void *ctx)
{
    vg_pool_worker_info w[8];
    return vg_pool_model_workers(F.pool, ctx, w, 8) == 2;
}


static void
test_reload(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("r", NULL);
    load("r", 2);
    vg_pool_worker_info w[4];
    assert_int_equal(vg_pool_model_workers(F.pool, "r", w, 4), 2);
    memset(&S, 0, sizeof S);
    S.pids_before[0] = w[0].pid;
    S.pids_before[1] = w[1].pid;
    S.total = 60;
    for (int i = 0; i < 4; i++)
        assert_int_equal(stream_submit(), 0);
    char err[256];
    assert_int_equal(vg_pool_model_reload(F.pool, "r", err, sizeof err), 0);
    assert_true(run_until(stream_done, NULL, 30));
    if (S.failures)
        fail_msg("%d of %d jobs failed during the reload: %s", S.failures, S.done, S.last_error);
    wait_ready wr = { "r", 2 };
    assert_true(run_until(model_ready, &wr, 20));
    assert_true(run_until(two_workers, "r", 20));   /* the old generation retired */
    int n = vg_pool_model_workers(F.pool, "r", w, 4);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++)
        assert_true(w[i].pid != S.pids_before[0] && w[i].pid != S.pids_before[1]);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "r", &s);
    assert_int_equal(s.crashes, 0);
    stop_pool();
}


static void
test_unload(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("u", "[test]\ndelay_ms = 300\n");
    assert_int_equal(vg_pool_scan(F.pool), 1);
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_at(F.pool, 0, &s), 0);
    assert_string_equal(s.state, "unloaded");
    assert_int_equal(submit("u", gray, gray_n, &F.a[9], 0, NULL), VG_E_NOTLOADED);
    load("u", 1);
    assert_int_equal(submit("u", green, green_n, &F.a[0], 0, NULL), 0);
    assert_int_equal(submit("u", green, green_n, &F.a[1], 0, NULL), 0);
    ev_run(F.loop, EVRUN_NOWAIT);
    assert_int_equal(vg_pool_model_unload(F.pool, "u"), 0);
    assert_int_equal(F.a[1].fired, 1);                  /* queued: failed at once */
    assert_int_equal(F.a[1].status, VG_E_NOTLOADED);
    const char *want[2] = { "u", "unloaded" };
    assert_true(run_until(model_state_is, want, 20));
    assert_int_equal(F.a[0].status, 0);                 /* running: finished */
    assert_int_equal(vg_pool_model_unload(F.pool, "u"), VG_E_NOTLOADED);
    assert_int_equal(vg_pool_is_ready(F.pool), 0);
    load("u", 1);                                       /* and back */
    assert_int_equal(submit("u", gray, gray_n, &F.a[2], 0, NULL), 0);
    int idx[] = { 0, 1, 2, -1 };
    assert_true(run_until(these_fired, idx, 20));
    assert_int_equal(F.a[2].status, 0);
    stop_pool();
}


static void
test_memcap(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.mem_cap = 120u << 20;
    start_pool(&o);
    add_model("mc", "[test]\nleak_mb = 80\n");
    load("mc", 1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(submit("mc", gray, gray_n, &F.a[i], 0, NULL), 0);
        int n = i + 1;
        assert_true(run_until(all_fired, &n, 20));
        assert_int_equal(F.a[i].status, 0);
    }
    /* every second job pushes a worker past 120 MiB: it answers, then is replaced */
    assert_int_not_equal(F.a[0].pid, F.a[3].pid);
    vg_pool_model_stats s;
    vg_pool_model_stats_by_name(F.pool, "mc", &s);
    assert_int_equal(s.crashes, 0);
    assert_true(s.restarts >= 1);
    stop_pool();
}


/* ---- lanes ------------------------------------------------------------------ */

static int
lane_busy(void *ctx)
{
    return busy_pid(ctx) != 0;
}


/*
 * One worker, made busy by a slow bulk job A; then bulk B1..B3 and NVR N1
 * queue behind it. With nvr_priority on N1 is answered right after A; with
 * it off the queue is one FIFO. Frigate's deepstack detector (frigate/
 * detectors/plugins/deepstack.py, api_timeout 0.1 s) is the caller N1 stands for.
 */
static void
lanes_order(int priority)
{
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.nvr_priority = priority;
    start_pool(&o);
    add_model("p", "[test]\ndelay_ms = 300\n");
    load("p", 1);
    enum { A, B1, B2, B3, N1 };
    assert_int_equal(submit("p", green, green_n, &F.a[A], 0, NULL), 0);
    assert_true(run_until(lane_busy, "p", 20));   /* A runs */
    assert_int_equal(submit("p", gray, gray_n, &F.a[B1], 0, NULL), 0);
    assert_int_equal(submit("p", gray, gray_n, &F.a[B2], 0, NULL), 0);
    assert_int_equal(submit("p", gray, gray_n, &F.a[B3], 0, NULL), 0);
    assert_int_equal(submit_lane("p", VG_POOL_LANE_NVR, white, white_n, &F.a[N1], 0, NULL), 0);
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_by_name(F.pool, "p", &s), 0);
    assert_int_equal(s.queue_depth, 4);
    assert_int_equal(s.queue_depth_nvr, priority ? 1 : 0);
    int n = 5;
    assert_true(run_until(all_fired, &n, 20));
    for (int i = 0; i < n; i++)
        assert_int_equal(F.a[i].status, 0);
    assert_string_equal(F.a[N1].label, "bright");
    assert_int_equal(F.a[A].seq, 1);
    if (priority) {
        assert_int_equal(F.a[N1].seq, 2);   /* next after the running job */
        assert_int_equal(F.a[B1].seq, 3);   /* the bulk lane keeps its order */
        assert_int_equal(F.a[B2].seq, 4);
        assert_int_equal(F.a[B3].seq, 5);
    } else {
        assert_int_equal(F.a[B1].seq, 2);   /* one FIFO */
        assert_int_equal(F.a[B2].seq, 3);
        assert_int_equal(F.a[B3].seq, 4);
        assert_int_equal(F.a[N1].seq, 5);
    }
    stop_pool();
}


static void test_lane_priority(void **state) { (void)state; lanes_order(1); }
static void test_lane_priority_off(void **state) { (void)state; lanes_order(0); }


/* The starvation bound: with nvr_burst 2, a waiting bulk job goes after every two NVR jobs. */
static void
test_lane_burst(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.nvr_burst = 2;
    start_pool(&o);
    add_model("s", "[test]\ndelay_ms = 300\n");
    load("s", 1);
    enum { A, B1, B2, N1, N2, N3, N4, N5 };
    assert_int_equal(submit("s", green, green_n, &F.a[A], 0, NULL), 0);
    assert_true(run_until(lane_busy, "s", 20));
    assert_int_equal(submit("s", gray, gray_n, &F.a[B1], 0, NULL), 0);
    assert_int_equal(submit("s", gray, gray_n, &F.a[B2], 0, NULL), 0);
    for (int i = N1; i <= N5; i++)
        assert_int_equal(submit_lane("s", VG_POOL_LANE_NVR, white, white_n, &F.a[i], 0, NULL), 0);
    int n = N5 + 1;
    assert_true(run_until(all_fired, &n, 20));
    const int want[] = { A, N1, N2, B1, N3, N4, B2, N5 };
    for (int k = 0; k < n; k++) {
        assert_int_equal(F.a[want[k]].status, 0);
        assert_int_equal(F.a[want[k]].seq, k + 1);
    }
    stop_pool();
}


/*
 * Each lane has its own queue_max: a bulk queue that is full refuses bulk
 * jobs, not NVR ones; with nvr_priority off both share one queue.
 */
static void
lanes_full(int priority)
{
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.queue_max = 2;
    o.nvr_priority = priority;
    start_pool(&o);
    add_model("f", "[test]\ndelay_ms = 300\n");
    load("f", 1);
    assert_int_equal(submit("f", green, green_n, &F.a[0], 0, NULL), 0);
    assert_true(run_until(lane_busy, "f", 20));
    assert_int_equal(submit("f", gray, gray_n, &F.a[1], 0, NULL), 0);
    assert_int_equal(submit("f", gray, gray_n, &F.a[2], 0, NULL), 0);
    assert_int_equal(submit("f", gray, gray_n, &F.a[3], 0, NULL), VG_E_QUEUEFULL);
    assert_int_equal(submit_lane("f", VG_POOL_LANE_NVR, white, white_n, &F.a[4], 0, NULL),
                     priority ? 0 : VG_E_QUEUEFULL);
    assert_int_equal(submit_lane("f", 2, white, white_n, &F.a[5], 0, NULL), VG_E_INVAL);   /* no such lane */
    int idx[] = { 0, 1, 2, priority ? 4 : 0, -1 };
    assert_true(run_until(these_fired, idx, 20));
    assert_int_equal(F.a[3].fired, 0);
    assert_int_equal(F.a[5].fired, 0);
    stop_pool();
}


static void test_lane_full(void **state) { (void)state; lanes_full(1); }
static void test_lane_full_off(void **state) { (void)state; lanes_full(0); }


static int
any_busy(void *ctx)
{
    vg_pool_model_stats s;
    return vg_pool_model_stats_by_name(F.pool, ctx, &s) == 0 && s.workers_busy > 0;
}


/*
 * The reserved share: two workers, nvr_workers 1. Three slow bulk jobs take
 * one worker and wait for it; the other stays free, and an NVR job runs
 * there at once, answered before the second bulk job.
 */
static void
test_lane_reserved(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.nvr_workers = 1;
    start_pool(&o);
    add_model("r", "[test]\ndelay_ms = 1000\n");
    load("r", 2);
    enum { B1, B2, B3, N1 };
    for (int i = B1; i <= B3; i++)
        assert_int_equal(submit("r", green, green_n, &F.a[i], 0, NULL), 0);
    assert_true(run_until(any_busy, "r", 20));
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_by_name(F.pool, "r", &s), 0);
    assert_int_equal(s.workers_busy, 1);   /* the bulk share is one worker */
    assert_int_equal(s.queue_depth, 2);
    int bulk_pid = busy_pid("r");
    assert_int_equal(submit_lane("r", VG_POOL_LANE_NVR, white, white_n, &F.a[N1], 0, NULL), 0);
    int idx[] = { N1, -1 };
    assert_true(run_until(these_fired, idx, 20));
    assert_int_equal(F.a[N1].status, 0);
    assert_int_not_equal(F.a[N1].pid, bulk_pid);   /* the free worker ran it */
    assert_int_equal(F.a[B2].fired, 0);
    assert_int_equal(F.a[B3].fired, 0);
    int n = 4;
    assert_true(run_until(all_fired, &n, 20));
    for (int i = 0; i < n; i++)
        assert_int_equal(F.a[i].status, 0);
    stop_pool();
}


/* NVR jobs never wait for a fuller batch: max_queue_delay_us holds the bulk job only. */
static void
test_lane_batching(void **state)
{
    (void)state;
    vg_pool_options o;
    vg_pool_options_init(&o);
    start_pool(&o);
    add_model("d", "batch = 4\n[batching]\nmax_batch = 4\nmax_queue_delay_us = 5000000\n");
    load("d", 1);
    assert_int_equal(submit("d", gray, gray_n, &F.a[0], 0, NULL), 0);
    assert_int_equal(submit_lane("d", VG_POOL_LANE_NVR, white, white_n, &F.a[1], 0, NULL), 0);
    ev_run(F.loop, EVRUN_NOWAIT);   /* the dispatch after submit */
    vg_pool_model_stats s;
    assert_int_equal(vg_pool_model_stats_by_name(F.pool, "d", &s), 0);
    assert_int_equal(s.queue_depth_nvr, 0);   /* sent */
    assert_int_equal(s.queue_depth, 1);       /* the bulk job waits for a fuller batch */
    int n = 2;
    assert_true(run_until(all_fired, &n, 20));
    assert_int_equal(F.a[1].seq, 1);
    assert_int_equal(F.a[0].status, 0);
    stop_pool();
}


static int
setup_all(void **state)
{
    (void)state;
    F.loop = EV_DEFAULT;
    uint8_t *px = malloc(64 * 64 * 3);
    for (int i = 0; i < 64 * 64 * 3; i++)
        px[i] = (uint8_t)(40 + (i % 7));
    gray = pt_png(64, 64, px, 0, 0, 0, 0, 0, &gray_n);
    free(px);
    white = pt_png(64, 64, NULL, 230, 230, 230, 0, 0, &white_n);
    green = pt_png(64, 64, NULL, 0, 255, 0, 0, 0, &green_n);
    red = pt_png(64, 64, NULL, 255, 0, 0, 0, 0, &red_n);
    blue = pt_png(64, 64, NULL, 0, 0, 255, 0, 0, &blue_n);
    return access(testbe_path(), R_OK);
}


static int
teardown_all(void **state)
{
    (void)state;
    free(gray);
    free(white);
    free(green);
    free(red);
    free(blue);
    return 0;
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_kill_mid_job),
        cmocka_unit_test(test_respawn_keeps_slot),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_crash_twice),
        cmocka_unit_test(test_open_crash),
        cmocka_unit_test(test_open_exit),
        cmocka_unit_test(test_open_fail),
        cmocka_unit_test(test_open_hang),
        cmocka_unit_test(test_backend_fatal),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_unload),
        cmocka_unit_test(test_memcap),
        cmocka_unit_test(test_lane_priority),
        cmocka_unit_test(test_lane_priority_off),
        cmocka_unit_test(test_lane_burst),
        cmocka_unit_test(test_lane_full),
        cmocka_unit_test(test_lane_full_off),
        cmocka_unit_test(test_lane_reserved),
        cmocka_unit_test(test_lane_batching),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
