/* host_vulkan.h — the part of the examples that plays the host application: its own Vulkan
 * instance (with the validation layer, counting its messages), device, queue, command pool,
 * host-visible buffers, and its own compute pass (scale.comp: data[i] *= factor). Plain C, so the
 * C++ example (main.cpp) and the C one (main.c) share it. */
#ifndef VKATTN_EXAMPLES_HOST_VULKAN_H
#define VKATTN_EXAMPLES_HOST_VULKAN_H

#include <stdint.h>
#include <vulkan/vulkan_core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct host {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  uint32_t family;
  int push_descriptors; /* VK_KHR_push_descriptor enabled (vkattn uses it when told) */
  int validation_messages;
  VkCommandPool pool;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline scale;
  VkDescriptorPool descriptors;
} host;

typedef struct host_buffer {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size;
  float* mapped; /* host-visible, coherent */
} host_buffer;

/* 0 on success; prints what failed otherwise. */
int host_create(host* h);
void host_destroy(host* h);
int host_buffer_create(host* h, VkDeviceSize bytes, host_buffer* out);
void host_buffer_destroy(host* h, host_buffer* b);
VkCommandBuffer host_begin(host* h);
/* The host's compute pass on `b`: its first `count` floats times `factor`. */
int host_record_scale(host* h, VkCommandBuffer cmd, host_buffer* b, float factor, uint32_t count);
/* Compute writes before -> compute reads and writes after (the host's barrier between passes). */
void host_compute_barrier(VkCommandBuffer cmd);
/* Ends, submits, waits, frees `cmd`; 0 on success. Makes compute writes visible to the host. */
int host_submit(host* h, VkCommandBuffer cmd);

#ifdef __cplusplus
}
#endif

#endif
