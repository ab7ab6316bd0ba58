// The engine's base: the status type (codes, VkResult mapping, messages, Result) and the storage
// dtypes (sizes, names, fp16 conversion: round to nearest even, subnormals, infinities, NaN).
#include "vkattn/status.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "base/vk_util.hpp"
#include "vkattn/dtype.hpp"

namespace vkattn::test {
namespace {

TEST(Status, VkResultsMapToCodesAndNameTheCall) {
  const Status oom = Status::from_vk(VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory(64 bytes)");
  EXPECT_EQ(oom.code(), ErrorCode::kOutOfMemory);
  EXPECT_EQ(oom.vk_result(), VK_ERROR_OUT_OF_DEVICE_MEMORY);
  EXPECT_EQ(oom.to_string(), "out_of_memory: vkAllocateMemory(64 bytes) failed with VkResult -2");
  EXPECT_EQ(Status::from_vk(VK_ERROR_OUT_OF_HOST_MEMORY, "x").code(), ErrorCode::kOutOfMemory);
  EXPECT_EQ(Status::from_vk(VK_ERROR_DEVICE_LOST, "vkQueueSubmit").code(), ErrorCode::kDeviceLost);
  EXPECT_EQ(Status::from_vk(VK_ERROR_INITIALIZATION_FAILED, "vkCreateInstance").code(), ErrorCode::kVulkan);
  EXPECT_TRUE(Status::ok().is_ok());
  EXPECT_EQ(Status::ok().to_string(), "ok");
}

Status fails_then_stops(int& reached) {
  VKATTN_TRY(invalid("desc.batch = 0 (must be >= 1)"));
  ++reached;
  return Status::ok();
}

TEST(Status, TryReturnsTheFirstFailure) {
  int reached = 0;
  const Status s = fails_then_stops(reached);
  EXPECT_EQ(reached, 0);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "desc.batch = 0 (must be >= 1)");
  EXPECT_EQ(unsupported("x").code(), ErrorCode::kUnsupported);
}

TEST(Status, ResultHoldsAValueOrAStatus) {
  Result<std::string> v = std::string("attn_fwd_d64");
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(*v, "attn_fwd_d64");
  Result<std::string> e = invalid("q.rank = 3, expected 4");
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().message(), "q.rank = 3, expected 4");
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(std::string(to_string(DType::kF16)), "f16");
  EXPECT_EQ(std::string(to_string(DType::kF32)), "f32");
}

TEST(DType, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f), 0x3C00u);
  EXPECT_EQ(float_to_half(-2.0f), 0xC000u);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFFu);               // the largest finite half
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00u);               // rounds up to infinity
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048.0f), 0x3C00u);  // halfway: to the even 1.0
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048.0f), 0x3C02u);  // halfway: up to the even one
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001u);  // the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000u);  // below half of it: zero
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7C00u);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  for (std::uint32_t h = 0; h < 0x7C00u; h += 7) {  // every finite half round-trips exactly
    EXPECT_EQ(float_to_half(half_to_float(static_cast<std::uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(half_to_float(0x3555u), 0.333251953125f);
}

}  // namespace
}  // namespace vkattn::test
