/*
 * store_client: the master's side of the store. Starts the store process
 * and the password hasher (core/store/store.h) at start-up, before any listener
 * exists, opens its own read-only LMDB environment once the store has
 * created or migrated the database, and offers:
 *
 *   - asynchronous writes: vg_store_call() queues a request; its callback
 *     runs after the store committed it (fsync'd), with the answer;
 *   - reads: store/store_read.h, each in its own short read-only snapshot
 *     (never across loop turns);
 *   - password hashing and verification in the hasher process.
 *
 * Nothing here blocks the loop, except vg_store_create() and
 * vg_store_destroy() (start-up and exit). Callbacks follow chan.h: a call
 * that fails returns the error and never fires its callback.
 */
#ifndef VG_STORE_CLIENT_H
#define VG_STORE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/mpk.h"
#include "store/store.h"

struct ev_loop;
typedef struct vg_store vg_store;

typedef struct vg_store_options {
    vg_store_config store;          /* for the store process */
    vg_hasher_config hasher;        /* for the hasher process */
    size_t max_pending;             /* writes waiting for the store; more: VG_E_STORE_BUSY */
    size_t max_hash_pending;        /* hashing requests waiting; more: VG_E_STORE_BUSY */
} vg_store_options;

int vg_store_create(struct ev_loop *loop, const vg_store_options *o, vg_store **out, char *err, size_t errlen);
/* Lets the store commit what it has and exit (waits a few seconds at most). */
void vg_store_destroy(vg_store *s);

const char *vg_store_data_dir(const vg_store *s);

/*
 * The answer to a store request: status 0 or VG_E_*; `rest` reads the
 * answer's elements after the status (NULL when the store is unreachable).
 */
typedef void (*vg_store_cb)(int status, vg_mpr *rest, void *ud);
/* Sends msg (a msgpack array [op, ...]) followed by `tail` bytes (part of its last element). */
int vg_store_call(vg_store *s, const void *msg, size_t n, const void *tail, size_t tail_n,
                  vg_store_cb cb, void *ud);

/* Hashing: status 0 and the encoded hash, or an error. */
int vg_store_hash(vg_store *s, const char *pw, size_t n,
                  void (*cb)(int status, const char *encoded, void *ud), void *ud);
/* Verification: status 0 and ok (1 match, 0 not), or an error. */
int vg_store_verify(vg_store *s, const char *encoded, const char *pw, size_t n,
                    void (*cb)(int status, int ok, void *ud), void *ud);

/*
 * Hears each replicated write once the store committed it (store/repl.h):
 * `entry` (n bytes, valid during the call) is what another node's store
 * applies. Runs before the write's own callback. NULL cb: none.
 */
typedef void (*vg_store_commit_cb)(const void *entry, size_t n, void *ud);
void vg_store_on_commit(vg_store *s, vg_store_commit_cb cb, void *ud);

size_t vg_store_pending(const vg_store *s);
/* The store process's pid (tests kill it), 0 while none runs. */
int vg_store_pid(const vg_store *s);

#endif
