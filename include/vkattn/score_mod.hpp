// vkattn/score_mod.hpp — modifiers of the attention scores, each a specialization constant of the
// kernel; they compose with each other and with every mask. For a visible key, in this order:
//   s = scale * q.k
//   s = c * tanh(s / c)                               softcap
//   s = s - slope[b?, h] * |j - diag(i)|              ALiBi (distance from the aligned diagonal, mask.hpp)
//   s = s + table[h, clamp(j - diag(i), -M, M) + M]   relative-position bias
//   s = s + bias[b, h, i, j]                          additive bias (broadcast over size-1 dims)
// then softmax over the visible keys, plus one sink logit per head when `sinks` is set: the sink
// joins the denominator and has no value row (gpt-oss, ggml), so
//   O_i = sum_j exp(s_ij) v_j / (exp(sink_h) + sum_j exp(s_ij)),  LSE_i = log(exp(sink_h) + sum_j exp(s_ij)).
#pragma once

#include <cstdint>
#include <optional>

#include "vkattn/dtype.hpp"

namespace vkattn {

enum class Alibi : std::uint32_t {
  kNone = 0,
  kPerHead = 1,       // ForwardTensors::alibi_slopes is fp32 [Hq]
  kPerBatchHead = 2,  // ForwardTensors::alibi_slopes is fp32 [B, Hq]
};

struct ScoreMod {
  std::optional<float> softcap;  // c > 0
  Alibi alibi = Alibi::kNone;
  // Relative-position bias with clamped distance: ForwardTensors::rel_pos_table is fp32
  // [Hq, 2M + 1] and entry M + d is the bias for key j - diag(i) = d, distances beyond +-M
  // clamped to the end buckets. M >= 0.
  std::optional<std::int64_t> rel_pos_max_distance;
  std::optional<DType> bias;  // additive bias tensor of this dtype (f32 or f16)
  bool sinks = false;         // ForwardTensors::sinks: fp32 [Hq] logits (after scaling)

  bool any() const {
    return softcap.has_value() || alibi != Alibi::kNone || rel_pos_max_distance.has_value() || bias.has_value() ||
           sinks;
  }
};

}  // namespace vkattn
