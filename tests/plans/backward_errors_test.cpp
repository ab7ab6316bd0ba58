// Bad input specific to the backward: an error naming the field and the value, nothing recorded,
// every gradient buffer bit-for-bit unchanged.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "support/backward_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr ErrorCode kInvalid = ErrorCode::kInvalidArgument;

class BackwardErrors : public VkTest {
 protected:
  void SetUp() override {
    VkTest::SetUp();
    if (HasFatalFailure()) return;
    std::mt19937_64 rng(test_seed());
    // B = 2, Hq = 4, Hkv = 2, Sq = 20, Sk = 24, D = 32, fp32; bias [1, Hq, Sq, Sk], M = 4, sinks.
    CaseShape shape{2, 4, 2, 20, 24, 32, DType::kF32, kCausalBR, Layout::kBHSD, true};
    shape.mod.bias = DType::kF32;
    shape.bias_full = {false, true, true};
    shape.mod.rel_pos_max_distance = 4;
    shape.mod.sinks = true;
    Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    case_.emplace(std::move(c).value());
    Result<BackwardPlan> p = BackwardPlan::create(ctx(), case_->fwd.desc());
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    plan_.emplace(std::move(p).value());
    ASSERT_TRUE(plan_->validate(case_->tensors()).is_ok()) << plan_->validate(case_->tensors()).to_string();
  }
  void TearDown() override {
    plan_.reset();
    case_.reset();
    VkTest::TearDown();
  }

  // Every buffer of the case, inputs included (a bad view may alias one).
  std::vector<std::vector<std::byte>> buffers() const {
    std::vector<const Tensor*> all = case_->fwd.device_tensors();
    for (const std::optional<Tensor>* t : {&case_->do_dev, &case_->dq_dev, &case_->dk_dev, &case_->dv_dev,
                                           &case_->dbias_dev, &case_->dtable_dev, &case_->dsinks_dev}) {
      all.push_back(&t->value());
    }
    return download_all(all);
  }

  void expect_untouched(const std::function<Status()>& call, ErrorCode code, const std::string& text) {
    const auto before = buffers();
    const Status s = call();
    ASSERT_FALSE(s.is_ok()) << "expected an error containing \"" << text << "\"";
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_NE(s.message().find(text), std::string::npos) << "message: " << s.message() << "\nexpected: " << text;
    EXPECT_TRUE(buffers() == before) << "a buffer of the case was written";
  }
  void expect_run_error(const std::function<void(BackwardTensors&)>& mutate, const std::string& text) {
    BackwardTensors t = case_->tensors();
    mutate(t);
    expect_untouched([&] { return plan_->run(t); }, kInvalid, text);
  }

  std::optional<BackwardCase> case_;
  std::optional<BackwardPlan> plan_;
};

TEST_F(BackwardErrors, DoShapeOrDtypeNotMatchingO) {
  expect_run_error([](BackwardTensors& t) { t.d_o.shape[2] = 10; }, "d_o.shape[2] (Sq) = 10, expected 20");
  expect_run_error([](BackwardTensors& t) { t.d_o.dtype = DType::kF16; }, "d_o.dtype = f16, expected f32");
  expect_run_error([](BackwardTensors& t) { t.d_o.strides[3] = 2; }, "d_o.strides[3] = 2");
}
TEST_F(BackwardErrors, LseMissingOrOfTheWrongShape) {
  expect_run_error([](BackwardTensors& t) { t.lse.buffer = VK_NULL_HANDLE; }, "lse.buffer is VK_NULL_HANDLE");
  expect_run_error([](BackwardTensors& t) { t.lse.shape[2] = 5; }, "lse.shape[2] (Sq) = 5, expected 20");
  expect_run_error([](BackwardTensors& t) { t.lse.dtype = DType::kF16; }, "lse.dtype = f16, expected f32");
  expect_run_error([](BackwardTensors& t) { t.lse.rank = 2; }, "lse.rank = 2, expected 3");
}
TEST_F(BackwardErrors, GradientBuffersTooSmallOrMisshaped) {
  expect_run_error([](BackwardTensors& t) { t.dq.buffer_size -= 4; }, "dq.buffer_size = ");
  expect_run_error([](BackwardTensors& t) { t.dk.shape[1] = 4; }, "dk.shape[1] (Hkv) = 4, expected 2");
  expect_run_error([](BackwardTensors& t) { t.dv.dtype = DType::kF16; }, "dv.dtype = f16, expected f32");
  expect_run_error([](BackwardTensors& t) { t.dbias->shape[1] = 1; },
                   "dbias.shape[1] (Hq or 1, as bias) = 1, expected 4");
  expect_run_error([](BackwardTensors& t) { t.dbias->dtype = DType::kF16; }, "dbias.dtype = f16, expected f32");
  expect_run_error([](BackwardTensors& t) { t.drel_pos_table->shape[1] = 7; },
                   "drel_pos_table.shape[1] (2M + 1) = 7, expected 9");
  expect_run_error([](BackwardTensors& t) { t.dsinks->buffer_size = 8; }, "dsinks.buffer_size = 8");
}
TEST_F(BackwardErrors, GradientsAliasingInputsOrEachOther) {
  expect_run_error([](BackwardTensors& t) { t.dq = t.q; }, "dq (bytes 0..");
  expect_run_error([](BackwardTensors& t) { t.dv.buffer = t.d_o.buffer, t.dv.buffer_size = t.d_o.buffer_size; },
                   "overlaps d_o");
  expect_run_error([](BackwardTensors& t) { t.dk.buffer = t.dq.buffer, t.dk.buffer_size = t.dq.buffer_size; },
                   "overlaps dq");
  expect_run_error(
      [](BackwardTensors& t) {
        t.dsinks->buffer = t.dq.buffer;
        t.dsinks->buffer_size = t.dq.buffer_size;
      },
      "dsinks overlaps dq, dk or dv");
  expect_run_error(
      [](BackwardTensors& t) {
        t.dsinks->buffer = t.lse.buffer;
        t.dsinks->buffer_size = t.lse.buffer_size;
      },
      "overlaps lse");
}
TEST_F(BackwardErrors, ParameterGradientWithoutItsScoreMod) {
  AttentionDesc d = case_->fwd.desc();
  d.score_mod.sinks = false;
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  BackwardTensors t = case_->tensors();
  t.sinks.reset();
  expect_untouched([&] { return plan->run(t); }, kInvalid, "dsinks is given but desc.score_mod.sinks is not set");
}
TEST_F(BackwardErrors, BadOptionsAndCommandBuffer) {
  expect_untouched(
      [&] { return BackwardPlan::create(ctx(), case_->fwd.desc(), {static_cast<Determinism>(7)}).status(); }, kInvalid,
      "options.determinism = 7");
  expect_untouched([&] { return plan_->record(VK_NULL_HANDLE, case_->tensors()); }, kInvalid, "cmd is VK_NULL_HANDLE");
  AttentionDesc d = case_->fwd.desc();
  d.mask.window_left = -3;
  expect_untouched([&] { return BackwardPlan::create(ctx(), d).status(); }, kInvalid, "desc.mask.window_left = -3");
}

}  // namespace
}  // namespace vkattn::test
