/*
 * Units of the store: JWT (every refusal: alg none, algorithm confusion,
 * bad signatures, exp/nbf, iss/aud, malformed), base64url, the msgpack
 * cursor on hostile input, token buckets, the password policy, and the
 * LMDB schema operations (users, refresh rotation with reuse detection, API
 * keys, a new password revoking them, records older than a field,
 * detections and aggregates, a newer schema refused, a full map).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <mbedtls/md.h>

#include "store/db.h"
#include "auth/jwt.h"
#include "auth/password_policy.h"
#include "base/mpk.h"
#include "auth/ratelimit.h"
#include "support.h"

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";


static vg_jwt *
hs256(const char *iss, const char *aud)
{
    vg_jwt_options o = { .alg = VG_JWT_HS256, .secret = secret, .secret_len = 32, .issuer = iss, .audience = aud,
                         .leeway = 0 };
    vg_jwt *j = NULL;
    char err[256];
    assert_int_equal(vg_jwt_create(&o, &j, err, sizeof err), 0);
    return j;
}


static void
claims(vg_jwt_claims *c, int64_t now)
{
    memset(c, 0, sizeof *c);
    strcpy(c->sub, "7");
    strcpy(c->name, "ann");
    strcpy(c->role, "operator");
    c->iat = now;
    c->exp = now + 60;
}


/* Builds header.payload.signature by hand with an HMAC key of our choice. */
static void
forge(vg_buf *out, const char *head, const char *payload, const uint8_t *key, size_t klen, int sign)
{
    out->len = 0;
    vg_b64url_encode(out, head, strlen(head));
    vg_buf_putc(out, '.');
    vg_b64url_encode(out, payload, strlen(payload));
    size_t n = out->len;
    vg_buf_putc(out, '.');
    if (sign) {
        uint8_t mac[32];
        mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, klen, (const uint8_t *)out->data, n, mac);
        vg_b64url_encode(out, mac, 32);
    }
}


