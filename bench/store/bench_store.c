/*
 * bench_store: detection records per second into LMDB.
 *   vigia DIR SECS   through the store process (group commit), 8192 writes in flight
 *   lmdb  DIR SECS   the peer: raw LMDB, one fsync'd transaction per record
 * Prints "MODE writes_per_s N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "api/ops.h"
#include "base/config.h"
#include "http/http.h"
#include "net/server.h"
#include "store/chan.h"
#include "store/db.h"
#include "base/mpk.h"
#include "store/store.h"

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t seq;

/* One DET_ADD request for a detection of 3 objects. */
static void
request(vg_buf *m, vg_det_meta *meta, vg_buf *val)
{
    vg_mpw w;
    val->len = 0;
    vg_mpw_init(&w, val);
    vg_mpw_map(&w, 2);
    vg_mpw_cstr(&w, "u"); vg_mpw_u64(&w, 1);
    vg_mpw_cstr(&w, "d");
    vg_mpw_array(&w, 3);
    for (int i = 0; i < 3; i++) {
        vg_mpw_array(&w, 7);
        vg_mpw_cstr(&w, i ? "car" : "person");
        vg_mpw_i64(&w, i);
        vg_mpw_f64(&w, 0.9);
        for (int b = 0; b < 4; b++)
            vg_mpw_i64(&w, 10 * b);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    vg_db_key_new(meta->key, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + (++seq % 1000));
    meta->uid = 1;
    meta->source = VG_STR("cam-1");
    meta->model = VG_STR("yolo");
    meta->total_us = 25000;
    meta->nlabels = 2;
    meta->labels[0] = VG_STR("person");
    meta->counts[0] = 1;
    meta->labels[1] = VG_STR("car");
    meta->counts[1] = 2;
    if (!m)
        return;
    m->len = 0;
    vg_mpw_init(&w, m);
    vg_mpw_array(&w, 9);
    vg_mpw_i64(&w, VG_STORE_DET_ADD);
    vg_mpw_bin(&w, meta->key, 16);
    vg_mpw_u64(&w, 1);
    vg_mpw_cstr(&w, "cam-1");
    vg_mpw_cstr(&w, "yolo");
    vg_mpw_u64(&w, 25000);
    vg_mpw_array(&w, 2);
    vg_mpw_array(&w, 2); vg_mpw_cstr(&w, "person"); vg_mpw_u64(&w, 1);
    vg_mpw_array(&w, 2); vg_mpw_cstr(&w, "car"); vg_mpw_u64(&w, 2);
    vg_mpw_bin(&w, val->data, val->len);
    vg_mpw_nil(&w);
}

static vg_chan *chan;
static long acked, failed, inflight;
static double end_at;
static vg_buf msg, val;

static void pump(void);

static void
on_ack(int status, const uint8_t *p, size_t n, void *ud)
{
    (void)p; (void)n; (void)ud;
    inflight--;
    if (status == 0)
        acked++;
    else
        failed++;
    pump();
}

static double rate;          /* records per second to offer; 0 = as many as the store takes */
static double offered;       /* records offered so far in paced mode */
static double t_start;

static void
pump(void)
{
    if (rate > 0) {
        /* paced: offer what the clock allows; the timer calls again */
        double due = (now() - t_start) * rate;
        while (offered < due && now() < end_at) {
            vg_det_meta meta;
            request(&msg, &meta, &val);
            if (vg_chan_call(chan, msg.data, msg.len, NULL, 0, on_ack, NULL) != 0)
                break;
            inflight++;
            offered++;
        }
        if (inflight == 0 && now() >= end_at)
            ev_break(EV_DEFAULT, EVBREAK_ALL);
        return;
    }
    while (inflight < 1024 && now() < end_at) {
        vg_det_meta meta;
        request(&msg, &meta, &val);
        if (vg_chan_call(chan, msg.data, msg.len, NULL, 0, on_ack, NULL) != 0)
            break;
        inflight++;
    }
    if (inflight == 0)
        ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void
on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    pump();
}

static double run_secs;
static ev_timer pacer;

/* The measured run begins. */
static void
on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    t_start = now();
    end_at = t_start + run_secs;
    if (rate > 0)
        ev_timer_start(loop, &pacer);
    pump();
}


int
main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: bench_store vigia|lmdb DIR SECONDS [RECORDS_PER_S]\n");
        return 2;
    }
    double secs = atof(argv[3]);
    rate = argc == 5 ? atof(argv[4]) : 0;
    vg_buf_init(&msg);
    vg_buf_init(&val);
    if (strcmp(argv[1], "lmdb") == 0) {
        vg_db db;
        char err[512];
        vg_db_options o = { .map_size = 1u << 30, .map_max = 1u << 30 };
        if (vg_db_open(&db, argv[2], &o, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double t0 = now();
        long n = 0;
        while (now() - t0 < secs) {
            vg_det_meta meta;
            request(NULL, &meta, &val);
            MDB_txn *t;
            vg_db_begin(&db, 1, &t);
            vg_db_det_add(&db, t, &meta, val.data, val.len, NULL);
            if (mdb_txn_commit(t) == 0)
                n++;
        }
        printf("lmdb-per-record writes_per_s %.0f\n", n / (now() - t0));
        vg_db_close(&db);
        return 0;
    }
    static vg_store_config cfg;
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", argv[2]);
    cfg.map_size = 1u << 30;
    cfg.map_max = 1u << 30;
    cfg.commit_records = 4096;
    cfg.commit_interval = 0.002;
    cfg.sweep_interval = 3600;
    vg_chan_options co = { .name = "store", .child = vg_store_main, .arg = &cfg, .max_pending = 1 << 20 };
    char err[512];
    if (vg_chan_create(EV_DEFAULT, &co, &chan, err, sizeof err) != 0 || vg_chan_wait_hello(chan, 10, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* the reactor serves /health while it feeds the store, as the master does under load */
    vg_config *scfg = vg_xmalloc(sizeof *scfg);
    vg_config_init(scfg);
    vg_config_set(scfg, "server", "listen", "127.0.0.1:0", err, sizeof err);
    vg_config_set(scfg, "log", "access", "false", err, sizeof err);
    vg_server *srv = vg_server_create(EV_DEFAULT, scfg);
    vg_http *http = vg_http_create(srv);
    vg_ops_register(http);
    if (vg_server_listen(srv, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("health %s\n", vg_server_address(srv, 0));
    fflush(stdout);
    /* give the load generator a moment to connect, serving it meanwhile (a sleep here would
       hold its first requests for the whole moment) */
    run_secs = secs;
    ev_timer_init(&pacer, on_pace, 0.001, 0.001);
    ev_timer starter;
    ev_timer_init(&starter, on_start, 0.5, 0);
    ev_timer_start(EV_DEFAULT, &starter);
    ev_run(EV_DEFAULT, 0);
    ev_timer_stop(EV_DEFAULT, &pacer);
    double el = now() - t_start;
    printf("vigia-store writes_per_s %.0f (acked %ld, failed %ld)\n", acked / el, acked, failed);
    vg_chan_destroy(chan, 10);
    vg_server_destroy(srv);
    vg_http_destroy(http);
    return failed ? 1 : 0;
}
