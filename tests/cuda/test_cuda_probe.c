/*
 * tests/cuda/test_cuda_probe.c: load a backend plugin as a worker does
 * (dlopen RTLD_NOW | RTLD_LOCAL), call its probe() and print "RC MESSAGE"
 * on one line; exit 0 when the plugin loaded and probe() returned, 1 when
 * it could not be loaded. Run as a child process by the tests, so that a
 * probe that crashes shows up as a signal, not as a test runner dying.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "vigia/backend.h"

static void host_log(enum vigia_log_level level, const char *msg)
{
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
}


int main(int argc, char **argv)
{
    const vigia_host host = { VIGIA_BACKEND_ABI_VERSION, sizeof(vigia_host), host_log, { 0 } };
    char err[VIGIA_ERRLEN] = "";
    vigia_backend_entry_fn entry;
    const vigia_backend *be;
    void *dl, *sym;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: test_cuda_probe PLUGIN.so\n");
        return 2;
    }
    dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        printf("dlopen %s\n", dlerror());
        return 1;
    }
    sym = dlsym(dl, VIGIA_BACKEND_ENTRY);
    if (!sym) {
        printf("dlsym no %s\n", VIGIA_BACKEND_ENTRY);
        return 1;
    }
    memcpy(&entry, &sym, sizeof entry);
    be = entry();
    rc = be->probe ? be->probe(&host, err, sizeof err) : 0;
    err[sizeof err - 1] = '\0';
    printf("%d %s\n", rc, err);
    return 0;
}
