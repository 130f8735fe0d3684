/*
 * rng: a random generator for the cryptography (TLS handshakes, token
 * signatures): mbedtls' CTR-DRBG seeded from the system's entropy. One per
 * owner (a TLS context, a JWT signer); not shared between threads.
 *
 * mbedtls calls that take (f_rng, p_rng) get (vg_rng_random, rng).
 */
#ifndef VG_RNG_H
#define VG_RNG_H

#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

typedef struct vg_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} vg_rng;

/*
 * Seeds r; `personal` tells this generator apart from others. Returns 0 or
 * an mbedtls error; vg_rng_free() is needed either way.
 */
int vg_rng_init(vg_rng *r, const char *personal);
void vg_rng_free(vg_rng *r);
/* n random bytes into out; rng is a vg_rng *. 0 or an mbedtls error. */
int vg_rng_random(void *rng, unsigned char *out, size_t n);

#endif
