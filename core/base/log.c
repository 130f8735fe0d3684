/*
 * log: see log.h. In the master, lines queue in a fixed buffer that an
 * event line, 64 KiB of access lines or the flush timer writes out, and an
 * ev_io watcher drains when the output is not ready; everywhere else a
 * line is one write(2). Lines are built without printf: the date is
 * spelled once per second and the message escaped in one pass.
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
#define LOG_BATCH (64u * 1024u)   /* queued access lines are written once this much waits */
#define LOG_LINE_MAX 4096

static struct {
    enum vg_log_level level;
    enum vg_log_format format;
    int blocking;
    int fd;            /* where lines go */
    int own_fd;        /* fd we opened for non-blocking writes, or -1 */
    char process[48];
    struct ev_loop *loop;
    ev_io watcher;     /* started while the output refuses bytes (a full pipe) */
    ev_timer timer;    /* started when an access line enters an empty queue */
    double flush_s;    /* how long access lines may wait (log.flush); 0: not at all */
    /*
     * Bytes queued are queue[head .. head + len), never wrapped around the
     * end, so that each write(2) carries whole lines: with O_APPEND, other
     * processes' lines land between ours, never inside one.
     */
    char queue[LOG_QUEUE_SIZE];
    size_t head, len;
    uint64_t dropped;
    time_t when_sec;   /* the second that `when` spells, or -1 */
    char when[20];     /* "YYYY-MM-DDTHH:MM:SS" of when_sec */
} L = { .level = VG_LOG_INFO, .format = VG_LOG_TEXT, .blocking = 1, .fd = 2, .own_fd = -1,
        .process = "vigia", .flush_s = 0.1, .when_sec = -1 };

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };
static const char level_padded[][6] = { "debug", "info ", "warn ", "error", "off  " };   /* "%-5s" */


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


int
vg_log_get_fd(void)
{
    return L.fd;
}


void
vg_log_set_flush(double seconds)
{
    L.flush_s = seconds > 0 ? seconds : 0;
}


static int
out_fd(void)
{
    return L.own_fd >= 0 ? L.own_fd : L.fd;
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


/*
 * Writes as much of the queue as the output takes now, in one write(2)
 * when it takes it all; returns the bytes left. An output that fails for
 * good (a full disk, a closed fd) loses what was queued: those lines are
 * counted as dropped rather than retried on every line.
 */
static size_t
drain(int fd)
{
    while (L.len > 0) {
        ssize_t w = write(fd, L.queue + L.head, L.len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN) {
            for (const char *p = L.queue + L.head, *end = p + L.len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
                L.dropped++;
            L.len = 0;
        }
        if (w <= 0)
            break;
        L.head += (size_t)w;
        L.len -= (size_t)w;
    }
    if (L.len == 0)
        L.head = 0;
    return L.len;
}


/* Master: writes what is queued now; what the output does not take waits for EV_WRITE. */
static void
kick(void)
{
    if (ev_is_active(&L.timer))
        ev_timer_stop(L.loop, &L.timer);
    if (ev_is_active(&L.watcher))
        return;   /* the output is not ready: on_writable writes */
    if (drain(out_fd()) > 0)
        ev_io_start(L.loop, &L.watcher);
}


static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    if (drain(out_fd()) == 0)
        ev_io_stop(loop, w);
}


static void
on_flush_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    kick();
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
    ev_timer_init(&L.timer, on_flush_timer, 0., 0.);
}


