/*
 * backends/cpu/cfg.c: the darknet .cfg reader.
 *
 * The format as darknet reads it: one item per line, all whitespace inside a
 * line ignored, `[type]` opens a section, `key=value` adds an option to the
 * current section, lines starting with `#` or `;` and empty lines are
 * skipped. What darknet tolerates silently (a line without `=`, an option
 * before any section, a duplicated key) is an error here, with its line
 * number; the size of the file, of a line and the counts of sections and
 * options are bounded (engine.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int vgc_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}


static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}


static int is_net(const char *type)
{
    return strcmp(type, "net") == 0 || strcmp(type, "network") == 0;
}


/* What a raw line holds, judged by its first non-blank character. */
enum line_kind { LINE_SKIP, LINE_SECTION, LINE_OPTION };

static enum line_kind classify(const char *s, const char *e)
{
    while (s < e && is_space(*s))
        s++;
    if (s == e || *s == '#' || *s == ';')
        return LINE_SKIP;
    return *s == '[' ? LINE_SECTION : LINE_OPTION;
}


/* Pass 1: check sizes and count sections and options. */
static int count_items(const char *text, size_t len, int *nsec, int *nopt,
                       char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int line = 0, sections = 0, options = 0, in_section = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;

        line++;
        if ((size_t)(e - p) > VGC_CFG_MAX_LINE)
            return vgc_fail(err, errlen, VIGIA_EINVAL,
                            "cfg line %d is longer than %d characters", line, VGC_CFG_MAX_LINE);
        if (memchr(p, '\0', (size_t)(e - p)))
            return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg line %d holds a NUL byte", line);
        switch (classify(p, e)) {
        case LINE_SECTION:
            if (++sections > VGC_MAX_LAYERS + 1)
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: more than %d layers", line, VGC_MAX_LAYERS);
            in_section = 0;
            break;
        case LINE_OPTION:
            if (++in_section > VGC_MAX_OPTIONS)
                return vgc_fail(err, errlen, VIGIA_EINVAL,
                                "cfg line %d: more than %d options in one section", line,
                                VGC_MAX_OPTIONS);
            options++;
            break;
        case LINE_SKIP:
            break;
        }
        p = nl ? nl + 1 : end;
    }
    *nsec = sections;
    *nopt = options;
    return 0;
}


/* Remove every whitespace character of [s, e) in place and NUL-terminate. */
static char *strip(char *s, char *e)
{
    char *w = s;

    for (char *r = s; r < e; r++)
        if (!is_space(*r))
            *w++ = *r;
    *w = '\0';
    return s;
}


int vgc_cfg_parse(vgc_cfg *cfg, const char *text, size_t len, char *err, size_t errlen)
{
    int nsec = 0, nopt = 0, line = 0, used = 0, rc;
    char *p, *end;
    vgc_section *cur = NULL;

    memset(cfg, 0, sizeof *cfg);
    if (len > VGC_CFG_MAX_BYTES)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "cfg is %zu bytes, more than the %u allowed",
                        len, VGC_CFG_MAX_BYTES);
    rc = count_items(text, len, &nsec, &nopt, err, errlen);
    if (rc < 0)
        return rc;
    if (nsec == 0) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "cfg has no sections");
        goto fail;
    }
    cfg->buf = malloc(len + 1);
    cfg->sec = calloc((size_t)nsec, sizeof *cfg->sec);
    cfg->kvs = calloc(nopt ? (size_t)nopt : 1, sizeof *cfg->kvs);
    if (!cfg->buf || !cfg->sec || !cfg->kvs) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory reading the cfg");
        goto fail;
    }
    memcpy(cfg->buf, text, len);
    cfg->buf[len] = '\0';

    p = cfg->buf;
    end = cfg->buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        enum line_kind kind = classify(p, e);
        char *s;

        line++;
        if (kind == LINE_SKIP) {
            p = nl ? nl + 1 : end;
            continue;
        }
        s = strip(p, e);
        if (kind == LINE_SECTION) {
            size_t n = strlen(s);

            if (n < 3 || s[n - 1] != ']') {
                rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                              "cfg line %d: a section header is `[name]`", line);
                goto fail;
            }
            s[n - 1] = '\0';
            cur = &cfg->sec[cfg->nsec++];
            cur->type = s + 1;
            cur->line = line;
            cur->kv = cfg->kvs + used;
            cur->nkv = 0;
        } else {
            char *eq = strchr(s, '=');
            vgc_kv *kv;

            if (!cur) {
                rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                              "cfg line %d: option before the first section", line);
                goto fail;
            }
            if (!eq || eq == s) {
                rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                              "cfg line %d: expected `key=value`", line);
                goto fail;
            }
            *eq = '\0';
            for (int i = 0; i < cur->nkv; i++) {
                if (strcmp(cur->kv[i].key, s) == 0 && is_net(cur->type)) {
                    /* darknet keeps the first; [net] holds only training settings twice */
                    goto next;
                }
                if (strcmp(cur->kv[i].key, s) == 0) {
                    rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                                  "cfg line %d: `%s` is already set in this [%s] (line %d)",
                                  line, s, cur->type, cur->kv[i].line);
                    goto fail;
                }
            }
            kv = &cur->kv[cur->nkv++];
            used++;
            kv->key = s;
            kv->val = eq + 1;
            kv->line = line;
            kv->used = 0;
        }
next:
        p = nl ? nl + 1 : end;
    }
    return 0;

fail:
    vgc_cfg_release(cfg);
    return rc;
}


void vgc_cfg_release(vgc_cfg *cfg)
{
    free(cfg->buf);
    free(cfg->sec);
    free(cfg->kvs);
    memset(cfg, 0, sizeof *cfg);
}
