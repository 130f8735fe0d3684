/* replica: shared state between nodes on one Redis stream (see replica.h). */
#include "cluster/replica.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "base/error.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "cluster/envelope.h"

#define ID_MAX 48                      /* "ms-seq" with two u64 */

typedef struct entry {
    struct entry *next;
    uint64_t oseq;                     /* its number at this node (the "s" field) */
    size_t n;
    uint8_t p[];                       /* the entry's bytes */
} entry;

struct vg_replica {
    struct ev_loop *loop;
    vg_replica_options o;
    vg_replica_hooks h;
    char node[VG_REPLICA_MAX_NODE + 1];
    char stream[128];
    char epoch_key[136];               /* STREAM:epoch: names the stream, made with it */
    char maxlen[24];
    vg_bus *out, *in;
    /* out: entries of this node in order; the first `sending` are in flight */
    entry *head, **tail;
    size_t queued, queued_bytes, sending;
    uint64_t oseq;                     /* the number of the last entry of this node queued */
    /* in */
    uint64_t ms, seq;                  /* read after this id */
    uint64_t epoch;                    /* the stream's epoch (0: unnamed) */
    int epoch_known;                   /* asked since the bus came up */
    int reading;                       /* an XREAD or XINFO is in flight on `in` */
    int synced;                        /* ms-seq came from the store since the bus came up */
    size_t applying;                   /* applies of the batch not answered yet */
    int failed;                        /* one of them failed: re-read from the store's position */
    ev_timer again;                    /* the next read after a failure */
    int at_end;                        /* the batch being applied was the stream's last */
    int caught_up;                     /* h.caught_up has run */
    int destroying;
    vg_replica_stats st;
    vg_series *m_pub, *m_drop, *m_applied, *m_skipped, *m_gaps, *m_queue, *m_resync, *m_lag, *m_up;
};

static void read_next(vg_replica *r);
static void pump(vg_replica *r);


void
vg_replica_options_init(vg_replica_options *o)
{
    memset(o, 0, sizeof *o);
    o->stream = "vigia:repl";
    o->maxlen = 1000000;
    o->max_queue = 10000;
    o->max_queue_bytes = 64u << 20;
    o->read_count = 64;
    o->block_ms = 1000;
}

/* ---- out: XADD ----------------------------------------------------------------- */

static void
drop_head(vg_replica *r)
{
    entry *e = r->head;
    r->head = e->next;
    if (!r->head)
        r->tail = &r->head;
    r->queued--;
    r->queued_bytes -= e->n;
    free(e);
}


static void
on_added(vg_bus *bus, redisReply *reply, void *ud)
{
    (void)bus;
    vg_replica *r = ud;
    r->sending--;
    if (r->destroying)
        return;
    if (!reply) {
        /* the connection dropped: the rest in flight fail too; once they all have, resend from the head */
        if (r->sending == 0)
            pump(r);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* refused by Redis (memory, wrong type): dropped, or the queue would never move */
        vg_error("replica", "XADD refused, entry dropped: %.*s", (int)reply->len, reply->str);
        r->st.dropped++;
        vg_series_add(r->m_drop, 1);
    } else {
        r->st.published++;
        vg_series_add(r->m_pub, 1);
    }
    uint64_t taken = r->head->oseq;
    drop_head(r);
    if (r->h.sent)
        r->h.sent(taken, r->h.ud);
    vg_series_set(r->m_queue, (double)r->queued);
    pump(r);
}


/* Sends what waits (a window of 64 in flight), in order, from the first not sent. */
static void
pump(vg_replica *r)
{
    if (r->destroying || !vg_bus_is_up(r->out))
        return;
    entry *e = r->head;
    for (size_t i = 0; e && i < r->sending; i++)
        e = e->next;
    while (e && r->sending < 64) {
        char oseq[24];
        snprintf(oseq, sizeof oseq, "%" PRIu64, e->oseq);
        const char *argv[11] = { "XADD", r->stream, "MAXLEN", "~", r->maxlen, "*", "o", r->node, "s", oseq, "m" };
        size_t lens[12];
        const char *av[12];
        int argc = 0;
        for (int i = 0; i < 11; i++) {
            if (!r->o.maxlen && (i == 2 || i == 3 || i == 4))
                continue;
            av[argc] = argv[i];
            lens[argc++] = strlen(argv[i]);
        }
        av[argc] = (const char *)e->p;
        lens[argc++] = e->n;
        if (vg_bus_command(r->out, on_added, r, argc, av, lens) != 0)
            return;
        r->sending++;
        e = e->next;
    }
}


