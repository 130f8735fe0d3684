/*
 * http: HTTP/1.1 on a connection, parsed with llhttp.
 *
 * One request at a time per connection: while a request is being handled
 * the connection stops reading, and pipelined bytes already read wait in a
 * small buffer, so responses always leave in request order. Handlers may
 * answer at once or later (after a worker replies); a handler must call
 * exactly one vg_req_respond* / vg_req_error for every request it gets.
 *
 * If the client disconnects while a handler still owns the request, the
 * request stays valid (vg_req_is_orphan() tells) and the response, when
 * it comes, is discarded and the request freed.
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "net/conn.h"
#include "http/router.h"

struct vg_server;

typedef struct vg_header {
    vg_str name;
    vg_str value;
} vg_header;

typedef struct vg_req vg_req;

/* Accepts a new HTTP connection on fd. */
vg_conn *vg_http_accept(struct vg_server *srv, int fd, const char *peer);

/* ---- reading the request ---- */
unsigned vg_req_method(const vg_req *r);          /* VG_M_* bit */
const char *vg_req_method_name(const vg_req *r);
vg_str vg_req_path(const vg_req *r);              /* raw, percent-encoded, without the query */
vg_str vg_req_query(const vg_req *r);             /* after '?', raw; empty when none */
vg_str vg_req_target(const vg_req *r);            /* the whole request-target */
/* First header of that name (case-insensitive); .p NULL when absent. */
vg_str vg_req_header(const vg_req *r, const char *name);
int vg_req_header_count(const vg_req *r);
const vg_header *vg_req_header_at(const vg_req *r, int i);
/* The route's i-th path parameter, raw. */
vg_str vg_req_param(const vg_req *r, int i);
/* Decoded query parameter into out (NUL-terminated); 0 found, -1 absent or malformed. */
int vg_req_query_get(const vg_req *r, const char *name, vg_buf *out);
vg_str vg_req_body(const vg_req *r);
/* Hands the body's memory to the caller (free() it); the request's body is empty after. */
char *vg_req_take_body(vg_req *r, size_t *len);
/*
 * Called once if the client goes away while the handler still owns the
 * request (the request is then an orphan). The handler should stop its
 * work and answer (the answer is discarded); it may answer from inside fn.
 */
void vg_req_on_abort(vg_req *r, void (*fn)(vg_req *r, void *ud), void *ud);
const char *vg_req_peer(const vg_req *r);
struct vg_server *vg_req_server(const vg_req *r);
/* The connection the request came on; NULL once orphaned. */
vg_conn *vg_req_conn(const vg_req *r);
const vg_route *vg_req_route(const vg_req *r);
int vg_req_is_orphan(const vg_req *r);
/* Monotonic start time of the request, seconds (loop time). */
double vg_req_started(const vg_req *r);
/* Per-request slot for the handler's state. */
void vg_req_set_data(vg_req *r, void *data);
void *vg_req_data(const vg_req *r);

/* ---- answering ---- */
/* Adds a response header ("Name", "value"); call before respond. */
void vg_req_add_header(vg_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies len bytes of body. */
void vg_req_respond(vg_req *r, int status, const char *content_type, const void *body, size_t len);
/* Takes the buffer's memory as the body; the buf is left empty. */
void vg_req_respond_buf(vg_req *r, int status, const char *content_type, vg_buf *body);
/* Sends bytes [off, off+len) of fd and closes it after; takes ownership of fd. */
void vg_req_respond_file(vg_req *r, int status, const char *content_type, int fd, off_t off, size_t len);
/*
 * Answers {"error":{"code":CODE,"message":MSG}} with that status, and puts
 * the code and message on the request's access-log line.
 */
void vg_req_error(vg_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Ends HTTP on this connection (WebSocket): answers `status` (101) with
 * the headers added so far, frees the request, and makes `proto` the
 * connection's protocol; bytes that followed the request are given to its
 * on_read. Returns the connection, or NULL if the client is gone (the
 * request is freed either way).
 */
vg_conn *vg_req_upgrade(vg_req *r, int status, const vg_proto *proto, void *proto_ctx);

/*
 * Browsers show a WebSocket client nothing of an HTTP error answered to its
 * upgrade request (only close code 1006). When set, this hook is offered
 * every error answer to an upgrade request; it returns 1 when it answered
 * instead (WebSocket: upgrade, an error message, close 4000+status).
 */
typedef int (*vg_upgrade_refusal_fn)(vg_req *r, int status, const char *code, const char *message);
void vg_http_set_upgrade_refusal(vg_upgrade_refusal_fn fn);
/* 1 when the request asks for a protocol upgrade (Upgrade + Connection: upgrade). */
int vg_req_is_upgrade(const vg_req *r);

/*
 * For routes that must answer errors in another protocol's shape (KServe,
 * DeepStack): puts the code and message on the request's access-log line,
 * as vg_req_error does, without answering. Call before vg_req_respond*.
 */
void vg_req_log_error(vg_req *r, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Percent-decodes into out; plus_space turns '+' into ' ' (query strings). Returns 0 or -1. */
int vg_url_decode(const char *s, size_t n, vg_buf *out, int plus_space);
const char *vg_http_reason(int status);

/* The Date header value for now, cached per second. */
const char *vg_http_date(void);
/* RFC 7231 date parsing for If-Modified-Since; -1 when malformed. */
int64_t vg_http_parse_date(const char *s, size_t n);
void vg_http_format_date(int64_t t, char out[32]);

#endif
