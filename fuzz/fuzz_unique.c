/*
 * libFuzzer harness for the store request UNIQUE_ADD (core/store/unique_req.c),
 * which the store process reads from this node's master and, replicated,
 * from other nodes: [op, time_ms, label|nil, upper|nil, lower|nil]. The
 * decoder must answer 0 or VG_E_STORE_PROTO; what it accepts has its time
 * and names in bounds and pointing into the input, and encoding it again
 * gives bytes that decode to the same request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mpk.h"
#include "store/records.h"
#include "store/store.h"
#include "store/unique_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
inside(vg_str s, const uint8_t *p, size_t n)
{
    return !s.p || ((const uint8_t *)s.p >= p && (const uint8_t *)s.p + s.n <= p + n);
}


static int
same(vg_str a, vg_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}


static int
read_req(const uint8_t *p, size_t n, vg_unique_req *q)
{
    vg_mpr r;
    uint32_t cnt;
    int64_t op;
    vg_mpr_init(&r, p, n);
    if (vg_mpr_array(&r, &cnt) < 0 || cnt < 1 || vg_mpr_i64(&r, &op) < 0 || op != VG_STORE_UNIQUE_ADD)
        return 1;
    int rc = vg_unique_req_decode(&r, cnt, q);
    if (rc != 0 && rc != VG_E_STORE_PROTO)
        abort();
    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_unique_req q;
    if (read_req(data, size, &q) != 0)
        return 0;
    if (q.t_ms == 0 || q.t_ms > VG_UNIQUE_MAX_MS || q.label.n > VG_DB_LABEL_MAX || q.upper.n > VG_DB_LABEL_MAX ||
        q.lower.n > VG_DB_LABEL_MAX || !inside(q.label, data, size) || !inside(q.upper, data, size) ||
        !inside(q.lower, data, size))
        abort();
    vg_buf b;
    vg_buf_init(&b);
    vg_unique_req again;
    if (vg_unique_req_encode(&b, VG_STORE_UNIQUE_ADD, &q) != 0 || read_req((const uint8_t *)b.data, b.len, &again) != 0 ||
        again.t_ms != q.t_ms || !same(again.label, q.label) || !same(again.upper, q.upper) ||
        !same(again.lower, q.lower))
        abort();
    vg_buf_release(&b);
    return 0;
}
