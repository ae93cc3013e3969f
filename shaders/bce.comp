#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// bce (binary cross-entropy with logits x and targets t):
//   loss[0] = sum_i (max(x, 0) - x t + log(1 + exp(-|x|))) / n
// Bindings: 0 x, 1 t, 2 loss [1]. Push: u0 = n.
// Dispatch: one workgroup (reduce_wg threads, power of two), fixed-order tree.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer T { float tg[]; };
layout(std430, set = 0, binding = 2) writeonly buffer L { float loss[]; };

void main() {
    uint n = pc.u[0], t = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = t; i < n; i += gl_WorkGroupSize.x) {
        float v = x[i];
        s += max(v, 0.0) - v * tg[i] + vf_log1p(exp(-abs(v)));
    }
    s = vf_wg_sum(s);
    if (t == 0u) loss[0] = s / float(n);
}
