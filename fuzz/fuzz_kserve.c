/*
 * libFuzzer harness for the KServe v2 infer request parser (core/api/kserve_api.c)
 * and the rawimg container (core/pipeline/rawimg.c).
 *
 * First byte odd: the rest is an infer request body sent through the real
 * connection code to POST /v2/models/m/infer, where "m" is a listed but
 * unloaded model (a request that parses reaches the pool and is refused
 * there: no worker is forked). The second byte picks the
 * Inference-Header-Content-Length: 0xff = none (the body is JSON), else the
 * byte's share of the body. Bits 1-2 of the first byte pick the body's
 * Content-Encoding: 0 none, 1 gzip, 2 deflate, 3 br (refused): a coded body
 * goes through the decoder (core/http/encoding.c) first. Every answer must
 * be one well-formed HTTP response; every refusal, the HTTP layer's (413)
 * included, must be the protocol's {"error": "message"}; nothing can succeed.
 *
 * First byte even: the rest goes to vg_rawimg_parse and vg_rawimg_decode
 * with small limits; a decoded image must match its header's size.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "base/config.h"
#include "base/error.h"
#include "harness.h"
#include "http/http.h"
#include "api/kserve_api.h"
#include "base/log.h"
#include "pool/pool.h"
#include "pipeline/rawimg.h"
#include "net/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static vg_server *srv;
static vg_pool *pool;
static char models_dir[PATH_MAX];


static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}


static void
setup(void)
{
    vg_log_set_level(VG_LOG_OFF);
    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    char err[256];
    vg_config_set(cfg, "log", "access", "false", err, sizeof err);
    vg_config_set(cfg, "kserve", "max_elements", "100000", err, sizeof err);
    vg_config_set(cfg, "kserve", "max_tensor", "1M", err, sizeof err);
    loop = ev_loop_new(EVFLAG_AUTO);
    srv = vg_server_create(loop, cfg);

    /* a model the pool lists without loading it: the parser runs, the pool refuses */
    snprintf(models_dir, sizeof models_dir, "/tmp/vigia-fuzz-kserve-%d", (int)getpid());
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/m", models_dir);
    if (mkdir(models_dir, 0700) != 0 || mkdir(path, 0700) != 0)
        abort();
    snprintf(path, sizeof path, "%s/m/m.names", models_dir);
    write_file(path, "dark\nbright\n");
    snprintf(path, sizeof path, "%s/m/model.conf", models_dir);
    write_file(path, "[model]\nname = m\nbackend = none\nnames = m.names\nwidth = 64\nheight = 64\n");
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.models_dir = models_dir;
    if (vg_pool_create(loop, &o, &pool) != 0 || vg_pool_scan(pool) != 1)
        abort();
    /* the pool has read the manifest: the files can go */
    snprintf(path, sizeof path, "%s/m/m.names", models_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/m/model.conf", models_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/m", models_dir);
    rmdir(path);
    rmdir(models_dir);
    vg_kserve_api_create(vg_http_create(srv), pool);
}


/* {"error": string} with a 4xx/5xx status, as the protocol has it. */
static int
is_protocol_error(const fz_resp *r)
{
    if (r->status < 400 || r->status > 599)
        return 0;
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, 0, &je);
    int ok = json_is_object(j) && json_is_string(json_object_get(j, "error")) && json_object_size(j) == 1;
    json_decref(j);
    return ok;
}


static void
check_rawimg(const uint8_t *p, size_t n)
{
    vg_rawimg_desc d;
    char err[256];
    int parsed = vg_rawimg_parse(p, n, &d, err, sizeof err);
    vg_image_limits lim = { 1 << 20, 4096, 256 };
    vg_image im;
    int rc = vg_rawimg_decode(p, n, &lim, &im, err, sizeof err);
    if (rc == 0) {
        if (parsed != 0 || (uint32_t)im.w != d.w || (uint32_t)im.h != d.h || !im.rgb || d.w > 256 || d.h > 256)
            abort();
        vg_image_release(&im);
    } else if (im.rgb || (rc != VG_E_DECODE && rc != VG_E_TOOBIG && rc != -ENOMEM) ||
               (parsed != 0 && rc != VG_E_DECODE)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    if (!(data[0] & 1)) {
        check_rawimg(data + 1, size - 1);
        return 0;
    }
    if (!loop)
        setup();
    const uint8_t *body = data + 2;
    size_t blen = size - 2;
    vg_buf req, out;
    vg_buf_init(&req);
    vg_buf_init(&out);
    vg_buf_printf(&req, "POST /v2/models/m/infer HTTP/1.1\r\nHost: fuzz\r\nContent-Length: %zu\r\n", blen);
    static const char *const codings[] = { NULL, "gzip", "deflate", "br" };
    const char *coding = codings[(data[0] >> 1) & 3];
    if (coding)
        vg_buf_printf(&req, "Content-Encoding: %s\r\n", coding);
    if (data[1] == 0xff)
        vg_buf_puts(&req, "Content-Type: application/json\r\n");
    else
        vg_buf_printf(&req, "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %zu\r\n",
                      blen * data[1] / 254);
    vg_buf_puts(&req, "\r\n");
    vg_buf_append(&req, body, blen);
    if (fz_exchange(srv, req.data, req.len, &out, 5) < 0)
        abort();
    size_t at = 0;
    fz_resp r;
    if (fz_response(out.data, out.len, &at, &r) < 0 || at != out.len)
        abort();
    /* the model has no worker: nothing succeeds; a request that parses is 503 from the pool */
    if (!is_protocol_error(&r))
        abort();
    vg_buf_release(&req);
    vg_buf_release(&out);
    return 0;
}
