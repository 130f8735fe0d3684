/*
 * test_scene: zones, lines and track events on known paths. Objects move along straight
 * paths (through the real tracker, as a stream's answers do, and straight into the scene);
 * the crossings per line, direction and label, the entries and time per zone, and the events
 * per track are counted by hand from the paths and asserted exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/events.h"
#include "analytics/scene.h"
#include "analytics/tracker.h"

#define MAXOBJ 8

/* Events seen, per type, and the last one's JSON. */
typedef struct seen {
    int n[3];                   /* by vg_scene_event_type */
    int entered, left, forward, backward;
    uint64_t ended[64];
    int nended;
    const vg_scene *scene;
    json_t *last;
} seen;

static void
on_event(void *ud, const vg_scene_event *ev)
{
    seen *s = ud;
    s->n[ev->type]++;
    s->entered += __builtin_popcount(ev->zones_entered);
    s->left += __builtin_popcount(ev->zones_left);
    s->forward += __builtin_popcount(ev->lines_forward);
    s->backward += __builtin_popcount(ev->lines_backward);
    if (ev->type == VG_SCENE_END && s->nended < 64)
        s->ended[s->nended++] = ev->after->id;
    assert_true((ev->type == VG_SCENE_NEW) == (ev->before == NULL));
    if (s->scene) {
        json_decref(s->last);
        s->last = vg_event_json(s->scene, "cam1", ev);
    }
}


static vg_scene *
scene_from(const char *zones, const char *lines)
{
    vg_scene *s = vg_scene_create();
    json_t *z = zones ? json_loads(zones, 0, NULL) : NULL, *l = lines ? json_loads(lines, 0, NULL) : NULL;
    char err[256] = "";
    int rc = vg_scene_set(s, z, l, err, sizeof err);
    if (rc != 0)
        print_message("%s\n", err);
    assert_int_equal(rc, 0);
    json_decref(z);
    json_decref(l);
    return s;
}


/* One object: a 40x80 box whose bottom centre moves from (x0, y0) by (vx, vy) per frame, in frames [from, to). */
typedef struct obj {
    double x0, y0, vx, vy;
    int from, to;
    const char *label;
} obj;

static vg_track_det
det_of(const obj *o, int f)
{
    double x = o->x0 + o->vx * (f - o->from), y = o->y0 + o->vy * (f - o->from);
    return (vg_track_det){ (float)(x - 20), (float)(y - 80), (float)(x + 20), (float)y, 0.9f, o->label };
}


/* Frames 0..frames-1, 100 ms apart, through a tracker and the scene, the way the stream route feeds them. */
static void
run(vg_scene *s, const obj *o, int nobj, int frames, seen *ev)
{
    vg_tracker *t = vg_tracker_create();
    vg_track_params p;
    vg_track_params_default(&p);
    p.max_missed = 3;
    for (int f = 0; f < frames; f++) {
        vg_track_det d[MAXOBJ];
        const vg_track *out[MAXOBJ];
        size_t n = 0;
        for (int i = 0; i < nobj; i++)
            if (f >= o[i].from && f < o[i].to)
                d[n++] = det_of(&o[i], f);
        double ts = 1000000 + f * 100.0;
        vg_tracker_update(t, &p, ts, d, n, out);
        vg_scene_obj objs[64];
        size_t k = 0;
        for (size_t i = 0; i < vg_tracker_count(t) && k < 64; i++) {
            const vg_track *x = vg_tracker_at(t, i);
            if (!x->id)
                continue;
            objs[k++] = (vg_scene_obj){ x->id, x->label, x->confidence, x->best_confidence,
                                        { x->box[0], x->box[1], x->box[2], x->box[3] }, x->first_seen, x->last_seen,
                                        x->missed == 0 };
        }
        vg_scene_update(s, ts, objs, k, on_event, ev);
    }
    vg_tracker_destroy(t);
}


