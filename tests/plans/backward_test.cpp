// Backward (dQ, dK, dV) against the fp64 reference: every mask and score_mod alone, GQA, varlen,
// padding, Dk != Dv, layouts, fp16, and a sample of combinations; determinism; and finite
// differences of the fp64 forward on tiny sizes (checks the reference's own derivatives).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "support/backward_case.hpp"
#include "support/variant_sampler.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

// B = 2, Hq = 2, Sq = 50, Sk = 70, D = 32, fp32, BHSD.
const CaseShape kBase{2, 2, 2, 50, 70, 32, F32, kNoMask, Layout::kBHSD, true};

std::vector<CaseShape> single_features() {
  return {
      kBase,
      make(kBase, [](CaseShape& c) { c.mask = kCausalTL; }),
      make(kBase, [](CaseShape& c) { c.mask = kCausalBR, c.seq_q = 70, c.seq_k = 30; }),  // empty rows
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(12, 5, Align::kBottomRight); }),
      make(kBase, [](CaseShape& c) { c.mask = Mask::window(0, 9, Align::kTopLeft); }),
      // a slice of a longer sequence (partial attention: mask.hpp's offsets)
      make(kBase, [](CaseShape& c) { c.mask = kCausalTL, c.mask.q_offset = 60, c.mask.k_offset = 35; }),
      make(kBase, [](CaseShape& c) { c.mod.alibi = Alibi::kPerHead, c.mask.q_offset = 9, c.mask.k_offset = 30; }),
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kPadded; }),
      make(kBase, [](CaseShape& c) { c.mask.documents = true; }),
      make(kBase, [](CaseShape& c) { c.mod.softcap = 0.4f; }),
      make(kBase, [](CaseShape& c) { c.mod.softcap = 1e6f, c.seq_k = 71; }),  // tanh(s / c) with s / c ~ 1e-6
      make(kBase, [](CaseShape& c) { c.mod.alibi = Alibi::kPerBatchHead; }),
      make(kBase, [](CaseShape& c) { c.mod.rel_pos_max_distance = 6; }),
      make(kBase,
           [](CaseShape& c) {
             c.mod.bias = F16, c.bias_full = {false, true, true};
           }),
      make(kBase, [](CaseShape& c) { c.mod.sinks = true; }),
      make(kBase, [](CaseShape& c) { c.q_heads = 4, c.kv_heads = 1, c.mask = kCausalBR; }),  // GQA 4:1
      make(kBase, [](CaseShape& c) { c.seqs = SeqKind::kVarlen, c.batch = 3, c.mask = kCausalBR; }),
      make(kBase, [](CaseShape& c) { c.head_dim = 64, c.head_dim_v = 32, c.layout = Layout::kBSHD; }),
      make(kBase, [](CaseShape& c) { c.dtype = F16, c.head_dim = 64, c.layout = Layout::kSBHD, c.mask = kCausalTL; }),
      make(kBase, [](CaseShape& c) { c.dtype = F16, c.seqs = SeqKind::kVarlen, c.q_heads = 4; }),
  };
}

class BackwardTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(BackwardTest, MatchesFp64Reference) { check_backward_case(ctx(), GetParam()); }

const auto kName = [](const ::testing::TestParamInfo<CaseShape>& p) { return p.param.name(); };
INSTANTIATE_TEST_SUITE_P(Single, BackwardTest, ::testing::ValuesIn(single_features()), kName);
// The same sample of the combination matrix as forward_variants_test.
INSTANTIATE_TEST_SUITE_P(Combined, BackwardTest, ::testing::ValuesIn(sample_variant_cases(kVariantSampleSeed, 24)),
                         kName);

class BackwardSemantics : public VkTest {};

