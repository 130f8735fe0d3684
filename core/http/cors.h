/*
 * cors: Cross-Origin Resource Sharing for browsers calling the API from
 * another origin (a Flutter web build, a dashboard on another host).
 * Origins are listed in cors.origins; "*" allows any. It is a filter on
 * the HTTP layer: preflight requests (OPTIONS with
 * Access-Control-Request-Method) are answered by an interceptor from the
 * methods the path accepts, and answers to an allowed Origin get the
 * Access-Control-* headers.
 */
#ifndef VG_CORS_H
#define VG_CORS_H

#include "http/http.h"

/* Installs both on h (reads cors.* from the server's current config on each request). */
void vg_cors_install(vg_http *h);

/* Is `origin` in the comma-separated list `list` (cors.origins), or is the list "*"? 0 for an empty list. */
int vg_cors_origin_allowed(const char *list, vg_str origin);

#endif