int
vg_replica_publish(vg_replica *r, uint64_t oseq, const void *p, size_t n)
{
    if (n == 0 || n > VG_REPLICA_MAX_ENTRY || oseq == 0)
        return VG_E_INVAL;
    if (oseq <= r->oseq)
        return 0;   /* queued already */
    /* full: the oldest not in flight give way (counted; the log says so once per burst) */
    while ((r->queued >= r->o.max_queue || r->queued_bytes + n > r->o.max_queue_bytes) && r->queued > r->sending) {
        entry **pp = &r->head;
        for (size_t i = 0; i < r->sending; i++)
            pp = &(*pp)->next;
        entry *e = *pp;
        *pp = e->next;
        if (!*pp)
            r->tail = pp;
        r->queued--;
        r->queued_bytes -= e->n;
        free(e);
        if (r->st.dropped++ % 1000 == 0)
            vg_error("replica", "the state Redis is unreachable and %zu entries wait: dropping the oldest "
                     "(other nodes will miss them)", r->queued);
        vg_series_add(r->m_drop, 1);
    }
    entry *e = vg_xmalloc(sizeof *e + n);
    e->next = NULL;
    e->oseq = r->oseq = oseq;
    e->n = n;
    memcpy(e->p, p, n);
    *r->tail = e;
    r->tail = &e->next;
    r->queued++;
    r->queued_bytes += n;
    vg_series_set(r->m_queue, (double)r->queued);
    pump(r);
    return 0;
}

/* ---- in: XREAD ----------------------------------------------------------------- */

/* Parses "ms-seq" (n bytes). 0 or -1. */
static int
parse_id(const char *s, size_t n, uint64_t *ms, uint64_t *seq)
{
    char b[ID_MAX];
    if (n == 0 || n >= sizeof b)
        return -1;
    memcpy(b, s, n);
    b[n] = '\0';
    char *end;
    errno = 0;
    if (b[0] < '0' || b[0] > '9')
        return -1;
    *ms = strtoull(b, &end, 10);
    if (errno || *end != '-' || end[1] < '0' || end[1] > '9')
        return -1;
    *seq = strtoull(end + 1, &end, 10);
    return errno || *end ? -1 : 0;
}


static void
schedule_again(vg_replica *r, double after)
{
    ev_timer_stop(r->loop, &r->again);
    ev_timer_set(&r->again, after, 0);
    ev_timer_start(r->loop, &r->again);
}


/* The batch's answers are all in: read on, or re-read from the store's position after a failure. */
static void
batch_end(vg_replica *r)
{
    if (r->applying || r->destroying)
        return;
    if (r->failed) {
        r->failed = 0;
        r->at_end = 0;
        r->synced = 0;
        schedule_again(r, 0.5);
        return;
    }
    if (r->at_end && !r->caught_up) {
        r->caught_up = 1;
        if (r->h.caught_up)
            r->h.caught_up(r->h.ud);
    }
    r->at_end = 0;
    read_next(r);
}


static void
on_applied(int status, void *ud)
{
    vg_replica *r = ud;
    r->applying--;
    if (status == VG_REPLICA_SEEN) {
        r->st.skipped++;
        vg_series_add(r->m_skipped, 1);
    } else if (status != 0) {
        if (!r->failed)
            vg_warn("replica", "the store did not apply an entry (%s): re-reading from its position",
                    vg_err_str(status));
        r->failed = 1;
    } else {
        r->st.applied++;
        vg_series_add(r->m_applied, 1);
    }
    batch_end(r);
}


/* Finds field `name` among an entry's [field, value, ...]. */
static const redisReply *
field(const redisReply *kv, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *k = kv->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, name, n) == 0)
            return kv->element[i + 1]->type == REDIS_REPLY_STRING ? kv->element[i + 1] : NULL;
    }
    return NULL;
}


