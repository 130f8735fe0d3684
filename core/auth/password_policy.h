/*
 * password_policy: which new passwords an account may have. One check,
 * used wherever a password is set (POST /v1/users, PUT /v1/users/{id},
 * `vigia user add`); logins never run it, so accounts made before a rule
 * existed still sign in.
 *
 * A new password is refused when it is
 *   - shorter than 8 bytes, longer than VG_STORE_MAX_PASSWORD, or holds a NUL;
 *   - made of whitespace only, or of one character repeated ("aaaaaaaa");
 *   - the user's name, or contains it (case-insensitively; names of 3
 *     characters or more, so that "al" does not rule out half the language);
 *   - one of a built-in list of the most common passwords, compared
 *     case-insensitively, also with trailing digits and symbols removed
 *     ("Sunshine2024!" is "sunshine").
 */
#ifndef VG_PASSWORD_POLICY_H
#define VG_PASSWORD_POLICY_H

#include <stddef.h>

#define VG_PASSWORD_MIN 8

/*
 * Checks password pw (n bytes) for the user `name` (NULL: no name known).
 * 0, or -1 with a message for the client in err (what to choose instead).
 */
int vg_password_policy_check(const char *pw, size_t n, const char *name, char *err, size_t errlen);

/* 1 when pw (n bytes) is on the built-in list of common passwords, as above. */
int vg_password_is_common(const char *pw, size_t n);

#endif
