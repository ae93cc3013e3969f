#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// bias_add: y[r, c] = x[r, c] + bias[c] over x [R, C].
// Bindings: 0 x, 1 bias [C], 2 y (may alias x). Push: u0 = R, u1 = C.
// Dispatch: 1-D, ceil(R*C / wg) groups, one element per invocation.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float bias[]; };
layout(std430, set = 0, binding = 2) buffer Y { float y[]; };

void main() {
    uint i = vf_linear_id();
    uint C = pc.u[1];
    if (i < pc.u[0] * C) y[i] = x[i] + bias[i % C];
}
