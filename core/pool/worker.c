/*
 * worker: a forked worker process serving detection jobs (see worker.h).
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/child.h"
#include "base/clock.h"
#include "base/error.h"
#include "pipeline/detector.h"
#include "pipeline/image.h"
#include "pipeline/pixels.h"
#include "pool/ipc.h"
#include "base/log.h"
#include "pool/worker.h"

#define SOCK_FD 3
#define LOG_FD  4

/* For the atexit() guard: a backend calling exit() while loading (darknet does). */
static int in_backend_load;
static int guard_fd = -1;


static void
exit_guard(void)
{
    if (!in_backend_load || guard_fd < 0)
        return;
    vg_buf b;
    vg_buf_init(&b);
    if (vg_ipc_encode_fatal(&b, VG_E_BACKEND, "the backend called exit() while loading the model") == 0)
        (void)vg_frame_write_all(guard_fd, b.data, b.len, NULL, 0);
    vg_buf_release(&b);
    _exit(VG_WORKER_EXIT_FATAL);
}


size_t
vg_worker_rss(int pid)
{
    char path[64];
    unsigned long long size = 0, resident = 0;
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/statm", pid);
    else
        snprintf(path, sizeof path, "/proc/self/statm");
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}


/*
 * Signals as a fresh process has them, except two ignored: a dead master is
 * EPIPE, not a signal, and Ctrl-C goes to the master, which drains us.
 */
static const int ignored_signals[] = { SIGPIPE, SIGINT, 0 };


/*
 * Keeps fd 0 on /dev/null, 1 and 2 on the capture pipe (out_fd; else 1 on
 * /dev/null and 2 inherited), the socket as 3 and the log as 4.
 */
static int
arrange_fds(int sock, int log_fd, int out_fd, int *out_log)
{
    int s = fcntl(sock, F_DUPFD, 10);
    int l = log_fd >= 0 ? fcntl(log_fd, F_DUPFD, 10) : -1;
    int o = out_fd >= 0 ? fcntl(out_fd, F_DUPFD, 10) : -1;
    if (s < 0 || (log_fd >= 0 && l < 0) || (out_fd >= 0 && o < 0))
        return -1;
    if (dup2(s, SOCK_FD) < 0 || (l >= 0 && dup2(l, LOG_FD) < 0))
        return -1;
    if (o >= 0 && (dup2(o, 1) < 0 || dup2(o, 2) < 0))
        return -1;
    /* everything else the master had open: listeners, other workers' sockets, LMDB */
    unsigned first = l >= 0 ? LOG_FD + 1 : SOCK_FD + 1;
    if (close_range(first, ~0u, 0) != 0) {
        struct rlimit rl;
        unsigned long top = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < top)
            top = rl.rlim_cur;
        for (unsigned long fd = first; fd < top; fd++)
            close((int)fd);
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        if (o < 0)
            dup2(null, 1);   /* stdout may be someone's JSON stream */
        if (null > 2)
            close(null);
    }
    *out_log = l >= 0 ? LOG_FD : 2;
    return 0;
}


/* The fatal signals a plugin may die of, for the backtrace's first line. */
static const struct {
    int sig;
    const char *name;
} fatal_signals[] = {
    { SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" }, { SIGILL, "SIGILL" }, { SIGFPE, "SIGFPE" }, { SIGABRT, "SIGABRT" },
};


/* Appends the decimal v to p (async-signal-safe); returns the end. */
static char *
put_uint(char *p, unsigned v)
{
    char d[12];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof d);
    while (n)
        *p++ = d[--n];
    return p;
}


/*
 * A fatal signal: the backtrace to stderr (the master logs it, tagged),
 * then the default action, so the master reaps the signal it died of.
 * Async-signal-safe apart from backtrace(), which was called once at
 * start so that it loads nothing now.
 */
