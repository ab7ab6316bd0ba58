// MPI progress while a ring call waits for the GPU (RingAttention's forward and backward).
#pragma once

#include <thread>

#include "context/context_state.hpp"
#include "ring/ring_comm.hpp"
#include "vkattn/context.hpp"

namespace vkattn::ring_detail {

// For the length of a ring call: MPI progress while the context waits for the GPU, so that the
// shards posted before a step's compute really travel during it (QueueSubmitter::set_wait_hook).
// Polled only from the calling thread (MPI may be initialized without thread support).
class MpiProgressWhileWaiting {
 public:
  MpiProgressWhileWaiting(Context& ctx, RingComm& comm) : queue_(*context_state(ctx).queue) {
    queue_.set_wait_hook([&comm, caller = std::this_thread::get_id()] {
      return std::this_thread::get_id() == caller && comm.progress();
    });
  }
  MpiProgressWhileWaiting(const MpiProgressWhileWaiting&) = delete;
  MpiProgressWhileWaiting& operator=(const MpiProgressWhileWaiting&) = delete;
  ~MpiProgressWhileWaiting() { queue_.set_wait_hook({}); }

 private:
  QueueSubmitter& queue_;
};

}  // namespace vkattn::ring_detail
