/* kserve_api: see kserve_api.h and docs/kserve.md. */
#include "api/kserve_api.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/auth.h"
#include "api/call.h"
#include "base/error.h"
#include "api/detect_opts.h"
#include "http/encoding.h"
#include "http/http.h"
#include "http/reply.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "pipeline/model.h"
#include "pool/pool.h"
#include "pipeline/rawimg.h"
#include "net/server.h"
#include "vg_build.h"

#define KS_MAX_JSON (16u << 20)     /* the JSON part of a request: parsed in the master */
#define KS_MAX_RANK 8
#define KS_VERSION "1"
#define KS_MAX_INDEX_BODY 4096      /* POST /v2/repository/index: {} or {"ready": true} */

enum { IN_IMAGE, IN_PIXELS, IN_TENSOR };
static const char *const in_names[] = { "image", "pixels", "tensor" };
static const char *const in_types[] = { "BYTES", "UINT8", "FP32" };

enum { OUT_BOXES, OUT_SCORES, OUT_CLASSES, OUT_LABELS, OUT_NUM, OUT_COUNT };
static const char *const out_names[] = { "boxes", "scores", "classes", "labels", "num_detections" };
static const char *const out_types[] = { "FP32", "FP32", "INT32", "BYTES", "INT32" };

struct vg_kserve_api {
    vg_server *srv;
    vg_pool *pool;
    int inflight;
};

/* An inference request's own parts; its images and their results are the call's. Lives until the answer. */
typedef struct kcall {
    vg_call *call;
    char model[VG_MODEL_NAME_MAX + 1];
    char *id;                     /* the request's id, echoed; NULL if none */
    vg_detect_opts opt;
    int binary_all;               /* parameters.binary_data_output */
    int nout;                     /* outputs to return, in order */
    int outs[OUT_COUNT];
    int out_binary[OUT_COUNT];
    int out_classes[OUT_COUNT];   /* Triton's classification extension: that many "value:index:label" strings */
} kcall;


/* ------------------------------------------------------------------ */
/* errors: {"error": "..."} as the protocol has them, for every error under /v2 (the dialect) */

static void
ks_dialect(vg_req *r, int status, const char *code, const char *message, vg_buf *body, void *ud)
{
    (void)r, (void)status, (void)code, (void)ud;
    vg_jsonw w;
    vg_jsonw_init(&w, body);
    vg_jsonw_obj(&w);
    vg_jsonw_kstr(&w, "error", message);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(body, '\n');
}


