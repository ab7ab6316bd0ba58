// The cooperative-matrix-2 kernels (KernelPath::kCoopmat2: shaders/attn_fwd_cm2.comp,
// attn_bwd_dq_cm2.comp, attn_bwd_dkdv_cm2.comp) against the fp64 reference, forward and backward:
// every case runs on a context whose path override is coopmat2, so a plan either runs those
// kernels (its variant name ends in _coopmat2) or fails the test. The cases cover what the
// kernel does itself: ragged tiles (lengths that are not multiples of the tiles), padded head dims,
// Dk != Dv, strided layouts, GQA, padded and varlen batches, both causal alignments with rows that
// see nothing, windows, document ids, every score_mod, sinks, dropout and LSE on and off. Skipped
// where the device or the build has no cooperative matrix 2 (lavapipe: the GPU suite runs it).
#include <gtest/gtest.h>

#include <random>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

CaseShape base(std::int64_t sq, std::int64_t sk, std::int64_t d, Mask mask, Layout layout = Layout::kBHSD) {
  return CaseShape{2, 4, 2, sq, sk, d, DType::kF16, mask, layout, true};
}

Mask window(std::int64_t left, std::int64_t right) {
  Mask m;
  m.window_left = left;
  m.window_right = right;
  return m;
}

const CaseShape kCases[] = {
    base(64, 64, 64, kNoMask),
    base(200, 333, 128, kNoMask, Layout::kBSHD),
    base(300, 300, 128, kCausalTL),
    base(150, 70, 64, kCausalBR),  // Sq > Sk: the first 80 rows see nothing
    base(77, 93, 72, kCausalBR, Layout::kBSHD),
    make(base(65, 129, 192, kCausalBR), [](CaseShape& c) { c.head_dim_v = 128; }),
    base(130, 130, 256, kNoMask, Layout::kSBHD),
    base(257, 257, 40, window(31, 7)),
    make(base(190, 190, 64, kCausalBR), [](CaseShape& c) { c.mod.softcap = 20.0f; }),
    make(base(120, 200, 64, kNoMask), [](CaseShape& c) { c.mod.alibi = Alibi::kPerHead; }),
    make(base(120, 200, 64, kCausalTL), [](CaseShape& c) {
      c.mod.rel_pos_max_distance = 16;
      c.mod.bias = DType::kF16;
    }),
    make(base(140, 140, 64, kCausalBR), [](CaseShape& c) { c.mod.sinks = true; }),
    make(base(160, 160, 64, kNoMask), [](CaseShape& c) { c.mask.documents = true; }),
    make(base(150, 180, 64, kCausalBR), [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
    make(base(150, 180, 128, kCausalBR), [](CaseShape& c) {
      c.seqs = SeqKind::kVarlen;
      c.mod.sinks = true;
    }),
    make(base(128, 128, 64, kNoMask), [](CaseShape& c) { c.dropout = 0.25f; }),
    make(base(100, 100, 64, kCausalBR), [](CaseShape& c) {
      c.with_lse = false;
      c.q_heads = 8;
      c.kv_heads = 1;
    }),
};

class Coopmat2Test : public VkTest, public ::testing::WithParamInterface<CaseShape> {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (ctx_ == nullptr) return;
    if (!ctx().info().coopmat2) {
      GTEST_SKIP() << "no cooperative matrix 2 here (" << ctx().info().name
                   << "); the toolchain: " << (toolchain_info().nv_cooperative_matrix2 ? "compiled it" : "did not");
    }
    ContextOptions o = test_options();
    o.overrides.path = KernelPath::kCoopmat2;
    ctx_ = make_context(o);
  }
};

TEST_P(Coopmat2Test, MatchesFp64Reference) {
  ASSERT_NE(ctx_, nullptr);
  std::mt19937_64 rng(1);
  Result<AttentionCase> c = AttentionCase::create(ctx(), GetParam(), rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<ForwardPlan> f = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_TRUE(f->variant_name().ends_with("_coopmat2")) << f->variant_name();
  check_case(ctx(), GetParam());
}

TEST_P(Coopmat2Test, BackwardMatchesFp64Reference) {
  ASSERT_NE(ctx_, nullptr);
  std::mt19937_64 rng(1);
  Result<AttentionCase> c = AttentionCase::create(ctx(), GetParam(), rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<BackwardPlan> b = BackwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_TRUE(b->variant_name().ends_with("_coopmat2")) << b->variant_name();
  check_backward_case(ctx(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Coopmat2, Coopmat2Test, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

}  // namespace
}  // namespace vkattn::test
