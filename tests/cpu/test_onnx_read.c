/*
 * tests/cpu/test_onnx_read.c: the cpu engine's ONNX reader (backends/cpu/onnx_read.h).
 *
 * The models are the .onnx files in tests/cpu/onnx, written by tests/cpu/make_onnx_models.py
 * (python3-onnx's helper API; ONNX's own shape inference agreed with the
 * expected shapes it lists in shapes.txt).
 * - shapes: every graph loads, and every output has the shape in shapes.txt.
 * - ir: the IR of the YOLOv5-style head (ops, names, attributes, initializers)
 *   and the folded shape arithmetic of ops_shape.onnx.
 * - refusals: an unsupported op is named with its node, a dynamic input
 *   without a manifest size, a mismatching fixed size, an old opset, external
 *   data escaping the directory, broadcasting shapes that do not fit.
 * - external data inside the directory is read at its offset.
 * - limits: node, attribute, name and rank counts over the limits (models
 *   built here with protobuf-c), truncated and corrupted files.
 * - peak: a model of 100 MiB of weights (built here, streamed to a file)
 *   loads with every initializer's bytes its own, and the loading process's
 *   peak resident set stays under the file plus 48 MiB (about twice the file
 *   before the initializers were decoded one at a time; not checked under
 *   AddressSanitizer, whose allocator keeps its own).
 */
#include "vg_build.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "onnx_read.h"
#include "onnx.pb-c.h"

static char err[VIGIA_ERRLEN];

static const char *model_path(const char *name)
{
    static char buf[4096];
    const char *src = getenv("VIGIA_SRCDIR");

    snprintf(buf, sizeof buf, "%s/tests/cpu/onnx/%s", src && *src ? src : VGC_TEST_SRCDIR, name);
    return buf;
}


static vgc_onnx_graph *load_ok(const char *name, const vgc_onnx_options *opt)
{
    vgc_onnx_graph *g = NULL;
    int rc = vgc_onnx_load(&g, model_path(name), opt, err, sizeof err);

    if (rc)
        print_error("%s: %s\n", name, err);
    assert_int_equal(rc, 0);
    assert_non_null(g);
    return g;
}


static int load_fail(const char *name, const vgc_onnx_options *opt)
{
    vgc_onnx_graph *g = NULL;
    int rc = vgc_onnx_load(&g, model_path(name), opt, err, sizeof err);

    assert_true(rc < 0);
    assert_null(g);
    return rc;
}


static void shape_str(const vgc_onnx_value *v, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int i = 0; i < v->rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "x" : "", (long long)v->dims[i]);
}


static void test_shapes(void **state)
{
    char path[4096], file[256], out[256], want[256], got[256];
    vgc_onnx_options opt = { .batch = 2, .height = 8, .width = 10 };
    int lines = 0;
    FILE *f;

    (void)state;
    snprintf(path, sizeof path, "%s", model_path("shapes.txt"));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fscanf(f, "%255s %255s %255s", file, out, want) == 3) {
        /* only ops_shape.onnx has dynamic dimensions; the others keep theirs */
        vgc_onnx_graph *g = load_ok(file, strcmp(file, "ops_shape.onnx") == 0 ? &opt : NULL);
        int v = vgc_onnx_find(g, out), is_out = 0;
        assert_true(v >= 0);
        for (int i = 0; i < g->nout; i++)
            is_out |= g->out[i] == v;
        assert_true(is_out);
        shape_str(&g->val[v], got, sizeof got);
        if (strcmp(got, want) != 0)
            print_error("%s %s: got %s, want %s\n", file, out, got, want);
        assert_string_equal(got, want);
        assert_int_equal(g->val[v].dtype, VGC_DT_FLOAT);
        /* every value has a shape; every node's outputs are typed */
        for (int n = 0; n < g->nnode; n++)
            for (int k = 0; k < g->node[n].nout; k++)
                if (g->node[n].out[k] >= 0)
                    assert_true(g->val[g->node[n].out[k]].dtype == VGC_DT_FLOAT ||
                                g->val[g->node[n].out[k]].dtype == VGC_DT_INT64);
        vgc_onnx_destroy(g);
        lines++;
    }
    fclose(f);
    assert_true(lines >= 16);
}


