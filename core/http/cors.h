/*
 * cors: Cross-Origin Resource Sharing for browsers calling the API from
 * another origin (a Flutter web build, a dashboard on another host).
 * Origins are listed in cors.origins; "*" allows any. Preflight requests
 * (OPTIONS with Access-Control-Request-Method) are answered by the HTTP
 * layer through vg_cors_preflight; actual responses get the headers from
 * vg_cors_add_headers.
 */
#ifndef VG_CORS_H
#define VG_CORS_H

struct vg_req;

/* Adds Access-Control-Allow-Origin etc. when the request's Origin is allowed. */
void vg_cors_add_headers(struct vg_req *r);
/* Handler for a preflight request: 204 with the allowed methods, or 403. */
void vg_cors_preflight(struct vg_req *r, void *ud);

#endif
