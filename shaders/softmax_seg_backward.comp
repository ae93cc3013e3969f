#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// Backward of softmax_seg from the forward output y, within each segment:
//   softmax:     dx = y (dy - sum_seg dy y)
//   log_softmax: dx = dy - exp(y) sum_seg dy
// Bindings: 0 y, 1 dy, 2 seg (int, unused when u4 = 0), 3 dx.
// Push: u0 = R, u1 = C, u2 = S, u3 = log, u4 = has_seg.
// Dispatch: one workgroup (reduce_wg threads) per (row, segment), R*S groups, 1-D.

layout(std430, set = 0, binding = 0) readonly buffer Yb { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) readonly buffer SG { int seg[]; };
layout(std430, set = 0, binding = 3) writeonly buffer DX { float dx[]; };

void main() {
    uint g = vf_linear_group(), C = pc.u[1], S = pc.u[2];
    if (g >= pc.u[0] * S) return;
    uint r = g / S, s = g - r * S, off = 0u, w = C;
    if (pc.u[4] != 0u) {
        off = min(uint(seg[2u * s]), C);
        w = min(uint(seg[2u * s + 1u]), C - off);
    }
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C + off;
    bool lg = pc.u[3] != 0u;
    float sum = 0.0;
    if (lg) for (uint c = t; c < w; c += W) sum += dy[base + c];
    else for (uint c = t; c < w; c += W) sum += dy[base + c] * y[base + c];
    sum = vf_wg_sum(sum);
    if (lg) for (uint c = t; c < w; c += W) dx[base + c] = dy[base + c] - exp(y[base + c]) * sum;
    else for (uint c = t; c < w; c += W) dx[base + c] = y[base + c] * (dy[base + c] - sum);
}
