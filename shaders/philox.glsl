// Philox4x32-10 (Salmon et al., SC'11): the GLSL twin of engine/philox.h.
// Both must give the same bits for the same (key, counter); the uniform
// output is exact in float32 so uniforms are bit-identical across backends.
// Key: the 64-bit seed (k0 = low word, k1 = high word).
// Counter: {block lo, block hi, stream, 0}.

#ifndef VF_PHILOX_GLSL
#define VF_PHILOX_GLSL

const uint VF_PHILOX_M0 = 0xD2511F53u;
const uint VF_PHILOX_M1 = 0xCD9E8D57u;
const uint VF_PHILOX_W0 = 0x9E3779B9u;
const uint VF_PHILOX_W1 = 0xBB67AE85u;

uvec4 vf_philox4x32_10(uvec4 c, uint k0, uint k1) {
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(VF_PHILOX_M0, c.x, hi0, lo0);
        umulExtended(VF_PHILOX_M1, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
        k0 += VF_PHILOX_W0;
        k1 += VF_PHILOX_W1;
    }
    return c;
}

// Uniform in (0, 1) from the top 24 bits: (w >> 8) and + 0.5 are exact in
// float32, and the scale is a power of two, so every step is exact.
float vf_philox_uniform(uint w) {
    return (float(w >> 8) + 0.5) * (1.0 / 16777216.0);
}

#endif
