/*
 * ini: a bounded INI reader for the config file and model manifests.
 *
 * Syntax: "[section]" headers; "key = value" lines; comments start with
 * '#' or ';' at the beginning of a line (after blanks) or after a blank
 * inside a value ("workers = 2   # one per core"); blank lines are
 * ignored. Values are trimmed; a value in double quotes keeps inner blanks,
 * '#' and ';', and understands \" \\ \n \t. Keys before any section belong
 * to section "".
 */
#ifndef VG_INI_H
#define VG_INI_H

#include <stddef.h>

#define VG_INI_MAX_FILE (1u << 20)  /* largest file read, bytes */
#define VG_INI_MAX_LINE 4096        /* longest line, bytes */

/*
 * Called once per key in file order. The strings are NUL-terminated and
 * valid only during the call. Return 0 to go on; non-zero stops the parse,
 * which then returns -1 with whatever the callback wrote into err.
 */
typedef int (*vg_ini_cb)(void *ud, const char *section, const char *key,
                         const char *value, int line, char *err, size_t errlen);

/* Returns 0, or -1 with "LINE: what" in err (NUL-terminated). */
int vg_ini_parse(const char *text, size_t len, vg_ini_cb cb, void *ud,
                 char *err, size_t errlen);
/* Reads `path` (at most VG_INI_MAX_FILE bytes) and parses it; errors start with the path. */
int vg_ini_parse_file(const char *path, vg_ini_cb cb, void *ud, char *err, size_t errlen);

#endif
