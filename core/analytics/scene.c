/* scene: see scene.h. */
#include "analytics/scene.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

typedef struct filter {
    char labels[VG_SCENE_MAX_FILTER][VG_SCENE_NAME_MAX];
    int n;                      /* 0: every label */
} filter;

typedef struct zone {
    char name[VG_SCENE_NAME_MAX];
    double pts[VG_SCENE_MAX_POINTS][2];
    int np;
    filter only;
    int inside;                 /* tracks inside now */
    long entered;               /* entries so far */
    double time_ms;             /* time spent inside, by visits that ended */
} zone;

typedef struct label_count {
    char label[VG_SCENE_NAME_MAX];
    long n[2];                  /* [0] backward, [1] forward */
} label_count;

typedef struct line {
    char name[VG_SCENE_NAME_MAX];
    double a[2], b[2];          /* from, to */
    filter only;
    label_count counts[VG_SCENE_MAX_LABELS];
    int ncounts;
    long total[2];              /* [0] backward, [1] forward, every label */
} line;

/* What the scene keeps of one track. */
typedef struct tstate {
    vg_scene_state st;          /* now */
    vg_scene_state shown;       /* as its previous event showed it */
    double px, py;              /* its point: the bottom centre of its latest box */
    int has_point;
    int8_t side[VG_SCENE_MAX_LINES];        /* its side of each line: -1 left, 1 right, 0 not known yet */
    double sx[VG_SCENE_MAX_LINES], sy[VG_SCENE_MAX_LINES];  /* the point where that side was seen */
    double enter[VG_SCENE_MAX_ZONES];       /* when it entered each zone it is in, ms */
    int seen;                   /* in this frame's objs */
} tstate;

struct vg_scene {
    zone zones[VG_SCENE_MAX_ZONES];
    int nzones;
    line lines[VG_SCENE_MAX_LINES];
    int nlines;
    tstate *tracks;
    size_t n, cap;
};


vg_scene *
vg_scene_create(void)
{
    return vg_xcalloc(1, sizeof(vg_scene));
}


void
vg_scene_destroy(vg_scene *s)
{
    if (!s)
        return;
    free(s->tracks);
    free(s);
}

/* ------------------------------------------------------------------ */
/* reading zones and lines */

/* A name: 1 to VG_SCENE_NAME_MAX - 1 bytes of letters, digits, '_', '-', '.'. */
static int
read_name(const json_t *v, char *out, const char *what, char *err, size_t errlen)
{
    const char *p = json_string_value(v);
    size_t n = p ? json_string_length(v) : 0;
    if (!p || n == 0 || n >= VG_SCENE_NAME_MAX) {
        snprintf(err, errlen, "%s needs a name of 1 to %d characters", what, VG_SCENE_NAME_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.')) {
            snprintf(err, errlen, "%s name '%.31s': only letters, digits, '_', '-' and '.'", what, p);
            return -1;
        }
    }
    memcpy(out, p, n + 1);
    return 0;
}


static int
read_point(const json_t *v, double out[2], const char *what, const char *name, char *err, size_t errlen)
{
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1))) {
        snprintf(err, errlen, "%s '%s': a point is [x, y]", what, name);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        double x = json_number_value(json_array_get(v, (size_t)i));
        if (!(x >= -VG_SCENE_COORD_MAX && x <= VG_SCENE_COORD_MAX)) {
            snprintf(err, errlen, "%s '%s': a coordinate out of [-%d, %d]", what, name, VG_SCENE_COORD_MAX,
                     VG_SCENE_COORD_MAX);
            return -1;
        }
        out[i] = x;
    }
    return 0;
}


static int
read_filter(const json_t *v, filter *f, const char *what, const char *name, char *err, size_t errlen)
{
    f->n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > VG_SCENE_MAX_FILTER) {
        snprintf(err, errlen, "%s '%s': labels is an array of at most %d names", what, name, VG_SCENE_MAX_FILTER);
        return -1;
    }
    size_t i;
    const json_t *l;
    json_array_foreach(v, i, l) {
        const char *p = json_string_value(l);
        if (!p || json_string_length(l) == 0 || json_string_length(l) >= VG_SCENE_NAME_MAX) {
            snprintf(err, errlen, "%s '%s': a label is a string of 1 to %d bytes", what, name, VG_SCENE_NAME_MAX - 1);
            return -1;
        }
        memcpy(f->labels[f->n++], p, json_string_length(l) + 1);
    }
    return 0;
}


