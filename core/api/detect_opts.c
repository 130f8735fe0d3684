/* detect_opts: see detect_opts.h. */
#include "api/detect_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pipeline/colors.h"
#include "pool/pool.h"

void
vg_detect_opts_init(vg_detect_opts *o)
{
    memset(o, 0, sizeof *o);
    o->min_confidence = -1;
    o->nms = -1;
}


void
vg_detect_opts_copy(vg_detect_opts *dst, const vg_detect_opts *src)
{
    *dst = *src;
    for (size_t i = 0; i < src->nclasses; i++)
        dst->classes[i] = dst->classes_buf + (src->classes[i] - src->classes_buf);
}


static int
parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "1", "true", "yes", "on" }, *no[] = { "0", "false", "no", "off", "" };
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    return -1;
}


static int
parse_unit(const char *s, int lo_open, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v > 1 || v < 0 || (lo_open && v <= 0))
        return -1;
    *out = (float)v;
    return 0;
}


static int
set_classes(vg_detect_opts *o, const char *list, char *err, size_t errlen)
{
    if (strlen(list) >= sizeof o->classes_buf) {
        snprintf(err, errlen, "classes list too long");
        return -1;
    }
    snprintf(o->classes_buf, sizeof o->classes_buf, "%s", list);
    o->nclasses = 0;
    char *save = NULL;
    for (char *t = strtok_r(o->classes_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        char *e = t + strlen(t);
        while (e > t && e[-1] == ' ')
            *--e = '\0';
        if (!*t)
            continue;
        if (o->nclasses == VG_DETECT_MAX_CLASSES) {
            snprintf(err, errlen, "more than %d classes", VG_DETECT_MAX_CLASSES);
            return -1;
        }
        o->classes[o->nclasses++] = t;
    }
    return 0;
}


/* "colors", "none" or "": the attributes estimated for each detection (a comma list, for those to come). */
static int
set_attributes(vg_detect_opts *o, const char *list, char *err, size_t errlen)
{
    int a = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *t = p, *e = p + n;
        while (t < e && *t == ' ')
            t++;
        while (e > t && e[-1] == ' ')
            e--;
        if ((size_t)(e - t) == 6 && memcmp(t, "colors", 6) == 0) {
            a |= VG_ATTR_COLORS;
        } else if (e > t && !((size_t)(e - t) == 4 && memcmp(t, "none", 4) == 0)) {
            snprintf(err, errlen, "attributes must be colors or none, not '%.32s'", list);
            return -1;
        }
        p += n + (p[n] == ',');
    }
    o->attributes = a;
    return 0;
}


int
vg_detect_opts_set(vg_detect_opts *o, const char *name, const char *value, char *err, size_t errlen)
{
    if (strcmp(name, "model") == 0) {
        if (strlen(value) >= sizeof o->model) {
            snprintf(err, errlen, "model name too long");
            return -1;
        }
        snprintf(o->model, sizeof o->model, "%s", value);
    } else if (strcmp(name, "min_confidence") == 0 || strcmp(name, "threshold") == 0) {
        if (parse_unit(value, 1, &o->min_confidence) < 0) {
            snprintf(err, errlen, "%s must be a number in (0, 1], not '%.32s'", name, value);
            return -1;
        }
    } else if (strcmp(name, "nms") == 0) {
        if (parse_unit(value, 0, &o->nms) < 0) {
            snprintf(err, errlen, "nms must be a number in [0, 1], not '%.32s'", value);
            return -1;
        }
    } else if (strcmp(name, "classes") == 0) {
        return set_classes(o, value, err, errlen);
    } else if (strcmp(name, "k") == 0) {
        char *end;
        errno = 0;
        long k = strtol(value, &end, 10);
        if (end == value || *end || errno || k < 1 || k > VG_POST_MAX_CLASSES) {
            snprintf(err, errlen, "k must be an integer in [1, %d], not '%.32s'", VG_POST_MAX_CLASSES, value);
            return -1;
        }
        o->top_k = (int)k;
    } else if (strcmp(name, "annotate") == 0) {
        if (parse_bool(value, &o->annotate) < 0) {
            snprintf(err, errlen, "annotate must be true or false, not '%.32s'", value);
            return -1;
        }
    } else if (strcmp(name, "attributes") == 0) {
        return set_attributes(o, value, err, errlen);
    } else {
        return 1;
    }
    return 0;
}


void
vg_detect_opts_cut(const vg_detect_opts *o, vg_pool_result *res)
{
    size_t k = (size_t)(o && o->top_k > 0 ? o->top_k : VG_DETECT_TOP_K);
    if (res->task == VG_POOL_TASK_CLASSIFY && res->count > k)
        res->count = k;
}


void
vg_detect_opts_apply(const vg_detect_opts *o, vg_pool_job *job)
{
    job->min_confidence = o->min_confidence;
    job->nms = o->nms;
    job->classes = o->nclasses ? o->classes : NULL;
    job->nclasses = o->nclasses;
    job->annotate = o->annotate;
    job->attributes = o->attributes;
}


int
vg_detect_opts_from_json(vg_detect_opts *o, json_t *obj, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char sv[1024];
        if (vg_detect_opts_json_text(v, sv, sizeof sv) == 0) {
            /* an option's value (a long string is not one: an inline image, say) */
        } else if (json_is_array(v) && (strcmp(key, "classes") == 0 || strcmp(key, "attributes") == 0)) {
            size_t n = 0, i;
            json_t *e;
            sv[0] = '\0';
            json_array_foreach(v, i, e)
                if (json_is_string(e) && n < sizeof sv - 2)
                    n += (size_t)snprintf(sv + n, sizeof sv - n, "%s%s", n ? "," : "", json_string_value(e));
        } else {
            continue;
        }
        if (vg_detect_opts_set(o, key, sv, err, errlen) < 0)
            return -1;
    }
    return 0;
}


int
vg_detect_opts_json_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v) && json_string_length(v) < cap)
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_number(v))
        snprintf(out, cap, "%.9g", json_number_value(v));
    else if (json_is_boolean(v))
        snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    return 0;
}


int
vg_detect_opts_json_list(json_t *v, char *out, size_t cap)
{
    size_t o = 0, i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || o + json_string_length(e) + 2 > cap)
            return -1;
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", json_string_value(e));
    }
    return 0;
}
