/*
 * conf_keys: writes vigia.conf(5) at build time. Copies the page template
 * (stdin, paths already substituted) to stdout and puts, at the line
 * `.\" KEYS`, one entry per key of the config table (core/base/config.c,
 * read through vg_config_key_describe): its section, type, bounds,
 * default, flag, environment variable and help. The page is made from the
 * table the binary is built from, so it cannot drift from it.
 *
 *     conf_keys [NAME=PATH]... < vigia.conf.5.in > vigia.conf.5
 *
 * A default "@NAME" (a location the binary computes at start) is shown as
 * the PATH given for NAME. Exit status 0, or 1 when the template has no
 * marker line, a default names a location not given, or writing fails.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"

#define MARKER ".\\\" KEYS"
#define MAX_LINE 4096


/* Text in roff: backslashes escaped, a leading control character made plain. */
static void
put_text(FILE *out, const char *s, int hyphens)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-' && hyphens)
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}


/* A literal (flag, value, variable): bold, with minus signs that copy and paste. */
static void
put_bold(FILE *out, const char *s)
{
    fputs("\\fB", out);
    put_text(out, s, 1);
    fputs("\\fR", out);
}


/* "K", "M", "G" multiples as the config reads them: 1048576 -> "1M". */
static void
fmt_size(char *b, size_t n, double v)
{
    static const struct { double mul; const char *unit; } u[] = {
        { 1024.0 * 1024 * 1024, "G" }, { 1024.0 * 1024, "M" }, { 1024.0, "K" },
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (v >= u[i].mul && fmod(v, u[i].mul) == 0) {
            snprintf(b, n, "%.15g%s", v / u[i].mul, u[i].unit);
            return;
        }
    snprintf(b, n, "%.15g", v);
}


/* Seconds in the largest unit that divides them: 86400 -> "1d", 0.01 -> "10ms". */
static void
fmt_seconds(char *b, size_t n, double v)
{
    static const struct { double mul; const char *unit; } u[] = {
        { 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" },
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (v >= u[i].mul && fmod(v, u[i].mul) == 0) {
            snprintf(b, n, "%.15g%s", v / u[i].mul, u[i].unit);
            return;
        }
    snprintf(b, n, v == 0 ? "0" : "%.15gms", v * 1000);
}


static void
fmt_bound(char *b, size_t n, const vg_config_key_desc *k, double v)
{
    if (strcmp(k->type, "size") == 0)
        fmt_size(b, n, v);
    else if (strcmp(k->type, "duration") == 0)
        fmt_seconds(b, n, v);
    else
        snprintf(b, n, "%.15g", v);
}


static const char *
location(const char *name, int argc, char **argv)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}


/* The type line: "integer, 1 to 1000000" or "one of debug, info, warn, error". */
static void
put_type(FILE *out, const vg_config_key_desc *k)
{
    if (k->choices) {
        fputs("One of ", out);
        const char *p = k->choices;
        while (*p) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)len, p);
            if (p != k->choices)
                fputs(bar ? ", " : " or ", out);
            put_bold(out, word);
            p += len + (bar ? 1 : 0);
        }
        fputs(".\n", out);
        return;
    }
    if (strcmp(k->type, "boolean") == 0) {
        fputs("Boolean: \\fBtrue\\fR, \\fByes\\fR, \\fBon\\fR, \\fB1\\fR or \\fBfalse\\fR, \\fBno\\fR, \\fBoff\\fR, \\fB0\\fR.\n",
              out);
        return;
    }
    if (strcmp(k->type, "list") == 0) {
        fprintf(out, "A comma-separated list%s.\n", k->min > 0 ? " of at least one entry" : "");
        return;
    }
    if (strcmp(k->type, "string") == 0) {
        fputs("Text.\n", out);
        return;
    }
    char lo[64], hi[64];
    fmt_bound(lo, sizeof lo, k, k->min);
    fmt_bound(hi, sizeof hi, k, k->max);
    fprintf(out, "A%s %s from ", strcmp(k->type, "integer") == 0 ? "n" : "", k->type);
    put_bold(out, lo);
    fputs(" to ", out);
    put_bold(out, hi);
    fputs(".\n", out);
}


static int
put_key(FILE *out, const vg_config_key_desc *k, int argc, char **argv)
{
    char flag[128], env[128];
    snprintf(flag, sizeof flag, "--%s-%s", k->section, k->name);
    for (char *p = flag; *p; p++)
        if (*p == '_')
            *p = '-';
    snprintf(env, sizeof env, "VIGIA_%s_%s", k->section, k->name);
    for (char *p = env; *p; p++)
        *p = (char)toupper((unsigned char)*p);

    fputs(".TP\n.B ", out);
    put_text(out, k->name, 1);
    fputc('\n', out);
    put_text(out, k->help, 0);
    size_t hl = strlen(k->help);
    fputs(hl && k->help[hl - 1] == '.' ? "\n" : ".\n", out);
    fputs(".br\n", out);
    put_type(out, k);
    fputs("Default: ", out);
    if (k->def[0] == '@') {
        const char *path = location(k->def + 1, argc, argv);
        if (!path) {
            fprintf(stderr, "conf_keys: %s.%s defaults to the location '%s': give %s=PATH\n", k->section,
                    k->name, k->def + 1, k->def + 1);
            return -1;
        }
        put_bold(out, path);
        fputs(" (installed; see \\fBFILES\\fR)", out);
    } else if (k->def[0]) {
        put_bold(out, k->def);
    } else {
        fputs("empty", out);
    }
    fputs(".\n.br\nFlag ", out);
    put_bold(out, flag);
    if (k->alias) {
        char alias[64];
        snprintf(alias, sizeof alias, "--%s", k->alias);
        fputs(" or ", out);
        put_bold(out, alias);
    }
    fputs(", environment ", out);
    put_bold(out, env);
    fputs(".\n", out);
    return 0;
}


/* The keys, one subsection per section in table order. */
static int
put_keys(FILE *out, int argc, char **argv)
{
    vg_config_key_desc k;
    const char *section = NULL;
    for (size_t i = 0; vg_config_key_describe(i, &k) == 0; i++) {
        if (!section || strcmp(section, k.section) != 0) {
            section = k.section;
            fprintf(out, ".SS [%s]\n", section);
        }
        if (put_key(out, &k, argc, argv) < 0)
            return -1;
    }
    return 0;
}


int
main(int argc, char **argv)
{
    char line[MAX_LINE];
    int marked = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, MARKER, strlen(MARKER)) == 0 && strchr("\r\n", line[strlen(MARKER)])) {
            if (marked || put_keys(stdout, argc, argv) < 0)
                return 1;
            marked = 1;
            continue;
        }
        fputs(line, stdout);
    }
    if (!marked) {
        fprintf(stderr, "conf_keys: the template has no line '%s'\n", MARKER);
        return 1;
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
