#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"
// mse: loss[0] = sum_i (a[i] - b[i])^2 / n.
// Bindings: 0 a, 1 b, 2 loss [1]. Push: u0 = n.
// Dispatch: one workgroup (reduce_wg threads, power of two), fixed-order tree.

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer L { float loss[]; };

void main() {
    uint n = pc.u[0], t = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = t; i < n; i += gl_WorkGroupSize.x) {
        float d = a[i] - b[i];
        s += d * d;
    }
    s = vf_wg_sum(s);
    if (t == 0u) loss[0] = s / float(n);
}
