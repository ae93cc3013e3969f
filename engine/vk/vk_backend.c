/* The vk backend: Vulkan compute on any device (NVIDIA, AMD, Intel, Apple via
 * MoltenVK, lavapipe on the CPU).
 *
 * Resources, each with one owner (the backend):
 *   - one VkBuffer + VkDeviceMemory per arena; tensors are byte ranges of it;
 *   - a staging buffer for uploads/downloads when arenas are not host-visible;
 *   - pipelines, created on first use and cached by (shader, spec constants);
 *   - one command buffer that collects op-by-op work until the next sync, and
 *     one command buffer per captured program, replayed by vf_program_run.
 * Descriptors are pushed per dispatch (VK_KHR_push_descriptor), so recording
 * needs no descriptor pools and a program replays with no host work beyond
 * one vkQueueSubmit. Barriers are inserted only where an op touches a range
 * that an earlier op since the last barrier wrote (or writes a range read). */
#include "vk_internal.h"
#include "vk_ew.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vf_spirv { const char *name; const uint32_t *code; size_t bytes; };
extern const struct vf_spirv vf_spirv_table[];

#define PC_BYTES (sizeof(uint32_t) * VF_OP_MAX_U + sizeof(float) * VF_OP_MAX_F)
#define TRACK_MAX 48
#define FLUSH_EVERY 512 /* op-by-op dispatches per submit */

typedef struct vk_mem {
    VkBuffer buf;
    VkDeviceMemory mem;
    void *map;        /* persistently mapped when host-visible */
    VkDeviceSize size;
} vk_mem;

typedef struct vk_range { VkBuffer buf; VkDeviceSize lo, hi; } vk_range;

/* Ranges read and written since the last barrier in one command buffer. */
typedef struct vk_tracker {
    vk_range rd[TRACK_MAX], wr[TRACK_MAX];
    int nrd, nwr;
    bool overflow;
} vk_tracker;

typedef struct vk_pipe {
    const char *shader;  /* the module's name */
    const char *src;     /* the module's generated GLSL, or NULL */
    uint32_t spec[VF_VK_MAX_SPEC];
    int nspec, nbind;
    VkPipeline pipe;
} vk_pipe;

/* A shader module: built in (shader points into vf_spirv_table) or generated
 * at run time (src holds its GLSL, owned, and shader its owned name). */
typedef struct vk_module { const char *shader; char *src; VkShaderModule mod; } vk_module;

typedef struct vk_program {
    vf_program base;
    VkCommandBuffer cmd;
    VkQueryPool qpool; /* 2 timestamps when captured with profiling on */
    vk_tracker track;
} vk_program;

typedef struct vk_backend {
    vf_backend base;
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice pd;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    bool host_arenas;      /* arenas are host-visible (UMA / CPU driver) */
    uint32_t n_allocations;
    VkCommandPool pool;
    VkFence fence;
    VkCommandBuffer cmd;   /* op-by-op batch */
    bool cmd_open;
    int pending;
    vk_tracker track;      /* of cmd */
    VkCommandBuffer xfer;  /* staging copies */
    vk_mem staging, dummy;
    VkDescriptorSetLayout dsl[VF_OP_MAX_ARGS + 1];
    VkPipelineLayout layout[VF_OP_MAX_ARGS + 1];
    VkPipelineCache pcache;
    vk_pipe *pipes;
    int npipes, cap_pipes;
    vk_module *mods;
    int nmods, cap_mods;
    PFN_vkCmdPushDescriptorSetKHR push_descriptors;
    vf_vk_tuning tuning;
    void *shaderc;         /* run-time GLSL compiler, created on first use */
    char pcache_path[1024];/* where the VkPipelineCache is saved ("" = nowhere) */
    int pipes_at_load;     /* pipelines when the cache was loaded: save if more */
    vk_program *capture;
    bool profile;
    double ts_period_ns;
} vk_backend;

#define VKCHECK(call, what)                                                                   \
    do {                                                                                      \
        VkResult r_ = (call);                                                                 \
        if (r_ != VK_SUCCESS)                                                                 \
            return vf_fail(r_ == VK_ERROR_OUT_OF_DEVICE_MEMORY || r_ == VK_ERROR_OUT_OF_HOST_MEMORY \
                               ? VF_ERR_OOM : VF_ERR_DEVICE,                                  \
                           "vk: %s failed: %s", what, vf_vk_result_str(r_));                  \
    } while (0)