static void test_ir(void **state)
{
    vgc_onnx_graph *g = load_ok("yolov5_head.onnx", NULL);
    const vgc_onnx_node *conv;
    const vgc_onnx_attr *a;
    const vgc_onnx_value *w;
    int n, v;

    (void)state;
    assert_int_equal(g->opset, 13);
    assert_int_equal(g->nin, 1);
    assert_string_equal(g->val[g->in[0]].name, "images");
    assert_true(g->val[g->in[0]].is_input);
    assert_int_equal(g->nout, 1);
    conv = &g->node[0];
    assert_int_equal(conv->op, VGC_OP_CONV);
    assert_string_equal(conv->name, "/model.0/conv/Conv");
    assert_int_equal(conv->nin, 3);
    a = vgc_onnx_attr_get(conv, "strides");
    assert_non_null(a);
    assert_int_equal(a->type, VGC_AT_INTS);
    assert_int_equal(a->n, 2);
    assert_int_equal(a->ints[0], 2);
    assert_null(vgc_onnx_attr_get(conv, "group"));
    w = &g->val[conv->in[1]];
    assert_string_equal(w->name, "v5w0");
    assert_true(w->is_init);
    assert_int_equal(w->count, 16 * 3 * 3 * 3);
    assert_non_null(w->data);
    assert_int_equal(g->val[conv->out[0]].producer, 0);
    /* the SiLU is Sigmoid then Mul on the conv's output and the sigmoid's */
    assert_int_equal(g->node[1].op, VGC_OP_SIGMOID);
    assert_int_equal(g->node[2].op, VGC_OP_MUL);
    assert_int_equal(g->node[2].in[0], conv->out[0]);
    assert_int_equal(g->node[2].in[1], g->node[1].out[0]);
    n = 0;
    for (int i = 0; i < g->nnode; i++)
        n += g->node[i].op == VGC_OP_RESHAPE;
    assert_int_equal(n, 4);
    assert_string_equal(vgc_onnx_op_name(VGC_OP_GLOBAL_AVG_POOL), "GlobalAveragePool");
    vgc_onnx_destroy(g);

    /* shape arithmetic folded at load: Shape -> Gather -> Unsqueeze -> Concat */
    {
        vgc_onnx_options opt = { .batch = 3, .height = 4, .width = 5 };
        const int64_t *t;
        g = load_ok("ops_shape.onnx", &opt);
        v = vgc_onnx_find(g, "tgt");
        assert_true(v >= 0);
        assert_int_equal(g->val[v].dtype, VGC_DT_INT64);
        assert_int_equal(g->val[v].count, 2);
        t = g->val[v].data;
        assert_non_null(t);
        assert_int_equal(t[0], 3);
        assert_int_equal(t[1], -1);
        assert_true(g->node[g->val[v].producer].folded);
        v = vgc_onnx_find(g, "hw3");
        t = g->val[v].data;
        assert_int_equal(t[0], 4);
        assert_int_equal(t[1], 5);
        v = vgc_onnx_find(g, "flat");
        assert_int_equal(g->val[v].dims[0], 3);
        assert_int_equal(g->val[v].dims[1], 2 * 4 * 5);
        assert_null(g->val[v].data);
        v = vgc_onnx_find(g, "zeros");
        assert_int_equal(((const float *)g->val[v].data)[19], 0.5f);
        vgc_onnx_destroy(g);
    }
}


static void test_refusals(void **state)
{
    vgc_onnx_options opt = { .height = 4, .width = 4 };
    vgc_onnx_options wrong = { .height = 8, .width = 8 };
    vgc_onnx_graph *g;

    (void)state;
    assert_int_equal(load_fail("bad_op.onnx", NULL), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "'squash'"));
    assert_non_null(strstr(err, "'Tanh'"));
    assert_int_equal(load_fail("bad_dynamic.onnx", NULL), VIGIA_EINVAL);
    assert_non_null(strstr(err, "height"));
    assert_non_null(strstr(err, "manifest"));
    g = load_ok("bad_dynamic.onnx", &opt);    /* fixed from the manifest */
    assert_int_equal(g->val[g->out[0]].dims[3], 4);
    vgc_onnx_destroy(g);
    assert_int_equal(load_fail("yolov5_head.onnx", &wrong), VIGIA_EINVAL);
    assert_non_null(strstr(err, "fixed height of 32"));
    assert_int_equal(load_fail("bad_opset.onnx", NULL), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "opset 9"));
    assert_int_equal(load_fail("bad_external.onnx", NULL), VIGIA_ENOENT);  /* ../escape.bin absent */
    {
        /* with the file present (a copy in a temporary tree) it is refused for escaping */
        char tmpl[] = "/tmp/vgc-onnx-XXXXXX", sub[64], esc[64], model[64], buf[4096];
        const char *tmp = mkdtemp(tmpl);
        static const float w[12];
        FILE *in = fopen(model_path("bad_external.onnx"), "rb"), *f;
        size_t len;
        assert_non_null(tmp);
        assert_non_null(in);
        len = fread(buf, 1, sizeof buf, in);
        fclose(in);
        snprintf(sub, sizeof sub, "%s/m", tmp);
        snprintf(esc, sizeof esc, "%s/escape.bin", tmp);
        snprintf(model, sizeof model, "%s/m/model.onnx", tmp);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_non_null(f = fopen(esc, "wb"));
        assert_int_equal(fwrite(w, sizeof w[0], 12, f), 12);
        fclose(f);
        assert_non_null(f = fopen(model, "wb"));
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
        g = NULL;
        assert_int_equal(vgc_onnx_load(&g, model, NULL, err, sizeof err), VIGIA_EINVAL);
        assert_null(g);
        assert_non_null(strstr(err, "outside the model's directory"));
        remove(model);
        remove(esc);
        rmdir(sub);
        rmdir(tmp);
    }
    assert_int_equal(load_fail("bad_shape.onnx", NULL), VIGIA_EINVAL);
    assert_non_null(strstr(err, "broadcast"));
    assert_int_equal(load_fail("missing.onnx", NULL), VIGIA_ENOENT);
}


