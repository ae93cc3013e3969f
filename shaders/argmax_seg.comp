#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"
// argmax_seg: within each segment of x [R, C] (table int32 [S, 2] = {offset,
// width}, or the whole row when u3 & 1 is 0), the index of the largest value
// of z = x, or with u3 & 2 (categorical sampling by Gumbel-max)
// z = x - log(-log u), u the Philox uniform of element i = r*C + c as rng.comp
// makes it (block ctr + i/4, word i%4, counter {lo, hi, stream u6, 0}, key
// (u4, u5)): the same bits as engine/philox.h.
// Ties go to the lowest index and NaN never wins, as on the cpu: each thread
// scans its columns in order with a strict > from -inf, then a fixed tree
// keeps the larger value, or the lower index of equal ones.
// Writes idx[r, s] (the index within the segment) and, with u3 & 4,
// onehot [R, C] = 1 at the chosen column, 0 elsewhere in the segment.
// Bindings: 0 x, 1 seg (int), 2 ctr (uint [2]), 3 idx (int), 4 onehot; the
// unused ones are bound to a dummy buffer.
// Push: u0 = R, u1 = C, u2 = S, u3 = flags, u4 seed lo, u5 seed hi, u6 stream.
// Dispatch: one workgroup (reduce_wg threads, a power of two) per (row,
// segment), R*S groups, 1-D.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer SG { int seg[]; };
layout(std430, set = 0, binding = 2) readonly buffer CT { uint ctr[]; };
layout(std430, set = 0, binding = 3) writeonly buffer I { int idx[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OH { float onehot[]; };

shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];

float uniform_at(uint i) {
    uint carry;
    uint lo = uaddCarry(ctr[0], i / 4u, carry);
    uvec4 w = vf_philox4x32_10(uvec4(lo, ctr[1] + carry, pc.u[6], 0u), pc.u[4], pc.u[5]);
    return vf_philox_uniform(w[i % 4u]);
}

void main() {
    uint g = vf_linear_group(), C = pc.u[1], S = pc.u[2], flags = pc.u[3];
    if (g >= pc.u[0] * S) return; // uniform per workgroup: barriers stay legal
    uint r = g / S, s = g - r * S, off = 0u, w = C;
    if ((flags & 1u) != 0u) { // clamped to the row, whatever the table holds
        off = min(uint(seg[2u * s]), C);
        w = min(uint(seg[2u * s + 1u]), C - off);
    }
    if (w == 0u) return;
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C + off;
    float bv = -1.0 / 0.0;
    uint bi = t < w ? t : 0xffffffffu; // an all -inf / NaN segment gives index 0
    for (uint c = t; c < w; c += W) {
        float v = x[base + c];
        if ((flags & 2u) != 0u) v -= log(-log(uniform_at(base + c)));
        if (v > bv) {
            bv = v;
            bi = c;
        }
    }
    red_v[t] = bv;
    red_i[t] = bi;
    barrier();
    for (uint h = W >> 1; h > 0u; h >>= 1) {
        if (t < h) {
            float v = red_v[t + h];
            uint i = red_i[t + h];
            if (v > red_v[t] || (v == red_v[t] && i < red_i[t])) {
                red_v[t] = v;
                red_i[t] = i;
            }
        }
        barrier();
    }
    uint win = red_i[0];
    if (t == 0u) idx[r * S + s] = int(win);
    if ((flags & 4u) != 0u)
        for (uint c = t; c < w; c += W) onehot[base + c] = c == win ? 1.0 : 0.0;
}
