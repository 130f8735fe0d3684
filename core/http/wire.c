/*
 * wire: see wire.h. Both directions go through base/mpk: the writer for
 * packing, the cursor for unpacking (it allocates nothing, so a message
 * declaring huge counts costs nothing before it is refused).
 */
#include "http/wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mpk.h"

#define MAX_KEY 256               /* bytes of a map key */


static void
pack_value(vg_mpw *w, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth > VG_WIRE_MAX_DEPTH) {
            vg_mpw_nil(w);
            return;
        }
        vg_mpw_map(w, (uint32_t)json_object_size(v));
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            vg_mpw_cstr(w, k);
            pack_value(w, e, depth + 1);
        }
        return;
    }
    case JSON_ARRAY: {
        if (depth > VG_WIRE_MAX_DEPTH) {
            vg_mpw_nil(w);
            return;
        }
        vg_mpw_array(w, (uint32_t)json_array_size(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            pack_value(w, e, depth + 1);
        return;
    }
    case JSON_STRING:
        vg_mpw_str(w, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        vg_mpw_i64(w, json_integer_value(v));
        return;
    case JSON_REAL:
        vg_mpw_f64(w, json_real_value(v));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        vg_mpw_bool(w, json_is_true(v));
        return;
    case JSON_NULL:
        vg_mpw_nil(w);
        return;
    }
}


void
vg_wire_pack(const json_t *j, const char *bin_key, const void *bin, size_t binlen, vg_buf *out)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, (uint32_t)(json_object_size(j) + (bin ? 1 : 0)));
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)j, k, e) {
        vg_mpw_cstr(&w, k);
        pack_value(&w, e, 1);
    }
    if (bin) {
        vg_mpw_cstr(&w, bin_key);
        vg_mpw_bin(&w, bin, binlen);
    }
}


/* What is said of a value the first pass refused. */
static void
shape_error(const vg_mpr *r, char *err, size_t errlen)
{
    switch (r->err) {
    case VG_MPR_TRUNCATED:
        snprintf(err, errlen, "truncated msgpack");
        break;
    case VG_MPR_TYPE:
        snprintf(err, errlen, "msgpack type 0x%02x is not accepted", *r->p);
        break;
    case VG_MPR_COUNT:
        snprintf(err, errlen, "msgpack container declares more entries than it holds");
        break;
    case VG_MPR_DEPTH:
        snprintf(err, errlen, "msgpack nested deeper than %d", VG_WIRE_MAX_DEPTH);
        break;
    default:
        snprintf(err, errlen, "malformed msgpack");
        break;
    }
}


/*
 * The cursor both passes read with: nesting within VG_WIRE_MAX_DEPTH, and
 * no container declaring more than 2 * VG_WIRE_MAX_ITEMS values (a map's
 * keys and values counted); arrays are held to VG_WIRE_MAX_ITEMS entries
 * while converting.
 */
static void
cursor(vg_mpr *r, const char *data, size_t len)
{
    vg_mpr_init(r, data, len);
    r->max_depth = VG_WIRE_MAX_DEPTH;
    r->max_items = 2u * VG_WIRE_MAX_ITEMS;
}


/* A map key: a str of at most MAX_KEY bytes without NUL, into key (NUL-terminated). */
static int
read_key(vg_mpr *r, char key[MAX_KEY + 1], vg_str *k)
{
    if (vg_mpr_type(r) != VG_MPK_STR || vg_mpr_str_only(r, k) < 0 || k->n > MAX_KEY ||
        memchr(k->p, '\0', k->n))
        return -1;
    memcpy(key, k->p, k->n);
    key[k->n] = '\0';
    return 0;
}


static json_t *to_json(vg_mpr *r, int depth, const char *bin_key, const void **bin, size_t *binlen,
                       char *err, size_t errlen);


/*
 * The entries of an array or map (map) at `depth`. In the top-level map
 * (bin != NULL) a bin member named bin_key is also returned through
 * bin/binlen.
 */
