/*
 * tests/cpu/q8_util.h: what the int8 tests share (test_q8, test_q8_dw):
 * static input ranges taken from a dynamic run of a network, to load the
 * same network with them (vgc_options.q8_ranges, q8_chan_ranges), and the
 * comparison of two forms of a network (fed against the float path).
 */
#ifndef VGC_TEST_Q8_UTIL_H
#define VGC_TEST_Q8_UTIL_H

#include <stdint.h>

#include "engine.h"

/* The next number of a xorshift32 sequence kept in *state (not 0). */
uint32_t q8u_next(uint32_t *state);

/*
 * After one forward of `dyn` (a chain: layer i reads layer i - 1; loaded
 * with keep_outputs), each int8 layer's input range into ranges (2 floats
 * a layer: min(0, ...), max(0, ...) * widen) and, when chan is not NULL,
 * each input channel's range of the layers that take them (depthwise, and
 * block 1x1 layers: q8.h's ncr) into chan (2 floats a channel, the layers
 * in order, widened the same way).
 */
void q8u_ranges_measure(const vgc_net *dyn, float *ranges, float *chan, float widen);

/*
 * Calibration tensor number `which` (each a different pattern and range)
 * of n floats into x and the file dir/name; x NULL: a buffer of its own.
 */
void q8u_write_tensor(const char *dir, const char *name, int which, float *x, size_t n);

/*
 * Run nets a and b on the same input x, with 1 and then 2 images, and
 * return the largest |a - b| of layer `layer`'s outputs (image 0) and in
 * *maxv the largest |b|. 0 forwards ok; a failed forward fails the test.
 */
double q8u_max_diff(vgc_net *a, vgc_net *b, const float *x, int layer, double *maxv);

#endif /* VGC_TEST_Q8_UTIL_H */
