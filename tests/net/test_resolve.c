/*
 * resolve: a numeric address is answered at once without a thread; a name
 * goes through the threads and is answered on the loop (which runs on
 * meanwhile); a cancelled request never calls back, before or while its
 * getaddrinfo runs; past VG_RESOLVE_PENDING a request is refused and the
 * others are all answered; a name that does not resolve says why; destroy
 * with requests under way frees them and returns while their getaddrinfo
 * calls still run (the library's log: started, not ended). The names come from dns_preload
 * (this program runs itself again under it), so they are slow or missing
 * on purpose, without a DNS server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/resolve.h"

#define PRELOAD VIGIA_BUILDDIR "/tests/net/vigia-test-dns.so"

static char dns_file[64], dns_log[64];

typedef struct answers {
    int n;                      /* callbacks */
    int failed;                 /* of which with an error */
    int ticks_before;           /* loop ticks seen before the first answer */
    int ticks;
    char addr[64];              /* the last answer, "ip:port" */
    char err[128];
} answers;


static void
on_answer(const vg_resolve_addr *a, const char *err, void *ud)
{
    answers *s = ud;
    if (s->n++ == 0)
        s->ticks_before = s->ticks;
    if (!a) {
        s->failed++;
        snprintf(s->err, sizeof s->err, "%s", err);
        return;
    }
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
    char ip[INET_ADDRSTRLEN] = "";
    if (in->sin_family == AF_INET)
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    snprintf(s->addr, sizeof s->addr, "%s:%d", ip, ntohs(in->sin_port));
}


static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ((answers *)w->data)->ticks++;
}


/* Runs loop until r has nothing pending (the async watcher then lets ev_run return), ticking s. */
static void
run(struct ev_loop *loop, vg_resolver *r, answers *s)
{
    ev_timer t;
    ev_timer_init(&t, on_tick, 0.01, 0.01);
    t.data = s;
    ev_timer_start(loop, &t);
    ev_unref(loop);   /* the tick alone does not keep the loop running */
    ev_run(loop, 0);
    ev_ref(loop);
    ev_timer_stop(loop, &t);
    assert_int_equal(vg_resolver_pending(r), 0);
}


/* Each test's loop and resolver (cmocka's state). */
typedef struct fixture {
    struct ev_loop *loop;
    vg_resolver *r;
} fixture;


static int
fixture_up(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->r = vg_resolver_create(f->loop);
    *state = f;
    return 0;
}


static int
fixture_down(void **state)
{
    fixture *f = *state;
    vg_resolver_destroy(f->r);   /* NULL when the test destroyed it */
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}


static void
numeric_at_once(void **state)
{
    fixture *f = *state;
    struct ev_loop *loop = f->loop;
    vg_resolver *r = f->r;
    answers s = { 0 };
    vg_resolve_addr a;
    vg_resolve_req *q = (vg_resolve_req *)&s;
    char err[128];
    assert_int_equal(vg_resolver_start(r, "127.0.0.1", "8080", &a, on_answer, &s, &q, err, sizeof err), 1);
    assert_null(q);
    assert_int_equal(a.addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.addr)->sin_port), 8080);
    assert_int_equal(vg_resolver_start(r, "::1", "80", &a, on_answer, &s, &q, err, sizeof err), 1);
    assert_int_equal(a.addr.ss_family, AF_INET6);
    assert_int_equal(vg_resolver_pending(r), 0);
    assert_int_equal(vg_resolver_start(r, "127.0.0.1", "http", &a, on_answer, &s, &q, err, sizeof err), -1);
    assert_int_equal(vg_resolver_start(r, "", "80", &a, on_answer, &s, &q, err, sizeof err), -1);
    run(loop, r, &s);
    assert_int_equal(s.n, 0);   /* answered at once: no callback */
}


