#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// lstm_cell_backward: with the gate activations recomputed from gates and
// tc = tanh(c):
//   dct = dh o (1 - tc^2) + dc            (dc only when u2 = has_dc)
//   di = dct g i (1-i); df = dct c_prev f (1-f); dg = dct i (1 - g^2)
//   do = dh tc o (1-o); dc_prev = dct f
// Bindings: 0 gates [B,4H], 1 c_prev, 2 c, 3 dh, 4 dc (dummy when absent),
// 5 dgates [B,4H], 6 dc_prev. Push: u0 = B, u1 = H, u2 = has_dc.
// Dispatch: 1-D, one invocation per (b, j): ceil(B*H / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer G { float g[]; };
layout(std430, set = 0, binding = 1) readonly buffer CP { float cp[]; };
layout(std430, set = 0, binding = 2) readonly buffer Cb { float c[]; };
layout(std430, set = 0, binding = 3) readonly buffer DH { float dh[]; };
layout(std430, set = 0, binding = 4) readonly buffer DC { float dc[]; };
layout(std430, set = 0, binding = 5) writeonly buffer DG { float dg[]; };
layout(std430, set = 0, binding = 6) writeonly buffer DCP { float dcp[]; };

void main() {
    uint e = vf_linear_id(), H = pc.u[1];
    if (e >= pc.u[0] * H) return;
    uint b = e / H, j = e - b * H, gb = b * 4u * H + j;
    float ig = vf_sigmoid(g[gb]), fg = vf_sigmoid(g[gb + H]);
    float gg = vf_tanh(g[gb + 2u * H]), og = vf_sigmoid(g[gb + 3u * H]);
    float tc = vf_tanh(c[e]);
    float dhe = dh[e];
    float dct = dhe * og * (1.0 - tc * tc) + (pc.u[2] != 0u ? dc[e] : 0.0);
    dg[gb] = dct * gg * ig * (1.0 - ig);
    dg[gb + H] = dct * cp[e] * fg * (1.0 - fg);
    dg[gb + 2u * H] = dct * ig * (1.0 - gg * gg);
    dg[gb + 3u * H] = dhe * tc * og * (1.0 - og);
    dcp[e] = dct * fg;
}
