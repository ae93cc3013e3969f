#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// layernorm over the columns of each row of x [R, C]:
//   mean = sum_c x / C; var = sum_c (x - mean)^2 / C; rstd = 1/sqrt(var + eps)
//   y = gamma (x - mean) rstd + beta
// Bindings: 0 x, 1 gamma [C], 2 beta [C], 3 y, 4 mean [R], 5 rstd [R].
// Push: u0 = R, u1 = C, f0 = eps.
// Dispatch: one workgroup (reduce_wg threads, power of two) per row, R
// groups, 1-D; fixed-order tree sums.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer GM { float gm[]; };
layout(std430, set = 0, binding = 2) readonly buffer BT { float bt[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Yb { float y[]; };
layout(std430, set = 0, binding = 4) writeonly buffer MU { float mean[]; };
layout(std430, set = 0, binding = 5) writeonly buffer RS { float rstd[]; };

void main() {
    uint r = vf_linear_group(), C = pc.u[1];
    if (r >= pc.u[0]) return;
    uint t = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, base = r * C;
    float s = 0.0;
    for (uint c = t; c < C; c += W) s += x[base + c];
    float mu = vf_wg_sum(s) / float(C);
    float ss = 0.0;
    for (uint c = t; c < C; c += W) {
        float d = x[base + c] - mu;
        ss += d * d;
    }
    float rs = 1.0 / sqrt(vf_wg_sum(ss) / float(C) + pc.f[0]);
    if (t == 0u) {
        mean[r] = mu;
        rstd[r] = rs;
    }
    for (uint c = t; c < C; c += W) y[base + c] = gm[c] * ((x[base + c] - mu) * rs) + bt[c];
}
