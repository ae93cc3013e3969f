#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// softmax / log_softmax of each row of x [R, C]:
//   y = exp(x - max) / sum exp(x - max)      (u2 = 0)
//   y = x - max - log(sum exp(x - max))      (u2 = 1, log_softmax)
// Subtracting the row max keeps exp() <= 1 for any input range.
// Bindings: 0 x, 1 y. Push: u0 = R, u1 = C, u2 = log.
// Dispatch: one workgroup (reduce_wg threads, a power of two) per row,
// R groups, 1-D (rows may be folded into y). Sums are in a fixed order
// (wgreduce.glsl), so runs are bit-identical.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { float y[]; };

void main() {
    uint r = vf_linear_group(), C = pc.u[1];
    if (r >= pc.u[0]) return; // uniform per workgroup: barriers stay legal
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C;
    float mx = -1.0 / 0.0;
    for (uint c = t; c < C; c += W) mx = max(mx, x[base + c]);
    mx = vf_wg_max(mx);
    float s = 0.0;
    for (uint c = t; c < C; c += W) s += exp(x[base + c] - mx);
    s = vf_wg_sum(s);
    if (pc.u[2] != 0u) {
        float ls = log(s);
        for (uint c = t; c < C; c += W) y[base + c] = x[base + c] - mx - ls;
    } else {
        float inv = 1.0 / s;
        for (uint c = t; c < C; c += W) y[base + c] = exp(x[base + c] - mx) * inv;
    }
}
