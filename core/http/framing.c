/* framing: see framing.h. */
#include "http/framing.h"

#include <string.h>

enum scan_state {
    S_START = 0,    /* before the request line: llhttp skips empty lines here */
    S_REQUEST_LINE, /* in the request line (llhttp checks it) */
    S_LINE_START,   /* at the first byte of a header line, or of the empty line that ends the head */
    S_NAME,         /* in a field name */
    S_VALUE,        /* after the colon, up to the line's end (llhttp checks the value's bytes) */
    S_VALUE_CR,     /* a CR in a value: LF must follow */
    S_END_CR,       /* the CR of the empty line */
    S_DONE          /* the head has ended */
};


/* RFC 9110 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


ssize_t
vg_framing_scan_feed(vg_framing_scan *s, const char *p, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch ((enum scan_state)s->state) {
        case S_START:
            if (c != '\r' && c != '\n')
                s->state = S_REQUEST_LINE;
            break;
        case S_REQUEST_LINE:
            if (c == '\n')
                s->state = S_LINE_START;
            break;
        case S_LINE_START:
            if (c == '\r') {
                s->state = S_END_CR;
            } else if (c == ' ' || c == '\t') {
                /* obs-fold, or whitespace before the first header: a proxy may see another header here */
                *why = "a header line starts with whitespace (obsolete line folding)";
                return -1;
            } else if (is_tchar(c)) {
                s->state = S_NAME;
            } else {
                *why = "a header line does not start with a field name";
                return -1;
            }
            break;
        case S_NAME:
            if (c == ':') {
                s->state = S_VALUE;
            } else if (!is_tchar(c)) {
                *why = "a header field name holds a character that is not a token's (a space?)";
                return -1;
            }
            break;
        case S_VALUE:
            if (c == '\r') {
                s->state = S_VALUE_CR;
            } else if (c == '\n') {
                *why = "a header line ends in LF without CR";
                return -1;
            }
            break;
        case S_VALUE_CR:
            if (c != '\n') {
                *why = "a CR in a header line is not followed by LF";
                return -1;
            }
            s->state = S_LINE_START;
            break;
        case S_END_CR:
            if (c != '\n') {
                *why = "the head does not end with CRLF";
                return -1;
            }
            s->state = S_DONE;
            return (ssize_t)(i + 1);
        case S_DONE:
            return (ssize_t)i;
        }
    }
    return (ssize_t)n;
}


int
vg_framing_scan_done(const vg_framing_scan *s)
{
    return s->state == S_DONE;
}


/* RFC 3986 reg-name, IP-literal and port characters: what a Host value may hold. */
static int
is_host_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}


/* Counts the transfer codings of one Transfer-Encoding line and notes where chunked is. */
static void
take_codings(vg_framing_fields *f, vg_str value)
{
    const char *p = value.p, *end = p + value.n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *b = p;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        const char *t = e;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > b) {   /* empty list elements are ignored (RFC 9110 5.6.1) */
            f->codings++;
            if (vg_str_ieq((vg_str){ b, (size_t)(t - b) }, "chunked")) {
                f->chunked_twice |= f->chunked_at != 0;
                f->chunked_at = f->codings;
            }
        }
        p = comma ? comma + 1 : end;
    }
}


void
vg_framing_field(vg_framing_fields *f, vg_str name, vg_str value)
{
    if (vg_str_ieq(name, "host")) {
        f->hosts++;
        for (size_t k = 0; k < value.n; k++)
            f->bad_host |= !is_host_char((unsigned char)value.p[k]);
    } else if (vg_str_ieq(name, "transfer-encoding")) {
        f->te_lines++;
        take_codings(f, value);
    }
}


/*
 * Transfer-Encoding: only "chunked", once and last, is served: chunked
 * elsewhere makes the length unknowable (RFC 9112 6.3: 400), and any other
 * coding is one we do not implement (6.1: 501). Host: exactly one in
 * HTTP/1.1, at most one in HTTP/1.0, and a host (3.2: 400).
 */
int
vg_framing_verdict(const vg_framing_fields *f, int http_minor, const char **why)
{
    if (f->te_lines && http_minor == 0) {
        *why = "Transfer-Encoding in an HTTP/1.0 request";
        return 400;
    }
    if (f->te_lines && f->chunked_twice) {
        *why = "chunked is applied twice";
        return 400;
    }
    if (f->te_lines && (f->chunked_at == 0 || f->chunked_at != f->codings)) {
        *why = "chunked is not the final transfer coding";
        return 400;
    }
    if (f->codings > 1) {
        *why = "only the chunked transfer coding is implemented";
        return 501;
    }
    if (f->hosts > 1) {
        *why = "more than one Host header";
        return 400;
    }
    if (f->bad_host) {
        *why = "the Host header is not a host";
        return 400;
    }
    if (f->hosts == 0 && http_minor >= 1) {
        *why = "an HTTP/1.1 request without a Host header";
        return 400;
    }
    return 0;
}
