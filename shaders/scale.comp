#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// scale: y = alpha x + beta y; with beta == 0, y = alpha x and y is never
// read (it may hold NaN garbage). y may alias x.
// Bindings: 0 x, 1 y. Push: u0 = n, f0 = alpha, f1 = beta.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vf_linear_id();
    if (i >= pc.u[0]) return;
    float v = pc.f[0] * x[i];
    if (pc.f[1] != 0.0) v += pc.f[1] * y[i];
    y[i] = v;
}
