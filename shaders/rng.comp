#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"
// rng: out[i] for i < n from Philox4x32-10 keyed by seed = (u1 lo, u2 hi):
// element i uses block base + i/4, word i%4, with counter {block lo, block hi,
// stream u3, 0} and base = ctr[0] | ctr[1] << 32 read at run time (replay
// picks up a new counter). u4 = 0: uniforms ((w >> 8) + 0.5) 2^-24, the same
// bits as engine/philox.h; u4 = 1: normals by Box-Muller on the word pairs
// (0,1), (2,3): r = sqrt(-2 log u0), (r cos(2 pi u1), r sin(2 pi u1)); these
// match the cpu within the drivers' transcendental precision, not bitwise.
// Bindings: 0 ctr (int32 [2]), 1 out. Push: u0 = n, u1 seed lo, u2 seed hi,
// u3 stream, u4 normal.
// Dispatch: 1-D, one invocation per block of 4 outputs: ceil(ceil(n/4) / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer CT { uint ctr[]; };
layout(std430, set = 0, binding = 1) writeonly buffer O { float o[]; };

void main() {
    uint blk = vf_linear_id(), n = pc.u[0];
    uint i0 = blk * 4u;
    if (blk >= (n + 3u) / 4u) return;
    uint carry;
    uint lo = uaddCarry(ctr[0], blk, carry);
    uint hi = ctr[1] + carry;
    uvec4 w = vf_philox4x32_10(uvec4(lo, hi, pc.u[3], 0u), pc.u[1], pc.u[2]);
    vec4 u = vec4(vf_philox_uniform(w.x), vf_philox_uniform(w.y),
                  vf_philox_uniform(w.z), vf_philox_uniform(w.w));
    if (pc.u[4] != 0u) {
        float r0 = sqrt(-2.0 * log(u.x)), t0 = 6.2831853071795864 * u.y;
        float r1 = sqrt(-2.0 * log(u.z)), t1 = 6.2831853071795864 * u.w;
        u = vec4(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
    }
    for (uint j = 0u; j < 4u; j++)
        if (i0 + j < n) o[i0 + j] = u[j];
}
