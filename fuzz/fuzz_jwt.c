/*
 * libFuzzer harness for JWT parsing and verification (core/auth/jwt.c).
 *
 * The first byte picks a mode; the rest is the input.
 *  0  a raw token, verified with an HS256 key. Accepted only when its
 *     signature is the HMAC-SHA256 of its first two parts under that key
 *     (recomputed here with mbedtls directly), with claims that fit.
 *  1  "HEADER\nPAYLOAD": JSON texts the harness encodes and signs with
 *     the server's HS256 key, as only a key holder could: the claims
 *     parser sees any JSON. Accepted tokens must carry the claims jansson
 *     reads in the payload (sub, exp, iss, aud), unexpired.
 *  2  claims built from the input, signed by vg_jwt_sign (HS256, ES256 or
 *     RS256) and verified: accepted with the same claims. Then one byte of
 *     the token changed (where and to what, from the input): refused.
 *  3  a raw token verified with an ES256 or RS256 key: refused (no input
 *     can carry a signature of our key), never a crash.
 * Every answer is 0 or one of the VG_JWT_E* codes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "base/buf.h"
#include "auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000
#define LEEWAY 30

static const uint8_t secret[32] = "fuzz-secret-fuzz-secret-fuzz-32";
static vg_jwt *hs, *es, *rs;


static int
fixed_entropy(void *ud, unsigned char *out, size_t n)
{
    (void)ud;
    memset(out, 0x5a, n);   /* deterministic keys: the fuzzer's runs repeat */
    return 0;
}


/* Writes a new key of that type to a temporary PEM file and opens a vg_jwt with it. */
static vg_jwt *
make_asym(int alg)
{
    mbedtls_pk_context pk;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_init(&pk);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, NULL, 0) != 0)
        abort();
    if (alg == VG_JWT_ES256) {
        if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
            mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &drbg) != 0)
            abort();
    } else {
        if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0 ||
            mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &drbg, 2048, 65537) != 0)
            abort();
    }
    unsigned char pem[8192];
    if (mbedtls_pk_write_key_pem(&pk, pem, sizeof pem) != 0)
        abort();
    char path[] = "/tmp/vigia-fuzz-jwt-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, pem, strlen((char *)pem)) != (ssize_t)strlen((char *)pem))
        abort();
    close(fd);
    vg_jwt_options o = { .alg = alg, .private_key = path, .issuer = "vigia", .audience = "vigia",
                         .leeway = LEEWAY };
    vg_jwt *j;
    char err[256];
    if (vg_jwt_create(&o, &j, err, sizeof err) != 0)
        abort();
    unlink(path);
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    return j;
}


static void
setup(void)
{
    vg_jwt_options o = { .alg = VG_JWT_HS256, .secret = secret, .secret_len = sizeof secret,
                         .issuer = "vigia", .audience = "vigia", .leeway = LEEWAY };
    char err[256];
    if (vg_jwt_create(&o, &hs, err, sizeof err) != 0)
        abort();
    es = make_asym(VG_JWT_ES256);
    rs = make_asym(VG_JWT_RS256);
}


static void
hmac(const void *p, size_t n, uint8_t out[32])
{
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, sizeof secret, p, n, out) != 0)
        abort();
}


static int
is_code(int rc)
{
    return rc <= 0 && rc >= VG_JWT_ENOKEY;
}


/* Every string claim NUL-terminated inside its field. */
static void
check_claims(const vg_jwt_claims *c)
{
    if (!memchr(c->sub, 0, sizeof c->sub) || !memchr(c->name, 0, sizeof c->name) ||
        !memchr(c->role, 0, sizeof c->role) || !memchr(c->sid, 0, sizeof c->sid) ||
        !memchr(c->jti, 0, sizeof c->jti))
        abort();
    if ((double)NOW >= (double)c->exp + LEEWAY || (c->nbf && (double)NOW + LEEWAY < (double)c->nbf))
        abort();   /* accepted although expired or not valid yet */
}


static void
mode_raw_hs(const char *tok, size_t n)
{
    vg_jwt_claims c;
    int rc = vg_jwt_verify(hs, tok, n, NOW, &c);
    if (!is_code(rc))
        abort();
    if (rc != 0)
        return;
    check_claims(&c);
    const char *d2 = memrchr(tok, '.', n);
    uint8_t mac[32], sig[64];
    hmac(tok, (size_t)(d2 - tok), mac);
    if (vg_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), sig, sizeof sig) != 32 || memcmp(mac, sig, 32) != 0)
        abort();
}


