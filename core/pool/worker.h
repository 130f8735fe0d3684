/*
 * worker: the body of a forked worker process.
 *
 * vg_worker_main() runs in the child right after fork(): it resets signal
 * dispositions and the signal mask, dies with the master (PR_SET_PDEATHSIG),
 * keeps only its socket and log fds, starts libvips, loads the backend
 * plugin and the model once (core/pipeline/detector.h), says READY, then serves
 * JOB frames one batch at a time until QUIT or end of stream. It never
 * returns: it leaves with _exit() and one of the exit codes below.
 * The protocol is in core/pool/ipc.h.
 */
#ifndef VG_WORKER_H
#define VG_WORKER_H

#include <stddef.h>

#include "pipeline/image.h"
#include "pipeline/model.h"

/* Exit codes the master reads with waitpid(). */
#define VG_WORKER_EXIT_OK      0    /* QUIT or end of stream */
#define VG_WORKER_EXIT_PROTO   70   /* malformed frame from the master */
#define VG_WORKER_EXIT_RECYCLE 75   /* above its memory cap after a job: restart me */
#define VG_WORKER_EXIT_FATAL   78   /* cannot load or run the model (FATAL was sent) */

typedef struct vg_worker_config {
    const vg_model *model;         /* the manifest, inherited through fork */
    const char *backend;           /* overrides the manifest's; NULL: keep */
    const char *backend_dir;       /* NULL: default places */
    vg_image_limits limits;
    int full_decode;               /* vg_detector_options.full_decode */
    size_t mem_cap;                /* RSS bytes; 0 = none */
    int mem_cap_growth;            /* mem_cap counts above the RSS once the model is loaded */
    size_t max_frame;              /* largest JOB payload accepted */
    int log_fd;                    /* where to log; -1: stderr */
    int slot;                      /* the worker's slot within the model (0 .. workers-1): the
                                      manifest's `worker`, so its device, and its log name */
    int out_fd;                    /* becomes fds 1 and 2 (the plugin's stdout and stderr, read by
                                      the master); -1: /dev/null and the inherited stderr */
} vg_worker_config;

/* Serves on `fd` (the worker's end of the socketpair). Never returns. */
void vg_worker_main(const vg_worker_config *cfg, int fd) __attribute__((noreturn));

/* Resident set size of process `pid` (0 = self) in bytes, or 0 if unknown. */
size_t vg_worker_rss(int pid);

#endif
