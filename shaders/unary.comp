#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// unary: y = f(x) with f by u1 (vf_unary_kind): 0 relu, 1 leaky_relu (slope
// f0), 2 tanh, 3 sigmoid, 4 softplus, 5 sin, 6 cos. y may alias x.
// Bindings: 0 x, 1 y. Push: u0 = n, u1 = kind, f0 = alpha.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vf_linear_id();
    if (i >= pc.u[0]) return;
    float v = x[i], r;
    switch (pc.u[1]) {
    case 0u: r = v > 0.0 ? v : 0.0; break;
    case 1u: r = v > 0.0 ? v : pc.f[0] * v; break;
    case 2u: r = vf_tanh(v); break;
    case 3u: r = vf_sigmoid(v); break;
    case 4u: r = vf_softplus(v); break;
    case 5u: r = sin(v); break;
    default: r = cos(v); break;
    }
    y[i] = r;
}
