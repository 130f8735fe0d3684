/*
 * log: see log.h. In the master, lines queue in a fixed ring and an ev_io
 * watcher drains it; everywhere else a line is one write(2).
 */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "base/utf8.h"

#define LOG_QUEUE_SIZE (256u * 1024u)
#define LOG_LINE_MAX 4096

static struct {
    enum vg_log_level level;
    enum vg_log_format format;
    int blocking;
    int fd;            /* where lines go */
    int own_fd;        /* fd we opened for non-blocking writes, or -1 */
    char process[48];
    struct ev_loop *loop;
    ev_io watcher;
    char queue[LOG_QUEUE_SIZE];
    size_t head, len;  /* ring: bytes queued start at head */
    uint64_t dropped;
} L = { VG_LOG_INFO, VG_LOG_TEXT, 1, 2, -1, "vigia", NULL, { 0 }, { 0 }, 0, 0, 0 };

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };


int
vg_log_level_parse(const char *s, enum vg_log_level *out)
{
    for (int i = 0; i <= VG_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum vg_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = VG_LOG_WARN;
        return 0;
    }
    return -1;
}


const char *
vg_log_level_name(enum vg_log_level level)
{
    return (unsigned)level <= VG_LOG_OFF ? level_names[level] : "?";
}


void vg_log_set_level(enum vg_log_level level) { L.level = level; }
enum vg_log_level vg_log_get_level(void) { return L.level; }
void vg_log_set_format(enum vg_log_format format) { L.format = format; }
uint64_t vg_log_dropped(void) { return L.dropped; }
int vg_log_enabled(enum vg_log_level level) { return level >= L.level && level < VG_LOG_OFF; }


void
vg_log_set_process(const char *name)
{
    snprintf(L.process, sizeof L.process, "%s", name);
}


void
vg_log_set_fd(int fd)
{
    vg_log_flush();
    L.fd = fd;
}


static void
write_all_blocking(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}


/* Writes as much of the ring as the fd takes now; returns bytes left. */
static size_t
drain(int fd)
{
    while (L.len > 0) {
        size_t chunk = L.len;
        if (L.head + chunk > LOG_QUEUE_SIZE)
            chunk = LOG_QUEUE_SIZE - L.head;
        ssize_t w = write(fd, L.queue + L.head, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        L.head = (L.head + (size_t)w) % LOG_QUEUE_SIZE;
        L.len -= (size_t)w;
    }
    if (L.len == 0)
        L.head = 0;
    return L.len;
}


static int
out_fd(void)
{
    return L.own_fd >= 0 ? L.own_fd : L.fd;
}


static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    if (drain(out_fd()) == 0)
        ev_io_stop(loop, w);
}


