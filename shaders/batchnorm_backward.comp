#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// batchnorm_backward (training-mode statistics): per column c, with
// xh = (x - mean) rstd:
//   dbeta = sum_r dy;  dgamma = sum_r dy xh
//   dx = gamma rstd / R (R dy - dbeta - xh dgamma)
// Bindings: 0 x, 1 gamma, 2 mean [C], 3 rstd [C], 4 dy, 5 dx, 6 dgamma, 7 dbeta.
// Push: u0 = R, u1 = C. Dispatch: one invocation per column, ceil(C / wg)
// groups, 1-D; sums in row order (deterministic).

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer GM { float gm[]; };
layout(std430, set = 0, binding = 2) readonly buffer MU { float mean[]; };
layout(std430, set = 0, binding = 3) readonly buffer RS { float rstd[]; };
layout(std430, set = 0, binding = 4) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 5) writeonly buffer DX { float dx[]; };
layout(std430, set = 0, binding = 6) writeonly buffer DG { float dgm[]; };
layout(std430, set = 0, binding = 7) writeonly buffer DB { float dbt[]; };

void main() {
    uint c = vf_linear_id(), R = pc.u[0], C = pc.u[1];
    if (c >= C) return;
    float mu = mean[c], rs = rstd[c];
    float sdy = 0.0, sdyx = 0.0;
    for (uint r = 0; r < R; r++) {
        uint i = r * C + c;
        float g = dy[i];
        sdy += g;
        sdyx += g * ((x[i] - mu) * rs);
    }
    dbt[c] = sdy;
    dgm[c] = sdyx;
    float k = gm[c] * rs / float(R);
    for (uint r = 0; r < R; r++) {
        uint i = r * C + c;
        float xh = (x[i] - mu) * rs;
        dx[i] = k * (float(R) * dy[i] - sdy - xh * sdyx);
    }
}