static int
check_keys(const json_t *o, const char *const *known, const char *what, char *err, size_t errlen)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "%s: unknown field '%.32s'", what, k);
            return -1;
        }
    }
    return 0;
}


static int
read_zones(const json_t *v, zone *out, int *n, char *err, size_t errlen)
{
    static const char *const known[] = { "name", "points", "labels", NULL };
    if (!json_is_array(v) || json_array_size(v) > VG_SCENE_MAX_ZONES) {
        snprintf(err, errlen, "zones is an array of at most %d zones", VG_SCENE_MAX_ZONES);
        return -1;
    }
    size_t i;
    const json_t *z;
    json_array_foreach(v, i, z) {
        zone *o = &out[i];
        memset(o, 0, sizeof *o);
        if (!json_is_object(z)) {
            snprintf(err, errlen, "a zone is an object");
            return -1;
        }
        if (check_keys(z, known, "zone", err, errlen) < 0 || read_name(json_object_get(z, "name"), o->name, "a zone", err, errlen) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j].name, o->name) == 0) {
                snprintf(err, errlen, "two zones are named '%s'", o->name);
                return -1;
            }
        const json_t *pts = json_object_get(z, "points");
        if (!json_is_array(pts) || json_array_size(pts) < 3 || json_array_size(pts) > VG_SCENE_MAX_POINTS) {
            snprintf(err, errlen, "zone '%s': points is an array of 3 to %d [x, y] points", o->name,
                     VG_SCENE_MAX_POINTS);
            return -1;
        }
        size_t k;
        const json_t *p;
        json_array_foreach(pts, k, p)
            if (read_point(p, o->pts[k], "zone", o->name, err, errlen) < 0)
                return -1;
        o->np = (int)json_array_size(pts);
        if (read_filter(json_object_get(z, "labels"), &o->only, "zone", o->name, err, errlen) < 0)
            return -1;
    }
    *n = (int)json_array_size(v);
    return 0;
}


static int
read_lines(const json_t *v, line *out, int *n, char *err, size_t errlen)
{
    static const char *const known[] = { "name", "from", "to", "labels", NULL };
    if (!json_is_array(v) || json_array_size(v) > VG_SCENE_MAX_LINES) {
        snprintf(err, errlen, "lines is an array of at most %d lines", VG_SCENE_MAX_LINES);
        return -1;
    }
    size_t i;
    const json_t *l;
    json_array_foreach(v, i, l) {
        line *o = &out[i];
        memset(o, 0, sizeof *o);
        if (!json_is_object(l)) {
            snprintf(err, errlen, "a line is an object");
            return -1;
        }
        if (check_keys(l, known, "line", err, errlen) < 0 || read_name(json_object_get(l, "name"), o->name, "a line", err, errlen) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j].name, o->name) == 0) {
                snprintf(err, errlen, "two lines are named '%s'", o->name);
                return -1;
            }
        if (read_point(json_object_get(l, "from"), o->a, "line", o->name, err, errlen) < 0 ||
            read_point(json_object_get(l, "to"), o->b, "line", o->name, err, errlen) < 0)
            return -1;
        if (o->a[0] == o->b[0] && o->a[1] == o->b[1]) {
            snprintf(err, errlen, "line '%s': from and to are the same point", o->name);
            return -1;
        }
        if (read_filter(json_object_get(l, "labels"), &o->only, "line", o->name, err, errlen) < 0)
            return -1;
    }
    *n = (int)json_array_size(v);
    return 0;
}


int
vg_scene_set(vg_scene *s, const json_t *zones, const json_t *lines, char *err, size_t errlen)
{
    int rc = -1;
    zone *z = vg_xcalloc(VG_SCENE_MAX_ZONES, sizeof *z);
    line *l = vg_xcalloc(VG_SCENE_MAX_LINES, sizeof *l);
    int nz = s->nzones, nl = s->nlines;
    if (zones && read_zones(zones, z, &nz, err, errlen) < 0)
        goto out;
    if (lines && read_lines(lines, l, &nl, err, errlen) < 0)
        goto out;
    if (zones) {
        memcpy(s->zones, z, sizeof s->zones);
        s->nzones = nz;
        for (size_t i = 0; i < s->n; i++) {
            s->tracks[i].st.zones = s->tracks[i].st.entered = 0;
            s->tracks[i].shown.zones = s->tracks[i].shown.entered = 0;
        }
    }
    if (lines) {
        memcpy(s->lines, l, sizeof s->lines);
        s->nlines = nl;
        for (size_t i = 0; i < s->n; i++) {
            memset(s->tracks[i].side, 0, sizeof s->tracks[i].side);
            s->tracks[i].st.crossed_forward = s->tracks[i].st.crossed_backward = 0;
            s->tracks[i].shown.crossed_forward = s->tracks[i].shown.crossed_backward = 0;
        }
    }
    rc = 0;
out:
    free(z);
    free(l);
    return rc;
}


