/*
 * Connection floods against the real binary, on loopback, bounded in count
 * and time: 2,000 slowloris connections trickling headers while normal
 * clients keep being answered and the header deadline cuts the slow ones
 * off; 10,000 idle keep-alive connections held open within a memory
 * budget per connection (measured from the server's RSS); and the
 * connection limit refusing the excess politely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define SLOWLORIS 2000
#define IDLE 10000
/* what an idle keep-alive connection may cost the server, all included */
#define BYTES_PER_IDLE_BUDGET 8192

static long
rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}


static int
connect_nb(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}


static void
raise_fd_limit(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < IDLE + 1000) {
        print_message("# SKIP the fd limit (%lu) is below %d\n", (unsigned long)rl.rlim_max, IDLE + 1000);
        skip();
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}


static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}


static void
slowloris(void **state)
{
    (void)state;
    raise_fd_limit();
    ts_server s;
    const char *args[] = { "--limits-header-timeout", "2s", "--log-access", "false", NULL };
    ts_spawn(&s, args, NULL);
    int *fds = calloc(SLOWLORIS, sizeof *fds);
    int open_ok = 0;
    for (int i = 0; i < SLOWLORIS; i++) {
        fds[i] = connect_nb(s.port);
        if (fds[i] >= 0 && send(fds[i], "GET /health HTTP/1.1\r\n", 22, MSG_NOSIGNAL) == 22)
            open_ok++;
    }
    assert_int_equal(open_ok, SLOWLORIS);
    /* trickle one header byte per connection per round; meanwhile normal clients are served */
    int served = 0;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < SLOWLORIS; i++)
            if (fds[i] >= 0)
                send(fds[i], "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        for (int k = 0; k < 10; k++) {
            ts_resp r;
            if (ts_get(s.port, "/health", &r) == 200)
                served++;
            ts_resp_free(&r);
        }
        sleep_ms(100);
    }
    assert_int_equal(served, 100);
    /* past the header deadline every slow connection has been answered 408 and closed */
    sleep_ms(2500);
    int cut = 0;
    for (int i = 0; i < SLOWLORIS; i++) {
        char buf[512];
        ssize_t n = recv(fds[i], buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, " 408 "))
                cut++;
        }
        close(fds[i]);
    }
    free(fds);
    assert_int_equal(cut, SLOWLORIS);
    assert_int_equal(ts_stop(&s, SIGTERM, 20), 0);
}


static void
idle_keepalive(void **state)
{
    (void)state;
    raise_fd_limit();
    ts_server s;
    const char *args[] = { "--server-max-connections", "12000", "--log-access", "false", NULL };
    ts_spawn(&s, args, NULL);
    /* warm up: the first requests allocate what every later one reuses */
    for (int i = 0; i < 50; i++) {
        ts_resp r;
        assert_int_equal(ts_get(s.port, "/health", &r), 200);
        ts_resp_free(&r);
    }
    long before = rss_kib(s.pid);
    int *fds = calloc(IDLE, sizeof *fds);
    static const char req[] = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < IDLE; i++) {
        fds[i] = connect_nb(s.port);
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    }
    /* every connection gets its answer and stays open (keep-alive) */
    int answered = 0;
    for (int i = 0; i < IDLE; i++) {
        struct pollfd p = { fds[i], POLLIN, 0 };
        if (poll(&p, 1, 10000) == 1) {
            char buf[1024];
            ssize_t n = recv(fds[i], buf, sizeof buf, 0);
            if (n > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0)
                answered++;
        }
    }
    assert_int_equal(answered, IDLE);
    sleep_ms(200);
    long after = rss_kib(s.pid);
    double per_conn = (double)(after - before) * 1024.0 / IDLE;
    print_message("# %d idle keep-alive connections: server RSS %ld -> %ld KiB, %.0f bytes per connection\n",
                  IDLE, before, after, per_conn);
    assert_true(per_conn < BYTES_PER_IDLE_BUDGET);
    /* still serving, and the metrics count them */
    ts_resp r;
    assert_int_equal(ts_get(s.port, "/metrics", &r), 200);
    assert_non_null(strstr(r.body, "vigia_http_connections "));
    char want[64];
    snprintf(want, sizeof want, "vigia_http_connections %d", IDLE + 1);
    assert_non_null(strstr(r.body, want));
    ts_resp_free(&r);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    free(fds);
    assert_int_equal(ts_stop(&s, SIGTERM, 20), 0);
}


static void
over_the_limit(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--server-max-connections", "100", "--log-access", "false", NULL };
    ts_spawn(&s, args, NULL);
    int fds[300];
    for (int i = 0; i < 300; i++)
        fds[i] = connect_nb(s.port);
    sleep_ms(300);
    int refused = 0, kept = 0;
    for (int i = 0; i < 300; i++) {
        char buf[512];
        ssize_t n = recv(fds[i], buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, "503") && strstr(buf, "too_many_connections"))
                refused++;
        } else if (n < 0 && errno == EAGAIN) {
            kept++;
        }
    }
    assert_int_equal(kept, 100);
    assert_int_equal(refused, 200);
    for (int i = 0; i < 300; i++)
        close(fds[i]);
    sleep_ms(200);
    ts_resp r;
    assert_int_equal(ts_get(s.port, "/health", &r), 200);
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 20), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slowloris),
        cmocka_unit_test(idle_keepalive),
        cmocka_unit_test(over_the_limit),
    };
    return cmocka_run_group_tests_name("connection floods", tests, NULL, NULL);
}
