#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// bce_backward: dx[i] = (dloss[0] / n) * (sigmoid(x[i]) - t[i]).
// Bindings: 0 x, 1 t, 2 dloss [1], 3 dx. Push: u0 = n.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer T { float tg[]; };
layout(std430, set = 0, binding = 2) readonly buffer DL { float dloss[]; };
layout(std430, set = 0, binding = 3) writeonly buffer DX { float dx[]; };

void main() {
    uint i = vf_linear_id(), n = pc.u[0];
    if (i >= n) return;
    float k = dloss[0] / float(n);
    dx[i] = k * (vf_sigmoid(x[i]) - tg[i]);
}