/* A vertical line pointing down: an object going right crosses it backward, one going left forward. */
static void
test_line_directions_and_labels(void **state)
{
    (void)state;
    vg_scene *s = scene_from(NULL, "[{\"name\": \"gate\", \"from\": [400, 0], \"to\": [400, 600]},"
                                   " {\"name\": \"short\", \"from\": [200, 0], \"to\": [200, 100]}]");
    const obj o[] = {
        { 100, 300, 20, 0, 0, 40, "person" },     /* right: crosses gate backward at x 400 (frame 15); short: passes below its end */
        { 700, 500, -20, 0, 0, 40, "car" },       /* left: crosses gate forward (frame 15) and not short */
        { 120, 50, 20, 0, 5, 30, "person" },      /* right from x 120 at y 50: crosses short and gate backward */
        { 600, 200, 0, 10, 0, 40, "dog" },        /* goes down, parallel to both: no crossing */
    };
    seen ev = { 0 };
    run(s, o, 4, 45, &ev);
    assert_int_equal(vg_scene_line_crossings(s, 0, 0, NULL), 2);
    assert_int_equal(vg_scene_line_crossings(s, 0, 0, "person"), 2);
    assert_int_equal(vg_scene_line_crossings(s, 0, 1, NULL), 1);
    assert_int_equal(vg_scene_line_crossings(s, 0, 1, "car"), 1);
    assert_int_equal(vg_scene_line_crossings(s, 0, 1, "person"), 0);
    assert_int_equal(vg_scene_line_crossings(s, 1, 0, NULL), 1);
    assert_int_equal(vg_scene_line_crossings(s, 1, 1, NULL), 0);
    /* events: 4 new, one update per crossing (the third object crosses two lines in two frames), 4 ends */
    assert_int_equal(ev.n[VG_SCENE_NEW], 4);
    assert_int_equal(ev.n[VG_SCENE_UPDATE], 4);
    assert_int_equal(ev.n[VG_SCENE_END], 4);
    assert_int_equal(ev.backward, 3);
    assert_int_equal(ev.forward, 1);
    json_t *c = vg_scene_counts_json(s, 0);
    json_t *gate = json_array_get(json_object_get(c, "lines"), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(gate, "backward"), "person")), 2);
    assert_int_equal(json_integer_value(json_object_get(gate, "forward_total")), 1);
    json_decref(c);
    vg_scene_destroy(s);
}


/* Back and forth over a line: each crossing counts, in its direction; standing on the line is not a crossing. */
static void
test_line_back_and_forth(void **state)
{
    (void)state;
    vg_scene *s = scene_from(NULL, "[{\"name\": \"l\", \"from\": [0, 300], \"to\": [800, 300]}]");
    /* from [0,300] to [800,300] points right: below (y > 300) is its right */
    double ys[] = { 200, 250, 300, 300, 350, 400, 290, 250, 300, 310, 320 };
    vg_scene_obj o = { 1, "person", 0.9f, 0.9f, { 0 }, 0, 0, 1 };
    seen ev = { 0 };
    for (int f = 0; f < 11; f++) {
        o.box[0] = 380;
        o.box[2] = 420;
        o.box[1] = (float)ys[f] - 80;
        o.box[3] = (float)ys[f];
        o.last_seen = f * 100;
        vg_scene_update(s, f * 100, &o, 1, on_event, &ev);
    }
    /* 200 -> 350: forward (left to right) once, though it stood on it twice; 400 -> 290: backward; 250 -> 310: forward */
    assert_int_equal(vg_scene_line_crossings(s, 0, 1, NULL), 2);
    assert_int_equal(vg_scene_line_crossings(s, 0, 0, NULL), 1);
    assert_int_equal(ev.n[VG_SCENE_UPDATE], 3);
    vg_scene_destroy(s);
}


