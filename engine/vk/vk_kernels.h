/* Internal: how each op becomes Vulkan dispatches. The runtime (vk_backend.c)
 * asks vf_vk_plan() for the dispatches of an op, then binds args[i] of the op
 * to binding i of the shader (NULL args to a small dummy buffer), copies
 * op->u and op->f into the push-constant block (with u[VF_VK_PASS_SLOT] set
 * to the dispatch's pass), and inserts a barrier between passes.
 *
 * Shader conventions (shaders/common.glsl):
 *  - constant_id 0 is the workgroup size in x (local_size_x_id = 0);
 *    further specialization constants start at id 1;
 *  - 1-D shaders index work with vf_linear_group(): the runtime may fold a
 *    large x count into y when it exceeds maxComputeWorkGroupCount[0]. */
#ifndef VKFLOW_VK_KERNELS_H
#define VKFLOW_VK_KERNELS_H

#include "../backend.h"

#define VF_VK_MAX_PASSES 4
#define VF_VK_MAX_SPEC 8
#define VF_VK_PASS_SLOT 9 /* u[9] is the pass index; ops never use it */

/* Per-device kernel choices, set in vk_tuning.c by vendor and driver. */
typedef struct vf_vk_tuning {
    uint32_t wg_size;        /* workgroup size of elementwise shaders */
    uint32_t reduce_wg;      /* workgroup size of row reductions (power of 2) */
    uint32_t mm_bm, mm_bn;   /* matmul block tile (rows, cols of C per workgroup) */
    uint32_t mm_bk;          /* matmul K step */
    uint32_t mm_tm, mm_tn;   /* matmul register tile per thread */
    bool mm_shared;          /* stage A and B tiles in shared memory */
    uint32_t subgroup_size;
    const char *why;         /* one line: which rule chose this */
} vf_vk_tuning;

typedef struct vf_vk_dispatch {
    const char *shader;      /* shaders/<shader>.comp */
    uint32_t spec[VF_VK_MAX_SPEC]; /* spec[0] = workgroup size, then ids 1.. */
    int nspec;
    uint32_t groups[3];      /* workgroup counts */
    bool linear;             /* 1-D: groups[0] may be folded into y */
    uint32_t pass;
} vf_vk_dispatch;

/* Fills out[] with the dispatches that run op; returns their count (>= 1), or
 * -1 after vf_fail() if the op is not supported. */
int vf_vk_plan(const vf_vk_tuning *t, const vf_op *op, vf_vk_dispatch out[VF_VK_MAX_PASSES]);

/* Bit i set: the op writes args[i] (the others are only read). Drives the
 * barrier tracker. */
uint32_t vf_vk_write_mask(const vf_op *op);

/* The tuning the vk backend chose (NULL for other backends). */
const vf_vk_tuning *vf_vk_backend_tuning(const vf_backend *be);

void vf_vk_choose_tuning(uint32_t vendor_id, uint32_t driver_id, int device_type,
                         uint32_t subgroup_size, vf_vk_tuning *out);

#endif
