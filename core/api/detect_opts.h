/*
 * detect_opts: the options a client may give a detection (REST query,
 * form fields, JSON members, stream config messages): model,
 * min_confidence (alias threshold), nms, classes, annotate, k (the
 * classes a classification answers, best first), attributes.
 */
#ifndef VG_DETECT_OPTS_H
#define VG_DETECT_OPTS_H

#include <stddef.h>

#include "api/render.h"   /* vg_detection_json, for the users of this header that write detections */

#define VG_DETECT_MAX_CLASSES 64
#define VG_DETECT_TOP_K 5            /* classes a classification answers when k is not given */

struct vg_pool_result;

struct vg_pool_job;
struct json_t;

typedef struct vg_detect_opts {
    char model[128];                 /* "" = the default model */
    float min_confidence;            /* < 0: the model's */
    float nms;                       /* < 0: the model's */
    char classes_buf[1024];
    const char *classes[VG_DETECT_MAX_CLASSES];   /* point into classes_buf */
    size_t nclasses;
    int annotate;
    int top_k;                       /* k: 1 .. VG_POST_MAX_CLASSES; 0 = VG_DETECT_TOP_K */
    int attributes;                  /* VG_ATTR_* (pipeline/colors.h): "attributes=colors" */
} vg_detect_opts;

void vg_detect_opts_init(vg_detect_opts *o);
/* Copies (fixing the class pointers). */
void vg_detect_opts_copy(vg_detect_opts *dst, const vg_detect_opts *src);
/* Sets one option by name. Unknown names return 1 (ignored); bad values -1 with err. */
int vg_detect_opts_set(vg_detect_opts *o, const char *name, const char *value, char *err, size_t errlen);
/* A classification result keeps its k best classes (o's k); a detection is left as it is. */
void vg_detect_opts_cut(const vg_detect_opts *o, struct vg_pool_result *res);
/* Fills the option fields of a pool job (pointers into o). */
void vg_detect_opts_apply(const vg_detect_opts *o, struct vg_pool_job *job);
/*
 * Sets every option present in a JSON object (strings, numbers, booleans;
 * "classes" also as an array of strings); other members are ignored.
 * Returns 0, or -1 with err for a bad value.
 */
int vg_detect_opts_from_json(vg_detect_opts *o, struct json_t *obj, char *err, size_t errlen);

/*
 * A JSON member as an option's text: a string shorter than cap, a number
 * ("%.9g") or a boolean ("true", "false"). Returns 0, or -1 for anything
 * else (out is then undefined).
 */
int vg_detect_opts_json_text(struct json_t *v, char *out, size_t cap);
/* A JSON array of strings as a comma-separated list. Returns 0, or -1 when an element is not a string or the list does not fit. */
int vg_detect_opts_json_list(struct json_t *v, char *out, size_t cap);

#endif
