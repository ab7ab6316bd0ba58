// bf16 storage (DType::kBF16): Q, K, V, O, dO and dQ, dK, dV in bfloat16, fp32 arithmetic. On the
// scalar kernels a bf16 element is widened exactly (it is fp32's upper half) and outputs are
// rounded to nearest even (storage.glsl). The coopmat kernels take fp16 only, so bf16 runs scalar
// on every device and the plan says why. Here: the host conversions, bit-exact widening and
// narrowing through a kernel, forward and backward against the fp64 reference with masks,
// score_mods, GQA, layouts, sequence modes and decode shapes, and the odd-stride output refusal.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/vk_test.hpp"
#include "vkattn/backward.hpp"

namespace vkattn::test {
namespace {

constexpr DType BF16 = DType::kBF16;

std::uint16_t bits_of(float f) { return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(f) >> 16); }

TEST(Bf16Conversions, RoundToNearestEvenAndWidenExactly) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.5f), 0xc020);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even significand (1).
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  EXPECT_EQ(float_to_bf16(1.0f + 3.0f * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);  // above the tie
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest bf16
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(float_to_bf16(std::ldexp(1.0f, -133)), 0x0001);  // the smallest subnormal stays
  for (std::uint32_t b = 0; b < 0x10000; b += 7) {  // widening is exact and narrowing inverts it
    const auto h = static_cast<std::uint16_t>(b);
    const float f = bf16_to_float(h);
    if (!std::isnan(f)) {
      EXPECT_EQ(float_to_bf16(f), h) << b;
    }
    EXPECT_EQ(bits_of(f), h);
  }
}

class Bf16Test : public VkTest {};

// With one key, P = 1 and O = V: a bf16 V goes through the kernel's widening, the fp32 O / l
// (l = 1) and its narrowing bit for bit, random values and the largest and smallest normal
// ones alike.
TEST_F(Bf16Test, OneKeyCopiesVBitForBit) {
  std::mt19937_64 rng(test_seed());
  const CaseShape shape{2, 4, 2, 9, 1, 40, BF16, kNoMask, Layout::kBSHD, true};
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  std::vector<float> v = c->v;
  // Not subnormals (Vulkan lets fp32 arithmetic flush them; llvmpipe does) nor -0 (O starts at 0
  // and 0 + P (-0) = +0): arithmetic, not storage. NaN stays NaN (its payload may change).
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {-3.0e38f, bf16_to_float(0x7f7f), std::ldexp(1.0f, -126), 1.0f + std::ldexp(1.0f, -7),
                           inf,      -inf,                  std::numeric_limits<float>::quiet_NaN()};
  for (std::size_t i = 0; i < std::size(special); ++i) v[i] = special[i];
  round_to_dtype(v, BF16);
  Result<Tensor> vt = c->device_tensor(ctx(), v, Role::kV);
  ASSERT_TRUE(vt.is_ok());
  c->v_dev = std::move(vt).value();
  c->v = v;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  const std::vector<float> o = c->download_o();  // [B, Sq, Hq, Dv] as logical [B, Hq, Sq, Dv]
  const std::int64_t group = shape.q_heads / shape.kv_heads, dv = shape.head_dim;
  // The coopmat kernels (_f16ops) load bf16 as fp16 (shaders/attn_cm_tiles.glsl): values in fp16's
  // normal range are still copied bit for bit; beyond +-65504 they saturate (65504 rounds to
  // bf16's 65536); below 2^-14 they move by at most 2^-24; NaN is not kept.
  const bool f16ops = plan->variant_name().find("_f16ops") != std::string::npos;
  std::size_t mismatches = 0;
  const auto expected_f16ops = [&](float x, float got) {
    if (std::isnan(x)) return true;
    if (std::fabs(x) > 65504.0f) return got == std::copysign(65536.0f, x);
    if (std::fabs(x) < std::ldexp(1.0f, -14)) return std::fabs(got - x) <= std::ldexp(1.0f, -24);
    return bits_of(got) == bits_of(x);
  };
  for (std::int64_t b = 0; b < shape.batch; ++b)
    for (std::int64_t h = 0; h < shape.q_heads; ++h)
      for (std::int64_t i = 0; i < shape.seq_q; ++i)
        for (std::int64_t d = 0; d < dv; ++d) {
          const float got = o[static_cast<std::size_t>(((b * shape.q_heads + h) * shape.seq_q + i) * dv + d)];
          const float want = v[static_cast<std::size_t>((b * shape.kv_heads + h / group) * dv + d)];
          const bool same = f16ops            ? expected_f16ops(want, got)
                            : std::isnan(want) ? std::isnan(got)
                                               : bits_of(got) == bits_of(want);
          mismatches += same ? 0u : 1u;
        }
  EXPECT_EQ(mismatches, 0u);
}

