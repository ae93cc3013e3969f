#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// adam (AdamW, bias-corrected), in place on param, m, v:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   param -= lr ((m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd param)
// lr and t come from sched = {lr, t} at run time, so a replayed program sees
// new values.
// Bindings: 0 param, 1 grad, 2 m, 3 v, 4 sched [2].
// Push: u0 = n; f0 = b1, f1 = b2, f2 = eps, f3 = weight_decay.
// Dispatch: 1-D, ceil(n / wg) groups.

layout(std430, set = 0, binding = 0) buffer P { float p[]; };
layout(std430, set = 0, binding = 1) readonly buffer G { float g[]; };
layout(std430, set = 0, binding = 2) buffer M { float m[]; };
layout(std430, set = 0, binding = 3) buffer V { float v[]; };
layout(std430, set = 0, binding = 4) readonly buffer S { float sched[]; };

// b^t for 0 <= b < 1, t >= 1: pow() is undefined for b == 0 in GLSL.
float powt(float b, float t) { return b == 0.0 ? 0.0 : pow(b, t); }

void main() {
    uint i = vf_linear_id();
    if (i >= pc.u[0]) return;
    float b1 = pc.f[0], b2 = pc.f[1], eps = pc.f[2], wd = pc.f[3];
    float lr = sched[0], t = sched[1];
    float bc1 = 1.0 - powt(b1, t), bc2 = 1.0 - powt(b2, t);
    float gi = g[i];
    float mi = b1 * m[i] + (1.0 - b1) * gi;
    float vi = b2 * v[i] + (1.0 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float pi = p[i];
    p[i] = pi - lr * ((mi / bc1) / (sqrt(vi / bc2) + eps) + wd * pi);
}
