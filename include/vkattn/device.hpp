// vkattn/device.hpp — the Vulkan device vkattn runs on: what it knows about it, and the handles
// of a host application's device that vkattn adopts.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vkattn {

// Handles of a host application that vkattn adopts. None is destroyed by vkattn.
// The device must be Vulkan 1.3 with the maintenance4 feature enabled (core and mandatory in 1.3;
// vkattn's pipelines take their workgroup size from specialization constants).
struct HostHandles {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;  // a compute-capable queue; used only by run()/upload helpers
  std::uint32_t queue_family_index = 0;
  // The device extensions the host enabled (vkattn uses VK_KHR_push_descriptor if listed, and
  // VK_NV_cooperative_matrix and VK_KHR_cooperative_matrix if listed: the host then also enabled
  // that extension's cooperativeMatrix feature and Vulkan 1.2's shaderFloat16, vulkanMemoryModel
  // and vulkanMemoryModelDeviceScope;
  // VK_KHR_pipeline_executable_properties if listed, for capture_pipeline_statistics: the host
  // then also enabled its pipelineExecutableInfo feature).
  std::vector<std::string> enabled_device_extensions;
  // True if the host enabled VK_EXT_debug_utils on the instance (pipelines get debug names).
  bool debug_utils_enabled = false;
};

// What vkattn knows about its device; filled once at creation.
struct DeviceInfo {
  std::string name;
  std::uint32_t vendor_id = 0;
  std::uint32_t device_id = 0;
  std::uint32_t driver_version = 0;
  std::uint32_t api_version = 0;
  VkDriverId driver_id = static_cast<VkDriverId>(0);
  // Loop iterations one shader invocation may run before the driver ends it (all loops
  // together): 65535 on llvmpipe/lavapipe, 0 where there is no such limit. Plans whose rows
  // would need more are refused with kUnsupported instead of returning truncated results.
  std::uint32_t max_loop_iterations = 0;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  std::uint8_t pipeline_cache_uuid[VK_UUID_SIZE] = {};
  std::uint32_t max_shared_memory = 0;  // maxComputeSharedMemorySize
  // Invocations of a one-dimensional workgroup (every vkattn kernel is one): the smaller of
  // maxComputeWorkGroupInvocations and maxComputeWorkGroupSize[0].
  std::uint32_t max_workgroup_invocations = 0;
  std::uint32_t max_workgroup_count[3] = {};
  std::uint64_t max_storage_buffer_range = 0;
  std::uint64_t max_buffer_size = 0;             // maxBufferSize (Vulkan 1.3)
  std::uint64_t max_memory_allocation_size = 0;  // maxMemoryAllocationSize (Vulkan 1.1)
  std::uint64_t min_storage_buffer_offset_alignment = 0;
  float timestamp_period_ns = 0.0f;
  bool timestamps = false;          // compute queue supports timestamps
  bool push_descriptors = false;    // VK_KHR_push_descriptor enabled and used
  std::uint32_t subgroup_size = 0;  // VkPhysicalDeviceSubgroupProperties::subgroupSize
  // Multiprocessors (compute units) that run workgroups at once: VK_NV_shader_sm_builtins'
  // shaderSMCount, VK_AMD_shader_core_properties' compute units, else 0 (unknown). The split-K
  // decode sizes its grid by it (planning/split_k.hpp).
  std::uint32_t compute_units = 0;
  // VK_NV_cooperative_matrix enabled with a subgroup-scope fp16 x fp16 -> fp32 16x16x16 shape,
  // shaderFloat16, vulkanMemoryModel (+ device scope), 32-lane subgroups with shuffles in
  // compute, and the accumulator layout the kernels index by (the one NVIDIA's driver uses, checked at
  // creation by one probe dispatch): what KernelPath::kCoopmat needs.
  bool coopmat = false;
  // The same with VK_KHR_cooperative_matrix (its probe also reads the fp16 A operand's layout):
  // what KernelPath::kCoopmatKhr needs. coopmat_khr_a_from_acc: element e of a lane's A fragment
  // is element (a_from_acc >> 3e) & 7 of its accumulator (shaders/attn_cm_ops.glsl's acc_to_a).
  bool coopmat_khr = false;
  std::uint32_t coopmat_khr_a_from_acc = 0xFAC688;  // the identity until the probe says otherwise
  // VK_NV_cooperative_matrix2 enabled with workgroup scope, flexible dimensions, reductions,
  // conversions, per-element operations and tensor addressing, 16-bit storage, and coopmat_khr:
  // what KernelPath::kCoopmat2 needs. An adopted device counts only if the host enabled the
  // extension (with those features and storageBuffer16BitAccess: the host's promise).
  bool coopmat2 = false;
  // Its workgroup-scope shapes (VkCooperativeMatrixFlexibleDimensionsPropertiesNV) for fp16 A and B
  // with fp32 accumulators, where the device also lists fp16 accumulators at the same workgroup size
  // (the kernel converts O to fp16 before storing it): the workgroup size such matrices need, and the
  // granularities their dimensions must be multiples of (M: rows of A and C; N: columns of B and C;
  // K: columns of A, rows of B; the larger of the two entries' each). Up to four, fewest invocations
  // first; coopmat2 is false without one.
  struct Coopmat2Shape {
    std::uint32_t invocations = 0, m = 0, n = 0, k = 0;
  };
  std::array<Coopmat2Shape, 4> coopmat2_shapes{};
  std::uint32_t coopmat2_max_dimension = 0;  // cooperativeMatrixFlexibleDimensionsMaxDimension
  // ContextOptions::capture_pipeline_statistics was asked for and the device can give them.
  bool pipeline_statistics = false;
};

}  // namespace vkattn
