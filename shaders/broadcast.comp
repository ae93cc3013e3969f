#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// broadcast (backward of reduce): dx [R, C] from dy, times f0:
//   axis 0 (rows): dx[r, c] = f0 dy[r];  1 (cols): f0 dy[c];  2 (all): f0 dy[0]
// Bindings: 0 dy, 1 dx. Push: u0 = R, u1 = C, u2 = axis, f0 = scale.
// Dispatch: 1-D, ceil(R*C / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 1) writeonly buffer DX { float dx[]; };

void main() {
    uint i = vf_linear_id(), C = pc.u[1];
    if (i >= pc.u[0] * C) return;
    uint axis = pc.u[2];
    uint j = axis == 0u ? i / C : axis == 1u ? i % C : 0u;
    dx[i] = pc.f[0] * dy[j];
}
