/* render: see render.h. */
#include "api/render.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "base/base64.h"
#include "base/jsonw.h"
#include "http/http.h"
#include "pipeline/colors.h"
#include "pipeline/postprocess.h"
#include "pool/pool.h"

void
vg_render_text(vg_render *o, vg_jsonw *w)
{
    o->w = w;
    o->depth = 0;
    o->failed = 0;
}


void
vg_render_tree(vg_render *o, json_t *obj)
{
    o->w = NULL;
    o->open[0] = obj;
    o->depth = 1;
    o->failed = 0;
}

/* ------------------------------------------------------------------ */
/* the two outputs: every value goes through these; key is NULL in arrays */

/* Text: writes the key (in an object) of the value written next. */
static vg_jsonw *
text_key(vg_render *o, const char *key)
{
    if (key)
        vg_jsonw_key(o->w, key);
    return o->w;
}


/* Tree: v (its reference taken) into the open object under key, or onto the open array. */
static void
tree_put(vg_render *o, const char *key, json_t *v)
{
    json_t *top = o->open[o->depth - 1];
    if (!v)
        o->failed = 1;
    else if (json_is_array(top))
        json_array_append_new(top, v);
    else
        json_object_set_new(top, key, v);
}


static void
open_value(vg_render *o, const char *key, int array)
{
    if (o->w) {
        if (array)
            vg_jsonw_arr(text_key(o, key));
        else
            vg_jsonw_obj(text_key(o, key));
        return;
    }
    assert(o->depth < VG_RENDER_DEPTH);
    json_t *v = array ? json_array() : json_object();
    tree_put(o, key, v);   /* the parent holds it; open[] borrows */
    o->open[o->depth++] = v;
}


static void
close_value(vg_render *o, int array)
{
    if (!o->w)
        o->depth--;
    else if (array)
        vg_jsonw_arr_end(o->w);
    else
        vg_jsonw_obj_end(o->w);
}


static void
put_str(vg_render *o, const char *key, const char *s)
{
    if (o->w)
        vg_jsonw_cstr(text_key(o, key), s);
    else
        tree_put(o, key, s ? json_string(s) : json_null());
}


static void
put_int(vg_render *o, const char *key, int64_t v)
{
    if (o->w)
        vg_jsonw_int(text_key(o, key), v);
    else
        tree_put(o, key, json_integer((json_int_t)v));
}


/* A confidence: 4 significant digits in text, rounded to 4 decimals in a tree. */
static void
put_confidence(vg_render *o, const char *key, float c)
{
    if (o->w)
        vg_jsonw_double_prec(text_key(o, key), c, 4);
    else
        tree_put(o, key, json_real(round(c * 10000) / 10000));
}


/* Microseconds as milliseconds: 4 significant digits in text, as they are in a tree. */
static void
put_ms(vg_render *o, const char *key, uint64_t us)
{
    if (o->w)
        vg_jsonw_double_prec(text_key(o, key), us / 1000.0, 4);
    else
        tree_put(o, key, json_real(us / 1000.0));
}

/* ------------------------------------------------------------------ */
/* detections and results */

/* A detection's colour estimates (when it has any): {"upper_color", "lower_color", "estimate": true}. */
static void
put_attributes(vg_render *o, const vg_detection *d)
{
    const char *up = vg_color_name(d->upper_color), *lo = vg_color_name(d->lower_color);
    if (!up && !lo)
        return;
    open_value(o, "attributes", 0);
    put_str(o, "upper_color", up);
    put_str(o, "lower_color", lo);
    if (o->w)
        vg_jsonw_bool(text_key(o, "estimate"), 1);
    else
        tree_put(o, "estimate", json_true());
    close_value(o, 0);
}

void
vg_render_detection(vg_render *o, const vg_detection *d, int flags)
{
    int failed = o->failed;
    o->failed = 0;
    open_value(o, NULL, 0);
    if (!(flags & VG_DETJ_NO_LABEL))
        put_str(o, "label", d->label);
    if (flags & VG_DETJ_CLASS_ID)
        put_int(o, "class_id", d->class_id);
    put_confidence(o, "confidence", d->confidence);
    if ((flags & VG_DETJ_BOX) && !(flags & VG_DETJ_NO_BOX))
        open_value(o, "box", 0);
    if (!(flags & VG_DETJ_NO_BOX)) {
        put_int(o, "x_min", d->x_min);
        put_int(o, "y_min", d->y_min);
        put_int(o, "x_max", d->x_max);
        put_int(o, "y_max", d->y_max);
    }
    if ((flags & VG_DETJ_BOX) && !(flags & VG_DETJ_NO_BOX))
        close_value(o, 0);
    put_attributes(o, d);
    close_value(o, 0);
    if (o->failed && !o->w) {
        json_t *arr = o->open[o->depth - 1];
        json_array_remove(arr, json_array_size(arr) - 1);
    }
    o->failed |= failed;
}


void
vg_render_detections(vg_render *o, const char *key, const vg_detection *d, size_t n, int flags)
{
    open_value(o, key, 1);
    for (size_t i = 0; i < n; i++)
        vg_render_detection(o, &d[i], flags);
    close_value(o, 1);
}


void
vg_render_timings(vg_render *o, const char *key, const vg_pool_result *res)
{
    const uint64_t us[VG_RENDER_TIMINGS] = { res->queue_us, res->decode_us, res->infer_us, res->post_us,
                                             res->annotate_us, res->total_us };
    vg_render_timings_us(o, key, us);
}


