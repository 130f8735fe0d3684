/*
 * libFuzzer harness for base64: the one codec of core/base/base64.h, in
 * both alphabets: VG_BASE64_URL (JWT parts, refresh tokens, API keys) and
 * VG_BASE64_STD (images in JSON requests and stream messages, annotated
 * JPEGs in answers), and its data URL helper.
 *
 * The first byte picks a check, the rest is the input:
 *  0  URL decoding accepts exactly what RFC 4648 section 5 allows without
 *     padding, and is canonical: whatever decodes re-encodes to the same
 *     text, and its length is what the input length says; the same text
 *     in the standard alphabet, padded, decodes to the same bytes;
 *  1  encoding any bytes and decoding gives them back, in both alphabets;
 *     exactly the room needed is enough, one byte less is refused;
 *  2  STD decoding accepts what mbedtls_base64_decode (which the detection
 *     routes called before) accepts, with the same bytes; it never needs
 *     more than vg_base64_decoded_max(n) bytes, what it accepts re-encodes
 *     and decodes to the same bytes; the data URL helper moves past a data
 *     URL's comma (refusing one without) and leaves other text alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "base/base64.h"
#include "base/buf.h"

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
check_url(const char *s, size_t n)
{
    uint8_t *out = malloc(n + 1);
    ssize_t len = vg_base64_decode(s, n, out, n + 1, VG_BASE64_URL);
    if (len >= 0) {
        if ((size_t)len != n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
            abort();
        vg_buf enc;
        vg_buf_init(&enc);
        vg_base64_encode(&enc, out, (size_t)len, VG_BASE64_URL);
        if (enc.len != n || enc.len != vg_base64_encoded_len((size_t)len, VG_BASE64_URL) ||
            (n && memcmp(enc.data, s, n) != 0))
            abort();   /* not canonical */
        vg_buf_release(&enc);

        /* the standard alphabet with padding */
        size_t pn = (n + 3) / 4 * 4;
        char *std = malloc(pn + 1);
        for (size_t i = 0; i < n; i++)
            std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
        for (size_t i = n; i < pn; i++)
            std[i] = '=';
        uint8_t *o2;
        ssize_t l2 = vg_base64_decode_new(std, pn, &o2, VG_BASE64_STD);
        if (l2 != len || (len && memcmp(o2, out, (size_t)len) != 0))
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
    for (int a = VG_BASE64_STD; a <= VG_BASE64_URL; a++) {
        vg_buf enc;
        vg_buf_init(&enc);
        vg_base64_encode(&enc, p, n, a);
        if (enc.len != vg_base64_encoded_len(n, a))
            abort();
        uint8_t *out = malloc(n + 1);
        if (vg_base64_decode(enc.data ? enc.data : "", enc.len, out, n, a) != (ssize_t)n || (n && memcmp(out, p, n)))
            abort();
        /* exactly the room needed is enough, one byte less is refused */
        if (n && vg_base64_decode(enc.data, enc.len, out, n - 1, a) >= 0)
            abort();
        free(out);
        vg_buf_release(&enc);
    }
}


static void
check_std(const char *s, size_t n)
{
    size_t cap = vg_base64_decoded_max(n), olen = 0;
    uint8_t *out = malloc(cap), *ref = malloc(cap);
    ssize_t len = vg_base64_decode(s, n, out, cap, VG_BASE64_STD);
    int rc = mbedtls_base64_decode(ref, cap, &olen, (const unsigned char *)s, n);
    if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
        abort();   /* vg_base64_decoded_max would refuse valid base64 */
    if ((len >= 0) != (rc == 0) || (rc == 0 && ((size_t)len != olen || (olen && memcmp(out, ref, olen) != 0))))
        abort();   /* not what the routes accepted before */
    if (len >= 0) {
        vg_buf enc;
        vg_buf_init(&enc);
        vg_base64_encode(&enc, out, (size_t)len, VG_BASE64_STD);
        uint8_t *back;
        ssize_t l2 = vg_base64_decode_new(enc.data, enc.len, &back, VG_BASE64_STD);
        if (l2 != len || (len && memcmp(back, out, (size_t)len) != 0))
            abort();
        free(back);
        vg_buf_release(&enc);
    }
    /* a data URL's data is the text after the comma */
    const char *d = s;
    size_t dn = n;
    int du = vg_base64_strip_data_url(&d, &dn);
    if (n > 5 && strncmp(s, "data:", 5) == 0) {
        const char *comma = memchr(s, ',', n);
        if (comma ? du != 0 || d != comma + 1 || dn != n - (size_t)(d - s) : du != -1)
            abort();
    } else if (du != 0 || d != s || dn != n) {
        abort();
    }
    free(ref);
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
        check_url((const char *)p, n);
        break;
    case 1:
        check_roundtrip(p, n);
        break;
    default:
        check_std((const char *)p, n);
        break;
    }
    return 0;
}