static json_t *
filter_json(const filter *f)
{
    json_t *a = json_array();
    for (int i = 0; i < f->n; i++)
        json_array_append_new(a, json_string(f->labels[i]));
    return a;
}


static json_t *
point_json(const double p[2])
{
    return json_pack("[f, f]", p[0], p[1]);
}


json_t *
vg_scene_config_json(const vg_scene *s)
{
    json_t *zones = json_array(), *lines = json_array();
    for (int i = 0; i < s->nzones; i++) {
        const zone *z = &s->zones[i];
        json_t *pts = json_array();
        for (int k = 0; k < z->np; k++)
            json_array_append_new(pts, point_json(z->pts[k]));
        json_t *o = json_pack("{s:s, s:o}", "name", z->name, "points", pts);
        if (z->only.n)
            json_object_set_new(o, "labels", filter_json(&z->only));
        json_array_append_new(zones, o);
    }
    for (int i = 0; i < s->nlines; i++) {
        const line *l = &s->lines[i];
        json_t *o = json_pack("{s:s, s:o, s:o}", "name", l->name, "from", point_json(l->a), "to", point_json(l->b));
        if (l->only.n)
            json_object_set_new(o, "labels", filter_json(&l->only));
        json_array_append_new(lines, o);
    }
    return json_pack("{s:o, s:o}", "zones", zones, "lines", lines);
}


int
vg_scene_has_shapes(const vg_scene *s)
{
    return s->nzones > 0 || s->nlines > 0;
}

/* ------------------------------------------------------------------ */
/* geometry */

/* Even-odd rule; a point on an edge may fall either way. */
static int
zone_contains(const zone *z, double x, double y)
{
    int in = 0;
    for (int i = 0, j = z->np - 1; i < z->np; j = i++) {
        double xi = z->pts[i][0], yi = z->pts[i][1], xj = z->pts[j][0], yj = z->pts[j][1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
            in = !in;
    }
    return in;
}


/* > 0: c is right of a->b on the image (y down); < 0: left; 0: on the line through them. */
static double
orient(const double a[2], const double b[2], double cx, double cy)
{
    return (b[0] - a[0]) * (cy - a[1]) - (b[1] - a[1]) * (cx - a[0]);
}


static int
sign(double v)
{
    return v > 0 ? 1 : v < 0 ? -1 : 0;
}


/* Whether the move p->q (p and q on either side of the line through a, b) passes between a and b. */
static int
crosses_segment(const line *l, double px, double py, double qx, double qy)
{
    double p[2] = { px, py }, q[2] = { qx, qy };
    int oa = sign(orient(p, q, l->a[0], l->a[1])), ob = sign(orient(p, q, l->b[0], l->b[1]));
    return oa * ob <= 0;
}


static int
filter_passes(const filter *f, const char *label)
{
    if (!f->n)
        return 1;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->labels[i], label) == 0)
            return 1;
    return 0;
}


static void
line_count(line *l, const char *label, int forward)
{
    l->total[forward]++;
    for (int i = 0; i < l->ncounts; i++)
        if (strcmp(l->counts[i].label, label) == 0) {
            l->counts[i].n[forward]++;
            return;
        }
    if (l->ncounts == VG_SCENE_MAX_LABELS)
        return;   /* in the totals only */
    label_count *c = &l->counts[l->ncounts++];
    snprintf(c->label, sizeof c->label, "%s", label);
    c->n[forward] = 1;
}

/* ------------------------------------------------------------------ */
/* tracks */

static tstate *
find_track(vg_scene *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->tracks[i].st.id == id)
            return &s->tracks[i];
    return NULL;
}


