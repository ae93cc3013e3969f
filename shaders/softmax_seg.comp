#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// softmax_seg: softmax / log_softmax of x [R, C] within each segment of a
// table (int32 [S, 2] = {offset, width}, the segments tile the columns), by
// the formulas of softmax.comp over the segment's columns:
//   y = exp(x - max) / sum exp(x - max)      (u3 = 0)
//   y = x - max - log(sum exp(x - max))      (u3 = 1, log_softmax)
// u4 = 0: no table (binding 1 unused), one segment = the whole row.
// Bindings: 0 x, 1 seg (int), 2 y. Push: u0 = R, u1 = C, u2 = S, u3 = log,
// u4 = has_seg.
// Dispatch: one workgroup (reduce_wg threads) per (row, segment), R*S groups,
// 1-D (group g is row g / S, segment g % S). Fixed-order sums (wgreduce.glsl).

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer SG { int seg[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

void main() {
    uint g = vf_linear_group(), C = pc.u[1], S = pc.u[2];
    if (g >= pc.u[0] * S) return; // uniform per workgroup: barriers stay legal
    uint r = g / S, s = g - r * S, off = 0u, w = C;
    if (pc.u[4] != 0u) { // clamped to the row, whatever the table holds
        off = min(uint(seg[2u * s]), C);
        w = min(uint(seg[2u * s + 1u]), C - off);
    }
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C + off;
    float mx = -1.0 / 0.0;
    for (uint c = t; c < w; c += W) mx = max(mx, x[base + c]);
    mx = vf_wg_max(mx);
    float sum = 0.0;
    for (uint c = t; c < w; c += W) sum += exp(x[base + c] - mx);
    sum = vf_wg_sum(sum);
    if (pc.u[3] != 0u) {
        float ls = log(sum);
        for (uint c = t; c < w; c += W) y[base + c] = x[base + c] - mx - ls;
    } else {
        float inv = 1.0 / sum;
        for (uint c = t; c < w; c += W) y[base + c] = exp(x[base + c] - mx) * inv;
    }
}