static void ks_error(vg_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
ks_error(vg_req *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_req_error(r, status, status >= 500 ? "kserve_server_error" : "kserve_bad_request", "%s", msg);
}


/* The {name} and {version} parameters; 0, or -1 after answering. */
static int
model_params(vg_req *r, vg_kserve_api *api, char name[VG_MODEL_NAME_MAX + 1], vg_pool_model_stats *st)
{
    vg_str raw = vg_req_param(r, 0);
    vg_buf b;
    vg_buf_init(&b);
    int ok = vg_url_decode(raw.p, raw.n, &b, 0) == 0 && b.len <= VG_MODEL_NAME_MAX && vg_model_name_valid(vg_buf_cstr(&b));
    if (ok)
        memcpy(name, b.data, b.len + 1);
    vg_buf_release(&b);
    if (!ok) {
        ks_error(r, 400, "malformed model name");
        return -1;
    }
    if (vg_pool_model_stats_by_name(api->pool, name, st) != 0) {
        ks_error(r, 404, "unknown model '%s'", name);
        return -1;
    }
    const vg_route *rt = vg_req_route(r);
    if (strstr(rt->pattern, "{version}")) {
        vg_str v = vg_req_param(r, 1);
        if (v.n != strlen(KS_VERSION) || memcmp(v.p, KS_VERSION, v.n) != 0) {
            ks_error(r, 404, "model '%s' has no version '%.*s' (it has version " KS_VERSION ")", name,
                     (int)(v.n > 32 ? 32 : v.n), v.p);
            return -1;
        }
    }
    return 0;
}


static int
model_ready(const vg_pool_model_stats *st)
{
    return st->workers_ready > 0 && (strcmp(st->state, "ready") == 0 || strcmp(st->state, "degraded") == 0);
}

/* ------------------------------------------------------------------ */
/* health and metadata */

static void
route_server(vg_req *r, void *ud)
{
    (void)ud;
    const char *body = "{\"name\":\"vigia\",\"version\":\"" PACKAGE_VERSION "\",\"extensions\":[\"binary_tensor_data\",\"model_configuration\",\"statistics\"]}\n";
    vg_req_respond(r, 200, "application/json", body, strlen(body));
}


static void
route_live(vg_req *r, void *ud)
{
    (void)ud;
    vg_req_respond(r, 200, "application/json", "{\"live\":true}\n", 14);
}


static void
route_ready(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    if (vg_pool_is_ready(api->pool) && !vg_server_is_draining(api->srv))
        vg_req_respond(r, 200, "application/json", "{\"ready\":true}\n", 15);
    else
        vg_req_respond(r, 400, "application/json", "{\"ready\":false}\n", 16);
}


static void
route_model_ready(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    if (model_params(r, api, name, &st) != 0)
        return;
    vg_buf b;
    vg_buf_init(&b);
    int ready = model_ready(&st);
    vg_buf_printf(&b, "{\"name\":\"%s\",\"ready\":%s}\n", name, ready ? "true" : "false");
    vg_req_respond_buf(r, ready ? 200 : 400, "application/json", &b);
    vg_buf_release(&b);
}


/*
 * The tensors every model takes and gives, once for both views: dims
 * without the batch dimension, as Triton's model configuration has them
 * ([1]: one value per image, [batch] on the wire). KServe's metadata shows
 * the same with the batch dimension first.
 */
typedef struct ks_tensor {
    const char *name, *datatype;   /* KServe's datatype; Triton's is TYPE_ and STRING for BYTES */
    int rank;
    int64_t dims[3];
} ks_tensor;

static const ks_tensor ks_inputs[] = {
    { "image", "BYTES", 1, { 1 } },
    { "pixels", "UINT8", 3, { -1, -1, 3 } },
    { "tensor", "FP32", 3, { 3, -1, -1 } },
};
static const ks_tensor ks_outputs[] = {
    { "boxes", "FP32", 2, { -1, 4 } },
    { "scores", "FP32", 1, { -1 } },
    { "classes", "INT32", 1, { -1 } },
    { "labels", "BYTES", 1, { -1 } },
    { "num_detections", "INT32", 1, { 1 } },
};
#define KS_COUNT(a) (sizeof (a) / sizeof (a)[0])


/* KServe's metadata of tensors: {"name", "datatype", "shape"} with the batch dimension. */
static void
tensors_meta(vg_jsonw *w, const char *key, const ks_tensor *t, size_t n)
{
    vg_jsonw_karr(w, key);
    for (size_t k = 0; k < n; k++) {
        vg_jsonw_obj(w);
        vg_jsonw_kstr(w, "name", t[k].name);
        vg_jsonw_kstr(w, "datatype", t[k].datatype);
        vg_jsonw_karr(w, "shape");
        vg_jsonw_int(w, -1);
        if (!(t[k].rank == 1 && t[k].dims[0] == 1))
            for (int i = 0; i < t[k].rank; i++)
                vg_jsonw_int(w, t[k].dims[i]);
        vg_jsonw_arr_end(w);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
}


static void
route_model(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    if (model_params(r, api, name, &st) != 0)
        return;
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "name", name);
    vg_jsonw_karr(w, "versions");
    vg_jsonw_cstr(w, KS_VERSION);
    vg_jsonw_arr_end(w);
    char platform[64];
    snprintf(platform, sizeof platform, "vigia_%s", st.backend[0] ? st.backend : "auto");
    vg_jsonw_kstr(w, "platform", platform);
    int64_t h = st.input_h > 0 ? st.input_h : -1, wd = st.input_w > 0 ? st.input_w : -1;
    tensors_meta(w, "inputs", ks_inputs, KS_COUNT(ks_inputs));
    tensors_meta(w, "outputs", ks_outputs, KS_COUNT(ks_outputs));
    /* vigia's own: what the inputs mean for this model */
    vg_jsonw_kobj(w, "parameters");
    vg_jsonw_kstr(w, "state", st.state);
    vg_jsonw_kint(w, "network_width", wd);
    vg_jsonw_kint(w, "network_height", h);
    vg_jsonw_kint(w, "classes", st.classes);
    vg_jsonw_kdouble(w, "threshold", st.threshold, 4);
    vg_jsonw_kint(w, "max_batch", vg_server_config(api->srv)->max_batch);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    vg_reply_send(&a, r, 200);
}

/* ------------------------------------------------------------------ */
/* Triton's extensions: model configuration, repository index, statistics */

/* Tensors of the model configuration: Triton's data_type names, dims without the batch dimension. */
static void
tensors_config(vg_jsonw *w, const char *key, const ks_tensor *t, size_t n, int input)
{
    vg_jsonw_karr(w, key);
    for (size_t k = 0; k < n; k++) {
        char type[32];
        snprintf(type, sizeof type, "TYPE_%s", strcmp(t[k].datatype, "BYTES") == 0 ? "STRING" : t[k].datatype);
        vg_jsonw_obj(w);
        vg_jsonw_kstr(w, "name", t[k].name);
        vg_jsonw_kstr(w, "data_type", type);
        if (input)
            vg_jsonw_kstr(w, "format", "FORMAT_NONE");
        vg_jsonw_karr(w, "dims");
        for (int i = 0; i < t[k].rank; i++)
            vg_jsonw_int(w, t[k].dims[i]);
        vg_jsonw_arr_end(w);
        if (t[k].rank == 1 && t[k].dims[0] == 1) {
            /* the tensor is [batch] on the wire: Triton writes dims [1] reshaped to [] */
            vg_jsonw_kobj(w, "reshape");
            vg_jsonw_karr(w, "shape");
            vg_jsonw_arr_end(w);
            vg_jsonw_obj_end(w);
        }
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
}


static void
string_param(vg_jsonw *w, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Triton's model parameters are {"key": {"string_value": "..."}}. */
static void
string_param(vg_jsonw *w, const char *key, const char *fmt, ...)
{
    char v[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    vg_jsonw_kobj(w, key);
    vg_jsonw_kstr(w, "string_value", v);
    vg_jsonw_obj_end(w);
}


/* GET /v2/models/{name}[/versions/{version}]/config: the model as Triton's model configuration has it. */
static void
route_config(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    if (model_params(r, api, name, &st) != 0)
        return;
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    char platform[64];
    snprintf(platform, sizeof platform, "vigia_%s", st.backend[0] ? st.backend : "auto");
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "name", name);
    vg_jsonw_kstr(w, "platform", platform);
    vg_jsonw_kstr(w, "backend", st.backend[0] ? st.backend : "auto");
    vg_jsonw_kobj(w, "version_policy");
    vg_jsonw_kobj(w, "latest");
    vg_jsonw_kint(w, "num_versions", 1);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    vg_jsonw_kint(w, "max_batch_size", vg_server_config(api->srv)->max_batch);
    tensors_config(w, "input", ks_inputs, KS_COUNT(ks_inputs), 1);
    tensors_config(w, "output", ks_outputs, KS_COUNT(ks_outputs), 0);
    vg_jsonw_karr(w, "instance_group");
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "name", name);
    vg_jsonw_kstr(w, "kind", strstr(st.backend, "cuda") ? "KIND_GPU" : "KIND_CPU");
    vg_jsonw_kint(w, "count", st.workers);
    vg_jsonw_obj_end(w);
    vg_jsonw_arr_end(w);
    if (st.max_queue_delay_us) {
        vg_jsonw_kobj(w, "dynamic_batching");
        vg_jsonw_kuint(w, "max_queue_delay_microseconds", st.max_queue_delay_us);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_kobj(w, "parameters");
    string_param(w, "state", "%s", st.state);
    string_param(w, "network_width", "%d", st.input_w);
    string_param(w, "network_height", "%d", st.input_h);
    string_param(w, "classes", "%d", st.classes);
    string_param(w, "threshold", "%g", st.threshold);
    string_param(w, "nms", "%g", st.nms);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    vg_reply_send(&a, r, 200);
}


/* Triton's model states: READY, LOADING, UNLOADING, UNAVAILABLE (with a reason). */
static const char *
triton_state(const vg_pool_model_stats *st)
{
    if (model_ready(st))
        return "READY";
    if (!strcmp(st->state, "loading"))
        return "LOADING";
    if (!strcmp(st->state, "unloading"))
        return "UNLOADING";
    return "UNAVAILABLE";
}


/* POST /v2/repository/index, body empty or {"ready": bool}: every listed model and its state. */
static void
route_index(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    vg_str body = vg_req_body(r);
    int only_ready = 0;
    if (body.n) {
        json_error_t je;
        json_t *root = json_loadb(body.p, body.n, JSON_REJECT_DUPLICATES, &je);
        json_t *ready = root ? json_object_get(root, "ready") : NULL;
        int ok = json_is_object(root) && (!ready || json_is_boolean(ready));
        only_ready = ok && json_is_true(ready);
        json_decref(root);
        if (!ok) {
            ks_error(r, 400, "the index request is {} or {\"ready\": true|false}");
            return;
        }
    }
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    vg_jsonw_arr(w);
    size_t n = vg_pool_model_count(api->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats st;
        if (vg_pool_model_stats_at(api->pool, i, &st) != 0)
            continue;
        const char *state = triton_state(&st);
        if (only_ready && strcmp(state, "READY"))
            continue;
        vg_jsonw_obj(w);
        vg_jsonw_kstr(w, "name", st.name);
        vg_jsonw_kstr(w, "version", KS_VERSION);
        vg_jsonw_kstr(w, "state", state);
        if (!strcmp(state, "UNAVAILABLE"))
            vg_jsonw_kstr(w, "reason", st.why && st.why[0] ? st.why : st.state);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
    vg_reply_send(&a, r, 200);
}


static void
duration(vg_jsonw *w, const char *key, uint64_t count, uint64_t ns)
{
    vg_jsonw_kobj(w, key);
    vg_jsonw_kuint(w, "count", count);
    vg_jsonw_kuint(w, "ns", ns);
    vg_jsonw_obj_end(w);
}


/* One model's $model_stat. vigia times a job's phases (queue, decode, infer, postprocess), not each batch's. */
static void
model_stat(vg_jsonw *w, const vg_pool_model_stats *st)
{
    uint64_t ok = st->jobs_ok;
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "name", st->name);
    vg_jsonw_kstr(w, "version", KS_VERSION);
    vg_jsonw_kint(w, "last_inference", st->last_answer_ms);
    vg_jsonw_kuint(w, "inference_count", ok);
    vg_jsonw_kuint(w, "execution_count", st->batches);
    vg_jsonw_kobj(w, "inference_stats");
    duration(w, "success", ok, (uint64_t)(st->hist_sum_ms * 1e6));
    duration(w, "fail", st->jobs_failed + st->jobs_rejected, 0);
    duration(w, "queue", ok, st->queue_us_sum * 1000);
    duration(w, "compute_input", ok, st->decode_us_sum * 1000);
    duration(w, "compute_infer", ok, st->infer_us_sum * 1000);
    duration(w, "compute_output", ok, st->post_us_sum * 1000);
    duration(w, "cache_hit", 0, 0);
    duration(w, "cache_miss", 0, 0);
    vg_jsonw_obj_end(w);
    vg_jsonw_karr(w, "batch_stats");
    for (unsigned b = 1; b <= VG_POOL_MAX_BATCH; b++) {
        if (!st->batch_sizes[b])
            continue;
        vg_jsonw_obj(w);
        vg_jsonw_kuint(w, "batch_size", b);
        duration(w, "compute_infer", st->batch_sizes[b], 0);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
    vg_jsonw_obj_end(w);
}


/* GET /v2/models/stats, /v2/models/{name}[/versions/{version}]/stats: Triton's statistics extension. */
static void
route_stats(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    int one = vg_req_route(r)->pattern[strlen("/v2/models/")] == '{';
    if (one && model_params(r, api, name, &st) != 0)
        return;
    vg_reply a;
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    vg_jsonw_obj(w);
    vg_jsonw_karr(w, "model_stats");
    if (one) {
        model_stat(w, &st);
    } else {
        size_t n = vg_pool_model_count(api->pool);
        for (size_t i = 0; i < n; i++)
            if (vg_pool_model_stats_at(api->pool, i, &st) == 0)
                model_stat(w, &st);
    }
    vg_jsonw_arr_end(w);
    vg_jsonw_obj_end(w);
    vg_reply_send(&a, r, 200);
}

/* ------------------------------------------------------------------ */
/* inference: the answer */

static void
kcall_free(kcall *q)
{
    free(q->id);
    free(q);
}


static void
put_u32(vg_buf *b, uint32_t v)
{
    uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    vg_buf_append(b, x, 4);
}


static void
put_f32(vg_buf *b, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}


/* One output's elements, as binary (little-endian) or as a JSON array. */
static void
output_data(vg_call *c, int o, size_t nmax, vg_buf *bin, vg_jsonw *w)
{
    if (w)
        vg_jsonw_arr(w);
    for (int i = 0; i < vg_call_count(c); i++) {
        const vg_pool_result *res = &vg_call_item_at(c, i)->res;
        if (o == OUT_NUM) {
            if (w)
                vg_jsonw_uint(w, res->count);
            else
                put_u32(bin, (uint32_t)res->count);
            continue;
        }
        for (size_t k = 0; k < nmax; k++) {
            const vg_detection *d = k < res->count ? &res->detections[k] : NULL;
            switch (o) {
            case OUT_BOXES: {
                float v[4] = { 0, 0, 0, 0 };
                if (d) {
                    v[0] = (float)d->x_min;
                    v[1] = (float)d->y_min;
                    v[2] = (float)d->x_max;
                    v[3] = (float)d->y_max;
                }
                for (int j = 0; j < 4; j++) {
                    if (w)
                        vg_jsonw_double(w, v[j]);
                    else
                        put_f32(bin, v[j]);
                }
                break;
            }
            case OUT_SCORES:
                if (w)
                    vg_jsonw_double_prec(w, d ? d->confidence : 0, 6);
                else
                    put_f32(bin, d ? d->confidence : 0);
                break;
            case OUT_CLASSES:
                if (w)
                    vg_jsonw_int(w, d ? d->class_id : -1);
                else
                    put_u32(bin, (uint32_t)(d ? d->class_id : -1));
                break;
            case OUT_LABELS: {
                const char *l = d ? d->label : "";
                if (w) {
                    vg_jsonw_cstr(w, l);
                } else {
                    put_u32(bin, (uint32_t)strlen(l));
                    vg_buf_append(bin, l, strlen(l));
                }
                break;
            }
            }
        }
    }
    if (w)
        vg_jsonw_arr_end(w);
}


/*
 * An output asked for with parameters.classification = N (Triton's
 * classification extension): per image its N best as "value:index:label"
 * strings, best first, "" past what the image has.
 */
static void
output_classes(vg_call *c, size_t nmax, vg_buf *bin, vg_jsonw *w)
{
    if (w)
        vg_jsonw_arr(w);
    for (int i = 0; i < vg_call_count(c); i++) {
        const vg_pool_result *res = &vg_call_item_at(c, i)->res;
        for (size_t k = 0; k < nmax; k++) {
            char s[320] = "";
            if (k < res->count)
                snprintf(s, sizeof s, "%.6g:%d:%.255s", (double)res->detections[k].confidence,
                         res->detections[k].class_id, res->detections[k].label ? res->detections[k].label : "");
            if (w) {
                vg_jsonw_cstr(w, s);
            } else {
                put_u32(bin, (uint32_t)strlen(s));
                vg_buf_append(bin, s, strlen(s));
            }
        }
    }
    if (w)
        vg_jsonw_arr_end(w);
}


/* Answers once every image is in: the outputs, or the first image's failure. */
static void
on_done(vg_call *c, void *ud)
{
    kcall *q = ud;
    vg_req *r = vg_call_req(c);
    int n = vg_call_count(c);
    for (int i = 0; i < n; i++) {
        const vg_call_item *it = vg_call_item_at(c, i);
        if (it->status == 0)
            continue;
        /* one tensor in, one answer out: an image that fails fails the request (reasons cut at 255 bytes) */
        int st = vg_call_error_status(c, it);
        if (n > 1)
            ks_error(r, st, "image %d: %.255s", i, vg_call_item_message(it));
        else
            ks_error(r, st, "%.255s", vg_call_item_message(it));
        goto out;
    }
    size_t nmax = 0;
    for (int i = 0; i < n; i++) {
        vg_detect_opts_cut(&q->opt, &vg_call_item_at(c, i)->res);   /* a classifier's k best */
        if (vg_call_item_at(c, i)->res.count > nmax)
            nmax = vg_call_item_at(c, i)->res.count;
    }
    vg_reply a;   /* the JSON head; binary outputs follow it */
    vg_reply_init(&a);
    vg_jsonw *w = &a.w;
    vg_buf bin;
    vg_buf_init(&bin);
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "model_name", q->model);
    vg_jsonw_kstr(w, "model_version", KS_VERSION);
    if (q->id) {
        vg_jsonw_kstr(w, "id", q->id);
    }
    vg_jsonw_karr(w, "outputs");
    int any_binary = 0;
    for (int k = 0; k < q->nout; k++) {
        int o = q->outs[k];
        size_t ncls = q->out_classes[o] ? ((size_t)q->out_classes[o] < nmax ? (size_t)q->out_classes[o] : nmax) : 0;
        vg_jsonw_obj(w);
        vg_jsonw_kstr(w, "name", out_names[o]);
        vg_jsonw_kstr(w, "datatype", q->out_classes[o] ? "BYTES" : out_types[o]);
        vg_jsonw_karr(w, "shape");
        vg_jsonw_int(w, n);
        if (q->out_classes[o])
            vg_jsonw_uint(w, ncls);
        else if (o != OUT_NUM)
            vg_jsonw_uint(w, nmax);
        if (o == OUT_BOXES && !q->out_classes[o])
            vg_jsonw_int(w, 4);
        vg_jsonw_arr_end(w);
        if (q->out_binary[o]) {
            size_t before = bin.len;
            if (q->out_classes[o])
                output_classes(c, ncls, &bin, NULL);
            else
                output_data(c, o, nmax, &bin, NULL);
            vg_jsonw_kobj(w, "parameters");
            vg_jsonw_kuint(w, "binary_data_size", bin.len - before);
            vg_jsonw_obj_end(w);
            any_binary = 1;
        } else {
            vg_jsonw_key(w, "data");
            if (q->out_classes[o])
                output_classes(c, ncls, NULL, w);
            else
                output_data(c, o, nmax, NULL, w);
        }
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
    vg_jsonw_obj_end(w);
    /* Inference-Header-Content-Length counts the JSON before any coding: tritonclient decodes, then splits */
    if (any_binary)
        vg_req_add_header(r, "Inference-Header-Content-Length", "%zu", a.buf.len);
    else
        vg_buf_putc(&a.buf, '\n');
    vg_buf_append(&a.buf, bin.data, bin.len);
    vg_req_encode_answer(r, &a.buf);
    vg_req_respond_buf(r, 200, any_binary ? "application/octet-stream" : "application/json", &a.buf);
    vg_reply_release(&a);
    vg_buf_release(&bin);
out:
    kcall_free(q);
}

/* ------------------------------------------------------------------ */
/* inference: the request */

typedef struct kinput {
    int kind;                     /* IN_* */
    int64_t shape[KS_MAX_RANK];
    int rank;
    uint64_t count;               /* product of the shape */
    json_t *data;                 /* JSON data, or NULL */
    const uint8_t *bin;           /* binary data, or NULL */
    size_t bin_size;
} kinput;


/* A parameter that must be a non-negative integer: 1 found (*out), 0 absent, -1 malformed. */
static int
param_uint(json_t *params, const char *name, uint64_t *out)
{
    json_t *v = params ? json_object_get(params, name) : NULL;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}


/* Walks nested JSON arrays; calls fn on each leaf, in row-major order. -1 on a bad leaf or too many. */
static int
flatten(json_t *a, int depth, uint64_t *n, uint64_t max, int (*fn)(json_t *v, uint64_t i, void *ud), void *ud)
{
    if (depth > KS_MAX_RANK + 1)
        return -1;
    if (!json_is_array(a)) {
        if (*n >= max)
            return -1;
        return fn(a, (*n)++, ud);
    }
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (flatten(e, depth + 1, n, max, fn, ud) != 0)
            return -1;
    }
    return 0;
}


typedef struct fill_ctx {
    uint8_t *u8;
    float *f32;
    char *bad;                    /* what was wrong, for the message */
    size_t badlen;
} fill_ctx;


static int
fill_u8(json_t *v, uint64_t i, void *ud)
{
    fill_ctx *f = ud;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255) {
        snprintf(f->bad, f->badlen, "UINT8 element %" PRIu64 " is not an integer in 0..255", i);
        return -1;
    }
    f->u8[i] = (uint8_t)json_integer_value(v);
    return 0;
}


static int
fill_f32(json_t *v, uint64_t i, void *ud)
{
    fill_ctx *f = ud;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        snprintf(f->bad, f->badlen, "FP32 element %" PRIu64 " is not a finite number", i);
        return -1;
    }
    float x = (float)json_number_value(v);
    memcpy(f->f32 + i, &x, sizeof x);
    return 0;
}


typedef struct str_ctx {
    json_t **strs;
    char *bad;
    size_t badlen;
} str_ctx;


static int
collect_str(json_t *v, uint64_t i, void *ud)
{
    str_ctx *s = ud;
    if (!json_is_string(v)) {
        snprintf(s->bad, s->badlen, "BYTES element %" PRIu64 " is not a string", i);
        return -1;
    }
    s->strs[i] = v;
    return 0;
}


/* Turns the input tensor into one pool image per batch element. 0, or an HTTP status with err. */
static int
build_items(vg_call *c, const kinput *in, char *err, size_t errlen)
{
    int b = (int)in->shape[0];
    if (in->kind == IN_IMAGE) {
        if (in->bin) {
            /* each element: a 4-byte little-endian length, then the bytes */
            const uint8_t *p = in->bin, *end = in->bin + in->bin_size;
            for (int i = 0; i < b; i++) {
                if (end - p < 4) {
                    snprintf(err, errlen, "binary BYTES data ends inside element %d's length", i);
                    return 400;
                }
                uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
                p += 4;
                if ((size_t)(end - p) < l) {
                    snprintf(err, errlen, "binary BYTES element %d says %u bytes but %zu remain", i, l,
                             (size_t)(end - p));
                    return 400;
                }
                vg_call_add(c, p, l);
                p += l;
            }
            if (p != end) {
                snprintf(err, errlen, "%zu bytes of binary data follow the last of the %d BYTES elements",
                         (size_t)(end - p), b);
                return 400;
            }
            return 0;
        }
        json_t **strs = vg_xcalloc((size_t)b, sizeof *strs);
        str_ctx sc = { strs, err, errlen };
        uint64_t n = 0;
        int rc = flatten(in->data, 0, &n, (uint64_t)b, collect_str, &sc);
        if (rc == 0 && n != (uint64_t)b) {
            snprintf(err, errlen, "the data holds %" PRIu64 " elements but the shape says %d", n, b);
            rc = -1;
        } else if (rc != 0 && !err[0]) {
            snprintf(err, errlen, "the data holds more elements than the shape's %d", b);
        }
        for (int i = 0; rc == 0 && i < b; i++) {
            /* an empty image is no image either */
            if (vg_call_add_base64(c, json_string_value(strs[i]), json_string_length(strs[i]), err, errlen) <= 0) {
                snprintf(err, errlen, "BYTES element %d is not base64 (images in JSON are base64-encoded)", i);
                rc = -1;
                break;
            }
        }
        free(strs);
        return rc == 0 ? 0 : 400;
    }

    /* pixels [B,H,W,3] uint8 or tensor [B,3,H,W] float32: one rawimg per element */
    vg_rawimg_desc d = {
        .dtype = in->kind == IN_PIXELS ? VG_RAWIMG_U8 : VG_RAWIMG_F32,
        .layout = in->kind == IN_PIXELS ? VG_RAWIMG_HWC : VG_RAWIMG_CHW,
        .w = (uint32_t)(in->kind == IN_PIXELS ? in->shape[2] : in->shape[3]),
        .h = (uint32_t)(in->kind == IN_PIXELS ? in->shape[1] : in->shape[2]),
        .scale = in->kind == IN_PIXELS ? 1.0f : 255.0f,
    };
    size_t per = vg_rawimg_data_size(&d);
    if (per == 0 || (uint64_t)per * (uint64_t)b != in->count * (in->kind == IN_PIXELS ? 1u : 4u)) {
        snprintf(err, errlen, "invalid tensor shape");
        return 400;
    }
    uint8_t *all = NULL;
    if (!in->bin) {
        /* JSON numbers: into one flat buffer first */
        all = vg_xmalloc((size_t)in->count * (in->kind == IN_PIXELS ? 1 : 4));
        fill_ctx f = { all, (float *)(void *)all, err, errlen };
        uint64_t n = 0;
        int rc = flatten(in->data, 0, &n, in->count, in->kind == IN_PIXELS ? fill_u8 : fill_f32, &f);
        if (rc == 0 && n != in->count) {
            snprintf(err, errlen, "the data holds %" PRIu64 " elements but the shape says %" PRIu64, n, in->count);
            rc = -1;
        } else if (rc != 0 && !err[0]) {
            snprintf(err, errlen, "the data holds more elements than the shape's %" PRIu64, in->count);
        }
        if (rc != 0) {
            free(all);
            return 400;
        }
    }
    const uint8_t *src = in->bin ? in->bin : all;
    for (int i = 0; i < b; i++) {
        uint8_t *buf = vg_xmalloc(VG_RAWIMG_HEADER + per);
        vg_rawimg_header(&d, buf);
        memcpy(buf + VG_RAWIMG_HEADER, src + (size_t)i * per, per);
        vg_call_add_owned(c, buf, VG_RAWIMG_HEADER + per);
    }
    free(all);
    return 0;
}


/* Reads the one input. 0, or an HTTP status with err. */
static int
parse_input(const vg_config *cfg, json_t *inputs, const uint8_t *bin, size_t bin_len, kinput *in, char *err,
            size_t errlen)
{
    memset(in, 0, sizeof *in);
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        snprintf(err, errlen, "\"inputs\" must list exactly one tensor: \"image\" (BYTES), \"pixels\" (UINT8) or \"tensor\" (FP32)");
        return 400;
    }
    json_t *t = json_array_get(inputs, 0);
    json_t *name = json_object_get(t, "name"), *type = json_object_get(t, "datatype"),
           *shape = json_object_get(t, "shape"), *params = json_object_get(t, "parameters"),
           *data = json_object_get(t, "data");
    if (!json_is_object(t) || !json_is_string(name) || !json_is_string(type) || !json_is_array(shape)) {
        snprintf(err, errlen, "an input needs \"name\", \"datatype\" and \"shape\"");
        return 400;
    }
    in->kind = -1;
    for (int k = 0; k < 3; k++)
        if (strcmp(json_string_value(name), in_names[k]) == 0)
            in->kind = k;
    if (in->kind < 0) {
        snprintf(err, errlen, "unknown input '%.64s': the inputs are image (BYTES), pixels (UINT8), tensor (FP32)",
                 json_string_value(name));
        return 400;
    }
    if (strcmp(json_string_value(type), in_types[in->kind]) != 0) {
        snprintf(err, errlen, "input '%s' has datatype %s, not %.16s", in_names[in->kind], in_types[in->kind],
                 json_string_value(type));
        return 400;
    }
    if (params && !json_is_object(params)) {
        snprintf(err, errlen, "an input's \"parameters\" must be an object");
        return 400;
    }
    /* the shape: non-negative integers, a known rank, a bounded product */
    size_t rank = json_array_size(shape);
    if (rank == 0 || rank > KS_MAX_RANK) {
        snprintf(err, errlen, "the shape must have 1 to %d dimensions", KS_MAX_RANK);
        return 400;
    }
    in->rank = (int)rank;
    in->count = 1;
    for (size_t i = 0; i < rank; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > INT32_MAX) {
            snprintf(err, errlen, "shape dimension %zu must be an integer in 1..%d", i, INT32_MAX);
            return 400;
        }
        in->shape[i] = json_integer_value(d);
        /* count <= max_elements < 2^30 and a dimension < 2^31: the product fits */
        if (in->count * (uint64_t)in->shape[i] > (uint64_t)cfg->kserve_max_elements) {
            snprintf(err, errlen, "the tensor has more than %d elements (kserve.max_elements)", cfg->kserve_max_elements);
            return 413;
        }
        in->count *= (uint64_t)in->shape[i];
    }
    int ok_rank = in->kind == IN_IMAGE ? (rank == 1 || (rank == 2 && in->shape[1] == 1))
                : in->kind == IN_PIXELS ? (rank == 4 && in->shape[3] == 3)
                                        : (rank == 4 && in->shape[1] == 3);
    if (!ok_rank) {
        snprintf(err, errlen, "input '%s' must have shape %s", in_names[in->kind],
                 in->kind == IN_IMAGE ? "[B] or [B,1]" : in->kind == IN_PIXELS ? "[B,H,W,3]" : "[B,3,H,W]");
        return 400;
    }
    if (in->shape[0] > cfg->max_batch) {
        snprintf(err, errlen, "batch of %" PRId64 " images exceeds detect.max_batch (%d)", in->shape[0], cfg->max_batch);
        return 413;
    }
    /* the data: JSON "data", or binary after the JSON */
    uint64_t bsize = 0;
    int has_bin = param_uint(params, "binary_data_size", &bsize);
    if (has_bin < 0) {
        snprintf(err, errlen, "binary_data_size must be a non-negative integer");
        return 400;
    }
    if (has_bin && data) {
        snprintf(err, errlen, "an input has either \"data\" or binary_data_size, not both");
        return 400;
    }
    if (!has_bin && !data) {
        snprintf(err, errlen, "the input has no \"data\" and no binary_data_size");
        return 400;
    }
    if (has_bin) {
        if (bsize != bin_len) {
            snprintf(err, errlen, "binary_data_size is %" PRIu64 " but %zu bytes follow the JSON", bsize, bin_len);
            return 400;
        }
        uint64_t need = in->kind == IN_PIXELS ? in->count : in->kind == IN_TENSOR ? in->count * 4 : 0;
        if (in->kind != IN_IMAGE && bsize != need) {
            snprintf(err, errlen, "a %s tensor of %" PRIu64 " elements is %" PRIu64 " bytes, not %" PRIu64,
                     in_types[in->kind], in->count, need, bsize);
            return 400;
        }
        in->bin = bin;
        in->bin_size = (size_t)bsize;
    } else {
        if (bin_len) {
            snprintf(err, errlen, "%zu bytes follow the JSON but no input has binary_data_size", bin_len);
            return 400;
        }
        if (!json_is_array(data)) {
            snprintf(err, errlen, "\"data\" must be an array");
            return 400;
        }
        in->data = data;
    }
    return 0;
}


