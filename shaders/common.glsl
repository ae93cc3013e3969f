// Shared preamble of every vkflow compute shader. A shader starts with
//
//   #version 450
//   #extension GL_GOOGLE_include_directive : require
//   #include "common.glsl"
//
// and then declares its bindings (set 0, binding i = op->args[i], in the order
// of engine/backend.h). Everything here must match engine/vk/vk_kernels.h.

#ifndef VF_COMMON_GLSL
#define VF_COMMON_GLSL

// Workgroup size in x: specialization constant 0 (vf_vk_dispatch.spec[0]).
// Further specialization constants of a shader start at id 1.
layout(local_size_x_id = 0) in;

// The op's parameters, copied from vf_op.u[] and vf_op.f[]: 10 uints then 4
// floats = 56 bytes (push-constant blocks are laid out std430). u[9] is the
// pass index (VF_VK_PASS_SLOT) of multi-pass ops.
layout(push_constant) uniform PC {
    uint u[10];
    float f[4];
} pc;

#define VF_PASS (pc.u[9])

// Index of this workgroup in a 1-D grid. The runtime folds a group count
// larger than maxComputeWorkGroupCount[0] into y (gx * gy >= count), so every
// shader guards the index it derives from this against its element count.
uint vf_linear_group() {
    return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
}

// Global index of this invocation in a 1-D grid (one element per invocation).
uint vf_linear_id() {
    return vf_linear_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// ------------------------------------------------------------ activations

// tanh that is finite for every finite x and accurate near 0. GLSL's tanh is
// allowed to be implemented as (e^x - e^-x) / (e^x + e^-x), which is inf/inf
// = NaN for |x| > ~44 on some drivers, and loses relative accuracy for tiny
// |x|. Small |x|: odd Taylor series to x^7 (next term < 4e-9 relative at
// 0.125). Otherwise 1 - 2 / (e^(2|x|) + 1), with |x| clamped at 15 where
// tanh is 1.0f already.
float vf_tanh(float x) {
    float a = abs(x);
    if (a < 0.125) {
        float x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    }
    a = min(a, 15.0);
    float t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    return x < 0.0 ? -t : t;
}

// 1 / (1 + e^-x) without overflow in e^-x for very negative x.
float vf_sigmoid(float x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    float e = exp(x);
    return e / (1.0 + e);
}

// log(1 + x) for x >= 0, accurate for tiny x (GLSL has no log1p): Kahan's
// trick u = 1 + x; log(u) * x / (u - 1) cancels the rounding of u.
float vf_log1p(float x) {
    float u = 1.0 + x;
    if (u == 1.0) return x;
    return log(u) * (x / (u - 1.0));
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow.
float vf_softplus(float x) {
    return max(x, 0.0) + vf_log1p(exp(-abs(x)));
}

#endif
