#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// mse_backward: d[i] = (f0 * 2 * dloss[0] / n) * (a[i] - b[i]); f0 = +1 gives
// da, -1 gives db.
// Bindings: 0 a, 1 b, 2 dloss [1], 3 d. Push: u0 = n, f0 = sign.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) readonly buffer DL { float dloss[]; };
layout(std430, set = 0, binding = 3) writeonly buffer D { float d[]; };

void main() {
    uint i = vf_linear_id(), n = pc.u[0];
    if (i >= n) return;
    float k = pc.f[0] * 2.0 * dloss[0] / float(n);
    d[i] = k * (a[i] - b[i]);
}
