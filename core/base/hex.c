/* hex: see hex.h. */
#include "base/hex.h"

static const char digits[] = "0123456789abcdef";


void
vg_hex_encode(const void *p, size_t n, char *out)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}


/* The value of one hex digit, or -1. */
static int
digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;   /* ASCII lower case; nothing else lands on a..f */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


int
vg_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = digit_value(s[2 * i]), lo = digit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