static const char *
str_claim(json_t *p, const char *k)
{
    json_t *v = json_object_get(p, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}


static void
mode_signed_json(const char *in, size_t n)
{
    const char *nl = memchr(in, '\n', n);
    if (!nl)
        return;
    vg_buf tok;
    vg_buf_init(&tok);
    vg_b64url_encode(&tok, in, (size_t)(nl - in));
    vg_buf_putc(&tok, '.');
    vg_b64url_encode(&tok, nl + 1, n - (size_t)(nl + 1 - in));
    uint8_t mac[32];
    hmac(tok.data, tok.len, mac);
    vg_buf_putc(&tok, '.');
    vg_b64url_encode(&tok, mac, 32);
    vg_jwt_claims c;
    int rc = vg_jwt_verify(hs, tok.data, tok.len, NOW, &c);
    if (!is_code(rc))
        abort();
    if (rc == 0 && tok.len <= VG_JWT_MAX_TOKEN) {
        check_claims(&c);
        json_t *h = json_loadb(in, (size_t)(nl - in), 0, NULL);
        json_t *p = json_loadb(nl + 1, n - (size_t)(nl + 1 - in), 0, NULL);
        if (!h || !p || !str_claim(h, "alg") || strcmp(str_claim(h, "alg"), "HS256") != 0)
            abort();
        const char *sub = str_claim(p, "sub"), *iss = str_claim(p, "iss");
        if (!sub || strcmp(sub, c.sub) != 0 || !iss || strcmp(iss, "vigia") != 0)
            abort();
        json_t *aud = json_object_get(p, "aud");
        if (!json_is_string(aud) && !json_is_array(aud))
            abort();
        json_t *exp = json_object_get(p, "exp");
        if (!json_is_number(exp))
            abort();
        json_decref(h);
        json_decref(p);
    }
    vg_buf_release(&tok);
}


/* Copies up to cap-1 bytes of the input into a claim (any bytes but NUL). */
static const uint8_t *
take_str(const uint8_t *p, const uint8_t *end, char *out, size_t cap)
{
    size_t n = p < end ? *p++ % cap : 0;
    size_t i = 0;
    for (; i < n && p < end; i++, p++)
        out[i] = *p ? (char)*p : 'x';
    out[i] = '\0';
    return p;
}


static int
valid_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}


static void
mode_roundtrip(const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    if (n < 6)
        return;
    vg_jwt *j = p[0] % 3 == 0 ? hs : p[0] % 3 == 1 ? es : rs;
    uint16_t where = (uint16_t)(p[1] | p[2] << 8);
    uint8_t flip = p[3];
    int64_t life = 1 + p[4] * 60;
    p += 5;
    vg_jwt_claims c, got;
    memset(&c, 0, sizeof c);
    p = take_str(p, end, c.sub, sizeof c.sub);
    p = take_str(p, end, c.name, sizeof c.name);
    p = take_str(p, end, c.role, sizeof c.role);
    p = take_str(p, end, c.sid, sizeof c.sid);
    p = take_str(p, end, c.jti, sizeof c.jti);
    c.iat = NOW;
    c.nbf = 0;
    c.exp = NOW + life;
    vg_buf tok;
    vg_buf_init(&tok);
    if (vg_jwt_sign(j, &c, &tok) != 0) {
        /* claims are JSON strings: only text that is not UTF-8 may be refused (user names are ASCII) */
        if (valid_utf8(c.sub) && valid_utf8(c.name) && valid_utf8(c.role) && valid_utf8(c.sid) &&
            valid_utf8(c.jti))
            abort();
        vg_buf_release(&tok);
        return;
    }
    int rc = vg_jwt_verify(j, tok.data, tok.len, NOW, &got);
    if (valid_utf8(c.sub) && valid_utf8(c.name) && valid_utf8(c.role) && valid_utf8(c.sid) && valid_utf8(c.jti)) {
        /* what was signed comes back */
        if (rc != 0 || strcmp(got.sub, c.sub) || strcmp(got.name, c.name) || strcmp(got.role, c.role) ||
            strcmp(got.sid, c.sid) || strcmp(got.jti, c.jti) || got.exp != c.exp || got.iat != c.iat)
            abort();
    } else if (!is_code(rc)) {
        abort();
    }
    /* any other byte anywhere: refused */
    if (rc == 0 && flip) {
        size_t at = where % tok.len;
        tok.data[at] = (char)(tok.data[at] ^ flip);
        if (vg_jwt_verify(j, tok.data, tok.len, NOW, &got) == 0)
            abort();
    }
    vg_buf_release(&tok);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hs)
        setup();
    if (size < 1 || size > 2 * VG_JWT_MAX_TOKEN)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    vg_jwt_claims c;
    int rc;
    switch (data[0] & 3) {
    case 0:
        mode_raw_hs(s, n);
        break;
    case 1:
        mode_signed_json(s, n);
        break;
    case 2:
        mode_roundtrip(data + 1, n);
        break;
    default:
        rc = vg_jwt_verify(data[0] & 4 ? es : rs, s, n, NOW, &c);
        if (!is_code(rc) || rc == 0)
            abort();
        break;
    }
    return 0;
}
