/*
 * stream_overlay: a live stream's answer as an MJPEG overlay (see
 * stream_overlay.h).
 */
#include <math.h>
#include <string.h>

#include "api/stream_overlay.h"

static int
clip(double v)
{
    if (!(v >= 0))
        return 0;
    return v > VG_OVERLAY_COORD_MAX ? VG_OVERLAY_COORD_MAX : (int)lround(v);
}


static void
copy_name(char out[VG_OVERLAY_NAME_MAX], const char *name)
{
    size_t n = name ? strnlen(name, VG_OVERLAY_NAME_MAX - 1) : 0;
    memcpy(out, name ? name : "", n);
    out[n] = '\0';
}


void
vg_stream_overlay_fill(vg_overlay *o, const vg_pool_result *res, const json_t *dets, const vg_scene *scene)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < res->count && o->nboxes < VG_OVERLAY_MAX_BOXES; i++) {
        const vg_detection *d = &res->detections[i];
        vg_overlay_box *b = &o->boxes[o->nboxes++];
        b->x0 = clip(d->x_min);
        b->y0 = clip(d->y_min);
        b->x1 = clip(d->x_max);
        b->y1 = clip(d->y_max);
        b->cls = d->class_id >= 0 && d->class_id <= (1 << 20) ? d->class_id : 0;
        b->label = vg_overlay_label(o, d->label);
        json_t *id = json_object_get(json_array_get(dets, i), "track_id");
        b->track = json_is_integer(id) && json_integer_value(id) > 0 ? (uint64_t)json_integer_value(id) : 0;
    }
    if (!scene)
        return;
    for (int i = 0; i < vg_scene_zone_count(scene) && o->nzones < VG_OVERLAY_MAX_ZONES; i++) {
        double pts[VG_OVERLAY_MAX_POINTS][2];
        int np = vg_scene_zone_points(scene, i, pts, VG_OVERLAY_MAX_POINTS);
        if (np < 3)
            continue;
        vg_overlay_zone *z = &o->zones[o->nzones++];
        copy_name(z->name, vg_scene_zone_name(scene, i));
        z->np = np;
        for (int k = 0; k < np; k++) {
            z->pts[k][0] = clip(pts[k][0]);
            z->pts[k][1] = clip(pts[k][1]);
        }
    }
    for (int i = 0; i < vg_scene_line_count(scene) && o->nlines < VG_OVERLAY_MAX_LINES; i++) {
        double a[2], b[2];
        if (vg_scene_line_points(scene, i, a, b) != 0)
            continue;
        vg_overlay_line *l = &o->lines[o->nlines++];
        copy_name(l->name, vg_scene_line_name(scene, i));
        l->a[0] = clip(a[0]);
        l->a[1] = clip(a[1]);
        l->b[0] = clip(b[0]);
        l->b[1] = clip(b[1]);
        long fw = vg_scene_line_crossings(scene, i, 1, NULL), bw = vg_scene_line_crossings(scene, i, 0, NULL);
        l->forward = fw > 0 ? fw : 0;
        l->backward = bw > 0 ? bw : 0;
    }
}
