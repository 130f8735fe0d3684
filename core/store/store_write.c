/* store_write: see store_write.h. */
#include "store/store_write.h"

#include <stdlib.h>

#include "base/mpk.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store/unique_req.h"

/* Sends q to the store (see vg_store_call) and releases it. */
static int
request_send(vg_store *s, vg_store__request *q, const void *tail, size_t tail_n, vg_store_cb cb, void *ud)
{
    int rc = vg_store_call(s, q->b.data, q->b.len, tail, tail_n, cb, ud);
    vg_buf_release(&q->b);
    return rc;
}


int
vg_store_detection_add(vg_store *s, const vg_det_meta *m, const void *rec, size_t n, const void *image,
                       size_t image_len, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_DET_ADD, 8);
    vg_mpw_bin(&q.w, m->key, VG_DB_DETKEY);
    vg_mpw_u64(&q.w, m->uid);
    vg_mpw_str(&q.w, m->source.p, m->source.n);
    vg_mpw_str(&q.w, m->model.p, m->model.n);
    vg_mpw_u64(&q.w, m->total_us);
    vg_mpw_array(&q.w, m->nlabels);
    for (uint32_t i = 0; i < m->nlabels; i++) {
        vg_mpw_array(&q.w, 2);
        vg_mpw_str(&q.w, m->labels[i].p, m->labels[i].n);
        vg_mpw_u64(&q.w, m->counts[i]);
    }
    vg_mpw_bin(&q.w, rec, n);
    if (!image) {
        vg_mpw_nil(&q.w);
        return request_send(s, &q, NULL, 0, cb, ud);
    }
    /* the image bytes follow the bin header straight from the caller's buffer */
    msgpack_pack_bin(&q.w.pk, image_len);
    return request_send(s, &q, image, image_len, cb, ud);
}


int
vg_store_event_add(vg_store *s, const uint8_t key[VG_DB_DETKEY], const void *json, size_t n, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_EVENT_ADD, 2);
    vg_mpw_bin(&q.w, key, VG_DB_DETKEY);
    vg_mpw_bin(&q.w, json, n);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_camera_put(vg_store *s, const char *id, const void *json, size_t n, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_CAMERA_PUT, 2);
    vg_mpw_cstr(&q.w, id);
    vg_mpw_bin(&q.w, json, n);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_feedback_add(vg_store *s, const uint8_t key[VG_DB_DETKEY], const uint8_t det[VG_DB_DETKEY], uint64_t uid,
                      const void *rec, size_t n, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_FEEDBACK_ADD, 4);
    vg_mpw_bin(&q.w, key, VG_DB_DETKEY);
    vg_mpw_bin(&q.w, det, VG_DB_DETKEY);
    vg_mpw_u64(&q.w, uid);
    vg_mpw_bin(&q.w, rec, n);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_user_create(vg_store *s, const vg_user *u, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_USER_CREATE, 6);
    vg_mpw_cstr(&q.w, u->name);
    vg_mpw_cstr(&q.w, u->email);
    vg_mpw_i64(&q.w, u->role);
    vg_mpw_cstr(&q.w, u->hash);
    vg_mpw_i64(&q.w, u->created);
    vg_mpw_bool(&q.w, u->must_change);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_user_update(vg_store *s, uint64_t uid, const vg_user_patch *p, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_USER_UPDATE, 6);
    vg_mpw_u64(&q.w, uid);
    vg_mpw_cstr(&q.w, p->set_email ? p->email : NULL);
    if (p->set_role)
        vg_mpw_i64(&q.w, p->role);
    else
        vg_mpw_nil(&q.w);
    vg_mpw_cstr(&q.w, p->set_hash ? p->hash : NULL);
    if (p->set_disabled)
        vg_mpw_bool(&q.w, p->disabled);
    else
        vg_mpw_nil(&q.w);
    vg_mpw_i64(&q.w, p->now);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_user_delete(vg_store *s, uint64_t uid, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_USER_DELETE, 1);
    vg_mpw_u64(&q.w, uid);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_session_create(vg_store *s, const uint8_t hash[32], uint64_t uid, const uint8_t family[VG_DB_FAMILY],
                        int64_t expires, int64_t now, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_SESSION_CREATE, 5);
    vg_mpw_bin(&q.w, hash, 32);
    vg_mpw_u64(&q.w, uid);
    vg_mpw_bin(&q.w, family, VG_DB_FAMILY);
    vg_mpw_i64(&q.w, expires);
    vg_mpw_i64(&q.w, now);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_session_rotate(vg_store *s, const uint8_t old_hash[32], const uint8_t new_hash[32], int64_t now,
                        int64_t expires, int64_t grace, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_SESSION_ROTATE, 5);
    vg_mpw_bin(&q.w, old_hash, 32);
    vg_mpw_bin(&q.w, new_hash, 32);
    vg_mpw_i64(&q.w, now);
    vg_mpw_i64(&q.w, expires);
    vg_mpw_i64(&q.w, grace);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_family_revoke(vg_store *s, uint64_t uid, const uint8_t family[VG_DB_FAMILY], vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_FAMILY_REVOKE, 2);
    vg_mpw_u64(&q.w, uid);
    vg_mpw_bin(&q.w, family, VG_DB_FAMILY);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_apikey_create(vg_store *s, const uint8_t hash[32], const vg_apikey *k, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_APIKEY_CREATE, 6);
    vg_mpw_bin(&q.w, hash, 32);
    vg_mpw_u64(&q.w, k->uid);
    vg_mpw_cstr(&q.w, k->name);
    vg_mpw_i64(&q.w, k->role);
    vg_mpw_cstr(&q.w, k->prefix);
    vg_mpw_i64(&q.w, k->created);
    return request_send(s, &q, NULL, 0, cb, ud);
}


int
vg_store_apikey_revoke(vg_store *s, uint64_t uid, uint64_t kid, vg_store_cb cb, void *ud)
{
    vg_store__request q;
    vg_store__request_begin(&q, VG_STORE_APIKEY_REVOKE, 2);
    vg_mpw_u64(&q.w, uid);
    vg_mpw_u64(&q.w, kid);
    return request_send(s, &q, NULL, 0, cb, ud);
}



int
vg_store_unique_add(vg_store *s, uint64_t t_ms, const char *label, const char *upper, const char *lower,
                    vg_store_cb cb, void *ud)
{
    vg_unique_req q = { t_ms, vg_str_of(label ? label : ""), vg_str_of(upper ? upper : ""),
                        vg_str_of(lower ? lower : "") };
    vg_buf b;
    vg_buf_init(&b);
    int rc = vg_unique_req_encode(&b, VG_STORE_UNIQUE_ADD, &q);
    if (rc == 0)
        rc = vg_store_call(s, b.data, b.len, NULL, 0, cb, ud);
    vg_buf_release(&b);
    return rc;
}
