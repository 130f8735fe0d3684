/* dialects: see dialects.h. */
#include "api/dialects.h"

#include <stdlib.h>

#include "base/buf.h"
#include "api/compare_api.h"
#include "api/kserve_api.h"
#include "api/mjpeg_api.h"
#include "api/zmq_detector.h"
#include "http/http.h"

struct vg_dialects {
    vg_compare_api *compare;
    vg_kserve_api *kserve;
    vg_zmq_detector *zmq;          /* NULL when zmq.endpoint is empty */
    vg_mjpeg_api *mjpeg;           /* NULL without live streams */
};


vg_dialects *
vg_dialects_create(vg_http *http, struct vg_pool *pool, struct vg_store *store, struct vg_stream_api *streams,
                   char *err, size_t errlen)
{
    vg_dialects *d = vg_xcalloc(1, sizeof *d);
    d->compare = vg_compare_api_create(http, pool, store);
    d->kserve = vg_kserve_api_create(http, pool);
    if (streams)
        d->mjpeg = vg_mjpeg_api_create(http, streams);
    d->zmq = vg_zmq_detector_create(vg_http_server(http), pool, err, errlen);
    if (!d->zmq && err[0]) {
        vg_dialects_destroy(d);
        return NULL;
    }
    return d;
}


void
vg_dialects_destroy(vg_dialects *d)
{
    if (!d)
        return;
    vg_mjpeg_api_destroy(d->mjpeg);
    vg_compare_api_destroy(d->compare);
    vg_kserve_api_destroy(d->kserve);
    vg_zmq_detector_destroy(d->zmq);
    free(d);
}
