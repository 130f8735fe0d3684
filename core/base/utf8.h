/*
 * utf8: what is a valid UTF-8 sequence, for the writers that must never
 * emit anything else (JSON, log lines). Header only; includes nothing of
 * ours, so that the log (under buf) and jsonw (over buf) can both use it.
 */
#ifndef VG_UTF8_H
#define VG_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when it is
 * not one: a stray continuation byte, an overlong form, a surrogate, a
 * code point beyond U+10FFFF, or a sequence cut short by n. n > 0.
 */
static inline size_t
vg_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#endif
