#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// batchnorm_infer: y[r, c] = gamma[c] (x[r, c] - run_mean[c]) / sqrt(run_var[c] + eps) + beta[c]
// Bindings: 0 x, 1 gamma, 2 beta, 3 run_mean, 4 run_var, 5 y.
// Push: u0 = R, u1 = C, f0 = eps. Dispatch: 1-D, ceil(R*C / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer GM { float gm[]; };
layout(std430, set = 0, binding = 2) readonly buffer BT { float bt[]; };
layout(std430, set = 0, binding = 3) readonly buffer RM { float rmean[]; };
layout(std430, set = 0, binding = 4) readonly buffer RV { float rvar[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Yb { float y[]; };

void main() {
    uint i = vf_linear_id(), C = pc.u[1];
    if (i >= pc.u[0] * C) return;
    uint c = i % C;
    y[i] = gm[c] * (x[i] - rmean[c]) / sqrt(rvar[c] + pc.f[0]) + bt[c];
}
