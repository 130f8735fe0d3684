/* shared_state: the store and the replica wired together (see shared_state.h). */
#include "cli/shared_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "auth/auth.h"
#include "auth/jwt.h"
#include "base/config.h"
#include "base/error.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cluster/replica.h"
#include "store/records.h"
#include "store/repl.h"
#include "store/repl_entry.h"
#include "store/store_client.h"

#define KEY_PROBE "vigia:key-probe"   /* the first node's probe token (auth.h) */

struct vg_shared_state {
    struct ev_loop *loop;
    vg_replica *replica;
    vg_store *store;
    vg_auth *auth;
    FILE *boot_out;
    ev_timer key_check;                /* until the signing key was compared with the cluster's */
    int key_asking;                    /* a SET or GET of the probe is in flight */
    size_t max_queue;                  /* entries handed to the replica at once (cluster.state_queue) */
    size_t max_bytes;                  /* ... and their bytes (the replica's own bound) */
    int full;                          /* the read being handed over reached one of them */
    uint64_t loaded;                   /* the last outbox number handed to the replica */
    uint64_t taken;                    /* the last one the state Redis took */
    uint64_t cleared;                  /* the last one the store was asked to delete */
    int clearing;                      /* an OUTBOX_DONE is in flight */
    ev_timer clear_again;              /* the next one, from the loop (not from inside a store answer) */
    vg_metric *m_outbox;               /* its entries, counted when scraped */
    vg_shared_camera_fn on_camera;     /* a camera another node stored, applied here */
    void *on_camera_ud;
};

typedef struct apply_call {
    vg_shared_state *s;
    vg_replica_done_fn done;
    void *done_ud;
    char camera[VG_DB_SOURCE_MAX + 1]; /* a CAMERA_PUT: its id ("" otherwise) */
    uint8_t *shapes;                   /* ... and what it stores */
    size_t shapes_n;
} apply_call;


/* An entry that stores a camera: its id and shapes copied into c. */
static void
camera_of(const void *p, size_t n, apply_call *c)
{
    vg_str id;
    const uint8_t *v;
    size_t vn;
    if (!vg_store_repl_entry_camera(p, n, &id, &v, &vn))
        return;
    memcpy(c->camera, id.p, id.n);
    c->camera[id.n] = '\0';
    c->shapes = vn ? vg_xmalloc(vn) : NULL;
    if (vn)
        memcpy(c->shapes, v, vn);
    c->shapes_n = vn;
}


static void
on_store_applied(int status, int64_t inner, void *ud)
{
    /* a conflict was logged by the store: the entry is consumed either way */
    apply_call *c = ud;
    vg_shared_state *s = c->s;
    if (status == 0 && inner == 0 && c->camera[0] && s->on_camera)
        s->on_camera(c->camera, c->shapes, c->shapes_n, s->on_camera_ud);
    vg_replica_done_fn done = c->done;
    void *done_ud = c->done_ud;
    free(c->shapes);
    free(c);
    done(status == 0 && inner == VG_STORE_REPL_SEEN ? VG_REPLICA_SEEN : status, done_ud);
}


void
vg_shared_state_on_camera(vg_shared_state *s, vg_shared_camera_fn fn, void *ud)
{
    if (!s)
        return;
    s->on_camera = fn;
    s->on_camera_ud = ud;
}


static int
repl_apply(const vg_replica_id *id, const void *p, size_t n, vg_replica_done_fn done, void *done_ud, void *ud)
{
    vg_shared_state *s = ud;
    apply_call *c = vg_xcalloc(1, sizeof *c);
    c->s = s;
    c->done = done;
    c->done_ud = done_ud;
    camera_of(p, n, c);
    vg_store_repl_id sid = { .ms = id->ms, .seq = id->seq, .epoch = id->epoch, .origin = id->origin,
                             .origin_n = id->origin_n, .oseq = id->oseq };
    int rc = vg_store_repl_apply(s->store, &sid, p, n, on_store_applied, c);
    if (rc != 0) {
        free(c->shapes);
        free(c);
    }
    return rc;
}


static int
repl_position(uint64_t *ms, uint64_t *seq, uint64_t *epoch, void *ud)
{
    vg_shared_state *s = ud;
    return vg_store_repl_position(s->store, ms, seq, epoch);
}


static void
repl_caught_up(void *ud)
{
    vg_shared_state *s = ud;
    vg_info("cluster", "shared state: caught up with the replication stream");
    if (s->boot_out)
        vg_auth_bootstrap(s->auth, s->boot_out);
}


/* ---- out: the outbox (store/repl.h) to the replica, as room allows ---- */

static void
each_entry(uint64_t num, const void *p, size_t n, void *ud)
{
    vg_shared_state *s = ud;
    vg_replica_stats st;
    vg_replica_stats_get(s->replica, &st);
    if (s->full || (st.queued && (st.queued >= s->max_queue || st.queued_bytes + n > s->max_bytes))) {
        s->full = 1;   /* never past the replica's room: it would drop entries the outbox then deletes */
        return;
    }
    s->loaded = num;
    if (vg_replica_publish(s->replica, num, p, n) != 0) {
        vg_error("cluster", "outbox entry %" PRIu64 " (%zu bytes) is too large for the stream: other nodes miss it",
                 num, n);
        if (s->taken < num)
            s->taken = num;   /* cleared with the next ones */
    }
}


