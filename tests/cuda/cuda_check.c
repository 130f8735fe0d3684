/*
 * tests/cuda/cuda_check.c: candidate sets for the CUDA engine's tests (cuda_check.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_check.h"

void cc_cands_init(cc_cands *k, int cap, int classes)
{
    k->c.capacity = (uint32_t)cap;
    k->c.count = k->c.truncated = 0;
    k->c.box = calloc((size_t)cap * 4 + 4, sizeof(float));
    k->c.objectness = calloc((size_t)cap + 1, sizeof(float));
    k->c.prob = calloc((size_t)cap * (size_t)classes + 1, sizeof(float));
    k->index = calloc((size_t)cap + 1, sizeof(uint32_t));
    if (!k->c.box || !k->c.objectness || !k->c.prob || !k->index) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
}


void cc_cands_free(cc_cands *k)
{
    free(k->c.box);
    free(k->c.objectness);
    free(k->c.prob);
    free(k->index);
}


int cc_match(const char *what, const cu_geom *g, int classes, float thresh, const cc_cands *ref,
             const cc_cands *got, int *matched, double *worst_px, double *worst_p)
{
    uint32_t i = 0, j = 0;
    int bad = 0;

    *matched = 0;
    *worst_px = *worst_p = 0;
    while (i < ref->c.count || j < got->c.count) {
        const int only_ref = j >= got->c.count || (i < ref->c.count && ref->index[i] < got->index[j]);
        const int only_got = !only_ref && (i >= ref->c.count || got->index[j] < ref->index[i]);

        if (only_ref || only_got) {
            const cc_cands *k = only_ref ? ref : got;
            const uint32_t at = only_ref ? i : j;
            const float obj = k->c.objectness[at];

            if (fabsf(obj - thresh) > CC_TOL) {
                if (bad++ < 5)
                    printf("# %s: candidate %#x (objectness %.5f) only in the %s\n", what, k->index[at], obj,
                           only_ref ? "cpu engine's" : "cuda engine's");
            }
            if (only_ref)
                i++;
            else
                j++;
            continue;
        }
        {
            double pr[4], pg[4], dpx = 0, dp;
            const float *rb = ref->c.box + 4 * (size_t)i, *gb = got->c.box + 4 * (size_t)j;

            if (g) {
                cu_box_to_pixels(g, rb, pr);
                cu_box_to_pixels(g, gb, pg);
                for (int k = 0; k < 4; k++) {
                    double d = fabs(pr[k] - pg[k]);
                    double tol = fmax(1.0, 1e-4 * fmax(fabs(pr[2] - pr[0]), fabs(pr[3] - pr[1])));

                    dpx = fmax(dpx, d);
                    if (d > tol && bad++ < 5)
                        printf("# %s: candidate %#x: box side %d differs by %.3f px\n", what, ref->index[i], k, d);
                }
            } else {
                for (int k = 0; k < 4; k++)
                    if (fabs(rb[k] - gb[k]) > CC_TOL * fmax(1.0, fabs(rb[k])) && bad++ < 5)
                        printf("# %s: candidate %#x: box[%d] %g vs %g\n", what, ref->index[i], k, rb[k], gb[k]);
            }
            dp = fabs(ref->c.objectness[i] - got->c.objectness[j]);
            for (int c = 0; c < classes; c++) {
                float a = ref->c.prob[(size_t)i * classes + c], b = got->c.prob[(size_t)j * classes + c];

                /* a probability near the threshold may be zeroed on one side only */
                if ((a == 0) != (b == 0) && fabsf((a == 0 ? b : a) - thresh) <= CC_TOL)
                    continue;
                dp = fmax(dp, fabs(a - b));
            }
            if (dp > CC_TOL && bad++ < 5)
                printf("# %s: candidate %#x: objectness or probability differs by %.2e\n", what, ref->index[i], dp);
            *worst_px = fmax(*worst_px, dpx);
            *worst_p = fmax(*worst_p, dp);
            (*matched)++;
            i++;
            j++;
        }
    }
    if (ref->c.truncated != got->c.truncated && bad++ < 5)
        printf("# %s: truncated %u vs %u\n", what, ref->c.truncated, got->c.truncated);
    return bad;
}


/* Every layer kind and option the engines have, in one small network (random weights). */
const char cc_all_layers_cfg[] =
    "[net]\nwidth=64\nheight=48\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=mish\n"      /* 0: 32x24 */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\ngroups=16\nactivation=swish\n" /* 1 */
    "[convolutional]\nfilters=32\nsize=1\nstride=1\npad=1\nactivation=relu6\n"                        /* 2: 34x26 */
    "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"                                                      /* 3 */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=5\nstride=1\npad=1\ngroups=2\nactivation=relu\n" /* 4: 32x24 */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npadding=1\nactivation=logistic\n"   /* 5 */
    "[shortcut]\nfrom=-2,-4\nactivation=leaky\n"                                                      /* 6 */
    "[maxpool]\nsize=2\nstride=1\n"                                                                   /* 7 */
    "[maxpool]\nsize=3\nstride=2\n"                                                                   /* 8: 16x12 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=3\nstride=2\npad=1\ngroups=8\nactivation=leaky\n" /* 9: 8x6 */
    "[dropout]\nprobability=.5\n"                                                                     /* 10 */
    "[shortcut]\nfrom=-2\nalpha=0.5\nbeta=2\nactivation=linear\n"                                     /* 11 */
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=0\nactivation=logistic\n"                     /* 12 */
    "[yolo]\nmask=0,1,2\nanchors=4,5, 8,9, 12,14, 20,22\nclasses=2\nnum=4\nnew_coords=1\nscale_x_y=2.0\n" /* 13 */
    "[route]\nlayers=-6\n"                                                                            /* 14: 16x12x16 */
    "[upsample]\nstride=2\nscale=0.5\n"                                                               /* 15: 32x24 */
    "[route]\nlayers=-1,5\n"                                                                          /* 16: 32 ch */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"     /* 17: 16x12 */
    "[shortcut]\nfrom=-3\nactivation=relu\n"                                                          /* 18: from 32x24 */
    "[upsample]\nstride=2\n"                                                                          /* 19: 32x24 */
    "[shortcut]\nfrom=-2\nalpha=1\nbeta=0.25\nactivation=linear\n"                                    /* 20: from 16x12 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                       /* 21 */
    "[yolo]\nmask=3,1\nanchors=4,5, 8,9, 12,14, 20,22\nclasses=2\nnum=4\nscale_x_y=1.1\n";           /* 22 */
