/* db_images: reference counts of the content-addressed image files (see db.h). */
#include "store/db.h"

#include <stdio.h>
#include <string.h>

#include "base/hex.h"
#include "base/mpk.h"
#include "store/db_internal.h"

void
vg_db_image_path(const char *data_dir, const uint8_t sha[32], char *out, size_t cap)
{
    char hex[65];
    vg_hex_encode(sha, 32, hex);
    snprintf(out, cap, "%s/images/%.2s/%s.jpg", data_dir, hex, hex + 2);
}


/* An image's entry: [references, size, created]. */
static int
image_put(vg_db *db, MDB_txn *txn, const uint8_t sha[32], uint64_t refs, uint64_t size, int64_t created)
{
    vg_buf b;
    vg_buf_init(&b);
    vg_mpw w;
    vg_mpw_init(&w, &b);
    vg_mpw_array(&w, 3);
    vg_mpw_u64(&w, refs);
    vg_mpw_u64(&w, size);
    vg_mpw_i64(&w, created);
    return vg_db_err(vg_db__put_buf(txn, db->images, sha, 32, &b, 0));
}


int
vg_db_image_ref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], uint64_t size, int64_t now, int *is_new)
{
    MDB_val v;
    uint64_t refs = 0;
    int rc = vg_db__get(txn, db->images, sha, 32, &v);
    *is_new = rc == MDB_NOTFOUND;
    if (rc == 0) {
        vg_mpr r;
        uint32_t n;
        vg_mpr_init(&r, v.mv_data, v.mv_size);
        if (vg_mpr_array(&r, &n) == 0 && n >= 1)
            vg_mpr_u64(&r, &refs);
    } else if (rc != MDB_NOTFOUND) {
        return vg_db_err(rc);
    }
    return image_put(db, txn, sha, refs + 1, size, now);
}


int
vg_db_image_unref(vg_db *db, MDB_txn *txn, const uint8_t sha[32], int *gone)
{
    MDB_val v;
    uint64_t refs = 0, size = 0;
    int64_t created = 0;
    *gone = 0;
    int rc = vg_db__get(txn, db->images, sha, 32, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return vg_db_err(rc);
    vg_mpr r;
    uint32_t n;
    vg_mpr_init(&r, v.mv_data, v.mv_size);
    if (vg_mpr_array(&r, &n) == 0 && n >= 3) {
        vg_mpr_u64(&r, &refs);
        vg_mpr_u64(&r, &size);
        vg_mpr_i64(&r, &created);
    }
    if (refs <= 1) {
        *gone = 1;
        return vg_db_err(vg_db__del(txn, db->images, sha, 32));
    }
    return image_put(db, txn, sha, refs - 1, size, created);
}
