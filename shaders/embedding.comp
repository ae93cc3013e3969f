#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// embedding: y[n, d] = table[idx[n], d] for idx [N] (int32), table [V, D];
// an index outside [0, V) gives a zero row.
// Bindings: 0 idx (int), 1 table, 2 y. Push: u0 = N, u1 = V, u2 = D.
// Dispatch: 1-D, ceil(N*D / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer I { int idx[]; };
layout(std430, set = 0, binding = 1) readonly buffer T { float table[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Yb { float y[]; };

void main() {
    uint e = vf_linear_id(), D = pc.u[2];
    if (e >= pc.u[0] * D) return;
    uint n = e / D, d = e - n * D;
    int v = idx[n];
    y[e] = (v >= 0 && uint(v) < pc.u[1]) ? table[uint(v) * D + d] : 0.0;
}
