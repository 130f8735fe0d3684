/*
 * jwt: JSON Web Tokens (RFC 7519, compact JWS) signed with HS256, RS256
 * or ES256 through mbedtls.
 *
 * A vg_jwt holds one algorithm and its keys; verification accepts only
 * that algorithm, so "alg": "none" and algorithm confusion (an RS256
 * public key used as an HS256 secret) are refused before any signature
 * is checked. Verification also requires exp (and honours nbf) within the
 * configured leeway, the configured iss, and the audience in aud.
 */
#ifndef VG_JWT_H
#define VG_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base64.h"   /* vg_b64url_encode, vg_b64url_decode: tokens and keys are base64url */
#include "base/buf.h"

#define VG_JWT_MAX_TOKEN 8192

/* X(name, value, message) */
#define VG_JWT_ERRNO_MAP(X)                                                  \
    X(EMALFORMED, -1, "malformed token")                                     \
    X(EALG, -2, "token algorithm not accepted")                              \
    X(ESIGNATURE, -3, "bad token signature")                                 \
    X(EEXPIRED, -4, "token expired")                                         \
    X(ENOTYET, -5, "token not valid yet")                                    \
    X(EISSUER, -6, "wrong token issuer")                                     \
    X(EAUDIENCE, -7, "wrong token audience")                                 \
    X(ECLAIMS, -8, "token claims missing or malformed")                      \
    X(ETOOLONG, -9, "token too long")                                        \
    X(ENOKEY, -10, "no signing key")

enum vg_jwt_errno {
#define VG_JWT_X(name, v, msg) VG_JWT_##name = v,
    VG_JWT_ERRNO_MAP(VG_JWT_X)
#undef VG_JWT_X
};
const char *vg_jwt_strerror(int err);

enum vg_jwt_alg { VG_JWT_HS256 = 0, VG_JWT_RS256 = 1, VG_JWT_ES256 = 2 };
/* "HS256" -> VG_JWT_HS256; -1 when unknown. */
int vg_jwt_alg_parse(const char *s);
const char *vg_jwt_alg_name(int alg);

typedef struct vg_jwt_options {
    int alg;
    const uint8_t *secret;           /* HS256 */
    size_t secret_len;               /* at least 32 bytes */
    const char *private_key;         /* PEM file (RS256 RSA key / ES256 P-256 key) */
    const char *public_key;          /* PEM file; NULL or "": the private key's */
    const char *issuer;
    const char *audience;
    double leeway;                   /* seconds allowed on exp/nbf */
} vg_jwt_options;

typedef struct vg_jwt vg_jwt;

/* Loads keys. Returns 0, or -1 with a message. */
int vg_jwt_create(const vg_jwt_options *o, vg_jwt **out, char *err, size_t errlen);
void vg_jwt_destroy(vg_jwt *j);

typedef struct vg_jwt_claims {
    char sub[32];                    /* user id */
    char name[72];
    char role[16];
    char sid[64];                    /* the login session (refresh token family), hex */
    char jti[40];
    int64_t iat, nbf, exp;           /* unix seconds; nbf 0 = none */
} vg_jwt_claims;

/* Appends a signed token to out (iss and aud from the options). 0, VG_JWT_ENOKEY or -ENOMEM. */
int vg_jwt_sign(vg_jwt *j, const vg_jwt_claims *c, vg_buf *out);
/* Checks a token at time `now`; fills *c. 0 or a VG_JWT_E* code. */
int vg_jwt_verify(vg_jwt *j, const char *tok, size_t n, int64_t now, vg_jwt_claims *c);

#endif
