/*
 * backends/cpu/onnx_read.c: ONNX ModelProto -> vgc_onnx_graph (onnx_read.h).
 *
 * protobuf-c unpacks the file through an allocator with a budget (twice the
 * file plus VGC_ONNX_PB_OVERHEAD), so a small hostile file cannot make it
 * allocate much; everything we copy out of the message is checked against
 * the VGC_ONNX_* limits first. The graph's initializers (nearly all of a
 * model's bytes) are decoded one at a time (onnx_split.h), and a file that
 * vgc_onnx_load read gives back its pages behind each, so that the read's
 * peak is about the file once, not twice. Shapes are inferred node by node
 * in file order by onnx_shape.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "onnx_read.h"
#include "onnx_split.h"
#include "onnx.pb-c.h"

static const char *const op_names[VGC_OP_COUNT] = {
#define VGC_ONNX_OP_NAME(id, name) name,
    VGC_ONNX_OPS(VGC_ONNX_OP_NAME)
#undef VGC_ONNX_OP_NAME
};


const char *vgc_onnx_op_name(enum vgc_onnx_op op)
{
    return (unsigned)op < VGC_OP_COUNT ? op_names[op] : "?";
}


/* ---- protobuf-c allocator with a budget -------------------------------------- */

typedef struct pb_budget {
    size_t left;              /* bytes protobuf-c may still allocate */
} pb_budget;

/*
 * The budget counts what protobuf-c allocates and never what it gives back
 * (it frees only on failure, or when a hostile file repeats a field: then
 * it runs out sooner). Blocks are plain malloc() ones, so that the graph can
 * keep an initializer's raw bytes as its data (tensor_take) and free() them.
 */
static void *pb_alloc(void *ctx, size_t size)
{
    pb_budget *b = ctx;
    void *p;

    if (size > b->left)
        return NULL;
    p = malloc(size ? size : 1);
    if (p)
        b->left -= size;
    return p;
}


static void pb_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}


/* ---- names ----------------------------------------------------------------- */

static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}


int vgc_onnx_find(const vgc_onnx_graph *g, const char *name)
{
    size_t len = strlen(name), mask = g->hash_cap - 1;

    if (!g->hash_cap)
        return -1;
    for (size_t k = name_hash(name, len) & mask;; k = (k + 1) & mask) {
        int v = g->hash[k];
        if (v < 0)
            return -1;
        if (strcmp(g->val[v].name, name) == 0)
            return v;
    }
}


/* Values are allocated in advance (the caller sized val and hash from counts). */
int vgc_onnx__value_add(vgc_onnx_graph *g, const char *name, size_t len, char *err, size_t errlen)
{
    vgc_onnx_value *v;
    int idx = g->nval;
    size_t mask = g->hash_cap - 1, k;

    if (len > VGC_ONNX_MAX_NAME)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "a tensor name is longer than %d bytes",
                        VGC_ONNX_MAX_NAME);
    v = &g->val[idx];
    memset(v, 0, sizeof(*v));
    v->producer = -1;
    v->name = malloc(len + 1);
    if (!v->name)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    memcpy(v->name, name, len);
    v->name[len] = '\0';
    g->nval++;
    if (len == 0)
        return idx;               /* attribute tensors: not looked up by name */
    for (k = name_hash(name, len) & mask; g->hash[k] >= 0; k = (k + 1) & mask)
        if (strcmp(g->val[g->hash[k]].name, v->name) == 0)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "tensor '%s' is defined twice", v->name);
    g->hash[k] = idx;
    return idx;
}


void vgc_onnx_destroy(vgc_onnx_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nval; i++) {
        free(g->val[i].name);
        free(g->val[i].data);
    }
    for (int i = 0; i < g->nnode; i++) {
        vgc_onnx_node *n = &g->node[i];
        free(n->name);
        free(n->in);
        free(n->out);
        for (int a = 0; a < n->nattr; a++) {
            free(n->attr[a].name);
            free(n->attr[a].s);
            free(n->attr[a].floats);
            free(n->attr[a].ints);
        }
        free(n->attr);
    }
    free(g->val);
    free(g->node);
    free(g->hash);
    free(g);
}


