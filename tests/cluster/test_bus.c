/*
 * test_bus: core/cluster/bus: the URL parser's limits and errors, and a bus
 * against a real redis-server on a loopback port: it comes up, answers a
 * command, goes down when the server dies (commands in flight get NULL,
 * new ones are refused) and comes back by itself when the server returns.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <hiredis/hiredis.h>

#include "base/error.h"
#include "cluster/bus.h"

static int
parse(const char *url, vg_bus_url *u, char *err, size_t errlen)
{
    return vg_bus_url_parse(url, strlen(url), u, err, errlen);
}


static void
test_url_good(void **state)
{
    (void)state;
    vg_bus_url u;
    char err[256];
    assert_int_equal(parse("redis://127.0.0.1:6380/2", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(parse("redis://localhost", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(parse("redis://[::1]:7000", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(parse("redis://10.0.0.1/15", &u, err, sizeof err), 0);
    assert_int_equal(u.db, 15);
}


static void
test_url_bad(void **state)
{
    (void)state;
    static const struct { const char *url, *says; } bad[] = {
        { "", "empty" },
        { "http://127.0.0.1:6379", "redis://" },
        { "rediss://127.0.0.1:6379", "TLS" },
        { "redis://", "no host" },
        { "redis://:6379", "no host" },
        { "redis://redis.example.com:6379", "not an IP address" },
        { "redis://127.0.0.1:0", "port" },
        { "redis://127.0.0.1:65536", "port" },
        { "redis://127.0.0.1:99999999999", "port" },
        { "redis://127.0.0.1:", "port" },
        { "redis://127.0.0.1:63x9", "unexpected" },
        { "redis://127.0.0.1/16", "database" },
        { "redis://127.0.0.1/", "database" },
        { "redis://127.0.0.1/1/2", "unexpected" },
        { "redis://[::1:6379", "']'" },
        { "redis://[zz]:6379", "IPv6" },
        { "redis://user:pw@127.0.0.1", "password" },
        { "redis://127.0.0.1:6379 ", "unexpected" },
    };
    vg_bus_url u;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = parse(bad[i].url, &u, err, sizeof err);
        if (rc != VG_E_INVAL || !strstr(err, bad[i].says))
            fail_msg("'%s': rc %d, err '%s' (wanted '%s')", bad[i].url, rc, err, bad[i].says);
    }
    char big[400];
    memset(big, '1', sizeof big);
    memcpy(big, "redis://", 8);
    assert_int_equal(vg_bus_url_parse(big, sizeof big, &u, err, sizeof err), VG_E_INVAL);
    assert_non_null(strstr(err, "256"));
    assert_int_equal(vg_bus_url_parse("redis://1.2.3.4\0:1", 18, &u, err, sizeof err), VG_E_INVAL);
}


/* ---- against a real redis-server --------------------------------------- */

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}


static pid_t
redis_start(int port, const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        int null = open("/dev/null", 1);
        dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    return pid;
}


typedef struct probe {
    struct ev_loop *loop;
    int ups, downs, replies, nulls;
    char last[512];
} probe;


static void
on_state(vg_bus *b, int up, void *ud)
{
    (void)b;
    probe *p = ud;
    if (up)
        p->ups++;
    else
        p->downs++;
    ev_break(p->loop, EVBREAK_ONE);
}


static void
on_reply(vg_bus *b, struct redisReply *r, void *ud)
{
    (void)b;
    probe *p = ud;
    if (r) {
        p->replies++;
        snprintf(p->last, sizeof p->last, "%s", r->str ? r->str : "");
    } else {
        p->nulls++;
    }
    ev_break(p->loop, EVBREAK_ONE);
}


static void
on_guard(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}


/* Runs the loop until a callback breaks it (or a generous guard: a hang is a failure, not a timing). */
static void
run_once(struct ev_loop *loop)
{
    ev_timer guard;
    ev_timer_init(&guard, on_guard, 20.0, 0);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
}


static void
test_bus_live(void **state)
{
    (void)state;
    char dir[] = "/tmp/vg-bus-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int port = free_port();
    assert_true(port > 0);
    pid_t rs = redis_start(port, dir);
    assert_true(rs > 0);

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char url[64], err[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/1", port);
    vg_bus_url u;
    assert_int_equal(vg_bus_url_parse(url, strlen(url), &u, err, sizeof err), 0);
    vg_bus_options o;
    vg_bus_options_init(&o);
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    vg_bus *b;
    assert_int_equal(vg_bus_create(loop, &u, &o, &b), 0);
    probe p = { .loop = loop };
    vg_bus_on_state(b, on_state, &p);
    /* the server may take a moment to listen: the bus retries until it is up */
    while (!vg_bus_is_up(b) && p.downs < 200)
        run_once(loop);
    assert_true(vg_bus_is_up(b));
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "SET", "k", "v", NULL), 0);
    run_once(loop);
    assert_int_equal(p.replies, 1);
    assert_string_equal(p.last, "OK");
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "GET", "k", NULL), 0);
    run_once(loop);
    assert_string_equal(p.last, "v");

    /* a blocked command is in flight when the server dies: it gets NULL; the bus goes down */
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "BLPOP", "nothing", "10", NULL), 0);
    kill(rs, SIGKILL);
    waitpid(rs, NULL, 0);
    int downs = p.downs;
    while (vg_bus_is_up(b) || p.nulls == 0)
        run_once(loop);
    assert_int_equal(p.nulls, 1);
    assert_true(p.downs > downs);
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "PING", NULL), VG_E_UNAVAILABLE);
    assert_true(vg_bus_why(b)[0] != '\0');

    /* it comes back by itself, in database 1 again */
    rs = redis_start(port, dir);
    int ups = p.ups;
    while (p.ups == ups)
        run_once(loop);
    assert_true(vg_bus_is_up(b));
    assert_int_equal(vg_bus_ups(b), 2);
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "CLIENT", "INFO", NULL), 0);
    run_once(loop);
    assert_non_null(strstr(p.last, "db=1"));

    /* destroy with a command in flight: its callback runs with NULL, once */
    int nulls = p.nulls;
    assert_int_equal(vg_bus_commandv(b, on_reply, &p, "BLPOP", "nothing", "10", NULL), 0);
    vg_bus_destroy(b);
    assert_int_equal(p.nulls, nulls + 1);
    kill(rs, SIGKILL);
    waitpid(rs, NULL, 0);
    ev_loop_destroy(loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),
        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_bus_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
