#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// lstm_cell: gates [B, 4H] = pre-activations (i, f, g, o), c_prev [B, H]:
//   c = sigmoid(f) c_prev + sigmoid(i) tanh(g);  h = sigmoid(o) tanh(c)
// Bindings: 0 gates, 1 c_prev, 2 h, 3 c. Push: u0 = B, u1 = H.
// Dispatch: 1-D, one invocation per (b, j): ceil(B*H / wg) groups.

layout(std430, set = 0, binding = 0) readonly buffer G { float g[]; };
layout(std430, set = 0, binding = 1) readonly buffer CP { float cp[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Hb { float h[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Cb { float c[]; };

void main() {
    uint e = vf_linear_id(), H = pc.u[1];
    if (e >= pc.u[0] * H) return;
    uint b = e / H, j = e - b * H, gb = b * 4u * H + j;
    float ig = vf_sigmoid(g[gb]), fg = vf_sigmoid(g[gb + H]);
    float gg = vf_tanh(g[gb + 2u * H]), og = vf_sigmoid(g[gb + 3u * H]);
    float cn = fg * cp[e] + ig * gg;
    c[e] = cn;
    h[e] = og * vf_tanh(cn);
}
