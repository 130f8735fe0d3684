/*
 * test_track_summary: new tracks counted once each in id order, colours voted over a
 * track's frames (majority, equal votes to the lower index), tracks ended after
 * max_missed frames unreported or when the stream closes, and the cap on followed tracks;
 * with the real tracker, N objects on known paths give exactly N confirmations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "analytics/track_summary.h"

typedef struct seen {
    uint64_t confirmed[8192];
    size_t nconfirmed;
    vg_track_end ended[64];
    char labels[64][VG_TRACK_LABEL_MAX + 1];
    size_t nended;
} seen;


static void
on_confirmed(const vg_track *t, double now, void *ud)
{
    (void)now;
    seen *s = ud;
    s->confirmed[s->nconfirmed++] = t->id;
}


static void
on_ended(const vg_track_end *e, void *ud)
{
    seen *s = ud;
    if (s->nended < 64) {
        s->ended[s->nended] = *e;
        strcpy(s->labels[s->nended], e->label);
        s->ended[s->nended].label = s->labels[s->nended];
    }
    s->nended++;
}


static void
test_confirmed_once(void **state)
{
    (void)state;
    seen *sn = calloc(1, sizeof *sn);
    vg_track_summary_cb cb = { on_confirmed, on_ended, sn };
    vg_track_summary *s = vg_track_summary_create();
    vg_track a = { .id = 2, .label = "dog" }, b = { .id = 1, .label = "person" }, c = { .id = 3, .label = "car" };
    const vg_track *f1[3] = { &a, NULL, &b };
    vg_track_summary_update(s, 1000, 5, f1, NULL, NULL, 3, &cb);
    assert_int_equal(sn->nconfirmed, 2);
    assert_int_equal(sn->confirmed[0], 1);   /* in id order */
    assert_int_equal(sn->confirmed[1], 2);
    const vg_track *f2[3] = { &b, &c, &a };
    for (int i = 0; i < 10; i++)
        vg_track_summary_update(s, 2000, 5, f2, NULL, NULL, 3, &cb);
    assert_int_equal(sn->nconfirmed, 3);
    assert_int_equal(sn->confirmed[2], 3);
    assert_int_equal(vg_track_summary_count(s), 3);
    assert_int_equal(sn->nended, 0);
    vg_track_summary_destroy(s);
    free(sn);
}


static void
test_colors_voted(void **state)
{
    (void)state;
    seen *sn = calloc(1, sizeof *sn);
    vg_track_summary_cb cb = { on_confirmed, on_ended, sn };
    vg_track_summary *s = vg_track_summary_create();
    vg_track p = { .id = 1, .label = "person" };
    const vg_track *f[1] = { &p };
    /* upper: 4 4 8 4 0 (none) -> 4; lower: 8 8 2 2 0 -> equal: 2 */
    uint8_t up[] = { 4, 4, 8, 4, 0 }, lo[] = { 8, 8, 2, 2, 0 };
    for (int i = 0; i < 5; i++)
        vg_track_summary_update(s, 500 + i, 3, f, &up[i], &lo[i], 1, &cb);
    int u, l;
    vg_track_summary_colors(s, 1, &u, &l);
    assert_int_equal(u, 4);
    assert_int_equal(l, 2);
    vg_track_summary_colors(s, 99, &u, &l);
    assert_int_equal(u, 0);
    assert_int_equal(l, 0);
    /* values beyond the palette are no vote */
    uint8_t big = 200;
    vg_track_summary_update(s, 600, 3, f, &big, &big, 1, &cb);
    vg_track_summary_colors(s, 1, &u, &l);
    assert_int_equal(u, 4);
    /* 3 frames unreported: still followed; the 4th ends it with its votes and confirmation time */
    for (int i = 0; i < 3; i++)
        vg_track_summary_update(s, 700, 3, NULL, NULL, NULL, 0, &cb);
    assert_int_equal(sn->nended, 0);
    vg_track_summary_update(s, 800, 3, NULL, NULL, NULL, 0, &cb);
    assert_int_equal(sn->nended, 1);
    assert_int_equal(sn->ended[0].id, 1);
    assert_int_equal(sn->ended[0].upper, 4);
    assert_int_equal(sn->ended[0].lower, 2);
    assert_true(sn->ended[0].confirmed_at == 500);
    assert_string_equal(sn->ended[0].label, "person");
    assert_int_equal(vg_track_summary_count(s), 0);
    /* a track coming back after it ended is not new */
    vg_track_summary_update(s, 900, 3, f, NULL, NULL, 1, &cb);
    assert_int_equal(sn->nconfirmed, 1);
    vg_track_summary_destroy(s);
    free(sn);
}


