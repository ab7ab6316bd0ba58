// Bad input to the forward pass: a clear error naming the field and the value, and every output
// buffer bit-for-bit unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class ForwardErrors : public VkTest {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(test_seed());
    CaseShape shape{1, 2, 2, 20, 24, 32, DType::kF32, kNoMask, Layout::kBHSD, true};
    Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
    ASSERT_TRUE(c.is_ok());
    case_.emplace(std::move(c).value());
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), case_->desc());
    ASSERT_TRUE(p.is_ok());
    plan_.emplace(std::move(p).value());
  }
  void TearDown() override {
    plan_.reset();
    case_.reset();
    VkTest::TearDown();
  }

  // Applies `mutate` to valid tensors, runs, and checks the error and untouched outputs.
  void expect_run_error(const std::function<void(ForwardTensors&)>& mutate, ErrorCode code, const std::string& text) {
    ForwardTensors t = case_->tensors();
    mutate(t);
    expect_untouched([&] { return plan_->run(t); }, code, text);
  }

  void expect_desc_error(const std::function<void(AttentionDesc&)>& mutate, ErrorCode code, const std::string& text) {
    AttentionDesc d = case_->desc();
    mutate(d);
    expect_untouched([&] { return ForwardPlan::create(ctx(), d).status(); }, code, text);
  }

  void expect_untouched(const std::function<Status()>& call, ErrorCode code, const std::string& text) {
    expect_error_and_untouched(*case_, call, code, text);
  }

  std::optional<AttentionCase> case_;
  std::optional<ForwardPlan> plan_;
};

constexpr ErrorCode kInvalid = ErrorCode::kInvalidArgument;

