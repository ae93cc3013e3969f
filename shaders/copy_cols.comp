#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// copy_cols (concat, slice and their backwards): for each row r < R,
//   y[r, y_start + j] = x[r, x_start + j],  j < width
// x is [R, x_cols], y is [R, y_cols]; other columns of y are left alone.
// Bindings: 0 x, 1 y. Push: u0 = R, u1 = x_cols, u2 = x_start, u3 = y_cols,
// u4 = y_start, u5 = width. Dispatch: 1-D, ceil(R*width / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

void main() {
    uint i = vf_linear_id(), w = pc.u[5];
    if (i >= pc.u[0] * w) return;
    uint r = i / w, j = i - r * w;
    y[r * pc.u[3] + pc.u[4] + j] = x[r * pc.u[1] + pc.u[2] + j];
}
