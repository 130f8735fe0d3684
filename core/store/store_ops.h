/*
 * store_ops: the numbers of the store's requests (store.h describes each),
 * apart so that what only names them (store/repl_entry.c) needs nothing
 * else of the store.
 */
#ifndef VG_STORE_OPS_H
#define VG_STORE_OPS_H

enum vg_store_op {
    VG_STORE_DET_ADD = 1,
    VG_STORE_USER_CREATE = 2,
    VG_STORE_USER_UPDATE = 3,
    VG_STORE_USER_DELETE = 4,
    VG_STORE_SESSION_CREATE = 5,
    VG_STORE_SESSION_ROTATE = 6,
    VG_STORE_FAMILY_REVOKE = 7,
    VG_STORE_APIKEY_CREATE = 8,
    VG_STORE_APIKEY_REVOKE = 9,
    VG_STORE_FEEDBACK_ADD = 10,
    VG_STORE_SYNC = 11,
    VG_STORE_REPL = 12,
    VG_STORE_OUTBOX_DONE = 13,
    VG_STORE_EVENT_ADD = 14,
    VG_STORE_CAMERA_PUT = 15,
    VG_STORE_UNIQUE_ADD = 16,
};

#endif
