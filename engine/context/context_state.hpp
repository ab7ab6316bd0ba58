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
  ContextState() = default;
  ContextState(const ContextState&) = delete;
  ContextState& operator=(const ContextState&) = delete;
  // An owned device is waited idle first (vkattn's own work may still run), then the registry,
  // the submitter and the device go, in that order; also when creation failed halfway. An
  // adopted device is not waited on: its queues are the host's (context.hpp).
  ~ContextState();

  ContextOptions options;  // as given, with the environment's values filled in
  Overrides overrides;     // options.overrides with the name each value came under
  std::unique_ptr<Device> device;
  std::unique_ptr<QueueSubmitter> queue;
  std::unique_ptr<PipelineRegistry> pipelines;
  std::atomic<int> live_children{0};  // Tensors and plans not yet destroyed
};

// The state of `ctx` (a friend of Context).
ContextState& context_state(const Context& ctx);

}  // namespace vkattn
