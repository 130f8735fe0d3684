/*
 * zmq_detector: Frigate's "zmq" detector protocol, so Frigate can use vigia
 * as its object detector (docs/frigate.md).
 *
 * A ZMQ_ROUTER socket bound at zmq.endpoint (tcp://... or ipc://...) talks
 * to Frigate's REQ sockets; each request is answered exactly once, so a
 * REQ client never hangs:
 *
 *   [{"model_request": true, "model_name": NAME}]
 *       -> [{"model_available": B, "model_loaded": B}]   NAME (directory and
 *          extension stripped) is a vigia model; the client's later
 *          requests go to it. While the model is loading the answer waits
 *          (up to zmq.handshake_wait) until it has loaded or failed: Frigate
 *          asks once and stays blind after "model_loaded": false.
 *   [{"model_data": true, ...}, bytes]
 *       -> [{"model_saved": false, "model_loaded": false, "error": ...}]
 *          (models are never uploaded at run time)
 *   [{"shape": [1,H,W,3] | [1,3,H,W] | [H,W,3], "dtype": "uint8"|"float32"}, pixels]
 *       -> [480 bytes]: float32 [20,6] rows of class id (zmq.class_ids:
 *          Frigate's 91-id COCO labelmap by default), score, y_min,
 *          x_min, y_max, x_max (fractions of the tensor), best first,
 *          zero rows after the last detection. A request that cannot be
 *          run (queue full, model down, bad pixels) gets the zero array,
 *          as Frigate's own detectors answer errors; one that is not this
 *          protocol gets [{"error": "..."}].
 *
 * The socket is driven from the libev loop through ZMQ_FD and ZMQ_EVENTS
 * (edge-triggered: every send and receive is followed by a look at
 * ZMQ_EVENTS); no call ever blocks. The pixels go to a worker as a rawimg
 * (rawimg.h); the master only copies them. libzmq runs one I/O thread in
 * the master.
 *
 * Built only when configure finds libzmq (HAVE_ZMQ); otherwise
 * vg_zmq_detector_create() refuses a configured endpoint.
 */
#ifndef VG_ZMQ_DETECTOR_H
#define VG_ZMQ_DETECTOR_H

#include <stddef.h>
#include <stdio.h>

#include "vg_build.h"

struct vg_server;
struct vg_pool;
typedef struct vg_zmq_detector vg_zmq_detector;

#define VG_ZMQ_ROWS 20                  /* Frigate's detection array: [20, 6] float32 */
#define VG_ZMQ_COLS 6

#ifdef HAVE_ZMQ
/*
 * Binds zmq.endpoint and starts serving (NULL with *err empty when
 * zmq.endpoint is empty: off). NULL with a message when the endpoint
 * cannot be bound.
 */
vg_zmq_detector *vg_zmq_detector_create(struct vg_server *srv, struct vg_pool *pool, char *err, size_t errlen);
void vg_zmq_detector_destroy(vg_zmq_detector *z);
#else
#include "net/server.h"
static inline vg_zmq_detector *
vg_zmq_detector_create(struct vg_server *srv, struct vg_pool *pool, char *err, size_t errlen)
{
    (void)pool;
    const vg_config *cfg = vg_server_config(srv);
    if (cfg->zmq_endpoint && cfg->zmq_endpoint[0])
        snprintf(err, errlen, "zmq.endpoint is set but this vigia was built without libzmq "
                              "(apt-get install libzmq3-dev, then configure again)");
    else if (errlen)
        err[0] = '\0';
    return NULL;
}
static inline void
vg_zmq_detector_destroy(vg_zmq_detector *z)
{
    (void)z;
}
#endif

#endif
