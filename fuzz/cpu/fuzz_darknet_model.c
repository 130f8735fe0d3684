/*
 * fuzz/cpu/fuzz_darknet_model.c: libFuzzer harness for the cpu engine's
 * darknet cfg reader and weights loader (backends/cpu/cfg.c, net.c, load.c).
 *
 * Input: a 4-byte little-endian length L, then L bytes of cfg text, then
 * the weights file (the rest). The engine must either refuse the pair with
 * an error message or load it; when it loads a small network, one forward
 * pass and the candidate extraction run on it too. Invariants checked: a
 * failed load leaves no network and says why; a loaded network has a sane
 * shape; memory stays under a 64 MiB cap (the engine's max_bytes option),
 * so "out of memory" is never the fuzzer's finding.
 *
 * Build: ./configure --enable-fuzzing CC=clang && make fuzz/cpu/fuzz_darknet_model
 * Run:   fuzz/cpu/fuzz_darknet_model -dict=fuzz/cpu/darknet.dict fuzz/cpu/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vgc_options opt = { .max_bytes = (size_t)64 << 20, .max_batch = 1, .threads = 1 };
    char err[VIGIA_ERRLEN] = "";
    vgc_net *net = NULL;
    uint32_t cfg_len;
    int rc;

    if (size < 4)
        return 0;
    memcpy(&cfg_len, data, 4);
    data += 4;
    size -= 4;
    if (cfg_len > size)
        cfg_len = (uint32_t)size;
    rc = vgc_net_load_mem(&net, (const char *)data, cfg_len, data + cfg_len, size - cfg_len, &opt, err,
                          sizeof err);
    if (rc < 0) {
        if (net || err[0] == '\0')
            abort();   /* a failure must leave nothing behind and say why */
        return 0;
    }
    {
        int w, h, c;

        vgc_net_input_size(net, &w, &h, &c);
        if (w < 1 || h < 1 || c < 1 || vgc_net_layers(net) < 1)
            abort();
        if (vgc_net_flops(net) < 2e7 && (size_t)w * h * c < ((size_t)1 << 20)) {
            float *x = calloc((size_t)w * h * c, sizeof(float));
            int cap = vgc_net_max_candidates(net), classes = vgc_net_classes(net);
            vigia_candidates out = { 0 };

            if (x && vgc_net_forward(net, x, 1, err, sizeof err) == 0 && cap > 0 && classes > 0 && cap < 100000) {
                out.capacity = 16;
                out.box = calloc(16 * 4, sizeof(float));
                out.objectness = calloc(16, sizeof(float));
                out.prob = calloc((size_t)16 * classes, sizeof(float));
                if (out.box && out.objectness && out.prob &&
                    vgc_net_candidates(net, 0, 0.5f, &out, NULL) == 0 && out.count > out.capacity)
                    abort();
                free(out.box);
                free(out.objectness);
                free(out.prob);
            }
            free(x);
        }
    }
    vgc_net_destroy(net);
    return 0;
}
