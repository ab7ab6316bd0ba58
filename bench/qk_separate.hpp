// The LLM block's QK-norm and RoPE as a user runs them without the attention plan's own
// (vkattn-bench --qk=rms_rope_separate): per side an RMSNorm pass, then a RoPE pass (a
// QKTransformPlan each, written to their own tensors as an autograd framework keeps them), then
// plain attention over the results; in the backward, after the attention's backward, the RoPE
// passes' backward and then the RMSNorm passes'. Run vkattn-bench with --qk=rms_rope (the
// attention plan's own pass per side) and with --qk=rms_rope_separate on one machine to compare
// (issue 26). Positions are the tokens' indices, as the plan's own are where Sq = Sk (with Sq !=
// Sk the plan places queries on the bottom-right diagonal): create() refuses Sq != Sk.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

class SeparateQK {
 public:
  // For Q [B, Hq, S, D] and K [B, Hkv, Sk, D] of `dtype`, RMSNorm weights `q_weight`,
  // `k_weight` (fp32 [D]); `backward`: also the tensors and plans of the backward.
  static Result<std::unique_ptr<SeparateQK>> create(Context& ctx, DType dtype, std::int64_t batch, std::int64_t q_heads,
                                                    std::int64_t kv_heads, std::int64_t seq_q, std::int64_t seq_k,
                                                    std::int64_t head_dim, bool backward);

  // Q, K -> RMSNorm -> RoPE -> q_out(), k_out() (what the attention reads), with the barriers
  // between the passes; the caller adds the one before the attention.
  Status record_forward(VkCommandBuffer cmd, const TensorView& q, const TensorView& k, const TensorView& q_weight,
                        const TensorView& k_weight);
  // dq_in(), dk_in() (the attention backward's dQ', dK', after a barrier the caller adds) ->
  // dQ, dK and the weights' gradients.
  Status record_backward(VkCommandBuffer cmd, const TensorView& q, const TensorView& k, const TensorView& q_weight,
                         const TensorView& k_weight, const TensorView& dq, const TensorView& dk);

  TensorView q_out() const { return q_rope_.view(); }
  TensorView k_out() const { return k_rope_.view(); }
  TensorView dq_in() const { return dq_rope_->view(); }
  TensorView dk_in() const { return dk_rope_->view(); }

 private:
  SeparateQK(QKTransformPlan q_norm, QKTransformPlan k_norm, QKTransformPlan q_rope, QKTransformPlan k_rope,
             Tensor q_normed, Tensor k_normed, Tensor q_roped, Tensor k_roped);
  QKTransformPlan q_norm_, k_norm_, q_rope_plan_, k_rope_plan_;
  Tensor q_normed_, k_normed_, q_rope_, k_rope_;                     // the forward's activations
  std::optional<Tensor> dq_rope_, dk_rope_, dq_normed_, dk_normed_;  // backward
  std::optional<Tensor> dq_weight_, dk_weight_;
};

}  // namespace vkattn::bench