/* ------------------------------------------------------------------ memory */

static int find_memory_type(const vk_backend *b, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < b->memprops.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (b->memprops.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

/* Creates a buffer with its own memory. prefs are tried in order. */
static vf_status mem_create(vk_backend *b, VkDeviceSize size, VkBufferUsageFlags usage,
                            const VkMemoryPropertyFlags *prefs, int nprefs, vk_mem *out) {
    memset(out, 0, sizeof *out);
    if (b->n_allocations >= b->props.limits.maxMemoryAllocationCount)
        return vf_fail(VF_ERR_OOM, "vk: device allows only %u memory allocations",
                       b->props.limits.maxMemoryAllocationCount);
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VKCHECK(vkCreateBuffer(b->dev, &bi, NULL, &out->buf), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(b->dev, out->buf, &req);
    int type = -1;
    for (int i = 0; i < nprefs && type < 0; i++) type = find_memory_type(b, req.memoryTypeBits, prefs[i]);
    if (type < 0) {
        vkDestroyBuffer(b->dev, out->buf, NULL);
        return vf_fail(VF_ERR_DEVICE, "vk: no suitable memory type for a %llu-byte buffer",
                       (unsigned long long)size);
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    VkResult r = vkAllocateMemory(b->dev, &ai, NULL, &out->mem);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(b->dev, out->buf, NULL);
        return vf_fail(VF_ERR_OOM, "vk: cannot allocate %llu bytes of device memory (%s)",
                       (unsigned long long)size, vf_vk_result_str(r));
    }
    b->n_allocations++;
    vkBindBufferMemory(b->dev, out->buf, out->mem, 0);
    if (b->memprops.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        r = vkMapMemory(b->dev, out->mem, 0, VK_WHOLE_SIZE, 0, &out->map);
        if (r != VK_SUCCESS) out->map = NULL;
    }
    out->size = size;
    return VF_OK;
}

static void mem_destroy(vk_backend *b, vk_mem *m) {
    if (m->buf) vkDestroyBuffer(b->dev, m->buf, NULL);
    if (m->mem) {
        vkFreeMemory(b->dev, m->mem, NULL);
        b->n_allocations--;
    }
    memset(m, 0, sizeof *m);
}

static const VkBufferUsageFlags ARENA_USAGE = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                              VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                              VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static vf_status vk_arena_alloc(vf_backend *be, size_t bytes, void **handle) {
    vk_backend *b = (vk_backend *)be;
    vk_mem *m = calloc(1, sizeof *m);
    if (!m) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
    VkMemoryPropertyFlags uma[] = {
        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
            VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};
    VkMemoryPropertyFlags dgpu[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0};
    vf_status s = b->host_arenas ? mem_create(b, bytes, ARENA_USAGE, uma, 2, m)
                                 : mem_create(b, bytes, ARENA_USAGE, dgpu, 2, m);
    if (s) {
        free(m);
        return s;
    }
    *handle = m;
    return VF_OK;
}

static vf_status flush(vk_backend *b);

static void vk_arena_free(vf_backend *be, void *handle) {
    vk_backend *b = (vk_backend *)be;
    vk_mem *m = handle;
    if (!m) return;
    /* ops recorded but not yet submitted may use it: run them first (their
     * error, if any, stays in vf_last_error), then wait for the device */
    flush(b);
    vkDeviceWaitIdle(b->dev);
    mem_destroy(b, m);
    free(m);
}

/* ----------------------------------------------------------- submissions */

static void barrier(VkCommandBuffer cmd) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

static vf_status begin_cmd(VkCommandBuffer cmd, bool one_time) {
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = one_time ? VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT : 0,
    };
    VKCHECK(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
    /* earlier submissions' writes become visible to this one */
    barrier(cmd);
    return VF_OK;
}

static vf_status submit_wait(vk_backend *b, VkCommandBuffer cmd) {
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
    };
    VKCHECK(vkQueueSubmit(b->queue, 1, &si, b->fence), "vkQueueSubmit");
    VkResult r = vkWaitForFences(b->dev, 1, &b->fence, VK_TRUE, UINT64_MAX);
    vkResetFences(b->dev, 1, &b->fence);
    if (r != VK_SUCCESS)
        return vf_fail(VF_ERR_DEVICE, "vk: waiting for the device failed: %s%s", vf_vk_result_str(r),
                       r == VK_ERROR_DEVICE_LOST ? " (the GPU reset or timed out: try smaller batches)" : "");
    return VF_OK;
}

/* Submits the op-by-op batch, if any, and waits for it. */
static vf_status flush(vk_backend *b) {
    if (!b->cmd_open) return VF_OK;
    b->cmd_open = false;
    b->pending = 0;
    memset(&b->track, 0, sizeof b->track);
    VKCHECK(vkEndCommandBuffer(b->cmd), "vkEndCommandBuffer");
    vf_status s = submit_wait(b, b->cmd);
    vkResetCommandBuffer(b->cmd, 0);
    return s;
}

static vf_status vk_sync(vf_backend *be) { return flush((vk_backend *)be); }

static vf_status ensure_staging(vk_backend *b, size_t bytes) {
    if (b->staging.size >= bytes) return VF_OK;
    mem_destroy(b, &b->staging);
    VkDeviceSize size = bytes < (1u << 20) ? (1u << 20) : bytes;
    VkMemoryPropertyFlags prefs[] = {VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                     VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                                     VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};
    vf_status s = mem_create(b, size, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             prefs, 2, &b->staging);
    if (s == VF_OK && !b->staging.map) return vf_fail(VF_ERR_DEVICE, "vk: cannot map the staging buffer");
    return s;
}

static vf_status copy_via_staging(vk_backend *b, vk_mem *m, size_t off, size_t bytes, bool upload) {
    vf_status s = ensure_staging(b, bytes);
    if (s) return s;
    s = begin_cmd(b->xfer, true);
    if (s) return s;
    VkBufferCopy region = {.srcOffset = upload ? 0 : off, .dstOffset = upload ? off : 0, .size = bytes};
    if (upload) vkCmdCopyBuffer(b->xfer, b->staging.buf, m->buf, 1, &region);
    else vkCmdCopyBuffer(b->xfer, m->buf, b->staging.buf, 1, &region);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(b->xfer, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb,
                         0, NULL, 0, NULL);
    VKCHECK(vkEndCommandBuffer(b->xfer), "vkEndCommandBuffer");
    s = submit_wait(b, b->xfer);
    vkResetCommandBuffer(b->xfer, 0);
    return s;
}

static vf_status vk_write(vf_backend *be, void *h, size_t off, const void *src, size_t n) {
    vk_backend *b = (vk_backend *)be;
    vk_mem *m = h;
    vf_status s = flush(b); /* earlier ops may still read the old contents */
    if (s) return s;
    if (m->map) {
        memcpy((char *)m->map + off, src, n);
        return VF_OK;
    }
    s = ensure_staging(b, n);
    if (s) return s;
    memcpy(b->staging.map, src, n);
    return copy_via_staging(b, m, off, n, true);
}

static vf_status vk_read(vf_backend *be, void *h, size_t off, void *dst, size_t n) {
    vk_backend *b = (vk_backend *)be;
    vk_mem *m = h;
    vf_status s = flush(b);
    if (s) return s;
    if (m->map) {
        memcpy(dst, (char *)m->map + off, n);
        return VF_OK;
    }
    s = copy_via_staging(b, m, off, n, false);
    if (s) return s;
    memcpy(dst, b->staging.map, n);
    return VF_OK;
}

/* --------------------------------------------------------------- pipelines */

static const struct vf_spirv *find_spirv(const char *name) {
    for (const struct vf_spirv *s = vf_spirv_table; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

/* Finds or creates the module for a built-in shader (src == NULL) or for
 * generated GLSL (src != NULL, compiled through the SPIR-V cache). */
static vf_status get_module(vk_backend *b, const char *name, const char *src, vk_module **out) {
    for (int i = 0; i < b->nmods; i++)
        if (!strcmp(b->mods[i].shader, name) && (!src || (b->mods[i].src && !strcmp(b->mods[i].src, src)))) {
            *out = &b->mods[i];
            return VF_OK;
        }
    if (b->nmods == b->cap_mods) {
        int cap = b->cap_mods ? 2 * b->cap_mods : 32;
        vk_module *m = realloc(b->mods, (size_t)cap * sizeof *m);
        if (!m) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
        b->mods = m;
        b->cap_mods = cap;
    }
    vk_module *m = &b->mods[b->nmods];
    memset(m, 0, sizeof *m);
    const uint32_t *code;
    size_t bytes;
    uint32_t *generated = NULL;
    if (src) {
        vf_status s = vf_ew_compile(&b->shaderc, src, &generated, &bytes);
        if (s) return s;
        code = generated;
        m->src = strdup(src);
        char *nm = strdup(name);
        if (!m->src || !nm) {
            free(generated);
            free(m->src);
            free(nm);
            return vf_fail(VF_ERR_OOM, "vk: out of host memory");
        }
        m->shader = nm;
    } else {
        const struct vf_spirv *spv = find_spirv(name);
        if (!spv) return vf_fail(VF_ERR_UNSUPPORTED, "vk: shader '%s' is not built into this library", name);
        code = spv->code;
        bytes = spv->bytes;
        m->shader = spv->name;
    }
    VkShaderModuleCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = bytes,
        .pCode = code,
    };
    VkResult r = vkCreateShaderModule(b->dev, &ci, NULL, &m->mod);
    free(generated);
    if (r != VK_SUCCESS) {
        if (src) {
            free(m->src);
            free((char *)m->shader);
        }
        return vf_fail(VF_ERR_DEVICE, "vk: vkCreateShaderModule(%s): %s", name, vf_vk_result_str(r));
    }
    b->nmods++;
    *out = m;
    return VF_OK;
}

static vf_status get_pipeline(vk_backend *b, const vf_vk_dispatch *d, const char *src, int nbind,
                              vk_pipe **out) {
    for (int i = 0; i < b->npipes; i++) {
        vk_pipe *p = &b->pipes[i];
        if (p->nbind == nbind && p->nspec == d->nspec && !strcmp(p->shader, d->shader) &&
            (!src || p->src == src) &&
            !memcmp(p->spec, d->spec, sizeof(uint32_t) * (size_t)d->nspec)) {
            *out = p;
            return VF_OK;
        }
    }
    vk_module *mod = NULL;
    vf_status s = get_module(b, d->shader, src, &mod);
    if (s) return s;
    if (b->npipes == b->cap_pipes) {
        int cap = b->cap_pipes ? 2 * b->cap_pipes : 64;
        vk_pipe *p = realloc(b->pipes, (size_t)cap * sizeof *p);
        if (!p) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
        b->pipes = p;
        b->cap_pipes = cap;
    }
    VkSpecializationMapEntry map[VF_VK_MAX_SPEC];
    for (int i = 0; i < d->nspec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i,
                                            .offset = (uint32_t)(i * sizeof(uint32_t)),
                                            .size = sizeof(uint32_t)};
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)d->nspec,
        .pMapEntries = map,
        .dataSize = sizeof(uint32_t) * (size_t)d->nspec,
        .pData = d->spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = mod->mod,
            .pName = "main",
            .pSpecializationInfo = d->nspec ? &si : NULL,
        },
        .layout = b->layout[nbind],
    };
    vk_pipe *p = &b->pipes[b->npipes];
    VKCHECK(vkCreateComputePipelines(b->dev, b->pcache, 1, &ci, NULL, &p->pipe),
            "vkCreateComputePipelines");
    p->shader = mod->shader;
    p->src = mod->src;
    memcpy(p->spec, d->spec, sizeof p->spec);
    p->nspec = d->nspec;
    p->nbind = nbind;
    b->npipes++;
    *out = p;
    return VF_OK;
}

