// Bad parameters of masks, score_mods and sequences: an error naming the field and the value,
// nothing recorded, O and LSE bit-for-bit unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr ErrorCode kInvalid = ErrorCode::kInvalidArgument;

// A varlen problem with every mask and score_mod input: B = 2, Hq = 4, Hkv = 2, Sq = 20,
// Sk = 24, D = 32, fp32; bias fp16 [1, Hq, Sq, Sk]; rel-pos M = 8.
CaseShape full_featured() {
  CaseShape c{2, 4, 2, 20, 24, 32, DType::kF32, kCausalBR, Layout::kBHSD, true};
  c.mask.window_left = 6;
  c.mask.documents = true;
  c.seqs = SeqKind::kVarlen;
  c.mod.softcap = 5.0f;
  c.mod.alibi = Alibi::kPerHead;
  c.mod.rel_pos_max_distance = 8;
  c.mod.bias = DType::kF16;
  c.bias_full = {false, true, true};
  c.mod.sinks = true;
  return c;
}

class VariantErrors : public VkTest {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(test_seed());
    Result<AttentionCase> c = AttentionCase::create(ctx(), full_featured(), rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    case_.emplace(std::move(c).value());
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), case_->desc());
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    plan_.emplace(std::move(p).value());
    ASSERT_TRUE(plan_->validate(case_->tensors()).is_ok());
  }
  void TearDown() override {
    plan_.reset();
    case_.reset();
    VkTest::TearDown();
  }

  void expect_desc_error(const std::function<void(AttentionDesc&)>& mutate, const std::string& text) {
    AttentionDesc d = case_->desc();
    mutate(d);
    expect_error_and_untouched(
        *case_, [&] { return ForwardPlan::create(ctx(), d).status(); }, kInvalid, text);
  }
  void expect_run_error(const std::function<void(ForwardTensors&)>& mutate, const std::string& text) {
    ForwardTensors t = case_->tensors();
    mutate(t);
    expect_error_and_untouched(
        *case_, [&] { return plan_->run(t); }, kInvalid, text);
  }

  std::optional<AttentionCase> case_;
  std::optional<ForwardPlan> plan_;
};

