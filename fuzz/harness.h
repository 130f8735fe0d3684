/*
 * fuzz/harness: what the harnesses that drive a real vg_server share: one
 * request/answer exchange over a socketpair through the real connection
 * code, a strict reader of the HTTP/1.1 responses that come back, and
 * their set-up (a temporary directory, config keys).
 */
#ifndef VG_FUZZ_HARNESS_H
#define VG_FUZZ_HARNESS_H

#include <stddef.h>

#include "base/buf.h"
#include "base/config.h"
#include "net/server.h"

/*
 * Makes a directory named after `prefix` in /dev/shm (under /tmp where
 * there is none), removed with all it holds when the process exits. Its
 * path goes to root (at least 64 bytes). Aborts on failure.
 */
void fz_temp_root(const char *prefix, char *root, size_t cap);

/*
 * Writes models_dir/m/model.conf: a model "m" that the pool lists but never
 * loads (with detect.load = not-loaded), so requests for it parse, then are
 * refused without a worker. Aborts on failure.
 */
void fz_write_unloaded_model(const char *models_dir);

/* Sets one config key as the config file would; aborts with the reason when it is refused. */
void fz_config_set(vg_config *cfg, const char *section, const char *key, const char *value);

/* One response cut out of the bytes the server wrote. */
typedef struct fz_resp {
    int status;
    const char *head;              /* status line and headers, without the blank line */
    size_t head_len;
    const char *body;
    size_t body_len;               /* = Content-Length */
} fz_resp;

/*
 * Writes `n` bytes of `req` to a new connection of `srv` (adopted over a
 * socketpair) and runs the loop until the server has closed the
 * connection or `timeout` seconds passed. The request should end with
 * "Connection: close" (a half-close would read as a client gone, whose
 * pending request is cancelled). Everything the server
 * wrote is appended to out. Returns 0, or -1 when the server neither
 * answered nor closed in time (a hang: the caller aborts). Closes every
 * connection left before returning, so the server is idle after.
 */
int fz_exchange(vg_server *srv, const void *req, size_t n, vg_buf *out, double timeout);

/*
 * Reads the response at p[*at..n): a "HTTP/1.1 NNN reason" line, headers,
 * and exactly Content-Length bytes of body (0 when absent). Advances *at.
 * Returns 0, or -1 when the bytes are not such a response.
 */
int fz_response(const char *p, size_t n, size_t *at, fz_resp *r);

/* The value of header `name` in r's head (case-insensitive), or .p NULL. */
vg_str fz_header(const fz_resp *r, const char *name);

/*
 * 1 when r is a JSON error answer as every route gives one: status 4xx or
 * 5xx, Content-Type application/json, body {"error": {"code": string,
 * "message": string}}.
 */
int fz_is_json_error(const fz_resp *r);

#endif
