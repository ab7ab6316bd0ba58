// vkattn-gemm-probe — how fast each instruction path can multiply matrices at all (issue 25): the
// ceiling an attention kernel on that path could approach. For C = A B with A [M, K], B [K, N] in
// fp16 and C [M, N] in fp32 (row-major), it runs
//   scalar  plain FMA (bench/gemm/gemm_scalar.comp), every device
//   nv      GL_NV_cooperative_matrix,  subgroup scope (gemm_coopmat.comp, KHR=0)
//   khr     GL_KHR_cooperative_matrix, subgroup scope (the same source, KHR=1)
//   cm2     GL_NV_cooperative_matrix2, workgroup scope with tensor layouts (gemm_cm2.comp)
// each over a sweep of tile configurations, checks 256 sampled elements of every result against a
// double-precision reference, and times each with Vulkan timestamps (median of 5 submissions of
// R dispatches). It makes its own instance and device, enabling what each path needs where the
// device has it; a path the device or this build's shader toolchain lacks is reported and skipped.
//
//   vkattn-gemm-probe [--size=M,N,K] [--device=<index|name substring>] [--paths=scalar,nv,khr,cm2]
//
// Default size 4096 x 4096 x 4096 (256 on CPU devices). Exit status 0 when every configuration
// that ran matched the reference.
#include <vulkan/vulkan_core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "vk_coopmat_ext.hpp"
#include "vkattn/dtype.hpp"
#include "vkattn_gemm_coopmat_nv.spv.h"
#include "vkattn_gemm_scalar.spv.h"
#if VKATTN_GEMM_KHR
#include "vkattn_gemm_coopmat_khr.spv.h"
#endif
#if VKATTN_GEMM_CM2
#include "vkattn_gemm_cm2.spv.h"
#endif

namespace {

void check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) throw std::runtime_error(std::string(what) + " failed: VkResult " + std::to_string(r));
}

struct Config {
  std::string path, name;
  std::span<const std::uint32_t> spirv;
  std::vector<std::uint32_t> spec;  // constant_id 0, 1, ... in order
  std::uint32_t tile_m = 16, tile_n = 16;  // C per workgroup
  std::uint32_t local_x = 16, local_y = 16;
};

struct Buffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
};

class Probe {
 public:
  Probe(const std::string& device_sel);
  ~Probe();
  bool has(const std::string& path, std::string& why) const;
  bool cpu() const { return props_.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }
  const char* name() const { return props_.deviceName; }
  // Runs `c` on A, B (halves), writes C; returns the median ms of one dispatch.
  double run(const Config& c, std::uint32_t M, std::uint32_t N, std::uint32_t K, int reps, std::vector<float>& out);
  void upload(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b, std::size_t c_floats);

