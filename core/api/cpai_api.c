/* cpai_api: see cpai_api.h. Shapes follow CodeProject.AI Server 2.9 (ServerResponses.cs, VersionInfo.cs). */
#include "api/cpai_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_build.h"

#include "auth/auth.h"
#include "base/jsonw.h"
#include "http/http.h"
#include "http/reply.h"

#define CPAI_MODULE "vigia"    /* moduleId and moduleName: what answers in place of a CPAI module */

struct vg_cpai_api {
    vg_pool *pool;
    char host[256];                /* the machine's name, read once at start */
};


/* The machine's name, as CodeProject.AI's "hostname" (Environment.MachineName). */
static void
host_name(char *out, size_t n)
{
    if (gethostname(out, n) != 0 || !out[0])
        snprintf(out, n, "%s", "localhost");
    out[n - 1] = '\0';
}


/* CodeProject.AI's VersionInfo, camel-cased as ASP.NET writes it, from vigia's version. */
static void
version_info(vg_jsonw *w, const char *key)
{
    int major = 0, minor = 0, patch = 0;
    sscanf(PACKAGE_VERSION, "%d.%d.%d", &major, &minor, &patch);
    vg_jsonw_kobj(w, key);
    vg_jsonw_kint(w, "major", major);
    vg_jsonw_kint(w, "minor", minor);
    vg_jsonw_kint(w, "patch", patch);
    vg_jsonw_kstr(w, "preRelease", NULL);
    vg_jsonw_kbool(w, "securityUpdate", 0);
    vg_jsonw_kint(w, "build", 0);
    vg_jsonw_kstr(w, "file", NULL);
    vg_jsonw_kstr(w, "releaseNotes", NULL);
    vg_jsonw_obj_end(w);
}


/* ServerResponse's own members, last as in CodeProject.AI's answers. */
static void
server_tail(vg_jsonw *w, const vg_cpai_api *api)
{
    vg_jsonw_kint(w, "code", 200);
    vg_jsonw_kstr(w, "hostname", api->host);
}


/* VersionResponse: ping answers it too (ServerStatusController.GetPing). */
static void
route_version(vg_req *r, void *ud)
{
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw_obj(&a.w);
    vg_jsonw_kbool(&a.w, "success", 1);
    vg_jsonw_kstr(&a.w, "message", PACKAGE_VERSION);
    version_info(&a.w, "version");
    server_tail(&a.w, ud);
    vg_jsonw_obj_end(&a.w);
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_reply_send(&a, r, 200);
}


/* VersionUpdateResponse; nothing is fetched from anywhere, so no update is ever announced. */
static void
route_update(vg_req *r, void *ud)
{
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw_obj(&a.w);
    vg_jsonw_kbool(&a.w, "success", 1);
    vg_jsonw_kstr(&a.w, "message", "vigia does not check for updates");
    version_info(&a.w, "version");
    vg_jsonw_kbool(&a.w, "updateAvailable", 0);
    version_info(&a.w, "latest");
    version_info(&a.w, "current");
    server_tail(&a.w, ud);
    vg_jsonw_obj_end(&a.w);
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_reply_send(&a, r, 200);
}


/* Is the model (not an alias) serving or about to? */
static int
model_loaded(const vg_pool_model_stats *s)
{
    return !strcmp(s->state, "ready") || !strcmp(s->state, "loading") || !strcmp(s->state, "degraded");
}


/* The list-custom command's answer, with what CPAI's module runner and proxy add to every answer. */
static void
route_list(vg_req *r, void *ud)
{
    vg_cpai_api *api = ud;
    const char *device = "CPU";
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw_obj(&a.w);
    vg_jsonw_kbool(&a.w, "success", 1);
    vg_jsonw_karr(&a.w, "models");
    size_t n = vg_pool_model_count(api->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats s, t;
        if (vg_pool_model_stats_at(api->pool, i, &s) != 0)
            continue;
        int usable = s.alias ? vg_pool_model_stats_by_name(api->pool, s.alias, &t) == 0 && !t.alias &&
                                   model_loaded(&t)
                             : model_loaded(&s);
        /* a custom model detects: classifiers (and aliases of one) are left out */
        if (!usable || (s.alias ? t.task : s.task) == VG_POOL_TASK_CLASSIFY)
            continue;
        vg_jsonw_cstr(&a.w, s.name);
        if (!s.alias && (strstr(s.backend, "cuda") || strstr(s.device, "GPU")))
            device = "GPU";
    }
    vg_jsonw_arr_end(&a.w);
    vg_jsonw_kstr(&a.w, "moduleId", CPAI_MODULE);
    vg_jsonw_kstr(&a.w, "moduleName", CPAI_MODULE);
    vg_jsonw_kint(&a.w, "code", 200);
    vg_jsonw_kstr(&a.w, "command", "list-custom");
    vg_jsonw_kstr(&a.w, "requestId", "");
    vg_jsonw_kstr(&a.w, "inferenceDevice", device);
    vg_jsonw_kstr(&a.w, "processedBy", "localhost");
    vg_jsonw_kstr(&a.w, "timestampUTC", vg_http_date());
    vg_jsonw_obj_end(&a.w);
    vg_reply_send(&a, r, 200);
}


vg_cpai_api *
vg_cpai_api_create(vg_http *http, vg_pool *pool)
{
    vg_cpai_api *api = vg_xcalloc(1, sizeof *api);
    api->pool = pool;
    host_name(api->host, sizeof api->host);
    int open = VG_ACCESS_OPEN;
    static const char *const prefixes[] = { "/v1/server/status", "/v1/status" };
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/ping", prefixes[i]);
        vg_http_route(http, VG_M_GET, path, route_version, api, 0, open);
        snprintf(path, sizeof path, "%s/version", prefixes[i]);
        vg_http_route(http, VG_M_GET, path, route_version, api, 0, open);
        snprintf(path, sizeof path, "%s/updateavailable", prefixes[i]);
        vg_http_route(http, VG_M_GET, path, route_update, api, 0, open);
    }
    /* a body is allowed (CPAI's clients post an empty form) but not read */
    vg_http_route(http, VG_M_POST, "/v1/vision/custom/list", route_list, api, 64 * 1024,
                  VG_ACCESS_DETECT | VG_ACCESS_FORM_KEY);
    return api;
}


void
vg_cpai_api_destroy(vg_cpai_api *api)
{
    free(api);
}
