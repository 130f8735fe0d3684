/*
 * libFuzzer harness for Frigate's zmq detector protocol (core/api/zmq_detector.c)
 * through a real ZMQ_ROUTER bound on an ipc:// socket in a temporary
 * directory and driven by the real libev loop, with the detection pool of
 * `vigia serve` (one model listed, never loaded, so no worker is forked).
 * The harness is the client: a DEALER socket that sends the frames the input
 * describes, then a probe request, and reads the answers.
 *
 * Input: byte 0, bit 0 set: an empty delimiter frame goes first (what a REQ
 * socket sends); then frames of [2-byte big-endian length][bytes], at most
 * 6, the last one cut at the end of the input.
 *
 * Invariants, whatever the frames:
 *  - a message shaped like a REQ request (an empty frame, then at least one)
 *    is answered exactly once, within 5 s; any other message is dropped
 *    without an answer, and the probe after it is still answered;
 *  - the answer is the one the protocol gives (docs/frigate.md), worked out
 *    here independently of the detector: an error object for a header that
 *    is not a JSON object of at most 4096 bytes or a request of the wrong
 *    frame count or tensor, the model handshake, the refusal of a model
 *    upload, or the [20, 6] float32 array (all zeros: no model is loaded)
 *    for a tensor whose shape, dtype and size agree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <zmq.h>

#include "base/config.h"
#include "cli/serve.h"
#include "pool/pool.h"
#include "harness.h"
#include "base/log.h"
#include "net/server.h"
#include "api/zmq_detector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_FRAMES 7            /* the delimiter and six from the input */
#define HEADER_MAX 4096         /* the detector's limit on the JSON frame */

enum answer { NONE, ERROR, MODEL, UPLOAD, ZEROS };

static vg_server *srv;
static vg_pool *pool;   /* kept for the life of the process */
static vg_zmq_detector *zdet;
static void *zctx, *client;
static char root[256];
static const char probe[] = "{\"model_request\": true, \"model_name\": \"m\"}";


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vg_log_set_level(VG_LOG_OFF);
    fz_temp_root("vigia-fuzz-zmq", root, sizeof root);
    fz_write_unloaded_model(root);
    char endpoint[600];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/zmq", root);

    vg_config *cfg = vg_xmalloc(sizeof *cfg);
    vg_config_init(cfg);
    fz_config_set(cfg, "paths", "data", root);
    fz_config_set(cfg, "paths", "models", root);
    fz_config_set(cfg, "detect", "default_model", "m");
    fz_config_set(cfg, "detect", "load", "not-loaded");
    fz_config_set(cfg, "zmq", "endpoint", endpoint);
    fz_config_set(cfg, "zmq", "max_message", "1M");
    srv = vg_server_create(ev_default_loop(EVFLAG_AUTO), cfg);
    char err[512] = "";
    pool = vg_serve_pool(vg_server_loop(srv), cfg, err, sizeof err);
    zdet = pool ? vg_zmq_detector_create(srv, pool, err, sizeof err) : NULL;
    if (!zdet) {
        fprintf(stderr, "fuzz_zmq: %s\n", err);
        abort();
    }
    zctx = zmq_ctx_new();
    client = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    int linger = 0;
    if (!client || zmq_setsockopt(client, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(client, endpoint) != 0)
        abort();
    return 0;
}


typedef struct {
    const uint8_t *p;
    size_t n;
} frame;


/* The shape rules of docs/frigate.md: 1 when the tensor frame is a whole RGB image of this shape and dtype. */
static int
tensor_ok(json_t *hdr, size_t len)
{
    json_t *shape = json_object_get(hdr, "shape");
    const char *dtype = json_string_value(json_object_get(hdr, "dtype"));
    size_t elem = !dtype ? 0 : !strcmp(dtype, "uint8") ? 1 : !strcmp(dtype, "float32") ? 4 : 0;
    size_t rank = json_array_size(shape);
    if (!elem || rank < 3 || rank > 4)
        return 0;
    json_int_t s[4];
    for (size_t i = 0; i < rank; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
            return 0;
        s[i] = json_integer_value(v);
    }
    json_int_t h, w;
    if (rank == 3 && s[2] == 3)
        h = s[0], w = s[1];
    else if (rank == 4 && s[0] == 1 && (s[3] == 3 || s[1] == 3))
        h = s[3] == 3 ? s[1] : s[2], w = s[3] == 3 ? s[2] : s[3];
    else
        return 0;
    return (uint64_t)h * (uint64_t)w * 3u * elem == len;
}


