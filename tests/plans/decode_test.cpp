// Decode and split-K (planning/split_k.hpp; PACK_GQA, ROW_LANES and SPLITS of attn_fwd.comp and
// attn_fwd_cm.comp):
// few query rows per KV head against the fp64 reference with every mask and score_mod, storage
// dtype, layout and sequence mode; forced split counts from 1 to 1024, where most splits see
// nothing; a row longer than llvmpipe's loop budget; the variant names and the override's errors.
#include <gtest/gtest.h>

#include <random>

#include "planning/kernel_path.hpp"
#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

CaseShape decode(std::int64_t b, std::int64_t hq, std::int64_t hkv, std::int64_t sq, std::int64_t sk, std::int64_t d,
                 DType dt, Mask mask, const std::function<void(CaseShape&)>& more = {}) {
  CaseShape c{b, hq, hkv, sq, sk, d, dt, mask, Layout::kBSHD, true};
  if (more) more(c);
  return c;
}

const Mask kWindow = Mask::window(40, 0);

// Sq = 1 ... 16 and GQA ratios 1, 4, 8, 16, each with other features.
const CaseShape kDecodeCases[] = {
    decode(1, 8, 8, 1, 300, 64, F16, kCausalBR),                                    // ratio 1
    decode(2, 16, 4, 1, 513, 64, F16, kCausalBR),                                   // ratio 4
    decode(1, 32, 4, 1, 1000, 128, F16, kCausalBR),                                 // ratio 8 (the decode preset)
    decode(1, 16, 1, 2, 257, 32, F32, kNoMask),                                     // ratio 16
    decode(2, 8, 1, 8, 600, 64, F16, kCausalBR),                                    // 64 rows per KV head
    decode(1, 16, 2, 8, 700, 128, F16, kCausalBR),                                  // 64 rows at D = 128
    decode(1, 4, 1, 16, 300, 32, F32, kCausalBR),                                   // Sq = 16
    decode(1, 8, 2, 3, 200, 64, F32, kCausalTL),                                    // top-left: rows see 1..3 keys
    decode(1, 8, 2, 4, 700, 32, F32, kWindow),                                      // most splits see nothing
    decode(2, 8, 2, 2, 333, 32, F32, kCausalBR, [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
    decode(3, 8, 2, 4, 250, 32, F16, kCausalBR, [](CaseShape& c) { c.seqs = SeqKind::kVarlen; }),
    decode(1, 8, 2, 2, 400, 32, F32, kCausalBR, [](CaseShape& c) { c.mask.documents = true; }),
    decode(1, 8, 2, 2, 400, 32, F32, kCausalBR, [](CaseShape& c) { c.mod.softcap = 30.0f; }),
    decode(1, 8, 2, 2, 400, 32, F32, kCausalBR, [](CaseShape& c) { c.mod.alibi = Alibi::kPerBatchHead; }),
    decode(1, 8, 2, 2, 400, 32, F32, kCausalBR, [](CaseShape& c) { c.mod.rel_pos_max_distance = 50; }),
    decode(2, 8, 2, 2, 300, 32, F16, kCausalBR, [](CaseShape& c) { c.mod.bias = F16, c.bias_full = {true, false, true}; }),
    decode(1, 8, 2, 1, 400, 32, F32, kCausalBR, [](CaseShape& c) { c.mod.sinks = true; }),
    decode(1, 8, 4, 2, 300, 64, F16, kNoMask, [](CaseShape& c) { c.layout = Layout::kBHSD, c.with_lse = false; }),
    decode(1, 8, 4, 2, 300, 64, F32, kNoMask, [](CaseShape& c) { c.layout = Layout::kSBHD, c.head_dim_v = 16; }),
    decode(1, 4, 2, 1, 100, 256, F32, kCausalBR),                                   // D = 256: fewer lanes fit
};

class DecodeTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(DecodeTest, MatchesFp64Reference) {
  check_case(ctx(), GetParam());
  // Decode-shaped problems run packed (GQA) and split on both paths (planning/split_k.hpp): on the
  // coopmat kernel wherever auto takes it (fp16; lavapipe: scalar), with the reason naming decode.
  std::mt19937_64 rng(1);
  Result<AttentionCase> c = AttentionCase::create(ctx(), GetParam(), rng);
  ASSERT_TRUE(c.is_ok());
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(plan.is_ok());
  const std::string& name = plan->variant_name();
  const bool cm = auto_uses_coopmat(ctx()) && GetParam().dtype == DType::kF16 &&
                  ((kCoopmatDecodeByDefault && coopmat_suffix(ctx()) == "_coopmat_khr") ||
                   ctx().options().overrides.path == KernelPath::kCoopmat ||
                   ctx().options().overrides.path == KernelPath::kCoopmatKhr);
  EXPECT_TRUE(name.ends_with(cm ? coopmat_suffix(ctx()) : "_scalar")) << name;
  EXPECT_EQ(name.find("_packgqa") != std::string::npos, GetParam().q_heads > GetParam().kv_heads) << name;
  // The reason names decode on the coopmat path unless VKATTN_PATH chose it (the GPU suite's
  // scalar pass).
  const std::string& reason = plan->path_reason();
  if (auto_uses_coopmat(ctx()) && GetParam().dtype == DType::kF16) {
    EXPECT_TRUE(reason.find("decode") != std::string::npos || reason.find("VKATTN_PATH") != std::string::npos)
        << reason;
  }
}

INSTANTIATE_TEST_SUITE_P(Decode, DecodeTest, ::testing::ValuesIn(kDecodeCases),
                         [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); });

// Forced split counts (options.overrides.splits), decode and prefill shapes: 1 (no workspace),
// counts up to 1024, beyond the key tiles (splits with no tile write LSE = -inf).
class ForcedSplitsTest : public VkTest, public ::testing::WithParamInterface<std::uint32_t> {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (HasFatalFailure()) return;
    ContextOptions o = test_options();
    o.overrides.splits = GetParam();
    ctx_ = make_context(o);
    ASSERT_NE(ctx_, nullptr);
  }
};

