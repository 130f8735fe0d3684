/*
 * rgbdump: decodes an image with the workers' own decoder (libvips through
 * core/pipeline/image.c) and writes "W H\n" then W*H*3 bytes of RGB to stdout, so
 * that the Python tests can send the very pixels a JPEG decodes to as a
 * KServe UINT8/FP32 tensor or a Frigate zmq tensor, and expect the same
 * detections.
 *
 *   rgbdump IMAGE > out.rgb
 */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/image.h"

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rgbdump IMAGE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static unsigned char data[64 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    char err[256];
    vg_image im;
    if (vg_image_init(err, sizeof err) != 0 || vg_image_decode(data, n, NULL, &im, err, sizeof err) != 0) {
        fprintf(stderr, "rgbdump: %s\n", err);
        return 1;
    }
    printf("%d %d\n", im.w, im.h);
    fwrite(im.rgb, 3, (size_t)im.w * (size_t)im.h, stdout);
    vg_image_release(&im);
    vg_image_shutdown();
    return 0;
}
