/*
 * fuzz/fuzz_onnx.c: libFuzzer harness for the cpu engine's ONNX reader
 * (backends/cpu/onnx_read.c, onnx_shape.c and the protobuf-c code generated
 * from onnx.proto).
 *
 * Input: an ONNX model file. The reader must refuse it with a message or
 * read it; graph inputs with dynamic dimensions are fixed at batch 1 and
 * 32x32. Invariants checked on a read graph: every index (node inputs and
 * outputs, graph inputs and outputs, attribute tensors) is in range, every
 * value's element count is the product of its dimensions and within the
 * limits, constants have data of that count, nodes come after their inputs'
 * producers. External data is refused (no directory is given).
 * The detection heads (onnx_head.c) then read the first output's shape as
 * each layout: a head they accept fits in the output (rows x columns =
 * its count) and decodes an output of that count (the file's bytes as
 * floats) within the candidate arrays' capacity.
 *
 * Build: ./configure --enable-fuzzing CC=clang && make fuzz/fuzz_onnx
 * Run:   fuzz/fuzz_onnx -dict=fuzz/onnx.dict fuzz/corpus/onnx
 * Seeds: fuzz/make-onnx-seeds (from tests/cpu/onnx).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_head.h"
#include "onnx_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const vgc_onnx_graph *g, int v)
{
    const vgc_onnx_value *x;
    int64_t count = 1;

    if (v < 0 || v >= g->nval)
        abort();
    x = &g->val[v];
    if (x->rank < 0 || x->rank > VGC_ONNX_MAX_RANK || !x->name)
        abort();
    for (int i = 0; i < x->rank; i++) {
        if (x->dims[i] < 0 || x->dims[i] > VGC_ONNX_MAX_DIM)
            abort();
        count *= x->dims[i];
    }
    if (count != x->count || count > VGC_ONNX_MAX_ELEMS)
        abort();
    if (x->dtype != VGC_DT_FLOAT && x->dtype != VGC_DT_INT64)
        abort();
    if (x->data && count > 0) {
        /* touch the first and last element: ASan reports a short buffer */
        volatile const uint8_t *p = x->data;
        size_t esz = x->dtype == VGC_DT_FLOAT ? 4 : 8;
        (void)p[0];
        (void)p[(size_t)count * esz - 1];
    }
}


/* Every head layout over output v of g; a few decodes with the input's bytes as the tensor. */
static void check_heads(const vgc_onnx_graph *g, int v, const uint8_t *data, size_t size)
{
    static const char *const wants[] = { NULL, "yolov5", "yolov8", "boxes" };
    const vgc_onnx_value *y = &g->val[v];

    for (int k = 0; k < 4; k++) {
        vgc_onnx_head h;
        char err[VIGIA_ERRLEN] = "";
        if (vgc_onnx_head_pick(&h, wants[k], y->dims, y->rank, 3, y->name, err, sizeof err)) {
            if (!err[0])
                abort();
            continue;
        }
        if (h.n < 1 || h.classes < 1 || h.cols < 6 || (int64_t)h.n * h.cols != y->count)
            abort();
        if (y->count > ((int64_t)1 << 16))
            continue;                          /* decoding big outputs only costs time */
        enum { CAP = 64 };
        float *out = calloc((size_t)y->count, sizeof *out), box[4 * CAP], obj[CAP];
        float *prob = calloc((size_t)CAP * h.classes, sizeof *prob);
        vgc_head_row *order = calloc((size_t)h.n, sizeof *order);
        vigia_candidates c = { .struct_size = sizeof c, .capacity = CAP, .box = box, .objectness = obj,
                               .prob = prob };
        if (!out || !prob || !order)
            abort();
        memcpy(out, data, size < (size_t)y->count * sizeof *out ? size : (size_t)y->count * sizeof *out);
        vgc_onnx_head_decode(&h, out, 32, 32, 0.25f, order, &c);
        if (c.count > CAP || (c.truncated && c.count != CAP))
            abort();
        free(out);
        free(prob);
        free(order);
    }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vgc_onnx_options opt = { .batch = 1, .width = 32, .height = 32 };
    char err[VIGIA_ERRLEN] = "";
    vgc_onnx_graph *g = NULL;
    int rc = vgc_onnx_read(&g, data, size, NULL, &opt, err, sizeof err);

    if (rc) {
        if (rc > 0 || g || !err[0])
            abort();
        return 0;
    }
    if (!g || g->nin < 1 || g->nout < 1 || g->opset < 11 || g->opset > 19)
        abort();
    for (int i = 0; i < g->nin; i++)
        check_value(g, g->in[i]);
    for (int i = 0; i < g->nout; i++)
        check_value(g, g->out[i]);
    for (int n = 0; n < g->nnode; n++) {
        const vgc_onnx_node *nd = &g->node[n];
        if ((unsigned)nd->op >= VGC_OP_COUNT || !nd->name)
            abort();
        for (int k = 0; k < nd->nin; k++)
            if (nd->in[k] >= 0) {
                check_value(g, nd->in[k]);
                if (g->val[nd->in[k]].producer >= n)
                    abort();
            }
        for (int k = 0; k < nd->nout; k++)
            if (nd->out[k] >= 0) {
                check_value(g, nd->out[k]);
                if (g->val[nd->out[k]].producer != n)
                    abort();
            }
        for (int a = 0; a < nd->nattr; a++)
            if (nd->attr[a].type == VGC_AT_TENSOR && (nd->attr[a].tensor < 0 || nd->attr[a].tensor >= g->nval))
                abort();
        if (vgc_onnx_find(g, g->val[nd->out[0]].name) != nd->out[0])
            abort();
    }
    check_heads(g, g->out[0], data, size);
    vgc_onnx_destroy(g);
    return 0;
}
