// Reproduces, without vkattn, the one leak scripts/lsan.supp suppresses: the validation layer
// (Debian 12: 1.3.239) leaks when synchronization validation is on and a queue submission happens.
//   cc -fsanitize=address -g scripts/validation_layer_leak_repro.c -o /tmp/repro -lvulkan
//   cc -shared -fPIC -o /tmp/keep.so scripts/keep_modules_loaded.c
//   ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=/tmp/keep.so /tmp/repro SYNC SUBMIT
// "1 1" reports 3280 bytes in 5 allocations, all inside libVkLayer_khronos_validation.so;
// "0 0", "1 0" and "0 1" report nothing (measured on lavapipe, 2026-11-22).
#include <vulkan/vulkan.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char** argv) {
  int sync = argc > 1 && atoi(argv[1]);
  int submit = argc > 2 && atoi(argv[2]);
  const char* layers[] = {"VK_LAYER_KHRONOS_validation"};
  const char* exts[] = {"VK_EXT_validation_features"};
  VkValidationFeatureEnableEXT en[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT vf = {VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT}; vf.enabledValidationFeatureCount = 1; vf.pEnabledValidationFeatures = en;
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO}; app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO}; ci.pApplicationInfo = &app;
  ci.enabledLayerCount = 1; ci.ppEnabledLayerNames = layers;
  if (sync) { ci.pNext = &vf; ci.enabledExtensionCount = 1; ci.ppEnabledExtensionNames = exts; }
  VkInstance inst; if (vkCreateInstance(&ci, 0, &inst)) return 1;
  uint32_t n = 1; VkPhysicalDevice pd; vkEnumeratePhysicalDevices(inst, &n, &pd);
  float prio = 1; VkDeviceQueueCreateInfo q = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}; q.queueCount = 1; q.pQueuePriorities = &prio;
  VkDeviceCreateInfo di = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO}; di.queueCreateInfoCount = 1; di.pQueueCreateInfos = &q;
  VkDevice dev; if (vkCreateDevice(pd, &di, 0, &dev)) return 2;
  if (submit) {
    VkQueue queue; vkGetDeviceQueue(dev, 0, 0, &queue);
    VkCommandPoolCreateInfo pi = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO}; VkCommandPool pool; vkCreateCommandPool(dev, &pi, 0, &pool);
    VkCommandBufferAllocateInfo ai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO}; ai.commandPool = pool; ai.commandBufferCount = 1;
    VkCommandBuffer cb; vkAllocateCommandBuffers(dev, &ai, &cb);
    VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO}; vkBeginCommandBuffer(cb, &bi); vkEndCommandBuffer(cb);
    VkFenceCreateInfo fi = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO}; VkFence f; vkCreateFence(dev, &fi, 0, &f);
    VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO}; si.commandBufferCount = 1; si.pCommandBuffers = &cb;
    vkQueueSubmit(queue, 1, &si, f); vkWaitForFences(dev, 1, &f, 1, ~0ull);
    vkDestroyFence(dev, f, 0); vkDestroyCommandPool(dev, pool, 0);
  }
  vkDestroyDevice(dev, 0); vkDestroyInstance(inst, 0); puts("ok"); return 0;
}
