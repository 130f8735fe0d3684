/*
 * secret: reads a small secret (a password, an HMAC key) from a file
 * named in the config, once, at start: at most cap - 1 bytes, the
 * trailing newline and blanks cut, NUL-terminated. Blocking file I/O:
 * call it before the reactor runs, never on it.
 */
#ifndef VG_SECRET_H
#define VG_SECRET_H

#include <stddef.h>

/*
 * Returns the secret's length, or -1 with a message in err: the file
 * cannot be read, is empty, or is longer than cap - 1 bytes. Warns in the
 * log when other users may read the file.
 */
long vg_secret_read(const char *path, char *out, size_t cap, char *err, size_t errlen);

#endif
