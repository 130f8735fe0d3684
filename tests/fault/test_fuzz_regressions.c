/*
 * Inputs the fuzzers (fuzz/) found, replayed against the function each one
 * broke, so the fix stays. Each test names the harness and the seed the
 * input is kept as in fuzz/corpus/.
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

#include "buf.h"
#include "jwt.h"

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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_time_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
