// QueueSubmitter's wait hook (what the ring uses to move MPI transfers while the GPU computes):
// while one is set, submit_and_wait calls it between slices of its wait until it returns false,
// on the waiting thread. The work waited for is 64 fills of a 64 MiB buffer (4 GiB written: about
// 2 ms on an H100, a second or more on lavapipe), long against the 100 us slice, then a small
// fill the test checks. (Holding the GPU on a host-set VkEvent would be exact, but a command
// buffer may not wait on an event the host sets while it is pending: VUID-vkSetEvent-event-09543.)
#include "device/queue_submitter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "context/context_state.hpp"
#include "support/vk_test.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn::test {
namespace {

using Clock = std::chrono::steady_clock;

class QueueSubmitterTest : public VkTest {
 protected:
  static constexpr VkDeviceSize kBusyBytes = VkDeviceSize{64} << 20;
  static constexpr int kBusyFills = 64;

  void SetUp() override {
    VkTest::SetUp();
    Result<Tensor> busy = Tensor::create_bytes(ctx(), kBusyBytes);
    ASSERT_TRUE(busy.is_ok()) << busy.status().to_string();
    busy_.emplace(std::move(busy).value());
    Result<Tensor> out = Tensor::create(ctx(), DType::kF32, {16});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    out_.emplace(std::move(out).value());
    ASSERT_TRUE(out_->fill(-1.0f).is_ok());
  }
  void TearDown() override {
    queue().set_wait_hook({});
    busy_.reset();
    out_.reset();
    VkTest::TearDown();
  }
  QueueSubmitter& queue() { return *context_state(ctx()).queue; }

  // The long work, then out_ filled with 2.0f; returns the wall time of submit_and_wait.
  double submit_long_work(Status& status) {
    const Clock::time_point t0 = Clock::now();
    status = ctx().submit_and_wait([&](VkCommandBuffer cmd) {
      const VkMemoryBarrier fill_to_fill{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                                         VK_ACCESS_TRANSFER_WRITE_BIT};
      for (int i = 0; i < kBusyFills; ++i) {
        vkCmdFillBuffer(cmd, busy_->buffer(), 0, VK_WHOLE_SIZE, static_cast<std::uint32_t>(i));
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &fill_to_fill,
                             0, nullptr, 0, nullptr);
      }
      const float two = 2.0f;
      std::uint32_t bits = 0;
      std::memcpy(&bits, &two, sizeof bits);
      vkCmdFillBuffer(cmd, out_->buffer(), 0, VK_WHOLE_SIZE, bits);
    });
    return std::chrono::duration<double>(Clock::now() - t0).count();
  }
  void expect_filled() {
    Result<std::vector<float>> got = out_->download();
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (float v : *got) EXPECT_EQ(v, 2.0f);
  }
  // Waits of at least this many seconds span several slices.
  static double long_wait() { return 10.0 * static_cast<double>(QueueSubmitter::kWaitSliceNs) * 1e-9; }

  std::optional<Tensor> busy_, out_;
};

TEST_F(QueueSubmitterTest, WaitCallsTheHookOnTheWaitingThreadUntilTheWorkCompletes) {
  int calls = 0;
  std::thread::id called_from;
  queue().set_wait_hook([&] {
    ++calls;
    called_from = std::this_thread::get_id();
    return true;
  });
  Status s;
  const double seconds = submit_long_work(s);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  expect_filled();
  if (seconds < long_wait()) GTEST_SKIP() << "the work took " << seconds * 1e3 << " ms: too short to see slices";
  // A hook called every slice: about seconds / slice times (at least a third of that, allowing
  // for the calls' own time and the scheduler).
  EXPECT_GE(calls, static_cast<int>(seconds / long_wait() * 10.0 / 3.0));
  EXPECT_EQ(called_from, std::this_thread::get_id());
}

TEST_F(QueueSubmitterTest, AHookThatReturnsFalseIsNotCalledAgainInThatWait) {
  int calls = 0;
  queue().set_wait_hook([&] {
    ++calls;
    return false;
  });
  Status s;
  const double seconds = submit_long_work(s);
  // The hook stays set, so later waits (the download below) may call it again: count this one's.
  const int calls_in_wait = calls;
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  expect_filled();
  if (seconds < long_wait()) GTEST_SKIP() << "the work took " << seconds * 1e3 << " ms: too short to see slices";
  EXPECT_EQ(calls_in_wait, 1);
}

TEST_F(QueueSubmitterTest, AThrowingHookEndsTheSlicingAndTheWaitStillCompletes) {
  int calls = 0;
  queue().set_wait_hook([&]() -> bool {
    ++calls;
    throw std::runtime_error("hook failed");
  });
  Status s;
  const double seconds = submit_long_work(s);
  // The hook stays set, so later waits (the download below) may call it again: count this one's.
  const int calls_in_wait = calls;
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  expect_filled();
  if (seconds < long_wait()) GTEST_SKIP() << "the work took " << seconds * 1e3 << " ms: too short to see slices";
  EXPECT_EQ(calls_in_wait, 1);
}

TEST_F(QueueSubmitterTest, AClearedHookIsNotCalled) {
  int calls = 0;
  queue().set_wait_hook([&] {
    ++calls;
    return true;
  });
  queue().set_wait_hook({});
  Status s;
  submit_long_work(s);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  expect_filled();
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace vkattn::test
