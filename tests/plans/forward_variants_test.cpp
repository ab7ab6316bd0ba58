// Every mask alone, every score_mod alone, packed varlen, Dk != Dv, and a sampled matrix of their
// combinations x layouts x dtypes x GQA ratios x sequence kinds, against the fp64 reference.
// Test names are the shape plus the variant's feature name (vkattn::feature_name).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "support/attention_case.hpp"
#include "support/variant_sampler.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

// B = 2, Hq = 2, Sq = 70, Sk = 90 (off tile multiples), D = 32, fp32, BHSD.
const CaseShape kBase{2, 2, 2, 70, 90, 32, F32, kNoMask, Layout::kBHSD, true};

std::vector<CaseShape> masks_alone() {
  return {
      make(kBase, [](CaseShape& c) { c.mask = kCausalTL; }),
      make(kBase, [](CaseShape& c) { c.mask = kCausalBR; }),
      make(kBase, [](CaseShape& c) { c.mask = kCausalBR, c.seq_q = 90, c.seq_k = 40; }),  // Sq > Sk: empty rows
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(16, 8, Align::kBottomRight); }),
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(0, 20, Align::kTopLeft); }),
      make(kBase, [](CaseShape& c) { c.mask.window_left = 10; }),                                  // left bound only
      make(kBase, [](CaseShape& c) { c.mask.window_right = 5, c.mask.align = Align::kTopLeft; }),  // right only
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(0, 0), c.seq_q = 90, c.seq_k = 40; }),
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(16, 0), c.mask.causal = true; }),  // causal sliding window
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(100000, 100000, Align::kTopLeft); }),  // clamped: no mask
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kPadded, c.pad_kv = false; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kPadded, c.pad_q = false, c.mask = kCausalBR; }),
      make(kBase, [](CaseShape& c) { c.mask.documents = true, c.seq_k = 200; }),
      make(kBase, [](CaseShape& c) { c.mask.documents = true, c.sorted_docs = false; }),
  };
}

std::vector<CaseShape> score_mods_alone() {
  const CaseShape b = make(kBase, [](CaseShape& c) { c.seq_q = 50, c.seq_k = 80; });
  return {
      make(b, [](CaseShape& c) { c.mod.softcap = 0.3f; }),
      make(b, [](CaseShape& c) { c.mod.softcap = 1.0f, c.dtype = F16; }),
      // A cap far above the scores: c tanh(s / c) = s to fp32's precision (s / c ~ 1e-6).
      make(b, [](CaseShape& c) { c.mod.softcap = 1e6f, c.seq_k = 81; }),
      make(b, [](CaseShape& c) { c.mod.alibi = Alibi::kPerHead; }),
      make(b, [](CaseShape& c) { c.mod.alibi = Alibi::kPerBatchHead, c.mask.align = Align::kTopLeft; }),
      make(b, [](CaseShape& c) { c.mod.rel_pos_max_distance = 8; }),
      make(b, [](CaseShape& c) { c.mod.rel_pos_max_distance = 0, c.mask.align = Align::kTopLeft; }),
      make(b, [](CaseShape& c) { c.mod.bias = F32; }),
      make(b,
           [](CaseShape& c) {
             c.mod.bias = F16, c.bias_full = {false, true, true};
           }),  // [1, H, Sq, Sk]
      make(b,
           [](CaseShape& c) {
             c.mod.bias = F32, c.bias_full = {true, false, false};
           }),  // [B, 1, 1, Sk]
      make(b,
           [](CaseShape& c) {
             c.mod.bias = F16, c.bias_full = {false, false, false}, c.dtype = F16;
           }),
      make(b, [](CaseShape& c) { c.mod.sinks = true; }),
  };
}

