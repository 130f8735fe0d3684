/*
 * http: HTTP/1.1 on a connection, parsed with llhttp, and the server
 * object that holds what HTTP needs: the routes (each with who may call
 * it), the request filters run before a routed handler (authentication,
 * rate limits), response filters (CORS headers), interceptors for requests
 * about the server rather than to a route (CORS preflight), the fallback
 * for GET/HEAD without a route (static files), request metrics and the
 * access log. Limits and timeouts come from the server's current config.
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
#include "http/router.h"
#include "net/conn.h"
#include "net/server.h"

typedef struct vg_header {
    vg_str name;
    vg_str value;
} vg_header;

typedef struct vg_req vg_req;
typedef struct vg_http vg_http;

/* ---- the server object ---- */

/* Makes HTTP the protocol of srv's accepted connections. */
vg_http *vg_http_create(vg_server *srv);
void vg_http_destroy(vg_http *h);
vg_server *vg_http_server(const vg_http *h);

/*
 * Adds a route (router.h): methods, pattern, handler, its body limit (0:
 * limits.max_body) and `access`, who may call it: a non-zero value the
 * request filters interpret (the auth layer's VG_ACCESS_*). Returns the
 * route, or NULL when the pattern is malformed or access is 0 (a bug:
 * logged).
 */
const vg_route *vg_http_route(vg_http *h, unsigned methods, const char *pattern, vg_handler_fn fn, void *ud,
                              size_t max_body, int access);

/* Calls fn for every route, in registration order (a route table for the API's own listing). */
void vg_http_each_route(const vg_http *h, void (*fn)(const vg_route *route, void *ud), void *ud);

/*
 * A request filter runs for every routed request before its handler
 * (after the head when a body follows, so a refused client need not send
 * it; else when the request is complete), not for static files, interceptors
 * or early errors. Returns VG_FILTER_PASS to let the request go on, or
 * VG_FILTER_ANSWERED when it has answered the request itself (e.g. 429
 * from a rate limit). Filters run in the order they were added.
 *
 * A filter that needs the body (a credential sent as a form field) may
 * return VG_FILTER_AFTER_BODY while vg_req_body_pending(r): the body is
 * then read, within the route's limit, and that filter and those after it
 * run again once it is in, with vg_req_filter_again(r) true, before the
 * handler. Returned at any other time it is VG_FILTER_PASS.
 */
enum { VG_FILTER_PASS = 0, VG_FILTER_ANSWERED = 1, VG_FILTER_AFTER_BODY = 2 };
typedef int (*vg_request_filter_fn)(vg_req *r, void *ud);
void vg_http_add_filter(vg_http *h, vg_request_filter_fn fn, void *ud);
/* A response filter adds headers to every answer (it runs before the head is written). */
typedef void (*vg_response_filter_fn)(vg_req *r, void *ud);
void vg_http_add_response_filter(vg_http *h, vg_response_filter_fn fn, void *ud);
/*
 * An interceptor takes requests about the server rather than to a route
 * (a CORS preflight): when claims(r) says 1 once the head is read, fn
 * handles the request instead of the router; `label` names it in metrics.
 */
void vg_http_add_interceptor(vg_http *h, const char *label, int (*claims)(const vg_req *r, void *ud),
                             vg_handler_fn fn, void *ud);
/* The handler of GET/HEAD requests no route matches (static files), or NULL. */
void vg_http_set_fallback(vg_http *h, vg_handler_fn fn, void *ud);
/*
 * Requests whose head has been read and whose body is still arriving. A
 * drain lets them finish: they were sent before it began (the pool waits
 * for them before it stops taking jobs).
 */
int vg_http_requests_reading(const vg_http *h);
/* The methods `path` accepts (method: the one to match first); 0 when nothing serves it. */
unsigned vg_http_methods_at(const vg_http *h, unsigned method, vg_str path);

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
/* The same from name=value&... pairs in s (a query or a urlencoded form). */
int vg_form_get(const char *s, size_t n, const char *name, vg_buf *out);
/*
 * A field of the body's form (multipart/form-data, not a file part, or
 * application/x-www-form-urlencoded) into out, NUL-terminated: 0 found,
 * -1 absent, not a form, or malformed. Parses the body on each call.
 */
int vg_req_form_get(const vg_req *r, const char *name, vg_buf *out);
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
vg_server *vg_req_server(const vg_req *r);
vg_http *vg_req_http(const vg_req *r);
/* The connection the request came on; NULL once orphaned. */
vg_conn *vg_req_conn(const vg_req *r);
const vg_route *vg_req_route(const vg_req *r);
int vg_req_is_orphan(const vg_req *r);
/* In a request filter: 1 when it runs at the end of the head and a body is still to come. */
int vg_req_body_pending(const vg_req *r);
/* In a request filter: 1 when it runs again after the body it asked for (VG_FILTER_AFTER_BODY). */
int vg_req_filter_again(const vg_req *r);
/* Monotonic start time of the request, seconds (loop time). */
double vg_req_started(const vg_req *r);
/* Per-request slot for the handler's state. */
void vg_req_set_data(vg_req *r, void *data);
void *vg_req_data(const vg_req *r);
/*
 * The caller, as a request filter established it (the auth layer's
 * principal); NULL when no filter set one. The request owns it and calls
 * release(identity) when it is freed or the identity replaced.
 */
void vg_req_set_identity(vg_req *r, void *identity, void (*release)(void *identity));
void *vg_req_identity(const vg_req *r);

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
typedef int (*vg_upgrade_refusal_fn)(vg_req *r, int status, const char *code, const char *message, void *ud);
void vg_http_set_upgrade_refusal(vg_http *h, vg_upgrade_refusal_fn fn, void *ud);
/* 1 when the request asks for a protocol upgrade (Upgrade + Connection: upgrade). */
int vg_req_is_upgrade(const vg_req *r);

/*
 * An error dialect: every error answered through vg_req_error to a path
 * under `prefix` (including those the HTTP layer and the request filters
 * answer: 401, 404 for no route, 405, 413, 429, 503) gets its body from
 * fn instead of {"error":{"code","message"}}, for protocols whose clients
 * read another shape (DeepStack's {"success":false,"error":"..."}, KServe's
 * {"error":"..."}). fn writes a JSON body into `body`; the status, the
 * headers and the access-log line stay as they are. The longest matching
 * prefix wins; at most VG_HTTP_MAX_DIALECTS. `prefix` must outlive h.
 */
#define VG_HTTP_MAX_DIALECTS 8
typedef void (*vg_error_dialect_fn)(vg_req *r, int status, const char *code, const char *message, vg_buf *body,
                                    void *ud);
void vg_http_add_error_dialect(vg_http *h, const char *prefix, vg_error_dialect_fn fn, void *ud);

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