static void
on_fatal_signal(int sig)
{
    char line[128], *p = line;
    const char *name = "signal";
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        if (fatal_signals[i].sig == sig)
            name = fatal_signals[i].name;
    static const char head[] = "fatal signal ";
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    p = put_uint(p, (unsigned)sig);
    *p++ = ' ';
    *p++ = '(';
    size_t nl = strlen(name);
    memcpy(p, name, nl);
    p += nl;
    static const char tail[] = "), backtrace:\n";
    memcpy(p, tail, sizeof tail - 1);
    p += sizeof tail - 1;
    (void)!write(2, line, (size_t)(p - line));
    void *frames[48];
    int n = backtrace(frames, 48);
    backtrace_symbols_fd(frames, n, 2);
    signal(sig, SIG_DFL);
    raise(sig);
}


/* Backtraces on fatal signals, on their own stack (a stack overflow is one). */
static void
catch_fatal_signals(void)
{
    static char alt[64 * 1024];
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt };
    void *warm[2];
    (void)backtrace(warm, 2);      /* loads libgcc now, not in the handler */
    (void)sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
        (void)sigaction(fatal_signals[i].sig, &sa, NULL);
}


static int
send_frame(vg_buf *b, const void *tail, size_t tail_len)
{
    int rc = vg_frame_write_all(SOCK_FD, b->data, b->len, tail, tail_len);
    b->len = 0;
    return rc;
}


static void
send_fatal(vg_buf *b, int status, const char *msg)
{
    b->len = 0;
    if (vg_ipc_encode_fatal(b, status, msg) == 0)
        (void)send_frame(b, NULL, 0);
}


/* 1 if another frame is already waiting on the socket. */
/*
 * An overlay job (pool.h): decode the image, draw the overlay, encode it;
 * no model runs. The answer has the image's size and the JPEG only.
 */
static void
run_overlay(const vg_ipc_job *j, const vg_image_limits *lim, vg_detect_result *r)
{
    vg_image im;
    memset(r, 0, sizeof *r);
    uint64_t t0 = vg_mono_us();
    int rc = vg_image_decode(j->image, j->image_len, lim, &im, r->err, sizeof r->err);
    uint64_t t1 = vg_mono_us();
    r->decode_us = t1 - t0;
    if (rc != 0) {
        r->status = rc;
        return;
    }
    r->w = im.w;
    r->h = im.h;
    rc = vg_image_overlay(&im, j->overlay, j->quality, &r->jpeg, &r->jpeg_len, r->err, sizeof r->err);
    r->annotate_us = vg_mono_us() - t1;
    vg_image_release(&im);
    if (rc != 0)
        r->status = rc;
}