std::vector<CaseShape> shapes_and_sequences() {
  return {
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kVarlen, c.batch = 3, c.dtype = F16, c.head_dim = 64; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kVarlen, c.mask = kCausalBR, c.q_heads = 4; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kVarlen, c.mask = Mask::window(10, 4), c.batch = 4; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kPadded, c.mask = kCausalBR, c.dtype = F16; }),
      make(kBase, [](CaseShape& c) { c.head_dim = 192, c.head_dim_v = 128, c.dtype = F16, c.batch = 1; }),
      make(kBase, [](CaseShape& c) { c.head_dim = 32, c.head_dim_v = 64, c.mask = kCausalTL; }),
      make(kBase, [](CaseShape& c) { c.head_dim = 64, c.head_dim_v = 16, c.layout = Layout::kBSHD; }),
      make(kBase, [](CaseShape& c) { c.q_heads = 8, c.kv_heads = 1, c.layout = Layout::kSBHD, c.dtype = F16; }),  // MQA
  };
}

class VariantTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(VariantTest, MatchesFp64Reference) { check_case(ctx(), GetParam()); }

const auto kName = [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); };
INSTANTIATE_TEST_SUITE_P(MaskAlone, VariantTest, ::testing::ValuesIn(masks_alone()), kName);
INSTANTIATE_TEST_SUITE_P(ScoreModAlone, VariantTest, ::testing::ValuesIn(score_mods_alone()), kName);
INSTANTIATE_TEST_SUITE_P(Shapes, VariantTest, ::testing::ValuesIn(shapes_and_sequences()), kName);
// The CI sample of the combination matrix (seed kVariantSampleSeed); a larger sweep is
// forward_sweep_test (label "long").
INSTANTIATE_TEST_SUITE_P(Combined, VariantTest, ::testing::ValuesIn(sample_variant_cases(kVariantSampleSeed, 24)),
                         kName);

class VariantSemantics : public VkTest {};

// Every mask can leave a row with nothing to see; such rows give O = 0 and LSE = -inf (with a
// sink: LSE = the sink and O = 0), never NaN.
TEST_F(VariantSemantics, FullyMaskedRowsGiveZeroAndMinusInfForEveryMask) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const CaseShape b{2, 2, 2, 80, 30, 16, F32, kNoMask, Layout::kBHSD, true};
  const std::vector<CaseShape> cases = {
      make(b, [](CaseShape& c) { c.mask = kCausalBR; }),
      make(b, [](CaseShape& c) { c.mask = Mask::window(0, 0, Align::kBottomRight); }),
      make(b, [](CaseShape& c) { c.mask = Mask::window(3, 3, Align::kTopLeft); }),
      make(b, [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
      make(b, [](CaseShape& c) { c.mask.documents = true; }),
      make(b, [](CaseShape& c) { c.mask = kCausalBR, c.mod.sinks = true, c.mod.alibi = Alibi::kPerHead; }),
  };
  for (const CaseShape& shape : cases) {
    SCOPED_TRACE(shape.name());
    bool ran = false;
    for (int attempt = 0; attempt < 20 && !ran; ++attempt) {  // random lengths/doc ids: draw until some row is empty
      Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
      ASSERT_TRUE(c.is_ok()) << c.status().to_string();
      const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
      std::size_t empty_rows = 0;
      for (std::int64_t bi = 0; bi < shape.batch; ++bi)
        for (std::int64_t h = 0; h < shape.q_heads; ++h)
          for (std::int64_t i = 0; i < shape.seq_q; ++i) {
            bool any = false;
            for (std::int64_t j = 0; j < shape.seq_k && !any; ++j) any = c->ref.visible(bi, i, j);
            empty_rows += any ? 0 : 1;
          }
      if (empty_rows == 0) continue;
      run_and_compare(ctx(), *c);
      for (float x : c->download_o()) ASSERT_FALSE(std::isnan(x));
      for (float x : c->download_lse()) ASSERT_FALSE(std::isnan(x));
      ran = true;
    }
    EXPECT_TRUE(ran) << "20 draws gave no row that sees nothing; the case checked nothing";
  }
}

// describe() reads the score_mod and document inputs from the tensors given.
TEST_F(VariantSemantics, DescribeInfersFeaturesFromTheTensors) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CaseShape shape = make(kBase, [](CaseShape& c) {
    c.mask = kCausalBR;
    c.mask.documents = true;
    c.mod.alibi = Alibi::kPerBatchHead;
    c.mod.rel_pos_max_distance = 5;
    c.mod.bias = F16;
    c.bias_full = {true, false, true};
    c.mod.sinks = true;
  });
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  const AttentionDesc d = describe(c->tensors(), kCausalBR);
  EXPECT_EQ(feature_name(d), feature_name(c->desc()));
  ASSERT_TRUE(attention_forward(ctx(), c->tensors(), kCausalBR).is_ok());
  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(F32), "O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(F32), "LSE");
}