void
vg_log_attach(struct ev_loop *loop)
{
    /*
     * A pipe or socket on fd 2 may be shared with our parent, so rather than
     * flip O_NONBLOCK on its file description we open a description of our
     * own through /proc (works for pipes and FIFOs). Regular files and ttys
     * do not block for long, and keep the plain fd.
     */
    struct stat st;
    if (fstat(L.fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", L.fd);
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            L.own_fd = fd;
    }
    L.loop = loop;
    L.blocking = 0;
    ev_io_init(&L.watcher, on_writable, out_fd(), EV_WRITE);
}


void
vg_log_set_blocking(int blocking)
{
    if (blocking) {
        vg_log_flush();
        if (L.loop && ev_is_active(&L.watcher))
            ev_io_stop(L.loop, &L.watcher);
        L.loop = NULL;
        if (L.own_fd >= 0) {
            close(L.own_fd);
            L.own_fd = -1;
        }
    }
    L.blocking = blocking;
}


void
vg_log_flush(void)
{
    while (L.len > 0) {
        size_t chunk = L.len;
        if (L.head + chunk > LOG_QUEUE_SIZE)
            chunk = LOG_QUEUE_SIZE - L.head;
        write_all_blocking(out_fd(), L.queue + L.head, chunk);
        L.head = (L.head + chunk) % LOG_QUEUE_SIZE;
        L.len -= chunk;
    }
    L.head = 0;
}


static void
emit(const char *line, size_t n)
{
    if (L.blocking || !L.loop) {
        write_all_blocking(L.fd, line, n);
        return;
    }
    if (L.len == 0 && drain(out_fd()) == 0) {
        ssize_t w = write(out_fd(), line, n);
        if (w == (ssize_t)n)
            return;
        if (w > 0) {
            line += w;
            n -= (size_t)w;
        }
    }
    if (n > LOG_QUEUE_SIZE - L.len) {
        L.dropped++;
        return;
    }
    size_t tail = (L.head + L.len) % LOG_QUEUE_SIZE;
    size_t first = n;
    if (tail + first > LOG_QUEUE_SIZE)
        first = LOG_QUEUE_SIZE - tail;
    memcpy(L.queue + tail, line, first);
    memcpy(L.queue, line + first, n - first);
    L.len += n;
    if (!ev_is_active(&L.watcher))
        ev_io_start(L.loop, &L.watcher);
}


/*
 * One escaped unit of u[0..n) into e (at most 12 bytes): *used gets the
 * input bytes it stands for. Text lines show every control character
 * (C0, DEL, C1) and every byte that is not UTF-8 as \xHH, so that a
 * client's bytes can neither break a line nor drive a terminal; JSON
 * strings escape them as \uXXXX and bytes that are not UTF-8 as U+FFFD,
 * so that each line stays valid UTF-8 and valid JSON.
 */
static size_t
escape_unit(const unsigned char *u, size_t n, int json, char *e, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = vg_utf8_len(u, n);
    unsigned char c = u[0];
    *used = len ? len : 1;
    if (len == 2 && c == 0xc2 && u[1] < 0xa0) {   /* U+0080..U+009F: the C1 controls */
        if (json)
            return (size_t)snprintf(e, 12, "\\u00%c%c", hex[u[1] >> 4], hex[u[1] & 15]);
        return (size_t)snprintf(e, 12, "\\xc2\\x%c%c", hex[u[1] >> 4], hex[u[1] & 15]);
    }
    if (len > 1 || (len == 1 && c >= 0x20 && c != 0x7f && !(json && (c == '"' || c == '\\')))) {
        memcpy(e, u, *used);
        return *used;
    }
    if (json && (c == '"' || c == '\\'))
        return (size_t)snprintf(e, 12, "\\%c", c);
    if (json && !len)
        return (size_t)snprintf(e, 12, "\\ufffd");
    if (json)
        return (size_t)snprintf(e, 12, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
    return (size_t)snprintf(e, 12, "\\x%c%c", hex[c >> 4], hex[c & 15]);
}


/* Appends s escaped (escape_unit) at dst[at], whole units only, within cap; returns the new length. */
static size_t
escape_into(char *dst, size_t at, size_t cap, const char *s, size_t n, int json)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char e[12];
        size_t used, elen = escape_unit(u + i, n - i, json, e, &used);
        if (at + elen > cap)
            break;
        memcpy(dst + at, e, elen);
        at += elen;
        i += used;
    }
    return at;
}


static void
format_line(enum vg_log_level level, const char *module, const char *msg, size_t mlen)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    char when[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t wn = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + wn, sizeof when - wn, ".%03ldZ", ts.tv_nsec / 1000000);

    size_t n;
    if (L.format == VG_LOG_JSON) {
        n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"", when,
                             level_names[level]);
        n = escape_into(line, n, sizeof line - 3, L.process, strlen(L.process), 1);
        n += (size_t)snprintf(line + n, sizeof line - n, "\",\"module\":\"%s\",\"msg\":\"", module);
        n = escape_into(line, n, sizeof line - 3, msg, mlen, 1);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s %-5s %s %s: ", when, level_names[level],
                             L.process, module);
        if (n > sizeof line - 2)
            n = sizeof line - 2;
        /* one event, one line: CR, LF and every other control character are escaped */
        n = escape_into(line, n, sizeof line - 1, msg, mlen, 0);
    }
    line[n++] = '\n';
    emit(line, n);
}


void
vg_log_raw(enum vg_log_level level, const char *module, const char *msg, size_t len)
{
    if (!vg_log_enabled(level))
        return;
    format_line(level, module, msg, len);
}


void
vg_log(enum vg_log_level level, const char *module, const char *fmt, ...)
{
    if (!vg_log_enabled(level))
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    format_line(level, module, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}