/* Request parameters (thresholds, classes, binary_data_output) and outputs. 0 or 400 with err. */
static int
parse_options(kcall *q, json_t *root, char *err, size_t errlen)
{
    json_t *params = json_object_get(root, "parameters");
    if (params && !json_is_object(params)) {
        snprintf(err, errlen, "\"parameters\" must be an object");
        return 400;
    }
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) {
        char sv[1024];
        if (!strcmp(key, "binary_data_output")) {
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "binary_data_output must be true or false");
                return 400;
            }
            q->binary_all = json_is_true(v);
            continue;
        }
        if (strcmp(key, "min_confidence") && strcmp(key, "threshold") && strcmp(key, "nms") && strcmp(key, "classes") &&
            strcmp(key, "k"))
            continue;   /* parameters of other servers are not errors */
        if (!json_is_boolean(v) && vg_detect_opts_json_text(v, sv, sizeof sv) == 0) {
            /* a number, or a string */
        } else if (json_is_array(v) && !strcmp(key, "classes")) {
            if (vg_detect_opts_json_list(v, sv, sizeof sv) < 0) {
                snprintf(err, errlen, "\"classes\" must be a short list of labels");
                return 400;
            }
        } else {
            snprintf(err, errlen, "parameter '%s' has the wrong type", key);
            return 400;
        }
        if (vg_detect_opts_set(&q->opt, key, sv, err, errlen) < 0)
            return 400;
    }
    json_t *outs = json_object_get(root, "outputs");
    if (!outs) {
        for (int o = 0; o < OUT_COUNT; o++) {
            q->outs[q->nout++] = o;
            q->out_binary[o] = q->binary_all;
        }
        return 0;
    }
    if (!json_is_array(outs) || json_array_size(outs) == 0 || json_array_size(outs) > OUT_COUNT) {
        snprintf(err, errlen, "\"outputs\" must list 1 to %d of boxes, scores, classes, labels, num_detections", OUT_COUNT);
        return 400;
    }
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o) {
        json_t *name = json_object_get(o, "name"), *op = json_object_get(o, "parameters");
        int k = -1;
        for (int x = 0; x < OUT_COUNT && json_is_string(name); x++)
            if (!strcmp(json_string_value(name), out_names[x]))
                k = x;
        if (k < 0) {
            snprintf(err, errlen, "unknown output '%.64s': the outputs are boxes, scores, classes, labels, num_detections",
                     json_is_string(name) ? json_string_value(name) : "?");
            return 400;
        }
        for (int x = 0; x < q->nout; x++)
            if (q->outs[x] == k) {
                snprintf(err, errlen, "output '%s' is asked for twice", out_names[k]);
                return 400;
            }
        json_t *bd = op ? json_object_get(op, "binary_data") : NULL;
        if ((op && !json_is_object(op)) || (bd && !json_is_boolean(bd))) {
            snprintf(err, errlen, "output '%s': parameters.binary_data must be true or false", out_names[k]);
            return 400;
        }
        json_t *cl = op ? json_object_get(op, "classification") : NULL;
        if (cl && (!json_is_integer(cl) || json_integer_value(cl) < 1 || json_integer_value(cl) > VG_POST_MAX_CLASSES)) {
            snprintf(err, errlen, "output '%s': parameters.classification must be an integer in [1, %d]",
                     out_names[k], VG_POST_MAX_CLASSES);
            return 400;
        }
        q->outs[q->nout++] = k;
        q->out_binary[k] = bd ? json_is_true(bd) : q->binary_all;
        q->out_classes[k] = cl ? (int)json_integer_value(cl) : 0;
        if (q->opt.top_k < q->out_classes[k])
            q->opt.top_k = q->out_classes[k];   /* a classifier's answer is cut to k: at least what is asked */
    }
    return 0;
}