// Deterministic mode: two runs give bitwise identical gradients (GQA, so dK/dV sum heads).
TEST_F(BackwardSemantics, DeterministicRunsAreBitwiseEqual) {
  std::mt19937_64 rng(test_seed());
  const CaseShape shape = make(kBase, [](CaseShape& c) { c.q_heads = 4, c.kv_heads = 2, c.mask = kCausalBR; });
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), c->fwd.desc(), {Determinism::kDeterministic});
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  std::vector<std::vector<std::byte>> first;
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(c->poison().is_ok());
    ASSERT_TRUE(plan->run(c->tensors()).is_ok());
    std::vector<std::vector<std::byte>> grads;
    for (const Tensor* t : {&*c->dq_dev, &*c->dk_dev, &*c->dv_dev}) grads.push_back(t->download_bytes().value());
    if (run == 0)
      first = grads;
    else
      EXPECT_EQ(grads, first) << "gradients differ between runs";
  }
  run_backward_and_compare(ctx(), *c, {Determinism::kDeterministic});  // and they are the reference's
}

// Q, K, V and dO whose rows do not start on 16 bytes (each moved by one element into a buffer
// of its own) give bitwise the gradients of the aligned views: on a coopmat device the aligned
// call runs the WIDE_ROWS kernels and this one the general ones, with the same arithmetic. (A
// coopmat2 plan runs its coopmat fallback for the moved call, with other tiles and another
// summation order: those gradients are checked against the reference instead.)
TEST_F(BackwardSemantics, RowsOffTheSixteenByteGridGiveTheSameGradients) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const CaseShape shape = make(
      kBase, [](CaseShape& c) { c.dtype = F16, c.head_dim = 32, c.q_heads = 4, c.kv_heads = 2, c.mask = kCausalBR; });
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), c->fwd.desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  run_backward_and_compare(ctx(), *c);  // the aligned views, against the reference
  std::vector<std::vector<std::byte>> aligned;
  for (const Tensor* t : {&*c->dq_dev, &*c->dk_dev, &*c->dv_dev}) aligned.push_back(t->download_bytes().value());

  BackwardTensors t = c->tensors();
  std::vector<Tensor> moved;
  for (TensorView* view : {&t.q, &t.k, &t.v, &t.d_o}) {
    std::vector<std::byte> bytes;  // the buffer the view points into, read back
    for (const Tensor* owner : {&*c->fwd.q_dev, &*c->fwd.k_dev, &*c->fwd.v_dev, &*c->do_dev}) {
      if (owner->buffer() == view->buffer) bytes = owner->download_bytes().value();
    }
    ASSERT_EQ(bytes.size(), view->buffer_size);
    bytes.insert(bytes.begin(), 2, std::byte{0x55});  // one fp16 element in front
    bytes.resize(bytes.size() + 16, std::byte{0x55});
    Result<Tensor> dst = Tensor::create_bytes(ctx(), bytes.size(), view->dtype);
    ASSERT_TRUE(dst.is_ok()) << dst.status().to_string();
    ASSERT_TRUE(dst->upload_bytes(bytes).is_ok());
    view->buffer = dst->buffer();
    view->buffer_size = bytes.size();
    view->offset += 2;
    moved.push_back(std::move(dst).value());
  }
  ASSERT_TRUE(c->poison().is_ok());
  const Status run = plan->run(t);
  ASSERT_TRUE(run.is_ok()) << run.to_string();
  if (plan->variant_name().ends_with("_coopmat2")) {
    compare_backward(*c);
    return;
  }
  const char* names[] = {"dq", "dk", "dv"};
  std::size_t n = 0;
  for (const Tensor* g : {&*c->dq_dev, &*c->dk_dev, &*c->dv_dev}) {
    EXPECT_EQ(g->download_bytes().value(), aligned[n]) << names[n] << " differs from the aligned views' gradients";
    ++n;
  }
}

// The fast mode is a valid choice with the same results (the scalar path has no atomics to use).
TEST_F(BackwardSemantics, FastModeMatchesTheReference) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const CaseShape shape =
      make(kBase, [](CaseShape& c) { c.q_heads = 4, c.kv_heads = 1, c.mod.rel_pos_max_distance = 3; });
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_backward_and_compare(ctx(), *c, {Determinism::kFast});
}

