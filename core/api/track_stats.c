/* track_stats: colours per track into a stream's answers, unique objects into the history (see track_stats.h). */
#include "api/track_stats.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "analytics/track_summary.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"
#include "pipeline/colors.h"

struct vg_track_stats {
    vg_track_summary *sum;
};


static double
wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec * 1000.0 + (double)(t.tv_nsec / 1000000);
}


/* A count the store could not take is lost, like a sampled answer (stream_api's maybe_store): one debug line. */
static void
counted(int rc, const char *what, uint64_t id)
{
    if (rc < 0)
        vg_debug("stream", "track %llu: %s not counted: %s", (unsigned long long)id, what, vg_err_str(rc));
}


static void
on_confirmed(const vg_track *t, double now, void *ud)
{
    counted(vg_history_unique(ud, (uint64_t)now, t->label, NULL, NULL), "its unique object", t->id);
}


static void
on_ended(const vg_track_end *e, void *ud)
{
    if (e->upper || e->lower)
        counted(vg_history_unique(ud, (uint64_t)e->confirmed_at, NULL, vg_color_name(e->upper),
                                  vg_color_name(e->lower)), "its colours", e->id);
}


void
vg_track_stats_frame(vg_track_stats **tsp, vg_history *h, int max_missed, const vg_detection *dets,
                     const vg_track *const *out, size_t n, json_t *tracks)
{
    if (!*tsp) {
        *tsp = vg_xcalloc(1, sizeof **tsp);
        (*tsp)->sum = vg_track_summary_create();
    }
    vg_track_stats *ts = *tsp;
    uint8_t *up = vg_xmalloc(n ? 2 * n : 1), *lo = up + n;
    for (size_t i = 0; i < n; i++) {
        up[i] = dets[i].upper_color;
        lo[i] = dets[i].lower_color;
    }
    vg_track_summary_cb cb = { h ? on_confirmed : NULL, h ? on_ended : NULL, h };
    vg_track_summary_update(ts->sum, wall_ms(), max_missed, out, up, lo, n, &cb);
    free(up);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (!out[i])
            continue;
        json_t *t = json_array_get(tracks, j++);
        int u, l;
        vg_track_summary_colors(ts->sum, out[i]->id, &u, &l);
        if (t && (u || l))
            json_object_set_new(t, "attributes", json_pack("{s:s?, s:s?, s:b}", "upper_color", vg_color_name(u),
                                                           "lower_color", vg_color_name(l), "estimate", 1));
    }
}


void
vg_track_stats_close(vg_track_stats *ts, vg_history *h)
{
    if (!ts)
        return;
    vg_track_summary_cb cb = { NULL, h ? on_ended : NULL, h };
    vg_track_summary_end_all(ts->sum, &cb);
    vg_track_summary_destroy(ts->sum);
    free(ts);
}
