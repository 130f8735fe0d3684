/*
 * log: one line per event, to stderr or a file, as text or JSON lines.
 *
 * In the master the line is appended to a bounded in-memory queue and
 * written by the reactor when the fd is writable, so logging never blocks
 * the loop; lines that do not fit are dropped and counted. Other processes
 * (workers, the store, CLI commands) call vg_log_set_blocking(1) and write
 * each line directly.
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
/* Master only: start flushing queued lines from `loop`. */
void vg_log_attach(struct ev_loop *loop);
/* Writes whatever is queued, blocking; for exit paths. */
void vg_log_flush(void);
/* Lines dropped because the queue was full. */
uint64_t vg_log_dropped(void);

int vg_log_enabled(enum vg_log_level level);
/* `module` is a short tag ("http", "pool", ...). The message gets no newline. */
void vg_log(enum vg_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A line already formatted as key/values: the access log and JSON events. */
void vg_log_raw(enum vg_log_level level, const char *module, const char *msg, size_t len);

#define vg_debug(mod, ...) do { if (vg_log_enabled(VG_LOG_DEBUG)) vg_log(VG_LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define vg_info(mod, ...) vg_log(VG_LOG_INFO, mod, __VA_ARGS__)
#define vg_warn(mod, ...) vg_log(VG_LOG_WARN, mod, __VA_ARGS__)
#define vg_error(mod, ...) vg_log(VG_LOG_ERROR, mod, __VA_ARGS__)

#endif