// Varlen plans may be given Sq/Sk above the longest sequence (e.g. a fixed bucket size); the
// result does not change.
TEST_F(VariantSemantics, VarlenWithExplicitMaximumLengths) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const CaseShape shape = make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kVarlen, c.batch = 3, c.mask = kCausalTL; });
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  AttentionDesc d = c->desc();
  d.seq_q = shape.seq_q + 70;
  d.seq_k = shape.seq_k + 3;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(F32), "O");
  expect_close(c->download_lse(), ref.lse, lse_tolerance(F32), "LSE");
}

// The name a caller can ask for before recording is the plan's, and it carries the features.
TEST_F(VariantSemantics, VariantNameIsKnownBeforeRecordingAndNamesTheFeatures) {
  AttentionDesc d;
  d.dtype = F16;
  d.batch = 2;
  d.q_heads = 4;
  d.kv_heads = 2;
  d.head_dim = 64;
  d.head_dim_v = 32;
  d.mask = Mask::window(128, 0, Align::kBottomRight);
  d.mask.causal = true;
  d.mask.documents = true;
  d.score_mod.softcap = 30.0f;
  d.score_mod.alibi = Alibi::kPerHead;
  d.score_mod.bias = F16;
  d.score_mod.sinks = true;
  d.sequences.cu_seqlens_q = {0, 5, 12};
  d.sequences.cu_seqlens_k = {0, 7, 20};
  Result<std::string> asked = forward_variant_name(ctx(), d);
  ASSERT_TRUE(asked.is_ok()) << asked.status().to_string();
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(*asked, plan->variant_name());
  EXPECT_EQ(feature_name(d), "d64v32_f16_causal_win_br_doc_softcap_alibi_bias16_sink_varlen");
  EXPECT_EQ(plan->variant_name().rfind("attn_fwd_" + feature_name(d) + "_bq", 0), 0u) << plan->variant_name();
  // Dv = 32 is a multiple of 16, Dk = 64 too: the coopmat kernel takes it where the device has one.
  EXPECT_NE(plan->variant_name().find(auto_uses_coopmat(ctx()) ? f16_tensor_core_suffix(ctx()) : "_scalar"),
            std::string::npos);
}

// Equal math gives one pipeline: the alignment only enters the name where something uses it.
TEST_F(VariantSemantics, AlignmentOnlyMattersWhereSomethingMeasuresFromTheDiagonal) {
  AttentionDesc d;
  d.dtype = F32;
  d.seq_q = 8;
  d.seq_k = 8;
  d.head_dim = 16;
  d.mask.align = Align::kTopLeft;
  const std::string tl = feature_name(d);
  d.mask.align = Align::kBottomRight;
  EXPECT_EQ(tl, feature_name(d));
  d.score_mod.alibi = Alibi::kPerHead;
  const std::string br = feature_name(d);
  d.mask.align = Align::kTopLeft;
  EXPECT_NE(br, feature_name(d));
}

}  // namespace
}  // namespace vkattn::test
