/* events: see events.h. */
#include "analytics/events.h"

#include <math.h>
#include <stdio.h>


const char *
vg_event_type_name(vg_scene_event_type t)
{
    return t == VG_SCENE_NEW ? "new" : t == VG_SCENE_END ? "end" : "update";
}


void
vg_event_id(char out[VG_EVENT_ID_MAX], const char *camera, const vg_scene_state *st)
{
    snprintf(out, VG_EVENT_ID_MAX, "%.3f-%.48s-%llu", st->first_seen / 1000.0, camera, (unsigned long long)st->id);
}


static double
r4(double v)
{
    return round(v * 10000) / 10000;
}


static json_t *
zone_names(const vg_scene *s, uint32_t bits)
{
    json_t *a = json_array();
    for (int i = 0; i < vg_scene_zone_count(s); i++)
        if ((bits >> i) & 1)
            json_array_append_new(a, json_string(vg_scene_zone_name(s, i)));
    return a;
}


/* One state in Frigate's shape (no snapshots, clips or regions here: the region is the box). */
static json_t *
state_json(const vg_scene *s, const char *camera, const vg_scene_state *st, double frame_ms)
{
    char id[VG_EVENT_ID_MAX];
    vg_event_id(id, camera, st);
    double w = st->box[2] - st->box[0], h = st->box[3] - st->box[1];
    json_t *box = json_pack("[i, i, i, i]", (int)lround(st->box[0]), (int)lround(st->box[1]), (int)lround(st->box[2]),
                            (int)lround(st->box[3]));
    json_t *o = json_pack("{s:s, s:s, s:f, s:s, s:n, s:f, s:b, s:f, s:o, s:f, s:o, s:I, s:f, s:O}",
                          "id", id, "camera", camera, "frame_time", frame_ms / 1000.0, "label", st->label,
                          "sub_label", "top_score", r4(st->top_score), "false_positive", 0,
                          "start_time", st->first_seen / 1000.0,
                          "end_time", st->end > 0 ? json_real(st->end / 1000.0) : json_null(),
                          "score", r4(st->score), "box", box, "area", (json_int_t)llround(w * h),
                          "ratio", h > 0 ? r4(w / h) : 0.0, "region", box);
    json_object_set_new(o, "current_zones", zone_names(s, st->zones));
    json_object_set_new(o, "entered_zones", zone_names(s, st->entered));
    json_object_set_new(o, "has_snapshot", json_false());
    json_object_set_new(o, "has_clip", json_false());
    json_object_set_new(o, "stationary", json_false());
    json_object_set_new(o, "motionless_count", json_integer(0));
    json_object_set_new(o, "position_changes", json_integer(st->changes > 0 ? st->changes - 1 : 0));
    json_object_set_new(o, "attributes", json_array());
    json_object_set_new(o, "track_id", json_integer((json_int_t)st->id));
    return o;
}


json_t *
vg_event_json(const vg_scene *s, const char *camera, const vg_scene_event *ev)
{
    const vg_scene_state *before = ev->before ? ev->before : ev->after;
    json_t *crossed = json_array();
    for (int i = 0; i < vg_scene_line_count(s); i++) {
        if ((ev->lines_forward >> i) & 1)
            json_array_append_new(crossed, json_pack("{s:s, s:s}", "line", vg_scene_line_name(s, i), "direction",
                                                     "forward"));
        if ((ev->lines_backward >> i) & 1)
            json_array_append_new(crossed, json_pack("{s:s, s:s}", "line", vg_scene_line_name(s, i), "direction",
                                                     "backward"));
    }
    return json_pack("{s:s, s:o, s:o, s:s, s:I, s:I, s:o, s:o, s:o}", "type", vg_event_type_name(ev->type),
                     "before", state_json(s, camera, before, before->last_seen),
                     "after", state_json(s, camera, ev->after, ev->ts), "camera", camera,
                     "track_id", (json_int_t)ev->after->id, "time", (json_int_t)llround(ev->ts),
                     "entered", zone_names(s, ev->zones_entered), "left", zone_names(s, ev->zones_left),
                     "crossed", crossed);
}