/* ------------------------------------------------------------ recording */

static bool overlaps(const vk_range *list, int n, const vk_range *r) {
    for (int i = 0; i < n; i++)
        if (list[i].buf == r->buf && list[i].lo < r->hi && r->lo < list[i].hi) return true;
    return false;
}

static vk_range range_of(const vf_tensor *t) {
    const vk_mem *m = t->arena->handle;
    return (vk_range){m->buf, t->offset, t->offset + vf_tensor_bytes(t)};
}

/* Does op need a barrier before it, given what ran since the last one? */
static bool hazard(const vk_tracker *tr, const vf_op *op, uint32_t wmask) {
    if (tr->overflow) return true;
    for (int i = 0; i < op->nargs; i++) {
        if (!op->args[i]) continue;
        vk_range r = range_of(op->args[i]);
        if (overlaps(tr->wr, tr->nwr, &r)) return true;               /* RAW, WAW */
        if ((wmask >> i & 1) && overlaps(tr->rd, tr->nrd, &r)) return true; /* WAR */
    }
    return false;
}

static void track(vk_tracker *tr, const vf_op *op, uint32_t wmask) {
    for (int i = 0; i < op->nargs; i++) {
        if (!op->args[i]) continue;
        vk_range r = range_of(op->args[i]);
        if (wmask >> i & 1) {
            if (tr->nwr == TRACK_MAX) tr->overflow = true;
            else tr->wr[tr->nwr++] = r;
        } else {
            if (tr->nrd == TRACK_MAX) tr->overflow = true;
            else tr->rd[tr->nrd++] = r;
        }
    }
}

