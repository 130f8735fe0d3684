/*
 * backends/cpu/peak.h: register-only throughput loops of one zmm
 * instruction, for what a unit can do at best: the engine's choice of
 * bf16 kernels (bf16_avx512.c) and bench/engines/q8_peak. Included where
 * <immintrin.h> is, on x86-64.
 */
#ifndef VGC_PEAK_H
#define VGC_PEAK_H

/*
 * 16 accumulators, each step one instruction in asm: from the intrinsics
 * (an array or named variables alike) GCC 12 copied every accumulator to
 * another register and back each iteration (32 vmovdqa a 16 vpdpbusd),
 * which halved this "peak" on an Ice Lake Xeon (387.7 GOP/s against 660
 * for its GEMM), where zmm moves are not eliminated.
 */
#define VGC_ACC16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/*
 * fn: iters x 16 steps of the zmm instruction insn (c += a . b), each on
 * its own accumulator, a and b the 32-bit patterns abits and bbits in
 * every lane (write `static` before the macro for a file's own).
 * Accumulators are integer vectors whatever insn does with them (asm sees
 * registers); their bits, combined, only keep the loop alive.
 */
#define VGC_PEAK_STEP(insn, i) __asm__(insn " %2, %1, %0" : "+v"(c##i) : "v"(a), "v"(b));
#define VGC_PEAK_LOOP(fn, isa, insn, abits, bbits)                                                          \
    __attribute__((target(isa), noinline)) void fn(long iters, int32_t *sink)                               \
    {                                                                                                        \
        const __m512i a = _mm512_set1_epi32((int)(abits)), b = _mm512_set1_epi32((int)(bbits));              \
        __m512i s = _mm512_setzero_si512();                                                                  \
        VGC_ACC16(VGC_PEAK_DECL)                                                                             \
                                                                                                             \
        for (long it = 0; it < iters; it++) {                                                                \
            VGC_PEAK_STEP(insn, 0) VGC_PEAK_STEP(insn, 1) VGC_PEAK_STEP(insn, 2) VGC_PEAK_STEP(insn, 3)      \
            VGC_PEAK_STEP(insn, 4) VGC_PEAK_STEP(insn, 5) VGC_PEAK_STEP(insn, 6) VGC_PEAK_STEP(insn, 7)      \
            VGC_PEAK_STEP(insn, 8) VGC_PEAK_STEP(insn, 9) VGC_PEAK_STEP(insn, 10) VGC_PEAK_STEP(insn, 11)    \
            VGC_PEAK_STEP(insn, 12) VGC_PEAK_STEP(insn, 13) VGC_PEAK_STEP(insn, 14) VGC_PEAK_STEP(insn, 15)  \
        }                                                                                                    \
        VGC_ACC16(VGC_PEAK_SUM)                                                                              \
        *sink = _mm512_reduce_or_epi32(s);                                                                   \
    }
#define VGC_PEAK_DECL(i) __m512i c##i = _mm512_setzero_si512();
/* bits, not sums: GCC's _mm512_reduce_add_epi32 adds in signed int, which UBSan rightly calls an overflow */
#define VGC_PEAK_SUM(i) s = _mm512_xor_si512(s, c##i);

#endif /* VGC_PEAK_H */
