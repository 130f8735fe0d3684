/*
 * libFuzzer harness for the cluster's parsers (core/cluster): what comes
 * from a config file or the command line (the redis:// URL) and, later,
 * from the bus. The first byte picks the parser, the rest is the input:
 *  0  vg_bus_url_parse: accepts or refuses with a message; what it accepts
 *     has an IP host, a port in 1..65535 and a database in 0..15, and
 *     parsing the URL rebuilt from them gives the same result.
 *  1  vg_cluster_job_decode on field/value pairs cut from the input at
 *     0xff bytes: refused with VG_E_PROTO and a message, or a JOB whose image
 *     lies inside the entry's frame; then the same for a result entry,
 *     whose detections each get a label of 1..VG_IPC_MAX_LABEL bytes.
 *  2  vg_cluster_node_decode on a placement record: refused, or within the
 *     limits, and encoding it again and decoding gives the same record.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cluster/bus.h"
#include "cluster/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_url(const uint8_t *p, size_t n)
{
    vg_bus_url u, v;
    char err[256] = "";
    int rc = vg_bus_url_parse((const char *)p, n, &u, err, sizeof err);
    if (rc != 0) {
        if (rc != VG_E_INVAL || !err[0])
            abort();
        return;
    }
    unsigned char a[16];
    int v6 = strchr(u.host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, u.host, a) != 1 || u.port < 1 || u.port > 65535 || u.db < 0 ||
        u.db > VG_BUS_MAX_DB)
        abort();
    char again[VG_BUS_MAX_URL + 16];
    int len = snprintf(again, sizeof again, v6 ? "redis://[%s]:%d/%d" : "redis://%s:%d/%d", u.host, u.port, u.db);
    if (vg_bus_url_parse(again, (size_t)len, &v, err, sizeof err) != 0 || memcmp(&u, &v, sizeof u) != 0)
        abort();
}


static void
check_entries(const uint8_t *p, size_t n)
{
    vg_str kv[2 * VG_CLUSTER_MAX_FIELDS + 2];
    size_t k = 0, s = 0;
    for (size_t i = 0; i <= n && k < sizeof kv / sizeof kv[0]; i++)
        if (i == n || p[i] == 0xff) {
            kv[k].p = (const char *)p + s;
            kv[k++].n = i - s;
            s = i + 1;
        }
    char err[256] = "";
    vg_cluster_job j;
    int rc = vg_cluster_job_decode(kv, k, &j, err, sizeof err);
    if (rc == 0) {
        const vg_ipc_job *ij = &j.msg.u.job;
        const char *img = (const char *)ij->image;
        if (j.msg.type != VG_IPC_JOB || !img || img < j.frame.p || img + ij->image_len > j.frame.p + j.frame.n ||
            j.reply.n == 0 || j.reply.n > VG_CLUSTER_MAX_KEY)
            abort();
        vg_cluster_job_release(&j);
    } else if (rc == VG_E_PROTO && !err[0]) {
        abort();
    }
    vg_cluster_result r;
    err[0] = '\0';
    rc = vg_cluster_result_decode(kv, k, &r, err, sizeof err);
    if (rc == 0) {
        const vg_ipc_result *ir = &r.msg.u.result;
        for (size_t i = 0; i < ir->ndet; i++) {
            size_t len = ir->dets[i].label ? strlen(ir->dets[i].label) : 0;
            if (len == 0 || len > VG_IPC_MAX_LABEL)
                abort();
        }
        vg_cluster_result_release(&r);
    } else if (rc == VG_E_PROTO && !err[0]) {
        abort();
    }
}


static void
check_node(const uint8_t *p, size_t n)
{
    vg_cluster_node a, b;
    char err[256] = "";
    if (vg_cluster_node_decode((const char *)p, n, &a, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return;
    }
    if (a.nmodels > VG_CLUSTER_MAX_MODELS || !vg_cluster_name_ok(a.name, strlen(a.name)))
        abort();
    vg_buf out;
    vg_buf_init(&out);
    vg_cluster_node_encode(&out, &a);
    if (vg_cluster_node_decode(out.data, out.len, &b, err, sizeof err) != 0 || memcmp(&a, &b, sizeof a) != 0)
        abort();
    vg_buf_release(&out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        check_url(data + 1, size - 1);
        break;
    case 1:
        check_entries(data + 1, size - 1);
        break;
    case 2:
        check_node(data + 1, size - 1);
        break;
    }
    return 0;
}