static void infer_decoded(vg_req *r, int rc, void *ud);


static void
route_infer(vg_req *r, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    if (model_params(r, api, name, &st) != 0)
        return;
    /* tritonclient's request_compression_algorithm: Content-Encoding gzip or deflate */
    vg_req_decode_body(r, infer_decoded, api);
}


/* The body as sent, decoded: the inference request itself. */
static void
infer_decoded(vg_req *r, int rc, void *ud)
{
    vg_kserve_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1], err[512] = "";
    vg_pool_model_stats st;
    if (rc != 0 || model_params(r, api, name, &st) != 0)
        return;

    /* where the JSON ends: Inference-Header-Content-Length, else the whole body */
    vg_str body = vg_req_body(r);
    size_t hlen = body.n;
    vg_str h = vg_req_header(r, "inference-header-content-length");
    if (h.p) {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < h.n && h.p[i] >= '0' && h.p[i] <= '9' && v <= UINT32_MAX; i++)
            v = v * 10 + (uint64_t)(h.p[i] - '0');
        if (h.n == 0 || i != h.n || v > body.n) {
            ks_error(r, 400, "Inference-Header-Content-Length must be a number of bytes within the body (%zu)", body.n);
            return;
        }
        hlen = (size_t)v;
    } else {
        vg_str ct = vg_req_header(r, "content-type");
        if (ct.p && !(ct.n >= 16 && strncasecmp(ct.p, "application/json", 16) == 0)) {
            ks_error(r, 415, "a body without Inference-Header-Content-Length must be application/json");
            return;
        }
    }
    if (hlen == 0) {
        ks_error(r, 400, "the request has no JSON inference header");
        return;
    }
    if (hlen > KS_MAX_JSON) {
        ks_error(r, 413, "the JSON part is larger than %u bytes: send large tensors as binary data", KS_MAX_JSON);
        return;
    }

    kcall *q = vg_xcalloc(1, sizeof *q);
    q->call = vg_call_create(api->pool, r, &api->inflight);
    snprintf(q->model, sizeof q->model, "%s", name);
    vg_detect_opts_init(&q->opt);
    size_t len;
    const char *data = vg_call_take_body(q->call, &len);
    json_error_t je;
    json_t *root = json_loadb(data, hlen, JSON_REJECT_DUPLICATES, &je);
    int status = 0;
    kinput in;
    if (!root || !json_is_object(root)) {
        snprintf(err, sizeof err, "malformed inference request: %s", root ? "not a JSON object" : je.text);
        status = 400;
        goto fail;
    }
    json_t *id = json_object_get(root, "id");
    if (id && (!json_is_string(id) || json_string_length(id) > 256)) {
        snprintf(err, sizeof err, "\"id\" must be a string of at most 256 bytes");
        status = 400;
        goto fail;
    }
    if (id)
        q->id = vg_xstrdup(json_string_value(id));
    if ((status = parse_options(q, root, err, sizeof err)) != 0)
        goto fail;
    if ((status = parse_input(vg_server_config(api->srv), json_object_get(root, "inputs"),
                              (const uint8_t *)data + hlen, len - hlen, &in, err, sizeof err)) != 0)
        goto fail;
    if ((status = build_items(q->call, &in, err, sizeof err)) != 0)
        goto fail;
    json_decref(root);
    vg_call_submit(q->call, q->model, &q->opt, on_done, q);
    return;
