/* rng: see rng.h. */
#include "base/rng.h"

#include <string.h>

int
vg_rng_init(vg_rng *r, const char *personal)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)personal,
                                 strlen(personal));
}


void
vg_rng_free(vg_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
}


int
vg_rng_random(void *rng, unsigned char *out, size_t n)
{
    return mbedtls_ctr_drbg_random(&((vg_rng *)rng)->drbg, out, n);
}
