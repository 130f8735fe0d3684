/*
 * HTTPS: a certificate made by the test (openssl), the server's TLS
 * listener beside the plain one, curl as the client: requests, keep-alive,
 * a 64 KiB static file, refusal of TLS 1.1 and of plain HTTP on the TLS
 * port, clear errors for bad certificate settings, the key exchange group
 * chosen (openssl s_client) and the handshake rate per client address.
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


/* Starts a server with a TLS listener on 127.0.0.1 (plus `more` arguments); returns the TLS port. */
static int
spawn_tls(ts_server *s, const char *const *more)
{
    const char *args[16] = { "--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--web", web };
    int n = 8;
    for (int i = 0; more && more[i] && n < 15; i++)
        args[n++] = more[i];
    args[n] = NULL;
    ts_spawn(s, args, NULL);
    char *log = NULL;
    /* the plain listener is announced first; the TLS one is in the log */
    int tport = 0;
    for (int i = 0; i < 100 && !tport; i++) {
        free(log);
        log = ts_read_log(s);
        char *at = strstr(log, "listening on 127.0.0.1:");
        if (at && (at = strstr(at + 1, "listening on 127.0.0.1:")))
            tport = atoi(at + strlen("listening on 127.0.0.1:"));
    }
    free(log);
    assert_true(tport > 0);
    return tport;
}


static void
https_round_trips(void **state)
{
    (void)state;
    ts_server s;
    int tport = spawn_tls(&s, NULL);

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


/* One handshake by openssl s_client with `opts`; its output in out. Returns 1 when it completed. */
static int
s_client(int port, const char *opts, char *out, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "openssl s_client -connect 127.0.0.1:%d %s </dev/null 2>&1", port, opts);
    run(cmd, out, n);
    return strstr(out, "Cipher is ECDHE-") != NULL || strstr(out, "Cipher is TLS_") != NULL;
}


/*
 * The key exchange: openssl's client offers X25519, P-256, X448, P-521,
 * P-384 in that order, and mbedtls' default preference (largest curve
 * first) answered secp521r1, several times the CPU of X25519 per
 * handshake; 151 handshakes/s took the master to 92%. The server now
 * picks X25519, then P-256, and does not offer P-521 at all.
 */
static void
key_exchange_prefers_x25519(void **state)
{
    (void)state;
    ts_server s;
    int tport = spawn_tls(&s, NULL);
    char out[16384];
    assert_true(s_client(tport, "", out, sizeof out));
    if (!strstr(out, "Temp Key: X25519"))
        fail_msg("not X25519: %s", out);
    /* a client that would rather have P-521 gets P-256 */
    assert_true(s_client(tport, "-groups secp521r1:prime256v1", out, sizeof out));
    if (!strstr(out, "Temp Key: ECDH, prime256v1"))
        fail_msg("not P-256: %s", out);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


/*
 * tls.handshake_rate per client address: with a burst of 5 and a rate of
 * one per 1000 s, 5 of 12 handshakes from 127.0.0.1 complete and 7 are
 * closed before their handshake; another address (127.0.0.2) still gets
 * its own, and plain HTTP is not limited.
 */
static void
handshake_rate_per_address(void **state)
{
    (void)state;
    ts_server s;
    const char *more[] = { "--tls-handshake-rate", "0.001", "--tls-handshake-burst", "5", NULL };
    int tport = spawn_tls(&s, more);
    char out[16384];
    int done = 0;
    for (int i = 0; i < 12; i++)
        done += s_client(tport, "", out, sizeof out);
    assert_int_equal(done, 5);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -sS --interface 127.0.0.2 --cacert '%s' https://127.0.0.1:%d/health "
                              "-o /dev/null -w '%%{http_code}' 2>&1", cert, tport);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_string_equal(out, "200");
    ts_resp r;
    assert_int_equal(ts_get(s.port, "/metrics", &r), 200);
    assert_non_null(strstr(r.body, "\nvigia_tls_handshakes_refused_total 7\n"));
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s, SIGTERM, 10), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(https_round_trips),
        cmocka_unit_test(bad_settings),
        cmocka_unit_test(key_exchange_prefers_x25519),
        cmocka_unit_test(handshake_rate_per_address),
    };
    return cmocka_run_group_tests_name("tls", tests, setup, NULL);
}
