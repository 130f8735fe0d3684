/*
 * backends/cpu/onnx_split.h: a serialized ONNX ModelProto cut in two at the
 * protobuf wire level, so that the reader (onnx_read.c) decodes the graph's
 * initializers one at a time and gives back the file's bytes behind each,
 * instead of protobuf-c decoding the whole file beside a copy of it (a
 * model's read peak was twice its file).
 *
 * The file is untrusted: every varint, key and length is checked against the
 * bytes left; anything this walker does not expect (no graph, a graph field
 * twice, which protobuf merges, a group, more initializers than the reader
 * takes) leaves the file whole, for protobuf-c to decode or refuse as before.
 */
#ifndef VGC_ONNX_SPLIT_H
#define VGC_ONNX_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/* A TensorProto's bytes in the file: [off, off + len). */
typedef struct vgc_onnx_span {
    size_t off, len;
} vgc_onnx_span;

typedef struct vgc_onnx_split {
    uint8_t *rest;            /* the model without its graph's initializers (malloc) */
    size_t rest_len;
    vgc_onnx_span *inits;     /* each initializer, in the file's order (malloc; NULL when none) */
    size_t ninit;
} vgc_onnx_split;

/*
 * Splits buf: 1 (s filled: vgc_onnx_split_free), 0 when it is left whole
 * (see above; more than max_inits initializers among the reasons), -1 out of
 * memory.
 */
int vgc_onnx_split_model(const uint8_t *buf, size_t len, size_t max_inits, vgc_onnx_split *s);

void vgc_onnx_split_free(vgc_onnx_split *s);

#endif
