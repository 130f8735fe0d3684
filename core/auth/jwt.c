/* jwt: see jwt.h. */
#include "auth/jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <jansson.h>
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "base/rng.h"

struct vg_jwt {
    int alg;
    uint8_t secret[256];
    size_t secret_len;
    mbedtls_pk_context priv;          /* signing key (RS256/ES256) */
    mbedtls_pk_context pub;           /* verifying key */
    int have_priv, have_pub;
    vg_rng rng;                        /* for ES256 signatures */
    char issuer[256];
    char audience[256];
    double leeway;
};


const char *
vg_jwt_strerror(int err)
{
    switch (err) {
#define VG_JWT_X(name, v, msg) case VG_JWT_##name: return msg;
    VG_JWT_ERRNO_MAP(VG_JWT_X)
#undef VG_JWT_X
    default: return "token error";
    }
}


int
vg_jwt_alg_parse(const char *s)
{
    if (strcmp(s, "HS256") == 0)
        return VG_JWT_HS256;
    if (strcmp(s, "RS256") == 0)
        return VG_JWT_RS256;
    if (strcmp(s, "ES256") == 0)
        return VG_JWT_ES256;
    return -1;
}


const char *
vg_jwt_alg_name(int alg)
{
    return alg == VG_JWT_RS256 ? "RS256" : alg == VG_JWT_ES256 ? "ES256" : "HS256";
}

/* ---- keys ------------------------------------------------------------------ */

int
vg_jwt_create(const vg_jwt_options *o, vg_jwt **out, char *err, size_t errlen)
{
    vg_jwt *j = vg_xcalloc(1, sizeof *j);
    j->alg = o->alg;
    j->leeway = o->leeway;
    snprintf(j->issuer, sizeof j->issuer, "%s", o->issuer ? o->issuer : "");
    snprintf(j->audience, sizeof j->audience, "%s", o->audience ? o->audience : "");
    mbedtls_pk_init(&j->priv);
    mbedtls_pk_init(&j->pub);
    int rc;
    if ((rc = vg_rng_init(&j->rng, "vigia-jwt")) != 0) {
        snprintf(err, errlen, "random generator: -0x%04x", (unsigned)-rc);
        goto fail;
    }
    if (o->alg == VG_JWT_HS256) {
        if (!o->secret || o->secret_len < 32 || o->secret_len > sizeof j->secret) {
            snprintf(err, errlen, "HS256 needs a secret of 32 to %zu bytes", sizeof j->secret);
            goto fail;
        }
        memcpy(j->secret, o->secret, o->secret_len);
        j->secret_len = o->secret_len;
        *out = j;
        return 0;
    }
    mbedtls_pk_type_t want = o->alg == VG_JWT_RS256 ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECKEY;
    if (o->private_key && *o->private_key) {
        if ((rc = mbedtls_pk_parse_keyfile(&j->priv, o->private_key, NULL)) != 0) {
            snprintf(err, errlen, "auth.jwt_private_key '%s': cannot read the key (-0x%04x)", o->private_key,
                     (unsigned)-rc);
            goto fail;
        }
        j->have_priv = 1;
    }
    if (o->public_key && *o->public_key) {
        if ((rc = mbedtls_pk_parse_public_keyfile(&j->pub, o->public_key)) != 0) {
            snprintf(err, errlen, "auth.jwt_public_key '%s': cannot read the key (-0x%04x)", o->public_key,
                     (unsigned)-rc);
            goto fail;
        }
        j->have_pub = 1;
    }
    if (!j->have_priv && !j->have_pub) {
        snprintf(err, errlen, "%s needs auth.jwt_private_key (and optionally auth.jwt_public_key)",
                 vg_jwt_alg_name(o->alg));
        goto fail;
    }
    mbedtls_pk_context *keys[2] = { j->have_priv ? &j->priv : NULL, j->have_pub ? &j->pub : NULL };
    for (int i = 0; i < 2; i++) {
        if (!keys[i])
            continue;
        if (mbedtls_pk_get_type(keys[i]) != want) {
            snprintf(err, errlen, "%s needs %s keys", vg_jwt_alg_name(o->alg), want == MBEDTLS_PK_RSA ? "RSA" : "EC P-256");
            goto fail;
        }
        if (want == MBEDTLS_PK_ECKEY && mbedtls_pk_ec(*keys[i])->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
            snprintf(err, errlen, "ES256 needs a P-256 key");
            goto fail;
        }
        if (want == MBEDTLS_PK_RSA && mbedtls_pk_get_bitlen(keys[i]) < 2048) {
            snprintf(err, errlen, "RS256 needs an RSA key of 2048 bits or more");
            goto fail;
        }
    }
    *out = j;
    return 0;
fail:
    vg_jwt_destroy(j);
    return -1;
}