const vgc_onnx_attr *vgc_onnx_attr_get(const vgc_onnx_node *n, const char *name)
{
    for (int a = 0; a < n->nattr; a++)
        if (strcmp(n->attr[a].name, name) == 0)
            return &n->attr[a];
    return NULL;
}


/* ---- tensors ----------------------------------------------------------------- */

/* Context of one read: where external data may come from. */
typedef struct read_ctx {
    const char *dir;          /* model directory, NULL: no external data */
    char *err;
    size_t errlen;
} read_ctx;

/* Set v's shape from dims, checking rank, each dimension and the element count. */
static int shape_set(vgc_onnx_value *v, const int64_t *dims, size_t n, char *err, size_t errlen)
{
    int64_t count = 1;

    if (n > VGC_ONNX_MAX_RANK)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "tensor '%s' has %zu dimensions, at most %d are supported",
                        v->name, n, VGC_ONNX_MAX_RANK);
    for (size_t i = 0; i < n; i++) {
        if (dims[i] < 0 || dims[i] > VGC_ONNX_MAX_DIM)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "tensor '%s' has dimension %lld out of range",
                            v->name, (long long)dims[i]);
        v->dims[i] = dims[i];
        count *= dims[i] ? dims[i] : 1;
        if (count > VGC_ONNX_MAX_ELEMS)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "tensor '%s' has more than %lld elements",
                            v->name, (long long)VGC_ONNX_MAX_ELEMS);
    }
    for (size_t i = 0; i < n; i++)
        if (dims[i] == 0)
            count = 0;
    v->rank = (int)n;
    v->count = count;
    return 0;
}


/* Resolve an external data location inside ctx->dir into path (PATH_MAX bytes). */
static int external_path(const read_ctx *ctx, const char *name, const char *loc, char *path)
{
    char dir_real[PATH_MAX], file_real[PATH_MAX], joined[PATH_MAX];
    size_t dl;

    if (!ctx->dir)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                        "initializer '%s' has external data, but the model was not read from a file", name);
    if (!loc || !*loc || loc[0] == '/' || strlen(loc) > VGC_ONNX_MAX_NAME)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                        "initializer '%s': external data location must be a relative path", name);
    if (!realpath(ctx->dir, dir_real))
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOENT, "%s: %s", ctx->dir, strerror(errno));
    if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", dir_real, loc) >= sizeof(joined))
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "initializer '%s': external path too long", name);
    if (!realpath(joined, file_real))
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOENT, "initializer '%s': external data '%s': %s",
                        name, loc, strerror(errno));
    dl = strlen(dir_real);
    if (strncmp(file_real, dir_real, dl) != 0 || (file_real[dl] != '/' && dl > 1))
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                        "initializer '%s': external data '%s' is outside the model's directory", name, loc);
    memcpy(path, file_real, strlen(file_real) + 1);
    return 0;
}


/* Read the `bytes` bytes of v's data from its external file (offset, length checked first). */
static int external_read(const read_ctx *ctx, const Onnx__TensorProto *t, vgc_onnx_value *v, size_t bytes)
{
    const char *name = v->name;
    char *dst;
    const char *loc = NULL;
    int64_t offset = 0, length = -1;
    char path[PATH_MAX];
    struct stat st;
    int fd = -1, rc;
    size_t done = 0;

    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        const char *k = e->key ? e->key : "", *val = e->value ? e->value : "";
        char *end;
        if (strcmp(k, "location") == 0) {
            loc = val;
        } else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
            long long x;
            errno = 0;
            x = strtoll(val, &end, 10);
            if (errno || end == val || *end || x < 0)
                return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "initializer '%s': bad external %s '%.32s'",
                                name, k, val);
            if (k[0] == 'o')
                offset = x;
            else
                length = x;
        }
    }
    rc = external_path(ctx, name, loc, path);
    if (rc)
        return rc;
    if (length >= 0 && (uint64_t)length != bytes)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                        "initializer '%s': external length %lld, its shape needs %zu bytes",
                        name, (long long)length, bytes);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOENT, "initializer '%s': cannot open external data '%s'",
                      name, loc);
        goto close_fd;
    }
    if ((uint64_t)offset > (uint64_t)st.st_size || bytes > (uint64_t)st.st_size - (uint64_t)offset) {
        rc = vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                      "initializer '%s': external data '%s' is shorter than offset %lld + %zu bytes",
                      name, loc, (long long)offset, bytes);
        goto close_fd;
    }
    v->data = dst = malloc(bytes ? bytes : 1);
    if (!dst) {
        rc = vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory for tensor '%s'", name);
        goto close_fd;
    }
    while (done < bytes) {
        ssize_t r = pread(fd, dst + done, bytes - done, (off_t)(offset + (int64_t)done));
        if (r <= 0) {
            rc = vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "initializer '%s': reading '%s' failed", name, loc);
            goto close_fd;
        }
        done += (size_t)r;
    }
    rc = 0;
