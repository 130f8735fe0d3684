/*
 * hex: bytes as hexadecimal digits and back (keys, hashes and session ids
 * that travel as text).
 */
#ifndef VG_HEX_H
#define VG_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The 2n lower-case hex digits of p[0..n) and a NUL into out (2n + 1 bytes). */
void vg_hex_encode(const void *p, size_t n, char *out);
/*
 * The n bytes that the hex digits s[0..len) spell (either case) into out:
 * 0, or -1 when s is not exactly 2n hex digits (out may then be written).
 */
int vg_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

#endif
