/*
 * tests/cpu/cpu_util.h: what the cpu engine's tests and bench/engines share:
 * where the shared models and images are, a darknet-style letterbox of an
 * image file (decoded with libvips) into a planar RGB tensor, the mapping of
 * boxes back to image pixels, tolerant float comparison, and (when built
 * with HAVE_DARKNET) a thin wrapper over libdarknet that survives its traps
 * (exit() on missing files, stderr chatter).
 */
#ifndef VGC_TEST_CPU_UTIL_H
#define VGC_TEST_CPU_UTIL_H

#include <stddef.h>

#include <vigia/backend.h>

/*
 * An ABI 2 manifest for tests that open a plugin without the host: `kv`
 * holds "section.key", value pairs ending at a NULL key (a NULL value is an
 * absent key); the pointer is kept, so a test may change values between
 * opens. Typed getters check ranges and choices as the host does, with a
 * shorter message.
 */
void cu_manifest_init(vigia_manifest *m, const char **kv);

/* $VIGIA_SHARED, else $VIGIA_SRCDIR/../shared, else the build's source dir/../shared. */
const char *cu_shared_dir(void);
/* cu_shared_dir()/sub/name in a static rotating buffer (8 slots). */
const char *cu_shared_path(const char *sub, const char *name);
/* Does the file exist (regular)? */
int cu_file_exists(const char *path);
/* A fresh temporary directory (static buffer); removed by cu_rmtree. */
const char *cu_tmpdir(void);
void cu_rmtree(const char *dir);

/* Copy a cfg, replacing width/height/batch/subdivisions in [net] (0 = keep). */
int cu_write_cfg_variant(const char *src, const char *dst, int width, int height);

/* Where a letterboxed image sits inside the network input. */
typedef struct cu_geom {
    int im_w, im_h;           /* original image */
    int net_w, net_h;         /* network input */
    int new_w, new_h;         /* resized image inside it */
} cu_geom;

/* Call once before anything that decodes images (VIPS_INIT). */
int cu_images_init(const char *argv0);
void cu_images_shutdown(void);

/*
 * Decode path and letterbox it to net_w x net_h as darknet's letterbox_image
 * does (bilinear resize keeping the aspect, centred, fill 0.5), into out
 * (3 x net_h x net_w floats in [0, 1]). Returns 0 or -1.
 */
int cu_letterbox_file(const char *path, int net_w, int net_h, float *out, cu_geom *geom);

/* A box (centre/size as fractions of the network input) in image pixels: x0, y0, x1, y1. */
void cu_box_to_pixels(const cu_geom *g, const float *box, double px[4]);

/*
 * Compare got with ref: an element is bad when |got-ref| > tol * max(1, |ref|).
 * Returns the number of bad elements; *max_err gets max |got-ref| / max(1, |ref|).
 */
size_t cu_compare(const float *ref, const float *got, size_t n, double tol, double *max_err);

/* Monotonic seconds. */
double cu_now(void);

#ifdef HAVE_DARKNET
/* libdarknet, opened quietly; NULL (and a message on stderr) when a file is missing. */
struct network;
struct network *cu_dn_load(const char *cfg, const char *weights);
void cu_dn_free(struct network *net);
/* Run one image (3 x h x w); returns the last layer's output. */
float *cu_dn_predict(struct network *net, float *input);
/* Layer i's output (image 0) and its float count. */
const float *cu_dn_layer_output(struct network *net, int i, size_t *n, int *type_is_yolo);
int cu_dn_layers(struct network *net);
/*
 * darknet's get_network_boxes(net, w, h, thresh, 0, NULL, 1, &n) with w, h
 * the network size: candidate boxes as fractions of the network input.
 * Fills at most cap entries of box (4 each), obj and prob (classes each);
 * returns the count (or -1 when there were more than cap).
 */
int cu_dn_candidates(struct network *net, float thresh, int classes, int cap, float *box,
                     float *obj, float *prob);
#endif

#endif /* VGC_TEST_CPU_UTIL_H */