/* Hands the replica what the outbox holds past what it has, up to its room. The count, or -1. */
static int
load(vg_shared_state *s)
{
    vg_replica_stats st;
    vg_replica_stats_get(s->replica, &st);
    if (st.queued >= s->max_queue)
        return 0;   /* the replica's answers load the rest */
    s->full = 0;
    int n = vg_store_outbox_read(s->store, s->loaded, s->max_queue - st.queued, each_entry, s);
    if (n < 0)
        vg_warn("cluster", "cannot read the outbox (%s): retried at the next write", vg_err_str(n));
    return n;
}


/* No store call from here (it may come while the store is being destroyed): the loop asks again. */
static void
on_cleared(int status, void *ud)
{
    vg_shared_state *s = ud;
    s->clearing = 0;
    if (status != 0)
        s->cleared = 0;   /* asked again, for everything taken */
    if (s->taken > s->cleared)
        ev_timer_start(s->loop, &s->clear_again);
}


static void clear_taken(vg_shared_state *s);


static void
on_clear_again(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    clear_taken(w->data);
}


/* Has the store delete the outbox entries the state Redis took (one request in flight at a time). */
static void
clear_taken(vg_shared_state *s)
{
    if (s->clearing || s->taken <= s->cleared)
        return;
    uint64_t upto = s->taken;
    if (vg_store_outbox_done(s->store, upto, on_cleared, s) == 0) {
        s->clearing = 1;
        s->cleared = upto;
    }
}


static void
repl_sent(uint64_t oseq, void *ud)
{
    vg_shared_state *s = ud;
    if (oseq > s->taken)
        s->taken = oseq;
    clear_taken(s);
    load(s);
}


static void
collect_outbox(vg_metric *m, void *ud)
{
    vg_shared_state *s = ud;
    vg_series_set(vg_metrics_single(m), (double)vg_store_outbox_count(s->store));
}


/* The store committed a replicated write: its entry is in the outbox. */
static void
on_commit(const void *entry, size_t n, void *ud)
{
    (void)entry;
    (void)n;
    load(ud);
}


/* The cluster's probe: checked with this node's key; the comparison is done either way. */
static void
on_probe(vg_bus *bus, redisReply *reply, void *ud)
{
    (void)bus;
    vg_shared_state *s = ud;
    s->key_asking = 0;
    if (!reply || reply->type != REDIS_REPLY_STRING)
        return;   /* the bus dropped: the timer asks again */
    ev_timer_stop(s->loop, &s->key_check);
    int rc = vg_auth_key_probe_check(s->auth, reply->str, reply->len);
    if (rc == 0)
        vg_info("cluster", "the signing key is the cluster's (its probe verifies here)");
    else
        vg_error("cluster", "the signing key differs from the cluster's (its probe: %s): access tokens of other "
                 "nodes are refused here and this node's elsewhere; give every node the same auth key "
                 "(docs/cluster.md)", vg_jwt_strerror(rc));
}


static void
on_probe_set(vg_bus *bus, redisReply *reply, void *ud)
{
    vg_shared_state *s = ud;
    s->key_asking = 0;
    if (reply && vg_bus_commandv(bus, on_probe, s, "GET", KEY_PROBE, NULL) == 0)
        s->key_asking = 1;
}


/* Leaves this node's probe unless one is there (SET NX), then checks the one that is. */
static void
on_key_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_shared_state *s = w->data;
    vg_bus *bus = vg_replica_bus(s->replica);
    if (s->key_asking || !vg_bus_is_up(bus))
        return;
    vg_buf probe;
    vg_buf_init(&probe);
    if (vg_auth_key_probe(s->auth, &probe) == 0) {
        const char *argv[] = { "SET", KEY_PROBE, probe.data, "NX" };
        size_t lens[] = { 3, strlen(KEY_PROBE), probe.len, 2 };
        if (vg_bus_command(bus, on_probe_set, s, 4, argv, lens) == 0)
            s->key_asking = 1;
    }
    vg_buf_release(&probe);
}


