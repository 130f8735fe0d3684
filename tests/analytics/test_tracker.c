/*
 * test_tracker: the stream tracker on objects moved along known paths (linear, crossing,
 * occluded, leaving and entering), with jittered boxes, missed and low-confidence frames and
 * skipped frames: ID switches and fragmentations counted and asserted at zero, velocities
 * checked against the paths.
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

#include "analytics/tracker.h"

#define MAXOBJ 12
#define MAXFRAMES 200

/* An object on a straight path, seen in frames [from, to) except [hide_from, hide_to). */
typedef struct obj {
    double x, y, vx, vy;        /* box's top-left at frame 0, pixels per frame */
    double w, h;
    int from, to;
    int hide_from, hide_to;     /* not detected (occluded) */
    int low_from, low_to;       /* detected with a low confidence */
    const char *label;
} obj;

typedef struct run {
    uint64_t ids[MAXOBJ][MAXFRAMES];   /* reported track per object and frame (0: none or not seen) */
    int seen[MAXOBJ][MAXFRAMES];       /* the object was detected in that frame */
    float vx[MAXOBJ], vy[MAXOBJ];      /* its track's last velocity */
    char label[MAXOBJ][32];            /* its track's label by vote (copied: the tracker goes first) */
    size_t alive_end;                  /* tracks alive after the last frame */
} run;

static uint32_t rng_state;

static double
jitter(double amp)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return ((rng_state >> 8) / (double)(1u << 24) * 2 - 1) * amp;
}


/* Streams frames 0..frames-1 at frame_ms each (times[] instead when given) through a tracker. */
static void
simulate(const obj *o, int nobj, int frames, double frame_ms, const double *times, const vg_track_params *p,
         double amp, run *r)
{
    memset(r, 0, sizeof *r);
    rng_state = 12345;
    vg_tracker *t = vg_tracker_create();
    for (int f = 0; f < frames; f++) {
        vg_track_det dets[MAXOBJ];
        int who[MAXOBJ], n = 0;
        for (int i = 0; i < nobj; i++) {
            if (f < o[i].from || f >= o[i].to || (f >= o[i].hide_from && f < o[i].hide_to))
                continue;
            double x = o[i].x + o[i].vx * f + jitter(amp), y = o[i].y + o[i].vy * f + jitter(amp);
            dets[n] = (vg_track_det){ (float)x, (float)y, (float)(x + o[i].w + jitter(amp)),
                                      (float)(y + o[i].h + jitter(amp)), 0.8f + (float)jitter(0.1), o[i].label };
            if (f >= o[i].low_from && f < o[i].low_to)
                dets[n].confidence = 0.3f;
            /* now and then the detector calls it something else */
            if (f % 7 == 3)
                dets[n].label = "other";
            who[n++] = i;
            r->seen[i][f] = 1;
        }
        /* detections come in no particular order */
        for (int k = n - 1; k > 0; k--) {
            int j = (int)((jitter(1) + 1) / 2 * (k + 1)) % (k + 1);
            vg_track_det td = dets[k];
            dets[k] = dets[j];
            dets[j] = td;
            int tw = who[k];
            who[k] = who[j];
            who[j] = tw;
        }
        const vg_track *out[MAXOBJ];
        vg_tracker_update(t, p, times ? times[f] : 1000000 + f * frame_ms, dets, (size_t)n, out);
        for (int k = 0; k < n; k++) {
            if (!out[k])
                continue;
            r->ids[who[k]][f] = out[k]->id;
            r->vx[who[k]] = out[k]->vx;
            r->vy[who[k]] = out[k]->vy;
            snprintf(r->label[who[k]], sizeof r->label[who[k]], "%s", out[k]->label);
        }
    }
    r->alive_end = vg_tracker_count(t);
    vg_tracker_destroy(t);
}


/*
 * Counts the errors of a run against the truth:
 *   - ID switches: an object's reported id changes from one frame to a later one;
 *   - fragmentations: an object once reported is seen and not reported (its track broke);
 *   - shared ids: one id given to two objects;
 *   - late: an object reported later than its min_hits-th detection.
 */
