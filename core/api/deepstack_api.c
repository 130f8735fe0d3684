/* deepstack_api: see deepstack_api.h. */
#include "api/deepstack_api.h"

#include "auth/auth.h"
#include "base/jsonw.h"
#include "net/server.h"

/* {"success": false, "error": message, "code": status, "duration": 0}, as DeepStack's ErrorResponse. */
static void
error_body(vg_req *r, int status, const char *code, const char *message, vg_buf *body, void *ud)
{
    (void)r;
    (void)code;
    (void)ud;
    vg_jsonw w;
    vg_jsonw_init(&w, body);
    vg_jsonw_obj(&w);
    vg_jsonw_kbool(&w, "success", 0);
    /* DeepStack's clients know one 401: a wrong or missing api_key */
    vg_jsonw_kstr(&w, "error", status == 401 ? "Incorrect api key" : message);
    vg_jsonw_kint(&w, "code", status);
    vg_jsonw_kint(&w, "duration", 0);
    vg_jsonw_obj_end(&w);
}


/* A feature without a model here: 403 with DeepStack's words for it (the route's ud). */
static void
route_not_activated(vg_req *r, void *ud)
{
    vg_req_error(r, 403, "not_activated", "%s", (const char *)ud);
}


void
vg_deepstack_api_register(vg_http *http, size_t body_max)
{
    static const struct {
        const char *pattern, *answer;
    } off[] = {
        { "/v1/vision/face/recognize", VG_DEEPSTACK_FACE_OFF },
        { "/v1/vision/face/register", VG_DEEPSTACK_FACE_OFF },
        { "/v1/vision/face/match", VG_DEEPSTACK_FACE_OFF },
        { "/v1/vision/face/delete", VG_DEEPSTACK_FACE_OFF },
        { "/v1/vision/face/list", VG_DEEPSTACK_FACE_OFF },
        { "/v1/vision/enhance", "Enhance endpoint not activated" },
        { "/v1/image/alpr", "ALPR endpoint not activated" },
    };
    vg_http_add_error_dialect(http, "/v1/vision/", error_body, NULL);
    vg_http_add_error_dialect(http, "/v1/image/", error_body, NULL);
    /* CodeProject.AI's status routes (api/cpai_api) answer errors in the same shape */
    vg_http_add_error_dialect(http, "/v1/server/", error_body, NULL);
    vg_http_add_error_dialect(http, "/v1/status/", error_body, NULL);
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        vg_http_route(http, VG_M_POST, off[i].pattern, route_not_activated, (void *)off[i].answer, body_max,
                      VG_ACCESS_DETECT | VG_ACCESS_FORM_KEY);
}
