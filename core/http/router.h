/*
 * router: maps (method, path) to a handler. Patterns are literal segments
 * and "{name}" parameters ("/v1/users/{id}/profile"); a parameter matches
 * one non-empty segment. Routes are added at start-up and never removed.
 */
#ifndef VG_ROUTER_H
#define VG_ROUTER_H

#include <stddef.h>

#include "base/buf.h"
#include "base/list.h"

#define VG_ROUTE_MAX_PARAMS 4
#define VG_ROUTE_MAX_SEGS 12

/* Method bits; HEAD is allowed wherever GET is. */
enum {
    VG_M_GET = 1u << 0,
    VG_M_HEAD = 1u << 1,
    VG_M_POST = 1u << 2,
    VG_M_PUT = 1u << 3,
    VG_M_DELETE = 1u << 4,
    VG_M_PATCH = 1u << 5,
    VG_M_OPTIONS = 1u << 6
};

struct vg_req;
typedef void (*vg_handler_fn)(struct vg_req *req, void *ud);

typedef struct vg_route {
    char *pattern;                     /* as registered; also the metrics label */
    unsigned methods;                  /* VG_M_* bits */
    vg_handler_fn fn;
    void *ud;
    size_t max_body;                   /* body limit; 0 = the config's limits.max_body */
    int access;                        /* who may call it: non-zero, interpreted by the request filters */
    int nsegs;
    char *segs[VG_ROUTE_MAX_SEGS];     /* literal text, or NULL for a parameter */
    char *param_names[VG_ROUTE_MAX_SEGS];
    unsigned char seg_len[VG_ROUTE_MAX_SEGS];  /* length of each literal segment (matching runs per request) */
    unsigned rank;                     /* how literal the route is: see route_rank() in router.c */
    vg_link link;                      /* in the router's list, in registration order */
} vg_route;

typedef struct vg_router {
    vg_list routes;
    /* the same routes by segment count, each in registration order: a path is compared with its depth's only */
    vg_route **depth[VG_ROUTE_MAX_SEGS + 1];
    int ndepth[VG_ROUTE_MAX_SEGS + 1];
} vg_router;

enum vg_match { VG_MATCH_OK = 0, VG_MATCH_NOT_FOUND = 1, VG_MATCH_METHOD = 2 };

void vg_router_init(vg_router *r);
void vg_router_release(vg_router *r);

/* Adds a route; returns it, or NULL when the pattern is malformed or access is 0 (a bug: logged). */
vg_route *vg_router_add(vg_router *r, unsigned methods, const char *pattern,
                        vg_handler_fn fn, void *ud, size_t max_body, int access);

/*
 * Matches a raw (still percent-encoded) path. On VG_MATCH_OK *route is set
 * and params[i] point into `path`. On VG_MATCH_METHOD *allow has the
 * methods the path does accept.
 */
enum vg_match vg_router_match(const vg_router *r, unsigned method, const char *path, size_t n,
                              const vg_route **route, vg_str *params, int *nparams, unsigned *allow);

/* Method name -> VG_M_* bit, 0 when unknown. */
unsigned vg_method_bit(const char *name, size_t n);
/* Writes "GET, HEAD, POST" for a method set into out. */
void vg_methods_format(unsigned methods, vg_buf *out);

#endif