static vf_status record_dispatch(vk_backend *b, VkCommandBuffer cmd, const vf_op *op,
                                 const vf_vk_dispatch *d, const char *src) {
    vk_pipe *p = NULL;
    vf_status s = get_pipeline(b, d, src, op->nargs, &p);
    if (s) return s;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    VkDescriptorBufferInfo info[VF_OP_MAX_ARGS];
    VkWriteDescriptorSet w[VF_OP_MAX_ARGS];
    for (int i = 0; i < op->nargs; i++) {
        const vf_tensor *t = op->args[i];
        if (t) {
            const vk_mem *m = t->arena->handle;
            info[i] = (VkDescriptorBufferInfo){m->buf, t->offset, vf_tensor_bytes(t)};
        } else {
            info[i] = (VkDescriptorBufferInfo){b->dummy.buf, 0, b->dummy.size};
        }
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &info[i],
        };
    }
    b->push_descriptors(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, b->layout[op->nargs], 0,
                        (uint32_t)op->nargs, w);
    struct { uint32_t u[VF_OP_MAX_U]; float f[VF_OP_MAX_F]; } pc;
    memcpy(pc.u, op->u, sizeof pc.u);
    memcpy(pc.f, op->f, sizeof pc.f);
    pc.u[VF_VK_PASS_SLOT] = d->pass;
    vkCmdPushConstants(cmd, b->layout[op->nargs], VK_SHADER_STAGE_COMPUTE_BIT, 0, PC_BYTES, &pc);
    uint32_t gx = d->groups[0], gy = d->groups[1] ? d->groups[1] : 1, gz = d->groups[2] ? d->groups[2] : 1;
    const uint32_t *lim = b->props.limits.maxComputeWorkGroupCount;
    if (d->linear && gx > lim[0]) { /* fold: shaders use vf_linear_group() and bound-check */
        gy = (gx + lim[0] - 1) / lim[0];
        gx = lim[0];
    }
    if (gx == 0 || gx > lim[0] || gy > lim[1] || gz > lim[2])
        return vf_fail(VF_ERR_UNSUPPORTED, "vk: %s needs a %ux%ux%u grid; the device allows %ux%ux%u",
                       vf_op_name(op->kind), gx, gy, gz, lim[0], lim[1], lim[2]);
    vkCmdDispatch(cmd, gx, gy, gz);
    return VF_OK;
}

