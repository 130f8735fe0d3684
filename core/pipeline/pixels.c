/* pixels: see pixels.h. */
#include "pipeline/pixels.h"

#include <glib.h>


void
vg_image_release(vg_image *im)
{
    if (!im)
        return;
    g_free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = im->full_w = im->full_h = 0;
}