// Rows that see nothing (bottom-right causal with Sq > Sk: rows i < Sq - Sk; padded rows) get
// exactly zero dQ, and keys nobody sees exactly zero dK and dV; nothing is NaN.
TEST_F(BackwardSemantics, FullyMaskedRowsHaveZeroGradients) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CaseShape shape{2, 2, 1, 70, 30, 16, F32, Mask::window(3, 0, Align::kBottomRight), Layout::kBHSD, true};
  shape.mask.causal = true;
  shape.mod.sinks = true;  // LSE is finite on empty rows, but they still have no gradient
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  run_backward_and_compare(ctx(), *c);
  const std::vector<float> dq = c->download(*c->dq_dev, Role::kQ);
  ASSERT_EQ(dq.size(), static_cast<std::size_t>(shape.batch * shape.q_heads * shape.seq_q * shape.head_dim));
  const std::int64_t D = shape.head_dim, empty_rows = shape.seq_q - shape.seq_k;
  for (std::int64_t bh = 0; bh < shape.batch * shape.q_heads; ++bh)
    for (std::int64_t i = 0; i < shape.seq_q; ++i)
      for (std::int64_t d = 0; d < D; ++d) {
        const float x = dq[static_cast<std::size_t>((bh * shape.seq_q + i) * D + d)];
        ASSERT_FALSE(std::isnan(x));
        if (i < empty_rows) {
          ASSERT_EQ(x, 0.0f) << "row " << i;
        }
      }
  for (const Tensor* t : {&*c->dk_dev, &*c->dv_dev}) {
    const std::vector<float> values = t->download().value();  // a copy: the Result is a temporary
    for (float x : values) ASSERT_FALSE(std::isnan(x));
  }
}

// Central differences of L = sum(O * dO) through the fp64 forward, against the GPU gradients of
// Q, K, V and of every parameter (bias, relative-position table, sinks): softcap (through tanh),
// ALiBi, relative positions, bias and a sink all on.
TEST_F(BackwardSemantics, GradientsMatchFiniteDifferences) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  CaseShape shape{1, 2, 1, 4, 6, 8, F32, kCausalBR, Layout::kBHSD, true};
  shape.mod.softcap = 0.5f;
  shape.mod.alibi = Alibi::kPerHead;
  shape.mod.rel_pos_max_distance = 2;
  shape.mod.bias = F32;
  shape.mod.sinks = true;
  Result<BackwardCase> c = BackwardCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), c->fwd.desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());

  std::vector<double> q(c->fwd.q.begin(), c->fwd.q.end()), k(c->fwd.k.begin(), c->fwd.k.end()),
      v(c->fwd.v.begin(), c->fwd.v.end());
  RefProblem rp = c->fwd.ref;  // its bias, table and sinks are perturbed below
  auto loss = [&]() { return reference_loss(*c, rp, q, k, v); };
  auto finite_difference = [&](std::vector<double>& x) { return central_differences(x, loss); };
  const Tolerance tol{1e-4, 1e-3};  // fp32 kernel against fp64 differences (h = 1e-6: error ~1e-9)
  expect_close(c->download(*c->dq_dev, Role::kQ), finite_difference(q), tol, "dQ vs finite differences");
  expect_close(c->download(*c->dk_dev, Role::kK), finite_difference(k), tol, "dK vs finite differences");
  expect_close(c->download(*c->dv_dev, Role::kV), finite_difference(v), tol, "dV vs finite differences");
  expect_close(c->dbias_dev->download().value(), finite_difference(rp.bias), tol, "dbias vs finite differences");
  expect_close(c->dtable_dev->download().value(), finite_difference(rp.table), tol,
               "drel_pos_table vs finite differences");
  expect_close(c->dsinks_dev->download().value(), finite_difference(rp.sinks), tol, "dsinks vs finite differences");
}

}  // namespace
}  // namespace vkattn::test
