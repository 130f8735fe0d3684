/*
 * libFuzzer harness for the model manifest (core/pipeline/model.c): the input
 * is NAME/model.conf of a model whose names file holds two labels.
 *
 * Invariants:
 *  - vg_model_load returns 0, VG_E_MANIFEST or -ENOMEM; a refusal names the
 *    manifest, and a line it names lies within the file;
 *  - on success every key has its line within the file; `devices` are in
 *    [0, 255], at most VG_MODEL_MAX_DEVICES, and vg_model_device() picks one;
 *  - the typed getters on every key answer 0 or VG_E_MANIFEST, a refusal
 *    reading "MANIFEST:LINE: KEY: ..." with that key's line; a string
 *    without choices is the raw value; a bool is 0 or 1; a number lies in
 *    its range;
 *  - vg_model_check_section(model, "x", {"a"}) refuses exactly when [x]
 *    holds a key other than a, and names it.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "pipeline/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[] = "/tmp/vigia-fuzz-model-XXXXXX";
static char dir[PATH_MAX], manifest[PATH_MAX];
static int ready;


static void
put(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        abort();
}


static int
count_lines(const uint8_t *data, size_t size)
{
    int n = 1;
    for (size_t i = 0; i < size; i++)
        n += data[i] == '\n';
    return n;
}


/* "MANIFEST:LINE: KEY: " with the key's own line, or "MANIFEST: KEY: " when it has none. */
static void
check_key_error(const vg_model *m, size_t i, const char *err)
{
    char want[PATH_MAX + 600];
    if (m->lines[i])
        snprintf(want, sizeof want, "%s:%d: %s: ", manifest, m->lines[i], m->keys[i]);
    else
        snprintf(want, sizeof want, "%s: %s: ", manifest, m->keys[i]);
    if (strncmp(err, want, strlen(want)) != 0)
        abort();
}


static void
check_model(const vg_model *m, int lines)
{
    char err[2048];
    static const char *const choices[] = { "a", "b", NULL };
    static const char *const section_keys[] = { "a", NULL };
    int other = 0;
    if (m->ndevices < 0 || m->ndevices > VG_MODEL_MAX_DEVICES)
        abort();
    for (int i = 0; i < m->ndevices; i++)
        if (m->devices[i] < 0 || m->devices[i] > 255)
            abort();
    if (m->ndevices ? vg_model_device(m, 7) != m->devices[7 % m->ndevices] : vg_model_device(m, 7) != -1)
        abort();
    for (size_t i = 0; i < m->nkeys; i++) {
        const char *k = m->keys[i];
        long long iv;
        double fv;
        int bv, rc;
        const char *sv;
        if (m->lines[i] < 1 || m->lines[i] > lines)
            abort();
        other |= strncmp(k, "x.", 2) == 0 && strcmp(k, "x.a") != 0;
        if ((rc = vg_model_get_int(m, k, -5, 5, 0, &iv, err, sizeof err)) == 0 ? iv < -5 || iv > 5 : rc != VG_E_MANIFEST)
            abort();
        if (rc)
            check_key_error(m, i, err);
        if ((rc = vg_model_get_float(m, k, 0, 1, 0.5, &fv, err, sizeof err)) == 0 ? !(fv >= 0 && fv <= 1)
                                                                                   : rc != VG_E_MANIFEST)
            abort();
        if (rc)
            check_key_error(m, i, err);
        if ((rc = vg_model_get_bool(m, k, 1, &bv, err, sizeof err)) == 0 ? bv != 0 && bv != 1 : rc != VG_E_MANIFEST)
            abort();
        if (rc)
            check_key_error(m, i, err);
        if ((rc = vg_model_get_string(m, k, choices, "b", &sv, err, sizeof err)) == 0
                ? strcmp(sv, "a") != 0 && strcmp(sv, "b") != 0 : rc != VG_E_MANIFEST)
            abort();
        if (rc)
            check_key_error(m, i, err);
        if (vg_model_get_string(m, k, NULL, "d", &sv, err, sizeof err) != 0 ||
            strcmp(sv, m->values[i][0] ? m->values[i] : "d") != 0)
            abort();
    }
    int rc = vg_model_check_section(m, "x", section_keys, "fz", err, sizeof err);
    if (rc != (other ? VG_E_MANIFEST : 0) || (rc && !strstr(err, "unknown key '")))
        abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[2048];
    if (!ready) {
        vg_log_set_level(VG_LOG_OFF);
        if (!mkdtemp(root))
            abort();
        snprintf(dir, sizeof dir, "%s/m", root);
        snprintf(manifest, sizeof manifest, "%s/model.conf", dir);
        if (mkdir(dir, 0700) != 0)
            abort();
        char names[PATH_MAX + 8];
        snprintf(names, sizeof names, "%s/n", dir);
        put(names, "a\nb\n", 4);
        ready = 1;
    }
    put(manifest, data, size);
    vg_model *m = NULL;
    int rc = vg_model_load(dir, &m, err, sizeof err);
    if (rc == 0) {
        check_model(m, count_lines(data, size));
        vg_model_destroy(m);
        return 0;
    }
    if (m || (rc != VG_E_MANIFEST && rc != -ENOMEM))
        abort();
    if (rc == VG_E_MANIFEST && strncmp(err, manifest, strlen(manifest)) != 0)
        abort();
    return 0;
}
