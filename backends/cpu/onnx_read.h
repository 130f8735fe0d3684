/*
 * backends/cpu/onnx_read.h: the ONNX reader of vigia's CPU engine.
 *
 * vgc_onnx_read() parses an ONNX ModelProto (protobuf-c, C generated at
 * build time from Debian's onnx.proto) into a small graph IR of our own:
 * values (every named tensor, with a static shape), nodes (op, inputs,
 * outputs, attributes) and the constant data of initializers, Constant
 * nodes and the int64 shape arithmetic folded at load. Only the operators
 * the engine implements are accepted (vgc_onnx_op), opsets 11..19 of the
 * default domain; anything else is refused with the node, op and reason.
 *
 * The file is untrusted input: its size, the bytes protobuf-c may allocate
 * for it, and every count, length, rank and dimension read from it are
 * checked against the limits below before we allocate for them.
 *
 * Shapes: every value gets a static shape at load. A dynamic dimension of a
 * graph input is fixed from the options (batch on axis 0, height and width
 * on axes 2 and 3 of a 4-D input); without a value for it the model is
 * refused. Errors: 0 or a negative VIGIA_E* code, a one-line message in err.
 */
#ifndef VGC_ONNX_READ_H
#define VGC_ONNX_READ_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define VGC_ONNX_MAX_BYTES     ((size_t)2000 << 20) /* model file (protobuf's 2 GB) */
#define VGC_ONNX_PB_OVERHEAD   ((size_t)64 << 20)   /* protobuf-c allocations beyond 2x the file */
#define VGC_ONNX_MAX_NODES     20000   /* nodes in the graph */
#define VGC_ONNX_MAX_INITS     20000   /* initializers */
#define VGC_ONNX_MAX_IO        16      /* graph inputs, graph outputs */
#define VGC_ONNX_MAX_NODE_IO   64      /* inputs or outputs of one node */
#define VGC_ONNX_MAX_ATTRS     32      /* attributes of one node */
#define VGC_ONNX_MAX_ATTR_LEN  64      /* ints/floats in one attribute */
#define VGC_ONNX_MAX_NAME      1024    /* bytes of a name or string attribute */
#define VGC_ONNX_MAX_RANK      8       /* dimensions of a tensor */
#define VGC_ONNX_MAX_DIM       ((int64_t)1 << 24) /* one dimension */
#define VGC_ONNX_MAX_ELEMS     ((int64_t)VGC_MAX_PARAMS) /* elements of one tensor */
#define VGC_ONNX_MAX_FOLD      4096    /* elements of an int64 tensor folded at load */
#define VGC_ONNX_MAX_OPSETS    16      /* opset_import entries */

/* The supported operators (the list); anything else is refused. */
#define VGC_ONNX_OPS(X) \
    X(CONV, "Conv") X(CONV_TRANSPOSE, "ConvTranspose") X(BATCH_NORM, "BatchNormalization") \
    X(RELU, "Relu") X(LEAKY_RELU, "LeakyRelu") X(SIGMOID, "Sigmoid") X(HARD_SIGMOID, "HardSigmoid") \
    X(HARD_SWISH, "HardSwish") X(CLIP, "Clip") X(MAX_POOL, "MaxPool") X(AVG_POOL, "AveragePool") \
    X(GLOBAL_AVG_POOL, "GlobalAveragePool") X(ADD, "Add") X(SUB, "Sub") X(MUL, "Mul") X(DIV, "Div") \
    X(POW, "Pow") X(SQRT, "Sqrt") X(EXP, "Exp") X(CONCAT, "Concat") X(SPLIT, "Split") \
    X(SLICE, "Slice") X(GATHER, "Gather") X(RESHAPE, "Reshape") X(FLATTEN, "Flatten") \
    X(SQUEEZE, "Squeeze") X(UNSQUEEZE, "Unsqueeze") X(TRANSPOSE, "Transpose") X(RESIZE, "Resize") \
    X(UPSAMPLE, "Upsample") X(SOFTMAX, "Softmax") X(MATMUL, "MatMul") X(GEMM, "Gemm") \
    X(SHAPE, "Shape") X(CONSTANT, "Constant") X(CONSTANT_OF_SHAPE, "ConstantOfShape") \
    X(IDENTITY, "Identity")

enum vgc_onnx_op {
#define VGC_ONNX_OP_ENUM(id, name) VGC_OP_##id,
    VGC_ONNX_OPS(VGC_ONNX_OP_ENUM)
#undef VGC_ONNX_OP_ENUM
    VGC_OP_COUNT
};

/* Element types we keep (ONNX TensorProto.DataType numbering). */
enum vgc_onnx_dtype {
    VGC_DT_FLOAT = 1,
    VGC_DT_INT64 = 7
};

/* A named tensor of the graph. */
typedef struct vgc_onnx_value {
    char *name;               /* NUL-terminated, unique in the graph */
    int dtype;                /* enum vgc_onnx_dtype */
    int rank;                 /* 0 (scalar) .. VGC_ONNX_MAX_RANK */
    int64_t dims[VGC_ONNX_MAX_RANK];
    int64_t count;            /* product of dims */
    void *data;               /* float[count] or int64_t[count] when the value is
                                 constant (initializer, Constant, folded), else NULL */
    int producer;             /* node index, -1 for graph inputs and initializers */
    int is_input;             /* a graph input (fed at run time) */
    int is_init;              /* an initializer */
} vgc_onnx_value;

