/* openapi_api: see openapi_api.h. */
#include "api/openapi_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/log.h"
#include "http/http.h"
#include "http/reply.h"

#define OPENAPI_MAX_BYTES (4u << 20)

struct vg_openapi_api {
    vg_buf doc;          /* the JSON document; empty when it could not be read */
    char *path;          /* where it was looked for, for the 404's message */
};

static const struct {
    unsigned bit;
    const char *name;
} method_names[] = {
    { VG_M_GET, "GET" }, { VG_M_HEAD, "HEAD" }, { VG_M_POST, "POST" }, { VG_M_PUT, "PUT" },
    { VG_M_DELETE, "DELETE" }, { VG_M_PATCH, "PATCH" }, { VG_M_OPTIONS, "OPTIONS" },
};


/* Reads the whole file into out, within OPENAPI_MAX_BYTES. Returns 0, or -1 with why set. */
static int
read_doc(const char *path, vg_buf *out, char *why, size_t whylen)
{
    int rc = -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        goto out;
    }
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > OPENAPI_MAX_BYTES) {
            snprintf(why, whylen, "larger than %u bytes", OPENAPI_MAX_BYTES);
            goto out;
        }
        vg_buf_append(out, chunk, n);
    }
    if (ferror(f)) {
        snprintf(why, whylen, "read error");
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    if (rc != 0)
        out->len = 0;
    return rc;
}


static void
route_openapi(vg_req *r, void *ud)
{
    vg_openapi_api *api = ud;
    if (!api->doc.len) {
        vg_req_error(r, 404, "not_found", "the OpenAPI document is not installed (%s)", api->path);
        return;
    }
    vg_req_add_header(r, "Cache-Control", "no-cache");
    vg_req_respond(r, 200, "application/json", api->doc.data, api->doc.len);
}


static void
put_route(const vg_route *rt, void *ud)
{
    vg_jsonw *w = ud;
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "path", rt->pattern);
    vg_jsonw_karr(w, "methods");
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++)
        if (rt->methods & method_names[i].bit)
            vg_jsonw_cstr(w, method_names[i].name);
    vg_jsonw_arr_end(w);
    vg_jsonw_obj_end(w);
}


static void
route_routes(vg_req *r, void *ud)
{
    (void)ud;
    vg_reply out;
    vg_reply_init(&out);
    vg_reply_list(&out, "routes");
    vg_http_each_route(vg_req_http(r), put_route, &out.w);
    vg_jsonw_arr_end(&out.w);
    vg_jsonw_obj_end(&out.w);
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_reply_send(&out, r, 200);
}


vg_openapi_api *
vg_openapi_api_create(vg_http *http, const char *web_dir)
{
    vg_openapi_api *api = vg_xcalloc(1, sizeof *api);
    vg_buf_init(&api->doc);
    vg_buf p;
    vg_buf_init(&p);
    vg_buf_printf(&p, "%s/openapi.json", web_dir ? web_dir : ".");
    api->path = vg_xstrdup(vg_buf_cstr(&p));
    vg_buf_release(&p);
    char why[128] = "";
    if (read_doc(api->path, &api->doc, why, sizeof why) != 0)
        vg_warn("openapi", "cannot read %s: %s; GET /v1/openapi.json answers 404", api->path, why);
    vg_http_route(http, VG_M_GET, "/v1/openapi.json", route_openapi, api, 0, VG_ACCESS_OPEN);
    vg_http_route(http, VG_M_GET, "/v1/routes", route_routes, api, 0, VG_ACCESS_ADMIN);
    return api;
}


void
vg_openapi_api_destroy(vg_openapi_api *api)
{
    if (!api)
        return;
    vg_buf_release(&api->doc);
    free(api->path);
    free(api);
}