static tstate *
add_track(vg_scene *s, const vg_scene_obj *o)
{
    if (s->n == VG_SCENE_MAX_TRACKS)
        return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->tracks = vg_xrealloc(s->tracks, s->cap * sizeof *s->tracks);
    }
    tstate *t = &s->tracks[s->n++];
    memset(t, 0, sizeof *t);
    t->st.id = o->id;
    return t;
}


/* Leaves zone i at ts. */
static void
leave_zone(vg_scene *s, tstate *t, int i, double ts)
{
    zone *z = &s->zones[i];
    t->st.zones &= ~(1u << i);
    z->inside--;
    if (ts > t->enter[i])
        z->time_ms += ts - t->enter[i];
}


static void
emit(tstate *t, vg_scene_event *ev, vg_scene_event_cb cb, void *ud)
{
    t->st.changes++;
    ev->after = &t->st;
    ev->before = ev->type == VG_SCENE_NEW ? NULL : &t->shown;
    if (cb)
        cb(ud, ev);
    t->shown = t->st;
}


/* Moves one track to its new point: zones entered and left, lines crossed. */
static void
track_move(vg_scene *s, tstate *t, double ts, vg_scene_event *ev)
{
    double x = (t->st.box[0] + t->st.box[2]) / 2, y = t->st.box[3];
    for (int i = 0; i < s->nzones; i++) {
        zone *z = &s->zones[i];
        int was = (t->st.zones >> i) & 1;
        int in = filter_passes(&z->only, t->st.label) && zone_contains(z, x, y);
        if (in && !was) {
            t->st.zones |= 1u << i;
            t->st.entered |= 1u << i;
            t->enter[i] = ts;
            z->inside++;
            z->entered++;
            ev->zones_entered |= 1u << i;
        } else if (!in && was) {
            leave_zone(s, t, i, ts);
            ev->zones_left |= 1u << i;
        }
    }
    for (int i = 0; i < s->nlines; i++) {
        line *l = &s->lines[i];
        int side = sign(orient(l->a, l->b, x, y));
        if (!side)
            continue;   /* on the line: not across it yet */
        if (t->side[i] && side != t->side[i] && crosses_segment(l, t->sx[i], t->sy[i], x, y) &&
            filter_passes(&l->only, t->st.label)) {
            int forward = side > 0;   /* left to right */
            line_count(l, t->st.label, forward);
            if (forward) {
                t->st.crossed_forward |= 1u << i;
                ev->lines_forward |= 1u << i;
            } else {
                t->st.crossed_backward |= 1u << i;
                ev->lines_backward |= 1u << i;
            }
        }
        t->side[i] = (int8_t)side;
        t->sx[i] = x;
        t->sy[i] = y;
    }
    t->px = x;
    t->py = y;
    t->has_point = 1;
}


/* A track gone: leaves its zones, says `end`, and is forgotten (t is then another track or past the end). */
static void
track_end(vg_scene *s, tstate *t, double ts, vg_scene_event_cb cb, void *ud)
{
    vg_scene_event ev = { .type = VG_SCENE_END, .ts = ts };
    for (int i = 0; i < s->nzones; i++)
        if ((t->st.zones >> i) & 1) {
            leave_zone(s, t, i, ts);
            ev.zones_left |= 1u << i;
        }
    t->st.end = ts > t->st.last_seen ? ts : t->st.last_seen;
    emit(t, &ev, cb, ud);
    *t = s->tracks[--s->n];
}


void
vg_scene_update(vg_scene *s, double ts, const vg_scene_obj *objs, size_t n, vg_scene_event_cb cb, void *ud)
{
    for (size_t i = 0; i < s->n; i++)
        s->tracks[i].seen = 0;
    for (size_t k = 0; k < n; k++) {
        const vg_scene_obj *o = &objs[k];
        if (!o->id)
            continue;
        tstate *t = find_track(s, o->id);
        int fresh = 0;
        if (!t) {
            if (!(t = add_track(s, o)))
                continue;   /* more tracks than followed: this one has no events */
            fresh = 1;
        }
        t->seen = 1;
        vg_scene_event ev = { .type = fresh ? VG_SCENE_NEW : VG_SCENE_UPDATE, .ts = ts };
        snprintf(t->st.label, sizeof t->st.label, "%s", o->label ? o->label : "");
        t->st.top_score = o->top_score;
        t->st.first_seen = o->first_seen;
        t->st.last_seen = o->last_seen;
        if (o->matched || fresh) {
            t->st.score = o->score;
            memcpy(t->st.box, o->box, sizeof t->st.box);
            track_move(s, t, ts, &ev);
        }
        if (fresh || ev.zones_entered || ev.zones_left || ev.lines_forward || ev.lines_backward)
            emit(t, &ev, cb, ud);
    }
    for (size_t i = 0; i < s->n;) {
        if (s->tracks[i].seen) {
            i++;
            continue;
        }
        track_end(s, &s->tracks[i], ts, cb, ud);   /* the last track moves into slot i */
    }
}


