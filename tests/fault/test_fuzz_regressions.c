/*
 * Inputs the fuzzers (fuzz/) and the fault tests found, replayed against
 * the function each one broke, so the fix stays. Each test names where the
 * input came from and the seed it is kept as in fuzz/corpus/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/error.h"
#include "pipeline/image.h"
#include "auth/jwt.h"
#include "support.h"

static const uint8_t secret[32] = "fuzz-secret-fuzz-secret-fuzz-32";


/* header.payload signed with `secret`, as a key holder would. */
static void
signed_token(vg_buf *out, const char *head, const char *payload)
{
    out->len = 0;
    vg_b64url_encode(out, head, strlen(head));
    vg_buf_putc(out, '.');
    vg_b64url_encode(out, payload, strlen(payload));
    uint8_t mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, sizeof secret,
                    (const uint8_t *)out->data, out->len, mac);
    vg_buf_putc(out, '.');
    vg_b64url_encode(out, mac, 32);
}


/*
 * fuzz_jwt, seed signed-huge-exp: "exp": 1e300 was converted to int64
 * (undefined behaviour, UBSan: "outside the range of representable
 * values"). Such times are now malformed claims; reals in range still work.
 */
static void
jwt_time_out_of_range(void **state)
{
    (void)state;
    vg_jwt_options o = { .alg = VG_JWT_HS256, .secret = secret, .secret_len = sizeof secret,
                         .issuer = "vigia", .audience = "vigia", .leeway = 30 };
    vg_jwt *j;
    char err[256];
    assert_int_equal(vg_jwt_create(&o, &j, err, sizeof err), 0);
    vg_buf tok;
    vg_buf_init(&tok);
    vg_jwt_claims c;
    static const char *const bad[] = {
        "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"3\",\"exp\":1e300}",
        "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"3\",\"exp\":-1e300}",
        "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"3\",\"exp\":1700000900,\"nbf\":-1e300}",
        "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"3\",\"exp\":1700000900,\"iat\":9.3e18}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        signed_token(&tok, "{\"alg\":\"HS256\"}", bad[i]);
        assert_int_equal(vg_jwt_verify(j, tok.data, tok.len, 1700000000, &c), VG_JWT_ECLAIMS);
    }
    signed_token(&tok, "{\"alg\":\"HS256\"}", "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"3\",\"exp\":1700000900.5}");
    assert_int_equal(vg_jwt_verify(j, tok.data, tok.len, 1700000000, &c), 0);
    assert_int_equal(c.exp, 1700000900);
    vg_buf_release(&tok);
    vg_jwt_destroy(j);
}


static char *
print_config(const vg_config *c)
{
    char *text = NULL;
    size_t n;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    vg_config_print(c, f);
    fclose(f);
    return text;
}


/*
 * fuzz_config, seed "quoted": what vigia --check-config printed was not
 * always a config file: string values were quoted when they held a
 * space but not escaped (audience = "a \"b\"" printed as "a "b"", which
 * the reader refuses), and values starting with a quote or ending in a
 * blank lost them on the way back. Printing now escapes, and the printed
 * file loads to the same settings.
 */
static void
config_print_round_trip(void **state)
{
    (void)state;
    char dir[256], path[300];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/vigia.conf", dir);
    const char *text = "[auth]\n"
                       "issuer = \"a \\\"b\\\"\"\n"
                       "audience = \"\\\"quoted\\\"\"\n"
                       "jwt_secret_file = \"tab\\tand\\\\back\\nslash \"\n"
                       "[tls]\n"
                       "listen = \"\\\"127.0.0.1:1\"\n";
    ts_write_file(path, text, strlen(text));
    vg_config a, b;
    char err[512], *rest[1];
    int nrest;
    vg_config_init(&a);
    assert_int_equal(vg_config_load(&a, path, 0, NULL, rest, &nrest, err, sizeof err), 0);
    assert_string_equal(a.jwt_issuer, "a \"b\"");
    assert_string_equal(a.jwt_audience, "\"quoted\"");
    assert_string_equal(a.jwt_secret_file, "tab\tand\\back\nslash ");
    assert_int_equal(a.tls_listen.n, 1);
    assert_string_equal(a.tls_listen.v[0], "\"127.0.0.1:1");
    char *p1 = print_config(&a);
    ts_write_file(path, p1, strlen(p1));
    vg_config_init(&b);
    assert_int_equal(vg_config_load(&b, path, 0, NULL, rest, &nrest, err, sizeof err), 0);
    assert_string_equal(b.jwt_issuer, a.jwt_issuer);
    assert_string_equal(b.jwt_audience, a.jwt_audience);
    assert_string_equal(b.jwt_secret_file, a.jwt_secret_file);
    assert_int_equal(b.tls_listen.n, 1);
    assert_string_equal(b.tls_listen.v[0], a.tls_listen.v[0]);
    char *p2 = print_config(&b);
    assert_string_equal(p1, p2);
    free(p1);
    free(p2);
    vg_config_release(&a);
    vg_config_release(&b);
}


static void *
read_seed(const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s", getenv("VIGIA_SRCDIR") ? getenv("VIGIA_SRCDIR") : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}


/*
 * tests/fault/test_image_bombs.py, seed image/regression-600-scans.jpg: a
 * progressive JPEG that repeats one end-of-band scan (a dozen bytes each)
 * made libjpeg walk every block once per scan: 20,000 scans of a 2000x2000
 * image (288 KB) took 6.8 s of a worker. More than 500 scans are refused
 * before decoding; ordinary progressive JPEGs still decode.
 */
static void
jpeg_scan_limit(void **state)
{
    (void)state;
    vg_image_limits lim = { .max_bytes = 1 << 20, .max_pixels = 1 << 22, .max_side = 8192 };
    vg_image im;
    char err[256];
    size_t n;
    void *bomb = read_seed("image/regression-600-scans.jpg", &n);
    /* refused before libvips starts in this process: neither path may touch it then */
    int w, h;
    assert_int_equal(vg_image_probe(bomb, n, &lim, &w, &h, err, sizeof err), VG_E_TOOBIG);
    assert_int_equal(vg_image_decode(bomb, n, &lim, &im, err, sizeof err), VG_E_TOOBIG);
    assert_non_null(strstr(err, "more than 500 scans"));
    void *prog = read_seed("image/progressive.jpg", &n);
    assert_int_equal(vg_image_decode(prog, n, &lim, &im, err, sizeof err), 0);
    assert_int_equal(im.w, 24);
    assert_int_equal(im.h, 16);
    vg_image_release(&im);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_time_out_of_range),
        cmocka_unit_test(config_print_round_trip),
        cmocka_unit_test(jpeg_scan_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
