#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// per_example_sqnorm: per-example squared gradient norms of a weight used at
// T steps, from x [B, T*I] and dy [B, T*O] (step t = columns t*I.. / t*O..):
//   out[b] = sum_{t,s} (x_bt . x_bs)(dy_bt . dy_bs)      (the Gram form)
// thread j of example b's workgroup takes the step pairs p = j, j + W, ...
// of the T*T grid (t = p / T, s = p % T), keeps s <= t (off-diagonal pairs
// count twice) and forms both dot products itself; then a fixed-order tree.
// With no x (u2 = 0, binding 0 unused) the bias norm:
//   out[b] = ||sum_t dy_bt||^2, thread j taking the columns o = j, j + W, ...
// Bindings: 0 x, 1 dy, 2 out. Push: u0 = B, u1 = T, u2 = I (0: bias), u3 = O.
// Dispatch: one workgroup (reduce_wg threads) per example, B groups, 1-D.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer OUT { float o[]; };

void main() {
    uint b = vf_linear_group(), T = pc.u[1], I = pc.u[2], O = pc.u[3];
    if (b >= pc.u[0]) return; // uniform per workgroup: barriers stay legal
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x;
    uint xb = b * T * I, gb = b * T * O;
    float acc = 0.0;
    if (I == 0u) {
        for (uint c = t; c < O; c += W) {
            float s = 0.0;
            for (uint k = 0u; k < T; k++) s += dy[gb + k * O + c];
            acc += s * s;
        }
    } else {
        for (uint p = t; p < T * T; p += W) {
            uint ti = p / T, si = p - ti * T;
            if (si > ti) continue;
            float xx = 0.0, gg = 0.0;
            for (uint i = 0u; i < I; i++) xx += x[xb + ti * I + i] * x[xb + si * I + i];
            for (uint c = 0u; c < O; c++) gg += dy[gb + ti * O + c] * dy[gb + si * O + c];
            acc += (si == ti ? 1.0 : 2.0) * xx * gg;
        }
    }
    acc = vf_wg_sum(acc);
    if (t == 0u) o[b] = acc;
}
