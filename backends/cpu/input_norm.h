/*
 * input_norm: an ONNX graph's input normalisation as the manifest gives it,
 * for detectors and classifiers alike: [model] `mean = R,G,B` and
 * `std = R,G,B` in 0..1 units, (pixel / 255 - mean) / std.
 */
#ifndef VGC_INPUT_NORM_H
#define VGC_INPUT_NORM_H

#include <stddef.h>

#include "vigia/backend.h"
#include "internal.h"

/*
 * Reads mean (each in [0, 1], default 0) and std (each in (0, 1], default 1)
 * in RGB order. Returns 0, or VIGIA_EINVAL with a message naming the key.
 */
VGC_HIDDEN int vgc_input_norm(const vigia_manifest *m, float mean[3], float std[3], char *err, size_t errlen);

#endif
