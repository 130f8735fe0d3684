/*
 * buf: a growable byte buffer, and counted strings.
 *
 * Allocation failure aborts the process (after one log line): buffers are
 * bounded by the limits of whoever fills them, so running out of memory is
 * a bug or an exhausted machine, and the supervisor restarts us.
 */
#ifndef VG_BUF_H
#define VG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A counted string: not NUL-terminated unless stated. */
typedef struct vg_str {
    const char *p;
    size_t n;
} vg_str;

#define VG_STR(lit) ((vg_str){ (lit), sizeof(lit) - 1 })

static inline vg_str vg_str_of(const char *s) { vg_str r = { s, s ? strlen(s) : 0 }; return r; }
int vg_str_eq(vg_str a, const char *lit);
int vg_str_ieq(vg_str a, const char *lit);   /* ASCII case-insensitive */

typedef struct vg_buf {
    char *data;   /* owned; NULL until the first append */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
} vg_buf;

void vg_buf_init(vg_buf *b);
void vg_buf_release(vg_buf *b);          /* frees; the buf is empty and reusable */
void vg_buf_reserve(vg_buf *b, size_t extra);
void vg_buf_append(vg_buf *b, const void *p, size_t n);
void vg_buf_putc(vg_buf *b, char c);
static inline void vg_buf_puts(vg_buf *b, const char *s) { vg_buf_append(b, s, strlen(s)); }
/* Decimal digits of v, without printf (hot paths: response heads, JSON numbers, log lines). */
void vg_buf_put_u64(vg_buf *b, uint64_t v);
/* The same into out[0..n) (no NUL); returns n (1..20). */
size_t vg_u64_dec(char out[20], uint64_t v);
void vg_buf_put_i64(vg_buf *b, int64_t v);
void vg_buf_printf(vg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vg_buf_vprintf(vg_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Keeps a NUL after data[len] without counting it; returns data. */
char *vg_buf_cstr(vg_buf *b);
/* Hands the allocation to the caller (free() it); the buf is empty after. */
char *vg_buf_steal(vg_buf *b, size_t *len);

void *vg_xmalloc(size_t n);
void *vg_xcalloc(size_t count, size_t n);
void *vg_xrealloc(void *p, size_t n);
char *vg_xstrdup(const char *s);
char *vg_xstrndup(const char *s, size_t n);

#endif