/* The dispatch of a fused elementwise op: its GLSL is the pipeline's key. The
 * source is interned in the module table, so *src stays valid. */
static vf_status plan_elementwise(vk_backend *b, const vf_op *op, vf_vk_dispatch *d, const char **src) {
    char *glsl = vf_ew_glsl(op->ew);
    if (!glsl) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
    char name[32];
    snprintf(name, sizeof name, "ew_%016llx", (unsigned long long)vf_ew_hash(glsl, strlen(glsl)));
    vk_module *m = NULL;
    vf_status s = get_module(b, name, glsl, &m);
    free(glsl);
    if (s) return s;
    const uint64_t total = (uint64_t)op->u[0] * op->u[1];
    const uint32_t wg = b->tuning.wg_size ? b->tuning.wg_size : 64;
    d->shader = m->shader;
    d->spec[0] = wg;
    d->nspec = 1;
    d->groups[0] = (uint32_t)((total + wg - 1) / wg);
    d->groups[1] = d->groups[2] = 1;
    d->linear = true;
    *src = m->src;
    return VF_OK;
}

static vf_status vk_run_op(vf_backend *be, const vf_op *op) {
    vk_backend *b = (vk_backend *)be;
    vf_vk_dispatch d[VF_VK_MAX_PASSES];
    memset(d, 0, sizeof d);
    const char *src = NULL;
    int n;
    uint32_t wmask;
    if (op->kind == VF_OP_ELEMENTWISE) {
        vf_status s = plan_elementwise(b, op, d, &src);
        if (s) return s;
        n = 1;
        wmask = ((1u << op->u[3]) - 1) << op->u[2]; /* the outputs follow the inputs */
    } else {
        n = vf_vk_plan(&b->tuning, op, d);
        if (n < 0) return VF_ERR_UNSUPPORTED;
        wmask = vf_vk_write_mask(op);
    }
    VkCommandBuffer cmd;
    vk_tracker *tr;
    if (b->capture) {
        cmd = b->capture->cmd;
        tr = &b->capture->track;
    } else {
        if (!b->cmd_open) {
            vf_status s = begin_cmd(b->cmd, true);
            if (s) return s;
            b->cmd_open = true;
        }
        cmd = b->cmd;
        tr = &b->track;
    }
    if (hazard(tr, op, wmask)) {
        barrier(cmd);
        memset(tr, 0, sizeof *tr);
    }
    for (int i = 0; i < n; i++) {
        if (i > 0) barrier(cmd); /* passes depend on each other */
        vf_status s = record_dispatch(b, cmd, op, &d[i], src);
        if (s) return s;
    }
    if (n > 1) memset(tr, 0, sizeof *tr);
    track(tr, op, wmask);
    if (b->capture) {
        b->capture->base.op_count++;
        return VF_OK;
    }
    if (++b->pending >= FLUSH_EVERY) return flush(b);
    return VF_OK;
}