static int
errors(const run *r, int nobj, int frames, int min_hits)
{
    int switches = 0, frags = 0, shared = 0, late = 0;
    for (int i = 0; i < nobj; i++) {
        uint64_t id = 0;
        int seen = 0;
        for (int f = 0; f < frames; f++) {
            if (!r->seen[i][f])
                continue;
            seen++;
            uint64_t now = r->ids[i][f];
            if (id && now && now != id)
                switches++;
            if (id && !now)
                frags++;
            if (!id && !now && seen >= min_hits)
                late++;
            if (now)
                id = now;
        }
        for (int j = 0; j < i; j++)
            for (int f = 0; f < frames; f++)
                for (int g = 0; g < frames; g++)
                    if (r->ids[i][f] && r->ids[i][f] == r->ids[j][g]) {
                        shared++;
                        f = g = frames;
                    }
    }
    if (switches || frags || shared || late)
        print_message("switches %d, fragmentations %d, shared ids %d, late %d\n", switches, frags, shared, late);
    return switches + frags + shared + late;
}


static uint64_t
first_id(const run *r, int i, int frames)
{
    for (int f = 0; f < frames; f++)
        if (r->ids[i][f])
            return r->ids[i][f];
    return 0;
}


static void
test_linear_paths(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    /* three walkers side by side at 10 fps: 80, -50 and 30 px/s */
    obj o[] = {
        { 100, 100, 8, 0, 60, 120, 0, 60, -1, -1, -1, -1, "person" },
        { 700, 300, -5, 1, 60, 120, 0, 60, -1, -1, -1, -1, "person" },
        { 300, 500, 3, -2, 80, 50, 0, 60, -1, -1, -1, -1, "car" },
    };
    run r;
    simulate(o, 3, 60, 100, NULL, &p, 2, &r);
    assert_int_equal(errors(&r, 3, 60, p.min_hits), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(fabs(r.vx[i] - o[i].vx * 10) < 8);
        assert_true(fabs(r.vy[i] - o[i].vy * 10) < 8);
        assert_string_equal(r.label[i], o[i].label);   /* the vote outweighs the odd "other" */
    }
    /* ids are 1, 2, 3: given when tracks are confirmed */
    uint64_t sum = first_id(&r, 0, 60) + first_id(&r, 1, 60) + first_id(&r, 2, 60);
    assert_int_equal(sum, 6);
}


static void
test_crossing(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    /* two people walk towards each other and cross, one a little behind the other */
    obj o[] = {
        { 100, 200, 10, 0, 60, 120, 0, 70, -1, -1, -1, -1, "person" },
        { 700, 230, -10, 0, 60, 120, 0, 70, -1, -1, -1, -1, "person" },
    };
    run r;
    simulate(o, 2, 70, 100, NULL, &p, 2, &r);
    assert_int_equal(errors(&r, 2, 70, p.min_hits), 0);
    /* the same, the one behind hidden while they overlap (frames 27-33: centres 120 px apart down to 0 and back) */
    o[1].hide_from = 27;
    o[1].hide_to = 34;
    simulate(o, 2, 70, 100, NULL, &p, 2, &r);
    assert_int_equal(errors(&r, 2, 70, p.min_hits), 0);
    assert_true(r.vx[0] > 80 && r.vx[1] < -80);
}


static void
test_occlusion_keeps_id(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    /* a car behind a pillar for 6 frames, moving its own width every 4 frames */
    obj o[] = { { 50, 300, 25, 5, 100, 60, 0, 40, 15, 21, -1, -1, "car" } };
    run r;
    simulate(o, 1, 40, 100, NULL, &p, 3, &r);
    assert_int_equal(errors(&r, 1, 40, p.min_hits), 0);
    assert_true(r.ids[0][14] != 0 && r.ids[0][14] == r.ids[0][21]);
    /* with fewer frames allowed missed than it was hidden, the track ends and a new one starts */
    p.max_missed = 3;
    simulate(o, 1, 40, 100, NULL, &p, 3, &r);
    assert_true(r.ids[0][14] != 0 && r.ids[0][22] != 0 && r.ids[0][14] != r.ids[0][22]);
}


