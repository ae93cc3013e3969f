#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// reduce: sums (of squares when u3 = 1) of x [R, C], times f0:
//   axis u2 = 0 (rows): y[r] = f0 * sum_c x[r, c]^(1|2)    y [R]
//   axis u2 = 1 (cols): y[c] = f0 * sum_r x[r, c]^(1|2)    y [C]
//   axis u2 = 2 (all):  y[0] = f0 * sum   x^(1|2)          y [1]
// Bindings: 0 x, 1 y. Push: u0 = R, u1 = C, u2 = axis, u3 = square, f0 scale.
// Spec constant 1 PER_THREAD picks the geometry (vk_kernels.c):
//   PER_THREAD = 0: one workgroup (reduce_wg threads, power of two) per output
//     with a fixed-order tree; rows: R groups; all: 1 group over R*C elements.
//   PER_THREAD = 1: one invocation per output, summing in index order; cols
//     (ceil(C / wg) groups, neighbouring threads read neighbouring columns)
//     and rows with few columns (ceil(R / wg) groups).
// Both are deterministic; 1-D grids.

layout(constant_id = 1) const uint PER_THREAD = 0;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };

float term(float v) { return pc.u[3] != 0u ? v * v : v; }

void main() {
    uint R = pc.u[0], C = pc.u[1], axis = pc.u[2];
    if (PER_THREAD != 0u) {
        uint o = vf_linear_id();
        float s = 0.0;
        if (axis == 1u) {
            if (o >= C) return;
            for (uint r = 0; r < R; r++) s += term(x[r * C + o]);
        } else {
            if (o >= R) return;
            for (uint c = 0; c < C; c++) s += term(x[o * C + c]);
        }
        y[o] = s * pc.f[0];
        return;
    }
    // workgroup per output: a row, or everything as one row of R*C
    uint o = vf_linear_group();
    uint len = axis == 2u ? R * C : C;
    uint nout = axis == 2u ? 1u : R;
    if (o >= nout) return; // uniform per workgroup
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = o * len;
    float s = 0.0;
    for (uint c = t; c < len; c += W) s += term(x[base + c]);
    s = vf_wg_sum(s);
    if (t == 0u) y[o] = s * pc.f[0];
}