TEST_P(ForcedSplitsTest, MatchesFp64Reference) {
  const std::uint32_t splits = GetParam();
  for (const CaseShape& shape : {decode(1, 8, 2, 2, 333, 32, F32, kCausalBR),
                                 decode(2, 4, 4, 100, 150, 32, F16, kCausalTL, [](CaseShape& c) { c.mod.sinks = true; }),
                                 decode(2, 4, 2, 70, 90, 16, F32, kNoMask, [](CaseShape& c) { c.seqs = SeqKind::kVarlen; })}) {
    check_case(ctx(), shape);
    std::mt19937_64 rng(1);
    Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
    ASSERT_TRUE(c.is_ok());
    Result<std::string> name = forward_variant_name(ctx(), c->desc());
    ASSERT_TRUE(name.is_ok());
    if (name->find("_scalar") == std::string::npos) continue;  // a coopmat device takes the prefill shapes
    EXPECT_EQ(name->find("_split" + std::to_string(splits)) != std::string::npos, splits > 1) << *name;
  }
}

INSTANTIATE_TEST_SUITE_P(Splits, ForcedSplitsTest, ::testing::Values(1u, 2u, 16u, 1024u),
                         [](const ::testing::TestParamInfo<std::uint32_t>& p) {
                           return "split" + std::to_string(p.param);
                         });

class LongRowTest : public VkTest {};

// A row longer than llvmpipe's loop budget (65,535 iterations per invocation: about 62k keys at
// D = 8 without a split) runs, split; on other devices it runs as it is.
TEST_F(LongRowTest, RowBeyondLlvmpipeLoopBudget) {
  const CaseShape shape = decode(1, 1, 1, 100, 70'000, 8, F32, kCausalBR);
  check_case(ctx(), shape);
  if (ctx().info().max_loop_iterations == 0) return;
  std::mt19937_64 rng(1);
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok());
  Result<std::string> name = forward_variant_name(ctx(), c->desc());
  ASSERT_TRUE(name.is_ok());
  EXPECT_NE(name->find("_split"), std::string::npos) << *name;
}

// Varlen with no query token at all: decode-shaped, but there is nothing to split or merge.
TEST_F(LongRowTest, EmptyVarlenQueriesPlanWithoutASplit) {
  AttentionDesc d;
  d.dtype = F32, d.batch = 2, d.q_heads = 4, d.kv_heads = 1, d.head_dim = 32;
  d.sequences.cu_seqlens_q = {0, 0, 0};
  d.sequences.cu_seqlens_k = {0, 5000, 9000};
  Result<ForwardPlan> p = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->variant_name().find("_split"), std::string::npos) << p->variant_name();
  // It runs on views of 0 tokens (Q, O and LSE touch nothing, wherever their offset lies in the
  // buffer) and leaves the buffers as they were.
  Result<Tensor> kv = Tensor::create(ctx(), F32, {9000, 1, 32});
  Result<Tensor> small = Tensor::create(ctx(), F32, {4});
  ASSERT_TRUE(kv.is_ok() && small.is_ok());
  ASSERT_TRUE(small->fill(7.0f).is_ok());
  ForwardTensors t;
  t.q = TensorView::contiguous(small->buffer(), 16, F32, {0, 4, 32}, 16);  // at the buffer's end
  t.o = TensorView::contiguous(small->buffer(), 16, F32, {0, 4, 32});
  t.lse = TensorView::contiguous(small->buffer(), 16, F32, {4, 0}, 8);
  t.k = t.v = kv->view();
  const Status s = p->run(t);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(small->download().value(), std::vector<float>(4, 7.0f));
  t.q.offset = 20;  // past the end
  EXPECT_NE(p->run(t).message().find("q.offset = 20 is not inside the buffer"), std::string::npos);
}

class SplitOverrideErrors : public VkTest {};

TEST_F(SplitOverrideErrors, NotAPowerOfTwo) {
  expect_environment_refused("VKATTN_SPLITS", {"3", "2048", "0", "x"},
                             "1, 2, 4, 8, 16, 32, 64, 128, 256, 512 or 1024");
  ContextOptions o = test_options();
  o.overrides.splits = 5;
  Result<std::unique_ptr<Context>> c = Context::create(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("options.overrides.splits = 5"), std::string::npos) << c.status().to_string();
}

TEST_F(SplitOverrideErrors, TooFewSplitsForLlvmpipe) {
  if (ctx().info().max_loop_iterations == 0) GTEST_SKIP() << "device has no loop budget";
  ContextOptions o = test_options();
  o.overrides.splits = 1;
  std::unique_ptr<Context> c = make_context(o);
  ASSERT_NE(c, nullptr);
  AttentionDesc d;
  d.dtype = F32, d.seq_q = 100, d.seq_k = 70'000, d.head_dim = 8;
  Result<ForwardPlan> p = ForwardPlan::create(*c, d);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(p.status().message().find("options.overrides.splits = 1"), std::string::npos) << p.status().to_string();
}

}  // namespace
}  // namespace vkattn::test
