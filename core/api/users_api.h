/*
 * users_api: user accounts and API keys over HTTP.
 *
 *   GET    /v1/users                          admin: every user
 *   POST   /v1/users                          admin: {"name", "password", "email"?, "role"?} -> 201
 *   GET    /v1/users/{id}                     admin or the user
 *   PUT    /v1/users/{id}                     admin: email, role, disabled, password;
 *                                             the user: email, password (with current_password)
 *   DELETE /v1/users/{id}                     admin (not the last admin) -> 204
 *   GET    /v1/users/{id}/profile             admin or the user: the account and its activity
 *   GET    /v1/users/{id}/apikeys             admin or the user
 *   POST   /v1/users/{id}/apikeys             admin or the user: {"name", "role"?} -> 201 with the key (shown once)
 *   DELETE /v1/users/{id}/apikeys/{kid}       admin or the user -> 204
 *
 * Passwords are hashed with argon2id in the hasher process; writes go
 * through the store; reads are short read-only snapshots (store/store_read.h).
 */
#ifndef VG_USERS_API_H
#define VG_USERS_API_H

#include <stddef.h>

#include "http/http.h"
#include "store/store_client.h"

typedef struct vg_users_api vg_users_api;

vg_users_api *vg_users_api_create(vg_http *http, vg_store *store);
void vg_users_api_destroy(vg_users_api *u);

/* Checks a new user name / e-mail / password; 0, or -1 with a message. */
int vg_user_name_valid(const char *s, char *err, size_t errlen);
int vg_user_email_valid(const char *s, char *err, size_t errlen);
int vg_user_password_valid(const char *s, size_t n, char *err, size_t errlen);

#endif
