/*
 * bench/detect/bench_jpeg_scales.c: the server's JPEG decoder
 * (core/pipeline/jpegdec.c, libjpeg-turbo) on one file at every DCT
 * reduction, best of ITERS each, one thread. At 1/8 libjpeg computes no
 * inverse DCT beyond each block's DC value, so that row is about what the
 * entropy (Huffman) decoding of the whole file costs: the floor under any
 * reduced decode of that file. Built on demand:
 *
 *   make bench/detect/bench_jpeg_scales && bench/detect/bench_jpeg_scales FRAME.jpg [ITERS]
 */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "base/clock.h"
#include "pipeline/jpegdec.h"

int main(int argc, char **argv)
{
    int iters = argc > 2 ? atoi(argv[2]) : 30;
    gchar *data = NULL;
    gsize len = 0;
    char err[256];

    if (argc < 2 || iters < 1 || !g_file_get_contents(argv[1], &data, &len, NULL)) {
        fprintf(stderr, "usage: %s FRAME.jpg [ITERS]  (a readable JPEG; ITERS >= 1)\n", argv[0]);
        return 2;
    }
    printf("| reduction | decoded | best ms | MB/s of the file |\n|---|---|---:|---:|\n");
    for (int shrink = 1; shrink <= 8; shrink *= 2) {
        double best = 1e9;
        int w = 0, h = 0;
        for (int i = 0; i < iters; i++) {
            vg_image im = { 0 };
            double t0 = vg_mono_s();
            if (vg_jpegdec_decode(data, len, shrink, 1, &im, err, sizeof err) < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], err);
                g_free(data);
                return 1;
            }
            double t = vg_mono_s() - t0;
            best = t < best ? t : best;
            w = im.w;
            h = im.h;
            g_free(im.rgb);
        }
        printf("| 1/%d | %dx%d | %.2f | %.0f |\n", shrink, w, h, best * 1e3, len / best / 1e6);
    }
    g_free(data);
    return 0;
}