close_fd:
    if (fd >= 0)
        close(fd);
    return rc;
}


/* Fill value v (named already) from a TensorProto: shape, type and data. */
static int tensor_take(const read_ctx *ctx, vgc_onnx_value *v, Onnx__TensorProto *t)
{
    size_t esz, bytes;
    int rc;

    if (t->segment)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "tensor '%s' is segmented", v->name);
    if (t->data_type != VGC_DT_FLOAT && t->data_type != VGC_DT_INT64)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP,
                        "tensor '%s' has element type %d; float32 and int64 are supported",
                        v->name, (int)t->data_type);
    rc = shape_set(v, t->dims, t->n_dims, ctx->err, ctx->errlen);
    if (rc)
        return rc;
    v->dtype = t->data_type;
    v->is_init = 1;
    esz = v->dtype == VGC_DT_FLOAT ? sizeof(float) : sizeof(int64_t);
    bytes = (size_t)v->count * esz;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return external_read(ctx, t, v, bytes);
    /* the sizes are checked before we allocate */
    if (t->has_raw_data ? t->raw_data.len != bytes
                        : (v->dtype == VGC_DT_FLOAT ? t->n_float_data : t->n_int64_data) != (size_t)v->count)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "tensor '%s' holds %zu bytes, its shape needs %zu",
                        v->name, t->has_raw_data ? t->raw_data.len
                        : (v->dtype == VGC_DT_FLOAT ? t->n_float_data * esz : t->n_int64_data * esz), bytes);
    if (t->has_raw_data && bytes) {
        /*
         * The decoder's block becomes the value's data (pb_alloc: malloc()
         * memory, 16-byte aligned; raw data is little-endian, as ONNX stores
         * it): a second copy of every weight at load would be the model's
         * size again in the worker's peak.
         */
        v->data = t->raw_data.data;
        t->raw_data.data = NULL;
        t->raw_data.len = 0;
        return 0;
    }
    v->data = malloc(bytes ? bytes : 1);
    if (!v->data)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory for tensor '%s'", v->name);
    if (bytes)
        memcpy(v->data, v->dtype == VGC_DT_FLOAT ? (const void *)t->float_data : (const void *)t->int64_data, bytes);
    return 0;
}


/* ---- graph inputs ---------------------------------------------------------------- */

