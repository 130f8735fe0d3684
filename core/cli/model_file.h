/*
 * model_file: `vigia detect --model-file FILE.onnx --names FILE`: a model
 * directory made for one run in a temporary folder, holding links to the
 * two files and a manifest with the options the command line gave, so the
 * worker pool loads it like any installed model.
 */
#ifndef VG_CLI_MODEL_FILE_H
#define VG_CLI_MODEL_FILE_H

#include <stddef.h>

#include "pipeline/model.h"

typedef struct vg_model_file {
    const char *graph;             /* the .onnx file */
    const char *names;             /* its labels, one per line */
    const char *backend;           /* NULL: cpu */
    const char *resize;            /* NULL, "stretch" or "letterbox" */
    const char *head;              /* NULL, "auto", "yolov5", "yolov8" or "boxes" */
    const char *mean, *std;        /* NULL or "R,G,B" (checked here: numbers in [0, 1], std > 0) */
    /* made by vg_model_file_make: */
    char root[256];                /* the temporary models folder */
    char name[VG_MODEL_NAME_MAX + 1];   /* the model's name: the graph's base name, or "model-file" */
} vg_model_file;

/* Make the folder: 0, or -1 with a one-line message in err (nothing is left behind). */
int vg_model_file_make(vg_model_file *f, char *err, size_t errlen);

/* Remove what vg_model_file_make made; fine when it made nothing. */
void vg_model_file_remove(vg_model_file *f);

#endif