static void test_external(void **state)
{
    vgc_onnx_graph *g = load_ok("ext_ok.onnx", NULL);
    const vgc_onnx_value *w = &g->val[vgc_onnx_find(g, "w")];
    FILE *f = fopen(model_path("ext_weights.bin"), "rb");
    float file[16];

    (void)state;
    assert_non_null(f);
    assert_int_equal(fread(file, sizeof(float), 16, f), 16);
    fclose(f);
    assert_int_equal(w->count, 12);
    assert_memory_equal(w->data, file + 4, 12 * sizeof(float));
    vgc_onnx_destroy(g);
    /* from memory, external data is refused */
    {
        FILE *m = fopen(model_path("ext_ok.onnx"), "rb");
        char buf[4096];
        size_t len = fread(buf, 1, sizeof buf, m);
        fclose(m);
        assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
        assert_non_null(strstr(err, "external"));
    }
}


/* ---- models built here with protobuf-c ----------------------------------------- */

typedef struct built {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1];
    Onnx__ValueInfoProto in, out, *ins[1], *outs[1];
    Onnx__TypeProto ty;
    Onnx__TypeProto__Tensor tt;
    Onnx__TensorShapeProto sh;
    Onnx__TensorShapeProto__Dimension d[12], *dp[12];
} built;

/* A model x[1,1,1,1] -> `nodes` Relus in a chain -> the last; node names NULL. */
static uint8_t *build(built *b, Onnx__NodeProto **nodes, size_t nnodes, const char *out, size_t rank,
                      size_t *len)
{
    uint8_t *buf;

    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->op);
    onnx__value_info_proto__init(&b->in);
    onnx__value_info_proto__init(&b->out);
    onnx__type_proto__init(&b->ty);
    onnx__type_proto__tensor__init(&b->tt);
    onnx__tensor_shape_proto__init(&b->sh);
    b->op.has_version = 1;
    b->op.version = 13;
    b->ops[0] = &b->op;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->ops;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->m.graph = &b->g;
    for (size_t i = 0; i < rank; i++) {
        onnx__tensor_shape_proto__dimension__init(&b->d[i]);
        b->d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        b->d[i].dim_value = 1;
        b->dp[i] = &b->d[i];
    }
    b->sh.n_dim = rank;
    b->sh.dim = b->dp;
    b->tt.has_elem_type = 1;
    b->tt.elem_type = 1;
    b->tt.shape = &b->sh;
    b->ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->ty.tensor_type = &b->tt;
    b->in.name = (char *)"x";
    b->in.type = &b->ty;
    b->out.name = (char *)out;
    b->ins[0] = &b->in;
    b->outs[0] = &b->out;
    b->g.n_input = b->g.n_output = 1;
    b->g.input = b->ins;
    b->g.output = b->outs;
    b->g.n_node = nnodes;
    b->g.node = nodes;
    *len = onnx__model_proto__get_packed_size(&b->m);
    buf = malloc(*len);
    assert_non_null(buf);
    onnx__model_proto__pack(&b->m, buf);
    return buf;
}