TEST_F(VariantErrors, CuSeqlensNotIncreasing) {
  expect_desc_error(
      [](AttentionDesc& d) {
        d.sequences.cu_seqlens_q = {0, 9, 4};
      },
      "desc.sequences.cu_seqlens_q[2] = 4 is less than cu_seqlens_q[1] = 9");
}
TEST_F(VariantErrors, CuSeqlensNotStartingAtZero) {
  expect_desc_error([](AttentionDesc& d) { d.sequences.cu_seqlens_k[0] = 3; }, "desc.sequences.cu_seqlens_k[0] = 3");
}
TEST_F(VariantErrors, CuSeqlensWrongCount) {
  expect_desc_error([](AttentionDesc& d) { d.sequences.cu_seqlens_k.push_back(99); },
                    "desc.sequences.cu_seqlens_k has 4 entries, expected desc.batch + 1 = 3");
}
TEST_F(VariantErrors, CuSeqlensNotEndingAtTheTotal) {
  expect_run_error([](ForwardTensors& t) { t.q.shape[0] += 1; }, "q.shape[0] (Tq = cu_seqlens_q[B]) = ");
  expect_run_error([](ForwardTensors& t) { t.v.shape[0] -= 1; }, "v.shape[0] (Tk = cu_seqlens_k[B]) = ");
}
TEST_F(VariantErrors, VarlenMaxLengthTooSmall) {
  expect_desc_error([](AttentionDesc& d) { d.seq_q = 3; }, "desc.seq_q = 3 is less than the longest query sequence 20");
}
TEST_F(VariantErrors, SeqLensOutOfRange) {
  AttentionDesc d = case_->desc();
  d.sequences = {};
  d.seq_q = 20;
  d.seq_k = 24;
  d.sequences.seq_lens_q = {5, 21};
  expect_error_and_untouched(
      *case_, [&] { return ForwardPlan::create(ctx(), d).status(); }, kInvalid,
      "desc.sequences.seq_lens_q[1] = 21 is outside [0, desc.seq_q = 20]");
  d.sequences.seq_lens_q = {};
  d.sequences.seq_lens_kv = {-1, 3};
  expect_error_and_untouched(
      *case_, [&] { return ForwardPlan::create(ctx(), d).status(); }, kInvalid,
      "desc.sequences.seq_lens_kv[0] = -1 is outside [0, desc.seq_k = 24]");
  d.sequences.seq_lens_kv = {1, 2, 3};
  expect_error_and_untouched(
      *case_, [&] { return ForwardPlan::create(ctx(), d).status(); }, kInvalid,
      "desc.sequences.seq_lens_kv has 3 entries, expected desc.batch = 2");
}
TEST_F(VariantErrors, PaddingAndVarlenTogether) {
  expect_desc_error([](AttentionDesc& d) { d.sequences.seq_lens_q = {1, 1}; }, "desc.sequences has both cu_seqlens");
}
TEST_F(VariantErrors, NegativeWindow) {
  expect_desc_error([](AttentionDesc& d) { d.mask.window_left = -1; }, "desc.mask.window_left = -1 is negative");
  expect_desc_error([](AttentionDesc& d) { d.mask.window_right = -4; }, "desc.mask.window_right = -4 is negative");
}
TEST_F(VariantErrors, BadSoftcap) {
  expect_desc_error([](AttentionDesc& d) { d.score_mod.softcap = 0.0f; }, "desc.score_mod.softcap = 0 ");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.softcap = NAN; }, "desc.score_mod.softcap = nan");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.softcap = INFINITY; }, "desc.score_mod.softcap = inf");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.softcap = -1.0f; }, "desc.score_mod.softcap = -1 ");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.softcap = 3e38f; }, "with c * log2(e) a normal float");
}
TEST_F(VariantErrors, BadEnumsAndParameters) {
  expect_desc_error([](AttentionDesc& d) { d.score_mod.alibi = static_cast<Alibi>(7); }, "desc.score_mod.alibi = 7");
  expect_desc_error([](AttentionDesc& d) { d.mask.align = static_cast<Align>(5); }, "desc.mask.align = 5");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.rel_pos_max_distance = -2; },
                    "desc.score_mod.rel_pos_max_distance = -2");
  expect_desc_error([](AttentionDesc& d) { d.score_mod.bias = DType::kI32; }, "desc.score_mod.bias = i32");
  expect_desc_error([](AttentionDesc& d) { d.head_dim_v = 12; }, "desc.head_dim_v = 12");
  expect_desc_error([](AttentionDesc& d) { d.dtype = DType::kI32; }, "desc.dtype = i32");
}
TEST_F(VariantErrors, SlopesOfTheWrongShape) {
  expect_run_error([](ForwardTensors& t) { t.alibi_slopes->shape[0] = 3; },
                   "alibi_slopes.shape[0] (Hq) = 3, expected 4");
  expect_run_error([](ForwardTensors& t) { t.alibi_slopes->rank = 2; }, "alibi_slopes.rank = 2, expected 1 ([Hq])");
  expect_run_error([](ForwardTensors& t) { t.alibi_slopes->strides[0] = 2; },
                   "alibi_slopes.strides[0] = 2: the Hq dimension must be contiguous");
}
TEST_F(VariantErrors, TableOfTheWrongShape) {
  expect_run_error([](ForwardTensors& t) { t.rel_pos_table->shape[1] = 9; },
                   "rel_pos_table.shape[1] (2M + 1) = 9, expected 17");
  expect_run_error([](ForwardTensors& t) { t.rel_pos_table->strides[0] = 20; },
                   "rel_pos_table.strides[0] = 20, expected 17 (rel_pos_table must be contiguous)");
}
TEST_F(VariantErrors, BiasOfTheWrongShapeOrDtype) {
  expect_run_error([](ForwardTensors& t) { t.bias->shape[2] = 3; }, "bias.shape[2] (Sq) = 3, expected 20 or 1");
  expect_run_error([](ForwardTensors& t) { t.bias->shape[3] = 1; }, "bias.shape[3] (Sk) = 1, expected 24");
  expect_run_error([](ForwardTensors& t) { t.bias->dtype = DType::kF32; }, "bias.dtype = f32, expected f16");
  expect_run_error([](ForwardTensors& t) { t.bias->strides[3] = 2; }, "bias.strides[3] = 2");
}
TEST_F(VariantErrors, DocumentIdsTooSmallOrOfTheWrongType) {
  expect_run_error([](ForwardTensors& t) { t.doc_ids_kv->buffer_size -= 4; }, "doc_ids_kv.buffer_size = ");
  expect_run_error([](ForwardTensors& t) { t.doc_ids_q->shape[0] -= 1; }, "doc_ids_q.shape[0] (Tq) = ");
  expect_run_error([](ForwardTensors& t) { t.doc_ids_q->dtype = DType::kF32; }, "doc_ids_q.dtype = f32, expected i32");
}
TEST_F(VariantErrors, MissingInputs) {
  expect_run_error([](ForwardTensors& t) { t.sinks.reset(); }, "sinks is missing (desc.score_mod.sinks is set)");
  expect_run_error([](ForwardTensors& t) { t.doc_ids_kv.reset(); },
                   "doc_ids_kv is missing (desc.mask.documents is set)");
  expect_run_error([](ForwardTensors& t) { t.bias.reset(); }, "bias is missing (desc.score_mod.bias is set)");
}
TEST_F(VariantErrors, InputGivenForAFeatureThatIsOff) {
  AttentionDesc d = case_->desc();
  d.score_mod.sinks = false;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  expect_error_and_untouched(
      *case_, [&] { return plan->run(case_->tensors()); }, kInvalid,
      "sinks is given but desc.score_mod.sinks is not set");
}
TEST_F(VariantErrors, VarlenLseOfTheWrongShape) {
  expect_run_error([](ForwardTensors& t) { t.lse->rank = 3; }, "lse.rank = 3, expected 2 ([Hq, Tq])");
}
TEST_F(VariantErrors, OutputOverlapsAnAuxiliaryInput) {
  expect_run_error(
      [&](ForwardTensors& t) {
        t.lse->buffer = t.rel_pos_table->buffer;
        t.lse->buffer_size = 1 << 20;
      },
      "lse (bytes 0..");
}

}  // namespace
}  // namespace vkattn::test
