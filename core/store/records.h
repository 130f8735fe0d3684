/*
 * records: what the store keeps, as the layers above see it. Roles and
 * field limits, record keys, the user, API key and detection records, the
 * readers of stored detection and feedback records and the aggregates'
 * read side. Nothing here names LMDB: the operations on the database are
 * in store/db.h (the store's own) and store/store_read.h (the master's
 * reads).
 *
 * docs/storage.md lists the records' fields.
 */
#ifndef VG_RECORDS_H
#define VG_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

enum vg_role { VG_ROLE_NONE = 0, VG_ROLE_VIEWER = 1, VG_ROLE_OPERATOR = 2, VG_ROLE_ADMIN = 3 };
const char *vg_role_name(int role);
/* "admin" -> VG_ROLE_ADMIN; VG_ROLE_NONE when unknown. */
int vg_role_parse(const char *s, size_t n);

#define VG_DB_NAME_MAX 64
#define VG_DB_EMAIL_MAX 254
#define VG_DB_HASH_MAX 160
#define VG_DB_LABEL_MAX 128
#define VG_DB_SOURCE_MAX 128
#define VG_DB_KEYNAME_MAX 128
#define VG_DB_TEXT_MAX 2000
#define VG_DB_DETKEY 16                /* detection and feedback keys */
#define VG_DB_FAMILY 16

/* Latency histogram of the aggregates: upper bounds in ms, the last is +Inf. */
#define VG_DB_LAT_BUCKETS 14
extern const double vg_db_lat_bounds_ms[VG_DB_LAT_BUCKETS];

/* ---- keys ---- */
void vg_db_be64(uint8_t out[8], uint64_t v);
uint64_t vg_db_get_be64(const uint8_t in[8]);
/* 32 lower-case hex digits of a 16-byte key; -1 when `hex` is not one. */
void vg_db_key_hex(const uint8_t key[16], char out[33]);
int vg_db_key_parse(const char *hex, size_t n, uint8_t key[16]);
/* A new time-ordered key: time_us big-endian, then 8 random bytes. */
void vg_db_key_new(uint8_t key[16], uint64_t time_us);
uint64_t vg_db_key_time(const uint8_t key[16]);

/* ---- users ---- */
typedef struct vg_user {
    uint64_t id;
    char name[VG_DB_NAME_MAX + 1];
    char email[VG_DB_EMAIL_MAX + 1];   /* "" when none */
    int role;
    char hash[VG_DB_HASH_MAX];         /* argon2id encoded */
    int64_t created, updated;          /* unix seconds */
    int disabled;
    int must_change;                   /* the password must be changed before anything else (the first
                                          admin's one-time password); a new password clears it */
} vg_user;

/* A change to a user; fields apply when their flag is set. */
typedef struct vg_user_patch {
    int set_email, set_role, set_hash, set_disabled;
    char email[VG_DB_EMAIL_MAX + 1];
    int role;
    char hash[VG_DB_HASH_MAX];
    int disabled;
    int64_t now;
} vg_user_patch;

/* ---- API keys ---- */
typedef struct vg_apikey {
    uint64_t uid, kid;
    char name[VG_DB_KEYNAME_MAX + 1];
    int role;                          /* at most the user's */
    int64_t created;
    int revoked;
    char prefix[16];                   /* first characters of the key, to recognise it */
    uint8_t hash[32];                  /* SHA-256 of the key */
} vg_apikey;

/* ---- detections ---- */
/*
 * What the store needs besides the encoded record: index values and the
 * aggregate inputs. Strings point into the caller's memory.
 */
typedef struct vg_det_meta {
    uint8_t key[VG_DB_DETKEY];
    uint64_t uid;
    vg_str source, model;
    uint64_t total_us;                 /* latency for the histograms */
    uint32_t nlabels;                  /* distinct labels */
    vg_str labels[256];
    uint32_t counts[256];              /* objects per label */
} vg_det_meta;