void
vg_scene_end_all(vg_scene *s, double ts, vg_scene_event_cb cb, void *ud)
{
    while (s->n)
        track_end(s, &s->tracks[s->n - 1], ts, cb, ud);
}

/* ------------------------------------------------------------------ */
/* counts */

json_t *
vg_scene_counts_json(const vg_scene *s, double ts)
{
    json_t *zones = json_array(), *lines = json_array();
    for (int i = 0; i < s->nzones; i++) {
        const zone *z = &s->zones[i];
        double t = z->time_ms;
        for (size_t k = 0; k < s->n; k++)
            if (((s->tracks[k].st.zones >> i) & 1) && ts > s->tracks[k].enter[i])
                t += ts - s->tracks[k].enter[i];
        json_array_append_new(zones, json_pack("{s:s, s:i, s:I, s:I}", "name", z->name, "inside", z->inside,
                                               "entered", (json_int_t)z->entered, "time_ms", (json_int_t)llround(t)));
    }
    for (int i = 0; i < s->nlines; i++) {
        const line *l = &s->lines[i];
        json_t *fw = json_object(), *bw = json_object();
        for (int k = 0; k < l->ncounts; k++) {
            if (l->counts[k].n[1])
                json_object_set_new(fw, l->counts[k].label, json_integer(l->counts[k].n[1]));
            if (l->counts[k].n[0])
                json_object_set_new(bw, l->counts[k].label, json_integer(l->counts[k].n[0]));
        }
        json_array_append_new(lines, json_pack("{s:s, s:o, s:o, s:I, s:I}", "name", l->name, "forward", fw,
                                               "backward", bw, "forward_total", (json_int_t)l->total[1],
                                               "backward_total", (json_int_t)l->total[0]));
    }
    return json_pack("{s:o, s:o}", "zones", zones, "lines", lines);
}


const char *
vg_scene_zone_name(const vg_scene *s, int i)
{
    return i >= 0 && i < s->nzones ? s->zones[i].name : "";
}


const char *
vg_scene_line_name(const vg_scene *s, int i)
{
    return i >= 0 && i < s->nlines ? s->lines[i].name : "";
}


int
vg_scene_zone_count(const vg_scene *s)
{
    return s->nzones;
}


int
vg_scene_line_count(const vg_scene *s)
{
    return s->nlines;
}


int
vg_scene_zone_inside(const vg_scene *s, int i)
{
    return i >= 0 && i < s->nzones ? s->zones[i].inside : -1;
}


long
vg_scene_zone_entered(const vg_scene *s, int i)
{
    return i >= 0 && i < s->nzones ? s->zones[i].entered : -1;
}


long
vg_scene_line_crossings(const vg_scene *s, int i, int forward, const char *label)
{
    if (i < 0 || i >= s->nlines)
        return -1;
    const line *l = &s->lines[i];
    int d = forward ? 1 : 0;
    if (!label)
        return l->total[d];
    for (int k = 0; k < l->ncounts; k++)
        if (strcmp(l->counts[k].label, label) == 0)
            return l->counts[k].n[d];
    return 0;
}


int
vg_scene_zone_points(const vg_scene *s, int i, double (*out)[2], int max)
{
    if (i < 0 || i >= s->nzones)
        return -1;
    const zone *z = &s->zones[i];
    int n = z->np < max ? z->np : max;
    memcpy(out, z->pts, (size_t)n * sizeof *out);
    return n;
}


int
vg_scene_line_points(const vg_scene *s, int i, double a[2], double b[2])
{
    if (i < 0 || i >= s->nlines)
        return -1;
    memcpy(a, s->lines[i].a, sizeof s->lines[i].a);
    memcpy(b, s->lines[i].b, sizeof s->lines[i].b);
    return 0;
}
