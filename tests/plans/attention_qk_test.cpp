// QK-norm and RoPE inside attention (AttentionDesc::qk): the forward and the backward of attention
// over the transformed Q and K against the fp64 reference (tests/support/qk_reference.hpp, then
// reference_forward / reference_backward), with GQA, masks, varlen and the default positions
// (key j at j, query i at its aligned diagonal), a positions tensor, a 2D grid, fp16; the weights'
// gradients; the variant name; and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support/attention_case.hpp"
#include "support/qk_reference.hpp"
#include "support/test_tensors.hpp"
#include "support/tolerances.hpp"
#include "support/vk_test.hpp"
#include "vkattn/backward.hpp"

namespace vkattn::test {
namespace {

constexpr DType F32 = DType::kF32;
constexpr DType F16 = DType::kF16;

struct QKShape {
  std::string name;
  CaseShape shape;
  QKTransform qk;
  bool backward = true;
};

// One run: the case, its weights and positions on the device, and the reference's Q' and K'.
struct QKRun {
  std::optional<AttentionCase> c;
  std::vector<float> qw, kw;
  std::vector<std::int32_t> qpos, kpos;  // dense [B, S] (what the reference uses, given or default)
  std::optional<Tensor> qw_dev, kw_dev, qpos_dev, kpos_dev;
  RefQK q_ref, k_ref;
  std::vector<double> q_t, k_t;  // Q', K' dense [B, H, S, D]
  // Elements of Q', K' whose fp64 value lies on a rounding midpoint of the storage type to within
  // fp32's error: the pre-pass (fp32) may round them to the other neighbour. 0 elsewhere, else
  // the size of that one-ulp step.
  std::vector<double> q_step, k_step;

  ForwardTensors tensors() const {
    ForwardTensors t = c->tensors();
    if (qw_dev) t.q_norm_weight = qw_dev->view();
    if (kw_dev) t.k_norm_weight = kw_dev->view();
    const CaseShape& s = c->shape;
    const bool varlen = s.seqs == SeqKind::kVarlen;
    if (qpos_dev) {
      t.q_positions = varlen ? qpos_dev->view() : TensorView::contiguous(qpos_dev->buffer(), qpos_dev->size_bytes(), DType::kI32, {s.batch, s.seq_q});
      t.k_positions = varlen ? kpos_dev->view() : TensorView::contiguous(kpos_dev->buffer(), kpos_dev->size_bytes(), DType::kI32, {s.batch, s.seq_k});
    }
    return t;
  }
};

// For each element: the step to the other neighbour where y (fp64) is within 2^-17 |y| of the
// midpoint between its rounding `stored` and that neighbour, else 0. fp32 keeps the transform's
// error well inside that (a norm; a rotation whose fp32 angle, position times frequency, is
// off by a few ulps of the angle), so outside the window both round alike.
std::vector<double> midpoint_steps(const std::vector<double>& y, const std::vector<float>& stored, DType dtype) {
  std::vector<double> step(y.size(), 0.0);
  if (dtype == DType::kF32) return step;
  const int mantissa = dtype == DType::kF16 ? 10 : 7;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double r = stored[i];
    if (r == 0.0 || !std::isfinite(r)) continue;
    const double ulp = std::ldexp(1.0, std::ilogb(r) - mantissa);
    if (ulp / 2 - std::abs(y[i] - r) < std::ldexp(std::abs(y[i]), -17)) step[i] = ulp;
  }
  return step;
}

// The most that those one-ulp steps can move each LSE (rows in the LSE's [B, Hq, Sq] order):
// LSE_i is a softmax-weighted mean of moves in its scores, so
// |dLSE_i| <= scale * max_j sum_a (dq_ia |k_ja| + |q_ia| dk_ja).
std::vector<double> midpoint_lse_slack(const QKRun& r) {
  const RefProblem& p = r.c->ref;
  const std::int64_t D = p.head_dim, group = p.q_heads / p.kv_heads;
  const double scale = p.scale != 0.0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> slack;
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.q_heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        const auto qi = static_cast<std::size_t>(((b * p.q_heads + h) * p.seq_q + i) * D);
        double row = 0.0;
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          const auto kj = static_cast<std::size_t>(((b * p.kv_heads + h / group) * p.seq_k + j) * D);
          double move = 0.0;
          for (std::size_t a = 0; a < static_cast<std::size_t>(D); ++a)
            move += r.q_step[qi + a] * std::abs(r.k_t[kj + a]) + std::abs(r.q_t[qi + a]) * r.k_step[kj + a];
          row = std::max(row, scale * move);
        }
        slack.push_back(row);
      }
  return slack;
}