/* ---------------------------------------------------------------- programs */

static vf_status program_run(vf_program *base) {
    vk_program *p = (vk_program *)base;
    vk_backend *b = (vk_backend *)base->be;
    vf_status s = flush(b);
    if (s) return s;
    s = submit_wait(b, p->cmd);
    if (s) return s;
    if (p->qpool) {
        uint64_t ts[2];
        VkResult r = vkGetQueryPoolResults(b->dev, p->qpool, 0, 2, sizeof ts, ts, sizeof ts[0],
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r == VK_SUCCESS) base->last_gpu_seconds = (double)(ts[1] - ts[0]) * b->ts_period_ns * 1e-9;
    }
    return VF_OK;
}

static void program_destroy(vf_program *base) {
    vk_program *p = (vk_program *)base;
    vk_backend *b = (vk_backend *)base->be;
    vkDeviceWaitIdle(b->dev);
    if (p->cmd) vkFreeCommandBuffers(b->dev, b->pool, 1, &p->cmd);
    if (p->qpool) vkDestroyQueryPool(b->dev, p->qpool, NULL);
    free(p);
}

static vf_status vk_capture_begin(vf_backend *be) {
    vk_backend *b = (vk_backend *)be;
    vf_status s = flush(b);
    if (s) return s;
    vk_program *p = calloc(1, sizeof *p);
    if (!p) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
    p->base.be = be;
    p->base.run = program_run;
    p->base.destroy = program_destroy;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = b->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vkAllocateCommandBuffers(b->dev, &ai, &p->cmd);
    if (r != VK_SUCCESS) {
        free(p);
        return vf_fail(VF_ERR_DEVICE, "vk: vkAllocateCommandBuffers: %s", vf_vk_result_str(r));
    }
    s = begin_cmd(p->cmd, false);
    if (s) {
        program_destroy(&p->base);
        return s;
    }
    if (b->profile && b->props.limits.timestampComputeAndGraphics) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2};
        if (vkCreateQueryPool(b->dev, &qi, NULL, &p->qpool) == VK_SUCCESS) {
            vkCmdResetQueryPool(p->cmd, p->qpool, 0, 2);
            vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, p->qpool, 0);
        }
    }
    b->capture = p;
    return VF_OK;
}

static vf_status vk_capture_end(vf_backend *be, vf_program **out) {
    vk_backend *b = (vk_backend *)be;
    vk_program *p = b->capture;
    b->capture = NULL;
    *out = NULL;
    if (p->qpool) vkCmdWriteTimestamp(p->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->qpool, 1);
    VkResult r = vkEndCommandBuffer(p->cmd);
    if (r != VK_SUCCESS) {
        program_destroy(&p->base);
        return vf_fail(VF_ERR_DEVICE, "vk: vkEndCommandBuffer: %s", vf_vk_result_str(r));
    }
    *out = &p->base;
    return VF_OK;
}

static vf_status vk_profile(vf_backend *be, bool on) {
    ((vk_backend *)be)->profile = on;
    return VF_OK;
}

/* ------------------------------------------------------------ lifecycle */

