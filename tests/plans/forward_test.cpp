// Forward attention against the fp64 reference over a sampled matrix of shapes, dtypes, masks
// and layouts (sizes off tile multiples, D = 8 and D = 256, Sq != Sk, GQA, no-LSE).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

// {B, Hq, Hkv, Sq, Sk, D, dtype, mask, layout, lse}
const CaseShape kCases[] = {
    {1, 1, 1, 1, 1, 8, F32, kNoMask, Layout::kBHSD, true},
    {1, 1, 1, 1, 1, 8, F16, kCausalBR, Layout::kBHSD, true},
    {2, 3, 3, 70, 33, 64, F32, kNoMask, Layout::kBHSD, true},
    {1, 2, 2, 65, 65, 32, F16, kCausalTL, Layout::kBHSD, true},
    {1, 2, 2, 33, 97, 64, F16, kCausalBR, Layout::kBHSD, true},
    {2, 1, 1, 100, 40, 16, F32, kCausalBR, Layout::kBHSD, true},
    {1, 1, 1, 37, 200, 256, F32, kNoMask, Layout::kBHSD, true},
    {1, 1, 1, 64, 64, 256, F16, kCausalTL, Layout::kBHSD, true},
    {1, 2, 2, 129, 129, 128, F16, kNoMask, Layout::kBHSD, true},
    {3, 2, 2, 17, 300, 8, F16, kCausalTL, Layout::kBHSD, true},
    {1, 4, 4, 50, 50, 96, F32, kCausalTL, Layout::kBHSD, true},
    {1, 1, 1, 16, 1000, 64, F32, kNoMask, Layout::kBHSD, true},
    {1, 1, 1, 300, 5, 40, F16, kCausalTL, Layout::kBHSD, true},
    {1, 4, 1, 40, 70, 64, F16, kNoMask, Layout::kBHSD, true},
    {2, 3, 3, 45, 45, 32, F32, kCausalBR, Layout::kBSHD, true},
    {2, 2, 2, 30, 61, 64, F16, kNoMask, Layout::kSBHD, true},
    {1, 2, 2, 70, 70, 64, F16, kCausalTL, Layout::kBHSD, false},
};

class ForwardTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(ForwardTest, MatchesFp64Reference) { check_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Sampled, ForwardTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

class ForwardSemantics : public VkTest {};

// Bottom-right causal with Sq > Sk: query rows i < Sq - Sk see no key.
TEST_F(ForwardSemantics, FullyMaskedRowsGiveZeroAndMinusInf) {
  std::mt19937_64 rng(test_seed());
  for (DType dtype : {F32, F16}) {
    CaseShape shape{2, 2, 2, 75, 9, 32, dtype, kCausalBR, Layout::kBHSD, true};
    SCOPED_TRACE(shape.name());
    Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    ASSERT_TRUE(attention_forward(ctx(), c->tensors(), kCausalBR).is_ok());
    const std::vector<float> o = c->download_o();
    const std::vector<float> lse = c->download_lse();
    const std::int64_t masked_rows = shape.seq_q - shape.seq_k;
    for (std::int64_t bh = 0; bh < shape.batch * shape.q_heads; ++bh) {
      for (std::int64_t i = 0; i < shape.seq_q; ++i) {
        const auto row = static_cast<std::size_t>(bh * shape.seq_q + i);
        if (i < masked_rows) {
          EXPECT_EQ(lse[row], -INFINITY) << "row " << i;
          for (std::int64_t d = 0; d < shape.head_dim; ++d) {
            ASSERT_EQ(o[row * static_cast<std::size_t>(shape.head_dim) + static_cast<std::size_t>(d)], 0.0f)
                << "row " << i << " d " << d;
          }
        } else {
          EXPECT_TRUE(std::isfinite(lse[row])) << "row " << i;
        }
      }
    }
  }
}

TEST_F(ForwardSemantics, ExplicitScaleIsUsed) {
  std::mt19937_64 rng(test_seed());
  CaseShape shape{1, 2, 2, 40, 50, 64, F32, kNoMask, Layout::kBHSD, true};
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok());
  ASSERT_TRUE(attention_forward(ctx(), c->tensors(), {}, 0.9f).is_ok());
  RefProblem p = c->ref_problem();
  p.scale = 0.9f;
  const RefResult ref = reference_forward(p, c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(F32), "O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(F32), "LSE");
}

TEST_F(ForwardSemantics, VariantNameNamesEverySpecConstant) {
  AttentionDesc d;
  d.dtype = F16;
  d.seq_q = 10;
  d.seq_k = 10;
  d.head_dim = 64;
  d.mask = kCausalBR;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  const std::string& name = plan->variant_name();
  EXPECT_EQ(name.rfind("attn_fwd_d64_f16_causal_br_bq", 0), 0u) << name;
  EXPECT_NE(name.find(auto_uses_coopmat(ctx()) ? "_lse_coopmat" : "_lse_scalar"), std::string::npos) << name;
}

}  // namespace
}  // namespace vkattn::test
