#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// layernorm_backward, two passes (pass index u9, barrier in between):
//  pass 0, one workgroup per row r (R groups): with xh = (x - mean[r]) rstd[r]
//    and dxh = dy gamma: s1 = sum_c dxh, s2 = sum_c dxh xh,
//    dx = rstd / C (C dxh - s1 - xh s2)
//  pass 1, one invocation per column c (ceil(C / wg) groups):
//    dgamma[c] = sum_r dy xh, dbeta[c] = sum_r dy, in row order
// Both passes are deterministic (no atomics).
// Bindings: 0 x, 1 gamma [C], 2 mean [R], 3 rstd [R], 4 dy, 5 dx, 6 dgamma [C],
// 7 dbeta [C]. Push: u0 = R, u1 = C, u9 = pass. Workgroup size: reduce_wg
// (power of two) in both passes.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer GM { float gm[]; };
layout(std430, set = 0, binding = 2) readonly buffer MU { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer RS { float rstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 5) writeonly buffer DX { float dx[]; };
layout(std430, set = 0, binding = 6) writeonly buffer DG { float dgm[]; };
layout(std430, set = 0, binding = 7) writeonly buffer DB { float dbt[]; };

void main() {
    uint R = pc.u[0], C = pc.u[1];
    if (VF_PASS == 1u) {
        uint c = vf_linear_id();
        if (c >= C) return;
        float sg = 0.0, sb = 0.0;
        for (uint r = 0; r < R; r++) {
            float g = dy[r * C + c];
            sg += g * ((x[r * C + c] - mean[r]) * rstd[r]);
            sb += g;
        }
        dgm[c] = sg;
        dbt[c] = sb;
        return;
    }
    uint r = vf_linear_group();
    if (r >= R) return;
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C;
    float mu = mean[r], rs = rstd[r];
    float s1 = 0.0, s2 = 0.0;
    for (uint c = t; c < C; c += W) {
        float xh = (x[base + c] - mu) * rs, dxh = dy[base + c] * gm[c];
        s1 += dxh;
        s2 += dxh * xh;
    }
    s1 = vf_wg_sum(s1);
    s2 = vf_wg_sum(s2);
    float k = rs / float(C);
    for (uint c = t; c < C; c += W) {
        float xh = (x[base + c] - mu) * rs, dxh = dy[base + c] * gm[c];
        dx[base + c] = k * (float(C) * dxh - s1 - xh * s2);
    }
}
