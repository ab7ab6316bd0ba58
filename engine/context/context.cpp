#include "vkattn/context.hpp"

#include <string>
#include <vector>

#include "base/vk_util.hpp"
#include "context/context_state.hpp"
#include "context/environment.hpp"
#include "device/device_setup.hpp"
#include "base/shader_library.hpp"
#include "pipelines/coopmat_layout.hpp"

namespace vkattn {
namespace {

// DeviceInfo::coopmat (and coopmat_khr) also need the accumulator layout the kernels index by
// (coopmat_layout.hpp), and the KHR path an A-operand layout it can fill from it: a device whose
// layouts differ keeps that path off, with a warning saying where they differ. A Vulkan failure of
// the NV probe, or a lost device, fails the creation; any other failure of the KHR probe keeps
// the KHR path off, with a warning.
Status check_coopmat_layout(ContextState& s, bool khr) {
  Device& d = *s.device;
  bool& usable = khr ? d.info.coopmat_khr : d.info.coopmat;
  if (!usable) return Status::ok();
  if (shader_spirv(khr ? ShaderId::kCoopmatLayoutProbeKhr : ShaderId::kCoopmatLayoutProbe).empty()) {
    usable = false;  // the toolchain lacked the extension
    return Status::ok();
  }
  Result<CoopmatLayout> layout = probe_coopmat_layout(d, *s.queue, khr);
  if (!layout && khr && layout.status().code() != ErrorCode::kDeviceLost) {
    // The newer path's probe failing (a driver refusing its pipeline) costs that path only.
    usable = false;
    d.log_message(LogLevel::kWarning, "VK_KHR_cooperative_matrix not used: its layout probe failed: " +
                                          layout.status().message());
    return Status::ok();
  }
  if (!layout) {
    return Status(layout.status().code(), "the coopmat layout probe failed: " + layout.status().message(),
                  layout.status().vk_result());
  }
  if (layout.value().mismatch.empty()) {
    if (khr) d.info.coopmat_khr_a_from_acc = layout.value().a_from_acc;
    return Status::ok();
  }
  usable = false;
  d.log_message(LogLevel::kWarning, std::string(khr ? "VK_KHR_cooperative_matrix" : "VK_NV_cooperative_matrix") +
                                        " not used: its fragment layout is not one the kernels can index by (" +
                                        layout.value().mismatch + ")");
  return Status::ok();
}

// The environment, then the device (made by `make_device`), its queue, the pipeline registry and
// the coopmat check: the steps both modes share.
template <class MakeDevice>
Result<std::unique_ptr<ContextState>> build_state(const ContextOptions& given, EnvironmentFor mode,
                                                  MakeDevice make_device) {
  Result<ContextOptions> options = apply_environment(given, mode);
  if (!options) return options.status();
  auto s = std::make_unique<ContextState>();
  s->options = std::move(options).value();
  s->overrides = plan_overrides(s->options);
  const DeviceRequest request{s->options.device, s->options.enable_validation, s->options.force_pooled_descriptors,
                              s->options.capture_pipeline_statistics, s->options.log};
  Result<std::unique_ptr<Device>> device = make_device(request);
  if (!device) return device.status();
  s->device = std::move(device).value();
  Result<std::unique_ptr<QueueSubmitter>> queue = QueueSubmitter::create(*s->device);
  if (!queue) return queue.status();
  s->queue = std::move(queue).value();
  Result<std::unique_ptr<PipelineRegistry>> registry = PipelineRegistry::create(*s->device, s->options.pipeline_cache);
  if (!registry) return registry.status();
  s->pipelines = std::move(registry).value();
  if (Status st = check_coopmat_layout(*s, false); !st) return st;
  if (Status st = check_coopmat_layout(*s, true); !st) return st;
  // The cooperative-matrix-2 forward's plans fall back to the KHR kernels for calls it cannot
  // address (unaligned views), so it needs them usable.
  if (!s->device->info.coopmat_khr) s->device->info.coopmat2 = false;
  return s;
}

}  // namespace

ContextState::~ContextState() {
  if (device && device->owns_device && device->device != VK_NULL_HANDLE) vkDeviceWaitIdle(device->device);
  pipelines.reset();
  queue.reset();
  device.reset();
}

ContextState& context_state(const Context& ctx) { return *ctx.state_; }

Context::Context(std::unique_ptr<ContextState> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Context>> Context::create(const ContextOptions& options) {
  Result<std::unique_ptr<ContextState>> s = build_state(options, EnvironmentFor::kOwnedDevice, create_device);
  if (!s) return s.status();
  return std::unique_ptr<Context>(new Context(std::move(s).value()));
}

Result<std::unique_ptr<Context>> Context::adopt(const HostHandles& host, const ContextOptions& options) {
  VKATTN_TRY(check_host_handles(host));  // before the environment: the caller's own mistakes first
  Result<std::unique_ptr<ContextState>> s =
      build_state(options, EnvironmentFor::kAdoptedDevice,
                  [&](const DeviceRequest& request) { return adopt_device(host, request); });
  if (!s) return s.status();
  return std::unique_ptr<Context>(new Context(std::move(s).value()));
}

Context::~Context() {
  if (!state_) return;
  ContextState& s = *state_;
  if (s.live_children.load() != 0) {
    s.device->log_message(LogLevel::kError, std::to_string(s.live_children.load()) +
                                                " Tensor/plan objects outlive their Context (destroy them first)");
  }
  if (s.pipelines->needs_save() && !s.queue->device_lost()) {
    Status st = s.pipelines->save();
    if (!st) s.device->log_message(LogLevel::kWarning, "pipeline cache not saved: " + st.message());
  }
  // ~ContextState waits for an owned device. An adopted one belongs to the host, whose queues
  // vkattn must not synchronize (vkDeviceWaitIdle would need all of them): submit_and_wait has
  // waited for everything vkattn submitted, and the host's recordings of plans ended before those
  // plans were destroyed (context.hpp).
}

const DeviceInfo& Context::info() const { return state_->device->info; }
const ContextOptions& Context::options() const { return state_->options; }
bool Context::owns_device() const { return state_->device->owns_device; }
VkInstance Context::instance() const { return state_->device->instance; }
VkPhysicalDevice Context::physical_device() const { return state_->device->physical_device; }
VkDevice Context::device() const { return state_->device->device; }
VkQueue Context::queue() const { return state_->device->queue; }
std::uint32_t Context::queue_family_index() const { return state_->device->queue_family; }
PipelineStats Context::pipeline_stats() const { return state_->pipelines->stats(); }
std::vector<PipelineReport> Context::pipeline_reports() const { return state_->pipelines->reports(); }
const CacheFileStatus& Context::pipeline_cache_file() const { return state_->pipelines->file_status(); }
Status Context::save_pipeline_cache() { return state_->pipelines->save(); }
void Context::log(LogLevel level, const std::string& message) const { state_->device->log_message(level, message); }
bool Context::device_lost() const { return state_->queue->device_lost(); }

Status Context::submit_and_wait(const std::function<void(VkCommandBuffer)>& record) {
  return state_->queue->submit_and_wait(record);
}

}  // namespace vkattn
