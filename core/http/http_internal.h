/*
 * http_internal: what the files of the HTTP layer share (connection.c: the
 * server object and the connection protocol; request.c: reading a
 * request; response.c: answering it). Not for other modules.
 */
#ifndef VG_HTTP_INTERNAL_H
#define VG_HTTP_INTERNAL_H

#include <stddef.h>

#include <llhttp.h>

#include "base/metrics.h"
#include "http/framing.h"
#include "http/http.h"
#include "net/server.h"

#define VG_HTTP_MAX_FILTERS 8
#define VG_HTTP_MAX_INTERCEPTORS 4

enum vg_http__state {
    H_IDLE,       /* waiting for the first byte of a request */
    H_HEAD,       /* reading request line and headers */
    H_BODY,       /* reading the body */
    H_HANDLING,   /* a handler owns the request */
    H_WRITING     /* response queued, waiting for it to drain */
};

struct vg_http {
    vg_server *srv;
    vg_router router;
    vg_handler_fn fallback;            /* GET/HEAD without a route (static files), or NULL */
    void *fallback_ud;
    struct vg_http__filter {
        vg_request_filter_fn fn;
        void *ud;
    } filters[VG_HTTP_MAX_FILTERS];    /* before every routed handler, in order */
    int n_filters;
    struct vg_http__resp_filter {
        vg_response_filter_fn fn;
        void *ud;
    } resp_filters[VG_HTTP_MAX_FILTERS];   /* on every answer's headers */
    int n_resp_filters;
    struct vg_http__interceptor {
        const char *label;             /* the metrics' route label */
        int (*claims)(const vg_req *r, void *ud);
        vg_handler_fn fn;
        void *ud;
    } interceptors[VG_HTTP_MAX_INTERCEPTORS];
    int n_interceptors;
    vg_upgrade_refusal_fn upgrade_refusal;
    void *upgrade_refusal_ud;
    struct vg_http__dialect {
        const char *prefix;
        size_t prefix_len;
        vg_error_dialect_fn fn;
        void *ud;
    } dialects[VG_HTTP_MAX_DIALECTS];  /* error shapes by path prefix */
    int n_dialects;
    vg_metric *m_requests, *m_latency;
    size_t body_bytes;                 /* allocated for the bodies of requests in flight (limits.body_memory) */
    int requests_reading;              /* requests whose head is in and whose body is still arriving */
    vg_series *m_body_bytes, *m_body_refused;
};

typedef struct vg_http__conn vg_http__conn;

struct vg_http__hdr_off {
    size_t name_off, name_len, value_off, value_len;
};

struct vg_req {
    vg_http__conn *hc;           /* NULL once orphaned */
    vg_http *http;
    char peer[64];
    unsigned method;
    const char *method_name;
    int http_minor;
    vg_buf head;                 /* the target, then header names and values */
    size_t url_len;
    size_t header_bytes;
    struct vg_http__hdr_off *offs;
    vg_header *hdrs;             /* resolved when the head is complete */
    int nhdrs, cap_hdrs;
    int in_value;                /* llhttp is inside a header value */
    int headers_done;            /* trailers are counted but not stored */
    vg_str path, query;
    const vg_route *route;
    const char *label;           /* the metrics' route label when no route matched */
    vg_handler_fn fn;
    void *fn_ud;
    vg_str params[VG_ROUTE_MAX_PARAMS];
    int nparams;
    vg_buf body;
    size_t body_limit;
    size_t body_declared;        /* Content-Length; 0 when chunked */
    size_t body_charged;         /* bytes of body's allocation counted in http->body_bytes */
    int reading_body;            /* counted in http->requests_reading */
    int discard_body;            /* an error is already decided: don't keep the body */
    int cb_failed;               /* a callback stopped the parser with early_status */
    int filtered;                /* the filters ran at the end of the head */
    int filter_resume;           /* 1 + the filter that asked to run again after the body; 0: none */
    int filter_pass;             /* 1 while the filters run at the end of the head, 2 after the body they waited for */
    int early_status;            /* error decided while parsing (404, 405, 413...) */
    const char *early_code;
    char early_msg[160];
    unsigned allow;              /* methods for a 405 */
    vg_buf resp_headers;         /* "Name: value\r\n" lines added by the handler */
    int keep_alive;
    int upgrade;
    double started;
    void *data;
    void *identity;              /* the caller, as a request filter established it */
    void (*identity_release)(void *identity);
    void (*on_abort)(vg_req *r, void *ud);
    void *abort_ud;
    const char *err_code;        /* for the access log */
    char *err_msg;
};

struct vg_http__conn {
    vg_http *http;
    vg_conn *conn;
    llhttp_t parser;
    vg_framing_scan scan;        /* the head's bytes, before llhttp reads them */
    vg_req *req;
    enum vg_http__state state;
    vg_buf pending;              /* pipelined bytes read while a request was handled */
    int in_parse;
    int upgraded;                /* the connection now speaks another protocol */
    int answered_in_head;        /* a filter answered before the body was read */
};

/* request.c */
vg_req *vg_http__req_create(vg_http__conn *hc);
void vg_http__req_destroy(vg_req *r);
/* Records an error found while parsing; the request is answered with it when complete. */
void vg_http__early_error(vg_req *r, int status, const char *code, const char *msg);

/* Gives back what r's body held of the server's body budget (when r is freed). */
void vg_http__body_release(vg_req *r);
/* The request no longer reads its body (complete, refused or freed): uncounts it once. */
void vg_http__reading_done(vg_req *r);
/* Counts `more` body bytes of r against limits.body_memory: 0, or -1 (nothing counted) when it is full. */
int vg_http__body_charge(vg_req *r, size_t more);
/* Gives back `less` of what r counts (at most what it counts). */
void vg_http__body_uncharge(vg_req *r, size_t less);

/* connection.c: after an upgrade, frees the HTTP state and gives what followed the request to the new protocol. */
void vg_http__handover(vg_http__conn *hc);

#endif
