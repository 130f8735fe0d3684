/* ini: see ini.h. */
#include "base/ini.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


static void
trim(char **s, size_t *n)
{
    while (*n > 0 && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}


/*
 * Drops an inline comment from a value: '#' or ';' after a blank, outside
 * double quotes ("v   # why" -> "v"). A quoted value ends at its closing
 * quote; only blanks or such a comment may follow it.
 */
static void
strip_comment(const char *v, size_t *n)
{
    size_t i = 0;
    if (*n > 0 && v[0] == '"') {
        for (i = 1; i < *n && v[i] != '"'; i++)
            if (v[i] == '\\' && i + 1 < *n)
                i++;
        if (i >= *n)
            return;       /* unterminated: unquote() says so */
        i++;
    }
    for (; i < *n; i++) {
        if ((v[i] == '#' || v[i] == ';') && i > 0 && is_blank(v[i - 1])) {
            *n = i;
            while (*n > 0 && is_blank(v[*n - 1]))
                (*n)--;
            return;
        }
    }
}


/* Unquotes in place; returns 0 or -1 when the quoting is broken. */
static int
unquote(char *v, size_t *n)
{
    if (*n == 0 || v[0] != '"')
        return 0;
    if (*n < 2 || v[*n - 1] != '"')
        return -1;
    size_t o = 0;
    for (size_t i = 1; i + 1 < *n; i++) {
        char c = v[i];
        if (c == '\\') {
            if (i + 2 >= *n)
                return -1;
            c = v[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '"': case '\\': break;
            default: return -1;
            }
        } else if (c == '"') {
            return -1;
        }
        v[o++] = c;
    }
    *n = o;
    return 0;
}


int
vg_ini_parse(const char *text, size_t len, vg_ini_cb cb, void *ud, char *err, size_t errlen)
{
    char section[256] = "";
    char line[VG_INI_MAX_LINE + 1];
    size_t pos = 0;
    int lineno = 0;

    if (len > VG_INI_MAX_FILE) {
        snprintf(err, errlen, "file larger than %u bytes", VG_INI_MAX_FILE);
        return -1;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (n > VG_INI_MAX_LINE) {
            snprintf(err, errlen, "%d: line longer than %d bytes", lineno, VG_INI_MAX_LINE);
            return -1;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + (nl ? 1 : 0);
        if (memchr(line, '\0', n)) {
            snprintf(err, errlen, "%d: NUL byte in line", lineno);
            return -1;
        }

        char *s = line;
        trim(&s, &n);
        if (n == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (s[0] == '[') {
            char *close = memchr(s, ']', n);
            if (close) {      /* "[files]   # why": the comment goes */
                size_t after = n - (size_t)(close + 1 - s);
                strip_comment(close, &after);
                if (after == 1)
                    n = (size_t)(close + 1 - s);
            }
            if (s[n - 1] != ']') {
                snprintf(err, errlen, "%d: section header without ']'", lineno);
                return -1;
            }
            char *name = s + 1;
            size_t nn = n - 2;
            trim(&name, &nn);
            if (nn == 0 || nn >= sizeof section) {
                snprintf(err, errlen, "%d: bad section name", lineno);
                return -1;
            }
            memcpy(section, name, nn);
            section[nn] = '\0';
            continue;
        }
        char *eq = memchr(s, '=', n);
        if (!eq) {
            snprintf(err, errlen, "%d: expected 'key = value'", lineno);
            return -1;
        }
        char *key = s;
        size_t kn = (size_t)(eq - s);
        char *val = eq + 1;
        size_t vn = n - kn - 1;
        trim(&key, &kn);
        trim(&val, &vn);
        strip_comment(val, &vn);
        if (kn == 0) {
            snprintf(err, errlen, "%d: empty key", lineno);
            return -1;
        }
        if (unquote(val, &vn) < 0) {
            snprintf(err, errlen, "%d: bad quoting in value", lineno);
            return -1;
        }
        key[kn] = '\0';
        val[vn] = '\0';
        char cberr[512] = "";
        if (cb(ud, section, key, val, lineno, cberr, sizeof cberr) != 0) {
            snprintf(err, errlen, "%d: %s", lineno, cberr[0] ? cberr : "rejected");
            return -1;
        }
    }
    return 0;
}


int
vg_ini_parse_file(const char *path, vg_ini_cb cb, void *ud, char *err, size_t errlen)
{
    int rc = -1;
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out_close;
    }
    if (st.st_size > (off_t)VG_INI_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, VG_INI_MAX_FILE);
        goto out_close;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out_close;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "short read");
            goto out_free;
        }
        got += (size_t)r;
    }
    char perr[512];
    if (vg_ini_parse(text, got, cb, ud, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "%s:%s", path, perr);
        goto out_free;
    }
    rc = 0;
out_free:
    free(text);
out_close:
    close(fd);
    return rc;
}