static int input_take(const read_ctx *ctx, vgc_onnx_graph *g, const Onnx__ValueInfoProto *vi,
                      const vgc_onnx_options *opt)
{
    const char *name = vi->name ? vi->name : "";
    const Onnx__TypeProto__Tensor *tt;
    int64_t dims[VGC_ONNX_MAX_RANK];
    size_t n;
    int idx, rc;

    if (vgc_onnx_find(g, name) >= 0)
        return 0;                 /* an initializer listed as an input (IR < 4) */
    if (g->nin >= VGC_ONNX_MAX_IO)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "more than %d graph inputs", VGC_ONNX_MAX_IO);
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !vi->type->tensor_type)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "graph input '%.64s' is not a tensor", name);
    tt = vi->type->tensor_type;
    if (tt->elem_type != VGC_DT_FLOAT)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "graph input '%.64s' has element type %d, not float32",
                        name, (int)tt->elem_type);
    if (!tt->shape)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "graph input '%.64s' has no shape", name);
    n = tt->shape->n_dim;
    if (n > VGC_ONNX_MAX_RANK)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "graph input '%.64s' has %zu dimensions", name, n);
    for (size_t i = 0; i < n; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        int64_t given = 0;
        const char *what = "";
        if (i == 0)
            given = opt->batch, what = "batch";
        else if (n == 4 && i == 2)
            given = opt->height, what = "height";
        else if (n == 4 && i == 3)
            given = opt->width, what = "width";
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0) {
            dims[i] = d->dim_value;
            if (given && i != 0 && given != d->dim_value)
                return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                                "graph input '%.64s' has a fixed %s of %lld, the manifest asks for %lld",
                                name, what, (long long)d->dim_value, (long long)given);
        } else if (given > 0) {
            dims[i] = given;
        } else {
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                            "graph input '%.64s' has a dynamic dimension %zu%s%s: the manifest must fix it",
                            name, i, *what ? " " : "", what);
        }
    }
    idx = vgc_onnx__value_add(g, name, strlen(name), ctx->err, ctx->errlen);
    if (idx < 0)
        return idx;
    rc = shape_set(&g->val[idx], dims, n, ctx->err, ctx->errlen);
    if (rc)
        return rc;
    g->val[idx].dtype = VGC_DT_FLOAT;
    g->val[idx].is_input = 1;
    g->in[g->nin++] = idx;
    return 0;
}


/* ---- nodes ------------------------------------------------------------------------ */

static int op_lookup(const char *type)
{
    for (int i = 0; i < VGC_OP_COUNT; i++)
        if (strcmp(op_names[i], type) == 0)
            return i;
    return -1;
}


static int attr_take(const read_ctx *ctx, vgc_onnx_graph *g, vgc_onnx_node *n, vgc_onnx_attr *a,
                     const Onnx__AttributeProto *p)
{
    const char *an = p->name ? p->name : "";
    size_t len = strlen(an);
    int rc;

    if (len > VGC_ONNX_MAX_NAME)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s': attribute name too long", n->name);
    a->name = strdup(an);
    if (!a->name)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
    a->tensor = -1;
    if (p->ref_attr_name && *p->ref_attr_name)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "node '%s' (%s): attribute '%s' refers to a function's",
                        n->name, vgc_onnx_op_name(n->op), a->name);
    a->type = p->type;
    switch (p->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->f = p->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->i = p->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        if (p->s.len > VGC_ONNX_MAX_NAME)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s': attribute '%s' is longer than %d bytes",
                            n->name, a->name, VGC_ONNX_MAX_NAME);
        a->s = malloc(p->s.len + 1);
        if (!a->s)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
        if (p->s.len)
            memcpy(a->s, p->s.data, p->s.len);
        a->s[p->s.len] = '\0';
        a->s_len = p->s.len;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: {
        int ints = p->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        size_t cnt = ints ? p->n_ints : p->n_floats;
        if (cnt > VGC_ONNX_MAX_ATTR_LEN)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s': attribute '%s' has %zu entries, at most %d",
                            n->name, a->name, cnt, VGC_ONNX_MAX_ATTR_LEN);
        a->n = (int)cnt;
        if (ints) {
            a->ints = malloc((cnt ? cnt : 1) * sizeof(int64_t));
            if (!a->ints)
                return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
            if (cnt)
                memcpy(a->ints, p->ints, cnt * sizeof(int64_t));
        } else {
            a->floats = malloc((cnt ? cnt : 1) * sizeof(float));
            if (!a->floats)
                return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
            if (cnt)
                memcpy(a->floats, p->floats, cnt * sizeof(float));
        }
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!p->t)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s': attribute '%s' has no tensor",
                            n->name, a->name);
        rc = vgc_onnx__value_add(g, "", 0, ctx->err, ctx->errlen);
        if (rc < 0)
            return rc;
        a->tensor = rc;
        rc = tensor_take(ctx, &g->val[a->tensor], p->t);
        if (rc)
            return rc;
        g->val[a->tensor].is_init = 0;
        break;
    default:
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "node '%s' (%s): attribute '%s' has unsupported type %d",
                        n->name, vgc_onnx_op_name(n->op), a->name, (int)p->type);
    }
    return 0;
}