/* Fields of a stored detection that the store itself reads (retention, filters). */
typedef struct vg_det_view {
    uint64_t uid;
    vg_str source, model;
    const uint8_t *image;              /* 32 bytes or NULL */
    uint32_t nlabels;
    vg_str labels[256];
} vg_det_view;
int vg_det_view_decode(const void *p, size_t n, vg_det_view *v);

/* A stored detection record in full, as the history shows it; strings and arrays point into it. */
typedef struct vg_det_record {
    uint64_t uid;
    vg_str user, source, model, backend; /* "" when absent */
    vg_str image_kind;                 /* "annotated", "original" or "none" */
    int64_t width, height;
    const uint8_t *image;              /* SHA-256 of the kept image, or NULL */
    const uint8_t *dets;               /* the msgpack array of [label, class, confidence, 4 box edges], or NULL */
    size_t dets_len;
    uint64_t timings_us[6];            /* queue, decode, infer, post, annotate, total */
    int64_t task;                      /* 1: a classification (its dets: classes of the whole image); 0 detect */
} vg_det_record;
int vg_det_record_decode(const void *p, size_t n, vg_det_record *d);

/* One detection of a stored record; label points into the record. */
typedef struct vg_det_entry {
    vg_str label;
    int64_t class_id;
    double confidence;
    int64_t box[4];                    /* x_min, y_min, x_max, y_max */
} vg_det_entry;
/*
 * Calls fn for each detection of d, in order. 0, or VG_E_CORRUPT at the
 * first damaged one (fn saw those before it).
 */
int vg_det_record_walk(const vg_det_record *d, void (*fn)(const vg_det_entry *e, void *ud), void *ud);

/* ---- feedback ---- */
/* A stored feedback record; strings point into the record. */
typedef struct vg_feedback_view {
    uint8_t det[VG_DB_DETKEY];         /* the detection it is about, when has_det */
    int has_det;
    uint64_t uid;
    vg_str user;                       /* name; "" when none */
    int correct;                       /* 1, 0, or -1 when it gives no verdict */
    vg_str label, text;                /* p is NULL when absent */
} vg_feedback_view;
int vg_feedback_view_decode(const void *p, size_t n, vg_feedback_view *f);

/* ---- images (content-addressed files; the store writes them) ---- */
/* DATA/images/ab/cdef....jpg */
void vg_db_image_path(const char *data_dir, const uint8_t sha[32], char *out, size_t cap);

/* ---- aggregates (read side) ---- */
typedef struct vg_agg_named {
    char name[VG_DB_LABEL_MAX + 1];
    uint64_t n, objects;
    uint64_t lat_sum_us;
    uint64_t hist[VG_DB_LAT_BUCKETS];
} vg_agg_named;

typedef struct vg_agg_bucket {
    uint64_t n, objects, lat_sum_us;
    uint64_t hist[VG_DB_LAT_BUCKETS];
    int nlabels, nmodels;
    vg_agg_named *labels;              /* malloc'd */
    vg_agg_named *models;
    int nunique, nupper, nlower;       /* tracked objects (streams): unique ones per label, and person
                                          tracks' voted colours; the count is in each entry's `objects` */
    vg_agg_named *unique, *upper, *lower;   /* malloc'd */
} vg_agg_bucket;

void vg_agg_bucket_init(vg_agg_bucket *b);
void vg_agg_bucket_release(vg_agg_bucket *b);
int vg_agg_bucket_decode(const void *p, size_t n, vg_agg_bucket *b);
/* Adds src into dst. */
void vg_agg_bucket_merge(vg_agg_bucket *dst, const vg_agg_bucket *src);
/* Latency percentile (0..1) in ms from a histogram; 0 when empty. */
double vg_agg_percentile(const uint64_t hist[VG_DB_LAT_BUCKETS], double q);
/* Key of an hour ('h') or day ('d') bucket. */
void vg_agg_key(uint8_t out[5], char kind, uint32_t index);

typedef struct vg_user_activity {
    uint64_t detections, objects, feedback, logins;
    int64_t last_detection_us, last_login;
} vg_user_activity;

#endif
