/* Internal to engine/vk: run-time GLSL for fused elementwise programs, the
 * shaderc compile with its on-disk SPIR-V cache, and small cache helpers
 * shared with the pipeline cache. */
#ifndef VKFLOW_VK_EW_H
#define VKFLOW_VK_EW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

/* GLSL compute shader for p (malloc'd), NULL when out of memory. Bindings:
 * inputs 0..n_in-1, then outputs; push constants u[0] = rows, u[1] = cols. */
char *vf_ew_glsl(const vf_ew_program *p);
uint64_t vf_ew_hash(const char *s, size_t n);
/* SPIR-V for src (malloc'd), from the disk cache or compiled with shaderc.
 * *compiler is created on first use; release it with vf_ew_compiler_release. */
vf_status vf_ew_compile(void **compiler, const char *src, uint32_t **code, size_t *bytes);
void vf_ew_compiler_release(void *compiler);

/* $XDG_CACHE_HOME/vkflow or ~/.cache/vkflow, created; false if unavailable. */
bool vf_cache_dir(char *out, size_t len);

#endif
