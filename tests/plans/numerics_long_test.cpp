// Long rows: 32k keys per query (label "long"; on lavapipe this is within llvmpipe's loop budget
// at D = 64). Forward and backward against the fp64 reference, everything finite.
#include <gtest/gtest.h>

#include <random>

#include "support/backward_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class LongRows : public VkTest, public ::testing::WithParamInterface<DType> {};

TEST_P(LongRows, ThirtyTwoThousandKeys) {
  CaseShape shape{1, 2, 1, 8, 32768, 64, GetParam(), kCausalBR, Layout::kBHSD, true};
  shape.mod.softcap = 30.0f;
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);  // runs the forward
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  const RefResult ref = reference_forward(c->fwd.ref, c->fwd.q, c->fwd.k, c->fwd.v);
  expect_close(c->fwd.download_o(), ref.o, output_tolerance(shape.dtype), "O");
  expect_close(c->fwd.download_lse(), ref.lse, lse_tolerance(shape.dtype), "LSE");
  run_backward_and_compare(ctx(), *c);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LongRows, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& p) { return std::string(to_string(p.param)); });

}  // namespace
}  // namespace vkattn::test