void
vg_log_set_blocking(int blocking)
{
    if (blocking) {
        vg_log_flush();
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
    if (L.len > 0)
        write_all_blocking(out_fd(), L.queue + L.head, L.len);
    L.head = L.len = 0;
    if (L.loop && ev_is_active(&L.watcher))
        ev_io_stop(L.loop, &L.watcher);
    if (L.loop && ev_is_active(&L.timer))
        ev_timer_stop(L.loop, &L.timer);
}


/*
 * One finished line. In the master it joins the queue: an event line
 * (`batch` 0) is written at once with the lines before it; an access line
 * waits for LOG_BATCH bytes or the flush timer, started when it finds the
 * queue empty (nginx's access_log buffer= flush=). A line that does not
 * fit is dropped and counted: the loop never waits on its log.
 */
static void
emit(const char *line, size_t n, int batch)
{
    if (L.blocking || !L.loop) {
        write_all_blocking(L.fd, line, n);
        return;
    }
    if (L.len + n > LOG_QUEUE_SIZE && !ev_is_active(&L.watcher))
        kick();
    if (L.len + n > LOG_QUEUE_SIZE) {
        L.dropped++;
        return;
    }
    if (L.head + L.len + n > LOG_QUEUE_SIZE) {   /* after a partial write: move the rest to the front */
        memmove(L.queue, L.queue + L.head, L.len);
        L.head = 0;
    }
    memcpy(L.queue + L.head + L.len, line, n);
    L.len += n;
    if (!batch || L.len >= LOG_BATCH || L.flush_s <= 0)
        kick();
    else if (!ev_is_active(&L.timer) && !ev_is_active(&L.watcher)) {
        ev_timer_set(&L.timer, L.flush_s, 0.);
        ev_timer_start(L.loop, &L.timer);
    }
}


/*
 * One escaped unit of u[0..n) into e (at most 8 bytes): *used gets the
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
        if (json) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[u[1] >> 4];
            e[5] = hex[u[1] & 15];
            return 6;
        }
        memcpy(e, "\\xc2\\x", 6);
        e[6] = hex[u[1] >> 4];
        e[7] = hex[u[1] & 15];
        return 8;
    }
    if (len > 1 || (len == 1 && c >= 0x20 && c != 0x7f && !(json && (c == '"' || c == '\\')))) {
        memcpy(e, u, *used);
        return *used;
    }
    if (json && (c == '"' || c == '\\')) {
        e[0] = '\\';
        e[1] = (char)c;
        return 2;
    }
    if (json && !len) {
        memcpy(e, "\\ufffd", 6);
        return 6;
    }
    if (json) {
        memcpy(e, "\\u00", 4);
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        return 6;
    }
    e[0] = '\\';
    e[1] = 'x';
    e[2] = hex[c >> 4];
    e[3] = hex[c & 15];
    return 4;
}


/* Printable ASCII that stands for itself (in JSON, but for '"' and '\\'). */
static inline int
is_plain(unsigned char c, int json)
{
    return c >= 0x20 && c < 0x7f && !(json && (c == '"' || c == '\\'));
}


/*
 * Appends s escaped (escape_unit) at dst[at], whole units only, within cap;
 * returns the new length. One pass: runs of plain bytes are copied as they
 * are, and only the bytes around them go through escape_unit.
 */
static size_t
escape_into(char *dst, size_t at, size_t cap, const char *s, size_t n, int json)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && at < cap) {
        size_t j = i;
        while (j < n && is_plain(u[j], json))
            j++;
        size_t run = j - i;
        if (run > cap - at)
            run = cap - at;
        memcpy(dst + at, s + i, run);
        at += run;
        i += run;
        if (i < j || i == n)
            break;
        char e[8];
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
two_digits(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}


/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, no NUL): the date is spelled once per second. */
static void
stamp(char out[24])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != L.when_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        unsigned y = (unsigned)(tm.tm_year + 1900) % 10000;
        two_digits(L.when, y / 100);
        two_digits(L.when + 2, y % 100);
        L.when[4] = '-';
        two_digits(L.when + 5, (unsigned)tm.tm_mon + 1);
        L.when[7] = '-';
        two_digits(L.when + 8, (unsigned)tm.tm_mday);
        L.when[10] = 'T';
        two_digits(L.when + 11, (unsigned)tm.tm_hour);
        L.when[13] = ':';
        two_digits(L.when + 14, (unsigned)tm.tm_min);
        L.when[16] = ':';
        two_digits(L.when + 17, (unsigned)tm.tm_sec);
        L.when_sec = ts.tv_sec;
    }
    memcpy(out, L.when, 19);
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    two_digits(out + 21, ms);
    out[23] = 'Z';
}


static size_t
put(char *dst, size_t at, const char *s, size_t n)
{
    memcpy(dst + at, s, n);
    return at + n;
}


/* Builds the line with no printf: the pieces are copied, the message escaped in one pass. */
static void
format_line(enum vg_log_level level, const char *module, const char *msg, size_t mlen, int batch)
{
    char line[LOG_LINE_MAX];
    size_t modlen = strnlen(module, 64);
    size_t n;
    if (L.format == VG_LOG_JSON) {
        n = put(line, 0, "{\"ts\":\"", 7);
        stamp(line + n);
        n = put(line, n + 24, "\",\"level\":\"", 11);
        n = put(line, n, level_names[level], strlen(level_names[level]));
        n = put(line, n, "\",\"proc\":\"", 10);
        n = escape_into(line, n, sizeof line - 3, L.process, strlen(L.process), 1);
        n = put(line, n, "\",\"module\":\"", 12);
        n = put(line, n, module, modlen);
        n = put(line, n, "\",\"msg\":\"", 9);
        n = escape_into(line, n, sizeof line - 3, msg, mlen, 1);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        stamp(line);
        n = put(line, 24, " ", 1);
        n = put(line, n, level_padded[level], 5);
        line[n++] = ' ';
        n = put(line, n, L.process, strlen(L.process));
        line[n++] = ' ';
        n = put(line, n, module, modlen);
        n = put(line, n, ": ", 2);
        /* one event, one line: CR, LF and every other control character are escaped */
        n = escape_into(line, n, sizeof line - 1, msg, mlen, 0);
    }
    line[n++] = '\n';
    emit(line, n, batch);
}


void
vg_log_raw(enum vg_log_level level, const char *module, const char *msg, size_t len)
{
    if (!vg_log_enabled(level))
        return;
    format_line(level, module, msg, len, 0);
}


void
vg_log_access(enum vg_log_level level, const char *msg, size_t len)
{
    if (!vg_log_enabled(level))
        return;
    format_line(level, "access", msg, len, 1);
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
    format_line(level, module, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, 0);
}