/* The node id: the configured one, else DATA/node.id (16 random bytes in hex, made once). */
static int
node_id(const vg_config *cfg, char *out, size_t cap, char *err, size_t errlen)
{
    if (cfg->cluster_state_node[0]) {
        if (strlen(cfg->cluster_state_node) >= cap || strlen(cfg->cluster_state_node) > VG_REPLICA_MAX_NODE) {
            snprintf(err, errlen, "cluster.state_node: at most %d bytes", VG_REPLICA_MAX_NODE);
            return -1;
        }
        snprintf(out, cap, "%s", cfg->cluster_state_node);
        return 0;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/node.id", cfg->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, out, cap - 1);
        close(fd);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
            n--;
        if (n <= 0 || n > VG_REPLICA_MAX_NODE) {
            snprintf(err, errlen, "%s: not a node id (1 to %d bytes)", path, VG_REPLICA_MAX_NODE);
            return -1;
        }
        out[n] = '\0';
        return 0;
    }
    uint8_t raw[16];
    if (errno != ENOENT || getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    vg_hex_encode(raw, sizeof raw, out);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int ok = fd >= 0 && write(fd, out, 32) == 32 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    vg_info("cluster", "this node's id on the replication stream: %s (%s)", out, path);
    return 0;
}


int
vg_shared_state_create(struct ev_loop *loop, const vg_config *cfg, vg_store *store, vg_auth *auth, FILE *boot_out,
                       vg_shared_state **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->cluster_state_url[0]) {
        /* never the frame bus by default: that Redis runs without persistence, and a restart of it would
         * lose the stream the history and the sessions travel on (docs/cluster.md, "Shared state") */
        if (cfg->cluster_url[0])
            vg_info("cluster", "users, sessions, API keys and history are this node's own: no cluster.state_url "
                    "(it does not default to cluster.url)");
        return 0;
    }
    vg_bus_url url, frames;
    char why[160], node[VG_REPLICA_MAX_NODE + 1];
    if (vg_bus_url_parse(cfg->cluster_state_url, strlen(cfg->cluster_state_url), &url, why, sizeof why) != 0) {
        snprintf(err, errlen, "cluster.state_url: %s", why);
        return -1;
    }
    if (cfg->cluster_url[0] && vg_bus_url_parse(cfg->cluster_url, strlen(cfg->cluster_url), &frames, why,
                                                sizeof why) == 0 &&
        strcmp(frames.host, url.host) == 0 && frames.port == url.port)
        vg_warn("cluster", "cluster.state_url names the frame bus's Redis: the shared state is only as durable as "
                "that instance (run it with appendonly yes, which doubles frame latency, or give the state a Redis "
                "of its own, docs/cluster.md)");
    if (node_id(cfg, node, sizeof node, err, errlen) != 0)
        return -1;
    if (strcmp(cfg->jwt_alg, "HS256") == 0 && !cfg->jwt_secret_file[0])
        vg_warn("cluster", "shared state without auth.jwt_secret_file: access tokens signed here verify only "
                "here (give every node the same secret file, docs/cluster.md)");
    vg_shared_state *s = vg_xcalloc(1, sizeof *s);
    s->store = store;
    s->auth = auth;
    s->boot_out = boot_out;
    vg_replica_options o;
    vg_replica_options_init(&o);
    o.node = node;
    o.maxlen = (size_t)cfg->cluster_state_maxlen;
    o.max_queue = (size_t)cfg->cluster_state_queue;
    vg_replica_hooks h = { .apply = repl_apply, .position = repl_position, .caught_up = repl_caught_up,
                           .sent = repl_sent, .ud = s };
    int rc = vg_replica_create(loop, &url, &o, &h, &s->replica);
    if (rc != 0) {
        snprintf(err, errlen, "shared state: %s", vg_err_str(rc));
        free(s);
        return -1;
    }
    vg_store_on_commit(store, on_commit, s);
    s->max_queue = o.max_queue;
    s->max_bytes = o.max_queue_bytes;
    s->m_outbox = vg_metrics_register("vigia_replica_outbox", "this node's replicated writes kept in its database "
                                      "until the state Redis took them", VG_GAUGE, "", NULL, 0);
    if (s->m_outbox)
        vg_metrics_set_collect(s->m_outbox, collect_outbox, s);
    int left = load(s);   /* what a stopped or killed master left */
    if (left > 0)
        vg_info("cluster", "shared state: %d replicated write(s) left in the outbox by the last run: appending them%s",
                left, (size_t)left >= s->max_queue ? " (and more)" : "");
    s->loop = loop;
    ev_timer_init(&s->clear_again, on_clear_again, 0.01, 0);
    s->clear_again.data = s;
    ev_timer_init(&s->key_check, on_key_check, 0.1, 2);
    s->key_check.data = s;
    ev_timer_start(loop, &s->key_check);
    /* the replication id belongs to the data directory, not to the name on the bus (cluster.node): a
     * HOST-PID name changes at every start, and a node's own entries are told apart by this id */
    vg_info("cluster", "shared state on %s as node %s%s%s%s", cfg->cluster_state_url, node,
            cfg->cluster_node[0] ? " (on the bus: " : "", cfg->cluster_node, cfg->cluster_node[0] ? ")" : "");
    *out = s;
    return 0;
}


void
vg_shared_state_destroy(vg_shared_state *s)
{
    if (!s)
        return;
    ev_timer_stop(s->loop, &s->key_check);
    ev_timer_stop(s->loop, &s->clear_again);
    if (s->m_outbox)
        vg_metrics_set_collect(s->m_outbox, NULL, NULL);
    vg_replica_destroy(s->replica);   /* the probe's answer, if in flight, comes now with NULL */
    free(s);
}
