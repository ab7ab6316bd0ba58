// Builds one compute pipeline per SPIR-V file into one VkPipelineCache and writes the cache's data,
// for scripts/nv_sass.py. Usage: cache_dump OUT.bin a.spv [b.spv ...]  (device 0; bindings 0 and 1
// are storage buffers). Part of scripts/nv_copy_probe.sh.
#include <vulkan/vulkan.h>
#include <stdio.h>
#include <stdlib.h>
#define CK(x) do { VkResult r_ = (x); if (r_ != VK_SUCCESS) { fprintf(stderr, "%s = %d\n", #x, r_); exit(1); } } while (0)
static void *slurp(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
  fseek(f, 0, SEEK_END); *n = ftell(f); fseek(f, 0, SEEK_SET);
  void *b = malloc(*n); if (fread(b, 1, *n, f) != *n) exit(1); fclose(f); return b;
}
int main(int argc, char **argv) {
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, 0, "cache_dump", 1, 0, 0, VK_API_VERSION_1_3};
  VkInstanceCreateInfo ici = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, 0, 0, &app};
  VkInstance inst; CK(vkCreateInstance(&ici, 0, &inst));
  uint32_t n = 1; VkPhysicalDevice pd; vkEnumeratePhysicalDevices(inst, &n, &pd);
  float pr = 1; VkDeviceQueueCreateInfo q = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, 0, 0, 0, 1, &pr};
  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, 0, 0, 1, &q};
  VkDevice dev; CK(vkCreateDevice(pd, &dci, 0, &dev));
  VkPipelineCacheCreateInfo pci = {VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  VkPipelineCache cache; CK(vkCreatePipelineCache(dev, &pci, 0, &cache));
  VkDescriptorSetLayoutBinding b[2] = {{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT},
                                       {1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT}};
  VkDescriptorSetLayoutCreateInfo dl = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, 0, 0, 2, b};
  VkDescriptorSetLayout dsl; CK(vkCreateDescriptorSetLayout(dev, &dl, 0, &dsl));
  VkPipelineLayoutCreateInfo pl = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, 0, 0, 1, &dsl};
  VkPipelineLayout layout; CK(vkCreatePipelineLayout(dev, &pl, 0, &layout));
  for (int i = 2; i < argc; ++i) {
    size_t sz; void *code = slurp(argv[i], &sz);
    VkShaderModuleCreateInfo sm = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, 0, 0, sz, code};
    VkShaderModule mod; CK(vkCreateShaderModule(dev, &sm, 0, &mod));
    VkComputePipelineCreateInfo cp = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cp.stage = (VkPipelineShaderStageCreateInfo){VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, 0, 0,
                                                 VK_SHADER_STAGE_COMPUTE_BIT, mod, "main"};
    cp.layout = layout;
    VkPipeline p; CK(vkCreateComputePipelines(dev, cache, 1, &cp, 0, &p));
    printf("pipeline %d: %s\n", i - 2, argv[i]);
  }
  size_t len = 0; vkGetPipelineCacheData(dev, cache, &len, 0);
  void *data = malloc(len); vkGetPipelineCacheData(dev, cache, &len, data);
  FILE *o = fopen(argv[1], "wb"); fwrite(data, 1, len, o); fclose(o);
  printf("cache %zu bytes\n", len);
  return 0;
}