 private:
  Buffer make_buffer(VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags props);
  void free_buffer(Buffer& b);
  void submit(const std::function<void(VkCommandBuffer)>& record);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice phys_ = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties props_{};
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  std::uint32_t family_ = 0;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  bool nv_ = false, khr_ = false, cm2_ = false, fp16_ = false;
  std::string nv_why_, khr_why_, cm2_why_;
  Buffer a_, b_, c_, staging_;
};

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  return std::any_of(exts.begin(), exts.end(), [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

Probe::Probe(const std::string& sel) {
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
    ecm2.cooperativeMatrixWorkgroupScope = ecm2.cooperativeMatrixTensorAddressing = VK_TRUE;
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

Probe::~Probe() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    for (Buffer* b : {&a_, &b_, &c_, &staging_}) free_buffer(*b);
    vkDestroyQueryPool(device_, queries_, nullptr);
    vkDestroyCommandPool(device_, pool_, nullptr);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

bool Probe::has(const std::string& path, std::string& why) const {
  if (path == "scalar") return true;
  if (path == "nv") return why = nv_why_, nv_;
  if (path == "khr") return why = khr_why_, khr_;
  if (path == "cm2") return why = cm2_why_, cm2_;
  why = "unknown path";
  return false;
}

Buffer Probe::make_buffer(VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want) {
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

void Probe::free_buffer(Buffer& b) {
  if (b.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device_, b.buffer, nullptr);
  if (b.memory != VK_NULL_HANDLE) vkFreeMemory(device_, b.memory, nullptr);
  b = Buffer{};
}

void Probe::submit(const std::function<void(VkCommandBuffer)>& record) {
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

void full_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                     VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0,
                       nullptr, 0, nullptr);
}

void Probe::upload(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b, std::size_t c_floats) {
  const VkBufferUsageFlags usage =
      VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  a_ = make_buffer(a.size() * 2, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  b_ = make_buffer(b.size() * 2, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  c_ = make_buffer(c_floats * 4, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  staging_ = make_buffer(std::max({a_.size, b_.size, c_.size}), VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  for (const auto& [dst, src] : {std::pair{&a_, &a}, std::pair{&b_, &b}}) {
    void* p = nullptr;
    check(vkMapMemory(device_, staging_.memory, 0, dst->size, 0, &p), "vkMapMemory");
    std::memcpy(p, src->data(), dst->size);
    vkUnmapMemory(device_, staging_.memory);
    submit([&](VkCommandBuffer cmd) {
      const VkBufferCopy region{0, 0, dst->size};
      vkCmdCopyBuffer(cmd, staging_.buffer, dst->buffer, 1, &region);
    });
  }
}

double Probe::run(const Config& c, std::uint32_t M, std::uint32_t N, std::uint32_t K, int reps, std::vector<float>& out) {
  VkShaderModuleCreateInfo smi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smi.codeSize = c.spirv.size_bytes();
  smi.pCode = c.spirv.data();
  VkShaderModule module;
  check(vkCreateShaderModule(device_, &smi, nullptr, &module), "vkCreateShaderModule");
  VkDescriptorSetLayoutBinding bindings[3];
  for (std::uint32_t i = 0; i < 3; ++i) bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dli.bindingCount = 3;
  dli.pBindings = bindings;
  VkDescriptorSetLayout dsl;
  check(vkCreateDescriptorSetLayout(device_, &dli, nullptr, &dsl), "vkCreateDescriptorSetLayout");
  const VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, 12};
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
  const VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 3};
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
  const VkDescriptorBufferInfo infos[3] = {{a_.buffer, 0, a_.size}, {b_.buffer, 0, b_.size}, {c_.buffer, 0, c_.size}};
  VkWriteDescriptorSet writes[3];
  for (std::uint32_t i = 0; i < 3; ++i) {
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, nullptr, set, i, 0, 1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, nullptr,
                 &infos[i], nullptr};
  }
  vkUpdateDescriptorSets(device_, 3, writes, 0, nullptr);
  const std::uint32_t sizes[3] = {M, N, K};
  std::vector<double> ms;
  for (int sample = 0; sample < 6; ++sample) {  // the first is a warm-up
    submit([&](VkCommandBuffer cmd) {
      vkCmdResetQueryPool(cmd, queries_, 0, 2);
      full_barrier(cmd);
      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
      vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, nullptr);
      vkCmdPushConstants(cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 12, sizes);
      vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
      for (int r = 0; r < reps; ++r) {
        vkCmdDispatch(cmd, N / c.tile_n, M / c.tile_m, 1);
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
    const VkBufferCopy region{0, 0, c_.size};
    vkCmdCopyBuffer(cmd, c_.buffer, staging_.buffer, 1, &region);
    full_barrier(cmd);
  });
  out.resize(static_cast<std::size_t>(M) * N);
  void* p = nullptr;
  check(vkMapMemory(device_, staging_.memory, 0, c_.size, 0, &p), "vkMapMemory");
  std::memcpy(out.data(), p, c_.size);
  vkUnmapMemory(device_, staging_.memory);
  vkDestroyDescriptorPool(device_, dpool, nullptr);
  vkDestroyPipeline(device_, pipeline, nullptr);
  vkDestroyPipelineLayout(device_, layout, nullptr);
  vkDestroyDescriptorSetLayout(device_, dsl, nullptr);
  vkDestroyShaderModule(device_, module, nullptr);
  return ms[ms.size() / 2];
}

std::vector<Config> configs() {
  std::vector<Config> out;
  out.push_back({"scalar", "16x16", {vkattn_gemm_scalar, sizeof(vkattn_gemm_scalar) / 4}, {}, 16, 16, 16, 16});
  const auto subgroup_path = [&](const char* path, std::span<const std::uint32_t> spirv) {
    using Frags = std::pair<std::uint32_t, std::uint32_t>;
    for (const auto& [fm, fn] : {Frags{1u, 1u}, Frags{1u, 2u}, Frags{2u, 2u}, Frags{2u, 4u}, Frags{4u, 2u}, Frags{4u, 4u}}) {
      char name[64];
      std::snprintf(name, sizeof name, "frag%ux%u_tile%ux%u", fm, fn, 32 * fm, 32 * fn);
      out.push_back({path, name, spirv, {fm, fn}, 32 * fm, 32 * fn, 128, 1});
    }
  };
  subgroup_path("nv", {vkattn_gemm_coopmat_nv, sizeof(vkattn_gemm_coopmat_nv) / 4});
#if VKATTN_GEMM_KHR
  subgroup_path("khr", {vkattn_gemm_coopmat_khr, sizeof(vkattn_gemm_coopmat_khr) / 4});
#endif
#if VKATTN_GEMM_CM2
  using Tiles = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t>;  // BM, BN, BK, workgroup
  for (const auto& [bm, bn, bk, wg] : {Tiles{64u, 64u, 32u, 128u}, Tiles{128u, 128u, 32u, 256u}, Tiles{128u, 256u, 32u, 256u},
                                       Tiles{256u, 128u, 32u, 256u}, Tiles{128u, 128u, 64u, 256u}, Tiles{256u, 256u, 32u, 256u}}) {
    char name[64];
    std::snprintf(name, sizeof name, "%ux%ux%u_wg%u", bm, bn, bk, wg);
    out.push_back({"cm2", name, {vkattn_gemm_cm2, sizeof(vkattn_gemm_cm2) / 4}, {bm, bn, bk, wg}, bm, bn, wg, 1});
  }
#endif
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t M = 0, N = 0, K = 0;
  std::string device;
  std::vector<std::string> paths{"scalar", "nv", "khr", "cm2"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--size=", 0) == 0 && std::sscanf(a.c_str() + 7, "%u,%u,%u", &M, &N, &K) == 3) continue;
    if (a.rfind("--device=", 0) == 0) {
      device = a.substr(9);
      continue;
    }
    if (a.rfind("--paths=", 0) == 0) {
      paths.clear();
      for (std::size_t at = 8; at <= a.size();) {
        const std::size_t end = std::min(a.find(',', at), a.size());
        paths.push_back(a.substr(at, end - at));
        at = end + 1;
      }
      continue;
    }
    std::fprintf(stderr, "usage: vkattn-gemm-probe [--size=M,N,K] [--device=<index|name>] [--paths=scalar,nv,khr,cm2]\n");
    return 2;
  }
  try {
    Probe probe(device);
    if (M == 0) M = N = K = probe.cpu() ? 256 : 4096;
    if (M % 256 || N % 256 || K % 64) {
      std::fprintf(stderr, "vkattn-gemm-probe: M and N must be multiples of 256 and K of 64 (every tile divides them)\n");
      return 2;
    }
    std::printf("device %s, C[%u x %u] = A[%u x %u] B[%u x %u], fp16 x fp16 -> fp32\n", probe.name(), M, N, M, K, K, N);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<std::uint16_t> a(static_cast<std::size_t>(M) * K), b(static_cast<std::size_t>(K) * N);
    for (auto& x : a) x = vkattn::float_to_half(u(rng));
    for (auto& x : b) x = vkattn::float_to_half(u(rng));
    probe.upload(a, b, static_cast<std::size_t>(M) * N);
    // 256 sampled elements of C (corners included) and their fp64 references and error scales.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> at{{0, 0}, {M - 1, N - 1}, {0, N - 1}, {M - 1, 0}};
    std::uniform_int_distribution<std::uint32_t> ri(0, M - 1), rj(0, N - 1);
    while (at.size() < 256) at.emplace_back(ri(rng), rj(rng));
    std::vector<double> ref(at.size()), scale(at.size());
    for (std::size_t s = 0; s < at.size(); ++s) {
      for (std::uint32_t k = 0; k < K; ++k) {
        const double x = vkattn::half_to_float(a[static_cast<std::size_t>(at[s].first) * K + k]);
        const double y = vkattn::half_to_float(b[static_cast<std::size_t>(k) * N + at[s].second]);
        ref[s] += x * y;
        scale[s] += std::fabs(x * y);
      }
    }
    int failed = 0;
    std::printf("%-7s %-24s %10s %10s %12s  %s\n", "path", "config", "ms", "TFLOP/s", "max err", "check");
    std::string last_skipped;
    for (const Config& c : configs()) {
      if (std::find(paths.begin(), paths.end(), c.path) == paths.end()) continue;
      std::string why;
      if (!probe.has(c.path, why)) {
        if (last_skipped != c.path) std::printf("%-7s skipped: %s\n", c.path.c_str(), why.c_str());
        last_skipped = c.path;
        continue;
      }
      std::vector<float> out;
      const double ms = probe.run(c, M, N, K, probe.cpu() ? 1 : 5, out);
      double worst = 0;
      bool ok = true;
      for (std::size_t s = 0; s < at.size(); ++s) {
        const double got = out[static_cast<std::size_t>(at[s].first) * N + at[s].second];
        const double err = std::fabs(got - ref[s]);
        worst = std::max(worst, err);
        ok = ok && std::isfinite(got) && err <= 1e-3 * scale[s] + 1e-5;  // fp32 accumulation of K products
      }
      failed += ok ? 0 : 1;
      std::printf("%-7s %-24s %10.3f %10.1f %12.3e  %s\n", c.path.c_str(), c.name.c_str(), ms,
                  2.0 * M * N * K / (ms * 1e-3) * 1e-12, worst, ok ? "ok" : "WRONG");
    }
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkattn-gemm-probe: %s\n", e.what());
    return 1;
  }
}
