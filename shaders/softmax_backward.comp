#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// Backward of row-wise softmax / log_softmax from the forward output y:
//   softmax:     dx = y (dy - sum_c dy y)
//   log_softmax: dx = dy - exp(y) sum_c dy
// Bindings: 0 y, 1 dy, 2 dx. Push: u0 = R, u1 = C, u2 = log.
// Dispatch: one workgroup (reduce_wg threads) per row, R groups, 1-D.

layout(std430, set = 0, binding = 0) readonly buffer Yb { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

void main() {
    uint r = vf_linear_group(), C = pc.u[1];
    if (r >= pc.u[0]) return;
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C;
    bool lg = pc.u[2] != 0u;
    float s = 0.0;
    if (lg) for (uint c = t; c < C; c += W) s += dy[base + c];
    else for (uint c = t; c < C; c += W) s += dy[base + c] * y[base + c];
    s = vf_wg_sum(s);
    if (lg) for (uint c = t; c < C; c += W) dx[base + c] = dy[base + c] - exp(y[base + c]) * s;
    else for (uint c = t; c < C; c += W) dx[base + c] = y[base + c] * (dy[base + c] - s);
}
