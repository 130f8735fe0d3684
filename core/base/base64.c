/* base64: see base64.h. */
#include "base/base64.h"

#include <stdlib.h>
#include <string.h>

static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* A symbol's value in the alphabet, or -1. */
static int
sym(char c, int alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (alphabet == VG_BASE64_URL ? '-' : '+'))
        return 62;
    if (c == (alphabet == VG_BASE64_URL ? '_' : '/'))
        return 63;
    return -1;
}


size_t
vg_base64_encoded_len(size_t n, int alphabet)
{
    if (alphabet == VG_BASE64_URL)
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    return (n + 2) / 3 * 4;
}


void
vg_base64_encode(vg_buf *out, const void *p, size_t n, int alphabet)
{
    const char *abc = alphabet == VG_BASE64_URL ? url_abc : std_abc;
    const uint8_t *s = p;
    vg_buf_reserve(out, vg_base64_encoded_len(n, alphabet));
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = abc[(v >> 6) & 63];
        *o++ = abc[v & 63];
    }
    if (i < n) {
        /* one or two bytes left: two or three symbols, padded to four in STD */
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        if (i + 1 < n)
            *o++ = abc[(v >> 6) & 63];
        else if (alphabet != VG_BASE64_URL)
            *o++ = '=';
        if (alphabet != VG_BASE64_URL)
            *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
}


/* RFC 4648 section 5 without padding, canonical. */
static ssize_t
decode_url(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sym(s[i], VG_BASE64_URL);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the unused low bits must be zero (one encoding per value) */
    if (bits && (acc & ((1u << bits) - 1)))
        return -1;
    return (ssize_t)o;
}


/* The standard alphabet as images arrive (base64.h): first the text is checked and measured. */
static ssize_t
decode_std(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t syms = 0, pads = 0;
    for (size_t i = 0; i < n; i++) {
        int spaces = 0;
        while (i < n && s[i] == ' ') {
            i++;
            spaces = 1;
        }
        if (i == n)
            break;   /* spaces at the end */
        if (s[i] == '\n' || (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
            continue;   /* a line break, spaces before it or not */
        if (spaces)
            return -1;   /* a space inside a line */
        if (s[i] == '=') {
            if (++pads > 2)
                return -1;
        } else if (pads || sym(s[i], VG_BASE64_STD) < 0) {
            return -1;
        }
        syms++;
    }
    /* whole groups give 3 bytes less their padding; a last partial group gives none */
    size_t tail = syms % 4, pads_in_tail = pads < tail ? pads : tail;
    size_t len = syms / 4 * 3 - (pads - pads_in_tail);
    if (len > cap)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int k = 0, gpads = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\r' || c == '\n')
            continue;
        acc = acc << 6 | (c == '=' ? 0u : (uint32_t)sym(c, VG_BASE64_STD));
        gpads += c == '=';
        if (++k == 4) {
            out[o++] = (uint8_t)(acc >> 16);
            if (gpads < 2)
                out[o++] = (uint8_t)(acc >> 8);
            if (gpads < 1)
                out[o++] = (uint8_t)acc;
            acc = 0;
            k = gpads = 0;
        }
    }
    return (ssize_t)o;
}


ssize_t
vg_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, int alphabet)
{
    return alphabet == VG_BASE64_URL ? decode_url(s, n, out, cap) : decode_std(s, n, out, cap);
}


ssize_t
vg_base64_decode_new(const char *s, size_t n, uint8_t **out, int alphabet)
{
    size_t cap = vg_base64_decoded_max(n);
    *out = vg_xmalloc(cap);
    ssize_t len = vg_base64_decode(s, n, *out, cap, alphabet);
    if (len < 0) {
        free(*out);
        *out = NULL;
    }
    return len;
}


int
vg_base64_strip_data_url(const char **s, size_t *n)
{
    if (*n <= 5 || strncmp(*s, "data:", 5) != 0)
        return 0;
    const char *comma = memchr(*s, ',', *n);
    if (!comma)
        return -1;
    *n -= (size_t)(comma + 1 - *s);
    *s = comma + 1;
    return 0;
}
