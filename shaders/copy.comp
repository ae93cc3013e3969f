#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// copy: y[i] = x[i] for i < n, as raw 32-bit words (float32 or int32).
// Bindings: 0 x, 1 y. Push: u0 = n. Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { uint x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Y { uint y[]; };

void main() {
    uint i = vf_linear_id();
    if (i < pc.u[0]) y[i] = x[i];
}
