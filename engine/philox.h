/* Philox4x32-10 (Salmon et al., SC'11), the counter-based generator behind
 * vkflow's random numbers. shaders/philox.glsl is the same code in GLSL; both
 * must produce the same bits for the same (key, counter).
 *
 * Key: the 64-bit seed (k0 = low word, k1 = high word).
 * Counter: {block lo, block hi, stream, 0}. */
#ifndef VKFLOW_PHILOX_H
#define VKFLOW_PHILOX_H

#include <math.h>
#include <stdint.h>

#define VF_PHILOX_M0 0xD2511F53u
#define VF_PHILOX_M1 0xCD9E8D57u
#define VF_PHILOX_W0 0x9E3779B9u
#define VF_PHILOX_W1 0xBB67AE85u

static inline void vf_philox4x32_10(const uint32_t ctr_in[4], uint32_t k0, uint32_t k1,
                                    uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)VF_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)VF_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += VF_PHILOX_W0;
        k1 += VF_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Uniform in (0, 1) from the top 24 bits: exact in float32, never 0 or 1. */
static inline float vf_philox_uniform(uint32_t w) {
    return ((float)(w >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* Fills the 4 outputs of block `block` (64-bit) of stream `stream`:
 * uniforms, or normals by Box-Muller on the pairs (0,1) and (2,3). */
static inline void vf_philox_block(uint64_t seed, uint32_t stream, uint64_t block, int normal,
                                   float out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), stream, 0}, w[4];
    vf_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32), w);
    float u[4];
    for (int i = 0; i < 4; i++) u[i] = vf_philox_uniform(w[i]);
    if (!normal) {
        for (int i = 0; i < 4; i++) out[i] = u[i];
        return;
    }
    for (int i = 0; i < 4; i += 2) {
        float r = sqrtf(-2.0f * logf(u[i]));
        float th = 6.2831853071795864f * u[i + 1];
        out[i] = r * cosf(th);
        out[i + 1] = r * sinf(th);
    }
}

#endif
