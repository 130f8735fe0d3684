/* wire: see wire.h. */
#include "http/wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

static int
buf_write(void *data, const char *p, size_t n)
{
    vg_buf_append(data, p, n);
    return 0;
}


static void
pack_value(msgpack_packer *pk, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth > VG_WIRE_MAX_DEPTH) {
            msgpack_pack_nil(pk);
            return;
        }
        msgpack_pack_map(pk, json_object_size(v));
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            size_t kn = strlen(k);
            msgpack_pack_str(pk, kn);
            msgpack_pack_str_body(pk, k, kn);
            pack_value(pk, e, depth + 1);
        }
        return;
    }
    case JSON_ARRAY: {
        if (depth > VG_WIRE_MAX_DEPTH) {
            msgpack_pack_nil(pk);
            return;
        }
        msgpack_pack_array(pk, json_array_size(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            pack_value(pk, e, depth + 1);
        return;
    }
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        return;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        return;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        return;
    }
}


void
vg_wire_pack(const json_t *j, const char *bin_key, const void *bin, size_t binlen, vg_buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_map(&pk, json_object_size(j) + (bin ? 1 : 0));
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)j, k, e) {
        size_t kn = strlen(k);
        msgpack_pack_str(&pk, kn);
        msgpack_pack_str_body(&pk, k, kn);
        pack_value(&pk, e, 1);
    }
    if (bin) {
        size_t kn = strlen(bin_key);
        msgpack_pack_str(&pk, kn);
        msgpack_pack_str_body(&pk, bin_key, kn);
        msgpack_pack_bin(&pk, binlen);
        msgpack_pack_bin_body(&pk, bin, binlen);
    }
}


static json_t *
to_json(const msgpack_object *o, int depth, char *err, size_t errlen)
{
    if (depth > VG_WIRE_MAX_DEPTH) {
        snprintf(err, errlen, "msgpack nested deeper than %d", VG_WIRE_MAX_DEPTH);
        return NULL;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer(o->via.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            snprintf(err, errlen, "msgpack float is not finite");
            return NULL;
        }
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: {
        json_t *str = json_stringn(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
        if (!str)
            snprintf(err, errlen, "msgpack strings must be UTF-8");
        return str;
    }
    case MSGPACK_OBJECT_BIN:
        return json_integer((json_int_t)o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        if (o->via.array.size > VG_WIRE_MAX_ITEMS) {
            snprintf(err, errlen, "msgpack array longer than %d", VG_WIRE_MAX_ITEMS);
            return NULL;
        }
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *e = to_json(&o->via.array.ptr[i], depth + 1, err, errlen);
            if (!e) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, e);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        if (o->via.map.size > VG_WIRE_MAX_ITEMS) {
            snprintf(err, errlen, "msgpack map larger than %d", VG_WIRE_MAX_ITEMS);
            return NULL;
        }
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            /* msgpack-c gives an empty string a NULL pointer, which memchr and memcpy may not see */
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size > 256 ||
                (kv->key.via.str.size && memchr(kv->key.via.str.ptr, '\0', kv->key.via.str.size))) {
                snprintf(err, errlen, "msgpack map keys must be short strings");
                json_decref(m);
                return NULL;
            }
            char key[257];
            if (kv->key.via.str.size)
                memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
            key[kv->key.via.str.size] = '\0';
            json_t *e = to_json(&kv->val, depth + 1, err, errlen);
            if (!e) {
                json_decref(m);
                return NULL;
            }
            if (json_object_set_new(m, key, e) != 0) {
                snprintf(err, errlen, "msgpack map keys must be UTF-8");
                json_decref(m);
                return NULL;
            }
        }
        return m;
    }
    default:
        snprintf(err, errlen, "msgpack extension types are not accepted");
        return NULL;
    }
}


static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}


/*
 * Walks the msgpack bytes before msgpack-c sees them: it sizes its zone by
 * the counts that maps and arrays declare, so a 5-byte message claiming
 * 2^32 entries would ask for gigabytes. Every count must fit the bytes left
 * (each entry takes at least one), nesting and sizes stay within limits,
 * and extension types are refused.
 */
