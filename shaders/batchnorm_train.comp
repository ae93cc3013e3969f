#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// batchnorm_train: per column c of x [R, C], two passes over the rows:
//   mean = sum_r x / R; var = sum_r (x - mean)^2 / R (biased); rstd = 1/sqrt(var + eps)
//   y = gamma (x - mean) rstd + beta
//   if u2 (has_running): run_mean = (1-m) run_mean + m mean,
//                        run_var  = (1-m) run_var + m sum_r (x - mean)^2 / (R - 1)
// Bindings: 0 x, 1 gamma [C], 2 beta [C], 3 y, 4 mean [C], 5 rstd [C],
// 6 run_mean [C], 7 run_var [C] (6, 7 dummies when absent).
// Push: u0 = R, u1 = C, u2 = has_running; f0 = eps, f1 = momentum.
// Dispatch: one invocation per column, ceil(C / wg) groups, 1-D; neighbouring
// invocations read neighbouring columns of a row. Sums run in row order, so
// results are deterministic. Fine for the batch sizes of this project
// (R ~ 100-1000); a very tall x would want a split over rows.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer GM { float gm[]; };
layout(std430, set = 0, binding = 2) readonly buffer BT { float bt[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Yb { float y[]; };
layout(std430, set = 0, binding = 4) writeonly buffer MU { float mean[]; };
layout(std430, set = 0, binding = 5) writeonly buffer RS { float rstd[]; };
layout(std430, set = 0, binding = 6) buffer RM { float rmean[]; };
layout(std430, set = 0, binding = 7) buffer RV { float rvar[]; };

void main() {
    uint c = vf_linear_id(), R = pc.u[0], C = pc.u[1];
    if (c >= C) return;
    float s = 0.0;
    for (uint r = 0; r < R; r++) s += x[r * C + c];
    float mu = s / float(R);
    float ss = 0.0;
    for (uint r = 0; r < R; r++) {
        float d = x[r * C + c] - mu;
        ss += d * d;
    }
    float rs = 1.0 / sqrt(ss / float(R) + pc.f[0]);
    mean[c] = mu;
    rstd[c] = rs;
    float g = gm[c], b = bt[c];
    for (uint r = 0; r < R; r++) y[r * C + c] = g * ((x[r * C + c] - mu) * rs) + b;
    if (pc.u[2] != 0u) {
        float m = pc.f[1];
        rmean[c] = (1.0 - m) * rmean[c] + m * mu;
        rvar[c] = (1.0 - m) * rvar[c] + m * (ss / float(R - 1u));
    }
}
