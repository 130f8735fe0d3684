/*
 * offline: the users' records read and changed without the store process,
 * by the command line (`vigia user add|list|passwd|role|del`). A change
 * opens the environment as a writer for one short write transaction; LMDB
 * serialises it with a running store's writes across processes, and the
 * running server sees it at its next request (it checks every token
 * against the store).
 *
 * Each returns 0, a VG_E_* code, or VG_E_SCHEMA with a message in err when
 * the database cannot be opened (or, but for user_add, is not there yet).
 */
#ifndef VG_OFFLINE_H
#define VG_OFFLINE_H

#include <stddef.h>

#include "store/records.h"

/* Where the database is and how far its map may grow. */
typedef struct vg_offline {
    const char *data_dir;
    size_t map_size, map_max;
} vg_offline;

/* Creates user u (its hash already set); assigns u->id. VG_E_CONFLICT when the name or email is taken. */
int vg_offline_user_add(const vg_offline *o, vg_user *u, char *err, size_t errlen);
/* Calls fn for each user in id order; stops early when fn returns non-zero. */
int vg_offline_user_list(const vg_offline *o, int (*fn)(const vg_user *u, void *ud), void *ud, char *err,
                         size_t errlen);
/*
 * Applies p to the user named login (name or email, any case) and leaves the
 * result in out. VG_E_NOTFOUND, VG_E_LASTADMIN (the last active admin
 * demoted). A new password ends the user's sessions and revokes its keys.
 */
int vg_offline_user_update(const vg_offline *o, const char *login, const vg_user_patch *p, vg_user *out,
                           char *err, size_t errlen);
/* Removes the user named login (its detections stay); out is the removed record. VG_E_NOTFOUND, VG_E_LASTADMIN. */
int vg_offline_user_delete(const vg_offline *o, const char *login, vg_user *out, char *err, size_t errlen);

#endif