static void
jwt_hs256_roundtrip_and_refusals(void **state)
{
    (void)state;
    vg_jwt *j = hs256("vigia", "vigia");
    vg_jwt_claims c, got;
    int64_t now = 1700000000;
    claims(&c, now);
    vg_buf tok;
    vg_buf_init(&tok);
    assert_int_equal(vg_jwt_sign(j, &c, &tok), 0);
    assert_int_equal(vg_jwt_verify(j, tok.data, tok.len, now, &got), 0);
    assert_string_equal(got.sub, "7");
    assert_string_equal(got.role, "operator");
    /* expired, not yet valid */
    assert_int_equal(vg_jwt_verify(j, tok.data, tok.len, now + 60, &got), VG_JWT_EEXPIRED);
    assert_int_equal(vg_jwt_verify(j, tok.data, tok.len, now - 10, &got), VG_JWT_ENOTYET);
    /* a flipped signature byte, a flipped payload byte */
    char *copy = strndup(tok.data, tok.len);
    copy[tok.len - 3] = copy[tok.len - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(vg_jwt_verify(j, copy, tok.len, now, &got), VG_JWT_ESIGNATURE);
    free(copy);
    copy = strndup(tok.data, tok.len);
    char *dot = strchr(copy, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    int rc = vg_jwt_verify(j, copy, tok.len, now, &got);
    assert_true(rc == VG_JWT_ESIGNATURE || rc == VG_JWT_EMALFORMED);
    free(copy);
    /* another secret */
    vg_buf f;
    vg_buf_init(&f);
    char payload[256];
    snprintf(payload, sizeof payload, "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"1\",\"exp\":%lld}", (long long)now + 60);
    forge(&f, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, (const uint8_t *)"another secret of 32 bytes......", 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_ESIGNATURE);
    /* the right secret forges a valid one: the harness itself is right */
    forge(&f, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), 0);
    /* alg none, with and without a signature */
    forge(&f, "{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, secret, 32, 0);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EALG);
    forge(&f, "{\"alg\":\"none\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EALG);
    forge(&f, "{\"alg\":\"HS512\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EALG);
    forge(&f, "{\"typ\":\"JWT\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EALG);
    forge(&f, "{\"alg\":\"HS256\",\"crit\":[\"x\"]}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EMALFORMED);
    /* issuer, audience (string and array), missing exp, missing sub */
    snprintf(payload, sizeof payload, "{\"iss\":\"evil\",\"aud\":\"vigia\",\"sub\":\"1\",\"exp\":%lld}", (long long)now + 60);
    forge(&f, "{\"alg\":\"HS256\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EISSUER);
    snprintf(payload, sizeof payload, "{\"iss\":\"vigia\",\"aud\":\"other\",\"sub\":\"1\",\"exp\":%lld}", (long long)now + 60);
    forge(&f, "{\"alg\":\"HS256\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_EAUDIENCE);
    snprintf(payload, sizeof payload, "{\"iss\":\"vigia\",\"aud\":[\"x\",\"vigia\"],\"sub\":\"1\",\"exp\":%lld}", (long long)now + 60);
    forge(&f, "{\"alg\":\"HS256\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), 0);
    forge(&f, "{\"alg\":\"HS256\"}", "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"1\"}", secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_ECLAIMS);
    snprintf(payload, sizeof payload, "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"exp\":%lld}", (long long)now + 60);
    forge(&f, "{\"alg\":\"HS256\"}", payload, secret, 32, 1);
    assert_int_equal(vg_jwt_verify(j, f.data, f.len, now, &got), VG_JWT_ECLAIMS);
    /* malformed shapes */
    assert_int_equal(vg_jwt_verify(j, "abc", 3, now, &got), VG_JWT_EMALFORMED);
    assert_int_equal(vg_jwt_verify(j, "a.b.c.d", 7, now, &got), VG_JWT_EMALFORMED);
    assert_int_equal(vg_jwt_verify(j, "!!.??.**", 8, now, &got), VG_JWT_EMALFORMED);
    char big[VG_JWT_MAX_TOKEN + 2];
    memset(big, 'A', sizeof big);
    assert_int_equal(vg_jwt_verify(j, big, sizeof big, now, &got), VG_JWT_ETOOLONG);
    vg_buf_release(&f);
    vg_buf_release(&tok);
    vg_jwt_destroy(j);
}


static int
sh(const char *cmd)
{
    return system(cmd);
}


static void
jwt_rs256_es256_and_confusion(void **state)
{
    (void)state;
    char dir[256], cmd[2048], rsa[300], rsapub[300], ec[300], ecpub[300];
    ts_mkdtemp(dir, sizeof dir);
    snprintf(rsa, sizeof rsa, "%s/rsa.pem", dir);
    snprintf(rsapub, sizeof rsapub, "%s/rsa.pub", dir);
    snprintf(ec, sizeof ec, "%s/ec.pem", dir);
    snprintf(ecpub, sizeof ecpub, "%s/ec.pub", dir);
    snprintf(cmd, sizeof cmd,
             "openssl genrsa -out %s 2048 2>/dev/null && openssl rsa -in %s -pubout -out %s 2>/dev/null && "
             "openssl ecparam -name prime256v1 -genkey -noout -out %s 2>/dev/null && openssl ec -in %s -pubout -out %s 2>/dev/null",
             rsa, rsa, rsapub, ec, ec, ecpub);
    if (sh(cmd) != 0) {
        print_message("# SKIP openssl is missing\n");
        skip();
    }
    int64_t now = 1700000000;
    const char *keys[2][2] = { { rsa, rsapub }, { ec, ecpub } };
    int algs[2] = { VG_JWT_RS256, VG_JWT_ES256 };
    for (int i = 0; i < 2; i++) {
        char err[256];
        vg_jwt *signer = NULL, *verifier = NULL;
        vg_jwt_options o = { .alg = algs[i], .private_key = keys[i][0], .issuer = "vigia", .audience = "vigia" };
        assert_int_equal(vg_jwt_create(&o, &signer, err, sizeof err), 0);
        vg_jwt_options v = { .alg = algs[i], .public_key = keys[i][1], .issuer = "vigia", .audience = "vigia" };
        assert_int_equal(vg_jwt_create(&v, &verifier, err, sizeof err), 0);
        vg_jwt_claims c, got;
        claims(&c, now);
        vg_buf tok;
        vg_buf_init(&tok);
        assert_int_equal(vg_jwt_sign(signer, &c, &tok), 0);
        assert_int_equal(vg_jwt_verify(verifier, tok.data, tok.len, now, &got), 0);
        assert_int_equal(vg_jwt_verify(signer, tok.data, tok.len, now, &got), 0);
        /* a verifier without the private key cannot sign */
        vg_buf other;
        vg_buf_init(&other);
        assert_int_equal(vg_jwt_sign(verifier, &c, &other), VG_JWT_ENOKEY);
        tok.data[tok.len - 2] = tok.data[tok.len - 2] == 'A' ? 'B' : 'A';
        assert_int_equal(vg_jwt_verify(verifier, tok.data, tok.len, now, &got), VG_JWT_ESIGNATURE);
        /* algorithm confusion: HS256 "signed" with the public key's PEM as the secret */
        FILE *fp = fopen(keys[i][1], "rb");
        char pem[4096];
        size_t pn = fread(pem, 1, sizeof pem, fp);
        fclose(fp);
        char payload[256];
        snprintf(payload, sizeof payload, "{\"iss\":\"vigia\",\"aud\":\"vigia\",\"sub\":\"1\",\"exp\":%lld}", (long long)now + 60);
        forge(&other, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, (const uint8_t *)pem, pn, 1);
        assert_int_equal(vg_jwt_verify(verifier, other.data, other.len, now, &got), VG_JWT_EALG);
        /* and the other asymmetric algorithm is refused too */
        forge(&other, i ? "{\"alg\":\"RS256\"}" : "{\"alg\":\"ES256\"}", payload, secret, 32, 1);
        assert_int_equal(vg_jwt_verify(verifier, other.data, other.len, now, &got), VG_JWT_EALG);
        vg_buf_release(&other);
        vg_buf_release(&tok);
        vg_jwt_destroy(signer);
        vg_jwt_destroy(verifier);
        /* the wrong kind of key for the algorithm is refused at start */
        vg_jwt_options wrong = { .alg = algs[1 - i], .private_key = keys[i][0] };
        assert_int_equal(vg_jwt_create(&wrong, &signer, err, sizeof err), -1);
    }
    /* HS256 needs 32 bytes of secret */
    vg_jwt_options shortk = { .alg = VG_JWT_HS256, .secret = secret, .secret_len = 8 };
    vg_jwt *j;
    char err[128];
    assert_int_equal(vg_jwt_create(&shortk, &j, err, sizeof err), -1);
}


static void
base64url_strict(void **state)
{
    (void)state;
    uint8_t out[16];
    vg_buf b;
    vg_buf_init(&b);
    vg_b64url_encode(&b, "\xff\xfe\x00", 3);
    assert_int_equal(b.len, 4);
    assert_int_equal(vg_b64url_decode(b.data, b.len, out, sizeof out), 3);
    assert_memory_equal(out, "\xff\xfe\x00", 3);
    assert_int_equal(vg_b64url_decode("ab=", 3, out, sizeof out), -1);     /* padding */
    assert_int_equal(vg_b64url_decode("a+b/", 4, out, sizeof out), -1);    /* standard alphabet */
    assert_int_equal(vg_b64url_decode("a", 1, out, sizeof out), -1);       /* impossible length */
    assert_int_equal(vg_b64url_decode("AB", 2, out, sizeof out), -1);      /* non-zero spare bits */
    assert_int_equal(vg_b64url_decode("AAAAAAAAAAAAAAAAAAAAAAAA", 24, out, 4), -1);   /* too long for out */
    vg_buf_release(&b);
}


static void
msgpack_cursor_bounds(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_map(&w, 2);
    vg_mpw_cstr(&w, "a");
    vg_mpw_i64(&w, -5);
    vg_mpw_cstr(&w, "b");
    vg_mpw_bin(&w, "xyz", 3);
    vg_mpr r;
    uint32_t n;
    vg_str k;
    int64_t v;
    const uint8_t *p;
    size_t pn;
    vg_mpr_init(&r, b.data, b.len);
    assert_int_equal(vg_mpr_map(&r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(vg_mpr_str(&r, &k), 0);
    assert_int_equal(vg_mpr_i64(&r, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(vg_mpr_skip(&r), 0);
    assert_int_equal(vg_mpr_bin(&r, &p, &pn), 0);
    assert_int_equal(pn, 3);
    assert_true(vg_mpr_done(&r));
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < b.len; cut++) {
        vg_mpr_init(&r, b.data, cut);
        vg_mpr_skip(&r);
        assert_true(r.err || cut == 0 ? 1 : !vg_mpr_done(&r) || r.err);
        assert_false(vg_mpr_done(&r));
    }
    /* hostile lengths: an array claiming 2^32-1 elements, a str32 of 4 GB */
    const uint8_t arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01 };
    vg_mpr_init(&r, arr, sizeof arr);
    assert_int_equal(vg_mpr_array(&r, &n), -1);
    const uint8_t str[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    vg_mpr_init(&r, str, sizeof str);
    assert_int_equal(vg_mpr_str(&r, &k), -1);
    /* nesting deeper than the limit */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0xc0;
    vg_mpr_init(&r, deep, sizeof deep);
    assert_int_equal(vg_mpr_skip(&r), -1);
    vg_buf_release(&b);
}


static void
token_buckets(void **state)
{
    (void)state;
    vg_ratelimit *rl = vg_ratelimit_create(1, 3, 4);
    for (int i = 0; i < 3; i++)
        assert_true(vg_ratelimit_take(rl, "a", 1, 1, 100.0) == 0);
    double wait = vg_ratelimit_take(rl, "a", 1, 1, 100.0);
    assert_true(wait > 0.99 && wait <= 1.0);
    assert_true(vg_ratelimit_take(rl, "b", 1, 1, 100.0) == 0);   /* other keys are independent */
    assert_true(vg_ratelimit_take(rl, "a", 1, 1, 101.0) == 0);   /* one token back after 1 s */
    assert_true(vg_ratelimit_take(rl, "a", 1, 1, 101.0) > 0);
    vg_ratelimit_give(rl, "a", 1, 1);
    assert_true(vg_ratelimit_take(rl, "a", 1, 1, 101.0) == 0);
    /* bounded: a fifth key evicts the least recently used */
    vg_ratelimit_take(rl, "c", 1, 1, 101.0);
    vg_ratelimit_take(rl, "d", 1, 1, 101.0);
    vg_ratelimit_take(rl, "e", 1, 1, 101.0);
    assert_int_equal(vg_ratelimit_count(rl), 4);
    vg_ratelimit_destroy(rl);
}


/* Issue 15, item 12: "aaaaaaaa", 8 spaces and the user's name were accepted. */
static void
password_policy_rules(void **state)
{
    (void)state;
    char err[160];
    static const char *const weak[] = {
        "aaaaaaaa", "        ", "\t\t\t\t\t\t\t\t", "short", "operator7", "OPERATOR7", "xx-Operator7-xx", "password",
        "PASSWORD", "password1", "Password123!", "12345678", "qwertyuiop", "Sunshine2024!", "iloveyou", "monkey1234",
    };
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++)
        if (vg_password_policy_check(weak[i], strlen(weak[i]), "operator7", err, sizeof err) == 0)
            fail_msg("'%s' was accepted", weak[i]);
    static const char *const fine[] = {
        "correct horse battery", "viewer-pass", "a long test password", "seven long words", "ab" "ababab",
        "sunshine in the valley", "2024sunshine-xyz",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        if (vg_password_policy_check(fine[i], strlen(fine[i]), "operator7", err, sizeof err) != 0)
            fail_msg("'%s' was refused: %s", fine[i], err);
    /* short names are only refused whole: "al" may sit inside a password */
    assert_int_equal(vg_password_policy_check("the pals of mine", 16, "al", err, sizeof err), 0);
    assert_int_equal(vg_password_policy_check("abcdefghij", 10, "abcdefghij", err, sizeof err), -1);
    assert_int_equal(vg_password_policy_check("no name known", 13, NULL, err, sizeof err), 0);
    assert_int_equal(vg_password_policy_check("with\0nul-byte", 13, NULL, err, sizeof err), -1);
    assert_true(vg_password_is_common("QWERTY123", 9));
    assert_false(vg_password_is_common("qwerty-and-more", 15));
}


static vg_db db;
static char dbdir[256];


static void
open_db(size_t map, size_t max)
{
    char err[512];
    ts_mkdtemp(dbdir, sizeof dbdir);
    vg_db_options o = { .map_size = map, .map_max = max };
    if (vg_db_open(&db, dbdir, &o, err, sizeof err) != 0)
        fail_msg("%s", err);
}


static MDB_txn *
wtxn(void)
{
    MDB_txn *t;
    assert_int_equal(vg_db_begin(&db, 1, &t), 0);
    return t;
}


static void
db_users_sessions_keys(void **state)
{
    (void)state;
    open_db(1 << 20, 1 << 20);
    MDB_txn *t = wtxn();
    vg_user a = { .role = VG_ROLE_ADMIN }, b = { .role = VG_ROLE_VIEWER }, dup = { .role = VG_ROLE_VIEWER };
    strcpy(a.name, "Ann");
    strcpy(a.email, "ann@example.com");
    strcpy(b.name, "bob");
    strcpy(dup.name, "ANN");
    assert_int_equal(vg_db_user_create(&db, t, &a), 0);
    assert_int_equal(vg_db_user_create(&db, t, &b), 0);
    assert_int_equal(a.id, 1);
    assert_int_equal(b.id, 2);
    assert_int_equal(vg_db_user_create(&db, t, &dup), VG_E_CONFLICT);   /* names are case-insensitive */
    vg_user got;
    assert_int_equal(vg_db_user_find(&db, t, "ANN@example.COM", &got), 0);
    assert_int_equal(got.id, 1);
    /* the last admin stays */
    vg_user_patch demote = { .set_role = 1, .role = VG_ROLE_VIEWER };
    assert_int_equal(vg_db_user_update(&db, t, 1, &demote), VG_E_LASTADMIN);
    assert_int_equal(vg_db_user_delete(&db, t, 1), VG_E_LASTADMIN);
    assert_int_equal(vg_db_user_update(&db, t, 99, &demote), VG_E_NOTFOUND);

    /* refresh rotation: t1 -> t2 works once; t1 again revokes the family, so t2 dies too */
    uint8_t fam[16] = { 1 }, h1[32] = { 1 }, h2[32] = { 2 }, h3[32] = { 3 }, f[16];
    uint64_t uid;
    assert_int_equal(vg_db_session_create(&db, t, h1, 2, fam, 2000, 1000), 0);
    assert_int_equal(vg_db_family_check(&db, t, 2, fam, 1000), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h1, h2, 1001, 3000, 0, &uid, f), 0);
    assert_int_equal(uid, 2);
    assert_memory_equal(f, fam, 16);
    assert_int_equal(vg_db_session_rotate(&db, t, h1, h3, 1002, 3000, 0, &uid, f), VG_E_TOKEN_REUSED);
    assert_int_equal(vg_db_family_check(&db, t, 2, fam, 1002), VG_E_TOKEN_REVOKED);
    assert_int_equal(vg_db_session_rotate(&db, t, h2, h3, 1003, 3000, 0, &uid, f), VG_E_TOKEN_REVOKED);
    assert_int_equal(vg_db_session_rotate(&db, t, h3, h1, 1003, 3000, 0, &uid, f), VG_E_NOTFOUND);
    /* expiry */
    uint8_t fam2[16] = { 2 }, h4[32] = { 4 }, h5[32] = { 5 };
    assert_int_equal(vg_db_session_create(&db, t, h4, 2, fam2, 2000, 1000), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h4, h5, 2001, 3000, 0, &uid, f), VG_E_TOKEN_EXPIRED);
    /* a lost answer (grace 30 s): t7 -> t8, then t7 again while t8 is unused goes on to t9 and supersedes t8,
     * whose coming back later means someone else holds it */
    uint8_t fam4[16] = { 4 }, h7[32] = { 7 }, h8[32] = { 8 }, h9[32] = { 9 }, h10[32] = { 10 }, h11[32] = { 11 };
    assert_int_equal(vg_db_session_create(&db, t, h7, 2, fam4, 4000, 1099), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h7, h8, 1100, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h7, h9, 1110, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h9, h10, 1111, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_family_check(&db, t, 2, fam4, 1111), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, h8, h11, 1112, 4000, 30, &uid, f), VG_E_TOKEN_REUSED);
    assert_int_equal(vg_db_family_check(&db, t, 2, fam4, 1112), VG_E_TOKEN_REVOKED);
    /* no grace once the successor was used, nor after the grace (which a retry does not extend) */
    uint8_t fam5[16] = { 5 }, fam6[16] = { 6 }, tk[8][32];
    for (int i = 0; i < 8; i++)
        memset(tk[i], 40 + i, 32);
    assert_int_equal(vg_db_session_create(&db, t, tk[0], 2, fam5, 4000, 1199), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[0], tk[1], 1200, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[1], tk[2], 1201, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[0], tk[3], 1202, 4000, 30, &uid, f), VG_E_TOKEN_REUSED);
    assert_int_equal(vg_db_session_create(&db, t, tk[4], 2, fam6, 4000, 1299), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[4], tk[5], 1300, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[4], tk[6], 1320, 4000, 30, &uid, f), 0);
    assert_int_equal(vg_db_session_rotate(&db, t, tk[4], tk[7], 1331, 4000, 30, &uid, f), VG_E_TOKEN_REUSED);
    /* a new password ends every session of the user */
    uint8_t fam3[16] = { 3 }, h6[32] = { 6 };
    assert_int_equal(vg_db_session_create(&db, t, h6, 2, fam3, 5000, 1000), 0);
    vg_user_patch pw = { .set_hash = 1 };
    strcpy(pw.hash, "$argon2id$x");
    assert_int_equal(vg_db_user_update(&db, t, 2, &pw), 0);
    assert_int_equal(vg_db_family_check(&db, t, 2, fam3, 1000), VG_E_TOKEN_REVOKED);

    /* API keys: found by hash, revocable, gone with their user */
    vg_apikey k = { .uid = 2, .role = VG_ROLE_VIEWER };
    strcpy(k.name, "cam1");
    uint8_t kh[32] = { 9 };
    assert_int_equal(vg_db_apikey_create(&db, t, kh, &k), 0);
    vg_apikey kg;
    assert_int_equal(vg_db_apikey_find(&db, t, kh, &kg), 0);
    assert_string_equal(kg.name, "cam1");
    assert_int_equal(vg_db_apikey_revoke(&db, t, 2, k.kid), 0);
    assert_int_equal(vg_db_apikey_find(&db, t, kh, &kg), VG_E_NOTFOUND);
    vg_apikey k2 = { .uid = 99 };
    assert_int_equal(vg_db_apikey_create(&db, t, kh, &k2), VG_E_NOTFOUND);
    /* issue 15, item 5: a new password revokes every live key of the user, and only its */
    vg_apikey k3 = { .uid = 2, .role = VG_ROLE_VIEWER }, k4 = { .uid = 2, .role = VG_ROLE_VIEWER }, ka = { .uid = 1 };
    uint8_t kh3[32] = { 10 }, kh4[32] = { 11 }, kha[32] = { 12 };
    assert_int_equal(vg_db_apikey_create(&db, t, kh3, &k3), 0);
    assert_int_equal(vg_db_apikey_create(&db, t, kh4, &k4), 0);
    assert_int_equal(vg_db_apikey_create(&db, t, kha, &ka), 0);
    assert_int_equal(vg_db_user_update(&db, t, 2, &pw), 0);
    assert_int_equal(vg_db_apikey_find(&db, t, kh3, &kg), VG_E_NOTFOUND);
    assert_int_equal(vg_db_apikey_find(&db, t, kh4, &kg), VG_E_NOTFOUND);
    assert_int_equal(vg_db_apikey_find(&db, t, kha, &kg), 0);
    /* item 12: the must-change flag is stored and a new password clears it */
    vg_user first = { .role = VG_ROLE_ADMIN, .must_change = 1 };
    strcpy(first.name, "admin");
    assert_int_equal(vg_db_user_create(&db, t, &first), 0);
    assert_int_equal(vg_db_user_get(&db, t, first.id, &got), 0);
    assert_int_equal(got.must_change, 1);
    vg_user_patch mail = { .set_email = 1 };
    assert_int_equal(vg_db_user_update(&db, t, first.id, &mail), 0);
    assert_int_equal(vg_db_user_get(&db, t, first.id, &got), 0);
    assert_int_equal(got.must_change, 1);
    assert_int_equal(vg_db_user_update(&db, t, first.id, &pw), 0);
    assert_int_equal(vg_db_user_get(&db, t, first.id, &got), 0);
    assert_int_equal(got.must_change, 0);
    assert_int_equal(vg_db_user_delete(&db, t, 2), 0);
    assert_int_equal(vg_db_user_get(&db, t, 2, &got), VG_E_NOTFOUND);
    assert_int_equal(vg_db_user_find(&db, t, "bob", &got), VG_E_NOTFOUND);
    assert_int_equal(mdb_txn_commit(t), 0);
    vg_db_close(&db);
}


static void
db_detections_aggregates_and_full_map(void **state)
{
    (void)state;
    open_db(64 * 1024, 128 * 1024);
    vg_db_agg *agg = vg_db_agg_create();
    MDB_txn *t = wtxn();
    vg_det_meta m;
    memset(&m, 0, sizeof m);
    uint64_t t0 = 1700000000000000ull;
    vg_db_key_new(m.key, t0);
    m.uid = 3;
    m.source = VG_STR("cam");
    m.model = VG_STR("yolo");
    m.total_us = 30000;
    m.nlabels = 2;
    m.labels[0] = VG_STR("dog");
    m.counts[0] = 2;
    m.labels[1] = VG_STR("cat");
    m.counts[1] = 1;
    vg_buf v;
    vg_buf_init(&v);
    vg_mpw w;
    vg_mpw_init(&w, &v);
    vg_mpw_map(&w, 1);
    vg_mpw_cstr(&w, "u");
    vg_mpw_u64(&w, 3);
    assert_int_equal(vg_db_det_add(&db, t, &m, v.data, v.len, agg), 0);
    assert_int_equal(vg_db_det_add(&db, t, &m, v.data, v.len, agg), 0);   /* a retry is not counted twice */
    assert_int_equal(vg_db_agg_flush(&db, t, agg), 0);
    uint8_t hk[5];
    vg_agg_key(hk, 'h', (uint32_t)(t0 / 3600000000ull));
    MDB_val key = { 5, hk }, val;
    assert_int_equal(mdb_get(t, db.aggregates, &key, &val), 0);
    vg_agg_bucket b;
    vg_agg_bucket_init(&b);
    assert_int_equal(vg_agg_bucket_decode(val.mv_data, val.mv_size, &b), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.objects, 3);
    assert_int_equal(b.nlabels, 2);
    double p50 = vg_agg_percentile(b.hist, 0.5);
    assert_true(p50 > 20 && p50 <= 35);   /* 30 ms falls in the (20, 35] bucket */
    vg_agg_bucket_release(&b);
    vg_user_activity act;
    assert_int_equal(vg_db_user_activity(&db, t, 3, &act), 0);
    assert_int_equal(act.detections, 1);
    assert_int_equal(act.objects, 3);
    assert_int_equal(mdb_txn_commit(t), 0);

    /* fill the 64 KiB map: MDB_MAP_FULL maps to VG_E_FULL, growth stops at the cap */
    int grown = 0, full = 0;
    char big[1500];
    memset(big, 'x', sizeof big);
    for (int round = 0; round < 100 && !full; round++) {
        t = wtxn();
        int rc = 0;
        for (int i = 0; i < 20 && rc == 0; i++) {
            vg_db_key_new(m.key, t0 + (uint64_t)round * 100 + (uint64_t)i + 1);
            rc = vg_db_det_add(&db, t, &m, big, sizeof big, NULL);
        }
        if (rc == 0)
            rc = vg_db_err(mdb_txn_commit(t));
        else
            mdb_txn_abort(t);
        if (rc == VG_E_FULL) {
            if (vg_db_grow(&db) == 0)
                grown++;
            else
                full = 1;
        } else {
            assert_int_equal(rc, 0);
        }
    }
    assert_int_equal(grown, 1);
    assert_true(full);
    assert_int_equal(db.map_size, 128 * 1024);
    /* still readable after all that */
    MDB_txn *rt;
    assert_int_equal(vg_db_read(&db, &rt), 0);
    vg_db_key_new(m.key, t0);
    size_t n;
    assert_int_equal(vg_db_user_count(&db, rt, &n), 0);
    vg_db_read_end(&db);
    vg_buf_release(&v);
    vg_db_agg_destroy(agg);
    vg_db_close(&db);
}


/* Unique tracked objects and person colours: counted into the hour and day buckets, summed over batches, merged. */
static void
db_unique_aggregates(void **state)
{
    (void)state;
    open_db(1024 * 1024, 1024 * 1024);
    vg_db_agg *agg = vg_db_agg_create();
    uint64_t t_ms = 1700000000000ull;
    vg_str none = { NULL, 0 };
    for (int batch = 0; batch < 2; batch++) {
        MDB_txn *t = wtxn();
        vg_db_agg_unique(agg, t_ms, VG_STR("dog"), none, none);
        vg_db_agg_unique(agg, t_ms + 1000, VG_STR("person"), none, none);
        vg_db_agg_unique(agg, t_ms + 2000, none, VG_STR("red"), VG_STR("blue"));
        assert_int_equal(vg_db_agg_flush(&db, t, agg), 0);
        assert_int_equal(mdb_txn_commit(t), 0);
    }
    MDB_txn *t = wtxn();
    for (int pass = 0; pass < 2; pass++) {
        uint8_t k[5];
        vg_agg_key(k, pass ? 'd' : 'h', (uint32_t)(pass ? t_ms / 86400000ull : t_ms / 3600000ull));
        MDB_val key = { 5, k }, val;
        assert_int_equal(mdb_get(t, db.aggregates, &key, &val), 0);
        vg_agg_bucket b, sum;
        vg_agg_bucket_init(&b);
        vg_agg_bucket_init(&sum);
        assert_int_equal(vg_agg_bucket_decode(val.mv_data, val.mv_size, &b), 0);
        assert_int_equal(b.n, 0);   /* no detection stored: only tracked objects */
        assert_int_equal(b.nunique, 2);
        assert_string_equal(b.unique[0].name, "dog");
        assert_int_equal(b.unique[0].objects, 2);
        assert_string_equal(b.unique[1].name, "person");
        assert_int_equal(b.unique[1].objects, 2);
        assert_int_equal(b.nupper, 1);
        assert_string_equal(b.upper[0].name, "red");
        assert_int_equal(b.upper[0].objects, 2);
        assert_int_equal(b.nlower, 1);
        assert_string_equal(b.lower[0].name, "blue");
        vg_agg_bucket_merge(&sum, &b);
        vg_agg_bucket_merge(&sum, &b);
        assert_int_equal(sum.unique[1].objects, 4);
        assert_int_equal(sum.lower[0].objects, 4);
        vg_agg_bucket_release(&b);
        vg_agg_bucket_release(&sum);
    }
    mdb_txn_abort(t);
    vg_db_agg_destroy(agg);
    vg_db_close(&db);
}


/* A user record as written before "must_change" existed still reads, as a user who need not change anything. */
static void
user_record_without_must_change_reads(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_map(&w, 8);
    vg_mpw_cstr(&w, "id");
    vg_mpw_u64(&w, 4);
    vg_mpw_cstr(&w, "name");
    vg_mpw_cstr(&w, "old");
    vg_mpw_cstr(&w, "email");
    vg_mpw_cstr(&w, "");
    vg_mpw_cstr(&w, "role");
    vg_mpw_cstr(&w, "admin");
    vg_mpw_cstr(&w, "hash");
    vg_mpw_cstr(&w, "$argon2id$x");
    vg_mpw_cstr(&w, "created");
    vg_mpw_i64(&w, 1000);
    vg_mpw_cstr(&w, "updated");
    vg_mpw_i64(&w, 1000);
    vg_mpw_cstr(&w, "disabled");
    vg_mpw_bool(&w, 0);
    vg_user u;
    memset(&u, 0x55, sizeof u);
    assert_int_equal(vg_user_decode(b.data, b.len, &u), 0);
    assert_int_equal(u.id, 4);
    assert_string_equal(u.name, "old");
    assert_int_equal(u.role, VG_ROLE_ADMIN);
    assert_int_equal(u.must_change, 0);
    vg_buf_release(&b);
}


/* Track events: kept once per key, pruned oldest first within the budget, up to the limit only. */
static void
db_events_prune(void **state)
{
    (void)state;
    open_db(1 << 20, 1 << 20);
    MDB_txn *t = wtxn();
    uint8_t keys[5][16];
    for (int i = 0; i < 5; i++) {
        vg_db_key_new(keys[i], (uint64_t)(i + 1) * 1000000);   /* 1 s .. 5 s */
        assert_int_equal(vg_db_event_add(&db, t, keys[i], "{\"type\":\"new\"}", 15), 0);
    }
    assert_int_equal(vg_db_event_add(&db, t, keys[0], "{}", 2), 0);   /* the same key again: kept once */
    int n = -1;
    assert_int_equal(vg_db_events_prune(&db, t, 3500000, 1, &n), 0);   /* the budget: one */
    assert_int_equal(n, 1);
    assert_int_equal(vg_db_events_prune(&db, t, 3500000, 100, &n), 0);   /* the rest before 3.5 s: two */
    assert_int_equal(n, 2);
    assert_int_equal(vg_db_events_prune(&db, t, 3500000, 100, &n), 0);
    assert_int_equal(n, 0);
    MDB_stat st;
    assert_int_equal(mdb_stat(t, db.events, &st), 0);
    assert_int_equal(st.ms_entries, 2);
    MDB_val k = { 16, keys[3] }, v;
    assert_int_equal(mdb_get(t, db.events, &k, &v), 0);
    assert_int_equal(v.mv_size, 15);
    assert_int_equal(mdb_txn_commit(t), 0);
    vg_db_close(&db);
}


static void
db_newer_schema_refused(void **state)
{
    (void)state;
    open_db(1 << 20, 1 << 20);
    MDB_txn *t = wtxn();
    uint8_t v[8];
    vg_db_be64(v, VG_DB_SCHEMA + 1);
    MDB_val k = { 6, "schema" }, d = { 8, v };
    assert_int_equal(mdb_put(t, db.meta, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(t), 0);
    vg_db_close(&db);
    char err[512];
    vg_db_options o = { .map_size = 1 << 20, .map_max = 1 << 20 };
    assert_int_equal(vg_db_open(&db, dbdir, &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));
    /* a reader on a directory without a database is refused too */
    char empty[256];
    ts_mkdtemp(empty, sizeof empty);
    vg_db_options ro = { .map_size = 1 << 20, .readonly = 1 };
    assert_int_equal(vg_db_open(&db, empty, &ro, err, sizeof err), -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_hs256_roundtrip_and_refusals),
        cmocka_unit_test(jwt_rs256_es256_and_confusion),
        cmocka_unit_test(base64url_strict),
        cmocka_unit_test(msgpack_cursor_bounds),
        cmocka_unit_test(token_buckets),
        cmocka_unit_test(password_policy_rules),
        cmocka_unit_test(user_record_without_must_change_reads),
        cmocka_unit_test(db_users_sessions_keys),
        cmocka_unit_test(db_detections_aggregates_and_full_map),
        cmocka_unit_test(db_unique_aggregates),
        cmocka_unit_test(db_newer_schema_refused),
        cmocka_unit_test(db_events_prune),
    };
    return cmocka_run_group_tests_name("store units", tests, NULL, NULL);
}
