#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// fill: t[i] = f[0] for i < n.
// Bindings: 0 t (float32 or int32: written as raw 32-bit words).
// Push: u0 = n; f0 = value. For int32 tensors the front end stores the int's
// bits in f0 (u1 = 1), so writing floatBitsToUint(f0) serves both dtypes and
// never converts (a float copy could flush the int's denormal-looking bits).
// Dispatch: 1-D, ceil(n / wg) groups, one element per invocation.

layout(std430, set = 0, binding = 0) writeonly buffer T { uint t[]; };

void main() {
    uint i = vf_linear_id();
    if (i < pc.u[0]) t[i] = floatBitsToUint(pc.f[0]);
}
