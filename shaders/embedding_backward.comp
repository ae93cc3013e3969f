#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// embedding_backward: dtable [V, D] = scatter-add of dy [N, D] rows at idx [N],
// deterministic (no float atomics). Two passes (u9, barrier in between):
//  pass 0: dtable = 0, one invocation per element, ceil(V*D / wg) groups;
//  pass 1: one invocation per column d (ceil(D / wg) groups) owns
//          dtable[:, d] and adds dy[n, d] for n = 0..N-1 in order, skipping
//          indices outside [0, V). Same order as the cpu backend.
// Bindings: 0 idx (int), 1 dy, 2 dtable. Push: u0 = N, u1 = V, u2 = D, u9 = pass.

layout(std430, set = 0, binding = 0) readonly buffer I { int idx[]; };
layout(std430, set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, set = 0, binding = 2) buffer DT { float dt[]; };

void main() {
    uint N = pc.u[0], V = pc.u[1], D = pc.u[2];
    uint e = vf_linear_id();
    if (VF_PASS == 0u) {
        if (e < V * D) dt[e] = 0.0;
        return;
    }
    if (e >= D) return;
    for (uint n = 0; n < N; n++) {
        int v = idx[n];
        if (v < 0 || uint(v) >= V) continue;
        dt[uint(v) * D + e] += dy[n * D + e];
    }
}
