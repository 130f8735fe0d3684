/*
 * darknet-ref: the reference answers for test_darknet, computed by
 * libdarknet's own detector path (its image loading, letterbox_image,
 * network_predict, get_network_boxes with letterbox correction,
 * do_nms_sort, and draw_detections' pixel rounding), for several images:
 *
 *   darknet-ref CFG WEIGHTS THRESH IMAGE...
 *
 * prints per image:
 *   image PATH WIDTH HEIGHT
 *   tensor FNV1A64-OF-THE-LETTERBOXED-FLOATS
 *   det CLASS PROB LEFT TOP RIGHT BOTTOM      (one per box and class above THRESH)
 *   end
 * Linked against libdarknet only (no vigia code), so that it is an
 * independent oracle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <darknet.h>
#pragma GCC diagnostic pop


static uint64_t
fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}


/* ASan builds: libdarknet's own leaks (free_network misses parts) are not ours. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
    return "leak:libdarknet.so\n";
}


int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* every line out even if the process dies later */
    if (argc < 5) {
        fprintf(stderr, "usage: darknet-ref CFG WEIGHTS THRESH IMAGE...\n");
        return 2;
    }
    float thresh = (float)atof(argv[3]);
    network *net = load_network(argv[1], argv[2], 0);
    set_batch_network(net, 1);
    layer l = net->layers[net->n - 1];
    for (int a = 4; a < argc; a++) {
        image im = load_image_color(argv[a], 0, 0);
        image sized = letterbox_image(im, net->w, net->h);
        printf("image %s %d %d\n", argv[a], im.w, im.h);
        printf("tensor %016llx\n", (unsigned long long)fnv1a(sized.data, sizeof(float) * (size_t)sized.w * sized.h * sized.c));
        network_predict(net, sized.data);
        int nboxes = 0;
        detection *dets = get_network_boxes(net, im.w, im.h, thresh, 0.5f, 0, 1, &nboxes);
        do_nms_sort(dets, nboxes, l.classes, 0.45f);
        for (int i = 0; i < nboxes; i++) {
            for (int j = 0; j < l.classes; j++) {
                if (!(dets[i].prob[j] > thresh))
                    continue;
                box b = dets[i].bbox;
                int left = (b.x - b.w / 2.) * im.w;
                int right = (b.x + b.w / 2.) * im.w;
                int top = (b.y - b.h / 2.) * im.h;
                int bot = (b.y + b.h / 2.) * im.h;
                if (left < 0) left = 0;
                if (right > im.w - 1) right = im.w - 1;
                if (top < 0) top = 0;
                if (bot > im.h - 1) bot = im.h - 1;
                printf("det %d %.6f %d %d %d %d\n", j, dets[i].prob[j], left, top, right, bot);
            }
        }
        printf("end\n");
        free_detections(dets, nboxes);
        free_image(im);
        free_image(sized);
    }
    free_network(net);
    return 0;
}
