/* buf: see buf.h. */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"

static void
out_of_memory(size_t n)
{
    vg_log(VG_LOG_ERROR, "mem", "out of memory allocating %zu bytes", n);
    vg_log_flush();
    abort();
}


void *
vg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}


void *
vg_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        out_of_memory(count * n);
    return p;
}


void *
vg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}


char *
vg_xstrndup(const char *s, size_t n)
{
    char *p = vg_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}


char *
vg_xstrdup(const char *s)
{
    return vg_xstrndup(s, strlen(s));
}


int
vg_str_eq(vg_str a, const char *lit)
{
    size_t n = strlen(lit);
    return a.n == n && memcmp(a.p, lit, n) == 0;
}


int
vg_str_ieq(vg_str a, const char *lit)
{
    size_t n = strlen(lit);
    if (a.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char x = a.p[i], y = lit[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}


void
vg_buf_init(vg_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}


void
vg_buf_release(vg_buf *b)
{
    free(b->data);
    vg_buf_init(b);
}


void
vg_buf_reserve(vg_buf *b, size_t extra)
{
    if (extra > ((size_t)-1) / 2 - b->len)
        out_of_memory(extra);
    size_t need = b->len + extra + 1;   /* room for vg_buf_cstr's NUL */
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = vg_xrealloc(b->data, cap);
    b->cap = cap;
}


void
vg_buf_append(vg_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    vg_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}


void
vg_buf_putc(vg_buf *b, char c)
{
    vg_buf_reserve(b, 1);
    b->data[b->len++] = c;
}


size_t
vg_u64_dec(char out[20], uint64_t v)
{
    char d[20];
    size_t n = 0;
    do {
        d[sizeof d - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, d + sizeof d - n, n);
    return n;
}


void
vg_buf_put_u64(vg_buf *b, uint64_t v)
{
    char d[20];
    vg_buf_append(b, d, vg_u64_dec(d, v));
}


void
vg_buf_put_i64(vg_buf *b, int64_t v)
{
    if (v < 0) {
        vg_buf_putc(b, '-');
        vg_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        vg_buf_put_u64(b, (uint64_t)v);
    }
}


void
vg_buf_vprintf(vg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    vg_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        vg_buf_reserve(b, (size_t)n);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
}


void
vg_buf_printf(vg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vg_buf_vprintf(b, fmt, ap);
    va_end(ap);
}


char *
vg_buf_cstr(vg_buf *b)
{
    vg_buf_reserve(b, 0);
    b->data[b->len] = '\0';
    return b->data;
}


char *
vg_buf_steal(vg_buf *b, size_t *len)
{
    char *p = vg_buf_cstr(b);
    if (len)
        *len = b->len;
    vg_buf_init(b);
    return p;
}