static json_t *
container_to_json(vg_mpr *r, int depth, int map, const char *bin_key, const void **bin, size_t *binlen,
                  char *err, size_t errlen)
{
    uint32_t n;
    if ((map ? vg_mpr_map(r, &n) : vg_mpr_array(r, &n)) < 0 || n > VG_WIRE_MAX_ITEMS) {
        if (map)
            snprintf(err, errlen, "msgpack map larger than %d", VG_WIRE_MAX_ITEMS);
        else
            snprintf(err, errlen, "msgpack array longer than %d", VG_WIRE_MAX_ITEMS);
        return NULL;
    }
    json_t *out = map ? json_object() : json_array();
    for (uint32_t i = 0; i < n; i++) {
        char key[MAX_KEY + 1];
        vg_str k = { "", 0 };
        json_t *e;
        if (map && read_key(r, key, &k) < 0) {
            snprintf(err, errlen, "msgpack map keys must be short strings");
            goto fail;
        }
        if (map && bin && vg_mpr_type(r) == VG_MPK_BIN && vg_str_eq(k, bin_key)) {
            /* the image: kept aside as bytes (pointing into the message), its length in the object */
            const uint8_t *p = NULL;
            size_t bn = 0;
            vg_mpr_bin_only(r, &p, &bn);
            *bin = p;
            *binlen = bn;
            e = json_integer((json_int_t)bn);
        } else {
            e = to_json(r, depth + 1, NULL, NULL, NULL, err, errlen);
        }
        if (!e)
            goto fail;
        if (!map) {
            json_array_append_new(out, e);
        } else if (json_object_set_new(out, key, e) != 0) {
            snprintf(err, errlen, "msgpack map keys must be UTF-8");
            goto fail;
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}


/*
 * Converts the next value (whose shape the first pass checked); bin_key,
 * bin and binlen as for container_to_json().
 */
static json_t *
to_json(vg_mpr *r, int depth, const char *bin_key, const void **bin, size_t *binlen, char *err, size_t errlen)
{
    if (depth > VG_WIRE_MAX_DEPTH) {
        snprintf(err, errlen, "msgpack nested deeper than %d", VG_WIRE_MAX_DEPTH);
        return NULL;
    }
    switch (vg_mpr_type(r)) {
    case VG_MPK_NIL:
        vg_mpr_nil(r);
        return json_null();
    case VG_MPK_BOOL: {
        int b = 0;
        vg_mpr_bool(r, &b);
        return json_boolean(b);
    }
    case VG_MPK_INT: {
        int64_t v = 0;
        vg_mpr_i64_sat(r, &v);
        return json_integer(v);
    }
    case VG_MPK_FLOAT: {
        double d = 0;
        vg_mpr_f64(r, &d);
        if (!isfinite(d)) {
            snprintf(err, errlen, "msgpack float is not finite");
            return NULL;
        }
        return json_real(d);
    }
    case VG_MPK_STR: {
        vg_str s = { "", 0 };
        vg_mpr_str_only(r, &s);
        json_t *str = json_stringn(s.p, s.n);
        if (!str)
            snprintf(err, errlen, "msgpack strings must be UTF-8");
        return str;
    }
    case VG_MPK_BIN: {
        const uint8_t *p;
        size_t bn = 0;
        vg_mpr_bin_only(r, &p, &bn);
        return json_integer((json_int_t)bn);
    }
    case VG_MPK_ARRAY:
    case VG_MPK_MAP:
        return container_to_json(r, depth, vg_mpr_type(r) == VG_MPK_MAP, bin_key, bin, binlen, err, errlen);
    default:
        snprintf(err, errlen, "msgpack extension types are not accepted");
        return NULL;
    }
}


json_t *
vg_wire_unpack(const char *data, size_t len, const char *bin_key, const void **bin, size_t *binlen,
               char *err, size_t errlen)
{
    vg_mpr r;
    *bin = NULL;
    *binlen = 0;
    /* first the whole value's shape (lengths, counts, nesting, types), then the conversion */
    cursor(&r, data, len);
    if (vg_mpr_skip(&r) < 0) {
        shape_error(&r, err, errlen);
        return NULL;
    }
    if (r.p != r.end) {
        snprintf(err, errlen, "bytes after the msgpack value");
        return NULL;
    }
    cursor(&r, data, len);
    if (vg_mpr_type(&r) != VG_MPK_MAP) {
        snprintf(err, errlen, "a message must be a msgpack map");
        return NULL;
    }
    json_t *out = to_json(&r, 0, bin_key, bin, binlen, err, errlen);
    if (!out) {
        *bin = NULL;
        *binlen = 0;
    }
    return out;
}
