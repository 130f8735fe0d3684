/*
 * model_auto: a model directory without a manifest. A directory under the
 * models folder that has no model.conf but holds exactly one ONNX graph
 * (NAME.onnx) and exactly one labels file (NAME.txt or NAME.names) is a
 * model: model.c reads it as if its manifest named the two files (weights,
 * names) and the cpu backend; everything else comes from the graph (input
 * size, head) and the defaults. A model.conf, when present, wins.
 */
#ifndef VG_PIPELINE_MODEL_AUTO_H
#define VG_PIPELINE_MODEL_AUTO_H

#include <stddef.h>

/* Entries of a directory looked at; a directory with more is not such a model. */
#define VG_MODEL_AUTO_MAX_ENTRIES 256

/*
 * Whether dir is such a model: 1 with the two file names (relative to dir)
 * in onnx and labels, 0 when it is not (no graph, no labels, two of either,
 * too many entries, unreadable), with the reason in why (may be NULL).
 */
int vg_model_auto_find(const char *dir, char *onnx, size_t onnxlen, char *labels, size_t labelslen,
                       char *why, size_t whylen);

#endif
