/*
 * api_support: what the tests of the store's HTTP routes share: a server
 * with an admin "root" (ADMIN_PW) made by `vigia user add`, one JSON
 * request per connection (from 127.0.0.1 or another loopback address), a
 * login, and an expected answer. Each fails the current cmocka test on
 * anything it cannot report. Include after <cmocka.h> and "support.h".
 */
#ifndef VG_TEST_API_SUPPORT_H
#define VG_TEST_API_SUPPORT_H

#include <jansson.h>

#include "support.h"

#define ADMIN_PW "correct horse battery"

/* `vigia user add --admin root` with ADMIN_PW into the data directory `data`. */
void as_make_admin(const char *data);
/*
 * Starts the server on a fresh data directory with the admin, fast argon2
 * and the `extra` arguments (NULL-terminated, may be NULL); the directory
 * goes to data_out (300 bytes) when it is not NULL.
 */
void as_spawn_with_admin(ts_server *s, const char *const *extra, char *data_out);

/*
 * One request (method, path, optional bearer credential, optional JSON
 * body) on its own connection; the status (-1 when no answer came), the
 * answer in r (ts_resp_free it).
 */
int as_call(int port, const char *method, const char *path, const char *token, const char *body, ts_resp *r);
/* The same from the loopback address `from` ("127.0.0.2"): another client address. */
int as_call_from(const char *from, int port, const char *method, const char *path, const char *token,
                 const char *body, ts_resp *r);
/* The answer's body as JSON (json_decref it). */
json_t *as_body_json(const ts_resp *r);
/* Fails unless the answer has `status` and, when code is not NULL, its body holds `code`. */
void as_expect(int port, const char *method, const char *path, const char *token, const char *body, int status,
               const char *code);
/*
 * Starts the server once on a fresh, empty data directory and stops it:
 * the one-time password of the first admin "admin" it printed goes to pw.
 * Then starts s on that directory (it prints nothing more).
 */
void as_first_start(ts_server *s, char pw[64]);
/* Logs in as "admin" with pw, waiting while its hash is still on its way; the 200 answer in r. */
void as_first_admin_login(int port, const char *pw, ts_resp *r);
/* Logs in; the access token (malloc'd) and, when refresh is not NULL, the refresh token. */
char *as_login(int port, const char *user, const char *pw, char **refresh);

#endif
