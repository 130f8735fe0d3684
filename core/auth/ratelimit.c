/* ratelimit: see ratelimit.h. A chained hash table plus an LRU list. */
#include "auth/ratelimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/list.h"

typedef struct bucket {
    struct bucket *hnext;          /* hash chain */
    vg_link lru;                   /* in the LRU list, most recent first */
    double tokens;
    double stamp;                  /* time of the last refill */
    uint32_t hash;
    uint8_t len;
    char key[VG_RATELIMIT_KEY_MAX];
} bucket;

struct vg_ratelimit {
    double rate, burst;
    size_t max, count, nslots;
    bucket **slots;
    vg_list lru;                   /* every bucket, most recently used first */
};


static uint32_t
hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}


vg_ratelimit *
vg_ratelimit_create(double rate, double burst, size_t max_keys)
{
    vg_ratelimit *rl = vg_xcalloc(1, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->max = max_keys ? max_keys : 1;
    rl->nslots = 64;
    while (rl->nslots < rl->max)
        rl->nslots *= 2;
    rl->slots = vg_xcalloc(rl->nslots, sizeof *rl->slots);
    return rl;
}


void
vg_ratelimit_destroy(vg_ratelimit *rl)
{
    if (!rl)
        return;
    vg_list_each_safe(b, next, &rl->lru, bucket, lru)
        free(b);
    free(rl->slots);
    free(rl);
}


void
vg_ratelimit_set(vg_ratelimit *rl, double rate, double burst)
{
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
}


size_t
vg_ratelimit_count(const vg_ratelimit *rl)
{
    return rl->count;
}


static void
evict(vg_ratelimit *rl)
{
    bucket *b = vg_list_last(&rl->lru, bucket, lru);
    vg_list_remove(&rl->lru, &b->lru);
    bucket **pp = &rl->slots[b->hash & (rl->nslots - 1)];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    rl->count--;
    free(b);
}


static bucket *
find(vg_ratelimit *rl, const char *key, size_t n, double now, int create)
{
    if (n > VG_RATELIMIT_KEY_MAX)
        n = VG_RATELIMIT_KEY_MAX;
    uint32_t h = hash(key, n);
    bucket **slot = &rl->slots[h & (rl->nslots - 1)];
    for (bucket *b = *slot; b; b = b->hnext) {
        if (b->hash == h && b->len == n && memcmp(b->key, key, n) == 0) {
            vg_list_remove(&rl->lru, &b->lru);
            vg_list_push_front(&rl->lru, &b->lru);
            return b;
        }
    }
    if (!create)
        return NULL;
    if (rl->count >= rl->max)
        evict(rl);
    bucket *b = vg_xcalloc(1, sizeof *b);
    b->hash = h;
    b->len = (uint8_t)n;
    memcpy(b->key, key, n);
    b->tokens = rl->burst;
    b->stamp = now;
    b->hnext = *slot;
    *slot = b;
    vg_list_push_front(&rl->lru, &b->lru);
    rl->count++;
    return b;
}


double
vg_ratelimit_take(vg_ratelimit *rl, const char *key, size_t n, double cost, double now)
{
    bucket *b = find(rl, key, n, now, 1);
    if (now > b->stamp) {
        b->tokens += (now - b->stamp) * rl->rate;
        b->stamp = now;
    }
    if (b->tokens > rl->burst)
        b->tokens = rl->burst;
    if (b->tokens >= cost) {
        b->tokens -= cost;
        return 0;
    }
    if (rl->rate <= 0)
        return 3600;
    return (cost - b->tokens) / rl->rate;
}


void
vg_ratelimit_give(vg_ratelimit *rl, const char *key, size_t n, double cost)
{
    bucket *b = find(rl, key, n, 0, 0);
    if (b) {
        b->tokens += cost;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
    }
}
