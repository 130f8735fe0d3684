/* track_summary: new and ended tracks, and colours voted per track (see track_summary.h). */
#include "analytics/track_summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

typedef struct entry {
    uint64_t id;
    char label[VG_TRACK_LABEL_MAX + 1];
    double confirmed_at;
    uint64_t last_frame;                /* the summary's frame it was last reported in */
    uint32_t up[VG_TRACK_COLORS], lo[VG_TRACK_COLORS];   /* votes; [0] unused */
} entry;

struct vg_track_summary {
    entry *e;                           /* followed tracks, by increasing id */
    size_t n, cap;
    uint64_t frame;                     /* updates so far */
    uint64_t max_id;                    /* the highest id seen */
};


vg_track_summary *
vg_track_summary_create(void)
{
    return vg_xcalloc(1, sizeof(vg_track_summary));
}


void
vg_track_summary_destroy(vg_track_summary *s)
{
    if (!s)
        return;
    free(s->e);
    free(s);
}


size_t
vg_track_summary_count(const vg_track_summary *s)
{
    return s->n;
}


/* The entry of id (binary search: ids only grow), or NULL. */
static entry *
find(const vg_track_summary *s, uint64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->e[lo].id == id ? &s->e[lo] : NULL;
}


static int
vote(const uint32_t *v)
{
    int best = 0;
    for (int c = 1; c < VG_TRACK_COLORS; c++)
        if (v[c] > v[best])
            best = c;
    return best;
}


static int
by_id(const void *a, const void *b)
{
    uint64_t x = (*(const vg_track *const *)a)->id, y = (*(const vg_track *const *)b)->id;
    return (x > y) - (x < y);
}


static void
end_entry(const entry *x, const vg_track_summary_cb *cb)
{
    if (!cb || !cb->ended)
        return;
    vg_track_end e = { x->id, x->label, x->confirmed_at, vote(x->up), vote(x->lo) };
    cb->ended(&e, cb->ud);
}


void
vg_track_summary_update(vg_track_summary *s, double now, int max_missed, const vg_track *const *tracks,
                        const uint8_t *upper, const uint8_t *lower, size_t n, const vg_track_summary_cb *cb)
{
    s->frame++;
    /* new tracks first, in id order, so the entries stay sorted */
    const vg_track **fresh = vg_xmalloc((n ? n : 1) * sizeof *fresh);
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (tracks[i] && tracks[i]->id > s->max_id)
            fresh[nf++] = tracks[i];
    qsort(fresh, nf, sizeof *fresh, by_id);
    for (size_t i = 0; i < nf; i++) {
        const vg_track *t = fresh[i];
        if (i && t->id == fresh[i - 1]->id)
            continue;
        if (s->n < VG_TRACK_SUMMARY_MAX) {
            if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 16;
                s->e = vg_xrealloc(s->e, s->cap * sizeof *s->e);
            }
            entry *x = &s->e[s->n++];
            memset(x, 0, sizeof *x);
            x->id = t->id;
            x->confirmed_at = now;
            x->last_frame = s->frame;
        }
        if (cb && cb->confirmed)
            cb->confirmed(t, now, cb->ud);
    }
    if (nf)
        s->max_id = fresh[nf - 1]->id;
    free(fresh);
    /* this frame's reports: labels, colours, liveness */
    for (size_t i = 0; i < n; i++) {
        const vg_track *t = tracks[i];
        entry *x = t ? find(s, t->id) : NULL;
        if (!x)
            continue;
        x->last_frame = s->frame;
        snprintf(x->label, sizeof x->label, "%s", t->label ? t->label : "");
        if (upper && upper[i] && upper[i] < VG_TRACK_COLORS)
            x->up[upper[i]]++;
        if (lower && lower[i] && lower[i] < VG_TRACK_COLORS)
            x->lo[lower[i]]++;
    }
    /* the tracks the tracker has dropped by now */
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->frame - s->e[i].last_frame > (uint64_t)(max_missed < 0 ? 0 : max_missed))
            end_entry(&s->e[i], cb);
        else
            s->e[k++] = s->e[i];
    }
    s->n = k;
}


void
vg_track_summary_colors(const vg_track_summary *s, uint64_t id, int *upper, int *lower)
{
    const entry *x = find(s, id);
    *upper = x ? vote(x->up) : 0;
    *lower = x ? vote(x->lo) : 0;
}


void
vg_track_summary_end_all(vg_track_summary *s, const vg_track_summary_cb *cb)
{
    for (size_t i = 0; i < s->n; i++)
        end_entry(&s->e[i], cb);
    s->n = 0;
}