static int node_take(const read_ctx *ctx, vgc_onnx_graph *g, int idx, const Onnx__NodeProto *p)
{
    vgc_onnx_node *n = &g->node[idx];
    const char *type = p->op_type ? p->op_type : "";
    const char *nm = p->name ? p->name : "";
    char tmp[32];
    int op, rc;

    g->nnode = idx + 1;           /* from here destroy() releases this node */
    if (strlen(nm) > VGC_ONNX_MAX_NAME || strlen(type) > VGC_ONNX_MAX_NAME)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node %d: name or op type too long", idx);
    if (!*nm) {
        snprintf(tmp, sizeof(tmp), "#%d", idx);
        nm = tmp;
    }
    n->name = strdup(nm);
    if (!n->name)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
    if (p->domain && *p->domain && strcmp(p->domain, "ai.onnx") != 0)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "node '%s' (%s): domain '%.64s' is not supported",
                        n->name, type, p->domain);
    op = op_lookup(type);
    if (op < 0)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "node '%s': operator '%s' is not supported",
                        n->name, type);
    n->op = (enum vgc_onnx_op)op;
    if (p->n_input > VGC_ONNX_MAX_NODE_IO || p->n_output > VGC_ONNX_MAX_NODE_IO || p->n_output == 0)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s' (%s): %zu inputs and %zu outputs",
                        n->name, type, p->n_input, p->n_output);
    if (p->n_attribute > VGC_ONNX_MAX_ATTRS)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s' (%s): %zu attributes, at most %d",
                        n->name, type, p->n_attribute, VGC_ONNX_MAX_ATTRS);
    n->in = malloc((p->n_input + 1) * sizeof(int));
    n->out = malloc(p->n_output * sizeof(int));
    n->attr = calloc(p->n_attribute + 1, sizeof(vgc_onnx_attr));
    if (!n->in || !n->out || !n->attr)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_input; i++) {
        const char *in = p->input[i] ? p->input[i] : "";
        n->in[i] = -1;
        if (*in && (n->in[i] = vgc_onnx_find(g, in)) < 0)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL,
                            "node '%s' (%s): input '%.64s' is not defined before it", n->name, type, in);
        n->nin = (int)i + 1;
    }
    for (size_t i = 0; i < p->n_attribute; i++) {
        n->nattr = (int)i + 1;
        rc = attr_take(ctx, g, n, &n->attr[i], p->attribute[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < p->n_output; i++) {
        const char *o = p->output[i] ? p->output[i] : "";
        if (!*o) {
            n->out[i] = -1;
        } else {
            rc = vgc_onnx__value_add(g, o, strlen(o), ctx->err, ctx->errlen);
            if (rc < 0)
                return rc;
            n->out[i] = rc;
            g->val[rc].producer = idx;
        }
        n->nout = (int)i + 1;
    }
    if (n->out[0] < 0)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node '%s' (%s): its first output has no name",
                        n->name, type);
    return vgc_onnx__infer(g, idx, ctx->err, ctx->errlen);
}


/* ---- the model ------------------------------------------------------------------- */

