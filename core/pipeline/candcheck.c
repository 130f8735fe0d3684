/*
 * candcheck: refusing malformed backend candidates (see candcheck.h).
 */
#include <math.h>
#include <stdio.h>

#include "base/error.h"
#include "base/log.h"
#include "pipeline/candcheck.h"


/* 1 when candidate i carries a score (a NaN one included): the host would use it. */
static int
scored(const vigia_candidates *c, uint32_t i, int classes)
{
    if (c->objectness && !isfinite(c->objectness[i]))
        return 1;
    const float *p = c->prob + (size_t)i * classes;
    for (int k = 0; k < classes; k++)
        if (p[k] != 0)
            return 1;
    return 0;
}


/* What is wrong with candidate i, or NULL. */
static const char *
judge(const vigia_candidates *c, uint32_t i, int classes)
{
    const float *b = c->box + 4 * (size_t)i;
    float x = b[0], y = b[1], w = b[2], h = b[3];
    if (!isfinite(x) || !isfinite(y) || !isfinite(w) || !isfinite(h))
        return "a box that is not finite";
    if (w < 0 || h < 0)
        return "a box with a negative size";
    const float *p = c->prob + (size_t)i * classes;
    for (int k = 0; k < classes; k++)
        if (!isfinite(p[k]) || p[k] < 0)
            return "a score that is not a finite non-negative number";
    if (c->objectness && !isfinite(c->objectness[i]))
        return "an objectness that is not finite";
    if (x > VG_CANDCHECK_MAX_CENTRE || y > VG_CANDCHECK_MAX_CENTRE || x < VG_CANDCHECK_MIN_CENTRE ||
        y < VG_CANDCHECK_MIN_CENTRE || w > VG_CANDCHECK_MAX_SIZE || h > VG_CANDCHECK_MAX_SIZE)
        return "a box in pixels, not fractions of the input";
    if (x + w / 2 <= 0 || x - w / 2 >= 1 || y + h / 2 <= 0 || y - h / 2 >= 1)
        return "a box wholly outside the input";
    return NULL;
}


/* The first refusal and each power of ten: a broken plugin does not flood the log. */
static int
worth_logging(uint64_t n)
{
    while (n >= 10 && n % 10 == 0)
        n /= 10;
    return n == 1;
}


/* Counts a refusal and logs it when worth it (see candcheck.h). */
static int
refuse(vg_candcheck *g, const char *msg)
{
    g->refused++;
    if (worth_logging(g->refused))
        vg_warn("detector", "%s (%llu image(s) refused so far)", msg, (unsigned long long)g->refused);
    return VG_E_BACKEND;
}


int
vg_candcheck_scores(vg_candcheck *g, const float *scores, int classes, const char *backend,
                    const char *model, char *msg, size_t msglen)
{
    for (int k = 0; k < classes; k++)
        if (!(scores[k] >= 0 && scores[k] <= 1.0001f)) {
            snprintf(msg, msglen, "backend %s (model %s) returned a class score that is not in [0, 1]: "
                     "class %d, %g", backend, model, k, (double)scores[k]);
            return refuse(g, msg);
        }
    return 0;
}


int
vg_candcheck_run(vg_candcheck *g, const vigia_candidates *c, int classes, const char *backend,
                 const char *model, char *msg, size_t msglen)
{
    if (c->count > c->capacity) {
        snprintf(msg, msglen, "backend %s (model %s) returned %u candidates, more than the %u it was given",
                 backend, model, c->count, c->capacity);
        goto refused;
    }
    for (uint32_t i = 0; i < c->count; i++) {
        if (!scored(c, i, classes))
            continue;
        const char *what = judge(c, i, classes);
        if (!what)
            continue;
        const float *b = c->box + 4 * (size_t)i;
        snprintf(msg, msglen, "backend %s (model %s) returned %s: candidate %u (x %g, y %g, w %g, h %g)",
                 backend, model, what, i, (double)b[0], (double)b[1], (double)b[2], (double)b[3]);
        goto refused;
    }
    return 0;
refused:
    return refuse(g, msg);
}
