/*
 * HTTPS: a certificate made by the test (openssl), the server's TLS
 * listener beside the plain one, curl as the client: requests, keep-alive,
 * a 64 KiB static file, refusal of TLS 1.1 and of plain HTTP on the TLS
 * port, and clear errors for bad certificate settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char dir[256], cert[300], key[300], web[300];

static int
run(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;   /* read it all: a child writing into a closed pipe dies of SIGPIPE */
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}


static int
setup(void **state)
{
    (void)state;
    ts_mkdtemp(dir, sizeof dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(web, sizeof web, "%s/web", dir);
    mkdir(web, 0755);
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' -out '%s' "
             "-days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>&1", key, cert);
    if (run(cmd, out, sizeof out) != 0)
        fail_msg("openssl: %s", out);
    char *blob = malloc(65536);
    for (int i = 0; i < 65536; i++)
        blob[i] = (char)(i * 31 + 7);
    char p[400];
    snprintf(p, sizeof p, "%s/blob.bin", web);
    ts_write_file(p, blob, 65536);
    free(blob);
    return 0;
}


static void
https_round_trips(void **state)
{
    (void)state;
    ts_server s;
    const char *args[] = { "--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--web", web, NULL };
    ts_spawn(&s, args, NULL);
    char *log = NULL;
    /* the plain listener is announced first; the TLS one is in the log */
    int tport = 0;
    for (int i = 0; i < 100 && !tport; i++) {
        free(log);
        log = ts_read_log(&s);
        char *at = strstr(log, "listening on 127.0.0.1:");
        if (at && (at = strstr(at + 1, "listening on 127.0.0.1:")))
            tport = atoi(at + strlen("listening on 127.0.0.1:"));
    }
    free(log);
    assert_true(tport > 0);

    char cmd[2048], out[200000];
    /* two requests on one TLS connection */
    snprintf(cmd, sizeof cmd, "curl -sS --cacert '%s' https://127.0.0.1:%d/health https://127.0.0.1:%d/health "
                              "-w '%%{http_code} %%{num_connects}\\n' 2>&1", cert, tport, tport);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "{\"status\":\"ok\""));
    assert_non_null(strstr(out, "200 1\n"));
    assert_non_null(strstr(out, "200 0\n"));   /* the second reused the connection */

    /* a 64 KiB file arrives intact through TLS (no sendfile there) */
    char got[400];
    snprintf(got, sizeof got, "%s/got.bin", dir);
    snprintf(cmd, sizeof cmd, "curl -sS --cacert '%s' -o '%s' https://127.0.0.1:%d/blob.bin -w '%%{http_code}' && cmp '%s' '%s/blob.bin' 2>&1",
             cert, got, tport, got, web);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, "200");

    /* an error is JSON over TLS too */
    snprintf(cmd, sizeof cmd, "curl -sS --cacert '%s' https://127.0.0.1:%d/nothing", cert, tport);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\"code\":\"not_found\""));

    /* TLS 1.1 is refused */
    snprintf(cmd, sizeof cmd, "curl -sS -k --tlsv1.1 --tls-max 1.1 https://127.0.0.1:%d/health 2>&1", tport);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);

    /* plain HTTP to the TLS port: no answer but a closed connection, and the server is fine */
    int fd = ts_connect(tport);
    ts_send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(ts_wait_closed(fd, 5));
    ts_close(fd);
    snprintf(cmd, sizeof cmd, "curl -sS --cacert '%s' https://127.0.0.1:%d/health -o /dev/null -w '%%{http_code}'", cert, tport);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, "200");
    /* and the plain listener still serves plain HTTP */
    ts_resp r;
    assert_int_equal(ts_get(s.port, "/health", &r), 200);
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


static void
bad_settings(void **state)
{
    (void)state;
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' --check-config --tls-listen 127.0.0.1:0 2>&1", getenv("VIGIA_BIN"));
    assert_int_equal(run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "tls.cert and tls.key are needed"));
    snprintf(cmd, sizeof cmd, "'%s' --check-config --tls-listen 127.0.0.1:0 --tls-cert /nonexistent.pem --tls-key '%s' 2>&1",
             getenv("VIGIA_BIN"), key);
    assert_int_equal(run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "tls.cert '/nonexistent.pem'"));
    /* a key that does not belong to the certificate */
    char other[300];
    snprintf(other, sizeof other, "%s/other.pem", dir);
    snprintf(cmd, sizeof cmd, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s' 2>&1", other);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "'%s' --check-config --tls-listen 127.0.0.1:0 --tls-cert '%s' --tls-key '%s' 2>&1",
             getenv("VIGIA_BIN"), cert, other);
    assert_int_equal(run(cmd, out, sizeof out), 2);
    assert_non_null(strstr(out, "do not match"));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_round_trips),
        cmocka_unit_test(bad_settings),
    };
    return cmocka_run_group_tests_name("tls", tests, setup, NULL);
}