/* The VkPipelineCache is saved per device UUID and driver version, so a new
 * driver starts clean instead of feeding the old blob to the new compiler. */
static void pipeline_cache_path(vk_backend *b) {
    b->pcache_path[0] = '\0';
    char dir[600];
    if (!vf_cache_dir(dir, sizeof dir)) return;
    char uuid[33];
    for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", b->props.pipelineCacheUUID[i]);
    snprintf(b->pcache_path, sizeof b->pcache_path, "%s/pipelines-%s-%08x.bin", dir, uuid,
             b->props.driverVersion);
}

static void save_pipeline_cache(vk_backend *b) {
    if (!b->pcache_path[0] || b->npipes <= b->pipes_at_load) return;
    size_t n = 0;
    if (vkGetPipelineCacheData(b->dev, b->pcache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void *data = malloc(n);
    if (data && vkGetPipelineCacheData(b->dev, b->pcache, &n, data) == VK_SUCCESS)
        (void)vf_write_file_atomic(b->pcache_path, data, n);
    free(data);
}

static void vk_destroy(vf_backend *be) {
    vk_backend *b = (vk_backend *)be;
    if (b->dev) {
        vkDeviceWaitIdle(b->dev);
        if (b->capture) program_destroy(&b->capture->base);
        for (int i = 0; i < b->npipes; i++) vkDestroyPipeline(b->dev, b->pipes[i].pipe, NULL);
        for (int i = 0; i < b->nmods; i++) {
            vkDestroyShaderModule(b->dev, b->mods[i].mod, NULL);
            if (b->mods[i].src) {
                free(b->mods[i].src);
                free((char *)b->mods[i].shader);
            }
        }
        for (int i = 0; i <= VF_OP_MAX_ARGS; i++) {
            if (b->layout[i]) vkDestroyPipelineLayout(b->dev, b->layout[i], NULL);
            if (b->dsl[i]) vkDestroyDescriptorSetLayout(b->dev, b->dsl[i], NULL);
        }
        if (b->pcache) {
            save_pipeline_cache(b);
            vkDestroyPipelineCache(b->dev, b->pcache, NULL);
        }
        mem_destroy(b, &b->staging);
        mem_destroy(b, &b->dummy);
        if (b->fence) vkDestroyFence(b->dev, b->fence, NULL);
        if (b->pool) vkDestroyCommandPool(b->dev, b->pool, NULL);
        vkDestroyDevice(b->dev, NULL);
    }
    free(b->pipes);
    free(b->mods);
    vf_ew_compiler_release(b->shaderc);
    vf_vk_instance_destroy(b->inst, b->messenger);
    free(b);
}

static const vf_backend_ops vk_ops = {
    .destroy = vk_destroy,
    .sync = vk_sync,
    .arena_alloc = vk_arena_alloc,
    .arena_free = vk_arena_free,
    .write = vk_write,
    .read = vk_read,
    .run_op = vk_run_op,
    .capture_begin = vk_capture_begin,
    .capture_end = vk_capture_end,
    .profile = vk_profile,
};

static vf_status create_device(vk_backend *b, const vf_vk_device_info *info) {
    vkGetPhysicalDeviceProperties(b->pd, &b->props);
    vkGetPhysicalDeviceMemoryProperties(b->pd, &b->memprops);
    b->qfam = (uint32_t)vf_vk_compute_queue_family(b->pd);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = b->qfam,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    const char *exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
        .enabledExtensionCount = 1,
        .ppEnabledExtensionNames = exts,
    };
    VKCHECK(vkCreateDevice(b->pd, &ci, NULL, &b->dev), "vkCreateDevice");
    vkGetDeviceQueue(b->dev, b->qfam, 0, &b->queue);
    b->push_descriptors = (PFN_vkCmdPushDescriptorSetKHR)vkGetDeviceProcAddr(b->dev, "vkCmdPushDescriptorSetKHR");
    if (!b->push_descriptors) return vf_fail(VF_ERR_DEVICE, "vk: vkCmdPushDescriptorSetKHR missing");

    VkPhysicalDeviceType t = b->props.deviceType;
    b->host_arenas = t == VK_PHYSICAL_DEVICE_TYPE_CPU || t == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
    b->ts_period_ns = b->props.limits.timestampPeriod;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &m3};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    vkGetPhysicalDeviceProperties2(b->pd, &p2);
    size_t max_range = b->props.limits.maxStorageBufferRange;
    if (m3.maxMemoryAllocationSize && m3.maxMemoryAllocationSize < max_range) max_range = m3.maxMemoryAllocationSize;
    b->base.max_arena_bytes = max_range;
    size_t align = b->props.limits.minStorageBufferOffsetAlignment;
    b->base.alloc_align = align > 64 ? align : 64;
    vf_vk_choose_tuning(b->props.vendorID, (uint32_t)drv.driverID, (int)t, info->subgroup_size, &b->tuning);

    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = b->qfam,
    };
    VKCHECK(vkCreateCommandPool(b->dev, &pi, NULL, &b->pool), "vkCreateCommandPool");
    VkCommandBuffer cmds[2];
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = b->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 2,
    };
    VKCHECK(vkAllocateCommandBuffers(b->dev, &ai, cmds), "vkAllocateCommandBuffers");
    b->cmd = cmds[0];
    b->xfer = cmds[1];
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKCHECK(vkCreateFence(b->dev, &fi, NULL, &b->fence), "vkCreateFence");
    pipeline_cache_path(b);
    size_t blob_len = 0;
    void *blob = b->pcache_path[0] ? vf_read_file(b->pcache_path, &blob_len) : NULL;
    VkPipelineCacheCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                     .initialDataSize = blob ? blob_len : 0,
                                     .pInitialData = blob};
    VkResult pr = vkCreatePipelineCache(b->dev, &pci, NULL, &b->pcache);
    if (pr != VK_SUCCESS && blob) { /* a corrupt blob: start empty */
        pci.initialDataSize = 0;
        pci.pInitialData = NULL;
        pr = vkCreatePipelineCache(b->dev, &pci, NULL, &b->pcache);
    }
    free(blob);
    if (pr != VK_SUCCESS) return vf_fail(VF_ERR_DEVICE, "vk: vkCreatePipelineCache: %s", vf_vk_result_str(pr));

    /* one push-descriptor set layout and pipeline layout per binding count */
    VkDescriptorSetLayoutBinding binds[VF_OP_MAX_ARGS];
    for (int i = 0; i < VF_OP_MAX_ARGS; i++)
        binds[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = PC_BYTES};
    for (int n = 1; n <= VF_OP_MAX_ARGS; n++) {
        VkDescriptorSetLayoutCreateInfo di = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
            .bindingCount = (uint32_t)n,
            .pBindings = binds,
        };
        VKCHECK(vkCreateDescriptorSetLayout(b->dev, &di, NULL, &b->dsl[n]), "vkCreateDescriptorSetLayout");
        VkPipelineLayoutCreateInfo li = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &b->dsl[n],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = &pcr,
        };
        VKCHECK(vkCreatePipelineLayout(b->dev, &li, NULL, &b->layout[n]), "vkCreatePipelineLayout");
    }
    VkMemoryPropertyFlags any[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0};
    return mem_create(b, 256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, any, 2, &b->dummy);
}