enum vgc_onnx_attr_type {
    VGC_AT_FLOAT = 1, VGC_AT_INT = 2, VGC_AT_STRING = 3, VGC_AT_TENSOR = 4,
    VGC_AT_FLOATS = 6, VGC_AT_INTS = 7
};

/* One node attribute. */
typedef struct vgc_onnx_attr {
    char *name;
    int type;                 /* enum vgc_onnx_attr_type */
    float f;                  /* FLOAT */
    int64_t i;                /* INT */
    char *s;                  /* STRING, NUL-terminated (s_len bytes before it) */
    size_t s_len;
    int n;                    /* FLOATS/INTS: entries */
    float *floats;
    int64_t *ints;
    int tensor;               /* TENSOR: the value holding it (unnamed in the graph) */
} vgc_onnx_attr;

/* One node. Input indexes are -1 for an omitted optional input (""). */
typedef struct vgc_onnx_node {
    char *name;               /* the node's name, or "#<index>" when it has none */
    enum vgc_onnx_op op;
    int nin, nout;
    int *in, *out;            /* value indexes */
    int nattr;
    vgc_onnx_attr *attr;
    int folded;               /* all outputs are constants computed at load */
    int removed;              /* taken out of the graph by a rewrite (onnx_rewrite.c) */
    int act;                  /* Conv: enum vgc_onnx_act fused into it by a rewrite */
    float act_a, act_b;       /* its parameters: LeakyRelu alpha; HardSigmoid alpha, beta;
                                 Clip min, max */
} vgc_onnx_node;

/* Activations a rewrite fuses into a Conv (node.act). */
enum vgc_onnx_act {
    VGC_OA_NONE, VGC_OA_RELU, VGC_OA_LEAKY, VGC_OA_SIGMOID, VGC_OA_HARD_SIGMOID, VGC_OA_HARD_SWISH,
    VGC_OA_SILU, VGC_OA_CLIP
};

typedef struct vgc_onnx_graph {
    int opset;                /* of the default domain, 11..19 */
    int nval, nnode;
    vgc_onnx_value *val;
    vgc_onnx_node *node;      /* in topological order (as the file must be) */
    int nin, nout;
    int in[VGC_ONNX_MAX_IO];  /* graph inputs fed at run time (value indexes) */
    int out[VGC_ONNX_MAX_IO]; /* graph outputs */
    /* private: name lookup */
    int *hash;                /* open addressing, -1 = empty */
    size_t hash_cap;
    /* private: floats an Identity of a float constant may still copy at load (exporters share
       equal initializers through Identity nodes); at most the initializers' own, set at first use */
    int64_t copy_left;
    int copy_set;
} vgc_onnx_graph;

/* How a model is read. Zero means "not given". */
typedef struct vgc_onnx_options {
    int batch;                /* fixes a dynamic axis 0 of the inputs */
    int width, height;        /* fix dynamic axes 3 and 2 of 4-D inputs; must match fixed ones */
    size_t max_bytes;         /* model file limit (0 = VGC_ONNX_MAX_BYTES) */
} vgc_onnx_options;

/*
 * Read a model from memory. dir is the directory external data files are
 * looked up in (they must stay inside it); NULL refuses external data.
 * On success *out must be freed with vgc_onnx_destroy(). Fails with
 * VIGIA_EINVAL (malformed, over a limit, shapes inconsistent), VIGIA_ENOTSUP
 * (operator, attribute, type or opset we do not run: the message names the
 * node and op), VIGIA_ENOENT (external data file missing), VIGIA_ENOMEM.
 */
VGC_HIDDEN int vgc_onnx_read(vgc_onnx_graph **out, const void *buf, size_t len, const char *dir,
                             const vgc_onnx_options *opt, char *err, size_t errlen);

/* The same from a file; external data is looked up next to it. */
VGC_HIDDEN int vgc_onnx_load(vgc_onnx_graph **out, const char *path, const vgc_onnx_options *opt,
                             char *err, size_t errlen);

/* Free a graph; NULL is fine. */
VGC_HIDDEN void vgc_onnx_destroy(vgc_onnx_graph *g);

/* The value named name, or -1. */
VGC_HIDDEN int vgc_onnx_find(const vgc_onnx_graph *g, const char *name);

/* The attribute named name of node n, or NULL. */
VGC_HIDDEN const vgc_onnx_attr *vgc_onnx_attr_get(const vgc_onnx_node *n, const char *name);

/* The ONNX name of an op. */
VGC_HIDDEN const char *vgc_onnx_op_name(enum vgc_onnx_op op);

/* ---- internal to onnx_read.c / onnx_shape.c ---------------------------------- */

/* Add an unnamed-or-named value; returns its index or a negative code. */
VGC_HIDDEN int vgc_onnx__value_add(vgc_onnx_graph *g, const char *name, size_t name_len,
                                   char *err, size_t errlen);

/*
 * Infer the output shapes of node i (its inputs have theirs) and fold it
 * when its outputs are small int64 constants computable now.
 */
VGC_HIDDEN int vgc_onnx__infer(vgc_onnx_graph *g, int i, char *err, size_t errlen);

#endif /* VGC_ONNX_READ_H */
