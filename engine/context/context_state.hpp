// Everything a Context holds, for the engine's own files (not part of the public API): the
// options in effect, the device, its queue submitter and the pipeline registry.
#pragma once

#include <atomic>
#include <memory>

#include "device/device.hpp"
#include "device/queue_submitter.hpp"
#include "pipelines/pipeline_registry.hpp"
#include "planning/overrides.hpp"
#include "vkattn/context.hpp"

namespace vkattn {

struct ContextState {
  ContextOptions options;  // as given, with the environment's values filled in
  Overrides overrides;     // options.overrides with the name each value came under
  // Destroyed in reverse order: the registry and the submitter before the device they use.
  std::unique_ptr<Device> device;
  std::unique_ptr<QueueSubmitter> queue;
  std::unique_ptr<PipelineRegistry> pipelines;
  std::atomic<int> live_children{0};  // Tensors and plans not yet destroyed
};

// The state of `ctx` (a friend of Context).
ContextState& context_state(const Context& ctx);

}  // namespace vkattn