void
vg_jwt_destroy(vg_jwt *j)
{
    if (!j)
        return;
    mbedtls_pk_free(&j->priv);
    mbedtls_pk_free(&j->pub);
    vg_rng_free(&j->rng);
    memset(j->secret, 0, sizeof j->secret);
    free(j);
}

/* ---- signing ------------------------------------------------------------- */

static int
hmac(const vg_jwt *j, const void *p, size_t n, uint8_t out[32])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), j->secret, j->secret_len, p, n, out);
}


/* ES256 signatures are r||s (32 bytes each), mbedtls speaks DER. */
static int
der_to_raw(const uint8_t *der, size_t n, uint8_t raw[64])
{
    unsigned char *p = (unsigned char *)der, *end = p + n;
    size_t len;
    mbedtls_mpi r, s;
    int rc = -1;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) == 0 &&
        mbedtls_asn1_get_mpi(&p, end, &r) == 0 && mbedtls_asn1_get_mpi(&p, end, &s) == 0 &&
        mbedtls_mpi_write_binary(&r, raw, 32) == 0 && mbedtls_mpi_write_binary(&s, raw + 32, 32) == 0)
        rc = 0;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return rc;
}


int
vg_jwt_sign(vg_jwt *j, const vg_jwt_claims *c, vg_buf *out)
{
    if (j->alg != VG_JWT_HS256 && !j->have_priv)
        return VG_JWT_ENOKEY;
    size_t start = out->len;
    char head[64];
    snprintf(head, sizeof head, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", vg_jwt_alg_name(j->alg));
    vg_b64url_encode(out, head, strlen(head));
    vg_buf_putc(out, '.');
    json_t *p = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "iss", j->issuer, "aud", j->audience, "sub", c->sub,
                          "iat", (json_int_t)c->iat, "nbf", (json_int_t)(c->nbf ? c->nbf : c->iat),
                          "exp", (json_int_t)c->exp);
    if (!p)
        return -12;
    if (c->name[0])
        json_object_set_new(p, "name", json_string(c->name));
    if (c->role[0])
        json_object_set_new(p, "role", json_string(c->role));
    if (c->sid[0])
        json_object_set_new(p, "sid", json_string(c->sid));
    if (c->jti[0])
        json_object_set_new(p, "jti", json_string(c->jti));
    char *payload = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (!payload)
        return -12;
    vg_b64url_encode(out, payload, strlen(payload));
    free(payload);
    size_t signed_len = out->len - start;
    uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], raw[64];
    size_t slen = 0;
    int rc;
    if (j->alg == VG_JWT_HS256) {
        rc = hmac(j, out->data + start, signed_len, sig);
        slen = 32;
    } else {
        uint8_t h[32];
        mbedtls_sha256_ret((const unsigned char *)out->data + start, signed_len, h, 0);
        rc = mbedtls_pk_sign(&j->priv, MBEDTLS_MD_SHA256, h, 32, sig, &slen, vg_rng_random, &j->rng);
        if (rc == 0 && j->alg == VG_JWT_ES256) {
            rc = der_to_raw(sig, slen, raw);
            memcpy(sig, raw, 64);
            slen = 64;
        }
    }
    if (rc != 0) {
        out->len = start;
        return VG_JWT_ENOKEY;
    }
    vg_buf_putc(out, '.');
    vg_b64url_encode(out, sig, slen);
    return 0;
}

/* ---- verification --------------------------------------------------------- */

