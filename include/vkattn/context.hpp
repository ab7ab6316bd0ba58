// vkattn/context.hpp — a Vulkan device vkattn works on: its own, or the host application's.
#pragma once

#include <vulkan/vulkan_core.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vkattn/device.hpp"
#include "vkattn/log.hpp"
#include "vkattn/pipeline_cache.hpp"
#include "vkattn/pipeline_report.hpp"
#include "vkattn/plan_overrides.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

struct ContextState;

struct ContextOptions {
  // The environment is read once, at Context::create / adopt, into the context's copy of these
  // options (Context::options()); nothing reads it later.
  //
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
  // Kernel path and tile overrides for every plan of the context (plan_overrides.hpp).
  PlanOverrides overrides;
  LogCallback log;
  // Set by the context, ignored as input: the environment variables whose values it took, as
  // "NAME=value" (e.g. "VKATTN_PATH=scalar"), in Context::options().
  std::vector<std::string> from_environment;
};

// Threads: one Context may be shared. Plan creation, run() and Tensor transfers from several
// threads at once are safe (tests/context/concurrency_test.cpp: distinct plans, one context). One plan
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
  // The options in effect: those given, with the environment's values filled in (and named in
  // from_environment).
  const ContextOptions& options() const;
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

 private:
  // The engine's own files reach the state through context_state() (engine/context/).
  friend ContextState& context_state(const Context& ctx);

  explicit Context(std::unique_ptr<ContextState> state);
  std::unique_ptr<ContextState> state_;
};

}  // namespace vkattn