/* One entry of an XREAD answer: [id, [field, value, ...]]. 1 when handed to the store. */
static int
take_entry(vg_replica *r, const redisReply *e)
{
    uint64_t ms, seq;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY ||
        parse_id(e->element[0]->str, e->element[0]->len, &ms, &seq) != 0) {
        vg_warn("replica", "malformed stream entry skipped");
        return 0;
    }
    if (ms < r->ms || (ms == r->ms && seq <= r->seq))
        return 0;
    r->ms = ms;
    r->seq = seq;
    int64_t age = vg_cluster_wall_ms() - (int64_t)ms;   /* the stream's ids are the state Redis's clock */
    vg_series_set(r->m_lag, age > 0 ? (double)age / 1000.0 : 0.0);
    const redisReply *o = field(e->element[1], "o"), *m = field(e->element[1], "m");
    if (!o || !m || m->len == 0 || m->len > VG_REPLICA_MAX_ENTRY) {
        vg_warn("replica", "entry %" PRIu64 "-%" PRIu64 " without a valid origin or body: skipped", ms, seq);
        return 0;
    }
    if (o->len == strlen(r->node) && memcmp(o->str, r->node, o->len) == 0)
        return 0;   /* ours: the local store has it */
    vg_replica_id id = { .ms = ms, .seq = seq, .epoch = r->epoch, .origin = o->str, .origin_n = o->len };
    const redisReply *s = field(e->element[1], "s");
    uint64_t sv;
    char sb[24];
    if (s && s->len > 0 && s->len < sizeof sb) {   /* absent (an older node) or malformed: not numbered */
        memcpy(sb, s->str, s->len);
        sb[s->len] = '\0';
        char *end;
        errno = 0;
        sv = strtoull(sb, &end, 10);
        if (!errno && !*end && sb[0] >= '0' && sb[0] <= '9' && o->len <= VG_REPLICA_MAX_NODE)
            id.oseq = sv;
    }
    r->applying++;
    int rc = r->h.apply(&id, m->str, m->len, on_applied, r, r->h.ud);
    if (rc != 0) {
        r->applying--;
        if (!r->failed)
            vg_warn("replica", "the store refused an entry (%s): re-reading from its position", vg_err_str(rc));
        r->failed = 1;
        return -1;
    }
    return 1;
}


/*
 * The start of each answer on `in`: the replica, or NULL when there is
 * nothing to do (destroyed; or the bus dropped: re-read from the store's
 * position once it is up).
 */
static vg_replica *
in_answer(const redisReply *reply, void *ud)
{
    vg_replica *r = ud;
    r->reading = 0;
    if (r->destroying)
        return NULL;
    if (!reply) {
        r->synced = 0;
        return NULL;
    }
    return r;
}


static void
on_read(vg_bus *bus, redisReply *reply, void *ud)
{
    (void)bus;
    vg_replica *r = in_answer(reply, ud);
    if (!r)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        vg_warn("replica", "XREAD: %.*s", (int)reply->len, reply->str);
        r->synced = 0;
        schedule_again(r, 1);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements == 2 && reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *list = reply->element[0]->element[1];
        r->at_end = list->elements < r->o.read_count;
        r->applying++;   /* held while the batch is handed out */
        for (size_t i = 0; i < list->elements; i++)
            if (take_entry(r, list->element[i]) < 0)
                break;
        r->applying--;
        batch_end(r);
        return;
    }
    r->at_end = 1;   /* nil: BLOCK timed out, nothing more */
    vg_series_set(r->m_lag, 0);
    batch_end(r);
}


/* XINFO STREAM: was the stream trimmed past our position? Then read. */
static void
on_info(vg_bus *bus, redisReply *reply, void *ud)
{
    (void)bus;
    vg_replica *r = in_answer(reply, ud);
    if (!r)
        return;
    if (reply->type == REDIS_REPLY_ARRAY) {
        const redisReply *d = field(reply, "max-deleted-entry-id");
        uint64_t ms, seq;
        if (d && parse_id(d->str, d->len, &ms, &seq) == 0 && (ms > r->ms || (ms == r->ms && seq > r->seq))) {
            r->st.gaps++;
            vg_series_add(r->m_gaps, 1);
            vg_error("replica", "the stream %s was trimmed past this node's position %" PRIu64 "-%" PRIu64
                     " (entries up to %.*s are gone): this node misses them; copy a peer's data directory "
                     "to resynchronise (docs/cluster.md)", r->stream, r->ms, r->seq, (int)d->len, d->str);
        }
    }
    /* no stream yet (an error or nil): nothing was trimmed */
    r->synced = 1;
    read_next(r);
}


