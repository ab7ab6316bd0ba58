#include "probe_device.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "vk_coopmat_ext.hpp"

namespace vkattn::probe {
namespace {

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  return std::any_of(exts.begin(), exts.end(), [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

void full_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                     VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0,
                       nullptr, 0, nullptr);
}

}  // namespace

void check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) throw std::runtime_error(std::string(what) + " failed: VkResult " + std::to_string(r));
}



ProbeDevice::ProbeDevice(const std::string& sel) {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "vkattn-gemm-probe";
  app.apiVersion = VK_API_VERSION_1_3;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  check(vkCreateInstance(&ici, nullptr, &instance_), "vkCreateInstance");
  std::uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance_, &n, nullptr);
  std::vector<VkPhysicalDevice> devices(n);
  vkEnumeratePhysicalDevices(instance_, &n, devices.data());
  if (devices.empty()) throw std::runtime_error("no Vulkan device");
  // --device: an index or a name substring; default the first discrete GPU, else the first.
  phys_ = devices[0];
  for (std::size_t i = 0; i < devices.size(); ++i) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devices[i], &p);
    const bool chosen = sel.empty() ? p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
                                    : (sel == std::to_string(i) || std::strstr(p.deviceName, sel.c_str()) != nullptr);
    if (chosen) {
      phys_ = devices[i];
      break;
    }
  }
  vkGetPhysicalDeviceProperties(phys_, &props_);
  vkEnumerateDeviceExtensionProperties(phys_, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(phys_, nullptr, &n, exts.data());

  // What each path needs: 16-bit storage and shaderFloat16, the memory model, and its extension's feature.
  VkPhysicalDeviceCooperativeMatrixFeaturesNV nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR khr{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV cm2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  VkPhysicalDeviceVulkan11Features v11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features v12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &v11};
  void* chain = &v12;
  const bool has_nv = has_extension(exts, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  const bool has_khr = has_extension(exts, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  const bool has_cm2 = has_extension(exts, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
  if (has_nv) nv.pNext = chain, chain = &nv;
  if (has_khr) khr.pNext = chain, chain = &khr;
  if (has_cm2) cm2.pNext = chain, chain = &cm2;
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, chain};
  vkGetPhysicalDeviceFeatures2(phys_, &f2);
  fp16_ = v11.storageBuffer16BitAccess && v12.shaderFloat16 && v12.vulkanMemoryModel && v12.vulkanMemoryModelDeviceScope;
  const std::string no_fp16 = "the device lacks 16-bit storage, shaderFloat16 or the Vulkan memory model";
  nv_ = has_nv && nv.cooperativeMatrix && fp16_;
  nv_why_ = !has_nv ? "the device has no VK_NV_cooperative_matrix" : !fp16_ ? no_fp16 : "cooperativeMatrix is off";
  khr_ = has_khr && khr.cooperativeMatrix && fp16_;
  khr_why_ = !has_khr ? "the device has no VK_KHR_cooperative_matrix" : !fp16_ ? no_fp16 : "cooperativeMatrix is off";
  cm2_ = khr_ && has_cm2 && cm2.cooperativeMatrixWorkgroupScope && cm2.cooperativeMatrixTensorAddressing;
  cm2_attention_ = cm2.cooperativeMatrixReductions && cm2.cooperativeMatrixConversions &&
                   cm2.cooperativeMatrixPerElementOperations && cm2.cooperativeMatrixFlexibleDimensions;
  cm2_why_ = !has_cm2 ? "the device has no VK_NV_cooperative_matrix2"
                      : !khr_ ? "it needs VK_KHR_cooperative_matrix too: " + khr_why_
                              : "workgroup scope or tensor addressing is off";
#if !VKATTN_GEMM_KHR
  khr_ = false, khr_why_ = "not compiled in: this build's glslang lacks GL_KHR_cooperative_matrix";
#endif
#if !VKATTN_GEMM_CM2
  cm2_ = false, cm2_why_ = "not compiled in: this build's glslang lacks GL_NV_cooperative_matrix2";
#endif

  // Enable exactly what the usable paths need.
  std::vector<const char*> enabled;
  VkPhysicalDeviceVulkan11Features e11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features e12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &e11};
  void* next = &e12;
  if (fp16_) {
    e11.storageBuffer16BitAccess = VK_TRUE;
    e12.shaderFloat16 = e12.vulkanMemoryModel = e12.vulkanMemoryModelDeviceScope = VK_TRUE;
  }
  VkPhysicalDeviceCooperativeMatrixFeaturesNV env{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR ekhr{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV ecm2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  if (nv_) enabled.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME), env.cooperativeMatrix = VK_TRUE, env.pNext = next, next = &env;
  if (khr_) enabled.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME), ekhr.cooperativeMatrix = VK_TRUE, ekhr.pNext = next, next = &ekhr;
  if (cm2_) {
    enabled.push_back(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
    ecm2 = cm2;  // every feature the device has: the attention probe reduces rows, converts and maps elements
    ecm2.pNext = next, next = &ecm2;
  }
  vkGetPhysicalDeviceQueueFamilyProperties(phys_, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  vkGetPhysicalDeviceQueueFamilyProperties(phys_, &n, families.data());
  for (std::uint32_t i = 0; i < n; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      family_ = i;
      break;
    }
  }
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, next};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<std::uint32_t>(enabled.size());
  dci.ppEnabledExtensionNames = enabled.data();
  check(vkCreateDevice(phys_, &dci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, family_, 0, &queue_);
  VkCommandPoolCreateInfo cpi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpi.queueFamilyIndex = family_;
  check(vkCreateCommandPool(device_, &cpi, nullptr, &pool_), "vkCreateCommandPool");
  VkQueryPoolCreateInfo qpi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qpi.queryCount = 2;
  check(vkCreateQueryPool(device_, &qpi, nullptr, &queries_), "vkCreateQueryPool");
}

ProbeDevice::~ProbeDevice() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    for (Buffer& b : inputs_) free_buffer(b);
    free_buffer(out_);
    free_buffer(staging_);
    vkDestroyQueryPool(device_, queries_, nullptr);
    vkDestroyCommandPool(device_, pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

bool ProbeDevice::has(const std::string& path, std::string& why) const {
  if (path == "scalar") return true;
  if (path == "nv") return why = nv_why_, nv_;
  if (path == "khr") return why = khr_why_, khr_;
  if (path == "cm2") return why = cm2_why_, cm2_;
  if (path == "cm2_attention") {
    why = cm2_ ? "row reductions, conversions, per-element operations or flexible dimensions are off" : cm2_why_;
    return cm2_ && cm2_attention_;
  }
  why = "unknown path";
  return false;
}

Buffer ProbeDevice::make_buffer(VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want) {
  Buffer b;
  b.size = size;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = size;
  bci.usage = usage;
  check(vkCreateBuffer(device_, &bci, nullptr, &b.buffer), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, b.buffer, &req);
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(phys_, &mp);
  std::uint32_t type = UINT32_MAX;
  for (std::uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; ++i) {
    if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) type = i;
  }
  if (type == UINT32_MAX) throw std::runtime_error("no memory type");
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = type;
  check(vkAllocateMemory(device_, &mai, nullptr, &b.memory), "vkAllocateMemory");
  check(vkBindBufferMemory(device_, b.buffer, b.memory, 0), "vkBindBufferMemory");
  return b;
}

void ProbeDevice::free_buffer(Buffer& b) {
  if (b.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device_, b.buffer, nullptr);
  if (b.memory != VK_NULL_HANDLE) vkFreeMemory(device_, b.memory, nullptr);
  b = Buffer{};
}

void ProbeDevice::submit(const std::function<void(VkCommandBuffer)>& record) {
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = pool_;
  cai.commandBufferCount = 1;
  VkCommandBuffer cmd;
  check(vkAllocateCommandBuffers(device_, &cai, &cmd), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkBeginCommandBuffer(cmd, &bi);
  record(cmd);
  vkEndCommandBuffer(cmd);
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  check(vkQueueSubmit(queue_, 1, &si, VK_NULL_HANDLE), "vkQueueSubmit");
  check(vkQueueWaitIdle(queue_), "vkQueueWaitIdle");
  vkFreeCommandBuffers(device_, pool_, 1, &cmd);
}


void ProbeDevice::set_buffers(const std::vector<const std::vector<std::uint16_t>*>& inputs, std::size_t out_bytes) {
  const VkBufferUsageFlags usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  VkDeviceSize largest = out_bytes;
  for (const auto* in : inputs) {
    inputs_.push_back(make_buffer(in->size() * 2, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT));
    largest = std::max<VkDeviceSize>(largest, in->size() * 2);
  }
  out_ = make_buffer(out_bytes, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  staging_ = make_buffer(largest, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Buffer& dst = inputs_[i];
    void* p = nullptr;
    check(vkMapMemory(device_, staging_.memory, 0, dst.size, 0, &p), "vkMapMemory");
    std::memcpy(p, inputs[i]->data(), dst.size);
    vkUnmapMemory(device_, staging_.memory);
    submit([&](VkCommandBuffer cmd) {
      const VkBufferCopy region{0, 0, dst.size};
      vkCmdCopyBuffer(cmd, staging_.buffer, dst.buffer, 1, &region);
    });
  }
}

double ProbeDevice::run(const Dispatch& c, int reps, std::vector<std::uint8_t>& out) {
  const auto bindings = static_cast<std::uint32_t>(inputs_.size() + 1);
  VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smi.codeSize = c.spirv.size_bytes();
  smi.pCode = c.spirv.data();
  VkShaderModule module;
  check(vkCreateShaderModule(device_, &smi, nullptr, &module), "vkCreateShaderModule");
  std::vector<VkDescriptorSetLayoutBinding> layout_bindings(bindings);
  for (std::uint32_t i = 0; i < bindings; ++i) {
    layout_bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  }
  VkDescriptorSetLayoutCreateInfo dli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dli.bindingCount = bindings;
  dli.pBindings = layout_bindings.data();
  VkDescriptorSetLayout dsl;
  check(vkCreateDescriptorSetLayout(device_, &dli, nullptr, &dsl), "vkCreateDescriptorSetLayout");
  const auto push_bytes = static_cast<std::uint32_t>(c.push.size() * 4);
  const VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &dsl;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &pcr;
  VkPipelineLayout layout;
  check(vkCreatePipelineLayout(device_, &pli, nullptr, &layout), "vkCreatePipelineLayout");
  std::vector<VkSpecializationMapEntry> entries;
  for (std::uint32_t i = 0; i < c.spec.size(); ++i) entries.push_back({i, 4 * i, 4});
  VkSpecializationInfo spec{static_cast<std::uint32_t>(entries.size()), entries.data(), c.spec.size() * 4, c.spec.data()};
  VkComputePipelineCreateInfo cpi{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cpi.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_COMPUTE_BIT, module, "main",
               entries.empty() ? nullptr : &spec};
  cpi.layout = layout;
  VkPipeline pipeline;
  check(vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cpi, nullptr, &pipeline), "vkCreateComputePipelines");
  const VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, bindings};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.maxSets = 1;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  VkDescriptorPool dpool;
  check(vkCreateDescriptorPool(device_, &dpi, nullptr, &dpool), "vkCreateDescriptorPool");
  VkDescriptorSetAllocateInfo dai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  dai.descriptorPool = dpool;
  dai.descriptorSetCount = 1;
  dai.pSetLayouts = &dsl;
  VkDescriptorSet set;
  check(vkAllocateDescriptorSets(device_, &dai, &set), "vkAllocateDescriptorSets");
  std::vector<VkDescriptorBufferInfo> infos;
  for (const Buffer& b : inputs_) infos.push_back({b.buffer, 0, b.size});
  infos.push_back({out_.buffer, 0, out_.size});
  std::vector<VkWriteDescriptorSet> writes(bindings);
  for (std::uint32_t i = 0; i < bindings; ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, nullptr, set, i, 0, 1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, nullptr,
                 &infos[i], nullptr};
  }
  vkUpdateDescriptorSets(device_, bindings, writes.data(), 0, nullptr);
  std::vector<double> ms;
  for (int sample = 0; sample < 6; ++sample) {  // the first is a warm-up
    submit([&](VkCommandBuffer cmd) {
      vkCmdResetQueryPool(cmd, queries_, 0, 2);
      full_barrier(cmd);
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
      vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, nullptr);
      vkCmdPushConstants(cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, c.push.data());
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
      for (int r = 0; r < reps; ++r) {
        vkCmdDispatch(cmd, c.groups_x, c.groups_y, 1);
        full_barrier(cmd);
      }
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 1);
    });
    std::uint64_t ts[2] = {};
    check(vkGetQueryPoolResults(device_, queries_, 0, 2, sizeof ts, ts, 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    if (sample > 0) ms.push_back(static_cast<double>(ts[1] - ts[0]) * props_.limits.timestampPeriod * 1e-6 / reps);
  }
  std::sort(ms.begin(), ms.end());
  submit([&](VkCommandBuffer cmd) {
    full_barrier(cmd);
    const VkBufferCopy region{0, 0, out_.size};
    vkCmdCopyBuffer(cmd, out_.buffer, staging_.buffer, 1, &region);
    full_barrier(cmd);
  });
  out.resize(out_.size);
  void* p = nullptr;
  check(vkMapMemory(device_, staging_.memory, 0, out_.size, 0, &p), "vkMapMemory");
  std::memcpy(out.data(), p, out_.size);
  vkUnmapMemory(device_, staging_.memory);
  vkDestroyDescriptorPool(device_, dpool, nullptr);
  vkDestroyPipeline(device_, pipeline, nullptr);
  vkDestroyPipelineLayout(device_, layout, nullptr);
  vkDestroyDescriptorSetLayout(device_, dsl, nullptr);
  vkDestroyShaderModule(device_, module, nullptr);
  return ms[ms.size() / 2];
}

}  // namespace vkattn::probe
