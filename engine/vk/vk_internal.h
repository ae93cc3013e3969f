/* Internal to engine/vk: instance/device helpers shared by vk_device.c and
 * vk_backend.c. */
#ifndef VKFLOW_VK_INTERNAL_H
#define VKFLOW_VK_INTERNAL_H

#include <vulkan/vulkan.h>

#include "../backend.h"
#include "vk_kernels.h"

const char *vf_vk_result_str(VkResult r);
bool vf_vk_validation_requested(void);
/* msg_counter is incremented for each validation warning or error. */
vf_status vf_vk_instance_create(bool validate, int *msg_counter, VkInstance *inst,
                                VkDebugUtilsMessengerEXT *messenger);
void vf_vk_instance_destroy(VkInstance inst, VkDebugUtilsMessengerEXT messenger);
/* All physical devices with their descriptions; chosen is -1 (and the error
 * message set) when no device fits the rules or VKFLOW_DEVICE. */
vf_status vf_vk_enumerate(VkInstance inst, VkPhysicalDevice **pds, vf_vk_device_info **infos,
                          int *count, int *chosen);
int vf_vk_compute_queue_family(VkPhysicalDevice pd);

#endif
