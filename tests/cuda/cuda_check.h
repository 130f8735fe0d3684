/*
 * tests/cuda/cuda_check.h: what the CUDA engine's tests share (the host
 * emulation test and the GPU test): candidate sets and their comparison
 * with the CPU engine's, within the tolerances (1e-3 for values,
 * 1 px for boxes in the original image).
 */
#ifndef VGCU_TEST_CUDA_CHECK_H
#define VGCU_TEST_CUDA_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "vigia/backend.h"
#include "cpu_util.h"

#define CC_TOL 1e-3

/* A candidate set with room for `cap` candidates and their darknet indexes. */
typedef struct cc_cands {
    vigia_candidates c;
    uint32_t *index;
} cc_cands;

void cc_cands_init(cc_cands *k, int cap, int classes);
void cc_cands_free(cc_cands *k);

/*
 * Compare two candidate sets in darknet order, matched by index: boxes
 * within 1 px in the original image (g; 1e-4 of the box for the huge
 * boxes random weights give), objectness and every probability within
 * CC_TOL. A candidate in one set only is allowed when its objectness is
 * within CC_TOL of thresh. Returns the number of mismatches (each printed
 * as a TAP comment prefixed by `what`); *matched, *worst_px and *worst_p
 * get the matched count and the largest differences.
 */
int cc_match(const char *what, const cu_geom *g, int classes, float thresh, const cc_cands *ref,
             const cc_cands *got, int *matched, double *worst_px, double *worst_p);

/*
 * A network with every layer kind and option the engines have: mish,
 * swish, relu6, logistic, relu, leaky; grouped and depthwise convolutions;
 * route groups; shortcuts of several sources, with alpha/beta, from larger
 * and smaller sources; maxpool 2/1 and 3/2; upsample with scale; dropout;
 * yolo heads with new_coords and scale_x_y.
 */
extern const char cc_all_layers_cfg[];

#endif
