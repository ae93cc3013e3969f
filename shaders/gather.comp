#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// gather: y[r, k] = x[r, idx[r, k]] for x [R, C], idx [R, K] (int32), y [R, K];
// an index outside [0, C) gives 0.
// Bindings: 0 x, 1 idx (int), 2 y. Push: u0 = R, u1 = C, u2 = K.
// Dispatch: 1-D, one invocation per element of y, ceil(R*K / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer I { int idx[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Yb { float y[]; };

void main() {
    uint e = vf_linear_id(), C = pc.u[1], K = pc.u[2];
    if (e >= pc.u[0] * K) return;
    uint r = e / K;
    int v = idx[e];
    y[e] = (v >= 0 && uint(v) < C) ? x[r * C + uint(v)] : 0.0;
}
