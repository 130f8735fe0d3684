/* cors: see cors.h. */
#include "http/cors.h"

#include <string.h>

#include "http/http.h"

#define MAX_REQUEST_HEADERS_LEN 512

int
vg_cors_origin_allowed(const char *list, vg_str origin)
{
    if (!list[0] || !origin.p || origin.n == 0)
        return 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if ((n == 1 && *p == '*') || (n == origin.n && memcmp(p, origin.p, n) == 0))
            return 1;
        p = e;
    }
    return 0;
}


/* Header values we echo must be plain tokens: no CR/LF or other controls. */
static int
safe_value(vg_str v, size_t max)
{
    if (v.n > max)
        return 0;
    for (size_t i = 0; i < v.n; i++)
        if ((unsigned char)v.p[i] < 0x20 || v.p[i] == 0x7f)
            return 0;
    return 1;
}


/* The response filter: the headers, when the request's Origin is allowed. */
static void
add_headers(vg_req *r, void *ud)
{
    const vg_config *cfg = vg_server_config(vg_http_server(ud));
    if (!cfg->cors_origins[0])
        return;
    vg_str origin = vg_req_header(r, "origin");
    if (!vg_cors_origin_allowed(cfg->cors_origins, origin) || !safe_value(origin, 256))
        return;
    vg_req_add_header(r, "Access-Control-Allow-Origin", "%.*s", (int)origin.n, origin.p);
    vg_req_add_header(r, "Vary", "Origin");
    vg_req_add_header(r, "Access-Control-Expose-Headers", "Retry-After, Content-Range, ETag");
}


/* A preflight: OPTIONS asking which method the real request may use. */
static int
is_preflight(const vg_req *r, void *ud)
{
    (void)ud;
    return vg_req_method(r) == VG_M_OPTIONS && vg_req_header(r, "access-control-request-method").p;
}


/* Answers a preflight about the route, not to it: 204 with the allowed methods, or 403/404. */
static void
preflight(vg_req *r, void *ud)
{
    vg_http *h = ud;
    const vg_config *cfg = vg_server_config(vg_http_server(h));
    vg_str origin = vg_req_header(r, "origin");
    vg_str want = vg_req_header(r, "access-control-request-method");
    if (!vg_cors_origin_allowed(cfg->cors_origins, origin) || !safe_value(origin, 256)) {
        vg_req_error(r, 403, "cors_forbidden", "origin not allowed (see cors.origins)");
        return;
    }
    unsigned allow = vg_http_methods_at(h, vg_method_bit(want.p, want.n), vg_req_path(r));
    if (!allow) {
        vg_req_error(r, 404, "not_found", "no such resource");
        return;
    }
    vg_buf methods;
    vg_buf_init(&methods);
    vg_methods_format(allow, &methods);
    vg_req_add_header(r, "Access-Control-Allow-Methods", "%s", vg_buf_cstr(&methods));
    vg_buf_release(&methods);
    vg_str hdrs = vg_req_header(r, "access-control-request-headers");
    if (hdrs.p && safe_value(hdrs, MAX_REQUEST_HEADERS_LEN))
        vg_req_add_header(r, "Access-Control-Allow-Headers", "%.*s", (int)hdrs.n, hdrs.p);
    vg_req_add_header(r, "Access-Control-Max-Age", "%.0f", cfg->cors_max_age);
    vg_req_respond(r, 204, NULL, NULL, 0);
}


void
vg_cors_install(vg_http *h)
{
    vg_http_add_response_filter(h, add_headers, h);
    vg_http_add_interceptor(h, "preflight", is_preflight, preflight, h);
}
