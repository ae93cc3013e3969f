/* Vulkan instance, validation messages and device choice.
 *
 * Choice: discrete GPU > integrated > virtual > CPU (lavapipe); among equals
 * the most device-local memory. VKFLOW_DEVICE=<index | name substring>
 * overrides. A device is usable when it has a compute queue and
 * VK_KHR_push_descriptor (every desktop driver and lavapipe do). */
#include "vk_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    int *counter = user;
    if ((types & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT) &&
        (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT))) {
        if (counter) (*counter)++;
        fprintf(stderr, "vkflow: Vulkan validation %s: %s\n",
                severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
                data->pMessage);
    }
    return VK_FALSE;
}

const char *vf_vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
    }
}

static bool layer_present(const char *name) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return false;
    vkEnumerateInstanceLayerProperties(&n, p);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(p[i].layerName, name)) found = true;
    free(p);
    return found;
}

bool vf_vk_validation_requested(void) {
    const char *v = getenv("VKFLOW_VALIDATE");
    return v && *v && strcmp(v, "0") != 0;
}

vf_status vf_vk_instance_create(bool validate, int *msg_counter, VkInstance *inst,
                                VkDebugUtilsMessengerEXT *messenger) {
    *inst = VK_NULL_HANDLE;
    *messenger = VK_NULL_HANDLE;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validate && !layer_present(layer))
        return vf_fail(VF_ERR_DEVICE,
                       "VKFLOW_VALIDATE is set but the Khronos validation layer is not "
                       "installed (Debian: apt-get install vulkan-validationlayers)");
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkflow",
        .applicationVersion = 1,
        .pEngineName = "vkflow",
        .apiVersion = VK_API_VERSION_1_2,
    };
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = on_debug_message,
        .pUserData = msg_counter,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &dbg : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = validate ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = validate ? 1 : 0,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, inst);
    if (r != VK_SUCCESS)
        return vf_fail(VF_ERR_DEVICE, "vkCreateInstance failed (%s): is a Vulkan driver installed? "
                       "(Debian: mesa-vulkan-drivers provides lavapipe)", vf_vk_result_str(r));
    if (validate) {
        PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(*inst, "vkCreateDebugUtilsMessengerEXT");
        if (create) create(*inst, &dbg, NULL, messenger);
    }
    return VF_OK;
}

void vf_vk_instance_destroy(VkInstance inst, VkDebugUtilsMessengerEXT messenger) {
    if (!inst) return;
    if (messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(inst, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(inst, messenger, NULL);
    }
    vkDestroyInstance(inst, NULL);
}

static bool has_extension(VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL);
    VkExtensionProperties *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return false;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p);
    bool found = false;
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(p[i].extensionName, name)) found = true;
    free(p);
    return found;
}

int vf_vk_compute_queue_family(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    if (!q) return -1;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    /* prefer a compute queue without graphics (async compute), else any */
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (q[i].timestampValidBits == 0 && best >= 0) continue;
        if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
    }
    free(q);
    return best;
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

/* Preference of a device type, from its name in vf_vk_device_info.type. */
static int type_rank(const char *type) {
    static const char *const order[] = {"other", "cpu", "virtual", "integrated", "discrete"};
    for (int k = 0; k < 5; k++)
        if (!strcmp(type, order[k])) return k;
    return 0;
}