/* A zone: entries, who is inside, time spent, a label filter, and the events' zone names. */
static void
test_zone_counts_and_time(void **state)
{
    (void)state;
    vg_scene *s = scene_from("[{\"name\": \"yard\", \"points\": [[300, 100], [500, 100], [500, 500], [300, 500]]},"
                             " {\"name\": \"cars\", \"points\": [[0, 0], [800, 0], [800, 600], [0, 600]],"
                             "   \"labels\": [\"car\"]}]",
                             NULL);
    /* person: bottom centre x = 110 + 20 f, inside yard (300 < x < 500) in frames 10..19 */
    const obj o[] = {
        { 110, 300, 20, 0, 0, 30, "person" },
        { 400, 300, 0, 0, 0, 10, "car" },         /* stands inside both in frames 0..9, then gone */
    };
    seen ev = { 0 };
    ev.scene = s;
    run(s, o, 2, 15, &ev);
    /* after frame 14: the person inside yard since frame 10; the car confirmed at frame 1 (min_hits 2),
       unseen from frame 10, coasting 3 frames (max_missed), ended at frame 13 */
    assert_int_equal(vg_scene_zone_inside(s, 0), 1);
    assert_int_equal(vg_scene_zone_entered(s, 0), 2);
    assert_int_equal(vg_scene_zone_inside(s, 1), 0);
    assert_int_equal(vg_scene_zone_entered(s, 1), 1);   /* the person is not a car */
    json_t *c = vg_scene_counts_json(s, 1000000 + 14 * 100.0);
    json_t *yard = json_array_get(json_object_get(c, "zones"), 0);
    /* time spent: the car from frame 1 to 13 (1200 ms), the person from 10 to now, 14 (400 ms) */
    assert_int_equal(json_integer_value(json_object_get(yard, "time_ms")), 1200 + 400);
    assert_int_equal(json_integer_value(json_object_get(yard, "inside")), 1);
    json_decref(c);
    /* the last event is the car's end: it left both zones; Frigate's fields */
    assert_int_equal(ev.n[VG_SCENE_END], 1);
    assert_int_equal(ev.left, 2);
    json_t *last = ev.last;
    assert_non_null(last);
    assert_string_equal(json_string_value(json_object_get(last, "type")), "end");
    json_t *after = json_object_get(last, "after");
    assert_string_equal(json_string_value(json_object_get(after, "camera")), "cam1");
    assert_string_equal(json_string_value(json_object_get(after, "label")), "car");
    assert_int_equal(json_array_size(json_object_get(after, "current_zones")), 0);
    assert_int_equal(json_array_size(json_object_get(after, "entered_zones")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(last, "before"),
                                                                         "current_zones"), 0)), "yard");
    assert_true(fabs(json_number_value(json_object_get(after, "end_time")) - 1001.3) < 1e-6);
    assert_true(fabs(json_number_value(json_object_get(after, "start_time")) - 1000.0) < 1e-6);
    assert_int_equal(json_array_size(json_object_get(last, "left")), 2);
    assert_int_equal(json_integer_value(json_object_get(after, "area")), 40 * 80);
    assert_string_equal(json_string_value(json_object_get(after, "id")), "1000.000-cam1-1");   /* the still car matches best, so it is confirmed first */
    run(s, o, 0, 1, &ev);   /* a frame with nobody: the person ends too */
    assert_int_equal(ev.n[VG_SCENE_END], 2);
    assert_int_equal(vg_scene_zone_inside(s, 0), 0);
    assert_string_equal(json_string_value(json_object_get(ev.last, "type")), "end");
    assert_string_equal(json_string_value(json_array_get(json_object_get(ev.last, "left"), 0)), "yard");
    json_decref(ev.last);
    vg_scene_destroy(s);
}