static int
more_waiting(void)
{
    struct pollfd p = { .fd = SOCK_FD, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}


void
vg_worker_main(const vg_worker_config *cfg, int fd)
{
    const vg_model *m = cfg->model;
    vg_detector *det = NULL;
    vg_str *labels = NULL;         /* the plugin's, for READY, when there is no names file */
    vg_detector_options dopts;
    vg_buf out;
    char err[512], name[96];
    int code = VG_WORKER_EXIT_OK, log_fd;
    pid_t parent = getppid();
    size_t max_frame = cfg->max_frame ? cfg->max_frame : VG_IPC_MAX_FRAME;

    vg_child_reset_signals(ignored_signals);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)     /* the master died before PDEATHSIG was set */
        _exit(VG_WORKER_EXIT_OK);
    if (arrange_fds(fd, cfg->log_fd, cfg->out_fd, &log_fd) != 0)
        _exit(VG_WORKER_EXIT_PROTO);
    catch_fatal_signals();
    struct rlimit core = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &core);   /* a crashing plugin must not litter cores */

    snprintf(name, sizeof name, "worker %s#%d", m->name, cfg->slot);
    vg_log_set_fd(log_fd);
    vg_log_set_blocking(1);
    vg_log_set_process(name);
    snprintf(name, sizeof name, "vg:%s", m->name);
    (void)prctl(PR_SET_NAME, name);
    vg_buf_init(&out);

    memset(&dopts, 0, sizeof dopts);
    dopts.backend = cfg->backend;
    dopts.backend_dir = cfg->backend_dir;
    dopts.limits = cfg->limits;
    dopts.full_decode = cfg->full_decode;
    dopts.worker = cfg->slot;
    guard_fd = SOCK_FD;
    atexit(exit_guard);
    in_backend_load = 1;
    int rc = vg_detector_open(m, &dopts, &det, err, sizeof err);
    in_backend_load = 0;
    if (rc != 0) {
        vg_error("worker", "%s", err);
        send_fatal(&out, rc, err);
        code = VG_WORKER_EXIT_FATAL;
        goto out;
    }
    const vigia_model_info *info = vg_detector_info(det);
    /* no names file: the master learns the labels from here */
    if (!m->names_path && !(labels = calloc((size_t)info->classes, sizeof *labels))) {
        send_fatal(&out, -ENOMEM, "out of memory for the labels");
        code = VG_WORKER_EXIT_FATAL;
        goto out;
    }
    for (int i = 0; labels && i < info->classes; i++)
        labels[i] = vg_str_of(vg_detector_labels(det)[i]);
    vg_ipc_ready ready = {
        .pid = (int)getpid(),
        .backend = vg_str_of(vg_detector_backend(det)),
        .version = vg_str_of(vg_detector_backend_version(det)),
        .device = vg_str_of(info->device),
        .why = vg_str_of(vg_detector_why(det)),
        .resize = vg_str_of(vg_detector_resize(det)),
        .resize_why = vg_str_of(vg_detector_resize_why(det)),
        .head = vg_str_of(info->head ? info->head : ""),
        .head_from = vg_str_of(info->head_from ? info->head_from : ""),
        .input_w = info->input_w, .input_h = info->input_h,
        .classes = info->classes, .max_batch = info->max_batch,
        .gflops = info->gflops,
        .task = (int)info->task,
        .labels = labels, .nlabels = labels ? (size_t)info->classes : 0,
    };
    vg_info("worker", "ready: backend %s (%s), %dx%d, batch %d", ready.backend.p,
            info->device, info->input_w, info->input_h, info->max_batch);
    if (vg_ipc_encode_ready(&out, &ready) != 0) {
        snprintf(err, sizeof err, "backend %s: its labels do not fit a READY message (at most %d, each 1 to %d "
                 "bytes)", ready.backend.p, VG_IPC_MAX_LABELS, VG_IPC_MAX_LABEL);
        vg_error("worker", "%s", err);
        send_fatal(&out, VG_E_BACKEND, err);
        code = VG_WORKER_EXIT_FATAL;
        goto out;
    }
    if (send_frame(&out, NULL, 0) != 0) {
        code = VG_WORKER_EXIT_OK;   /* the master is gone */
        goto out;
    }

    size_t mem_cap = cfg->mem_cap;
    if (mem_cap && cfg->mem_cap_growth)
        mem_cap += vg_worker_rss(0);
    /* one buffer per frame of a batch: decoded jobs point into them */
    size_t nb = (size_t)info->max_batch;
    uint8_t *bufs[VG_MODEL_MAX_BATCH] = { 0 };
    size_t caps[VG_MODEL_MAX_BATCH] = { 0 };
    vg_ipc_msg msgs[VG_MODEL_MAX_BATCH];
    vg_detect_input in[VG_MODEL_MAX_BATCH];
    vg_detect_result res[VG_MODEL_MAX_BATCH], dres[VG_MODEL_MAX_BATCH];
    int quit = 0;
    while (!quit) {
        size_t n = 0;
        while (n < nb && (n == 0 || more_waiting())) {
            ssize_t len = vg_frame_read(SOCK_FD, &bufs[n], &caps[n], max_frame);
            if (len == -EPIPE) {     /* the master closed: drain is over */
                quit = 1;
                break;
            }
            if (len < 0 || vg_ipc_decode(bufs[n], (size_t)len, &msgs[n]) != 0) {
                vg_error("worker", "malformed frame from the master (%s)", vg_err_str((int)(len < 0 ? len : VG_E_PROTO)));
                code = VG_WORKER_EXIT_PROTO;
                quit = 1;
                n = 0;
                break;
            }
            if (msgs[n].type == VG_IPC_QUIT) {
                quit = 1;
                break;
            }
            if (msgs[n].type != VG_IPC_JOB) {
                vg_error("worker", "unexpected message type %d from the master", msgs[n].type);
                code = VG_WORKER_EXIT_PROTO;
                quit = 1;
                n = 0;
                break;
            }
            n++;
        }
        if (n == 0)
            break;
        /* overlay jobs are drawn here; the others go to the model together */
        size_t k = 0, at[VG_MODEL_MAX_BATCH];
        for (size_t i = 0; i < n; i++) {
            const vg_ipc_job *j = &msgs[i].u.job;
            if (j->overlay) {
                run_overlay(j, &cfg->limits, &res[i]);
                continue;
            }
            at[k] = i;
            in[k].image = j->image;
            in[k].len = j->image_len;
            in[k].threshold = j->threshold;
            in[k].nms = j->nms;
            in[k].class_mask = j->class_mask && j->mask_len == (size_t)info->classes ? j->class_mask : NULL;
            in[k].annotate = j->annotate;
            in[k].attributes = j->attributes;
            in[k].quality = j->quality;
            k++;
        }
        if (k) {
            (void)vg_detector_run(det, k, in, dres);
            for (size_t i = 0; i < k; i++)
                res[at[i]] = dres[i];
        }
        size_t rss = vg_worker_rss(0);
        int recycle = mem_cap && rss > mem_cap;
        int dead = 0;
        for (size_t i = 0; i < n; i++) {
            vg_ipc_result r = {
                .id = msgs[i].u.job.id,
                .status = res[i].status,
                .msg = vg_str_of(res[i].status ? res[i].err : ""),
                .w = res[i].w, .h = res[i].h,
                .ndet = res[i].status ? 0 : res[i].n,
                .decode_us = res[i].decode_us, .infer_us = res[i].infer_us,
                .post_us = res[i].post_us, .annotate_us = res[i].annotate_us,
                .rss = rss,
                .jpeg = res[i].jpeg, .jpeg_len = res[i].jpeg_len,
                .last = recycle && i == n - 1,   /* the master sends nothing more */
            };
            if (!dead) {
                out.len = 0;
                if (vg_ipc_encode_result(&out, &r, res[i].dets) != 0 ||
                    send_frame(&out, r.jpeg, r.jpeg ? r.jpeg_len : 0) != 0)
                    dead = 1;
            }
            vg_detect_result_release(&res[i]);
            vg_ipc_msg_release(&msgs[i]);
        }
        if (dead) {
            quit = 1;
            break;
        }
        if (vg_detector_failed(det)) {
            /* the backend said the model can no longer run (VIGIA_EFATAL): the model fails with it */
            send_fatal(&out, VG_E_BACKEND, vg_detector_failed(det));
            code = VG_WORKER_EXIT_FATAL;
            quit = 1;
        }
        if (recycle) {
            vg_warn("worker", "resident memory %zu MiB is above the cap of %zu MiB: recycling",
                    rss >> 20, mem_cap >> 20);
            code = VG_WORKER_EXIT_RECYCLE;
            quit = 1;
        }
    }
    for (size_t i = 0; i < VG_MODEL_MAX_BATCH; i++)
        free(bufs[i]);
out:
    free(labels);
    vg_detector_close(det);
    vg_image_shutdown();
    vg_buf_release(&out);
    vg_log_flush();
    _exit(code);
}
