/*
 * bench/engines/rss_probe.c: the memory a model costs a worker. Loads a
 * backend plugin the way a worker does (dlopen, open, infer), and prints
 * the process's resident set before the plugin is loaded, after open, and
 * its peak after a few frames, next to the weights file's size.
 *
 *   rss_probe PLUGIN.so CFG WEIGHTS [THREADS] [FRAMES]
 *
 * CFG "-" opens WEIGHTS alone (an .onnx graph: a detector, or a classifier
 * whose frames are answered as scores).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "vigia/backend.h"

static double rss_now_mb(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;

    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(fp);
    }
    return resident * 4096.0 / 1048576.0;
}


static double rss_peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}


/* The manifest has no keys: every getter answers its default. */
static const char *no_key(const vigia_manifest *m, const char *key)
{
    (void)m;
    (void)key;
    return NULL;
}


static int no_int(const vigia_manifest *m, const char *key, long long lo, long long hi, long long def,
                  long long *out, char *err, size_t errlen)
{
    (void)m, (void)key, (void)lo, (void)hi, (void)err, (void)errlen;
    *out = def;
    return 0;
}


static int no_string(const vigia_manifest *m, const char *key, const char *const *choices, const char *def,
                     const char **out, char *err, size_t errlen)
{
    (void)m, (void)key, (void)choices, (void)err, (void)errlen;
    *out = def;
    return 0;
}


int main(int argc, char **argv)
{
    char err[VIGIA_ERRLEN] = "";
    vigia_manifest m = { 0 };
    vigia_model_info info;
    vigia_model *model = NULL;
    vigia_candidates out = { 0 };
    const vigia_backend *be;
    vigia_backend_entry_fn entry;
    double before, opened, ran;
    struct stat st;
    float *x;
    void *dl;
    int frames;

    if (argc < 4) {
        fprintf(stderr, "usage: %s PLUGIN.so CFG WEIGHTS [THREADS] [FRAMES]\n", argv[0]);
        return 2;
    }
    before = rss_now_mb();
    dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    *(void **)&entry = dlsym(dl, VIGIA_BACKEND_ENTRY);
    be = entry();
    m.name = "probe";
    m.cfg_path = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
    m.weights_path = argv[3];
    m.max_batch = 1;
    m.threads = argc > 4 ? atoi(argv[4]) : 1;
    m.struct_size = sizeof m;
    m.device = -1;
    m.get = no_key;
    m.get_int = no_int;
    m.get_string = no_string;
    frames = argc > 5 ? atoi(argv[5]) : 5;
    if (be->open(NULL, &m, &model, err, sizeof err) < 0 || be->describe(model, &info, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    opened = rss_now_mb();
    x = malloc(sizeof(float) * 3 * (size_t)info.input_w * info.input_h);
    out.capacity = 4096;
    out.box = calloc(4 * 4096, sizeof(float));
    out.objectness = calloc(4096, sizeof(float));
    out.prob = calloc((size_t)4096 * info.classes, sizeof(float));
    out.scores = info.task == VIGIA_TASK_CLASSIFY ? calloc((size_t)info.classes, sizeof(float)) : NULL;
    for (size_t i = 0; i < (size_t)3 * info.input_w * info.input_h; i++)
        x[i] = 0.5f;
    for (int f = 0; f < frames; f++)
        if (be->infer(model, &(vigia_batch){ .struct_size = sizeof(vigia_batch), .count = 1, .input = x,
                                             .threshold = 0.25f }, &out, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    ran = rss_now_mb();
    stat(argv[3], &st);
    printf("rss before_mb=%.1f opened_mb=%.1f ran_mb=%.1f peak_mb=%.1f weights_mb=%.1f model_mb=%.1f device=\"%s\"\n", before,
           opened, ran, rss_peak_mb(), st.st_size / 1048576.0, rss_peak_mb() - before, info.device);
    be->close(model);
    free(x);
    free(out.box);
    free(out.objectness);
    free(out.prob);
    free(out.scores);
    dlclose(dl);
    return 0;
}
