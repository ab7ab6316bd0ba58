#include "qk_separate.hpp"

#include <string>

#include "bench_cases.hpp"
#include "gpu_timer.hpp"

namespace vkattn::bench {
namespace {

// The same norm and RoPE as vkattn-bench's --qk=rms_rope (kBenchQKNorm, kBenchRope), one per plan.
QKTransformDesc side(DType dtype, std::int64_t batch, std::int64_t heads, std::int64_t seq, std::int64_t head_dim,
                     bool norm) {
  QKTransformDesc d;
  d.dtype = dtype, d.batch = batch, d.heads = heads, d.seq = seq, d.head_dim = head_dim;
  if (norm) {
    d.norm = kBenchQKNorm;
  } else {
    d.rope.style = kBenchRope;
  }
  return d;
}

}  // namespace

SeparateQK::SeparateQK(QKTransformPlan q_norm, QKTransformPlan k_norm, QKTransformPlan q_rope, QKTransformPlan k_rope,
                       Tensor q_normed, Tensor k_normed, Tensor q_roped, Tensor k_roped)
    : q_norm_(std::move(q_norm)),
      k_norm_(std::move(k_norm)),
      q_rope_plan_(std::move(q_rope)),
      k_rope_plan_(std::move(k_rope)),
      q_normed_(std::move(q_normed)),
      k_normed_(std::move(k_normed)),
      q_rope_(std::move(q_roped)),
      k_rope_(std::move(k_roped)) {}

Result<std::unique_ptr<SeparateQK>> SeparateQK::create(Context& ctx, DType dtype, std::int64_t batch,
                                                       std::int64_t q_heads, std::int64_t kv_heads, std::int64_t seq_q,
                                                       std::int64_t seq_k, std::int64_t head_dim, bool backward) {
  if (seq_q != seq_k) {
    return Status(ErrorCode::kUnsupported, "--qk=rms_rope_separate: Sq = " + std::to_string(seq_q) +
                                               " != Sk = " + std::to_string(seq_k) + " (the comparison takes Sq = Sk)");
  }
  Result<QKTransformPlan> qn = QKTransformPlan::create(ctx, side(dtype, batch, q_heads, seq_q, head_dim, true));
  Result<QKTransformPlan> kn = QKTransformPlan::create(ctx, side(dtype, batch, kv_heads, seq_k, head_dim, true));
  Result<QKTransformPlan> qr = QKTransformPlan::create(ctx, side(dtype, batch, q_heads, seq_q, head_dim, false));
  Result<QKTransformPlan> kr = QKTransformPlan::create(ctx, side(dtype, batch, kv_heads, seq_k, head_dim, false));
  for (auto* p : {&qn, &kn, &qr, &kr}) {
    if (!*p) return p->status();
  }
  const auto q_tensor = [&] { return Tensor::create(ctx, dtype, {batch, q_heads, seq_q, head_dim}); };
  const auto k_tensor = [&] { return Tensor::create(ctx, dtype, {batch, kv_heads, seq_k, head_dim}); };
  Result<Tensor> q1 = q_tensor(), k1 = k_tensor(), q2 = q_tensor(), k2 = k_tensor();
  for (auto* t : {&q1, &k1, &q2, &k2}) {
    if (!*t) return t->status();
  }
  std::unique_ptr<SeparateQK> s(new SeparateQK(std::move(qn).value(), std::move(kn).value(), std::move(qr).value(),
                                               std::move(kr).value(), std::move(q1).value(), std::move(k1).value(),
                                               std::move(q2).value(), std::move(k2).value()));
  if (backward) {
    Result<Tensor> dq2 = q_tensor(), dk2 = k_tensor(), dq1 = q_tensor(), dk1 = k_tensor();
    Result<Tensor> dqw = Tensor::create(ctx, DType::kF32, {head_dim}),
                   dkw = Tensor::create(ctx, DType::kF32, {head_dim});
    for (auto* t : {&dq2, &dk2, &dq1, &dk1, &dqw, &dkw}) {
      if (!*t) return t->status();
    }
    s->dq_rope_.emplace(std::move(dq2).value()), s->dk_rope_.emplace(std::move(dk2).value());
    s->dq_normed_.emplace(std::move(dq1).value()), s->dk_normed_.emplace(std::move(dk1).value());
    s->dq_weight_.emplace(std::move(dqw).value()), s->dk_weight_.emplace(std::move(dkw).value());
  }
  return s;
}

Status SeparateQK::record_forward(VkCommandBuffer cmd, const TensorView& q, const TensorView& k,
                                  const TensorView& q_weight, const TensorView& k_weight) {
  if (Status s = q_norm_.record(cmd, {q, q_normed_.view(), q_weight, std::nullopt}); !s) return s;
  if (Status s = k_norm_.record(cmd, {k, k_normed_.view(), k_weight, std::nullopt}); !s) return s;
  compute_barrier(cmd);
  if (Status s = q_rope_plan_.record(cmd, {q_normed_.view(), q_rope_.view(), std::nullopt, std::nullopt}); !s) return s;
  return k_rope_plan_.record(cmd, {k_normed_.view(), k_rope_.view(), std::nullopt, std::nullopt});
}

Status SeparateQK::record_backward(VkCommandBuffer cmd, const TensorView& q, const TensorView& k,
                                   const TensorView& q_weight, const TensorView& k_weight, const TensorView& dq,
                                   const TensorView& dk) {
  if (!dq_rope_) return Status(ErrorCode::kInvalidArgument, "SeparateQK: created without the backward");
  QKTransformGradTensors qr{q_normed_.view(), dq_rope_->view(), dq_normed_->view(),
                            std::nullopt,     std::nullopt,     std::nullopt};
  QKTransformGradTensors kr{k_normed_.view(), dk_rope_->view(), dk_normed_->view(),
                            std::nullopt,     std::nullopt,     std::nullopt};
  if (Status s = q_rope_plan_.record_backward(cmd, qr); !s) return s;
  if (Status s = k_rope_plan_.record_backward(cmd, kr); !s) return s;
  compute_barrier(cmd);
  QKTransformGradTensors qn{q, dq_normed_->view(), dq, q_weight, std::nullopt, dq_weight_->view()};
  QKTransformGradTensors kn{k, dk_normed_->view(), dk, k_weight, std::nullopt, dk_weight_->view()};
  if (Status s = q_norm_.record_backward(cmd, qn); !s) return s;
  return k_norm_.record_backward(cmd, kn);
}

}  // namespace vkattn::bench
