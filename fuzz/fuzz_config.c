/*
 * libFuzzer harness for the config file: the INI reader (core/base/ini.c) and
 * the settings table (core/base/config.c, vg_config_load with a file).
 *
 * The input is the file. Invariants:
 *  - vg_ini_parse hands over keys in file order with non-decreasing line
 *    numbers within the file's line count; section and key are non-empty
 *    (but for section "" before any header), hold no newline and have no
 *    blanks at their ends; a failure says why ("LINE: what");
 *  - when vg_config_load accepts the file, what vg_config_print writes
 *    (vigia --check-config) is itself a config file that loads, and
 *    printing that gives the same text again: the effective settings
 *    survive a print/load round trip.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/ini.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;
static char path[] = "/tmp/vigia-fuzz-config-XXXXXX";
static int ready;

struct seen {
    int lines;                     /* lines in the text */
    int last;                      /* line of the previous key */
    int keys;
};


static int
blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


static int
on_key(void *ud, const char *section, const char *key, const char *value, int line, char *err, size_t errlen)
{
    (void)value;
    (void)err;
    (void)errlen;
    struct seen *s = ud;
    size_t kn = strlen(key), sn = strlen(section);
    if (line < s->last || line < 1 || line > s->lines)
        abort();
    if (kn == 0 || strchr(key, '\n') || blank(key[0]) || blank(key[kn - 1]))
        abort();
    if (strchr(section, '\n') || (sn && (blank(section[0]) || blank(section[sn - 1]))))
        abort();
    s->last = line;
    s->keys++;
    return 0;
}


static void
write_file(const char *text, size_t n)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || (n && write(fd, text, n) != (ssize_t)n))
        abort();
    close(fd);
}


static char *
print(const vg_config *c, size_t *n)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, n);
    if (!f)
        abort();
    vg_config_print(c, f);
    fclose(f);
    return text;
}


static void
setup(void)
{
    vg_log_set_level(VG_LOG_OFF);
    /* settings from the environment would change every answer */
    for (int i = 0; environ[i];) {
        if (strncmp(environ[i], "VIGIA_", 6) == 0) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(environ[i], "="), environ[i]);
            unsetenv(name);
        } else {
            i++;
        }
    }
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    ready = 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size > 65536)
        return 0;
    const char *text = (const char *)data;
    char err[1024] = "";

    struct seen s = { 1, 0, 0 };
    for (size_t i = 0; i < size; i++)
        s.lines += text[i] == '\n';
    if (vg_ini_parse(text, size, on_key, &s, err, sizeof err) < 0 && (err[0] < '1' || err[0] > '9'))
        abort();   /* an error without its line number */

    write_file(text, size);
    vg_config *c = calloc(1, sizeof *c);
    vg_config_init(c);
    char *rest[1];
    int nrest = 0;
    if (vg_config_load(c, path, 0, NULL, rest, &nrest, err, sizeof err) == 0) {
        size_t n1, n2;
        char *p1 = print(c, &n1);
        write_file(p1, n1);
        vg_config *d = calloc(1, sizeof *d);
        vg_config_init(d);
        if (vg_config_load(d, path, 0, NULL, rest, &nrest, err, sizeof err) != 0) {
            fprintf(stderr, "printed config refused: %s\n%s", err, p1);
            abort();
        }
        char *p2 = print(d, &n2);
        if (n1 != n2 || memcmp(p1, p2, n1) != 0) {
            fprintf(stderr, "printed config changed on reload:\n%s\n----\n%s", p1, p2);
            abort();
        }
        free(p1);
        free(p2);
        vg_config_release(d);
        free(d);
    } else if (!err[0]) {
        abort();
    }
    vg_config_release(c);
    free(c);
    return 0;
}
