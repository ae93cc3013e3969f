#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// unary_backward: dx = dy * f'(x), using the forward output y where that is
// cheaper: relu: x > 0; leaky_relu: 1 or f0; tanh: 1 - y^2; sigmoid:
// y (1 - y); softplus: sigmoid(x); sin: cos(x); cos: -sin(x). dx may alias dy.
// Bindings: 0 x, 1 y, 2 dy, 3 dx. Push: u0 = n, u1 = kind, f0 = alpha.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Yb { float y[]; };
layout(std430, set = 0, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 3) buffer DX { float dx[]; };

void main() {
    uint i = vf_linear_id();
    if (i >= pc.u[0]) return;
    float g = dy[i], r;
    switch (pc.u[1]) {
    case 0u: r = x[i] > 0.0 ? g : 0.0; break;
    case 1u: r = x[i] > 0.0 ? g : pc.f[0] * g; break;
    case 2u: { float t = y[i]; r = g * (1.0 - t * t); break; }
    case 3u: { float s = y[i]; r = g * s * (1.0 - s); break; }
    case 4u: r = g * vf_sigmoid(x[i]); break;
    case 5u: r = g * cos(x[i]); break;
    default: r = -g * sin(x[i]); break;
    }
    dx[i] = r;
}