TEST_F(ForwardErrors, HeadDimNotMultipleOf8) {
  expect_desc_error([](AttentionDesc& d) { d.head_dim = 12; }, kInvalid, "desc.head_dim = 12");
}
TEST_F(ForwardErrors, HeadDimAbove256) {
  expect_desc_error([](AttentionDesc& d) { d.head_dim = 264; }, kInvalid, "desc.head_dim = 264");
}
TEST_F(ForwardErrors, KvHeadsDoNotDivideQueryHeads) {
  expect_desc_error([](AttentionDesc& d) { d.q_heads = 4, d.kv_heads = 3; }, kInvalid, "desc.kv_heads = 3");
}
TEST_F(ForwardErrors, ZeroSizedDimension) {
  expect_desc_error([](AttentionDesc& d) { d.seq_q = 0; }, kInvalid, "desc.seq_q = 0");
  expect_desc_error([](AttentionDesc& d) { d.batch = 0; }, kInvalid, "desc.batch = 0");
}
// batch x heads past 2^31, including products that wrap around 64 bits (2^32 x 2^32 = 0, and
// 5 x 3689348814741910324 = 4), refused by the factors' values.
TEST_F(ForwardErrors, BatchTimesHeadsTooLarge) {
  expect_desc_error([](AttentionDesc& d) { d.batch = d.q_heads = d.kv_heads = std::int64_t{1} << 32; }, kInvalid,
                    "desc.batch = 4294967296 * desc.q_heads = 4294967296 exceeds 2^31 ((batch, head) pairs)");
  expect_desc_error([](AttentionDesc& d) { d.batch = 5, d.q_heads = d.kv_heads = 3689348814741910324; }, kInvalid,
                    "desc.batch = 5 * desc.q_heads = 3689348814741910324 exceeds 2^31");
}
TEST_F(ForwardErrors, NonFiniteScale) {
  expect_desc_error([](AttentionDesc& d) { d.scale = NAN; }, kInvalid, "desc.scale = nan");
  expect_desc_error([](AttentionDesc& d) { d.scale = INFINITY; }, kInvalid, "desc.scale = inf");
  expect_desc_error([](AttentionDesc& d) { d.scale = 3e38f; }, kInvalid, "desc.scale = 3e+38 (|scale| * log2(e) must be");
  expect_desc_error([](AttentionDesc& d) { d.scale = -1e38f; }, kInvalid, "desc.scale = -1e+38");
  expect_desc_error([](AttentionDesc& d) { d.scale = 1.3e19f; }, kInvalid, "at most 2^64");
}
// Rows past llvmpipe's loop budget are split over more workgroups (decode_test.cpp runs one); only
// a row longer than the largest split count can serve is refused.
TEST_F(ForwardErrors, RowLongerThanLlvmpipeLoopBudgetAtMostSplits) {
  if (ctx().info().max_loop_iterations == 0) GTEST_SKIP() << "device has no loop budget";
  expect_desc_error([](AttentionDesc& d) { d.seq_k = 200'000'000; }, ErrorCode::kUnsupported,
                    "desc.seq_k = 200000000 needs more than 1024 splits");
}
TEST_F(ForwardErrors, MaskOffsetsOutOfRange) {
  expect_desc_error([](AttentionDesc& d) { d.mask.q_offset = -1; }, kInvalid, "desc.mask.q_offset = -1");
  expect_desc_error([](AttentionDesc& d) { d.mask.k_offset = (std::int64_t{1} << 28) + 1; }, kInvalid,
                    "desc.mask.k_offset = 268435457");
}
TEST_F(ForwardErrors, ShapeMismatch) {
  expect_run_error([](ForwardTensors& t) { t.q.shape[2] = 10; }, kInvalid, "q.shape[2] (Sq) = 10, expected 20");
  expect_run_error([](ForwardTensors& t) { t.v.shape[1] = 1; }, kInvalid, "v.shape[1] (Hkv) = 1, expected 2");
}
TEST_F(ForwardErrors, DtypeMismatch) {
  expect_run_error([](ForwardTensors& t) { t.k.dtype = DType::kF16; }, kInvalid, "k.dtype = f16, expected f32");
  // A value outside the enum (from C, say) is named by its number.
  expect_run_error([](ForwardTensors& t) { t.k.dtype = static_cast<DType>(99); }, kInvalid,
                   "k.dtype = 99 (not a DType), expected f32");
  expect_desc_error([](AttentionDesc& d) { d.dtype = static_cast<DType>(99); }, kInvalid,
                    "desc.dtype = 99 (not a DType) (must be f32, f16 or bf16)");
}
TEST_F(ForwardErrors, NullBuffer) {
  expect_run_error([](ForwardTensors& t) { t.v.buffer = VK_NULL_HANDLE; }, kInvalid, "v.buffer is VK_NULL_HANDLE");
}
TEST_F(ForwardErrors, BufferTooSmall) {
  expect_run_error([](ForwardTensors& t) { t.q.buffer_size -= 4; }, kInvalid, "q.buffer_size = 5116");
}
TEST_F(ForwardErrors, StridesReachOutsideTheBuffer) {
  expect_run_error([](ForwardTensors& t) { t.k.strides[1] *= 2; }, kInvalid, "k: the view reaches byte");
}
// Offsets and strides whose byte arithmetic would wrap 64 bits: refused, never bound.
TEST_F(ForwardErrors, OffsetsAndStridesThatWrap) {
  expect_run_error([](ForwardTensors& t) { t.k.offset = ~VkDeviceSize{511}; }, kInvalid,
                   "k.offset = 18446744073709551104 is not inside the buffer");
  expect_run_error([](ForwardTensors& t) { t.o.offset = VkDeviceSize{1} << 63; }, kInvalid,
                   "o.offset = 9223372036854775808 is not inside the buffer");
  expect_run_error([](ForwardTensors& t) { t.v.strides[1] = std::numeric_limits<std::int64_t>::max(); }, kInvalid,
                   "v: the view's extent (sum of (shape - 1) * stride) overflows 64 bits");
  expect_run_error([](ForwardTensors& t) { t.v.strides[1] = std::int64_t{1} << 62; }, kInvalid,
                   "v: the view reaches byte 2^64 or beyond");
}
TEST_F(ForwardErrors, MisalignedOffset) {
  expect_run_error([](ForwardTensors& t) { t.q.offset = 2; }, kInvalid, "q.offset = 2 bytes");
}
TEST_F(ForwardErrors, HeadDimNotContiguous) {
  expect_run_error([](ForwardTensors& t) { t.q.strides[3] = 2; }, kInvalid, "q.strides[3] = 2");
}
TEST_F(ForwardErrors, NegativeStride) {
  expect_run_error([](ForwardTensors& t) { t.k.strides[2] = -32; }, kInvalid, "k.strides[2] = -32");
}
TEST_F(ForwardErrors, WrongRank) {
  expect_run_error([](ForwardTensors& t) { t.o.rank = 3; }, kInvalid, "o.rank = 3, expected 4");
}
TEST_F(ForwardErrors, OutputOverlapsInput) {
  expect_run_error([](ForwardTensors& t) { t.o = t.q; }, kInvalid, "o (bytes 0..5120) overlaps q");
}
TEST_F(ForwardErrors, OutputElementsOverlapEachOther) {
  expect_run_error([](ForwardTensors& t) { t.o.strides[2] = 0; }, kInvalid,
                   "o: strides make distinct elements overlap");
}
TEST_F(ForwardErrors, LseMissingOrUnexpected) {
  expect_run_error([](ForwardTensors& t) { t.lse.reset(); }, kInvalid, "lse is missing");
  expect_run_error([](ForwardTensors& t) { t.lse->shape[2] = 3; }, kInvalid, "lse.shape[2] (Sq) = 3, expected 20");
}
TEST_F(ForwardErrors, LseGivenToAPlanThatWritesNone) {
  AttentionDesc d = case_->desc();
  d.write_lse = false;
  Result<ForwardPlan> no_lse = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(no_lse.is_ok()) << no_lse.status().to_string();
  expect_untouched([&] { return no_lse->run(case_->tensors()); }, kInvalid,
                   "lse is given but the plan does not write LSE");
}
// Bad tensors recorded into a live command buffer, which is then submitted: the error comes back
// from record() and the submission changes no buffer (nothing was recorded).
TEST_F(ForwardErrors, RecordIntoALiveCommandBufferRecordsNothing) {
  ForwardTensors t = case_->tensors();
  t.o = t.q;
  expect_untouched(
      [&] {
        Status recorded;
        const Status submitted = ctx().submit_and_wait([&](VkCommandBuffer cmd) { recorded = plan_->record(cmd, t); });
        EXPECT_TRUE(submitted.is_ok()) << submitted.to_string();
        return recorded;
      },
      kInvalid, "o (bytes 0..5120) overlaps q");
}
TEST_F(ForwardErrors, RecordRejectsANullCommandBuffer) {
  expect_untouched([&] { return plan_->record(VK_NULL_HANDLE, case_->tensors()); }, kInvalid, "cmd is VK_NULL_HANDLE");
}

