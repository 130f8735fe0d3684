/*
 * envelope: the cluster's entries on the bus (jobs, results, placement
 * records), encoded and decoded with bounds. See envelope.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/frame.h"
#include "cluster/envelope.h"

int64_t
vg_cluster_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
vg_cluster_name_ok(const char *s, size_t n)
{
    if (!s || n == 0 || n > VG_CLUSTER_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}


static int
proto(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "malformed cluster entry: %s", what);
    return VG_E_PROTO;
}


/* An unsigned decimal of at most 19 digits. */
static int
parse_u64(vg_str s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.n == 0 || s.n > 19)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = v;
    return 0;
}


/* A whole frame: its header counts exactly the bytes after it. */
static int
frame_ok(vg_str f)
{
    return f.n > VG_FRAME_HDR && f.n - VG_FRAME_HDR <= VG_IPC_MAX_FRAME &&
           vg_frame_len((const uint8_t *)f.p) == f.n - VG_FRAME_HDR;
}


/*
 * The fields every entry has: "v" (1) and "id"; sets bits 1 and 2 of *have.
 * Returns 1 when k was one of them, 0 when not, or VG_E_PROTO.
 */
/*
 * The IPC message of a frame that passed frame_ok, which must be of type
 * `type`: 0 (msg to be released), -ENOMEM, or a protocol error saying
 * `undecodable` or `wrong`.
 */
static int
frame_msg(vg_str f, enum vg_ipc_type type, vg_ipc_msg *msg, const char *undecodable, const char *wrong,
          char *err, size_t errlen)
{
    int rc = vg_ipc_decode((const uint8_t *)f.p + VG_FRAME_HDR, f.n - VG_FRAME_HDR, msg);
    if (rc != 0)
        return rc == -ENOMEM ? rc : proto(err, errlen, undecodable);
    if (msg->type != type) {
        vg_ipc_msg_release(msg);
        return proto(err, errlen, wrong);
    }
    return 0;
}


static int
common_field(vg_str k, vg_str v, uint64_t *id, int *have, char *err, size_t errlen)
{
    if (vg_str_eq(k, "v")) {
        if (!vg_str_eq(v, "1"))
            return proto(err, errlen, "unknown version");
        *have |= 1;
        return 1;
    }
    if (vg_str_eq(k, "id")) {
        if (parse_u64(v, id) < 0)
            return proto(err, errlen, "bad id");
        *have |= 2;
        return 1;
    }
    return 0;
}


int
vg_cluster_job_fields(const vg_cluster_job *j, char scratch[96], const char **argv, size_t *lens)
{
    int n = 0, a = snprintf(scratch, 96, "%" PRIu64, j->id);
    int b = snprintf(scratch + 32, 64, "%" PRId64, j->deadline_ms);
#define PUT(k, p_, n_) do { argv[n] = k; lens[n++] = sizeof k - 1; argv[n] = (p_); lens[n++] = (n_); } while (0)
    PUT("v", "1", 1);
    PUT("id", scratch, (size_t)a);
    PUT("reply", j->reply.p, j->reply.n);
    PUT("dl", scratch + 32, (size_t)b);
    PUT("live", j->live ? "1" : "0", 1);
    PUT("classes", j->classes.p ? j->classes.p : "", j->classes.n);
    PUT("job", j->frame.p, j->frame.n);
    return n;
}


int
vg_cluster_job_decode(const vg_str *kv, size_t n, vg_cluster_job *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int have = 0;
    if (n % 2 || n > 2 * VG_CLUSTER_MAX_FIELDS)
        return proto(err, errlen, "odd or too many fields");
    for (size_t i = 0; i < n; i += 2) {
        vg_str k = kv[i], v = kv[i + 1];
        uint64_t x;
        int c = common_field(k, v, &out->id, &have, err, errlen);
        if (c < 0)
            return c;
        if (c) {
            continue;
        } else if (vg_str_eq(k, "reply")) {
            if (v.n == 0 || v.n > VG_CLUSTER_MAX_KEY)
                return proto(err, errlen, "bad reply stream");
            out->reply = v;
            have |= 4;
        } else if (vg_str_eq(k, "dl")) {
            if (parse_u64(v, &x) < 0 || x > INT64_MAX)
                return proto(err, errlen, "bad deadline");
            out->deadline_ms = (int64_t)x;
            have |= 8;
        } else if (vg_str_eq(k, "live")) {
            if (!vg_str_eq(v, "0") && !vg_str_eq(v, "1"))
                return proto(err, errlen, "bad live flag");
            out->live = v.p[0] == '1';
        } else if (vg_str_eq(k, "classes")) {
            if (v.n > VG_CLUSTER_MAX_CLASSES)
                return proto(err, errlen, "class list too long");
            out->classes = v;
        } else if (vg_str_eq(k, "job")) {
            if (!frame_ok(v))
                return proto(err, errlen, "bad job frame");
            out->frame = v;
            have |= 16;
        }   /* unknown fields: from a newer node, ignored */
    }
    if (have != 31)
        return proto(err, errlen, "a field is missing (v, id, reply, dl, job)");
    static const char not_job[] = "the frame is not a job without a class mask";
    int rc = frame_msg(out->frame, VG_IPC_JOB, &out->msg, "undecodable job frame", not_job, err, errlen);
    if (rc != 0)
        return rc;
    if (out->msg.u.job.mask_len) {
        vg_ipc_msg_release(&out->msg);
        return proto(err, errlen, not_job);
    }
    return 0;
}


void
vg_cluster_job_release(vg_cluster_job *j)
{
    if (j->frame.p)
        vg_ipc_msg_release(&j->msg);
    memset(j, 0, sizeof *j);
}


