/* unique_req: UNIQUE_ADD's encoder and bounded decoder (see unique_req.h). */
#include "store/unique_req.h"

#include "base/error.h"
#include "store/records.h"

static int
fits(vg_str s)
{
    return s.n <= VG_DB_LABEL_MAX && (s.p || s.n == 0);
}


static void
put(vg_mpw *w, vg_str s)
{
    if (s.p && s.n)
        vg_mpw_str(w, s.p, s.n);
    else
        vg_mpw_nil(w);
}


int
vg_unique_req_encode(vg_buf *out, int op, const vg_unique_req *q)
{
    if (q->t_ms == 0 || q->t_ms > VG_UNIQUE_MAX_MS || !fits(q->label) || !fits(q->upper) || !fits(q->lower))
        return VG_E_INVAL;
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_array(&w, 5);
    vg_mpw_i64(&w, op);
    vg_mpw_u64(&w, q->t_ms);
    put(&w, q->label);
    put(&w, q->upper);
    put(&w, q->lower);
    return 0;
}


/* A string of at most VG_DB_LABEL_MAX bytes, or nil (left empty). */
static int
name(vg_mpr *r, vg_str *out)
{
    *out = (vg_str){ NULL, 0 };
    if (vg_mpr_nil(r))
        return 0;
    if (vg_mpr_str_only(r, out) < 0 || out->n > VG_DB_LABEL_MAX)
        return -1;
    if (out->n == 0)
        out->p = NULL;
    return 0;
}


int
vg_unique_req_decode(vg_mpr *r, uint32_t cnt, vg_unique_req *q)
{
    if (cnt != 5 || vg_mpr_u64(r, &q->t_ms) < 0 || q->t_ms == 0 || q->t_ms > VG_UNIQUE_MAX_MS ||
        name(r, &q->label) < 0 || name(r, &q->upper) < 0 || name(r, &q->lower) < 0 || r->err)
        return VG_E_STORE_PROTO;
    return 0;
}
