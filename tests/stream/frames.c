/*
 * vigia-test-frames: a synthetic video for the stream tests. Cuts a box out
 * of an image and pastes it on a flat grey background, moved along a
 * straight line, one JPEG per frame:
 *
 *   vigia-test-frames SRC X Y W H BG_W BG_H X0 Y0 DX DY FRAMES OUTDIR
 *
 * writes OUTDIR/frame-000.jpg ... with the box's top-left at
 * (X0 + i*DX, Y0 + i*DY) in frame i.
 */
#include <stdio.h>
#include <stdlib.h>

#include <vips/vips.h>

int
main(int argc, char **argv)
{
    if (argc != 14) {
        fprintf(stderr, "usage: %s SRC X Y W H BG_W BG_H X0 Y0 DX DY FRAMES OUTDIR\n", argv[0]);
        return 2;
    }
    if (VIPS_INIT(argv[0]))
        vips_error_exit(NULL);
    int v[11];
    for (int i = 0; i < 11; i++)
        v[i] = atoi(argv[2 + i]);
    int rc = 1;
    VipsImage *src = vips_image_new_from_file(argv[1], NULL), *cut = NULL, *black = NULL, *bg = NULL;
    if (!src || vips_extract_area(src, &cut, v[0], v[1], v[2], v[3], NULL) ||
        vips_black(&black, v[4], v[5], "bands", 3, NULL) ||
        vips_linear1(black, &bg, 1.0, 128.0, "uchar", TRUE, NULL))
        goto out;
    for (int f = 0; f < v[10]; f++) {
        VipsImage *frame = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/frame-%03d.jpg", argv[13], f);
        if (vips_insert(bg, cut, &frame, v[6] + f * v[8], v[7] + f * v[9], NULL) ||
            vips_image_write_to_file(frame, path, "Q", 90, NULL)) {
            if (frame)
                g_object_unref(frame);
            goto out;
        }
        g_object_unref(frame);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "%s\n", vips_error_buffer());
    if (bg)
        g_object_unref(bg);
    if (black)
        g_object_unref(black);
    if (cut)
        g_object_unref(cut);
    if (src)
        g_object_unref(src);
    vips_shutdown();
    return rc;
}
