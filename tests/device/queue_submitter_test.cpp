// QueueSubmitter's wait hook (what the ring uses to move MPI transfers while the GPU computes):
// while one is set, submit_and_wait calls it between slices of its wait until it returns false,
// on the waiting thread. The submissions below wait on a VkEvent that only the host sets, so
// the GPU cannot finish before the test says so, and each case ends with a fill the test checks.
#include "device/queue_submitter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "context/context_state.hpp"
#include "support/vk_test.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn::test {
namespace {

class QueueSubmitterTest : public VkTest {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    const VkEventCreateInfo ei{VK_STRUCTURE_TYPE_EVENT_CREATE_INFO};
    ASSERT_EQ(vkCreateEvent(ctx().device(), &ei, nullptr, &event_), VK_SUCCESS);
    Result<Tensor> t = Tensor::create(ctx(), DType::kF32, {16});
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    out_.emplace(std::move(t).value());
    ASSERT_TRUE(out_->fill(-1.0f).is_ok());
  }
  void TearDown() override {
    queue().set_wait_hook({});
    out_.reset();
    if (event_ != VK_NULL_HANDLE) vkDestroyEvent(ctx().device(), event_, nullptr);
    VkTest::TearDown();
  }
  QueueSubmitter& queue() { return *context_state(ctx()).queue; }

  // Waits for event_ (set by the host), then fills out_ with 2.0f.
  Status submit_waiting_for_event() {
    return ctx().submit_and_wait([&](VkCommandBuffer cmd) {
      VkMemoryBarrier host_to_fill{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_HOST_WRITE_BIT,
                                   VK_ACCESS_TRANSFER_WRITE_BIT};
      vkCmdWaitEvents(cmd, 1, &event_, VK_PIPELINE_STAGE_HOST_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 1, &host_to_fill, 0,
                      nullptr, 0, nullptr);
      const float two = 2.0f;
      std::uint32_t bits = 0;
      std::memcpy(&bits, &two, sizeof bits);
      vkCmdFillBuffer(cmd, out_->buffer(), 0, VK_WHOLE_SIZE, bits);
    });
  }
  void expect_filled() {
    Result<std::vector<float>> got = out_->download();
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (float v : *got) EXPECT_EQ(v, 2.0f);
  }

  VkEvent event_ = VK_NULL_HANDLE;
  std::optional<Tensor> out_;
};

TEST_F(QueueSubmitterTest, WaitCallsTheHookOnTheWaitingThreadUntilTheWorkCompletes) {
  int calls = 0;
  std::thread::id called_from;
  std::atomic<bool> event_set{false};  // whoever sets the event first (vkSetEvent is not thread-safe)
  queue().set_wait_hook([&] {
    ++calls;
    called_from = std::this_thread::get_id();
    if (calls == 3 && !event_set.exchange(true)) {
      EXPECT_EQ(vkSetEvent(ctx().device(), event_), VK_SUCCESS);  // the GPU may go on now
    }
    return true;
  });
  // Should the hook never run, the watchdog releases the GPU after 5 s and the checks fail
  // (rather than the test hanging).
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 500 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done.load() && !event_set.exchange(true)) vkSetEvent(ctx().device(), event_);
  });
  const Status s = submit_waiting_for_event();
  done.store(true);
  watchdog.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_GE(calls, 3);
  EXPECT_EQ(called_from, std::this_thread::get_id());
  expect_filled();
}

TEST_F(QueueSubmitterTest, AHookThatReturnsFalseIsNotCalledAgainInThatWait) {
  int calls = 0;
  queue().set_wait_hook([&] {
    ++calls;
    return false;
  });
  // The event comes from another thread well after the first slice: the wait must block, not poll.
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    vkSetEvent(ctx().device(), event_);
  });
  const Status s = submit_waiting_for_event();
  setter.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(calls, 1);
  expect_filled();
}

TEST_F(QueueSubmitterTest, WithoutAHookTheWaitBlocks) {
  int calls = 0;
  queue().set_wait_hook([&] {
    ++calls;
    return true;
  });
  queue().set_wait_hook({});
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    vkSetEvent(ctx().device(), event_);
  });
  const Status s = submit_waiting_for_event();
  setter.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(calls, 0);
  expect_filled();
}

}  // namespace
}  // namespace vkattn::test
