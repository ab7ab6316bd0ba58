// Tensor: device-local storage owned with RAII, uploads and downloads through staging (fp32 and
// fp16, converted with round-to-nearest-even), fill, the views it describes, and refusals of bad
// shapes and sizes naming the value.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

using TensorTest = VkTest;

TEST_F(TensorTest, RoundTripsInItsDtype) {
  Result<Tensor> f32 = Tensor::create(ctx(), DType::kF32, {2, 3, 5});
  ASSERT_TRUE(f32.is_ok()) << f32.status().to_string();
  std::vector<float> values(30);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.1f * static_cast<float>(i) - 1.3f;
  ASSERT_TRUE(f32->upload(values).is_ok());
  Result<std::vector<float>> back = f32->download();
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, values);
  // fp16: an odd element count (the buffer is padded to whole words), values rounded as stored.
  Result<Tensor> f16 = Tensor::create(ctx(), DType::kF16, {7});
  ASSERT_TRUE(f16.is_ok()) << f16.status().to_string();
  const std::vector<float> in = {1.0f, 1.0f + 1.0f / 2048.0f, -65504.0f, 1e-8f, 0.333333f, 3.0e5f, -0.0f};
  ASSERT_TRUE(f16->upload(in).is_ok());
  back = f16->download();
  ASSERT_TRUE(back.is_ok());
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ((*back)[i], half_to_float(float_to_half(in[i]))) << i;
  EXPECT_TRUE(std::isinf((*back)[5]));
  ASSERT_TRUE(f16->fill(std::nanf("")).is_ok());
  back = f16->download();
  ASSERT_TRUE(back.is_ok());
  for (float v : *back) EXPECT_TRUE(std::isnan(v));
}

TEST_F(TensorTest, ViewIsDenseRowMajor) {
  Result<Tensor> t = Tensor::create(ctx(), DType::kF16, {2, 4, 8, 16});
  ASSERT_TRUE(t.is_ok());
  const TensorView v = t->view();
  EXPECT_EQ(v.rank, 4);
  EXPECT_EQ(v.dtype, DType::kF16);
  EXPECT_EQ(v.numel(), 2 * 4 * 8 * 16);
  EXPECT_EQ(v.strides[0], 4 * 8 * 16);
  EXPECT_EQ(v.strides[2], 16);
  EXPECT_EQ(v.strides[3], 1);
  // [B, H, S, D] stored as BSHD: heads interleave within a token.
  const TensorView bshd = TensorView::attention(t->buffer(), t->size_bytes(), DType::kF16, Layout::kBSHD, 2, 4, 8, 16);
  EXPECT_EQ(bshd.strides[1], 16);
  EXPECT_EQ(bshd.strides[2], 4 * 16);
  EXPECT_EQ(bshd.strides[0], 8 * 4 * 16);
}

TEST_F(TensorTest, RefusesBadShapesAndSizes) {
  Result<Tensor> zero = Tensor::create(ctx(), DType::kF32, {3, 0});
  ASSERT_FALSE(zero.is_ok());
  EXPECT_EQ(zero.status().message(), "shape[1] = 0 (must be >= 1)");
  Result<Tensor> odd = Tensor::create_bytes(ctx(), 6, DType::kF32);
  ASSERT_FALSE(odd.is_ok());
  EXPECT_EQ(odd.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(odd.status().message().find("bytes = 6"), std::string::npos) << odd.status().message();
  // An element count past 2^60 (here (2^62 + 1) x 4, which wraps int64 to 4) and an unknown dtype.
  Result<Tensor> wraps = Tensor::create(ctx(), DType::kF32, {(std::int64_t{1} << 62) + 1, 4});
  ASSERT_FALSE(wraps.is_ok());
  EXPECT_NE(wraps.status().message().find("shape[0] = 4611686018427387905: the tensor would have more than 2^60"),
            std::string::npos)
      << wraps.status().message();
  Result<Tensor> huge = Tensor::create(ctx(), DType::kF32, {1 << 20, 1 << 20, 1 << 20, 8});
  ASSERT_FALSE(huge.is_ok());
  EXPECT_NE(huge.status().message().find("shape[3] = 8: the tensor would have more than 2^60"), std::string::npos) << huge.status().message();
  Result<Tensor> unknown = Tensor::create(ctx(), static_cast<DType>(9), {8});
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().message(), "dtype = 9 (must be f32, f16, i32 or bf16)");
  Result<Tensor> t = Tensor::create(ctx(), DType::kF32, {4});
  ASSERT_TRUE(t.is_ok());
  const std::vector<float> three = {1.0f, 2.0f, 3.0f};
  const Status s = t->upload(three);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
}

}  // namespace
}  // namespace vkattn::test
