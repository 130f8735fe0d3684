/* dialects: see dialects.h. */
#include "dialects.h"

#include <stdlib.h>

#include "buf.h"
#include "compare_api.h"
#include "server.h"

struct vg_dialects {
    vg_compare_api *compare;
};


vg_dialects *
vg_dialects_create(vg_server *srv, struct vg_pool *pool, struct vg_store *store, struct vg_stream_api *streams,
                   char *err, size_t errlen)
{
    (void)streams;
    (void)err;
    (void)errlen;
    vg_dialects *d = vg_xcalloc(1, sizeof *d);
    d->compare = vg_compare_api_create(srv, pool, store);
    return d;
}


void
vg_dialects_destroy(vg_dialects *d)
{
    if (!d)
        return;
    vg_compare_api_destroy(d->compare);
    free(d);
}
