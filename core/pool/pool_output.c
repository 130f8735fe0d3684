/*
 * pool_output: what a worker's plugin writes on its stdout and stderr.
 *
 * Each worker's fds 1 and 2 are the write end of one pipe (its own log
 * lines go elsewhere: to the server's log fd). The master reads the other
 * end on its loop, non-blocking, and sends each line through vg_log, so
 * --log-file and JSON logs get them, tagged `worker MODEL#N pid P: ...`.
 * A plugin cannot flood the log: per worker at most VG_POOL_OUT_LINES
 * lines and VG_POOL_OUT_BYTES bytes a second are logged, the rest counted
 * and reported as one "suppressed K lines" line; a line longer than
 * VG_POOL_OUT_LINE is cut; control characters become '?'. What is beyond
 * the limits is still read (a plugin blocked on a full pipe would stall
 * its inference), only not logged.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "pool/pool_internal.h"

#define READ_CHUNK   16384
#define READS_MAX    8             /* per wakeup: other watchers get their turn */


/* Logs the count of lines the limits held back since the last report. */
static void
report_suppressed(worker *w)
{
    vg_pool_out *o = &w->output;
    ev_timer_stop(w->m->pool->loop, &o->report);
    if (!o->suppressed)
        return;
    vg_warn("plugin", "worker %s#%d pid %d: suppressed %llu line(s) of plugin output (more than %d lines or "
            "%d KiB a second)", w->m->name, w->slot, (int)w->pid, (unsigned long long)o->suppressed,
            VG_POOL_OUT_LINES, VG_POOL_OUT_BYTES >> 10);
    o->suppressed = 0;
}


/* One complete (or cut) line of o->line: logged, or counted when over the limits. */
static void
emit_line(worker *w, int cut)
{
    vg_pool_out *o = &w->output;
    size_t n = o->len;
    o->len = 0;
    while (n && o->line[n - 1] == '\r')
        n--;
    ev_tstamp now = ev_now(w->m->pool->loop);
    if (now - o->window >= 1.0) {
        o->window = now;
        o->lines = 0;
        o->bytes = 0;
        report_suppressed(w);
    }
    if (o->lines >= VG_POOL_OUT_LINES || o->bytes + n > VG_POOL_OUT_BYTES) {
        if (!o->suppressed++) {
            ev_timer_set(&o->report, 1.0 - (now - o->window), 0);
            ev_timer_start(w->m->pool->loop, &o->report);
        }
        return;
    }
    o->lines++;
    o->bytes += n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)o->line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            o->line[i] = '?';
    }
    vg_info("plugin", "worker %s#%d pid %d: %.*s%s", w->m->name, w->slot, (int)w->pid, (int)n, o->line,
            cut ? " [cut]" : "");
}


/* Splits bytes read from the pipe into lines. */
static void
take(worker *w, const char *p, size_t n)
{
    vg_pool_out *o = &w->output;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (o->cutting)
                o->cutting = 0;
            else
                emit_line(w, 0);
            continue;
        }
        if (o->cutting)
            continue;
        if (o->len == VG_POOL_OUT_LINE) {
            emit_line(w, 1);
            o->cutting = 1;
            continue;
        }
        o->line[o->len++] = p[i];
    }
}


/* Reads what the pipe holds now (at most READS_MAX chunks); closes it at EOF. */
static void
drain(worker *w)
{
    vg_pool_out *o = &w->output;
    char buf[READ_CHUNK];
    for (int i = 0; o->fd >= 0 && i < READS_MAX; i++) {
        ssize_t r = read(o->fd, buf, sizeof buf);
        if (r > 0)
            take(w, buf, (size_t)r);
        else if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        else
            vg_pool__output_stop(w);   /* EOF or an error: nobody writes any more */
    }
}


static void
on_output(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    drain(io->data);
}


static VG_POOL__EV_CB(on_report, ev_timer, report_suppressed)


void
vg_pool__output_start(worker *w, int fd)
{
    vg_pool_out *o = &w->output;
    memset(o, 0, sizeof *o);
    o->fd = fd;
    ev_timer_init(&o->report, on_report, 1.0, 0);
    o->report.data = w;
    if (fd < 0)
        return;
    ev_io_init(&o->io, on_output, fd, EV_READ);
    o->io.data = w;
    ev_io_start(w->m->pool->loop, &o->io);
}


void
vg_pool__output_stop(worker *w)
{
    vg_pool_out *o = &w->output;
    if (o->fd < 0)
        return;
    int fd = o->fd;
    ev_io_stop(w->m->pool->loop, &o->io);
    o->fd = -1;
    char buf[READ_CHUNK];
    for (int i = 0; i < 4 * READS_MAX; i++) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            break;
        if (r > 0)
            take(w, buf, (size_t)r);
    }
    close(fd);
    if (o->len)
        emit_line(w, 0);
    report_suppressed(w);
}