static int
shape_ok(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    uint64_t left[VG_WIRE_MAX_DEPTH + 2];   /* values still expected per open container */
    int depth = 0;
    size_t at = 0;
    left[0] = 1;
    while (depth >= 0 && left[depth] > 0) {
        left[depth]--;
        if (at >= n)
            goto truncated;
        uint8_t t = p[at++];
        uint64_t len = 0, count = 0;
        int hdr = 0, container = 0;
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            len = 0;
        } else if ((t & 0xf0) == 0x80) {
            count = 2u * (t & 0x0f);
            container = 1;
        } else if ((t & 0xf0) == 0x90) {
            count = t & 0x0f;
            container = 1;
        } else if ((t & 0xe0) == 0xa0) {
            len = t & 0x1f;
        } else {
            switch (t) {
            case 0xc4: case 0xd9: hdr = 1; break;
            case 0xc5: case 0xda: hdr = 2; break;
            case 0xc6: case 0xdb: hdr = 4; break;
            case 0xca: len = 4; break;
            case 0xcb: len = 8; break;
            case 0xcc: case 0xd0: len = 1; break;
            case 0xcd: case 0xd1: len = 2; break;
            case 0xce: case 0xd2: len = 4; break;
            case 0xcf: case 0xd3: len = 8; break;
            case 0xdc: hdr = 2; container = 1; break;
            case 0xdd: hdr = 4; container = 1; break;
            case 0xde: hdr = 2; container = 2; break;
            case 0xdf: hdr = 4; container = 2; break;
            default:
                snprintf(err, errlen, "msgpack type 0x%02x is not accepted", t);
                return -1;
            }
            if (hdr) {
                if (n - at < (size_t)hdr)
                    goto truncated;
                uint64_t v = be(p + at, hdr);
                at += (size_t)hdr;
                if (container)
                    count = container == 2 ? 2 * v : v;
                else
                    len = v;
            }
        }
        if (container) {
            if (count > n - at || count > 2u * VG_WIRE_MAX_ITEMS) {
                snprintf(err, errlen, "msgpack container declares more entries than it holds");
                return -1;
            }
            if (count > 0) {
                if (depth + 1 > VG_WIRE_MAX_DEPTH) {
                    snprintf(err, errlen, "msgpack nested deeper than %d", VG_WIRE_MAX_DEPTH);
                    return -1;
                }
                left[++depth] = count;
            }
        } else {
            if (len > n - at)
                goto truncated;
            at += (size_t)len;
        }
        while (depth > 0 && left[depth] == 0)
            depth--;
    }
    if (at != n) {
        snprintf(err, errlen, "bytes after the msgpack value");
        return -1;
    }
    return 0;
truncated:
    snprintf(err, errlen, "truncated msgpack");
    return -1;
}


json_t *
vg_wire_unpack(const char *data, size_t len, const char *bin_key, const void **bin, size_t *binlen,
               char *err, size_t errlen)
{
    *bin = NULL;
    *binlen = 0;
    if (shape_ok((const uint8_t *)data, len, err, errlen) < 0)
        return NULL;

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    json_t *out = NULL;
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "malformed msgpack");
        goto done;
    }
    if (off != len) {
        snprintf(err, errlen, "bytes after the msgpack value");
        goto done;
    }
    if (u.data.type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "a message must be a msgpack map");
        goto done;
    }
    /* keep the image bytes aside, then convert the rest */
    msgpack_object_map *m = &u.data.via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        msgpack_object_kv *kv = &m->ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_BIN &&
            kv->key.via.str.size == strlen(bin_key) && memcmp(kv->key.via.str.ptr, bin_key, kv->key.via.str.size) == 0) {
            /* pointers into the msgpack zone refer to data itself for bin (zero-copy unpack) */
            *bin = kv->val.via.bin.ptr;
            *binlen = kv->val.via.bin.size;
        }
    }
    out = to_json(&u.data, 0, err, errlen);
    if (*bin && (!((const char *)*bin >= data && (const char *)*bin + *binlen <= data + len))) {
        /* msgpack-c copied it into its zone: it dies with u, so refuse rather than dangle */
        json_decref(out);
        out = NULL;
        snprintf(err, errlen, "internal: msgpack bin not in place");
    }
done:
    msgpack_unpacked_destroy(&u);
    return out;
}