static void test_limits(void **state)
{
    enum { MANY = VGC_ONNX_MAX_NODES + 1 };
    Onnx__NodeProto *nodes = calloc(MANY, sizeof(*nodes)), **np = calloc(MANY, sizeof(*np));
    char (*names)[16] = calloc(MANY + 1, 16);
    Onnx__AttributeProto attr[VGC_ONNX_MAX_ATTRS + 1], *ap[VGC_ONNX_MAX_ATTRS + 1];
    char *input[1], *output[1], **saved, longname[VGC_ONNX_MAX_NAME + 2];
    vgc_onnx_graph *g = NULL;
    uint8_t *buf;
    size_t len;
    built b;

    (void)state;
    assert_true(nodes && np && names);
    strcpy(names[0], "x");
    for (int i = 0; i < MANY; i++) {
        onnx__node_proto__init(&nodes[i]);
        snprintf(names[i + 1], 16, "r%d", i);
        nodes[i].op_type = (char *)"Relu";
        nodes[i].n_input = nodes[i].n_output = 1;
        nodes[i].input = malloc(sizeof(char *));
        nodes[i].output = malloc(sizeof(char *));
        nodes[i].input[0] = names[i];
        nodes[i].output[0] = names[i + 1];
        np[i] = &nodes[i];
    }
    /* at the limit it loads; one more node is refused */
    buf = build(&b, np, MANY - 1, names[MANY - 1], 4, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(g->nnode, VGC_ONNX_MAX_NODES);
    vgc_onnx_destroy(g);
    free(buf);
    buf = build(&b, np, MANY, names[MANY], 4, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "nodes"));
    /* every prefix of a valid model is refused or read, never crashes */
    for (size_t cut = 0; cut < 4096 && cut < len; cut += 7)
        if (vgc_onnx_read(&g, buf, cut, NULL, NULL, err, sizeof err) == 0)
            vgc_onnx_destroy(g);
    free(buf);
    /* a file limit below the model's size */
    {
        vgc_onnx_options small = { .max_bytes = 16 };
        buf = build(&b, np, 1, names[1], 4, &len);
        assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, &small, err, sizeof err), VIGIA_EINVAL);
        free(buf);
    }
    /* too many attributes */
    for (int i = 0; i <= VGC_ONNX_MAX_ATTRS; i++) {
        onnx__attribute_proto__init(&attr[i]);
        attr[i].name = (char *)"alpha";
        attr[i].has_type = 1;
        attr[i].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        ap[i] = &attr[i];
    }
    nodes[0].n_attribute = VGC_ONNX_MAX_ATTRS + 1;
    nodes[0].attribute = ap;
    buf = build(&b, np, 1, names[1], 4, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "attributes"));
    free(buf);
    nodes[0].n_attribute = 0;
    /* a name over the limit */
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    output[0] = longname;
    input[0] = names[0];
    saved = nodes[0].output;
    nodes[0].output = output;
    buf = build(&b, np, 1, longname, 4, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "long"));
    free(buf);
    nodes[0].output = saved;
    (void)input;
    /* a rank over the limit */
    buf = build(&b, np, 1, names[1], VGC_ONNX_MAX_RANK + 1, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_ENOTSUP);
    assert_non_null(strstr(err, "dimensions"));
    free(buf);
    /* an input used before it is defined */
    nodes[0].input[0] = names[5];
    buf = build(&b, np, 1, names[1], 4, &len);
    assert_int_equal(vgc_onnx_read(&g, buf, len, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "not defined before"));
    free(buf);
    /* garbage */
    assert_int_equal(vgc_onnx_read(&g, "\xff\xff\xff\xff", 4, NULL, NULL, err, sizeof err), VIGIA_EINVAL);
    for (int i = 0; i < MANY; i++) {
        free(nodes[i].input);
        free(nodes[i].output);
    }
    free(nodes);
    free(np);
    free(names);
}


/* ---- the read's peak ---------------------------------------------------------------- */

#define PEAK_LAYERS 25
#define PEAK_C 1024      /* a 1x1 convolution of 1024 channels: 4 MiB of weights each */

/* protobuf-c's output, appended to a file. */
typedef struct file_out {
    ProtobufCBuffer base;
    FILE *f;
    int failed;
} file_out;

static void file_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_out *o = (file_out *)b;

    o->failed |= fwrite(data, 1, len, o->f) != len;
}


/*
 * x[1,1024,1,1] -> PEAK_LAYERS 1x1 convolutions w0..w24 [1024,1024,1,1] ->
 * y24, written to path; weight j of w<i> is the float i + j (each tensor's
 * raw bytes a window of one shared array: the test itself stays small).
 * Returns the file's size.
 */