void
vg_render_timings_us(vg_render *o, const char *key, const uint64_t us[VG_RENDER_TIMINGS])
{
    static const char *const names[VG_RENDER_TIMINGS] = { "queue", "decode", "infer", "post", "annotate", "total" };
    open_value(o, key, 0);
    for (int i = 0; i < 6; i++)
        put_ms(o, names[i], us[i]);
    close_value(o, 0);
}


void
vg_render_found(vg_render *o, const vg_pool_result *res, int flags)
{
    if (res->task == VG_POOL_TASK_CLASSIFY) {
        put_str(o, "task", "classify");
        vg_render_detections(o, "classifications", res->detections, res->count,
                             (flags & VG_DETJ_NO_LABEL) | VG_DETJ_CLASS_ID | VG_DETJ_NO_BOX);
    } else {
        vg_render_detections(o, "detections", res->detections, res->count, flags);
    }
}


void
vg_render_result(vg_render *o, const vg_pool_result *res, int flags)
{
    put_str(o, "model", res->model);
    put_str(o, "backend", res->backend);
    if (!(flags & VG_DETJ_FLAT_SIZE))
        open_value(o, "image", 0);
    put_int(o, "width", res->width);
    put_int(o, "height", res->height);
    if (!(flags & VG_DETJ_FLAT_SIZE))
        close_value(o, 0);
    put_int(o, "count", (int64_t)res->count);
    vg_render_found(o, res, flags);
    vg_render_timings(o, "timings_ms", res);
}


void
vg_render_jpeg(vg_render *o, const char *key, const void *jpeg, size_t len)
{
    vg_buf b64;
    vg_buf_init(&b64);
    vg_base64_encode(&b64, jpeg, len, VG_BASE64_STD);
    if (o->w) {
        vg_jsonw_str(text_key(o, key), b64.data, b64.len);
    } else {
        tree_put(o, key, json_stringn(b64.data, b64.len));
    }
    vg_buf_release(&b64);
}


void
vg_detection_json(vg_jsonw *w, const vg_detection *d, int flags)
{
    vg_render o;
    vg_render_text(&o, w);
    vg_render_detection(&o, d, flags);
}


/* ------------------------------------------------------------------ */
/* DeepStack and CodeProject.AI */

/* CPAI's summary line: "Found dog, car, bicycle" (each label once, best first), or "No objects found". */
static void
deepstack_message(vg_buf *b, const vg_pool_result *res)
{
    enum { MAX_LABELS = 16 };
    const char *seen[MAX_LABELS];
    int n = 0;
    if (res->count == 0) {
        vg_buf_puts(b, "No objects found");
        return;
    }
    vg_buf_puts(b, "Found ");
    for (size_t i = 0; i < res->count; i++) {
        const char *l = res->detections[i].label ? res->detections[i].label : "?";
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(seen[k], l) == 0;
        if (dup)
            continue;
        if (n == MAX_LABELS) {
            vg_buf_puts(b, ", ...");
            break;
        }
        if (n)
            vg_buf_puts(b, ", ");
        vg_buf_puts(b, l);
        seen[n++] = l;
    }
}


void
vg_render_scene(vg_jsonw *w, const vg_pool_result *res, int unstored)
{
    const vg_detection *best = res->count ? &res->detections[0] : NULL;
    vg_jsonw_obj(w);
    vg_jsonw_kbool(w, "success", 1);
    vg_jsonw_kstr(w, "label", best && best->label ? best->label : "");
    vg_jsonw_key(w, "confidence");
    vg_jsonw_double_prec(w, best ? best->confidence : 0, 4);
    vg_jsonw_kuint(w, "duration", res->total_us / 1000);
    if (unstored)
        vg_jsonw_kbool(w, "stored", 0);
    vg_jsonw_obj_end(w);
}


void
vg_render_deepstack(vg_jsonw *w, const vg_pool_result *res, int face, int unstored)
{
    vg_render o;
    vg_buf msg;
    vg_buf_init(&msg);
    deepstack_message(&msg, res);
    vg_render_text(&o, w);
    vg_jsonw_obj(w);
    vg_jsonw_kbool(w, "success", 1);
    vg_render_detections(&o, "predictions", res->detections, res->count, face ? VG_DETJ_NO_LABEL : 0);
    vg_jsonw_kuint(w, "count", res->count);
    vg_jsonw_kuint(w, "inferenceMs", res->infer_us / 1000);
    vg_jsonw_kuint(w, "processMs", res->total_us / 1000);
    vg_jsonw_kuint(w, "duration", res->total_us / 1000);
    vg_jsonw_kstr(w, "message", vg_buf_cstr(&msg));
    vg_jsonw_kstr(w, "moduleId", "vigia");
    vg_jsonw_kstr(w, "moduleName", "vigia");
    vg_jsonw_kstr(w, "command", "detect");
    vg_jsonw_kstr(w, "processedBy", "localhost");
    vg_jsonw_kstr(w, "inferenceDevice", res->backend && strstr(res->backend, "cuda") ? "GPU" : "CPU");
    vg_jsonw_kstr(w, "timestampUTC", vg_http_date());
    vg_jsonw_kint(w, "code", 200);
    if (unstored)
        vg_jsonw_kbool(w, "stored", 0);   /* asked to be stored, and it was not */
    vg_jsonw_obj_end(w);
    vg_buf_release(&msg);
}
