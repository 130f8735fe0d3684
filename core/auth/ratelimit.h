/*
 * ratelimit: token buckets keyed by a short string (a client address, a
 * user id, a login name). Each key's bucket holds up to `burst` tokens and
 * refills at `rate` per second; a request takes one. Memory is bounded:
 * beyond max_keys the least recently used bucket is forgotten (a forgotten
 * bucket comes back full, which only errs on the side of letting through).
 * Master process only; no locking.
 */
#ifndef VG_RATELIMIT_H
#define VG_RATELIMIT_H

#include <stddef.h>

#define VG_RATELIMIT_KEY_MAX 128

typedef struct vg_ratelimit vg_ratelimit;

vg_ratelimit *vg_ratelimit_create(double rate, double burst, size_t max_keys);
void vg_ratelimit_destroy(vg_ratelimit *rl);
/* New limits (SIGHUP); existing buckets keep their tokens, capped at burst. */
void vg_ratelimit_set(vg_ratelimit *rl, double rate, double burst);

/*
 * Takes `cost` tokens from key's bucket at time `now` (seconds, monotonic).
 * Returns 0 when allowed, else the seconds until that many tokens are
 * back (> 0); a refused request takes nothing.
 */
double vg_ratelimit_take(vg_ratelimit *rl, const char *key, size_t n, double cost, double now);
/* Puts a token back (a login that succeeded should not count against the account). */
void vg_ratelimit_give(vg_ratelimit *rl, const char *key, size_t n, double cost);
size_t vg_ratelimit_count(const vg_ratelimit *rl);

#endif