static size_t write_peak_model(const char *path)
{
    static const int64_t wdims[4] = { PEAK_C, PEAK_C, 1, 1 };
    const size_t n = (size_t)PEAK_C * PEAK_C;
    float *pattern = malloc((n + PEAK_LAYERS) * sizeof *pattern);
    Onnx__TensorProto t[PEAK_LAYERS], *tp[PEAK_LAYERS];
    Onnx__NodeProto nodes[PEAK_LAYERS], *np[PEAK_LAYERS];
    char names[2 * PEAK_LAYERS + 1][16], *ins[PEAK_LAYERS][2], *outs[PEAK_LAYERS][1];
    file_out o = { { file_append }, NULL, 0 };
    struct stat st;
    built b;

    assert_non_null(pattern);
    for (size_t j = 0; j < n + PEAK_LAYERS; j++)
        pattern[j] = (float)j;
    strcpy(names[0], "x");
    for (int i = 0; i < PEAK_LAYERS; i++) {
        snprintf(names[1 + 2 * i], 16, "w%d", i);
        snprintf(names[2 + 2 * i], 16, "y%d", i);
        onnx__tensor_proto__init(&t[i]);
        t[i].name = names[1 + 2 * i];
        t[i].has_data_type = 1;
        t[i].data_type = 1;
        t[i].n_dims = 4;
        t[i].dims = (int64_t *)wdims;
        t[i].has_raw_data = 1;
        t[i].raw_data.len = n * sizeof(float);
        t[i].raw_data.data = (uint8_t *)(pattern + i);
        tp[i] = &t[i];
        onnx__node_proto__init(&nodes[i]);
        nodes[i].op_type = (char *)"Conv";
        ins[i][0] = names[i ? 2 * i : 0];
        ins[i][1] = names[1 + 2 * i];
        outs[i][0] = names[2 + 2 * i];
        nodes[i].n_input = 2;
        nodes[i].input = ins[i];
        nodes[i].n_output = 1;
        nodes[i].output = outs[i];
        np[i] = &nodes[i];
    }
    free(build(&b, np, PEAK_LAYERS, names[2 * PEAK_LAYERS], 4, &(size_t){ 0 }));
    b.d[1].dim_value = PEAK_C;   /* x[1,1024,1,1] */
    b.g.n_initializer = PEAK_LAYERS;
    b.g.initializer = tp;
    o.f = fopen(path, "wb");
    assert_non_null(o.f);
    onnx__model_proto__pack_to_buffer(&b.m, &o.base);
    assert_int_equal(fclose(o.f) | o.failed, 0);
    free(pattern);
    assert_int_equal(stat(path, &st), 0);
    return (size_t)st.st_size;
}


static void test_peak(void **state)
{
    char path[64];
    int fds[2], status;
    long peak_kb = 0;
    size_t size;
    pid_t pid;

    (void)state;
    snprintf(path, sizeof path, "/tmp/vigia-onnx-peak-%d.onnx", (int)getpid());
    size = write_peak_model(path);
    assert_true(size > (size_t)PEAK_LAYERS * PEAK_C * PEAK_C * sizeof(float));
    assert_int_equal(pipe(fds), 0);
    /* loaded in a child: its peak is the load's alone, not this process's history */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vgc_onnx_graph *g = NULL;
        struct rusage ru;
        int ok;

        close(fds[0]);
        ok = vgc_onnx_load(&g, path, NULL, err, sizeof err) == 0;
        for (int i = 0; ok && i < PEAK_LAYERS; i++) {
            char name[16];
            const vgc_onnx_value *w;

            snprintf(name, sizeof name, "w%d", i);
            w = &g->val[vgc_onnx_find(g, name)];
            ok = w->count == (int64_t)PEAK_C * PEAK_C && ((const float *)w->data)[0] == (float)i &&
                 ((const float *)w->data)[w->count - 1] == (float)(i + w->count - 1);
        }
        getrusage(RUSAGE_SELF, &ru);
        peak_kb = ru.ru_maxrss;
        if (write(fds[1], &peak_kb, sizeof peak_kb) != (ssize_t)sizeof peak_kb)
            ok = 0;
        if (!ok)
            fprintf(stderr, "peak model: %s\n", err);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &peak_kb, sizeof peak_kb), (ssize_t)sizeof peak_kb);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(path);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("# peak %.1f MiB reading a %.1f MiB model\n", peak_kb / 1024.0, size / 1048576.0);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true((size_t)peak_kb * 1024 <= size + ((size_t)48 << 20));
#endif
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_ir),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_external),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_peak),
    };

    return cmocka_run_group_tests_name("onnx_read", tests, NULL, NULL);
}
