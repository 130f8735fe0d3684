/*
 * chan: a helper process forked from the master and a request/answer
 * channel to it, for the store and the password hasher.
 *
 * The master side never blocks: calls are framed (base/frame.h: 4-byte
 * length + msgpack payload), queued in an output buffer written when the
 * socket is writable, and answered strictly in order -- the child answers
 * every request with exactly one frame, in the order it read them. The
 * child's first frame is a hello: [0] when it is ready, or [code, message]
 * before it exits.
 *
 * When the child dies every call in flight fails with VG_E_STORE_DOWN
 * and a new child is forked after a backoff (100 ms doubling to 10 s);
 * calls made meanwhile fail at once with VG_E_STORE_DOWN. A call that
 * returns an error never fires its callback; one that returns 0 fires it
 * exactly once, from the loop (never inside vg_chan_call), or from
 * vg_chan_destroy with VG_E_STORE_DOWN.
 */
#ifndef VG_CHAN_H
#define VG_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
typedef struct vg_chan vg_chan;

/* The child's body: serve fd, then _exit(). Runs right after fork. */
typedef void (*vg_chan_child_fn)(int fd, void *arg);
/* status 0 with the answer's payload (valid during the call), or a VG_E_* code with p NULL. */
typedef void (*vg_chan_cb)(int status, const uint8_t *p, size_t n, void *ud);

typedef struct vg_chan_options {
    const char *name;              /* for logs: "store", "hasher" */
    vg_chan_child_fn child;
    void *arg;                     /* passed to child (read after fork: copy-on-write) */
    size_t max_pending;            /* calls waiting; more fail with VG_E_STORE_BUSY */
    size_t max_frame;              /* largest answer accepted */
} vg_chan_options;

/* Forks the child. Returns 0, or -1 with a message. `o` is copied (not o->arg). */
int vg_chan_create(struct ev_loop *loop, const vg_chan_options *o, vg_chan **out, char *err, size_t errlen);
/*
 * Start-up only: blocks until the child's hello (or its death, or timeout
 * seconds). Returns 0, or -1 with the child's message in err.
 */
int vg_chan_wait_hello(vg_chan *c, double timeout, char *err, size_t errlen);
/*
 * Queues one request: payload (a msgpack value) then `tail` bytes sent as
 * part of the same frame (may be NULL). Errors: VG_E_STORE_DOWN (no
 * child), VG_E_STORE_BUSY (max_pending reached), VG_E_INVALID (too large).
 */
int vg_chan_call(vg_chan *c, const void *payload, size_t n, const void *tail, size_t tail_n,
                 vg_chan_cb cb, void *ud);
/* Calls not yet answered. */
size_t vg_chan_pending(const vg_chan *c);
/* The child's pid, or 0 while none runs. */
int vg_chan_pid(const vg_chan *c);
/* Children forked so far after the first (respawns). */
unsigned vg_chan_restarts(const vg_chan *c);
/*
 * Closes the socket so the child finishes its work and exits, waits up
 * to `timeout` seconds for it (blocking: exit paths only), then kills it.
 * Pending callbacks fire with VG_E_STORE_DOWN. Frees c.
 */
void vg_chan_destroy(vg_chan *c, double timeout);

/* For children: the fd arrangement every helper wants (socket on 3, 0/1 on /dev/null, others closed). */
int vg_chan_child_setup(int fd, const char *process_name);

#endif
