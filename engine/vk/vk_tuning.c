/* The one place for per-vendor / per-driver kernel choices (see
 * vf_vk_tuning in vk_kernels.h). Keep every rule here with the reason for it.
 *
 * Matmul constraints the shader relies on: BM % TM == 0, BN % TN == 0 and a
 * workgroup of (BM/TM) * (BN/TN) invocations <= maxComputeWorkGroupInvocations
 * (>= 128 on every Vulkan device). reduce_wg must be a power of two. */
#include "vk_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <vulkan/vulkan.h>

#define VENDOR_AMD 0x1002u
#define VENDOR_APPLE 0x106Bu
#define VENDOR_INTEL 0x8086u
#define VENDOR_NVIDIA 0x10DEu

static void mm(vf_vk_tuning *t, uint32_t bm, uint32_t bn, uint32_t bk, uint32_t tm, uint32_t tn,
               bool shared) {
    t->mm_bm = bm;
    t->mm_bn = bn;
    t->mm_bk = bk;
    t->mm_tm = tm;
    t->mm_tn = tn;
    t->mm_shared = shared;
}

void vf_vk_choose_tuning(uint32_t vendor_id, uint32_t driver_id, int device_type,
                         uint32_t subgroup_size, vf_vk_tuning *out) {
    vf_vk_tuning t = {0};
    t.subgroup_size = subgroup_size;

    if (driver_id == VK_DRIVER_ID_MESA_LLVMPIPE || device_type == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        /* lavapipe / CPU drivers: invocations run as 8-wide SIMD lanes of one
         * CPU thread (256-bit), barriers are coroutine switches and "shared
         * memory" is more cache traffic. Measured on the 2-core dev machine
         * (vkflow bench ops --backend vk --quick, VKFLOW_MATMUL / VKFLOW_WG
         * sweeps, best of 2-3 runs under load; see shaders/README.md):
         *  - GEMM 64x64 tiles, 8x8 per thread, no shared memory: 8-10 GFLOP/s
         *    on 128^3 and 100x512x512; 32x32/4x4 direct 2.4-5.5, 64x64/8x8 with
         *    shared staging 4.6-5.1;
         *  - row reductions (softmax, layernorm, sum_rows 1000x512) fastest
         *    with 8-thread workgroups: sum_rows 1.1 ms at 8 vs 3.5 ms at 64;
         *  - elementwise: 256-1024 within noise; 512. */
        t.wg_size = 512;
        t.reduce_wg = 8;
        mm(&t, 64, 64, 8, 8, 8, false);
        t.why = "CPU Vulkan driver (lavapipe): register-blocked GEMM without shared memory, "
                "8-wide reductions";
    } else if (vendor_id == VENDOR_NVIDIA) {
        /* 128x128 tile, 8x8 per thread = 256 threads (8 warps): enough reuse
         * per shared-memory load to be FMA-bound; 17 KB of shared memory. */
        t.wg_size = 256;
        t.reduce_wg = 256;
        mm(&t, 128, 128, 16, 8, 8, true);
        t.why = "NVIDIA: 128x128 shared-memory GEMM tiles, 8x8 per thread, 256 threads";
    } else if (vendor_id == VENDOR_AMD) {
        /* Same shape as NVIDIA: 256 threads are 4 wave64 / 8 wave32; the
         * 17 KB of shared memory fit AMDVLK's 32 KB limit as well as RADV's. */
        t.wg_size = 256;
        t.reduce_wg = 256;
        mm(&t, 128, 128, 16, 8, 8, true);
        t.why = "AMD: 128x128 shared-memory GEMM tiles, 8x8 per thread, 256 threads";
    } else if (vendor_id == VENDOR_INTEL || vendor_id == VENDOR_APPLE) {
        /* Smaller register files per lane (Intel SIMD8-32, Apple): 64x64
         * tiles with 4x4 per thread = 256 threads, shared staging. */
        t.wg_size = 256;
        t.reduce_wg = 256;
        mm(&t, 64, 64, 16, 4, 4, true);
        t.why = vendor_id == VENDOR_INTEL
                    ? "Intel: 64x64 shared-memory GEMM tiles, 4x4 per thread, 256 threads"
                    : "Apple: 64x64 shared-memory GEMM tiles, 4x4 per thread, 256 threads";
    } else {
        /* Unknown: stay within the guaranteed 128 invocations and 16 KB of
         * shared memory: 64x64 tiles, 8x8 per thread = 64 threads. */
        t.wg_size = 128;
        t.reduce_wg = 128;
        mm(&t, 64, 64, 8, 8, 8, true);
        t.why = "unknown vendor: safe defaults (64x64 shared-memory tiles, 64 threads)";
    }
    /* VKFLOW_MATMUL="BM,BN,BK,TM,TN,SHARED" overrides the GEMM tiles, for
     * measuring variants (vkflow bench ops --filter matmul) without a rebuild. */
    const char *env = getenv("VKFLOW_MATMUL");
    if (env && *env) {
        unsigned v[6];
        if (sscanf(env, "%u,%u,%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6 &&
            v[0] && v[1] && v[2] && v[3] && v[4] && v[0] % v[3] == 0 && v[1] % v[4] == 0 &&
            (v[0] / v[3]) * (v[1] / v[4]) <= 1024 && v[3] * v[4] <= 256) {
            mm(&t, v[0], v[1], v[2], v[3], v[4], v[5] != 0);
            t.why = "VKFLOW_MATMUL override";
        } else {
            fprintf(stderr, "vkflow: ignoring VKFLOW_MATMUL=\"%s\" (want BM,BN,BK,TM,TN,SHARED "
                            "with BM %% TM == 0, BN %% TN == 0, <= 1024 threads)\n", env);
        }
    }
    /* VKFLOW_WG="WG,REDUCE_WG" overrides the elementwise and row-reduction
     * workgroup sizes (REDUCE_WG a power of two), for measurements. */
    env = getenv("VKFLOW_WG");
    if (env && *env) {
        unsigned w, r;
        if (sscanf(env, "%u,%u", &w, &r) == 2 && w >= 1 && w <= 1024 && r >= 1 && r <= 1024 &&
            (r & (r - 1)) == 0) {
            t.wg_size = w;
            t.reduce_wg = r;
        } else {
            fprintf(stderr, "vkflow: ignoring VKFLOW_WG=\"%s\" (want WG,REDUCE_WG <= 1024, "
                            "REDUCE_WG a power of two)\n", env);
        }
    }
    *out = t;
}
