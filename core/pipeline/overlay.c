/*
 * overlay: the label table of an MJPEG overlay and its colours (see
 * overlay.h); the drawing is image.c's.
 */
#include <string.h>

#include "pipeline/overlay.h"

const uint8_t vg_overlay_zone_rgb[3] = { 0, 255, 255 };    /* cyan */
const uint8_t vg_overlay_line_rgb[3] = { 255, 0, 255 };    /* magenta */


int
vg_overlay_label(vg_overlay *o, const char *label)
{
    if (!label || !label[0] || strlen(label) >= VG_OVERLAY_NAME_MAX)
        return -1;
    for (int i = 0; i < o->nlabels; i++)
        if (strcmp(o->labels[i], label) == 0)
            return i;
    if (o->nlabels >= VG_OVERLAY_MAX_LABELS)
        return -1;
    memcpy(o->labels[o->nlabels], label, strlen(label) + 1);
    return o->nlabels++;
}