static void
test_end_all_and_cap(void **state)
{
    (void)state;
    seen *sn = calloc(1, sizeof *sn);
    vg_track_summary_cb cb = { on_confirmed, on_ended, sn };
    vg_track_summary *s = vg_track_summary_create();
    size_t n = VG_TRACK_SUMMARY_MAX + 3;
    vg_track *t = calloc(n, sizeof *t);
    const vg_track **f = calloc(n, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        t[i] = (vg_track){ .id = n - i, .label = "car" };
        f[i] = &t[i];
    }
    vg_track_summary_update(s, 1, 10, f, NULL, NULL, n, &cb);
    assert_int_equal(sn->nconfirmed, n);                     /* every one counted */
    assert_int_equal(vg_track_summary_count(s), VG_TRACK_SUMMARY_MAX);   /* the first followed */
    vg_track_summary_end_all(s, &cb);
    assert_int_equal(sn->nended, VG_TRACK_SUMMARY_MAX);
    assert_int_equal(sn->ended[0].id, 1);
    assert_int_equal(vg_track_summary_count(s), 0);
    vg_track_summary_end_all(s, NULL);
    vg_track_summary_destroy(s);
    vg_track_summary_destroy(NULL);
    free(t);
    free(f);
    free(sn);
}


/* The real tracker: 5 objects crossing a frame one after another, with gaps, give 5 confirmations. */
static void
test_with_tracker(void **state)
{
    (void)state;
    seen *sn = calloc(1, sizeof *sn);
    vg_track_summary_cb cb = { on_confirmed, on_ended, sn };
    vg_track_summary *s = vg_track_summary_create();
    vg_tracker *tr = vg_tracker_create();
    vg_track_params p;
    vg_track_params_default(&p);
    p.max_missed = 3;
    for (int obj = 0; obj < 5; obj++) {
        for (int f = 0; f < 12; f++) {
            vg_track_det d[2] = { { 20.0f + 30 * f, 100, 120.0f + 30 * f, 300, 0.9f, obj % 2 ? "car" : "person" },
                                  { 600, 20.0f + 5 * f, 700, 120.0f + 5 * f, 0.8f, "dog" } };
            size_t nd = obj == 2 ? 2 : 1;   /* a dog walks alongside the third */
            const vg_track *out[2];
            vg_tracker_update(tr, &p, (obj * 20 + f) * 100.0, d, nd, out);
            uint8_t up[2] = { 4, 0 }, lo[2] = { 8, 0 };
            vg_track_summary_update(s, obj * 20 + f, p.max_missed, out, up, lo, nd, &cb);
        }
        for (int f = 0; f < 8; f++) {   /* nobody */
            vg_tracker_update(tr, &p, (obj * 20 + 12 + f) * 100.0, NULL, 0, NULL);
            vg_track_summary_update(s, obj * 20 + 12 + f, p.max_missed, NULL, NULL, NULL, 0, &cb);
        }
    }
    assert_int_equal(sn->nconfirmed, 6);   /* five crossings and the dog */
    assert_int_equal(sn->nended, 6);
    assert_int_equal(vg_tracker_count(tr), 0);
    int persons = 0;
    for (size_t i = 0; i < sn->nended; i++)
        if (strcmp(sn->ended[i].label, "person") == 0) {
            persons++;
            assert_int_equal(sn->ended[i].upper, 4);
            assert_int_equal(sn->ended[i].lower, 8);
        }
    assert_int_equal(persons, 3);
    vg_tracker_destroy(tr);
    vg_track_summary_destroy(s);
    free(sn);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confirmed_once),
        cmocka_unit_test(test_colors_voted),
        cmocka_unit_test(test_end_all_and_cap),
        cmocka_unit_test(test_with_tracker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
