/*
 * users_api: user accounts and API keys over HTTP.
 *
 *   GET    /v1/users                          admin: every user
 *   POST   /v1/users                          admin: {"name", "password", "email"?, "role"?} -> 201
 *   GET    /v1/users/{id}                     admin or the user
 *   PUT    /v1/users/{id}                     admin: email, role, disabled, password;
 *                                             the user (an admin on itself too): email,
 *                                             password (with current_password)
 *   DELETE /v1/users/{id}                     admin (not the last admin) -> 204
 *   GET    /v1/users/{id}/profile             admin or the user: the account and its activity
 *   GET    /v1/users/{id}/apikeys             admin or the user
 *   POST   /v1/users/{id}/apikeys             admin or the user: {"name", "role"?, "password"?} -> 201
 *                                             with the key (shown once)
 *   DELETE /v1/users/{id}/apikeys/{kid}       admin or the user -> 204
 *
 * Credentials never grow: a new API key's role is at most its user's and
 * the caller's effective role; an API key scoped below its owner's role may
 * read the account but not manage it (email, password, API keys: 403
 * insufficient_scope); creating a key needs an access token issued less
 * than VG_AUTH_FRESH_TOKEN_S ago or the caller's password in "password"
 * (401 reauth_required), so a stolen token cannot mint lasting access. A
 * new password (auth/password_policy.h) ends the user's sessions and
 * revokes its API keys (store/db.h). A user who must change their
 * password may only do that: PUT on itself with password and
 * current_password.
 *
 * Passwords are hashed with argon2id in the hasher process; writes go
 * through the store; reads are short read-only snapshots (store/store_read.h).
 */
#ifndef VG_USERS_API_H
#define VG_USERS_API_H

#include <stddef.h>

#include "base/jsonw.h"
#include "http/http.h"
#include "store/records.h"
#include "store/store_client.h"

typedef struct vg_users_api vg_users_api;

vg_users_api *vg_users_api_create(vg_http *http, vg_store *store);
void vg_users_api_destroy(vg_users_api *u);

/* Checks a new user name / e-mail; 0, or -1 with a message (passwords: auth/password_policy.h). */
int vg_user_name_valid(const char *s, char *err, size_t errlen);
int vg_user_email_valid(const char *s, char *err, size_t errlen);
/* A user as the API shows it (no hash): id, name, email, role, disabled, created, updated. */
void vg_user_json(vg_jsonw *w, const vg_user *u);

#endif