Result<QKRun> make_run(Context& ctx, const QKShape& qs, std::mt19937_64& rng) {
  QKRun r;
  Result<AttentionCase> c = AttentionCase::create(ctx, qs.shape, rng);
  if (!c) return c.status();
  r.c.emplace(std::move(c).value());
  const CaseShape& s = qs.shape;
  const RefProblem& rp = r.c->ref;
  const bool varlen = s.seqs == SeqKind::kVarlen;
  for (const bool query : {true, false}) {
    RefQK& ref = query ? r.q_ref : r.k_ref;
    ref.d.dtype = s.dtype;
    ref.d.batch = s.batch;
    ref.d.heads = query ? s.q_heads : s.kv_heads;
    ref.d.seq = query ? s.seq_q : s.seq_k;
    ref.d.head_dim = s.head_dim;
    ref.d.norm = query ? qs.qk.q_norm : qs.qk.k_norm;
    ref.d.rope = qs.qk.rope;
    ref.d.rope.positions = qs.qk.rope.grid.empty();  // the reference always reads `pos` for 1D
    std::vector<float>& w = query ? r.qw : r.kw;
    if (ref.d.norm.kind == QKNormKind::kRMS) {
      w = uniform_values(static_cast<std::size_t>(s.head_dim), rng, 0.5f, 1.5f);
      ref.weight.assign(w.begin(), w.end());
      Result<Tensor> t = upload_values(ctx, F32, w);
      if (!t) return t.status();
      (query ? r.qw_dev : r.kw_dev).emplace(std::move(t).value());
    }
    // Positions [B, S]: given (random) or the default: key j at j, query i at i + Sk - Sq of its
    // sequence when bottom-right aligned.
    std::vector<std::int32_t>& pos = query ? r.qpos : r.kpos;
    std::vector<float> packed;  // the device tensor: [B, S] dense, [T] varlen
    for (std::int64_t b = 0; b < s.batch; ++b) {
      for (std::int64_t i = 0; i < ref.d.seq; ++i) {
        const std::int64_t shift = query && s.mask.align == Align::kBottomRight ? rp.lk(b) - rp.lq(b) : 0;
        const std::int32_t p = qs.qk.rope.positions ? static_cast<std::int32_t>(rng() % 5000) : static_cast<std::int32_t>(i + shift);
        pos.push_back(p);
        if (!varlen || i < (query ? rp.lq(b) : rp.lk(b))) packed.push_back(static_cast<float>(p));
      }
    }
    ref.pos = pos;
    if (qs.qk.rope.positions) {
      Result<Tensor> t = upload_values(ctx, DType::kI32, packed);
      if (!t) return t.status();
      (query ? r.qpos_dev : r.kpos_dev).emplace(std::move(t).value());
    }
    const std::vector<float>& x = query ? r.c->q : r.c->k;
    std::vector<double> y = ref.forward(std::vector<double>(x.begin(), x.end()));
    // Q' and K' are stored in the dtype before the attention reads them.
    std::vector<float> yf(y.begin(), y.end());
    round_to_dtype(yf, s.dtype);
    (query ? r.q_t : r.k_t).assign(yf.begin(), yf.end());
    (query ? r.q_step : r.k_step) = midpoint_steps(y, yf, s.dtype);
  }
  return r;
}

std::vector<QKShape> shapes() {
  std::vector<QKShape> v;
  QKTransform rms_rope;
  rms_rope.q_norm = rms_rope.k_norm = {QKNormKind::kRMS, 1e-6f, 1.0f};
  rms_rope.rope.style = RopeStyle::kRotateHalf;
  v.push_back({"rms_rope_half_causal_gqa", CaseShape{2, 4, 2, 40, 40, 32, F32, kCausalBR}, rms_rope});
  QKTransform cosine;  // L2 on both, scale 1: cosine attention (with a softmax scale of its own)
  cosine.q_norm = cosine.k_norm = {QKNormKind::kL2, 1e-6f, 1.0f};
  v.push_back({"cosine_nomask", make(CaseShape{1, 2, 2, 30, 50, 16, F32, kNoMask}, [](CaseShape& c) { c.layout = Layout::kBSHD; }), cosine});
  QKTransform pairs_pos;
  pairs_pos.rope.style = RopeStyle::kInterleaved;
  pairs_pos.rope.rotary_dim = 16;
  pairs_pos.rope.positions = true;
  v.push_back({"rope_pairs_r16_positions", CaseShape{2, 2, 1, 12, 60, 32, F32, kCausalBR}, pairs_pos});
  QKTransform q_only;
  q_only.q_norm = {QKNormKind::kRMS, 1e-5f, 1.0f};
  q_only.rope.style = RopeStyle::kRotateHalf;
  q_only.rope.theta = 500000.0;
  v.push_back({"qnorm_rope_varlen", make(CaseShape{3, 2, 2, 30, 30, 16, F32, kCausalBR}, [](CaseShape& c) { c.seqs = SeqKind::kVarlen; }), q_only});
  QKTransform vision;  // the vision block: L2 (cosine), 2D RoPE over a 4 x 6 grid
  vision.q_norm = vision.k_norm = {QKNormKind::kL2, 1e-6f, 1.0f};
  vision.rope.style = RopeStyle::kRotateHalf;
  vision.rope.grid = {4, 6};
  v.push_back({"vision_l2_rope2d", make(CaseShape{2, 2, 2, 24, 24, 32, F32, kNoMask}, [](CaseShape& c) { c.layout = Layout::kBSHD; }), vision});
  v.push_back({"rms_rope_f16", CaseShape{1, 4, 4, 33, 33, 64, F16, kCausalTL}, rms_rope});
  v.push_back({"rms_rope_decode", CaseShape{1, 8, 2, 1, 200, 32, F32, kCausalBR}, rms_rope, false});
  return v;
}

