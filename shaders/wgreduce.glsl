// Workgroup-wide reductions through shared memory, in a FIXED order: thread t
// first accumulates its own strided elements in index order, then a binary
// tree halves the active threads (t += t + s). For a given workgroup size the
// result is bit-identical run to run. The workgroup size (spec constant 0)
// must be a power of two (vf_vk_tuning.reduce_wg). Every invocation of the
// workgroup must call these (they contain barriers).

#ifndef VF_WGREDUCE_GLSL
#define VF_WGREDUCE_GLSL

shared float vf_red[gl_WorkGroupSize.x];

float vf_wg_sum(float v) {
    uint t = gl_LocalInvocationID.x;
    vf_red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x >> 1; s > 0; s >>= 1) {
        if (t < s) vf_red[t] += vf_red[t + s];
        barrier();
    }
    float r = vf_red[0];
    barrier(); // vf_red is reused by the next call
    return r;
}

float vf_wg_max(float v) {
    uint t = gl_LocalInvocationID.x;
    vf_red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x >> 1; s > 0; s >>= 1) {
        if (t < s) vf_red[t] = max(vf_red[t], vf_red[t + s]);
        barrier();
    }
    float r = vf_red[0];
    barrier();
    return r;
}

#endif
