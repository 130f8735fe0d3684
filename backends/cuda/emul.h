/*
 * backends/cuda/emul.h: the CUDA engine's plan run on the host, layer by
 * layer, with the same element functions the GPU kernels run (kernels.h)
 * and a direct convolution over the same weights cuDNN is given. For the
 * tests (tests/cuda): on a machine without a GPU it checks the plan, the
 * weight layout, the arena offsets and every non-convolution kernel's
 * arithmetic against the CPU engine. Never part of the plugin.
 */
#ifndef VGCU_EMUL_H
#define VGCU_EMUL_H

#include "plan.h"

/*
 * Run `batch` images (input: batch x c x h x w floats) through the plan on
 * the host. arena holds p->arena_floats floats; layer i's output for image
 * b is then at arena + p->layers[i].off + b * out_size (while its buffer is
 * not reused: all layers with keep_outputs, the yolo heads always).
 */
VGC_HIDDEN void vgcu_emul_forward(const vgcu_plan *p, float *arena, const float *input, int batch);

/* Pointers to every yolo head's output for image b (heads must hold p->nheads). */
VGC_HIDDEN void vgcu_emul_heads(const vgcu_plan *p, const float *arena, int b, const float **heads);

#endif /* VGCU_EMUL_H */