static enum answer
expected(const frame *f, int nf)
{
    if (nf < 2 || f[0].n != 0)
        return NONE;
    json_t *hdr = f[1].n > 0 && f[1].n <= HEADER_MAX
                      ? json_loadb((const char *)f[1].p, f[1].n, JSON_REJECT_DUPLICATES, NULL)
                      : NULL;
    enum answer a;
    if (!json_is_object(hdr))
        a = ERROR;
    else if (json_is_true(json_object_get(hdr, "model_request")))
        a = nf == 2 ? MODEL : ERROR;
    else if (json_is_true(json_object_get(hdr, "model_data")))
        a = UPLOAD;
    else if (nf != 3)
        a = ERROR;
    else
        a = tensor_ok(hdr, f[2].n) ? ZEROS : ERROR;
    json_decref(hdr);
    return a;
}


static void
send_frames(const frame *f, int nf)
{
    for (int i = 0; i < nf; i++)
        if (zmq_send(client, f[i].n ? f[i].p : (const uint8_t *)"", f[i].n, i + 1 < nf ? ZMQ_SNDMORE : 0) < 0)
            abort();
}


static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


/* The next answer's payload (after the empty delimiter), running the server's loop meanwhile. */
static zmq_msg_t
receive(void)
{
    double deadline = now() + 5;
    for (;;) {
        ev_run(vg_server_loop(srv), EVRUN_NOWAIT);
        zmq_pollitem_t it = { client, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 1) > 0)
            break;
        if (now() > deadline) {
            fprintf(stderr, "fuzz_zmq: no answer within 5 s\n");
            abort();
        }
    }
    zmq_msg_t delim, payload;
    zmq_msg_init(&delim);
    zmq_msg_init(&payload);
    if (zmq_msg_recv(&delim, client, 0) < 0 || zmq_msg_size(&delim) != 0 || !zmq_msg_more(&delim) ||
        zmq_msg_recv(&payload, client, 0) < 0 || zmq_msg_more(&payload)) {
        fprintf(stderr, "fuzz_zmq: an answer is not [\"\", payload]\n");
        abort();
    }
    zmq_msg_close(&delim);
    return payload;
}


static enum answer
classify(zmq_msg_t *m)
{
    const uint8_t *p = zmq_msg_data(m);
    size_t n = zmq_msg_size(m);
    if (n == VG_ZMQ_ROWS * VG_ZMQ_COLS * sizeof(float)) {
        for (size_t i = 0; i < n; i++)
            if (p[i])
                abort();   /* a detection with no model loaded */
        return ZEROS;
    }
    json_t *j = json_loadb((const char *)p, n, 0, NULL);
    enum answer a = NONE;
    if (json_is_object(j) && json_object_size(j) == 1 && json_is_string(json_object_get(j, "error")))
        a = ERROR;
    else if (json_is_boolean(json_object_get(j, "model_available")) &&
             json_is_boolean(json_object_get(j, "model_loaded")) && json_object_size(j) == 2)
        a = MODEL;
    else if (json_is_false(json_object_get(j, "model_saved")) && json_is_string(json_object_get(j, "error")))
        a = UPLOAD;
    json_decref(j);
    if (a == NONE) {
        fprintf(stderr, "fuzz_zmq: an answer of no known kind: %.*s\n", (int)(n > 200 ? 200 : n), (const char *)p);
        abort();
    }
    return a;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    frame f[MAX_FRAMES];
    int nf = 0;
    if (data[0] & 1)
        f[nf++] = (frame){ NULL, 0 };
    size_t at = 1;
    while (at < size && nf < MAX_FRAMES) {
        size_t n = at + 2 <= size ? (size_t)data[at] << 8 | data[at + 1] : 0;
        at += 2;
        if (at > size)
            at = size;
        if (n > size - at)
            n = size - at;
        f[nf++] = (frame){ data + at, n };
        at += n;
    }
    if (nf == 0)
        return 0;   /* zmq has no message of no frames */
    enum answer want = expected(f, nf);
    send_frames(f, nf);
    frame p[2] = { { NULL, 0 }, { (const uint8_t *)probe, sizeof probe - 1 } };
    send_frames(p, 2);

    if (want != NONE) {
        zmq_msg_t m = receive();
        enum answer got = classify(&m);
        if (got != want) {
            fprintf(stderr, "fuzz_zmq: expected answer kind %d, got %d: %.*s\n", want, got,
                    (int)(zmq_msg_size(&m) > 200 ? 200 : zmq_msg_size(&m)), (const char *)zmq_msg_data(&m));
            abort();
        }
        zmq_msg_close(&m);
    }
    zmq_msg_t m = receive();
    if (classify(&m) != MODEL)
        abort();   /* the probe's answer: the message before it got none or one too many */
    zmq_msg_close(&m);
    /* and nothing after it: one answer per request */
    ev_run(vg_server_loop(srv), EVRUN_NOWAIT);
    zmq_pollitem_t it = { client, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, 0) != 0)
        abort();
    return 0;
}