vf_status vf_vk_create(vf_backend **out) {
    *out = NULL;
    vk_backend *b = calloc(1, sizeof *b);
    if (!b) return vf_fail(VF_ERR_OOM, "vk: out of host memory");
    b->base.ops = &vk_ops;
    b->base.kind = VF_BACKEND_VK;
    vf_status s = vf_vk_instance_create(vf_vk_validation_requested(), &b->base.validation_errors,
                                        &b->inst, &b->messenger);
    if (s) {
        free(b);
        return s;
    }
    VkPhysicalDevice *pds = NULL;
    vf_vk_device_info *infos = NULL;
    int n = 0, chosen = -1;
    s = vf_vk_enumerate(b->inst, &pds, &infos, &n, &chosen);
    if (s == VF_OK && chosen < 0) s = VF_ERR_DEVICE; /* message set by the chooser */
    if (s == VF_OK) {
        b->pd = pds[chosen];
        snprintf(b->base.name, sizeof b->base.name, "%s", infos[chosen].name);
        s = create_device(b, &infos[chosen]);
    }
    free(pds);
    free(infos);
    if (s) {
        vk_destroy(&b->base);
        return s;
    }
    *out = &b->base;
    return VF_OK;
}

const vf_vk_tuning *vf_vk_backend_tuning(const vf_backend *be) {
    return be->kind == VF_BACKEND_VK ? &((const vk_backend *)be)->tuning : NULL;
}
