/*
 * base64: the one base64 codec of vigia (RFC 4648), in its two alphabets,
 * and data URLs.
 *
 *   VG_BASE64_STD   "+/" with "=" padding: images in JSON requests and
 *                   stream messages, annotated JPEGs in answers
 *   VG_BASE64_URL   "-_" without padding: JWT parts, refresh tokens, API keys
 *
 * Decoding URL is strict and canonical: exactly what RFC 4648 section 5
 * allows without padding, with the unused low bits of the last symbol zero
 * (one text per value). Decoding STD takes images as clients send them:
 * line breaks ("\n", "\r\n") anywhere, spaces only before a line break or
 * at the end, at most two "=" and nothing but line breaks and spaces after
 * them; symbols after the last complete group of four give no bytes. That
 * is what mbedtls_base64_decode (2.28), which the routes called before,
 * accepts; fuzz/fuzz_base64.c holds the two to it.
 */
#ifndef VG_BASE64_H
#define VG_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"

enum vg_base64_alphabet { VG_BASE64_STD = 0, VG_BASE64_URL = 1 };

/* The length of n bytes encoded: STD padded to a multiple of 4, URL unpadded. */
size_t vg_base64_encoded_len(size_t n, int alphabet);
/* Appends the encoding of p[0..n) to out. */
void vg_base64_encode(vg_buf *out, const void *p, size_t n, int alphabet);

/* A buffer of this many bytes holds what any n characters decode to. */
static inline size_t vg_base64_decoded_max(size_t n) { return n / 4 * 3 + 3; }
/*
 * Decodes s[0..n) into out (cap bytes). Returns the length, or -1 when s is
 * not base64 of that alphabet or its bytes do not fit in cap.
 */
ssize_t vg_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, int alphabet);
/*
 * Decodes into a new buffer of vg_base64_decoded_max(n) bytes (*out: free()
 * it). Returns the length; -1 with *out NULL when s is not base64.
 */
ssize_t vg_base64_decode_new(const char *s, size_t n, uint8_t **out, int alphabet);

/*
 * A data URL ("data:image/jpeg;base64,/9j/...") gives way to its data: *s
 * and *n are moved past the comma. Text that does not start "data:" (with
 * something after it) is left as it is. Returns 0, or -1 for a data URL
 * without a comma.
 */
int vg_base64_strip_data_url(const char **s, size_t *n);

/* The URL alphabet's shorthands (JWT, tokens, API keys). */
static inline void
vg_b64url_encode(vg_buf *out, const void *p, size_t n)
{
    vg_base64_encode(out, p, n, VG_BASE64_URL);
}

static inline ssize_t
vg_b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    return vg_base64_decode(s, n, out, cap, VG_BASE64_URL);
}

#endif