int
vg_cluster_result_fields(const vg_cluster_result *r, char scratch[48], const char **argv, size_t *lens)
{
    int n = 0, a = snprintf(scratch, 48, "%" PRIu64, r->id);
    PUT("v", "1", 1);
    PUT("id", scratch, (size_t)a);
    PUT("node", r->node.p, r->node.n);
    PUT("labels", r->labels.p ? r->labels.p : "", r->labels.n);
    PUT("res", r->frame.p, r->frame.n);
#undef PUT
    return n;
}


int
vg_cluster_result_decode(const vg_str *kv, size_t n, vg_cluster_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int have = 0;
    if (n % 2 || n > 2 * VG_CLUSTER_MAX_FIELDS)
        return proto(err, errlen, "odd or too many fields");
    for (size_t i = 0; i < n; i += 2) {
        vg_str k = kv[i], v = kv[i + 1];
        int c = common_field(k, v, &out->id, &have, err, errlen);
        if (c < 0)
            return c;
        if (c) {
            continue;
        } else if (vg_str_eq(k, "node")) {
            if (!vg_cluster_name_ok(v.p, v.n))
                return proto(err, errlen, "bad node name");
            out->node = v;
        } else if (vg_str_eq(k, "labels")) {
            if (v.n > VG_CLUSTER_MAX_LABELS)
                return proto(err, errlen, "labels too long");
            out->labels = v;
        } else if (vg_str_eq(k, "res")) {
            if (!frame_ok(v))
                return proto(err, errlen, "bad result frame");
            out->frame = v;
            have |= 4;
        }
    }
    if (have != 7)
        return proto(err, errlen, "a field is missing (v, id, res)");
    int rc = frame_msg(out->frame, VG_IPC_RESULT, &out->msg, "undecodable result frame", "the frame is not a result",
                       err, errlen);
    if (rc != 0)
        return rc;
    vg_ipc_result *res = &out->msg.u.result;
    /* one label per detection, each 1..VG_IPC_MAX_LABEL bytes */
    out->names = malloc(out->labels.n + 1);
    if (!out->names) {
        vg_ipc_msg_release(&out->msg);
        return -ENOMEM;
    }
    memcpy(out->names, out->labels.p ? out->labels.p : "", out->labels.n);
    out->names[out->labels.n] = '\0';
    char *p = out->names;
    size_t k = 0;
    while (k < res->ndet) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == 0 || len > VG_IPC_MAX_LABEL || (!nl && k + 1 < res->ndet))
            break;
        if (nl)
            *nl = '\0';
        res->dets[k++].label = p;
        p = nl ? nl + 1 : p + len;
    }
    if (k != res->ndet || (res->ndet && *p) || (!res->ndet && out->labels.n)) {
        vg_cluster_result_release(out);
        return proto(err, errlen, "labels do not match the detections");
    }
    return 0;
}


void
vg_cluster_result_release(vg_cluster_result *r)
{
    if (r->frame.p)
        vg_ipc_msg_release(&r->msg);
    free(r->names);
    memset(r, 0, sizeof *r);
}


void
vg_cluster_node_encode(vg_buf *out, const vg_cluster_node *node)
{
    vg_buf_printf(out, "vigia-node 1 %s %s\n", node->role, node->name);
    for (size_t i = 0; i < node->nmodels && i < VG_CLUSTER_MAX_MODELS; i++) {
        const vg_cluster_model *m = &node->models[i];
        vg_buf_printf(out, "%s %s %u %u\n", m->name, m->state, m->ready, m->free);
    }
}


/* The next space- or newline-ended word of the line [*p, end). */
static vg_str
word(const char **p, const char *end)
{
    const char *s = *p;
    while (*p < end && **p != ' ' && **p != '\n')
        (*p)++;
    vg_str w = { s, (size_t)(*p - s) };
    if (*p < end && **p == ' ')
        (*p)++;
    return w;
}


static int
word_num(vg_str w, unsigned *out)
{
    uint64_t x;
    if (w.n > 6 || parse_u64(w, &x) < 0)
        return -1;
    *out = (unsigned)x;
    return 0;
}


int
vg_cluster_node_decode(const char *p, size_t n, vg_cluster_node *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *end = p + n;
    if (n > 8192)
        return proto(err, errlen, "placement record too long");
    vg_str magic = word(&p, end), ver = word(&p, end), role = word(&p, end), name = word(&p, end);
    if (!vg_str_eq(magic, "vigia-node") || !vg_str_eq(ver, "1") || p >= end || *p != '\n')
        return proto(err, errlen, "bad placement header");
    p++;
    if (!vg_str_eq(role, "worker") && !vg_str_eq(role, "front"))
        return proto(err, errlen, "bad node role");
    if (!vg_cluster_name_ok(name.p, name.n))
        return proto(err, errlen, "bad node name");
    memcpy(out->role, role.p, role.n);
    memcpy(out->name, name.p, name.n);
    while (p < end) {
        if (out->nmodels == VG_CLUSTER_MAX_MODELS)
            return proto(err, errlen, "too many models");
        vg_cluster_model *m = &out->models[out->nmodels];
        vg_str mn = word(&p, end), st = word(&p, end), rd = word(&p, end), fr = word(&p, end);
        if (p >= end || *p != '\n' || !vg_cluster_name_ok(mn.p, mn.n) || st.n == 0 || st.n >= sizeof m->state ||
            !vg_cluster_name_ok(st.p, st.n) || word_num(rd, &m->ready) < 0 || word_num(fr, &m->free) < 0)
            return proto(err, errlen, "bad model line");
        p++;
        memcpy(m->name, mn.p, mn.n);
        memcpy(m->state, st.p, st.n);
        out->nmodels++;
    }
    return 0;
}
