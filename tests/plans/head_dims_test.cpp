// Every head dim on the tensor-core path: Dk and Dv of 8 mod 16 (24, 40, 72, 88, 104, 120, 136,
// 200) are padded to the next multiple of 16 inside the coopmat kernels (attn_cm_tiles.glsl), so
// fp16 problems of any head dim, Dk != Dv included, run there forward and backward (past 128,
// the backward splits dQ, dK and dV into chunks of the head dim: _dsplit). Each case is checked against the fp64 reference on whatever path the context takes
// (lavapipe: scalar), and where the device has the coopmat kernels the variant names say they ran.
#include <gtest/gtest.h>

#include <random>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/vk_test.hpp"
#include "vkattn/backward.hpp"

namespace vkattn::test {
namespace {

CaseShape shape(std::int64_t dk, std::int64_t dv, Mask mask, Layout layout) {
  CaseShape c{1, 4, 2, 77, 93, dk, DType::kF16, mask, layout, true};
  c.head_dim_v = dv == dk ? 0 : dv;
  return c;
}

// Vision models' 72, 80, 96 and 112; the 8 mod 16 dims around them; Dk != Dv (192/128, and a
// padded pair); 8 and 256 at the ends.
const CaseShape kCases[] = {
    shape(72, 72, kNoMask, Layout::kBSHD),     shape(72, 72, kCausalBR, Layout::kBHSD),
    shape(80, 80, kCausalBR, Layout::kBSHD),   shape(96, 96, kNoMask, Layout::kBHSD),
    shape(112, 112, kCausalTL, Layout::kBSHD), shape(8, 8, kCausalBR, Layout::kBHSD),
    shape(24, 24, kNoMask, Layout::kSBHD),     shape(40, 40, kCausalBR, Layout::kBSHD),
    shape(88, 88, kNoMask, Layout::kBHSD),     shape(104, 104, kCausalBR, Layout::kBSHD),
    shape(120, 120, kNoMask, Layout::kBHSD),   shape(72, 40, kCausalBR, Layout::kBSHD),
    shape(40, 104, kNoMask, Layout::kBHSD),    shape(136, 136, kCausalBR, Layout::kBSHD),
    shape(192, 128, kCausalBR, Layout::kBSHD), shape(200, 200, kNoMask, Layout::kBHSD),
    shape(256, 256, kCausalBR, Layout::kBSHD), shape(96, 96, kCausalBR, Layout::kBSHD),
};

class HeadDimTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {
 protected:
  // The variant names: _coopmat wherever auto takes the coopmat kernels (every head dim, both
  // passes), _dsplit on the backward past 128.
  void expect_paths(const CaseShape& s) {
    std::mt19937_64 rng(1);
    Result<AttentionCase> c = AttentionCase::create(ctx(), s, rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    const bool cm = auto_uses_coopmat(ctx());
    Result<ForwardPlan> f = ForwardPlan::create(ctx(), c->desc());
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_TRUE(f->variant_name().ends_with(cm ? f16_tensor_core_suffix(ctx()) : "_scalar")) << f->variant_name();
    const std::int64_t dv = s.head_dim_v == 0 ? s.head_dim : s.head_dim_v;
    Result<BackwardPlan> b = BackwardPlan::create(ctx(), c->desc());
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    EXPECT_NE(b->variant_name().find(cm ? f16_tensor_core_suffix(ctx()) : "_scalar"), std::string::npos)
        << b->variant_name();
    const bool split = cm && !auto_uses_coopmat2(ctx()) && (s.head_dim > 128 || dv > 128);
    EXPECT_EQ(b->variant_name().find("_dsplit") != std::string::npos, split) << b->variant_name();
  }
};

TEST_P(HeadDimTest, ForwardMatchesFp64Reference) {
  check_case(ctx(), GetParam());
  expect_paths(GetParam());
}

TEST_P(HeadDimTest, BackwardMatchesFp64Reference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(HeadDims, HeadDimTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

}  // namespace
}  // namespace vkattn::test
