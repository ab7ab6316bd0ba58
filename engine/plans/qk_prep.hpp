// QK-norm and RoPE inside an attention plan (AttentionDesc::qk, vkattn/qk_transform.hpp): a
// QKTransformPlan per side (Q with q_norm, K with k_norm, both with the RoPE), plan-owned buffers
// for the transformed Q' and K' (and, in the backward, dQ' and dK'), and the host-computed
// positions when the call gives none. The forward plan attends over Q' and K'; the backward plan
// differentiates with respect to them and takes dQ', dK' back through the transforms.
#pragma once

#include <vulkan/vulkan_core.h>

#include <memory>
#include <optional>
#include <string>

#include "device/buffer_alloc.hpp"
#include "planning/problem.hpp"
#include "vkattn/qk_transform.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class Context;

// What desc.qk adds to an attention plan's variant name: "_qknorm_rms_rope_half", "_qnorm_l2",
// "_rope_pairs_r32_2d_pos", ...
std::string qk_variant_suffix(const QKTransform& qk);

// The call's views the transforms read (Q, K as the attention takes them).
struct QKPrepInputs {
  const TensorView& q;
  const TensorView& k;
  const std::optional<TensorView>& q_weight;
  const std::optional<TensorView>& k_weight;
  const std::optional<TensorView>& q_positions;
  const std::optional<TensorView>& k_positions;
};

// Those views of a call's ForwardTensors or BackwardTensors.
template <class Tensors>
QKPrepInputs qk_inputs_of(const Tensors& t) {
  return {t.q, t.k, t.q_norm_weight, t.k_norm_weight, t.q_positions, t.k_positions};
}

class QKPrep {
 public:
  // `backward`: also the dQ', dK' buffers and the transforms' backward.
  static Result<std::unique_ptr<QKPrep>> create(Context& ctx, const Problem& p, bool backward);
  ~QKPrep();

  // The weights and positions of a call: present exactly where the desc needs them, shaped and
  // typed right (messages name the ForwardTensors field).
  Status check(const QKPrepInputs& in) const;
  // The backward's weight gradients: given only for a kRMS side, fp32 [Dk].
  Status check_grads(const std::optional<TensorView>& dq_weight, const std::optional<TensorView>& dk_weight) const;
  // Q' and K' as the attention reads them (the call's Q or K itself for a side with no transform),
  // and dQ', dK' (backward).
  TensorView q_view(const TensorView& q) const;
  TensorView k_view(const TensorView& k) const;
  TensorView dq_view(const TensorView& dq) const;
  TensorView dk_view(const TensorView& dk) const;

  // Q -> Q', K -> K'. The caller adds the barrier before the attention reads them.
  Status record_forward(VkCommandBuffer cmd, const QKPrepInputs& in);
  // dQ' -> dQ, dK' -> dK (and the weights' gradients where given), after a barrier the caller adds.
  Status record_backward(VkCommandBuffer cmd, const QKPrepInputs& in, const TensorView& dq, const TensorView& dk,
                         const std::optional<TensorView>& dq_weight, const std::optional<TensorView>& dk_weight);
  void release_descriptor_sets();

 private:
  struct Side;
  QKPrep() = default;
  Context* ctx_ = nullptr;
  std::unique_ptr<Side> q_, k_;
};

}  // namespace vkattn
