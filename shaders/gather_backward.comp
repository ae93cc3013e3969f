#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// gather_backward: dx [R, C] = scatter-add of dy [R, K] at the columns
// idx [R, K] (int32), deterministic (no float atomics). Two passes (u9, a
// barrier in between):
//  pass 0: dx = 0, one invocation per element, ceil(R*C / wg) groups;
//  pass 1: one invocation per row r (ceil(R / wg) groups) owns dx[r, :] and
//          adds dy[r, k] for k = 0..K-1 in order, skipping indices outside
//          [0, C). Same order as the cpu backend, so the same bits.
// Bindings: 0 idx (int), 1 dy, 2 dx. Push: u0 = R, u1 = C, u2 = K, u9 = pass.

layout(std430, set = 0, binding = 0) readonly buffer I { int idx[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) buffer DX { float dx[]; };

void main() {
    uint R = pc.u[0], C = pc.u[1], K = pc.u[2];
    uint e = vf_linear_id();
    if (VF_PASS == 0u) {
        if (e < R * C) dx[e] = 0.0;
        return;
    }
    if (e >= R) return;
    for (uint k = 0u; k < K; k++) {
        int v = idx[e * K + k];
        if (v < 0 || uint(v) >= C) continue;
        dx[e * C + uint(v)] += dy[e * K + k];
    }
}