TEST(Fp16OutputErrors, OddRowStrideOfAnFp16Output) {
  LogCapture log;
  ContextOptions o;
  o.enable_validation = true;
  o.log = log.callback();
  o.pipeline_cache.persist = false;
  auto ctx = Context::create(o);
  ASSERT_TRUE(ctx.is_ok());
  {
    std::mt19937_64 rng(test_seed());
    CaseShape shape{1, 1, 1, 4, 4, 8, DType::kF16, kNoMask, Layout::kBHSD, true};
    Result<AttentionCase> c = AttentionCase::create(**ctx, shape, rng);
    ASSERT_TRUE(c.is_ok());
    Result<ForwardPlan> plan = ForwardPlan::create(**ctx, c->desc());
    ASSERT_TRUE(plan.is_ok());
    ForwardTensors t = c->tensors();
    t.o.strides[2] = 9;  // rows start at odd elements: two rows would share a 32-bit word
    // Claims more than O's 64 bytes so that the bounds check passes and the stride is what
    // fails; the call must fail before anything runs.
    t.o.buffer_size = 1024;
    expect_error_and_untouched(
        *c, [&] { return plan->run(t); }, ErrorCode::kInvalidArgument, "o.strides[2] = 9 must be even");
  }
  ctx.value().reset();
  expect_no_validation_messages(log);
}

}  // namespace
}  // namespace vkattn::test
