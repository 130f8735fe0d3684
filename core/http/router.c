/*
 * router: see router.h. Linear in the routes of the path's depth (a few to
 * a few dozen): "/health" is compared with the one-segment routes only.
 */
#include "http/router.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

static const char *const method_names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };
#define NMETHODS (sizeof method_names / sizeof method_names[0])


void
vg_router_init(vg_router *r)
{
    vg_list_init(&r->routes);
    for (int d = 0; d <= VG_ROUTE_MAX_SEGS; d++) {
        r->depth[d] = NULL;
        r->ndepth[d] = 0;
    }
}


void
vg_router_release(vg_router *r)
{
    vg_list_each_safe(rt, next, &r->routes, vg_route, link) {
        for (int i = 0; i < rt->nsegs; i++) {
            free(rt->segs[i]);
            free(rt->param_names[i]);
        }
        free(rt->pattern);
        free(rt);
    }
    for (int d = 0; d <= VG_ROUTE_MAX_SEGS; d++)
        free(r->depth[d]);
    vg_router_init(r);
}


/* How literal a route is: a literal segment outweighs every segment after it, so "/a/list" beats "/a/{x}". */
static unsigned
route_rank(const vg_route *rt)
{
    unsigned rank = 0;
    for (int i = 0; i < rt->nsegs; i++)
        if (rt->segs[i])
            rank |= 1u << (VG_ROUTE_MAX_SEGS - 1 - i);
    return rank;
}


vg_route *
vg_router_add(vg_router *r, unsigned methods, const char *pattern, vg_handler_fn fn, void *ud,
              size_t max_body, int access)
{
    if (pattern[0] != '/') {
        vg_error("router", "route '%s' does not start with '/'", pattern);
        return NULL;
    }
    if (access == 0) {
        /* who may call a route is declared with it: never a silent default */
        vg_error("router", "route '%s' declares no access", pattern);
        return NULL;
    }
    vg_route *rt = vg_xcalloc(1, sizeof *rt);
    rt->pattern = vg_xstrdup(pattern);
    rt->methods = methods & VG_M_GET ? methods | VG_M_HEAD : methods;
    rt->fn = fn;
    rt->ud = ud;
    rt->max_body = max_body;
    rt->access = access;
    const char *p = pattern + 1;
    int nparams = 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (rt->nsegs == VG_ROUTE_MAX_SEGS || n == 0 || n > UCHAR_MAX)
            goto bad;
        if (p[0] == '{') {
            if (n < 3 || p[n - 1] != '}' || ++nparams > VG_ROUTE_MAX_PARAMS)
                goto bad;
            rt->param_names[rt->nsegs] = vg_xstrndup(p + 1, n - 2);
        } else {
            rt->segs[rt->nsegs] = vg_xstrndup(p, n);
            rt->seg_len[rt->nsegs] = (unsigned char)n;
        }
        rt->nsegs++;
        p += n + (slash ? 1 : 0);
    }
    rt->rank = route_rank(rt);
    vg_list_push_back(&r->routes, &rt->link);
    r->depth[rt->nsegs] = vg_xrealloc(r->depth[rt->nsegs], (size_t)(r->ndepth[rt->nsegs] + 1) * sizeof(vg_route *));
    r->depth[rt->nsegs][r->ndepth[rt->nsegs]++] = rt;
    return rt;
bad:
    vg_error("router", "malformed route pattern '%s'", pattern);
    for (int i = 0; i < rt->nsegs; i++) {
        free(rt->segs[i]);
        free(rt->param_names[i]);
    }
    free(rt->pattern);
    free(rt);
    return NULL;
}


/* A request path cut into its segments once, so each route compares lengths and bytes only. */
typedef struct {
    int n;                              /* segments; -1: no route can fit (empty segment, too many) */
    vg_str seg[VG_ROUTE_MAX_SEGS];
} path_segs;

static void
path_split(const char *path, size_t n, path_segs *ps)
{
    ps->n = -1;
    if (n == 0 || path[0] != '/')
        return;
    int k = 0;
    size_t i = 1;
    while (i < n || (i == n && n > 1)) {
        size_t start = i;
        while (i < n && path[i] != '/')
            i++;
        if (i == start || k == VG_ROUTE_MAX_SEGS)
            return;             /* "//", a trailing '/', or deeper than any route */
        ps->seg[k++] = (vg_str){ path + start, i - start };
        i++;                    /* skip '/' */
    }
    ps->n = k;
}


/* Does the path fit rt's shape? Fills params when it does. */
static int
path_fits(const vg_route *rt, const path_segs *ps, vg_str *params, int *nparams)
{
    if (ps->n != rt->nsegs)
        return 0;
    int np = 0;
    for (int s = 0; s < rt->nsegs; s++) {
        if (rt->segs[s]) {
            if (rt->seg_len[s] != ps->seg[s].n || memcmp(rt->segs[s], ps->seg[s].p, ps->seg[s].n) != 0)
                return 0;
        } else {
            params[np++] = ps->seg[s];
        }
    }
    *nparams = np;
    return 1;
}


enum vg_match
vg_router_match(const vg_router *r, unsigned method, const char *path, size_t n,
                const vg_route **route, vg_str *params, int *nparams, unsigned *allow)
{
    unsigned allowed = 0;
    const vg_route *best = NULL;
    path_segs ps;
    path_split(path, n, &ps);
    for (int i = 0; ps.n >= 0 && i < r->ndepth[ps.n]; i++) {
        const vg_route *rt = r->depth[ps.n][i];
        vg_str tmp[VG_ROUTE_MAX_PARAMS];
        int ntmp = 0;
        if (!path_fits(rt, &ps, tmp, &ntmp))
            continue;
        if (!(rt->methods & method)) {
            allowed |= rt->methods;
            continue;
        }
        if (best && rt->rank <= best->rank)
            continue;   /* the first of equally literal routes wins */
        best = rt;
        memcpy(params, tmp, sizeof(vg_str) * (size_t)ntmp);
        *nparams = ntmp;
    }
    if (best) {
        *route = best;
        return VG_MATCH_OK;
    }
    *allow = allowed;
    return allowed ? VG_MATCH_METHOD : VG_MATCH_NOT_FOUND;
}


unsigned
vg_method_bit(const char *name, size_t n)
{
    for (size_t i = 0; i < NMETHODS; i++)
        if (strlen(method_names[i]) == n && memcmp(method_names[i], name, n) == 0)
            return 1u << i;
    return 0;
}


void
vg_methods_format(unsigned methods, vg_buf *out)
{
    int first = 1;
    for (size_t i = 0; i < NMETHODS; i++) {
        if (!(methods & (1u << i)))
            continue;
        if (!first)
            vg_buf_puts(out, ", ");
        vg_buf_puts(out, method_names[i]);
        first = 0;
    }
}
