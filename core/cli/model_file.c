/*
 * model_file: a temporary model folder for `vigia detect --model-file`
 * (see model_file.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/model_file.h"

/* "R,G,B": three numbers in [0, 1] (std: above 0). */
static int rgb_valid(const char *v, int positive)
{
    const char *p = v;

    for (int c = 0; c < 3; c++) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || !(d <= 1) || !(positive ? d > 0 : d >= 0) || *end != (c < 2 ? ',' : '\0'))
            return 0;
        p = end + 1;
    }
    return 1;
}


/* The model's name: the graph's base name without .onnx when it is a valid name. */
static void pick_name(vg_model_file *f)
{
    const char *b = strrchr(f->graph, '/');
    size_t n;

    b = b ? b + 1 : f->graph;
    n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".onnx") == 0)
        n -= 5;
    snprintf(f->name, sizeof f->name, "%.*s", (int)n, b);
    if (n > VG_MODEL_NAME_MAX || !vg_model_name_valid(f->name))
        snprintf(f->name, sizeof f->name, "model-file");
}


/* dir/leaf -> the absolute path of target. */
static int link_to(const char *dir, const char *leaf, const char *target, char *err, size_t errlen)
{
    char abs[PATH_MAX], path[PATH_MAX];

    if (!realpath(target, abs)) {
        snprintf(err, errlen, "%s: %s", target, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    if (symlink(abs, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}


int vg_model_file_make(vg_model_file *f, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], conf[PATH_MAX + 32];
    FILE *o;

    f->root[0] = '\0';
    if ((f->mean && !rgb_valid(f->mean, 0)) || (f->std && !rgb_valid(f->std, 1))) {
        snprintf(err, errlen, "--%s wants three numbers R,G,B in %s, not '%.40s'",
                 f->mean && !rgb_valid(f->mean, 0) ? "mean" : "std",
                 f->mean && !rgb_valid(f->mean, 0) ? "[0, 1]" : "(0, 1]",
                 f->mean && !rgb_valid(f->mean, 0) ? f->mean : f->std);
        return -1;
    }
    if (f->resize && strcmp(f->resize, "stretch") != 0 && strcmp(f->resize, "letterbox") != 0) {
        snprintf(err, errlen, "--resize is stretch or letterbox, not '%.40s'", f->resize);
        return -1;
    }
    if (f->head && strcmp(f->head, "auto") != 0 && strcmp(f->head, "yolov5") != 0 &&
        strcmp(f->head, "yolov8") != 0 && strcmp(f->head, "boxes") != 0) {
        snprintf(err, errlen, "--head is auto, yolov5, yolov8 or boxes, not '%.40s'", f->head);
        return -1;
    }
    if (f->backend && (strchr(f->backend, '\n') || strchr(f->backend, '"') || strchr(f->backend, '#'))) {
        snprintf(err, errlen, "--backend: not a backend name or path");
        return -1;
    }
    pick_name(f);
    if ((size_t)snprintf(f->root, sizeof f->root, "%s/vigia-model-file-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
        sizeof f->root || !mkdtemp(f->root)) {
        snprintf(err, errlen, "cannot make a temporary folder: %s", strerror(errno));
        f->root[0] = '\0';
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/%s", f->root, f->name);
    if (mkdir(dir, 0700) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (link_to(dir, "graph.onnx", f->graph, err, errlen) || link_to(dir, "labels.names", f->names, err, errlen))
        goto fail;
    snprintf(conf, sizeof conf, "%s/%s", dir, VG_MODEL_MANIFEST);
    if (!(o = fopen(conf, "w"))) {
        snprintf(err, errlen, "%s: %s", conf, strerror(errno));
        goto fail;
    }
    fprintf(o, "[model]\nname = %s\nbackend = \"%s\"\nweights = graph.onnx\nnames = labels.names\nworkers = 1\n",
            f->name, f->backend ? f->backend : "cpu");
    if (f->resize)
        fprintf(o, "resize = %s\n", f->resize);
    if (f->head)
        fprintf(o, "head = %s\n", f->head);
    if (f->mean)
        fprintf(o, "mean = %s\n", f->mean);
    if (f->std)
        fprintf(o, "std = %s\n", f->std);
    if (fclose(o) != 0) {
        snprintf(err, errlen, "%s: cannot write", conf);
        goto fail;
    }
    return 0;
fail:
    vg_model_file_remove(f);
    return -1;
}


void vg_model_file_remove(vg_model_file *f)
{
    static const char *const leaves[] = { "graph.onnx", "labels.names", VG_MODEL_MANIFEST };
    char path[PATH_MAX];

    if (!f->root[0])
        return;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", f->root, f->name, leaves[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s", f->root, f->name);
    rmdir(path);
    rmdir(f->root);
    f->root[0] = '\0';
}
