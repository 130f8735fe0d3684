/*
 * libFuzzer harness for a stream's zones and lines (core/analytics/scene.h):
 * the "zones" and "lines" of a /v1/stream config message come from the
 * network. The input is split at the first NUL: the text before is a
 * config message's JSON; the bytes after drive tracks (each 8 bytes: a
 * track id 1-8, a box's corners, matched or not) through vg_scene_update.
 *
 * Invariants: vg_scene_set accepts or refuses with a message and leaves a
 * refused scene as it was; what it accepts, vg_scene_config_json gives
 * back and vg_scene_set accepts again; no zone counts more tracks inside
 * than are alive, and inside never goes below zero; every event's zone
 * bits name existing zones; each track ends exactly once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analytics/events.h"
#include "analytics/scene.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    int news, ends;
    const vg_scene *s;
} seen;


static void
on_event(void *ud, const vg_scene_event *ev)
{
    seen *x = ud;
    uint32_t zmask = vg_scene_zone_count(x->s) >= 32 ? 0xffffffffu : (1u << vg_scene_zone_count(x->s)) - 1;
    uint32_t lmask = vg_scene_line_count(x->s) >= 32 ? 0xffffffffu : (1u << vg_scene_line_count(x->s)) - 1;
    if ((ev->zones_entered | ev->zones_left | ev->after->zones | ev->after->entered) & ~zmask)
        abort();
    if ((ev->lines_forward | ev->lines_backward) & ~lmask)
        abort();
    if (ev->zones_entered & ev->zones_left)
        abort();
    x->news += ev->type == VG_SCENE_NEW;
    x->ends += ev->type == VG_SCENE_END;
    json_decref(vg_event_json(x->s, "fuzz", ev));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t jlen = nul ? (size_t)(nul - data) : size;
    json_t *msg = json_loadb((const char *)data, jlen, 0, NULL);
    vg_scene *s = vg_scene_create();
    char err[256];
    if (json_is_object(msg)) {
        json_t *before = vg_scene_config_json(s);
        err[0] = '\0';
        int rc = vg_scene_set(s, json_object_get(msg, "zones"), json_object_get(msg, "lines"), err, sizeof err);
        json_t *after = vg_scene_config_json(s);
        if (rc < 0 && (!err[0] || !json_equal(before, after)))
            abort();   /* refused: a message, and nothing changed */
        if (rc == 0) {
            vg_scene *again = vg_scene_create();
            if (vg_scene_set(again, json_object_get(after, "zones"), json_object_get(after, "lines"), err, sizeof err) != 0)
                abort();
            json_t *back = vg_scene_config_json(again);
            if (!json_equal(back, after))
                abort();
            json_decref(back);
            vg_scene_destroy(again);
        }
        json_decref(before);
        json_decref(after);
    }
    json_decref(msg);
    seen x = { 0, 0, s };
    const uint8_t *p = nul ? nul + 1 : data + size, *end = data + size;
    double ts = 0;
    while (end - p >= 8) {
        /* a frame: up to 4 tracks of 8 bytes each */
        vg_scene_obj objs[4];
        size_t n = 0;
        uint8_t used = 0;
        for (int k = 0; k < 4 && end - p >= 8; k++, p += 8) {
            uint8_t id = (p[0] & 7) + 1;
            if (used & (1u << (id - 1)))
                continue;   /* a track once per frame, as the tracker gives them */
            used |= (uint8_t)(1u << (id - 1));
            float x0 = (float)(p[1] * 8), y0 = (float)(p[2] * 4), w = (float)(p[3] + 1), h = (float)(p[4] + 1);
            objs[n++] = (vg_scene_obj){ id, (p[5] & 1) ? "person" : "car", p[6] / 255.0f, 1.0f,
                                        { x0, y0, x0 + w, y0 + h }, 0, ts, (p[7] & 1) };
            if (p[7] & 2) {
                p += 8;
                break;   /* a shorter frame */
            }
        }
        ts += 100;
        vg_scene_update(s, ts, objs, n, on_event, &x);
        for (int i = 0; i < vg_scene_zone_count(s); i++)
            if (vg_scene_zone_inside(s, i) < 0 || vg_scene_zone_inside(s, i) > 8)
                abort();
        json_decref(vg_scene_counts_json(s, ts));
    }
    vg_scene_end_all(s, ts, on_event, &x);
    if (x.news != x.ends)
        abort();
    for (int i = 0; i < vg_scene_zone_count(s); i++)
        if (vg_scene_zone_inside(s, i) != 0)
            abort();
    vg_scene_destroy(s);
    return 0;
}