static void describe(VkPhysicalDevice pd, int index, vf_vk_device_info *d) {
    memset(d, 0, sizeof *d);
    d->index = index;
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                              .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    snprintf(d->name, sizeof d->name, "%s", p->deviceName);
    snprintf(d->type, sizeof d->type, "%s", type_name(p->deviceType));
    snprintf(d->driver, sizeof d->driver, "%.127s %.120s", drv.driverName, drv.driverInfo);
    d->api_version = p->apiVersion;
    d->vendor_id = p->vendorID;
    d->device_id = p->deviceID;
    d->subgroup_size = sub.subgroupSize;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            d->device_local_bytes += mp.memoryHeaps[i].size;

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f16};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    d->fp16 = f16.shaderFloat16;
    d->coopmat = has_extension(pd, "VK_KHR_cooperative_matrix") ||
                 has_extension(pd, "VK_NV_cooperative_matrix");

    d->usable = true;
    if (VK_API_VERSION_MINOR(p->apiVersion) < 1 && VK_API_VERSION_MAJOR(p->apiVersion) == 1) {
        d->usable = false;
        snprintf(d->unusable_reason, sizeof d->unusable_reason, "needs Vulkan 1.1 or later");
    } else if (vf_vk_compute_queue_family(pd) < 0) {
        d->usable = false;
        snprintf(d->unusable_reason, sizeof d->unusable_reason, "no compute queue");
    } else if (!has_extension(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)) {
        d->usable = false;
        snprintf(d->unusable_reason, sizeof d->unusable_reason, "no VK_KHR_push_descriptor");
    }
}

/* Picks the device index per the rules above; -1 with vf_fail if none. */
static int choose(const vf_vk_device_info *d, int n) {
    const char *want = getenv("VKFLOW_DEVICE");
    if (want && *want) {
        char *end;
        long idx = strtol(want, &end, 10);
        bool numeric = *end == '\0';
        for (int i = 0; i < n; i++) {
            bool match = numeric ? d[i].index == idx : strcasestr(d[i].name, want) != NULL;
            if (!match) continue;
            if (!d[i].usable) {
                vf_fail(VF_ERR_DEVICE, "VKFLOW_DEVICE=%s selects '%s', which vkflow cannot use: %s",
                        want, d[i].name, d[i].unusable_reason);
                return -1;
            }
            return i;
        }
        vf_fail(VF_ERR_DEVICE, "VKFLOW_DEVICE=%s matches none of the %d Vulkan device(s) "
                "(run `vkflow devices` to list them)", want, n);
        return -1;
    }
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!d[i].usable) continue;
        if (best < 0) { best = i; continue; }
        int ri = type_rank(d[i].type), rb = type_rank(d[best].type);
        if (ri > rb || (ri == rb && d[i].device_local_bytes > d[best].device_local_bytes)) best = i;
    }
    if (best < 0) vf_fail(VF_ERR_DEVICE, "no usable Vulkan device among %d (run `vkflow devices`)", n);
    return best;
}

vf_status vf_vk_enumerate(VkInstance inst, VkPhysicalDevice **pds, vf_vk_device_info **infos,
                          int *count, int *chosen) {
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r != VK_SUCCESS) return vf_fail(VF_ERR_DEVICE, "vkEnumeratePhysicalDevices: %s", vf_vk_result_str(r));
    if (n == 0) return vf_fail(VF_ERR_DEVICE, "no Vulkan devices (install mesa-vulkan-drivers for lavapipe)");
    VkPhysicalDevice *p = calloc(n, sizeof *p);
    vf_vk_device_info *d = calloc(n, sizeof *d);
    if (!p || !d) {
        free(p);
        free(d);
        return vf_fail(VF_ERR_OOM, "out of host memory");
    }
    vkEnumeratePhysicalDevices(inst, &n, p);
    for (uint32_t i = 0; i < n; i++) describe(p[i], (int)i, &d[i]);
    int c = choose(d, (int)n);
    if (c >= 0) d[c].chosen = true;
    *pds = p;
    *infos = d;
    *count = (int)n;
    *chosen = c;
    return VF_OK;
}

vf_status vf_vk_list_devices(vf_vk_device_info **out, int *count) {
    *out = NULL;
    *count = 0;
    VkInstance inst;
    VkDebugUtilsMessengerEXT msg;
    vf_status s = vf_vk_instance_create(false, NULL, &inst, &msg);
    if (s) return s;
    VkPhysicalDevice *pds = NULL;
    int chosen;
    s = vf_vk_enumerate(inst, &pds, out, count, &chosen);
    free(pds);
    vf_vk_instance_destroy(inst, msg);
    return s;
}