/* Two objects crossing each other inside a zone and across a line: each counted once, by its own track. */
static void
test_two_objects_crossing(void **state)
{
    (void)state;
    vg_scene *s = scene_from("[{\"name\": \"mid\", \"points\": [[300, 0], [500, 0], [500, 600], [300, 600]]}]",
                             "[{\"name\": \"v\", \"from\": [400, 600], \"to\": [400, 0]}]");
    const obj o[] = {
        { 100, 400, 20, 0, 0, 35, "person" },
        { 700, 420, -20, 0, 0, 35, "person" },
    };
    seen ev = { 0 };
    run(s, o, 2, 45, &ev);
    /* the line points up: going right is left to right: forward */
    assert_int_equal(vg_scene_line_crossings(s, 0, 1, "person"), 1);
    assert_int_equal(vg_scene_line_crossings(s, 0, 0, "person"), 1);
    assert_int_equal(vg_scene_zone_entered(s, 0), 2);
    assert_int_equal(ev.n[VG_SCENE_NEW], 2);
    assert_int_equal(ev.n[VG_SCENE_END], 2);
    assert_int_equal(ev.entered, 2);
    assert_int_equal(ev.left, 2);
    vg_scene_destroy(s);
}


/* What vg_scene_set refuses, and that a refusal leaves the scene as it was. */
static void
test_bad_config(void **state)
{
    (void)state;
    vg_scene *s = scene_from(NULL, "[{\"name\": \"ok\", \"from\": [0, 0], \"to\": [1, 1]}]");
    const char *bad_zones[] = {
        "{}", "[1]", "[{\"points\": [[0,0],[1,0],[1,1]]}]", "[{\"name\": \"a/b\", \"points\": [[0,0],[1,0],[1,1]]}]",
        "[{\"name\": \"z\", \"points\": [[0,0],[1,0]]}]", "[{\"name\": \"z\", \"points\": [[0,0],[1,0],[1]]}]",
        "[{\"name\": \"z\", \"points\": [[0,0],[1,0],[1,1e9]]}]", "[{\"name\": \"z\", \"points\": [[0,0],[1,0],[1,1]], \"x\": 1}]",
        "[{\"name\": \"z\", \"points\": [[0,0],[1,0],[1,1]]}, {\"name\": \"z\", \"points\": [[0,0],[1,0],[1,1]]}]",
        "[{\"name\": \"z\", \"points\": [[0,0],[1,0],[1,1]], \"labels\": [1]}]",
        NULL };
    char err[256];
    for (int i = 0; bad_zones[i]; i++) {
        json_t *z = json_loads(bad_zones[i], 0, NULL);
        assert_non_null(z);
        err[0] = '\0';
        assert_int_equal(vg_scene_set(s, z, NULL, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        json_decref(z);
    }
    json_t *l = json_loads("[{\"name\": \"same\", \"from\": [5, 5], \"to\": [5, 5]}]", 0, NULL);
    assert_int_equal(vg_scene_set(s, NULL, l, err, sizeof err), -1);
    json_decref(l);
    /* 17 zones: one too many */
    json_t *many = json_array();
    for (int i = 0; i <= VG_SCENE_MAX_ZONES; i++) {
        char name[16];
        snprintf(name, sizeof name, "z%d", i);
        json_array_append_new(many, json_pack("{s:s, s:[[i,i],[i,i],[i,i]]}", "name", name, "points", 0, 0, 1, 0, 1, 1));
    }
    assert_int_equal(vg_scene_set(s, many, NULL, err, sizeof err), -1);
    json_decref(many);
    assert_int_equal(vg_scene_zone_count(s), 0);
    assert_int_equal(vg_scene_line_count(s), 1);
    assert_string_equal(vg_scene_line_name(s, 0), "ok");
    json_t *cfg = vg_scene_config_json(s);
    assert_int_equal(json_array_size(json_object_get(cfg, "lines")), 1);
    json_decref(cfg);
    vg_scene_destroy(s);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_directions_and_labels),
        cmocka_unit_test(test_line_back_and_forth),
        cmocka_unit_test(test_zone_counts_and_time),
        cmocka_unit_test(test_two_objects_crossing),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
