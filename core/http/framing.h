/*
 * framing: the parts of RFC 9112 message framing that llhttp leaves lenient
 * (checked against llhttp 8.1, the version Debian 12 ships), which a proxy in
 * front of us might read differently, so that one request could hide
 * another (request smuggling):
 *
 *  - obs-fold: llhttp joins a header line that starts with a space or tab to
 *    the line before, also in Transfer-Encoding and Content-Length
 *    (RFC 9112 5.2: reject with 400), and accepts whitespace between the
 *    request line and the first header (2.2: reject);
 *  - field names: llhttp accepts spaces inside a name ("X Y: 1"); a name is
 *    a token (RFC 9110 5.1; RFC 9112 5.1: 400);
 *  - Transfer-Encoding: llhttp honours it in HTTP/1.0 and keeps the
 *    connection (RFC 9112 6.1: the framing is faulty, close), and takes
 *    "gzip, chunked" as chunked while handing the handler gzip bytes (6.1:
 *    a coding we do not implement gets 501);
 *  - Host: llhttp accepts HTTP/1.1 without one, two of them, or one with
 *    bytes no host has (RFC 9112 3.2: 400).
 *
 * The head scanner sees the bytes of a request head before llhttp does; the
 * field check is fed the parsed head's fields. Both are pure functions of
 * their input: the HTTP layer answers what they refuse and closes the
 * connection.
 */
#ifndef VG_FRAMING_H
#define VG_FRAMING_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"

/* Where the scanner is in a request head; all zero at a message's start. */
typedef struct vg_framing_scan {
    unsigned char state;        /* a private enum in framing.c */
} vg_framing_scan;

/*
 * Scans p[0..n), the next bytes of a request head. Returns how many belong
 * to the head: n while the head goes on, fewer when its final empty line
 * ends inside p (the rest is body or the next request, which the caller
 * does not scan, and the scanner must be reset before the next head).
 * Returns -1 with a static reason in *why for a line fold or a byte that
 * cannot be in a field name; the bytes before the refused one are not
 * reported.
 */
ssize_t vg_framing_scan_feed(vg_framing_scan *s, const char *p, size_t n, const char **why);
/* 1 once the scanner has seen the end of the head. */
int vg_framing_scan_done(const vg_framing_scan *s);

/* What a head's Host and Transfer-Encoding fields said; all zero before the first field. */
typedef struct vg_framing_fields {
    int hosts;                  /* Host lines */
    int bad_host;               /* one held a byte no host has */
    int te_lines;               /* Transfer-Encoding lines */
    int codings;                /* transfer codings they list, in order */
    int chunked_at;             /* 1 + chunked's place among them; 0: not listed */
    int chunked_twice;
} vg_framing_fields;

/* Takes one field of the head (each, in order); others than Host and Transfer-Encoding are ignored. */
void vg_framing_field(vg_framing_fields *f, vg_str name, vg_str value);
/*
 * The verdict on a complete head (http_minor: its HTTP/1.x minor version):
 * 0, or the status to refuse it with (400 or 501) and a static reason in
 * *why; a refused request is answered and its connection closed.
 */
int vg_framing_verdict(const vg_framing_fields *f, int http_minor, const char **why);

#endif
