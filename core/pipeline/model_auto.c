/*
 * model_auto: finding the graph and the labels of a model directory
 * without a manifest (see model_auto.h).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/model_auto.h"

/* Whether name ends in suffix (and is more than it). */
static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);

    return n > s && strcmp(name + n - s, suffix) == 0;
}


/* Whether dir/name is a regular file (links followed). */
static int is_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}


int vg_model_auto_find(const char *dir, char *onnx, size_t onnxlen, char *labels, size_t labelslen,
                       char *why, size_t whylen)
{
    char dummy[8];
    int nonnx = 0, nlabels = 0, entries = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (!why) {
        why = dummy;
        whylen = sizeof dummy;
    }
    if (!d) {
        snprintf(why, whylen, "%s: %s", dir, strerror(errno));
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        int is_onnx = ends_with(de->d_name, ".onnx");
        int is_labels = ends_with(de->d_name, ".txt") || ends_with(de->d_name, ".names");
        if (de->d_name[0] == '.')
            continue;
        if (++entries > VG_MODEL_AUTO_MAX_ENTRIES) {
            snprintf(why, whylen, "more than %d files", VG_MODEL_AUTO_MAX_ENTRIES);
            closedir(d);
            return 0;
        }
        if ((!is_onnx && !is_labels) || !is_file(dir, de->d_name))
            continue;
        if (is_onnx && nonnx++ == 0)
            snprintf(onnx, onnxlen, "%s", de->d_name);
        if (is_labels && nlabels++ == 0)
            snprintf(labels, labelslen, "%s", de->d_name);
        if (strlen(de->d_name) >= (is_onnx ? onnxlen : labelslen)) {
            snprintf(why, whylen, "a file name longer than %zu bytes", (is_onnx ? onnxlen : labelslen) - 1);
            closedir(d);
            return 0;
        }
    }
    closedir(d);
    if (nonnx != 1 || nlabels != 1) {
        snprintf(why, whylen, "no model.conf, and %d .onnx files and %d labels files (.txt, .names); a model "
                 "without a manifest has one of each", nonnx, nlabels);
        return 0;
    }
    return 1;
}