/* SET STREAM:epoch NEW NX GET: the stream's epoch, made now by the first node to ask after Redis lost it. */
static void
on_epoch(vg_bus *bus, redisReply *reply, void *ud)
{
    (void)bus;
    vg_replica *r = in_answer(reply, ud);
    if (!r)
        return;
    uint64_t v = 0;
    if (reply->type == REDIS_REPLY_NIL) {
        v = r->epoch;   /* ours was set */
    } else if (reply->type == REDIS_REPLY_STRING && reply->len == 16) {
        char b[17], *end;
        memcpy(b, reply->str, 16);
        b[16] = '\0';
        v = strtoull(b, &end, 16);
        if (*end)
            v = 0;
    }
    if (reply->type == REDIS_REPLY_ERROR || (!v && reply->type != REDIS_REPLY_NIL)) {
        vg_warn("replica", "%s: not an epoch (%.*s): the stream is taken as unnamed", r->epoch_key,
                reply->type == REDIS_REPLY_ERROR || reply->type == REDIS_REPLY_STRING ? (int)reply->len : 0,
                reply->type == REDIS_REPLY_ERROR || reply->type == REDIS_REPLY_STRING ? reply->str : "");
        v = 0;
    }
    r->epoch = v;
    r->epoch_known = 1;
    read_next(r);
}


static void
read_next(vg_replica *r)
{
    if (r->destroying || r->reading || r->applying || !vg_bus_is_up(r->in))
        return;
    if (!r->epoch_known) {
        uint64_t mine = 0;
        while (!mine && getrandom(&mine, sizeof mine, 0) != (ssize_t)sizeof mine)
            ;
        r->epoch = mine;
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, mine);
        if (vg_bus_commandv(r->in, on_epoch, r, "SET", r->epoch_key, hex, "NX", "GET", NULL) == 0)
            r->reading = 1;
        return;
    }
    if (!r->synced) {
        uint64_t ms, seq, epoch;
        int rc = r->h.position(&ms, &seq, &epoch, r->h.ud);
        if (rc != 0) {
            vg_warn("replica", "cannot read the store's position (%s): retrying", vg_err_str(rc));
            schedule_again(r, 1);
            return;
        }
        if (epoch && r->epoch && epoch != r->epoch) {
            /* the state Redis lost the stream (restarted without its data): the new one's ids start over */
            r->st.resyncs++;
            vg_series_add(r->m_resync, 1);
            vg_error("replica", "the stream %s was made anew (epoch %016" PRIx64 ", this node read %016" PRIx64
                     " up to %" PRIu64 "-%" PRIu64 "): the state Redis lost its data; reading the new stream from "
                     "its start (entries of the old one this node had not read are lost to it)", r->stream,
                     r->epoch, epoch, ms, seq);
            ms = seq = 0;
        }
        r->ms = ms;
        r->seq = seq;
        if (vg_bus_commandv(r->in, on_info, r, "XINFO", "STREAM", r->stream, NULL) == 0)
            r->reading = 1;
        return;
    }
    char id[ID_MAX], count[16], block[16];
    snprintf(id, sizeof id, "%" PRIu64 "-%" PRIu64, r->ms, r->seq);
    snprintf(count, sizeof count, "%u", r->o.read_count);
    snprintf(block, sizeof block, "%u", r->o.block_ms);
    if (vg_bus_commandv(r->in, on_read, r, "XREAD", "COUNT", count, "BLOCK", block, "STREAMS", r->stream, id,
                        NULL) == 0)
        r->reading = 1;
}


static void
on_again(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    read_next(w->data);
}


static void
on_state(vg_bus *bus, int up, void *ud)
{
    vg_replica *r = ud;
    if (bus == r->out && up)
        pump(r);
    if (bus == r->in) {
        r->synced = 0;
        r->epoch_known = 0;
        if (up)
            read_next(r);
    }
    r->st.up = vg_bus_is_up(r->out) && vg_bus_is_up(r->in);
    vg_series_set(r->m_up, r->st.up);
}

/* ---- life ------------------------------------------------------------------------ */