static json_t *
decode_part(const char *s, size_t n)
{
    uint8_t buf[VG_JWT_MAX_TOKEN];
    ssize_t len = vg_b64url_decode(s, n, buf, sizeof buf);
    if (len < 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}


static int
check_sig(vg_jwt *j, const char *msg, size_t mlen, const uint8_t *sig, size_t slen)
{
    if (j->alg == VG_JWT_HS256) {
        uint8_t mac[32];
        if (slen != 32 || hmac(j, msg, mlen, mac) != 0)
            return VG_JWT_ESIGNATURE;
        uint8_t diff = 0;
        for (int i = 0; i < 32; i++)
            diff |= (uint8_t)(mac[i] ^ sig[i]);
        return diff ? VG_JWT_ESIGNATURE : 0;
    }
    mbedtls_pk_context *k = j->have_pub ? &j->pub : &j->priv;
    uint8_t h[32];
    mbedtls_sha256_ret((const unsigned char *)msg, mlen, h, 0);
    if (j->alg == VG_JWT_RS256) {
        if (slen != mbedtls_pk_get_len(k))
            return VG_JWT_ESIGNATURE;
        return mbedtls_pk_verify(k, MBEDTLS_MD_SHA256, h, 32, sig, slen) == 0 ? 0 : VG_JWT_ESIGNATURE;
    }
    if (slen != 64)
        return VG_JWT_ESIGNATURE;
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*k);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int rc = VG_JWT_ESIGNATURE;
    if (mbedtls_mpi_read_binary(&r, sig, 32) == 0 && mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0 &&
        mbedtls_ecdsa_verify(&ec->grp, h, 32, &ec->Q, &r, &s) == 0)
        rc = 0;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return rc;
}


static int
copy_str(json_t *o, const char *key, char *out, size_t cap, int required)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return required ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}


static int
get_time(json_t *o, const char *key, int64_t *out, int required)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return required ? -1 : 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    /* a real outside int64 (1e300) would make the conversion undefined */
    if (!json_is_real(v) || !(json_real_value(v) > -9.2e18 && json_real_value(v) < 9.2e18))
        return -1;
    *out = (int64_t)json_real_value(v);
    return 0;
}


int
vg_jwt_verify(vg_jwt *j, const char *tok, size_t n, int64_t now, vg_jwt_claims *c)
{
    memset(c, 0, sizeof *c);
    if (n > VG_JWT_MAX_TOKEN)
        return VG_JWT_ETOOLONG;
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
        return VG_JWT_EMALFORMED;
    json_t *head = decode_part(tok, (size_t)(d1 - tok));
    if (!head)
        return VG_JWT_EMALFORMED;
    int rc = 0;
    json_t *alg = json_object_get(head, "alg"), *typ = json_object_get(head, "typ");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), vg_jwt_alg_name(j->alg)) != 0)
        rc = VG_JWT_EALG;           /* "none", another algorithm, or none given */
    else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        rc = VG_JWT_EMALFORMED;
    else if (json_object_get(head, "crit"))
        rc = VG_JWT_EMALFORMED;     /* no extension is understood */
    json_decref(head);
    if (rc)
        return rc;
    uint8_t sig[1024];
    ssize_t slen = vg_b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), sig, sizeof sig);
    if (slen <= 0)
        return VG_JWT_EMALFORMED;
    if ((rc = check_sig(j, tok, (size_t)(d2 - tok), sig, (size_t)slen)) != 0)
        return rc;
    json_t *p = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!p)
        return VG_JWT_EMALFORMED;
    char iss[256] = "";
    if (copy_str(p, "sub", c->sub, sizeof c->sub, 1) < 0 || copy_str(p, "name", c->name, sizeof c->name, 0) < 0 ||
        copy_str(p, "role", c->role, sizeof c->role, 0) < 0 || copy_str(p, "sid", c->sid, sizeof c->sid, 0) < 0 ||
        copy_str(p, "jti", c->jti, sizeof c->jti, 0) < 0 || copy_str(p, "iss", iss, sizeof iss, 0) < 0 ||
        get_time(p, "exp", &c->exp, 1) < 0 || get_time(p, "nbf", &c->nbf, 0) < 0 || get_time(p, "iat", &c->iat, 0) < 0) {
        rc = VG_JWT_ECLAIMS;
        goto out;
    }
    if ((double)now >= (double)c->exp + j->leeway) {
        rc = VG_JWT_EEXPIRED;
        goto out;
    }
    if (c->nbf && (double)now + j->leeway < (double)c->nbf) {
        rc = VG_JWT_ENOTYET;
        goto out;
    }
    if (j->issuer[0] && strcmp(iss, j->issuer) != 0) {
        rc = VG_JWT_EISSUER;
        goto out;
    }
    if (j->audience[0]) {
        json_t *aud = json_object_get(p, "aud");
        int ok = 0;
        if (json_is_string(aud))
            ok = strcmp(json_string_value(aud), j->audience) == 0;
        else if (json_is_array(aud)) {
            size_t i;
            json_t *e;
            json_array_foreach(aud, i, e)
                ok |= json_is_string(e) && strcmp(json_string_value(e), j->audience) == 0;
        }
        if (!ok)
            rc = VG_JWT_EAUDIENCE;
    }
out:
    json_decref(p);
    return rc;
}
