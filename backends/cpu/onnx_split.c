/*
 * backends/cpu/onnx_split.c: ModelProto -> the model without its graph's
 * initializers, and where each initializer lies (onnx_split.h).
 *
 * ModelProto.graph is field 7, GraphProto.initializer field 5, both
 * length-delimited (onnx.proto). The rest is every byte of the file but
 * the initializers' fields, in order, with the graph field's length
 * rewritten: protobuf-c decodes it as it would the whole file, less the
 * initializers, which it then decodes one by one from their spans.
 */
#include "onnx_split.h"

#include <stdlib.h>
#include <string.h>

#define MODEL_GRAPH 7
#define GRAPH_INITIALIZER 5
#define WIRE_VARINT 0
#define WIRE_FIXED64 1
#define WIRE_BYTES 2
#define WIRE_FIXED32 5

/* A varint at *p: 0 and *v (p past it), or -1 when it is cut short or longer than 10 bytes. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        const uint8_t b = *(*p)++;

        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}


/* A field at *p (p past it): its number, wire type and, length-delimited, its payload. 0, or -1 malformed. */
static int field(const uint8_t **p, const uint8_t *end, uint64_t *num, int *wire, const uint8_t **pay,
                 size_t *plen)
{
    uint64_t key, n;

    if (varint(p, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    *num = key >> 3;
    *wire = (int)(key & 7);
    switch (*wire) {
    case WIRE_VARINT:
        return varint(p, end, &n);
    case WIRE_FIXED64:
    case WIRE_FIXED32: {
        const size_t w = *wire == WIRE_FIXED64 ? 8 : 4;

        if ((size_t)(end - *p) < w)
            return -1;
        *p += w;
        return 0;
    }
    case WIRE_BYTES:
        if (varint(p, end, &n) || n > (uint64_t)(end - *p))
            return -1;
        *pay = *p;
        *plen = (size_t)n;
        *p += n;
        return 0;
    default:   /* groups: onnx.proto has none */
        return -1;
    }
}


static size_t varint_put(uint8_t *d, uint64_t v)
{
    size_t n = 0;

    do {
        d[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}


int vgc_onnx_split_model(const uint8_t *buf, size_t len, size_t max_inits, vgc_onnx_split *s)
{
    const uint8_t *p = buf, *end = buf + len, *graph = NULL, *graph_key = NULL, *graph_end = NULL, *pay = NULL;
    size_t glen = 0, plen = 0, kept = 0, ninit = 0;
    uint64_t num;
    int wire;

    memset(s, 0, sizeof *s);
    /* the graph field: exactly one, length-delimited */
    while (p < end) {
        const uint8_t *at = p;

        if (field(&p, end, &num, &wire, &pay, &plen))
            return 0;
        if (num != MODEL_GRAPH)
            continue;
        if (graph || wire != WIRE_BYTES)
            return 0;
        graph_key = at;
        graph = pay;
        glen = plen;
        graph_end = p;
    }
    if (!graph)
        return 0;
    /* its initializers counted, the bytes of its other fields summed */
    for (p = graph; p < graph + glen;) {
        const uint8_t *at = p;

        if (field(&p, graph + glen, &num, &wire, &pay, &plen))
            return 0;
        if (num == GRAPH_INITIALIZER && wire == WIRE_BYTES)
            ninit++;
        else
            kept += (size_t)(p - at);
    }
    if (ninit > max_inits)
        return 0;
    {
        /* the rest: before the graph's key, the key, the new length, the kept fields, after the graph */
        const size_t before = (size_t)(graph_key - buf), after = (size_t)(end - graph_end);
        uint8_t *d;
        size_t n = 0, k = 0;

        s->rest = malloc(before + 1 + 10 + kept + after);
        s->inits = ninit ? malloc(ninit * sizeof *s->inits) : NULL;
        if (!s->rest || (ninit && !s->inits)) {
            vgc_onnx_split_free(s);
            return -1;
        }
        d = s->rest;
        memcpy(d, buf, before);
        n = before;
        d[n++] = (uint8_t)(MODEL_GRAPH << 3 | WIRE_BYTES);
        n += varint_put(d + n, kept);
        for (p = graph; p < graph + glen;) {
            const uint8_t *at = p;

            (void)field(&p, graph + glen, &num, &wire, &pay, &plen);   /* walked above: well formed */
            if (num == GRAPH_INITIALIZER && wire == WIRE_BYTES) {
                s->inits[k].off = (size_t)(pay - buf);
                s->inits[k++].len = plen;
            } else {
                memcpy(d + n, at, (size_t)(p - at));
                n += (size_t)(p - at);
            }
        }
        memcpy(d + n, graph_end, after);
        s->rest_len = n + after;
        s->ninit = ninit;
    }
    return 1;
}


void vgc_onnx_split_free(vgc_onnx_split *s)
{
    free(s->rest);
    free(s->inits);
    memset(s, 0, sizeof *s);
}