// Where auto takes the coopmat kernels, bf16 runs there on fp16 operands (_f16ops), forward and
// backward; elsewhere on the scalar kernels.
TEST_F(Bf16Test, VariantNameSaysWhereItRuns) {
  std::mt19937_64 rng(1);
  Result<AttentionCase> c = AttentionCase::create(ctx(), {1, 2, 2, 64, 64, 64, BF16, kCausalBR, Layout::kBHSD, true}, rng);
  ASSERT_TRUE(c.is_ok());
  Result<ForwardPlan> f = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_NE(f->variant_name().find("_bf16_"), std::string::npos) << f->variant_name();
  const std::string tail = auto_uses_coopmat(ctx()) ? "_f16ops" + coopmat_suffix(ctx()) : std::string("_scalar");
  EXPECT_TRUE(f->variant_name().ends_with(tail)) << f->variant_name() << " (" << f->path_reason() << ")";
  Result<BackwardPlan> b = BackwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_TRUE(b->variant_name().ends_with(tail)) << b->variant_name();
}

// A bf16 output is written two elements per 32-bit word, as fp16 is: an odd row stride is refused.
TEST_F(Bf16Test, OddRowStrideOfABf16OutputIsRefused) {
  std::mt19937_64 rng(test_seed());
  Result<AttentionCase> c = AttentionCase::create(ctx(), {1, 1, 1, 4, 4, 8, BF16, kNoMask, Layout::kBHSD, true}, rng);
  ASSERT_TRUE(c.is_ok());
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(plan.is_ok());
  ForwardTensors t = c->tensors();
  t.o.strides[2] = 9;
  t.o.buffer_size = 1024;
  expect_error_and_untouched(
      *c, [&] { return plan->run(t); }, ErrorCode::kInvalidArgument, "o.strides[2] = 9 must be even for a bf16 output");
}

CaseShape bf16(std::int64_t b, std::int64_t hq, std::int64_t hkv, std::int64_t sq, std::int64_t sk, std::int64_t d,
               Mask mask, Layout layout, const std::function<void(CaseShape&)>& more = {}) {
  CaseShape c{b, hq, hkv, sq, sk, d, BF16, mask, layout, true};
  if (more) more(c);
  return c;
}

const CaseShape kCases[] = {
    bf16(2, 4, 2, 70, 90, 64, kCausalBR, Layout::kBHSD),
    bf16(1, 3, 3, 65, 40, 32, kNoMask, Layout::kBSHD, [](CaseShape& c) { c.head_dim_v = 16; }),
    bf16(2, 2, 1, 50, 50, 72, kCausalTL, Layout::kSBHD),
    bf16(3, 4, 2, 40, 60, 32, kCausalBR, Layout::kBHSD, [](CaseShape& c) { c.seqs = SeqKind::kVarlen; }),
    bf16(2, 2, 2, 44, 70, 32, Mask::window(20, 5), Layout::kBSHD, [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
    bf16(1, 2, 2, 60, 60, 32, kCausalBR, Layout::kBHSD,
         [](CaseShape& c) { c.mod.softcap = 5.0f, c.mod.alibi = Alibi::kPerHead, c.mod.sinks = true; }),
    bf16(1, 2, 2, 48, 48, 32, kCausalBR, Layout::kBHSD,
         [](CaseShape& c) { c.mod.rel_pos_max_distance = 20, c.mod.bias = DType::kF32, c.mask.documents = true; }),
    bf16(1, 32, 4, 1, 700, 128, kCausalBR, Layout::kBSHD),  // decode: packed GQA, split
    bf16(2, 8, 2, 4, 300, 64, kCausalBR, Layout::kBSHD),    // chunked-prefill-shaped
};

class Bf16Cases : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(Bf16Cases, ForwardMatchesFp64Reference) { check_case(ctx(), GetParam()); }

TEST_P(Bf16Cases, BackwardMatchesFp64Reference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Bf16, Bf16Cases, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

}  // namespace
}  // namespace vkattn::test
