/*
 * wire: the two encodings of WebSocket messages (docs/protocol.md): JSON
 * text (subprotocol vigia.json) and msgpack binary (vigia.msgpack). A
 * message is built once as a jansson object and encoded either way; an
 * incoming msgpack map is turned into a jansson object, with one byte
 * string member (the image) kept aside as raw bytes.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"

#define VG_WIRE_MAX_DEPTH 16
#define VG_WIRE_MAX_ITEMS 4096   /* entries of one map or array */

/* Packs object `j` as a msgpack map; with bin != NULL adds member bin_key = bin (a msgpack bin). */
void vg_wire_pack(const json_t *j, const char *bin_key, const void *bin, size_t binlen, vg_buf *out);

/*
 * Unpacks one msgpack map. A bin member named bin_key is returned through
 * bin/binlen (pointing into data), others become JSON values (bin as
 * their length, ext refused). Returns a new object, or NULL with err set.
 */
json_t *vg_wire_unpack(const char *data, size_t len, const char *bin_key, const void **bin, size_t *binlen,
                       char *err, size_t errlen);

#endif
