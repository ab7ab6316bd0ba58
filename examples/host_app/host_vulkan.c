#include "host_vulkan.h"

#include <stdio.h>
#include <string.h>

#include "examples_scale.spv.h"

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  (void)severity;
  (void)type;
  ++((host*)user)->validation_messages;
  fprintf(stderr, "validation: %s\n", data->pMessage);
  return VK_FALSE;
}

#define VK_OK(call)                                    \
  do {                                                 \
    const VkResult r_ = (call);                        \
    if (r_ != VK_SUCCESS) {                            \
      fprintf(stderr, "%s failed: %d\n", #call, (int)r_); \
      return 1;                                        \
    }                                                  \
  } while (0)

int host_create(host* h) {
  const char* layers[] = {"VK_LAYER_KHRONOS_validation"};
  const char* instance_exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
  VkDebugUtilsMessengerCreateInfoEXT mi = {VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  PFN_vkCreateDebugUtilsMessengerEXT create_messenger;
  uint32_t n = 1, i, ext_count = 0;
  VkQueueFamilyProperties families[16];
  VkExtensionProperties exts[512];
  const char* device_exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  VkPhysicalDeviceVulkan13Features v13 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  VkCommandPoolCreateInfo pci = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  VkDescriptorSetLayoutBinding binding = {0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
  VkDescriptorSetLayoutCreateInfo dsl = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  VkPushConstantRange range = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 8};
  VkPipelineLayoutCreateInfo pli = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  VkShaderModuleCreateInfo smi = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  VkShaderModule module;
  VkComputePipelineCreateInfo cpi = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 16};
  VkDescriptorPoolCreateInfo dpi = {VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  VkResult r;

  memset(h, 0, sizeof *h);
  app.apiVersion = VK_API_VERSION_1_3;
  mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
  mi.pfnUserCallback = on_message;
  mi.pUserData = h;
  ici.pNext = &mi;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = 1;
  ici.ppEnabledLayerNames = layers;
  ici.enabledExtensionCount = 1;
  ici.ppEnabledExtensionNames = instance_exts;
  VK_OK(vkCreateInstance(&ici, NULL, &h->instance));
  create_messenger =
      (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->instance, "vkCreateDebugUtilsMessengerEXT");
  VK_OK(create_messenger(h->instance, &mi, NULL, &h->messenger));
  r = vkEnumeratePhysicalDevices(h->instance, &n, &h->physical);
  if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) {
    fprintf(stderr, "no Vulkan device\n");
    return 1;
  }
  n = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(h->physical, &n, families);
  for (i = 0; i < n && (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) == 0; ++i) {
  }
  if (i == n) {
    fprintf(stderr, "no compute queue\n");
    return 1;
  }
  h->family = i;
  ext_count = 512;
  vkEnumerateDeviceExtensionProperties(h->physical, NULL, &ext_count, exts);
  for (i = 0; i < ext_count; ++i) {
    if (strcmp(exts[i].extensionName, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) == 0) h->push_descriptors = 1;
  }
  qci.queueFamilyIndex = h->family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  v13.maintenance4 = VK_TRUE; /* vkattn needs it (workgroup sizes from specialization constants) */
  dci.pNext = &v13;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = h->push_descriptors ? 1u : 0u;
  dci.ppEnabledExtensionNames = device_exts;
  VK_OK(vkCreateDevice(h->physical, &dci, NULL, &h->device));
  vkGetDeviceQueue(h->device, h->family, 0, &h->queue);

  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = h->family;
  VK_OK(vkCreateCommandPool(h->device, &pci, NULL, &h->pool));
  dsl.bindingCount = 1;
  dsl.pBindings = &binding;
  VK_OK(vkCreateDescriptorSetLayout(h->device, &dsl, NULL, &h->set_layout));
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &h->set_layout;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &range;
  VK_OK(vkCreatePipelineLayout(h->device, &pli, NULL, &h->layout));
  smi.codeSize = sizeof examples_scale;
  smi.pCode = examples_scale;
  VK_OK(vkCreateShaderModule(h->device, &smi, NULL, &module));
  cpi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cpi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cpi.stage.module = module;
  cpi.stage.pName = "main";
  cpi.layout = h->layout;
  r = vkCreateComputePipelines(h->device, VK_NULL_HANDLE, 1, &cpi, NULL, &h->scale);
  vkDestroyShaderModule(h->device, module, NULL);
  VK_OK(r);
  dpi.maxSets = 16;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &size;
  VK_OK(vkCreateDescriptorPool(h->device, &dpi, NULL, &h->descriptors));
  return 0;
}

void host_destroy(host* h) {
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
  if (h->device != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(h->device);
    vkDestroyDescriptorPool(h->device, h->descriptors, NULL);
    vkDestroyPipeline(h->device, h->scale, NULL);
    vkDestroyPipelineLayout(h->device, h->layout, NULL);
    vkDestroyDescriptorSetLayout(h->device, h->set_layout, NULL);
    vkDestroyCommandPool(h->device, h->pool, NULL);
    vkDestroyDevice(h->device, NULL);
  }
  if (h->instance == VK_NULL_HANDLE) return;
  destroy_messenger =
      (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->instance, "vkDestroyDebugUtilsMessengerEXT");
  if (h->messenger != VK_NULL_HANDLE) destroy_messenger(h->instance, h->messenger, NULL);
  vkDestroyInstance(h->instance, NULL);
}

int host_buffer_create(host* h, VkDeviceSize bytes, host_buffer* out) {
  VkBufferCreateInfo bci = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  VkMemoryRequirements req;
  VkPhysicalDeviceMemoryProperties mem;
  VkMemoryAllocateInfo mai = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  void* mapped = NULL;
  uint32_t i;
  memset(out, 0, sizeof *out);
  out->size = bytes;
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VK_OK(vkCreateBuffer(h->device, &bci, NULL, &out->buffer));
  vkGetBufferMemoryRequirements(h->device, out->buffer, &req);
  vkGetPhysicalDeviceMemoryProperties(h->physical, &mem);
  for (i = 0; i < mem.memoryTypeCount; ++i) {
    if ((req.memoryTypeBits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) break;
  }
  if (i == mem.memoryTypeCount) {
    fprintf(stderr, "no host-visible memory\n");
    return 1;
  }
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = i;
  VK_OK(vkAllocateMemory(h->device, &mai, NULL, &out->memory));
  VK_OK(vkBindBufferMemory(h->device, out->buffer, out->memory, 0));
  VK_OK(vkMapMemory(h->device, out->memory, 0, bytes, 0, &mapped));
  out->mapped = (float*)mapped;
  return 0;
}

void host_buffer_destroy(host* h, host_buffer* b) {
  if (b->memory != VK_NULL_HANDLE) vkUnmapMemory(h->device, b->memory);
  vkDestroyBuffer(h->device, b->buffer, NULL);
  vkFreeMemory(h->device, b->memory, NULL);
  memset(b, 0, sizeof *b);
}

VkCommandBuffer host_begin(host* h) {
  VkCommandBufferAllocateInfo ai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  ai.commandPool = h->pool;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  if (vkAllocateCommandBuffers(h->device, &ai, &cmd) != VK_SUCCESS) return VK_NULL_HANDLE;
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkBeginCommandBuffer(cmd, &bi);
  return cmd;
}

int host_record_scale(host* h, VkCommandBuffer cmd, host_buffer* b, float factor, uint32_t count) {
  VkDescriptorSetAllocateInfo ai = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  VkDescriptorSet set;
  VkDescriptorBufferInfo info;
  VkWriteDescriptorSet w = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
  struct {
    float factor;
    uint32_t count;
  } push;
  ai.descriptorPool = h->descriptors;
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &h->set_layout;
  VK_OK(vkAllocateDescriptorSets(h->device, &ai, &set));
  info.buffer = b->buffer;
  info.offset = 0;
  info.range = VK_WHOLE_SIZE;
  w.dstSet = set;
  w.descriptorCount = 1;
  w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
  w.pBufferInfo = &info;
  vkUpdateDescriptorSets(h->device, 1, &w, 0, NULL);
  push.factor = factor;
  push.count = count;
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, h->scale);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, h->layout, 0, 1, &set, 0, NULL);
  vkCmdPushConstants(cmd, h->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
  vkCmdDispatch(cmd, (count + 63u) / 64u, 1, 1);
  return 0;
}

void host_compute_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       NULL, 0, NULL);
}

int host_submit(host* h, VkCommandBuffer cmd) {
  VkMemoryBarrier to_host = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  VkFenceCreateInfo fci = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence;
  VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO};
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, NULL,
                       0, NULL);
  VK_OK(vkEndCommandBuffer(cmd));
  VK_OK(vkCreateFence(h->device, &fci, NULL, &fence));
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  VK_OK(vkQueueSubmit(h->queue, 1, &si, fence));
  VK_OK(vkWaitForFences(h->device, 1, &fence, VK_TRUE, UINT64_MAX));
  vkDestroyFence(h->device, fence, NULL);
  vkFreeCommandBuffers(h->device, h->pool, 1, &cmd);
  return 0;
}
