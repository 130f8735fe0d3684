/*
 * libFuzzer harness for base64: our base64url codec (core/auth/jwt.h
 * vg_b64url_decode / vg_b64url_encode: JWT parts, refresh tokens, API
 * keys) and mbedtls_base64_decode as the detection routes call it on
 * JSON images (core/api/detect_api.c, compare_api.c, kserve_api.c,
 * stream_api.c: an output of n / 4 * 3 + 3 bytes for n input bytes).
 *
 * Invariants:
 *  - base64url decoding accepts exactly what RFC 4648 section 5 allows
 *    without padding, and is canonical: whatever decodes re-encodes to the
 *    same text, and its length is what the input length says;
 *  - encoding any bytes and decoding gives them back;
 *  - the two decoders agree: a base64url text accepted by ours is accepted
 *    by mbedtls once translated to the standard alphabet and padded, with
 *    the same bytes;
 *  - mbedtls never needs more than the n / 4 * 3 + 3 bytes our callers
 *    give it (BUFFER_TOO_SMALL would refuse a valid image), and what it
 *    accepts re-encodes and decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "base/buf.h"
#include "auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* What base64url without padding accepts, written from RFC 4648 section 5. */
static int
ref_valid(const char *s, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (n % 4 == 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(abc, s[i]))
            return 0;
    if (n % 4 == 0)
        return 1;
    int last = (int)(strchr(abc, s[n - 1]) - abc);
    /* the bits of the last symbol past the final byte must be zero */
    return n % 4 == 2 ? (last & 15) == 0 : (last & 3) == 0;
}


static void
check_b64url(const char *s, size_t n)
{
    uint8_t *out = malloc(n + 1);
    ssize_t len = vg_b64url_decode(s, n, out, n + 1);
    if (len >= 0) {
        if ((size_t)len != n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
            abort();
        vg_buf enc;
        vg_buf_init(&enc);
        vg_b64url_encode(&enc, out, (size_t)len);
        if (enc.len != n || (n && memcmp(enc.data, s, n) != 0))
            abort();   /* not canonical */
        vg_buf_release(&enc);

        /* the standard alphabet with padding, through mbedtls */
        size_t pn = (n + 3) / 4 * 4;
        unsigned char *std = malloc(pn + 1);
        for (size_t i = 0; i < n; i++)
            std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (unsigned char)s[i];
        for (size_t i = n; i < pn; i++)
            std[i] = '=';
        size_t olen = 0, cap = pn / 4 * 3 + 3;
        unsigned char *o2 = malloc(cap);
        if (mbedtls_base64_decode(o2, cap, &olen, std, pn) != 0 || olen != (size_t)len ||
            (len && memcmp(o2, out, (size_t)len) != 0))
            abort();
        free(o2);
        free(std);
    }
    if ((len >= 0) != ref_valid(s, n))
        abort();
    free(out);
}


static void
check_roundtrip(const uint8_t *p, size_t n)
{
    vg_buf enc;
    vg_buf_init(&enc);
    vg_b64url_encode(&enc, p, n);
    uint8_t *out = malloc(n + 1);
    if (vg_b64url_decode(enc.data ? enc.data : "", enc.len, out, n) != (ssize_t)n || (n && memcmp(out, p, n)))
        abort();
    /* exactly the room needed is enough, one byte less is refused */
    if (n && vg_b64url_decode(enc.data, enc.len, out, n - 1) >= 0)
        abort();
    free(out);
    vg_buf_release(&enc);
}


static void
check_mbedtls(const unsigned char *s, size_t n)
{
    size_t cap = n / 4 * 3 + 3, olen = 0;
    unsigned char *out = malloc(cap);
    int rc = mbedtls_base64_decode(out, cap, &olen, s, n);
    if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
        abort();   /* our callers' buffer size would refuse valid base64 */
    if (rc == 0) {
        if (olen > cap)
            abort();
        size_t elen = 0;
        mbedtls_base64_encode(NULL, 0, &elen, out, olen);
        unsigned char *enc = malloc(elen + 1);
        size_t e2 = 0, o2 = 0;
        unsigned char *back = malloc(olen + 3);
        if (mbedtls_base64_encode(enc, elen + 1, &e2, out, olen) != 0 ||
            mbedtls_base64_decode(back, olen + 3, &o2, enc, e2) != 0 || o2 != olen ||
            (olen && memcmp(back, out, olen) != 0))
            abort();
        free(back);
        free(enc);
    }
    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        check_b64url((const char *)p, n);
        break;
    case 1:
        check_roundtrip(p, n);
        break;
    default:
        check_mbedtls(p, n);
        break;
    }
    return 0;
}
