/*
 * libFuzzer harness for the parsers of bodies and messages that need no
 * socket: msgpack stream messages (vg_wire_unpack, then a pack/unpack round
 * trip that must give the same object) and multipart/form-data bodies
 * (parts must lie inside the body). The first input byte picks the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/multipart.h"
#include "http/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char err[256];
    if (data[0] & 1) {
        const void *bin;
        size_t binlen;
        json_t *j = vg_wire_unpack(p, n, "image", &bin, &binlen, err, sizeof err);
        if (!j)
            return 0;
        if (bin && ((const char *)bin < p || (const char *)bin + binlen > p + n))
            abort();
        vg_buf b;
        vg_buf_init(&b);
        json_t *copy = json_deep_copy(j);
        json_object_del(copy, "image");
        vg_wire_pack(copy, "image", bin, binlen, &b);
        const void *bin2;
        size_t binlen2;
        json_t *k = vg_wire_unpack(b.data, b.len, "image", &bin2, &binlen2, err, sizeof err);
        if (!k || binlen2 != binlen || (bin && memcmp(bin, bin2, binlen) != 0))
            abort();
        json_object_del(k, "image");
        if (!json_equal(copy, k))
            abort();
        json_decref(k);
        json_decref(copy);
        json_decref(j);
        vg_buf_release(&b);
        return 0;
    }
    vg_multipart *mp = malloc(sizeof *mp);
    if (vg_multipart_parse(p, n, "XyZ", mp, err, sizeof err) == 0) {
        for (int i = 0; i < mp->count; i++) {
            const vg_part *part = &mp->parts[i];
            if (part->data < p || part->data + part->len > p + n)
                abort();
        }
    }
    free(mp);
    vg_str ct = { p, n };
    char boundary[VG_MULTIPART_MAX_BOUNDARY + 1];
    if (vg_multipart_boundary(ct, boundary) == 0 && strlen(boundary) > VG_MULTIPART_MAX_BOUNDARY)
        abort();
    return 0;
}
