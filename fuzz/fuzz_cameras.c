/*
 * libFuzzer harness for stream.cameras_file (core/api/cameras_api.h): a
 * JSON object of camera id -> {"zones", "lines"}, read at start from a
 * file an operator writes.
 *
 * Invariants: vg_cameras_file_parse refuses with a message, or gives an
 * object of at most VG_CAMERAS_MAX valid stream ids whose shapes parse
 * again to the same object (what it keeps is what it would accept).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/cameras_api.h"
#include "api/stream_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *cams = NULL;
    char err[256] = "";
    if (vg_cameras_file_parse((const char *)data, size, &cams, err, sizeof err) < 0) {
        if (!err[0] || cams)
            abort();
        return 0;
    }
    if (!json_is_object(cams) || json_object_size(cams) > VG_CAMERAS_MAX)
        abort();
    const char *id;
    json_t *v;
    json_object_foreach(cams, id, v)
        if (!vg_stream_id_valid(id, strlen(id)))
            abort();
    char *text = json_dumps(cams, JSON_COMPACT);
    json_t *again = NULL;
    if (vg_cameras_file_parse(text, strlen(text), &again, err, sizeof err) != 0 || !json_equal(again, cams))
        abort();
    free(text);
    json_decref(again);
    json_decref(cams);
    return 0;
}
