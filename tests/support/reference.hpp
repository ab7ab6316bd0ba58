// CPU reference attention in double precision, on dense [B, H, S, D] host arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "vkattn/attention.hpp"

namespace vkattn::test {

struct RefProblem {
  std::int64_t batch = 1, q_heads = 1, kv_heads = 1, seq_q = 1, seq_k = 1, head_dim = 8;
  Causal causal = Causal::kNone;
  double scale = 0.0;  // 0: 1/sqrt(D)
};

struct RefResult {
  std::vector<double> o;    // [B, Hq, Sq, D]
  std::vector<double> lse;  // [B, Hq, Sq]; -inf for a row with no visible key (its O row is 0)
};

// Whether query i sees key j under `causal` (the same rule the API documents).
bool ref_key_visible(Causal causal, std::int64_t i, std::int64_t j, std::int64_t seq_q, std::int64_t seq_k);

// softmax(scale * Q K^T + mask) V with a two-pass (max, then sum) softmax in double.
RefResult reference_forward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v);

}  // namespace vkattn::test