static void
name_through_thread(void **state)
{
    fixture *f = *state;
    struct ev_loop *loop = f->loop;
    vg_resolver *r = f->r;
    answers s = { 0 }, nx = { 0 };
    vg_resolve_addr a;
    vg_resolve_req *q = NULL;
    char err[128];
    assert_int_equal(vg_resolver_start(r, "slow.vigia.test", "9000", &a, on_answer, &s, &q, err, sizeof err), 0);
    assert_non_null(q);
    assert_int_equal(vg_resolver_start(r, "nx.vigia.test", "9000", &a, on_answer, &nx, NULL, err, sizeof err), 0);
    assert_int_equal(vg_resolver_pending(r), 2);
    run(loop, r, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.failed, 0);
    assert_string_equal(s.addr, "127.0.0.1:9000");
    assert_true(s.ticks_before >= 2);   /* the loop ran on while the name was being resolved */
    assert_int_equal(nx.n, 1);
    assert_int_equal(nx.failed, 1);
    assert_string_equal(nx.err, gai_strerror(EAI_NONAME));
}


static void
cancel_before_answer(void **state)
{
    fixture *f = *state;
    struct ev_loop *loop = f->loop;
    vg_resolver *r = f->r;
    answers s = { 0 }, kept = { 0 };
    vg_resolve_addr a;
    vg_resolve_req *running[VG_RESOLVE_THREADS], *queued = NULL;
    char err[128];
    for (int i = 0; i < VG_RESOLVE_THREADS; i++)
        assert_int_equal(vg_resolver_start(r, "slow.vigia.test", "1", &a, on_answer, &s, &running[i], err, sizeof err), 0);
    assert_int_equal(vg_resolver_start(r, "slow.vigia.test", "2", &a, on_answer, &s, &queued, err, sizeof err), 0);
    assert_int_equal(vg_resolver_start(r, "slow.vigia.test", "3", &a, on_answer, &kept, NULL, err, sizeof err), 0);
    usleep(50 * 1000);   /* the threads have taken the first ones: cancelled while their getaddrinfo runs */
    vg_resolve_cancel(queued);   /* still queued: freed now */
    assert_int_equal(vg_resolver_pending(r), VG_RESOLVE_THREADS + 1);
    for (int i = 0; i < VG_RESOLVE_THREADS; i++)
        vg_resolve_cancel(running[i]);
    vg_resolve_cancel(NULL);
    run(loop, r, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(kept.n, 1);
    assert_string_equal(kept.addr, "127.0.0.1:3");
}


static void
many_past_the_bound(void **state)
{
    fixture *f = *state;
    struct ev_loop *loop = f->loop;
    vg_resolver *r = f->r;
    answers s = { 0 };
    vg_resolve_addr a;
    char err[128] = "";
    for (int i = 0; i < VG_RESOLVE_PENDING; i++)
        assert_int_equal(vg_resolver_start(r, "fast.vigia.test", "80", &a, on_answer, &s, NULL, err, sizeof err), 0);
    answers refused = { 0 };
    assert_int_equal(vg_resolver_start(r, "fast.vigia.test", "80", &a, on_answer, &refused, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    /* a numeric address needs no room */
    assert_int_equal(vg_resolver_start(r, "127.0.0.1", "80", &a, on_answer, &refused, NULL, err, sizeof err), 1);
    run(loop, r, &s);
    assert_int_equal(s.n, VG_RESOLVE_PENDING);
    assert_int_equal(s.failed, 0);
    assert_int_equal(refused.n, 0);
    assert_int_equal(vg_resolver_start(r, "fast.vigia.test", "80", &a, on_answer, &s, NULL, err, sizeof err), 0);
    run(loop, r, &s);
    assert_int_equal(s.n, VG_RESOLVE_PENDING + 1);
}


/* How many lines of the library's log (VG_TEST_DNS_LOG) are `line`. */
static int
log_lines(const char *line)
{
    FILE *f = fopen(getenv("VG_TEST_DNS_LOG"), "r");
    char got[256];
    int n = 0;
    while (f && fgets(got, sizeof got, f))
        n += strcmp(got, line) == 0;
    if (f)
        fclose(f);
    return n;
}


static void
destroy_while_pending(void **state)
{
    fixture *f = *state;
    struct ev_loop *loop = f->loop;
    vg_resolver *r = f->r;
    answers s = { 0 };
    vg_resolve_addr a;
    char err[128];
    /* every thread in a getaddrinfo of 10 s, more queued behind them */
    for (int i = 0; i < VG_RESOLVE_THREADS + 3; i++)
        assert_int_equal(vg_resolver_start(r, "glacial.vigia.test", "80", &a, on_answer, &s, NULL, err, sizeof err), 0);
    for (int i = 0; i < 20000 && log_lines("start glacial.vigia.test\n") < VG_RESOLVE_THREADS; i++)
        usleep(1000);
    /* the threads are detached, not waited for: destroy returns while their calls run (no "end" yet) */
    vg_resolver_destroy(r);
    f->r = NULL;
    assert_int_equal(log_lines("end glacial.vigia.test\n"), 0);
    assert_int_equal(log_lines("start glacial.vigia.test\n"), VG_RESOLVE_THREADS);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(s.n, 0);
    /* and where the detached threads' calls end while the process lives on (slow: 200 ms), they
       free their requests and the last one the resolver (the sanitizer builds check that) */
    const int started = log_lines("start slow.vigia.test\n"), ended = log_lines("end slow.vigia.test\n");
    r = vg_resolver_create(loop);
    for (int i = 0; i < VG_RESOLVE_THREADS; i++)
        assert_int_equal(vg_resolver_start(r, "slow.vigia.test", "80", &a, on_answer, &s, NULL, err, sizeof err), 0);
    for (int i = 0; i < 20000 && log_lines("start slow.vigia.test\n") < started + VG_RESOLVE_THREADS; i++)
        usleep(1000);
    vg_resolver_destroy(r);
    for (int i = 0; i < 20000 && log_lines("end slow.vigia.test\n") < ended + VG_RESOLVE_THREADS; i++)
        usleep(1000);
    usleep(100 * 1000);   /* past their last steps (an unlock, a free) */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(s.n, 0);
}


int
main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("VG_TEST_DNS_FILE")) {
        /* the names of these tests come from dns_preload: run again under it */
        snprintf(dns_file, sizeof dns_file, "/tmp/vigia-test-dns-%d", (int)getpid());
        FILE *f = fopen(dns_file, "w");
        if (!f || fprintf(f, "slow.vigia.test 127.0.0.1 200\nfast.vigia.test 127.0.0.1\nnx.vigia.test -\n"
                             "glacial.vigia.test 127.0.0.1 10000\n") < 0
            || fclose(f) != 0) {
            perror(dns_file);
            return 1;
        }
        setenv("VG_TEST_DNS_FILE", dns_file, 1);
        snprintf(dns_log, sizeof dns_log, "/tmp/vigia-test-dns-%d.log", (int)getpid());
        unlink(dns_log);
        setenv("VG_TEST_DNS_LOG", dns_log, 1);
        setenv("VG_TEST_DNS_OURS", "1", 1);   /* ours to remove at the end */
        setenv("LD_PRELOAD", PRELOAD, 1);
        {   /* under AddressSanitizer the preloaded library comes before its runtime: allowed (it wraps getaddrinfo only) */
            const char *ao = getenv("ASAN_OPTIONS");
            char opts[512];
            snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", ao ? ao : "", ao && *ao ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
        }
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(numeric_at_once, fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(name_through_thread, fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(cancel_before_answer, fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(many_past_the_bound, fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(destroy_while_pending, fixture_up, fixture_down),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (getenv("VG_TEST_DNS_OURS")) {
        unlink(getenv("VG_TEST_DNS_FILE"));
        unlink(getenv("VG_TEST_DNS_LOG"));
    }
    return rc;
}
