// Device errors come back as Status, never an abort, and the context stays usable after an
// out-of-memory error.
#include <gtest/gtest.h>

#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class DeviceErrors : public VkTest {};

TEST_F(DeviceErrors, OverLargeAllocationsAreOutOfMemoryAndTheContextStaysUsable) {
  const VkDeviceSize sizes[] = {VkDeviceSize{1} << 50, ctx().info().max_memory_allocation_size + 4096};
  for (VkDeviceSize bytes : sizes) {
    Result<Tensor> t = Tensor::create_bytes(ctx(), bytes);
    ASSERT_FALSE(t.is_ok()) << bytes;
    EXPECT_EQ(t.status().code(), ErrorCode::kOutOfMemory) << t.status().to_string();
    EXPECT_NE(t.status().message().find(std::to_string(bytes).substr(0, 6)), std::string::npos) << t.status().message();
  }
  // The context works as before: a forward and its comparison with the reference.
  std::mt19937_64 rng(test_seed());
  Result<AttentionCase> c =
      AttentionCase::create(ctx(), {1, 2, 2, 40, 50, 32, DType::kF32, kCausalBR, Layout::kBHSD, true}, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_and_compare(ctx(), *c);
}

}  // namespace
}  // namespace vkattn::test
