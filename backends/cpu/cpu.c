/*
 * backends/cpu/cpu.c: which SIMD level this CPU runs (checked at run time,
 * so one build runs everywhere).
 */
#include "internal.h"

int vgc_simd_detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return VGC_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return VGC_SIMD_AVX2;
#endif
    return VGC_SIMD_GENERIC;
}


const char *vgc_simd_name(int simd)
{
    switch (simd) {
    case VGC_SIMD_AVX512: return "avx512";
    case VGC_SIMD_AVX2: return "avx2";
    case VGC_SIMD_GENERIC: return "generic";
    default: return "auto";
    }
}