int
vg_replica_create(struct ev_loop *loop, const vg_bus_url *url, const vg_replica_options *o,
                  const vg_replica_hooks *h, vg_replica **out)
{
    size_t nn = o->node ? strlen(o->node) : 0;
    if (nn == 0 || nn > VG_REPLICA_MAX_NODE || !o->stream || !o->stream[0] || strlen(o->stream) >= 128 ||
        !h->apply || !h->position || !o->max_queue || !o->read_count)
        return VG_E_INVAL;
    vg_replica *r = vg_xcalloc(1, sizeof *r);
    r->loop = loop;
    r->o = *o;
    r->h = *h;
    memcpy(r->node, o->node, nn + 1);
    snprintf(r->stream, sizeof r->stream, "%s", o->stream);
    snprintf(r->epoch_key, sizeof r->epoch_key, "%s:epoch", o->stream);
    snprintf(r->maxlen, sizeof r->maxlen, "%zu", o->maxlen);
    r->tail = &r->head;
    ev_timer_init(&r->again, on_again, 0, 0);
    r->again.data = r;
    const char *nm[] = { "published", "dropped", "applied", "skipped" };
    vg_metric *m = vg_metrics_register("vigia_replica_entries_total",
                                       "replicated writes: published to the state stream, dropped from a full "
                                       "queue, applied from other nodes, skipped (applied here before)",
                                       VG_COUNTER, "result", NULL, 0);
    const char *l0[] = { nm[0] }, *l1[] = { nm[1] }, *l2[] = { nm[2] }, *l3[] = { nm[3] };
    r->m_pub = vg_metrics_series(m, l0);
    r->m_drop = vg_metrics_series(m, l1);
    r->m_applied = vg_metrics_series(m, l2);
    r->m_skipped = vg_metrics_series(m, l3);
    r->m_lag = vg_metrics_single(vg_metrics_register("vigia_replica_lag_seconds",
                                                     "age of the last entry of the state stream read (0 once "
                                                     "nothing more came within a read's block)", VG_GAUGE, "",
                                                     NULL, 0));
    r->m_up = vg_metrics_single(vg_metrics_register("vigia_replica_up",
                                                    "1 while both connections to the state Redis are up", VG_GAUGE,
                                                    "", NULL, 0));
    r->m_gaps = vg_metrics_single(vg_metrics_register("vigia_replica_gaps_total",
                                                      "times the state stream was trimmed past this node's position",
                                                      VG_COUNTER, "", NULL, 0));
    r->m_resync = vg_metrics_single(vg_metrics_register("vigia_replica_resyncs_total",
                                                        "times the state stream was found made anew (the state Redis "
                                                        "lost its data) and read again from its start",
                                                        VG_COUNTER, "", NULL, 0));
    r->m_queue = vg_metrics_single(vg_metrics_register("vigia_replica_queued",
                                                       "replicated writes waiting for the state Redis", VG_GAUGE, "",
                                                       NULL, 0));
    vg_bus_options bo;
    vg_bus_options_init(&bo);
    bo.name = "state-out";
    int rc = vg_bus_create(loop, url, &bo, &r->out);
    if (rc == 0) {
        bo.name = "state-in";
        rc = vg_bus_create(loop, url, &bo, &r->in);
    }
    if (rc != 0) {
        vg_bus_destroy(r->out);
        free(r);
        return rc;
    }
    vg_bus_on_state(r->out, on_state, r);
    vg_bus_on_state(r->in, on_state, r);
    *out = r;
    return 0;
}


void
vg_replica_destroy(vg_replica *r)
{
    if (!r)
        return;
    r->destroying = 1;
    ev_timer_stop(r->loop, &r->again);
    vg_bus_destroy(r->in);
    vg_bus_destroy(r->out);
    if (r->queued)
        vg_warn("replica", "%zu replicated writes not appended at exit", r->queued);
    while (r->head)
        drop_head(r);
    free(r);
}


void
vg_replica_stats_get(const vg_replica *r, vg_replica_stats *st)
{
    *st = r->st;
    st->queued = r->queued;
    st->queued_bytes = r->queued_bytes;
    st->up = vg_bus_is_up(r->out) && vg_bus_is_up(r->in);
}


vg_bus *
vg_replica_bus(vg_replica *r)
{
    return r->out;
}
