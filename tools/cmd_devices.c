/* vkflow devices: every Vulkan device, what it offers, and which one vkflow
 * would choose (the same rule as vf_vk_create, VKFLOW_DEVICE included). */
#include "commands.h"
#include "vkflow.h"
#include "vk/vk_kernels.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_devices(int argc, char **argv) {
    if (argc > 1) {
        bool help = !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help");
        fprintf(help ? stdout : stderr,
                "usage: vkflow devices\n"
                "  lists every Vulkan device and marks (*) the one vkflow would use: VKFLOW_DEVICE\n"
                "  (an index or a name substring) if set, else discrete GPU > integrated > virtual > CPU\n");
        return help ? 0 : 2;
    }
    vf_vk_device_info *d = NULL;
    int n = 0;
    vf_status s = vf_vk_list_devices(&d, &n);
    if (s != VF_OK) {
        fprintf(stderr, "vkflow devices: %s\n", vf_last_error());
        printf("no Vulkan device: vkflow will use its cpu backend\n");
        return 1;
    }
    int chosen = -1;
    for (int i = 0; i < n; i++) {
        printf("%s[%d] %s\n", d[i].chosen ? "* " : "  ", d[i].index, d[i].name);
        printf("      type %-10s  driver %s\n", d[i].type, d[i].driver);
        printf("      Vulkan %u.%u.%u  vendor 0x%04x  device 0x%04x\n",
               (d[i].api_version >> 22) & 0x7f, (d[i].api_version >> 12) & 0x3ff,
               d[i].api_version & 0xfff, d[i].vendor_id, d[i].device_id);
        printf("      device-local memory %.1f GiB  subgroup %u  fp16 %s  cooperative matrix %s\n",
               (double)d[i].device_local_bytes / (1024.0 * 1024 * 1024), d[i].subgroup_size,
               d[i].fp16 ? "yes" : "no", d[i].coopmat ? "yes" : "no");
        if (!d[i].usable) printf("      not usable: %s\n", d[i].unusable_reason);
        if (d[i].chosen) chosen = i;
    }
    if (chosen >= 0) {
        printf("\nvkflow would use [%d] %s (VKFLOW_DEVICE=<index|name> to override)\n",
               d[chosen].index, d[chosen].name);
        vf_backend *be = NULL;
        if (vf_vk_create(&be) == VF_OK) {
            const vf_vk_tuning *t = vf_vk_backend_tuning(be);
            printf("kernels: %s\n", t->why);
            vf_backend_destroy(be);
        } else {
            printf("but it cannot be opened: %s\n", vf_last_error());
        }
    }
    else
        printf("\nno device chosen: %s\n", vf_last_error());
    free(d);
    return chosen >= 0 ? 0 : 1;
}
