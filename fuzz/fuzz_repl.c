/*
 * libFuzzer harness for shared state between nodes (docs/cluster.md,
 * "Shared state"): what another node, through the state Redis, can make a
 * node read. The first byte picks the parser, the rest is the input:
 *  0  an XREAD answer (RESP bytes, parsed by hiredis) taken by the replica
 *     (core/cluster/replica.c, included): entries handed to the store have
 *     strictly increasing ids above the starting position, never this
 *     node's own origin, and a body as long as their "m" field, within
 *     VG_REPLICA_MAX_ENTRY; a store answer that fails (the next input byte)
 *     sends the replica back to the store's position.
 *  1  a store request and its answer made into a replicated entry
 *     (store/repl_entry.c): what it accepts is one complete msgpack array
 *     starting with the same op.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/read.h>

#include "../core/cluster/replica.c"
#include "store/repl_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    uint64_t ms, seq;                  /* the last id handed to the store */
    int fail;                          /* answer the next apply with an error */
} seen;


static int
fake_apply(const vg_replica_id *id, const void *p, size_t n, vg_replica_done_fn done, void *done_ud, void *ud)
{
    seen *s = ud;
    (void)p;
    if (n == 0 || n > VG_REPLICA_MAX_ENTRY || id->ms < s->ms || (id->ms == s->ms && id->seq <= s->seq) ||
        id->origin_n == 0 || id->origin_n > VG_REPLICA_MAX_NODE || (id->origin_n == 4 &&
        memcmp(id->origin, "self", 4) == 0))
        abort();
    s->ms = id->ms;
    s->seq = id->seq;
    done(s->fail ? VG_E_STORE_DOWN : 0, done_ud);
    return 0;
}


static int
fake_position(uint64_t *ms, uint64_t *seq, uint64_t *epoch, void *ud)
{
    (void)ud;
    *ms = 5;
    *seq = 0;
    *epoch = 0;
    return 0;
}


/*
 * This hiredis has no cap on a declared array's length (it allocates it
 * whole): the state Redis is trusted with that (docs/cluster.md). Inputs
 * that declare a huge aggregate are left out rather than run out of memory.
 */
static int
declares_huge(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((p[i] != '*' && p[i] != '%' && p[i] != '~') || (i > 0 && p[i - 1] != '\n'))
            continue;
        uint64_t v = 0;
        for (size_t j = i + 1; j < n && p[j] >= '0' && p[j] <= '9' && v < (1u << 20); j++)
            v = v * 10 + (p[j] - '0');
        if (v >= 4096)
            return 1;
    }
    return 0;
}


static void
check_xread(const uint8_t *p, size_t n)
{
    static struct ev_loop *loop;
    static vg_series *series;
    if (!loop) {
        loop = ev_default_loop(0);
        series = vg_metrics_single(vg_metrics_register("fuzz_repl", "fuzz", VG_COUNTER, "", NULL, 0));
    }
    if (n < 1 || declares_huge(p + 1, n - 1))
        return;
    seen s = { 5, 0, p[0] & 1 };
    vg_replica r;
    memset(&r, 0, sizeof r);
    vg_replica_options_init(&r.o);
    r.loop = loop;
    r.h = (vg_replica_hooks){ .apply = fake_apply, .position = fake_position, .ud = &s };
    strcpy(r.node, "self");
    strcpy(r.stream, "vigia:repl");
    r.tail = &r.head;
    r.ms = 5;
    r.synced = 1;
    r.epoch_known = 1;
    r.reading = 1;
    ev_timer_init(&r.again, on_again, 0, 0);
    r.again.data = &r;
    r.m_pub = r.m_drop = r.m_applied = r.m_skipped = r.m_gaps = r.m_queue = r.m_resync = r.m_lag = r.m_up = series;
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    redisReaderFeed(rd, (const char *)p + 1, n - 1);
    if (redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
        on_read(NULL, reply, &r);
        if (r.applying != 0 || r.reading)
            abort();
        freeReplyObject(reply);
    }
    redisReaderFree(rd);
    ev_timer_stop(loop, &r.again);
}


static void
check_entry(const uint8_t *p, size_t n)
{
    if (n < 2)
        return;
    int status = p[0] & 1 ? VG_E_TOKEN_REUSED : 0;
    size_t split = p[1] < n - 2 ? p[1] : n - 2;   /* the answer's bytes, then the request's */
    vg_mpr rest;
    vg_mpr_init(&rest, p + 2, split);
    vg_buf out;
    vg_buf_init(&out);
    int rc = vg_store_repl_entry(p + 2 + split, n - 2 - split, status, &rest, &out);
    if (rc == 1) {
        vg_mpr a, b;
        uint32_t cnt;
        int64_t op1, op2;
        vg_mpr_init(&a, out.data, out.len);
        vg_mpr_init(&b, p + 2 + split, n - 2 - split);
        if (vg_mpr_skip(&a) < 0 || a.p != a.end)
            abort();
        vg_mpr_init(&a, out.data, out.len);
        if (vg_mpr_array(&a, &cnt) < 0 || vg_mpr_i64(&a, &op1) < 0 || vg_mpr_array(&b, &cnt) < 0 ||
            vg_mpr_i64(&b, &op2) < 0 || op1 != op2)
            abort();
    } else if (rc != 0 && rc != VG_E_STORE_PROTO) {
        abort();
    } else if (out.len != 0) {
        abort();
    }
    vg_buf_release(&out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 2) {
    case 0:
        check_xread(data + 1, size - 1);
        break;
    case 1:
        check_entry(data + 1, size - 1);
        break;
    }
    return 0;
}
