/* repl_entry: a committed request as a replicated entry (see repl_entry.h). */
#include "store/repl_entry.h"

#include "base/error.h"
#include "store/records.h"
#include "store/store_ops.h"

/* Copies the raw bytes of the next k elements of r to out. */
static int
copy_elems(vg_mpr *r, uint32_t k, vg_buf *out)
{
    const uint8_t *from = r->p;
    for (uint32_t i = 0; i < k; i++)
        if (vg_mpr_skip(r) < 0)
            return -1;
    vg_buf_append(out, from, (size_t)(r->p - from));
    return 0;
}


int
vg_store_repl_entry(const uint8_t *req, size_t n, int status, vg_mpr *rest, vg_buf *out)
{
    vg_mpr r;
    uint32_t cnt;
    int64_t op;
    vg_mpr_init(&r, req, n);
    if (vg_mpr_array(&r, &cnt) < 0 || cnt < 1 || vg_mpr_i64(&r, &op) < 0)
        return VG_E_STORE_PROTO;
    /* a reused refresh token revoked its session: that must reach every node */
    if (status != 0 && !(op == VG_STORE_SESSION_ROTATE && status == VG_E_TOKEN_REUSED))
        return 0;
    size_t start = out->len;
    vg_mpw w;
    vg_mpw_init(&w, out);
    int rc = 1;
    switch (op) {
    case VG_STORE_USER_CREATE:
    case VG_STORE_APIKEY_CREATE: {   /* + the id this node assigned */
        uint64_t id;
        if (cnt != 7 || !rest || vg_mpr_u64(rest, &id) < 0 || id == 0)
            goto bad;
        vg_mpw_array(&w, cnt + 1);
        vg_mpw_i64(&w, op);
        if (copy_elems(&r, cnt - 1, out) < 0)
            goto bad;
        vg_mpw_u64(&w, id);
        break;
    }
    case VG_STORE_DET_ADD: {   /* without the image: it stays here */
        const uint8_t *rec;
        size_t rn;
        if (cnt != 9)
            goto bad;
        vg_mpw_array(&w, cnt);
        vg_mpw_i64(&w, op);
        if (copy_elems(&r, 6, out) < 0 || vg_mpr_bin(&r, &rec, &rn) < 0 || rn < 34)
            goto bad;
        int img = !vg_mpr_nil(&r);
        if (img && rec[rn - 34] == 0xc4 && rec[rn - 33] == 32) {   /* "img": bin8(32) -> nil */
            vg_mpw_bin_header(&w, rn - 33);
            vg_buf_append(out, rec, rn - 34);
            vg_buf_putc(out, (char)0xc0);
        } else {
            vg_mpw_bin(&w, rec, rn);
        }
        vg_mpw_nil(&w);
        break;
    }
    case VG_STORE_USER_UPDATE:
    case VG_STORE_USER_DELETE:
    case VG_STORE_SESSION_CREATE:
    case VG_STORE_SESSION_ROTATE:
    case VG_STORE_FAMILY_REVOKE:
    case VG_STORE_APIKEY_REVOKE:
    case VG_STORE_FEEDBACK_ADD:
    case VG_STORE_UNIQUE_ADD:
    case VG_STORE_EVENT_ADD:
    case VG_STORE_CAMERA_PUT:
        vg_mpr_init(&r, req, n);
        if (copy_elems(&r, 1, out) < 0 || r.p != r.end)
            goto bad;
        break;
    default:   /* SYNC, REPL (never relayed), unknown */
        rc = 0;
        break;
    }
    return rc;
bad:
    out->len = start;
    return VG_E_STORE_PROTO;
}


int
vg_store_repl_entry_camera(const uint8_t *p, size_t n, vg_str *id, const uint8_t **shapes, size_t *shapes_n)
{
    vg_mpr r;
    uint32_t cnt;
    int64_t op;
    vg_mpr_init(&r, p, n);
    return vg_mpr_array(&r, &cnt) == 0 && cnt == 3 && vg_mpr_i64(&r, &op) == 0 && op == VG_STORE_CAMERA_PUT &&
           vg_mpr_str(&r, id) == 0 && id->n > 0 && id->n <= VG_DB_SOURCE_MAX &&
           vg_mpr_bin(&r, shapes, shapes_n) == 0;
}
