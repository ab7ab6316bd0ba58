// vkattn/context.hpp — a Vulkan device vkattn works on: its own, or the host application's.
#pragma once

#include <vulkan/vulkan_core.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vkattn/log.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/pipeline_report.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

class PipelineRegistry;
struct ContextState;

struct ContextOptions {
  // Which physical device an owned context uses: a decimal index into vkEnumeratePhysicalDevices,
  // or a case-insensitive substring of the device name. Empty: env VKATTN_DEVICE, else the first
  // discrete GPU, else the first integrated GPU, else the first device (lavapipe on CI).
  std::string device;
  // Owned contexts only: enable VK_LAYER_KHRONOS_validation with synchronization validation;
  // its messages go to `log` (warnings and errors as kError). Env VKATTN_VALIDATION=1 does too.
  bool enable_validation = false;
  // Use pooled descriptor sets even when VK_KHR_push_descriptor is available.
  bool force_pooled_descriptors = false;
  // Keep the compiler statistics of every pipeline (registers, spills, ...) for
  // pipeline_reports(), through VK_KHR_pipeline_executable_properties. Owned contexts enable the
  // extension where the device has it; adopted ones use it if the host listed it (and enabled
  // its pipelineExecutableInfo feature). DeviceInfo::pipeline_statistics says whether it works.
  bool capture_pipeline_statistics = false;
  PipelineCacheOptions pipeline_cache;
  LogCallback log;
};

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
  // VK_NV_cooperative_matrix if listed: the host then also enabled its cooperativeMatrix feature
  // and Vulkan 1.2's shaderFloat16, vulkanMemoryModel and vulkanMemoryModelDeviceScope;
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
  // VK_NV_cooperative_matrix enabled with a subgroup-scope fp16 x fp16 -> fp32 16x16x16 shape,
  // shaderFloat16, vulkanMemoryModel (+ device scope), 32-lane subgroups with shuffles in
  // compute, and the accumulator layout the kernels index by (the one NVIDIA's driver uses, checked at
  // creation by one probe dispatch): what KernelPath::kCoopmat needs.
  bool coopmat = false;
  // ContextOptions::capture_pipeline_statistics was asked for and the device can give them.
  bool pipeline_statistics = false;
};

// Threads: one Context may be shared. Plan creation, run() and Tensor transfers from several
// threads at once are safe (tests/concurrency_test.cpp: distinct plans, one context). One plan
// (ForwardPlan, BackwardPlan) is used by one thread at a time: record() and run() update its
// descriptor sets and, for the backward, its workspace.
class Context {
 public:
  // Creates an instance and device of its own (Vulkan 1.3 instance, one compute queue).
  static Result<std::unique_ptr<Context>> create(const ContextOptions& options = {});
  // Adopts a host's instance, physical device, device and queue; creates no device.
  // Where the device has VK_NV_cooperative_matrix, this submits one small dispatch to host.queue
  // (the accumulator-layout probe) and waits for it; the host must not use the queue meanwhile.
  static Result<std::unique_ptr<Context>> adopt(const HostHandles& host, const ContextOptions& options = {});
  // Saves the pipeline cache (if persisting) and destroys what vkattn created — never the
  // host's handles. Every Tensor and plan of this context must be destroyed first. An owned
  // device is waited idle first; an adopted one is not (that would synchronize the host's queues):
  // the host's command buffers that recorded vkattn's plans must have finished executing before
  // those plans were destroyed.
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const;
  bool owns_device() const;
  VkInstance instance() const;
  VkPhysicalDevice physical_device() const;
  VkDevice device() const;
  VkQueue queue() const;
  std::uint32_t queue_family_index() const;

  // Records with `record` into a fresh primary command buffer, submits it to the queue and
  // waits. Serialized by an internal lock; in adopt mode the host must not use the queue
  // from another thread meanwhile (Vulkan's external-synchronization rule).
  // VK_ERROR_DEVICE_LOST comes back as kDeviceLost, and every later call then returns
  // kDeviceLost without touching the queue: destroy the context (and, if adopted, the device).
  Status submit_and_wait(const std::function<void(VkCommandBuffer)>& record);
  // True once the device has been reported lost.
  bool device_lost() const;

  PipelineStats pipeline_stats() const;
  // One report per executable of every pipeline the registry holds now, most recently used
  // first; statistics only with DeviceInfo::pipeline_statistics.
  std::vector<PipelineReport> pipeline_reports() const;
  const CacheFileStatus& pipeline_cache_file() const;
  // Writes the VkPipelineCache to its file now (atomically). No-op when persistence is off.
  Status save_pipeline_cache();

  // Sends a message to the log callback (stderr if none).
  void log(LogLevel level, const std::string& message) const;

  // Internal: shared by the engine's own files.
  ContextState& state() { return *state_; }
  const ContextState& state() const { return *state_; }

 private:
  explicit Context(std::unique_ptr<ContextState> state);
  std::unique_ptr<ContextState> state_;
};

}  // namespace vkattn
