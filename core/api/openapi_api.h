/*
 * openapi_api: the API describing itself. GET /v1/openapi.json answers the
 * OpenAPI 3.1 document (docs/openapi.yaml, which the build turns into
 * openapi.json in the web root; read once at start, like the dashboard's
 * files it is installed with). GET /v1/routes (admins) lists the routes the
 * router holds, so the document can be checked against the server.
 * Swagger UI is a page of the web root (web/docs/) and needs no route.
 */
#ifndef VG_OPENAPI_API_H
#define VG_OPENAPI_API_H

struct vg_http;

typedef struct vg_openapi_api vg_openapi_api;

/*
 * Reads <web_dir>/openapi.json (at most 4 MiB) and adds the routes. A
 * missing or unreadable document is logged once and its route answers
 * 404 not_found naming the file. Never fails.
 */
vg_openapi_api *vg_openapi_api_create(struct vg_http *http, const char *web_dir);
void vg_openapi_api_destroy(vg_openapi_api *api);

#endif
