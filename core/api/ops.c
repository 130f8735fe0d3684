/* ops: see ops.h. */
#include "api/ops.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_build.h"

#include <ev.h>

#include "auth/auth.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/http.h"
#include "http/reply.h"

static void
health(vg_req *r, void *ud)
{
    vg_server *s = ud;
    vg_reply out;
    vg_reply_init(&out);
    vg_jsonw_obj(&out.w);
    vg_jsonw_kstr(&out.w, "status", vg_server_is_draining(s) ? "draining" : "ok");
    vg_jsonw_kstr(&out.w, "version", PACKAGE_VERSION);
    vg_jsonw_key(&out.w, "uptime_s");
    vg_jsonw_fixed(&out.w, vg_server_uptime(s), 3);
    vg_jsonw_obj_end(&out.w);
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_reply_send(&out, r, 200);
}


static void
ready(vg_req *r, void *ud)
{
    vg_server *s = ud;
    char why[1024] = "";
    if (vg_server_is_draining(s)) {
        vg_req_error(r, 503, "not_ready", "the server is shutting down");
        return;
    }
    if (!vg_server_ready(s, why, sizeof why)) {
        vg_req_error(r, 503, "not_ready", "%s", why[0] ? why : "a module is not ready");
        return;
    }
    static const char body[] = "{\"ready\":true}\n";
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_req_respond(r, 200, "application/json", body, sizeof body - 1);
}


static void
metrics(vg_req *r, void *ud)
{
    (void)ud;
    vg_buf b;
    vg_buf_init(&b);
    vg_metrics_render(&b);
    vg_req_add_header(r, "Cache-Control", "no-store");
    vg_req_respond_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    vg_buf_release(&b);
}


struct process_metrics {
    vg_series *cpu, *mem, *fds;
};

/* process_* metrics as the Prometheus client libraries name them; procfs reads are not disk I/O. */
static void
collect_process(vg_metric *m, void *ud)
{
    struct process_metrics *pm = ud;
    (void)m;
    static long ticks, page;
    if (!ticks) {
        ticks = sysconf(_SC_CLK_TCK);
        page = sysconf(_SC_PAGESIZE);
    }
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    unsigned long utime = 0, stime = 0;
    long rss = 0;
    int got = fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
                     &utime, &stime, &rss);
    fclose(f);
    if (got != 3)
        return;
    vg_series_set(pm->cpu, (double)(utime + stime) / (double)ticks);
    vg_series_set(pm->mem, (double)rss * (double)page);

    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        vg_series_set(pm->fds, fds - 1);   /* minus the one opendir holds */
    }
}


static void
collect_log(vg_metric *m, void *ud)
{
    (void)ud;
    vg_series_set(vg_metrics_single(m), (double)vg_log_dropped());
}


void
vg_ops_register(vg_http *http)
{
    vg_server *srv = vg_http_server(http);
    /* probes: open, never rate-limited, no credentials parsed */
    int probe = VG_ACCESS_OPEN | VG_ACCESS_NO_LIMIT;
    vg_http_route(http, VG_M_GET, "/health", health, srv, 0, probe);
    vg_http_route(http, VG_M_GET, "/ready", ready, srv, 0, probe);
    vg_http_route(http, VG_M_GET, "/metrics", metrics, srv, 0, probe);

    static struct process_metrics pm;
    vg_metric *cpu = vg_metrics_register("process_cpu_seconds_total", "CPU time of the master process",
                                         VG_COUNTER, "", NULL, 0);
    pm.cpu = vg_metrics_single(cpu);
    pm.mem = vg_metrics_single(vg_metrics_register("process_resident_memory_bytes",
                                                   "resident memory of the master process", VG_GAUGE, "", NULL, 0));
    pm.fds = vg_metrics_single(vg_metrics_register("process_open_fds", "open file descriptors of the master",
                                                   VG_GAUGE, "", NULL, 0));
    vg_metrics_set_collect(cpu, collect_process, &pm);
    vg_series_set(vg_metrics_single(vg_metrics_register("process_start_time_seconds",
                                                        "start time of the master, Unix seconds",
                                                        VG_GAUGE, "", NULL, 0)),
                  (double)time(NULL));
    vg_metric *dropped = vg_metrics_register("vigia_log_dropped_lines_total",
                                             "log lines dropped because the log could not keep up",
                                             VG_COUNTER, "", NULL, 0);
    vg_metrics_set_collect(dropped, collect_log, NULL);
    const char *ver[] = { PACKAGE_VERSION };
    vg_series_set(vg_metrics_series(vg_metrics_register("vigia_build_info", "version of this server",
                                                        VG_GAUGE, "version", NULL, 0), ver), 1);
}