static void
test_low_confidence_frames(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    /* half hidden for a while: the detector is less sure, the track goes on */
    obj o[] = { { 100, 100, 6, 3, 70, 140, 0, 40, -1, -1, 10, 20, "person" } };
    run r;
    simulate(o, 1, 40, 100, NULL, &p, 2, &r);
    assert_int_equal(errors(&r, 1, 40, p.min_hits), 0);
    assert_true(r.ids[0][15] != 0);
    /* a low-confidence object alone never starts a track */
    obj faint[] = { { 100, 100, 6, 3, 70, 140, 0, 20, -1, -1, 0, 20, "person" } };
    simulate(faint, 1, 20, 100, NULL, &p, 2, &r);
    assert_int_equal(first_id(&r, 0, 20), 0);
    assert_int_equal(r.alive_end, 0);
}


static void
test_leave_and_enter(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    p.max_missed = 10;
    /* one leaves at frame 20, a new one enters elsewhere at 25: a new id, and the old track ends */
    obj o[] = {
        { 100, 100, 8, 0, 60, 120, 0, 20, -1, -1, -1, -1, "person" },
        { 600, 400, -4, 0, 60, 120, 25, 60, -1, -1, -1, -1, "person" },
    };
    run r;
    simulate(o, 2, 60, 100, NULL, &p, 2, &r);
    assert_int_equal(errors(&r, 2, 60, p.min_hits), 0);
    assert_int_equal(first_id(&r, 0, 60), 1);
    assert_int_equal(first_id(&r, 1, 60), 2);
    assert_int_equal(r.alive_end, 1);
}


static void
test_skipped_frames(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    /* latest frame wins: the answered frames are 100 ms apart, then 400, 300, 500 ms now and then */
    double times[60];
    double t = 5000;
    for (int f = 0; f < 60; f++) {
        times[f] = t;
        t += (f % 9 == 4) ? 400 : (f % 13 == 6) ? 500 : 100;
    }
    /* the paths are per frame in simulate: move by time instead, at 120 px/s */
    obj o[] = { { 50, 100, 0, 0, 80, 80, 0, 60, -1, -1, -1, -1, "dog" } };
    vg_tracker *tr = vg_tracker_create();
    uint64_t id = 0;
    const vg_track *last = NULL;
    for (int f = 0; f < 60; f++) {
        double x = o[0].x + 0.12 * (times[f] - times[0]) + jitter(2);
        vg_track_det d = { (float)x, 100, (float)(x + 80), 180, 0.9f, "dog" };
        const vg_track *out[1];
        vg_tracker_update(tr, &p, times[f], &d, 1, out);
        if (f >= p.min_hits - 1) {
            assert_non_null(out[0]);
            if (!id)
                id = out[0]->id;
            assert_int_equal(out[0]->id, id);
            last = out[0];
        }
    }
    assert_true(fabs(last->vx - 120) < 10);
    assert_int_equal(last->frames, 60);
    assert_true(last->first_seen == times[0] && last->last_seen == times[59]);
    assert_true(fabs(last->best_confidence - 0.9f) < 1e-6);
    vg_tracker_destroy(tr);
}


static void
test_limits_and_min_hits(void **state)
{
    (void)state;
    vg_track_params p;
    vg_track_params_default(&p);
    p.max_tracks = 4;
    obj o[10];
    for (int i = 0; i < 10; i++)
        o[i] = (obj){ 10 + i * 120, 100, 2, 0, 50, 50, 0, 10, -1, -1, -1, -1, "cat" };
    run r;
    simulate(o, 10, 10, 100, NULL, &p, 1, &r);
    assert_int_equal(r.alive_end, 4);
    int tracked = 0;
    for (int i = 0; i < 10; i++)
        tracked += first_id(&r, i, 10) != 0;
    assert_int_equal(tracked, 4);
    /* min_hits 1: reported from its first frame; 5: from its fifth */
    p.max_tracks = 256;
    p.min_hits = 1;
    simulate(o, 1, 10, 100, NULL, &p, 1, &r);
    assert_true(r.ids[0][0] != 0);
    p.min_hits = 5;
    simulate(o, 1, 10, 100, NULL, &p, 1, &r);
    assert_true(r.ids[0][3] == 0 && r.ids[0][4] != 0);
    assert_int_equal(errors(&r, 1, 10, p.min_hits), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_paths),
        cmocka_unit_test(test_crossing),
        cmocka_unit_test(test_occlusion_keeps_id),
        cmocka_unit_test(test_low_confidence_frames),
        cmocka_unit_test(test_leave_and_enter),
        cmocka_unit_test(test_skipped_frames),
        cmocka_unit_test(test_limits_and_min_hits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
