#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// binary: y = a + b (u1 = 0), a - b (1), a * b (2), elementwise.
// Bindings: 0 a, 1 b, 2 y (y may alias a or b: each invocation reads its own
// element before writing it). Push: u0 = n, u1 = kind.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer Y { float y[]; };

void main() {
    uint i = vf_linear_id();
    if (i >= pc.u[0]) return;
    float va = a[i], vb = b[i];
    uint k = pc.u[1];
    y[i] = k == 0u ? va + vb : k == 1u ? va - vb : va * vb;
}
