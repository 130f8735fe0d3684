/*
 * store_write: the master's writes, one call per store request (the
 * request formats are in store/store.h). Each sends its request through
 * vg_store_call(): it returns 0 and cb fires once the store committed the
 * write (status 0, `rest` reading the answer's elements after the status)
 * or failed (a VG_E_* status), or it returns an error and cb never fires.
 * Arguments are copied before the call returns.
 */
#ifndef VG_STORE_WRITE_H
#define VG_STORE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "store/records.h"
#include "store/store_client.h"

/*
 * A detection: its index and aggregate inputs, the encoded record (whose
 * last entry is "img": a 32-byte bin the store fills in, or nil) and the
 * image to keep (NULL: none), sent from the caller's buffer.
 */
int vg_store_detection_add(vg_store *s, const vg_det_meta *m, const void *rec, size_t n, const void *image,
                           size_t image_len, vg_store_cb cb, void *ud);
/* A track event (its JSON, docs/events.md) under a time-ordered key. */
int vg_store_event_add(vg_store *s, const uint8_t key[VG_DB_DETKEY], const void *json, size_t n, vg_store_cb cb,
                       void *ud);
/* A named camera's zones and lines ({"zones", "lines"} JSON; n == 0 removes them). */
int vg_store_camera_put(vg_store *s, const char *id, const void *json, size_t n, vg_store_cb cb, void *ud);
/* Feedback `key` by uid on detection det (VG_E_NOTFOUND when it does not exist). */
int vg_store_feedback_add(vg_store *s, const uint8_t key[VG_DB_DETKEY], const uint8_t det[VG_DB_DETKEY], uint64_t uid,
                          const void *rec, size_t n, vg_store_cb cb, void *ud);
/* A new user (name, email, role, hash, created, must_change); the answer holds its id. */
int vg_store_user_create(vg_store *s, const vg_user *u, vg_store_cb cb, void *ud);
int vg_store_user_update(vg_store *s, uint64_t uid, const vg_user_patch *p, vg_store_cb cb, void *ud);
int vg_store_user_delete(vg_store *s, uint64_t uid, vg_store_cb cb, void *ud);
/* Opens login session `family` of uid with a refresh token (its SHA-256) valid until `expires`. */
int vg_store_session_create(vg_store *s, const uint8_t hash[32], uint64_t uid, const uint8_t family[VG_DB_FAMILY],
                            int64_t expires, int64_t now, vg_store_cb cb, void *ud);
/*
 * Spends refresh token old_hash for new_hash (rotation; the answer holds the
 * uid and family); a token spent twice revokes its session (VG_E_TOKEN_REUSED),
 * unless it comes back within `grace` seconds with its successor unused
 * (vg_db_session_rotate).
 */
int vg_store_session_rotate(vg_store *s, const uint8_t old_hash[32], const uint8_t new_hash[32], int64_t now,
                            int64_t expires, int64_t grace, vg_store_cb cb, void *ud);
/* Ends a login session (logout). */
int vg_store_family_revoke(vg_store *s, uint64_t uid, const uint8_t family[VG_DB_FAMILY], vg_store_cb cb, void *ud);
/* A new API key of k->uid (name, role, prefix, created) with this SHA-256; the answer holds its id. */
int vg_store_apikey_create(vg_store *s, const uint8_t hash[32], const vg_apikey *k, vg_store_cb cb, void *ud);
int vg_store_apikey_revoke(vg_store *s, uint64_t uid, uint64_t kid, vg_store_cb cb, void *ud);
/*
 * One unique tracked object of `label` and/or one person track's colours,
 * counted in the aggregates' hour and day of t_ms (unix ms); NULL or ""
 * leaves that part out. Strings longer than VG_DB_LABEL_MAX are refused.
 */
int vg_store_unique_add(vg_store *s, uint64_t t_ms, const char *label, const char *upper, const char *lower,
                        vg_store_cb cb, void *ud);

#endif
