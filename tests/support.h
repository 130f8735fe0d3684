/*
 * support: what the integration tests share: starting a real vigia on
 * 127.0.0.1 with an ephemeral port (the built binary, or an in-process
 * server in a forked child with routes of the test's own), raw blocking
 * sockets with timeouts, and a small HTTP/1.1 response reader.
 *
 * Include after <cmocka.h>'s prerequisites; all functions fail the current
 * test (cmocka fail_msg) on errors they cannot report otherwise.
 */
#ifndef VG_TEST_SUPPORT_H
#define VG_TEST_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

struct vg_http;

typedef struct ts_server {
    pid_t pid;
    int port;
    char host_port[64];     /* "127.0.0.1:PORT" */
    char dir[256];          /* temp dir: data, logs */
    char log[300];          /* the server's stderr */
} ts_server;

/* Makes a fresh temp directory (under $TMPDIR), returns a static path copy. */
void ts_mkdtemp(char *out, size_t n);

/*
 * Runs $VIGIA_BIN with "--listen 127.0.0.1:0 --data DIR/data --models DIR/models"
 * (an empty directory) plus `args` (a --listen in args replaces the default one)
 * (NULL-terminated) and waits for its "serving" line. Environment entries
 * in `env` ("NAME=value", NULL-terminated, may be NULL) are added.
 */
void ts_spawn(ts_server *s, const char *const *args, const char *const *env);

/* In a forked child: a server on 127.0.0.1:0 whose routes `setup` adds. */
typedef void (*ts_setup_fn)(struct vg_http *http);
void ts_spawn_inproc(ts_server *s, ts_setup_fn setup, const char *const *config_args);

/* Sends sig and waits up to `secs` for exit; returns the exit status, or -1 (then SIGKILLs). */
int ts_stop(ts_server *s, int sig, double secs);
/* Is the process still running? */
int ts_alive(const ts_server *s);
/* The server's log so far (malloc'd). */
char *ts_read_log(const ts_server *s);
/*
 * The server's log (malloc'd) once it holds `needle`, polled for up to
 * `secs`; the log as it is then if it never does. For access lines, which
 * the server writes in batches (log.flush).
 */
char *ts_wait_log(const ts_server *s, const char *needle, double secs);

int ts_connect(int port);
/*
 * Reads exactly n bytes, taking first what ts_read_response read past its
 * response (e.g. WebSocket frames behind a 101). Returns n, fewer at EOF, or -1.
 */
ssize_t ts_recv_exact(int fd, void *buf, size_t n);
/* Closes and forgets bytes buffered for fd. Use instead of close(). */
void ts_close(int fd);
void ts_send(int fd, const void *p, size_t n);
void ts_send_str(int fd, const char *s);
/* Reads whatever arrives within `secs`; returns bytes (0 at EOF, -1 timeout with nothing). */
ssize_t ts_recv_some(int fd, char *buf, size_t n, double secs);
/* 1 when the peer closed (EOF or reset) within secs, 0 otherwise. */
int ts_wait_closed(int fd, double secs);

typedef struct ts_resp {
    int status;
    char head[16384];       /* status line and headers, NUL-terminated */
    char *body;             /* malloc'd, NUL-terminated */
    size_t body_len;
} ts_resp;

/*
 * Reads one response from fd. `head_request`: the request was HEAD (no body
 * follows). Returns 0, or -1 when the connection ended or timed out first.
 */
int ts_read_response(int fd, ts_resp *r, int head_request);
/* A header's value (first match, case-insensitive) copied into a static buffer, or NULL. */
const char *ts_header(const ts_resp *r, const char *name);
void ts_resp_free(ts_resp *r);

/* Connect, send raw, read one response, close. Returns ts_read_response's result. */
int ts_request(int port, const char *raw, ts_resp *r);
/* GET path with Connection: close; returns the status (body in r). */
int ts_get(int port, const char *path, ts_resp *r);

/* Writes a file (creating directories is the caller's job). */
void ts_write_file(const char *path, const void *data, size_t n);
/* ../shared directory: $VIGIA_SHARED or $VIGIA_SRCDIR/../shared. */
const char *ts_shared_dir(void);

#endif
