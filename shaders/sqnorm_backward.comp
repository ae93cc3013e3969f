#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// sqnorm_backward: dx[r, c] = 2 x[r, c] dy[r] for x [R, C], dy [R].
// Bindings: 0 x, 1 dy, 2 dx. Push: u0 = R, u1 = C.
// Dispatch: 1-D, ceil(R*C / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) writeonly buffer DX { float dx[]; };

void main() {
    uint i = vf_linear_id(), C = pc.u[1];
    if (i < pc.u[0] * C) dx[i] = 2.0 * x[i] * dy[i / C];
}