static int graph_take(const read_ctx *ctx, vgc_onnx_graph *g, const Onnx__ModelProto *m,
                      const vgc_onnx_options *opt)
{
    Onnx__GraphProto *gp = m->graph;   /* initializers give their raw bytes away (tensor_take) */
    size_t nval, nattr_tensors = 0;
    int rc;

    g->opset = 0;
    if (m->n_opset_import > VGC_ONNX_MAX_OPSETS)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "%zu opset imports", m->n_opset_import);
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
            g->opset = o->version < 0 || o->version > 1000 ? 1000 : (int)o->version;
    }
    if (g->opset < 11 || g->opset > 19)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "opset %d of the default domain; 11 to 19 are supported",
                        g->opset);
    if (!gp)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "the model has no graph");
    if (m->n_functions || m->n_training_info || gp->n_sparse_initializer)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP,
                        "model functions, training info and sparse initializers are not supported");
    if (gp->n_node > VGC_ONNX_MAX_NODES || gp->n_initializer > VGC_ONNX_MAX_INITS)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "%zu nodes and %zu initializers; at most %d and %d",
                        gp->n_node, gp->n_initializer, VGC_ONNX_MAX_NODES, VGC_ONNX_MAX_INITS);
    if (gp->n_input > VGC_ONNX_MAX_IO + VGC_ONNX_MAX_INITS || gp->n_output > VGC_ONNX_MAX_IO || !gp->n_output)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "%zu graph inputs and %zu outputs",
                        gp->n_input, gp->n_output);
    /* every value: inputs, initializers, node outputs and attribute tensors */
    nval = VGC_ONNX_MAX_IO + gp->n_initializer;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *p = gp->node[i];
        if (p->n_output > VGC_ONNX_MAX_NODE_IO || p->n_attribute > VGC_ONNX_MAX_ATTRS)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "node %zu: %zu outputs and %zu attributes",
                            i, p->n_output, p->n_attribute);
        nval += p->n_output;
        nattr_tensors += p->n_attribute;
    }
    nval += nattr_tensors;
    g->val = calloc(nval, sizeof(vgc_onnx_value));
    g->node = calloc(gp->n_node + 1, sizeof(vgc_onnx_node));
    for (g->hash_cap = 16; g->hash_cap < 2 * nval; g->hash_cap *= 2)
        ;
    g->hash = malloc(g->hash_cap * sizeof(int));
    if (!g->val || !g->node || !g->hash)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOMEM, "out of memory");
    memset(g->hash, 0xff, g->hash_cap * sizeof(int));
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *t = gp->initializer[i];
        const char *nm = t->name ? t->name : "";
        if (!*nm)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "initializer %zu has no name", i);
        rc = vgc_onnx__value_add(g, nm, strlen(nm), ctx->err, ctx->errlen);
        if (rc < 0)
            return rc;
        rc = tensor_take(ctx, &g->val[rc], t);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        rc = input_take(ctx, g, gp->input[i], opt);
        if (rc)
            return rc;
    }
    if (g->nin == 0)
        return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "the graph has no input");
    for (size_t i = 0; i < gp->n_node; i++) {
        rc = node_take(ctx, g, (int)i, gp->node[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        int v = vgc_onnx_find(g, nm);
        if (v < 0 || !*nm)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_EINVAL, "graph output '%.64s' is not produced", nm);
        if (g->val[v].dtype != VGC_DT_FLOAT)
            return vgc_fail(ctx->err, ctx->errlen, VIGIA_ENOTSUP, "graph output '%.64s' is not float32", nm);
        g->out[g->nout++] = v;
    }
    return 0;
}


/*
 * The pages wholly inside buf[from, to), bytes already decoded, given back
 * (vgc_onnx_load's own buffer: never read again, freed after). Only pages
 * inside the block: the allocator's words around it are untouched.
 */