class AttentionQK : public VkTest, public ::testing::WithParamInterface<QKShape> {};

TEST_P(AttentionQK, ForwardAndBackwardMatchFp64) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const QKShape& qs = GetParam();
  Result<QKRun> r = make_run(ctx(), qs, rng);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  AttentionDesc d = r->c->desc();
  d.qk = qs.qk;
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_TRUE(plan->variant_name().find("_rope") != std::string::npos ||
              plan->variant_name().find("norm_") != std::string::npos)
      << plan->variant_name();
  const ForwardTensors t = r->tensors();
  ASSERT_TRUE(plan->run(t).is_ok());
  const std::vector<double> v(r->c->v.begin(), r->c->v.end());
  const RefResult ref = reference_forward(r->c->ref, r->q_t, r->k_t, v);
  const std::vector<float> o = r->c->download_o();
  expect_close(o, ref.o, output_tolerance(qs.shape.dtype), "O");
  if (qs.shape.with_lse) {
    // Each row also allows its own rounding-midpoint slack (all 0 for fp32). Dense LSE rows are
    // the slack's [B, Hq, Sq]; varlen ones ([Hq, Tq]) take the largest.
    Tolerance lse_tol = lse_tolerance(qs.shape.dtype);
    lse_tol.of_terms = 1.0;
    const std::vector<float> lse = r->c->download_lse();
    std::vector<double> slack = midpoint_lse_slack(*r);
    if (slack.size() != lse.size()) {
      slack.assign(lse.size(), slack.empty() ? 0.0 : *std::max_element(slack.begin(), slack.end()));
    }
    expect_close(lse, ref.lse, slack, lse_tol, "LSE");
  }
  if (!qs.backward) return;

  // Backward: dQ, dK through the transforms, dV, and the RMSNorm weights' gradients.
  const CaseShape& s = qs.shape;
  std::vector<float> d_o = uniform_values(static_cast<std::size_t>(s.batch * s.q_heads * s.seq_q * r->c->ref.dv()), rng, -1.0f, 1.0f);
  round_to_dtype(d_o, s.dtype);
  Result<Tensor> do_dev = r->c->device_tensor(ctx(), d_o, Role::kO);
  Result<Tensor> dq_dev = r->c->device_tensor(ctx(), std::vector<float>(r->c->q.size(), std::nanf("")), Role::kQ);
  Result<Tensor> dk_dev = r->c->device_tensor(ctx(), std::vector<float>(r->c->k.size(), std::nanf("")), Role::kK);
  Result<Tensor> dv_dev = r->c->device_tensor(ctx(), std::vector<float>(r->c->v.size(), std::nanf("")), Role::kV);
  Result<Tensor> dqw = Tensor::create(ctx(), F32, {s.head_dim});
  Result<Tensor> dkw = Tensor::create(ctx(), F32, {s.head_dim});
  ASSERT_TRUE(do_dev.is_ok() && dq_dev.is_ok() && dk_dev.is_ok() && dv_dev.is_ok() && dqw.is_ok() && dkw.is_ok());
  Result<BackwardPlan> bplan = BackwardPlan::create(ctx(), d);
  ASSERT_TRUE(bplan.is_ok()) << bplan.status().to_string();
  BackwardTensors bt;
  bt.q = t.q, bt.k = t.k, bt.v = t.v, bt.o = t.o, bt.lse = *t.lse;
  bt.d_o = r->c->view_of(*do_dev, Role::kO);
  bt.dq = r->c->view_of(*dq_dev, Role::kQ);
  bt.dk = r->c->view_of(*dk_dev, Role::kK);
  bt.dv = r->c->view_of(*dv_dev, Role::kV);
  bt.q_norm_weight = t.q_norm_weight, bt.k_norm_weight = t.k_norm_weight;
  bt.q_positions = t.q_positions, bt.k_positions = t.k_positions;
  if (t.q_norm_weight) bt.dq_norm_weight = dqw->view();
  if (t.k_norm_weight) bt.dk_norm_weight = dkw->view();
  ASSERT_TRUE(bplan->run(bt).is_ok());
  const std::vector<float> qf(r->q_t.begin(), r->q_t.end()), kf(r->k_t.begin(), r->k_t.end());
  const RefGrads g = reference_backward(r->c->ref, qf, kf, r->c->v, d_o, &o);
  std::vector<double> dq, dk, dqw_ref, dkw_ref;
  r->q_ref.backward(std::vector<double>(r->c->q.begin(), r->c->q.end()), g.dq, dq, dqw_ref);
  r->k_ref.backward(std::vector<double>(r->c->k.begin(), r->c->k.end()), g.dk, dk, dkw_ref);
  const Tolerance tol = gradient_tolerance(s.dtype);
  expect_close(r->c->to_dense(dq_dev->download().value(), Role::kQ), dq, tol, "dQ");
  expect_close(r->c->to_dense(dk_dev->download().value(), Role::kK), dk, tol, "dK");
  expect_close(r->c->to_dense(dv_dev->download().value(), Role::kV), g.dv, tol, "dV");
  if (bt.dq_norm_weight) expect_close(dqw->download().value(), dqw_ref, tol, "dq_norm_weight");
  if (bt.dk_norm_weight) expect_close(dkw->download().value(), dkw_ref, tol, "dk_norm_weight");
}

