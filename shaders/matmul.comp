#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// matmul: C[b] = alpha op(A[b]) op(B[b]) + beta C[b] for b < batch.
//   op(A) is [M, K]: A stored [M, K], or [K, M] when TA;
//   op(B) is [K, N]: B stored [K, N], or [N, K] when TB; C is [M, N].
// With beta == 0, C is never read (it may hold NaN garbage).
// Bindings: 0 A, 1 B, 2 C.
// Push: u0 = M, u1 = N, u2 = K, u3 = batch, u4 = trans_a, u5 = trans_b,
// u6/u7/u8 = batch strides of A/B/C in elements (0: one matrix shared by all
// batch entries); f0 = alpha, f1 = beta. (The transposes are also baked into
// spec constant 7; u4/u5 are not read.)
// Specialization constants (set by vk_kernels.c from vf_vk_tuning):
//   0 workgroup size = (BM / TM) * (BN / TN)
//   1 BM, 2 BN: C tile per workgroup; 3 BK: K step of the shared path
//   4 TM, 5 TN: C block per invocation, held in registers
//   6 USE_SHARED: 1 = stage [BM, BK] of op(A) and [BK, BN] of op(B) in shared
//     memory per K step (real GPUs); 0 = each invocation reads its rows of A
//     and columns of B straight from memory (lavapipe, where shared memory
//     and barriers are expensive and the CPU caches serve the re-reads)
//   7 TRANS = trans_a | trans_b << 1
// Dispatch: groups = (ceil(N / BN), ceil(M / BM), batch).
// Each invocation accumulates its TM x TN block in fp32 over k in order, so
// results are deterministic. Out-of-range rows/columns of a partial tile read
// clamped (valid) addresses and are never written.

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 8;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint USE_SHARED = 0;
layout(constant_id = 7) const uint TRANS = 0;

const bool TA = (TRANS & 1u) != 0u;
const bool TB = (TRANS & 2u) != 0u;
const uint TX = BN / TN; // invocations across a tile's columns
const uint APAD = BM + 4u; // padded shared strides: no bank conflicts on the
const uint BPAD = BN + 4u; // transposing stores, vec4-aligned rows

layout(std430, set = 0, binding = 0) readonly buffer Ab { float A[]; };
layout(std430, set = 0, binding = 1) readonly buffer Bb { float B[]; };
layout(std430, set = 0, binding = 2) buffer Cb { float Cm[]; };

shared float As[USE_SHARED != 0u ? BK * APAD : 1u];
shared float Bs[USE_SHARED != 0u ? BK * BPAD : 1u];

void main() {
    const uint M = pc.u[0], N = pc.u[1], K = pc.u[2];
    const uint b = gl_WorkGroupID.z;
    const uint aoff = b * pc.u[6], boff = b * pc.u[7], coff = b * pc.u[8];
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint tid = gl_LocalInvocationID.x;
    const uint tx = tid % TX, ty = tid / TX;
    const uint rm = ty * TM, rn = tx * TN; // this invocation's block inside the tile

    float acc[TM][TN];
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;

    if (USE_SHARED != 0u) {
        const uint WG = gl_WorkGroupSize.x;
        for (uint k0 = 0; k0 < K; k0 += BK) {
            // Stage op(A)[m0 : m0+BM, k0 : k0+BK] as As[k][m]; consecutive
            // invocations walk the stored matrix's contiguous axis.
            for (uint e = tid; e < BM * BK; e += WG) {
                uint m, k;
                if (TA) { k = e / BM; m = e - k * BM; }
                else { m = e / BK; k = e - m * BK; }
                uint gm = m0 + m, gk = k0 + k;
                float v = 0.0;
                if (gm < M && gk < K) v = A[aoff + (TA ? gk * M + gm : gm * K + gk)];
                As[k * APAD + m] = v;
            }
            // Stage op(B)[k0 : k0+BK, n0 : n0+BN] as Bs[k][n].
            for (uint e = tid; e < BK * BN; e += WG) {
                uint n, k;
                if (TB) { n = e / BK; k = e - n * BK; }
                else { k = e / BN; n = e - k * BN; }
                uint gn = n0 + n, gk = k0 + k;
                float v = 0.0;
                if (gn < N && gk < K) v = B[boff + (TB ? gn * K + gk : gk * N + gn)];
                Bs[k * BPAD + n] = v;
            }
            barrier();
            for (uint k = 0; k < BK; k++) {
                float a[TM], bv[TN];
                for (uint i = 0; i < TM; i++) a[i] = As[k * APAD + rm + i];
                for (uint j = 0; j < TN; j++) bv[j] = Bs[k * BPAD + rn + j];
                for (uint i = 0; i < TM; i++)
                    for (uint j = 0; j < TN; j++) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
            }
            barrier();
        }
    } else {
        // Register-blocked, straight from memory. Rows/columns past the edge
        // read row M-1 / column N-1 instead (always valid) so the K loop has
        // no branches; their results are dropped below.
        uint arow[TM], bcol[TN];
        for (uint i = 0; i < TM; i++) {
            uint gm = min(m0 + rm + i, M - 1u);
            arow[i] = aoff + (TA ? gm : gm * K);
        }
        for (uint j = 0; j < TN; j++) {
            uint gn = min(n0 + rn + j, N - 1u);
            bcol[j] = boff + (TB ? gn * K : gn);
        }
        const uint astep = TA ? M : 1u, bstep = TB ? 1u : N;
        for (uint k = 0; k < K; k++) {
            float a[TM], bv[TN];
            for (uint i = 0; i < TM; i++) a[i] = A[arow[i] + k * astep];
            for (uint j = 0; j < TN; j++) bv[j] = B[bcol[j] + k * bstep];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
        }
    }

    const float alpha = pc.f[0], beta = pc.f[1];
    for (uint i = 0; i < TM; i++) {
        uint gm = m0 + rm + i;
        if (gm >= M) break;
        for (uint j = 0; j < TN; j++) {
            uint gn = n0 + rn + j;
            if (gn >= N) break;
            uint o = coff + gm * N + gn;
            float v = alpha * acc[i][j];
            if (beta != 0.0) v += beta * Cm[o];
            Cm[o] = v;
        }
    }
}