static void give_back(const uint8_t *buf, size_t from, size_t to)
{
    const long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page, a, b;

    if (ps <= 0)
        return;
    page = (uintptr_t)ps;
    a = ((uintptr_t)buf + from + page - 1) & ~(page - 1);
    b = ((uintptr_t)buf + to) & ~(page - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}


/*
 * The message: the model less its initializers, then each initializer from
 * its own bytes (own: the file's pages behind it given back), into the
 * graph's initializer array as protobuf-c would have made it; or, where
 * the file is not split, the whole file at once. NULL: not decodable, or
 * over the budget (*oom: out of memory outside protobuf-c).
 */
static Onnx__ModelProto *decode(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc, int own, int *oom)
{
    vgc_onnx_split sp;
    Onnx__ModelProto *m;
    Onnx__GraphProto *gp;
    const int split = vgc_onnx_split_model(buf, len, VGC_ONNX_MAX_INITS, &sp);

    *oom = split < 0;
    if (split <= 0)
        return split < 0 ? NULL : onnx__model_proto__unpack(alloc, len, buf);
    m = onnx__model_proto__unpack(alloc, sp.rest_len, sp.rest);
    gp = m ? m->graph : NULL;
    /* the rest has no initializers (the split took every one); the array is protobuf-c's to free */
    if (gp && (gp->n_initializer ||
               (sp.ninit && !(gp->initializer = alloc->alloc(alloc->allocator_data, sp.ninit * sizeof *gp->initializer)))))
        gp = NULL;
    for (size_t i = 0; gp && i < sp.ninit; i++) {
        Onnx__TensorProto *t = onnx__tensor_proto__unpack(alloc, sp.inits[i].len, buf + sp.inits[i].off);

        if (!t) {
            gp = NULL;
            break;
        }
        gp->initializer[gp->n_initializer++] = t;
        if (own)
            give_back(buf, i ? sp.inits[i - 1].off + sp.inits[i - 1].len : 0, sp.inits[i].off + sp.inits[i].len);
    }
    vgc_onnx_split_free(&sp);
    if (m && !gp) {
        onnx__model_proto__free_unpacked(m, alloc);
        m = NULL;
    }
    return m;
}


static int read_model(vgc_onnx_graph **out, const void *buf, size_t len, const char *dir,
                      const vgc_onnx_options *opt, int own, char *err, size_t errlen)
{
    static const vgc_onnx_options none;
    size_t max = opt && opt->max_bytes ? opt->max_bytes : VGC_ONNX_MAX_BYTES;
    pb_budget budget;
    ProtobufCAllocator alloc = { pb_alloc, pb_free, &budget };
    Onnx__ModelProto *m = NULL;
    vgc_onnx_graph *g = NULL;
    read_ctx ctx = { dir, err, errlen };
    int rc, oom;

    *out = NULL;
    if (!opt)
        opt = &none;
    if (opt->batch < 0 || opt->width < 0 || opt->height < 0 || opt->batch > VGC_MAX_BATCH ||
        opt->width > VGC_MAX_DIM || opt->height > VGC_MAX_DIM)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "batch, width or height out of range");
    if (len > max)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "the model is %zu bytes, more than %zu", len, max);
    budget.left = 2 * len + VGC_ONNX_PB_OVERHEAD;
    m = decode(buf, len, &alloc, own, &oom);
    if (!m)
        return oom ? vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory")
                   : vgc_fail(err, errlen, VIGIA_EINVAL, "not an ONNX model (protobuf decoding failed or too large)");
    g = calloc(1, sizeof(*g));
    if (!g) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto free_proto;
    }
    rc = graph_take(&ctx, g, m, opt);
    if (rc) {
        vgc_onnx_destroy(g);
        goto free_proto;
    }
    *out = g;
free_proto:
    onnx__model_proto__free_unpacked(m, &alloc);
    return rc;
}


int vgc_onnx_read(vgc_onnx_graph **out, const void *buf, size_t len, const char *dir,
                  const vgc_onnx_options *opt, char *err, size_t errlen)
{
    return read_model(out, buf, len, dir, opt, 0, err, errlen);
}


int vgc_onnx_load(vgc_onnx_graph **out, const char *path, const vgc_onnx_options *opt,
                  char *err, size_t errlen)
{
    size_t max = opt && opt->max_bytes ? opt->max_bytes : VGC_ONNX_MAX_BYTES;
    char *buf = NULL, *dir = NULL, *slash;
    struct stat st;
    size_t done = 0;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vgc_fail(err, errlen, VIGIA_ENOENT, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s: not a regular file", path);
        goto close_fd;
    }
    if ((uint64_t)st.st_size > max) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s is %lld bytes, more than %zu", path,
                      (long long)st.st_size, max);
        goto close_fd;
    }
    buf = malloc((size_t)st.st_size + 1);
    dir = strdup(path);
    if (!buf || !dir) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto free_buf;
    }
    while (done < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + done, (size_t)st.st_size - done);
        if (r <= 0) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s: read failed", path);
            goto free_buf;
        }
        done += (size_t)r;
    }
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    rc = read_model(out, buf, done, dir, opt, 1, err, errlen);
free_buf:
    free(buf);
    free(dir);
close_fd:
    close(fd);
    return rc;
}