INSTANTIATE_TEST_SUITE_P(QK, AttentionQK, ::testing::ValuesIn(shapes()),
                         [](const ::testing::TestParamInfo<QKShape>& p) { return p.param.name; });

class AttentionQKErrors : public VkTest {};

TEST_F(AttentionQKErrors, BadDescsAndTensorsAreRefused) {
  std::mt19937_64 rng(test_seed());
  Result<AttentionCase> c = AttentionCase::create(ctx(), CaseShape{1, 2, 2, 12, 12, 16, F32, kCausalBR}, rng);
  ASSERT_TRUE(c.is_ok());
  const auto refused = [&](const AttentionDesc& d, const std::string& text) {
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), d);
    ASSERT_FALSE(p.is_ok()) << text;
    EXPECT_NE(p.status().message().find(text), std::string::npos) << p.status().message();
  };
  AttentionDesc d = c->desc();
  d.qk.q_norm = {QKNormKind::kRMS, -1.0f, 1.0f};
  refused(d, "desc.qk.q_norm.eps = -1");
  d = c->desc();
  d.qk.rope.style = RopeStyle::kRotateHalf;
  d.qk.rope.rotary_dim = 18;
  refused(d, "desc.qk.rope.rotary_dim = 18");
  d.qk.rope.rotary_dim = 0;
  d.qk.rope.grid = {3, 5};
  refused(d, "desc.qk.rope.grid (15 cells) needs dense sequences with desc.seq_q = desc.seq_k = 15");
  // RoPE options without a RoPE style are refused, not ignored.
  d = c->desc();
  d.qk.rope.positions = true;
  refused(d, "desc.qk.rope.positions = true without desc.qk.rope.style");
  d = c->desc();
  d.qk.rope.grid = {3, 4};
  refused(d, "desc.qk.rope.grid is given without desc.qk.rope.style");

  d = c->desc();
  d.qk.k_norm = {QKNormKind::kRMS, 1e-6f, 1.0f};
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  const std::vector<std::vector<std::byte>> before = download_all(c->device_tensors());
  ForwardTensors t = c->tensors();
  Status s = plan->run(t);
  EXPECT_NE(s.message().find("k_norm_weight is missing (desc.qk.k_norm.kind is rms)"), std::string::npos) << s.message();
  Result<Tensor> w = Tensor::create(ctx(), F32, {8});
  ASSERT_TRUE(w.is_ok());
  t.k_norm_weight = w->view();
  s = plan->run(t);
  EXPECT_NE(s.message().find("k_norm_weight.shape[0] (Dk) = 8"), std::string::npos) << s.message();
  t.q_norm_weight = w->view();
  s = plan->run(t);
  EXPECT_NE(s.message().find("q_norm_weight is given but desc.qk.q_norm.kind is not rms"), std::string::npos) << s.message();
  EXPECT_EQ(download_all(c->device_tensors()), before);
}

}  // namespace
}  // namespace vkattn::test