fail:
    json_decref(root);
    ks_error(r, status, "%s", err);
    vg_call_destroy(q->call);
    kcall_free(q);
}

/* ------------------------------------------------------------------ */

vg_kserve_api *
vg_kserve_api_create(vg_http *http, vg_pool *pool)
{
    vg_kserve_api *api = vg_xcalloc(1, sizeof *api);
    vg_server *srv = vg_http_server(http);
    api->srv = srv;
    api->pool = pool;
    size_t body_max = vg_server_config(srv)->kserve_max_tensor;
    vg_http_route(http, VG_M_GET, "/v2", route_server, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/health/live", route_live, api, 0, VG_ACCESS_OPEN | VG_ACCESS_NO_LIMIT);
    vg_http_route(http, VG_M_GET, "/v2/health/ready", route_ready, api, 0, VG_ACCESS_OPEN | VG_ACCESS_NO_LIMIT);
    vg_http_add_error_dialect(http, "/v2", ks_dialect, api);
    /* before /v2/models/{name}: the first route that fits wins */
    vg_http_route(http, VG_M_GET, "/v2/models/stats", route_stats, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/stats", route_stats, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/versions/{version}/stats", route_stats, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/config", route_config, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/versions/{version}/config", route_config, api, 0,
                  VG_ACCESS_READ);
    vg_http_route(http, VG_M_POST, "/v2/repository/index", route_index, api, KS_MAX_INDEX_BODY, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}", route_model, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/versions/{version}", route_model, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/ready", route_model_ready, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v2/models/{name}/versions/{version}/ready", route_model_ready, api, 0,
                  VG_ACCESS_READ);
    vg_http_route(http, VG_M_POST, "/v2/models/{name}/infer", route_infer, api, body_max, VG_ACCESS_DETECT);
    vg_http_route(http, VG_M_POST, "/v2/models/{name}/versions/{version}/infer", route_infer, api, body_max,
                  VG_ACCESS_DETECT);
    vg_call_count_busy(srv, &api->inflight);
    return api;
}


void
vg_kserve_api_destroy(vg_kserve_api *api)
{
    free(api);
}
