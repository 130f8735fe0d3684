/*
 * offline: changes made to the database without the store process, by the
 * command line (`vigia user add`). They open the environment as a writer
 * for one short write transaction; LMDB serialises them with a running
 * store's writes across processes.
 */
#ifndef VG_OFFLINE_H
#define VG_OFFLINE_H

#include <stddef.h>

#include "store/records.h"

/*
 * Creates user u (its hash already set) in DATA/db, growing the map up to
 * map_max when it is full; assigns u->id. Returns 0, VG_E_CONFLICT when the
 * name or email is taken, another VG_E_* code, or VG_E_SCHEMA with a
 * message in err when the database cannot be opened.
 */
int vg_offline_user_add(const char *data_dir, size_t map_size, size_t map_max, vg_user *u, char *err,
                        size_t errlen);

#endif
