/*
 * log: one line per event, to stderr or a file, as text or JSON lines.
 *
 * In the master every line is appended to a bounded in-memory queue
 * (256 KiB), written by the reactor without ever blocking it; lines that
 * do not fit are dropped and counted. Event lines are written at once with
 * whatever is queued before them; access lines (vg_log_access) wait, as
 * nginx's access_log buffer= flush= do, until 64 KiB are queued or the
 * flush interval has passed, so that a busy server writes its access log
 * in a few large writes. Other processes (workers, the store, CLI
 * commands) call vg_log_set_blocking(1) and write each line directly.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stddef.h>
#include <stdint.h>

enum vg_log_level {
    VG_LOG_DEBUG = 0,
    VG_LOG_INFO = 1,
    VG_LOG_WARN = 2,
    VG_LOG_ERROR = 3,
    VG_LOG_OFF = 4
};

enum vg_log_format {
    VG_LOG_TEXT = 0,
    VG_LOG_JSON = 1
};

struct ev_loop;

/* Parses "debug|info|warn|error"; returns 0 or -1. */
int vg_log_level_parse(const char *s, enum vg_log_level *out);
const char *vg_log_level_name(enum vg_log_level level);

void vg_log_set_level(enum vg_log_level level);
enum vg_log_level vg_log_get_level(void);
void vg_log_set_format(enum vg_log_format format);
/* The name put in every line ("master", "worker yolo#2", ...). Copied. */
void vg_log_set_process(const char *name);
/* Write every line synchronously (workers, CLI). Default in a new process: 1. */
void vg_log_set_blocking(int blocking);
/* Log to this fd from now on (default 2). Not closed by the log. */
void vg_log_set_fd(int fd);
/* The fd lines go to (what a forked helper should log to). */
int vg_log_get_fd(void);
/* Master only: start flushing queued lines from `loop`. */
void vg_log_attach(struct ev_loop *loop);
/*
 * How long an access line may wait in the master's queue before it is
 * written (log.flush); 0 writes each line at once. Default 0.1 s.
 */
void vg_log_set_flush(double seconds);
/* Writes whatever is queued, blocking; for exit paths and before fork. */
void vg_log_flush(void);
/* Lines dropped because the queue was full. */
uint64_t vg_log_dropped(void);

int vg_log_enabled(enum vg_log_level level);
/* `module` is a short tag ("http", "pool", ...). The message gets no newline. */
void vg_log(enum vg_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A line already formatted as key/values (JSON events); written like vg_log's lines. */
void vg_log_raw(enum vg_log_level level, const char *module, const char *msg, size_t len);
/*
 * A request's line under the module "access": escaped like every line, and
 * in the master queued until 64 KiB wait or the flush interval has passed
 * (vg_log_set_flush); vg_log_flush and vg_log_set_blocking(1) write it.
 */
void vg_log_access(enum vg_log_level level, const char *msg, size_t len);

#define vg_debug(mod, ...) do { if (vg_log_enabled(VG_LOG_DEBUG)) vg_log(VG_LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define vg_info(mod, ...) vg_log(VG_LOG_INFO, mod, __VA_ARGS__)
#define vg_warn(mod, ...) vg_log(VG_LOG_WARN, mod, __VA_ARGS__)
#define vg_error(mod, ...) vg_log(VG_LOG_ERROR, mod, __VA_ARGS__)

#endif
