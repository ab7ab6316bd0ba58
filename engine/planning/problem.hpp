// An AttentionDesc checked and resolved once into the problem both passes plan from: defaults
// filled in, varlen maximum lengths computed. Device limits are checked later, with the tiles.
#pragma once

#include <cstdint>

#include "kernels/attn_spec.hpp"
#include "vkattn/attention.hpp"

namespace vkattn {

struct Problem {
  AttentionDesc desc;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim_v = 0;
  std::int64_t seq_q = 0;    // Sq (varlen: longest query sequence)
  std::int64_t seq_k = 0;    // Sk (varlen: longest key sequence)
  std::int64_t total_q = 0;  // varlen: Tq = cu_seqlens_q.back()
  std::int64_t total_k = 0;  // varlen: Tk
  SeqMode seq_mode = SeqMode::kDense;
};

// The desc's own defaults, without checks: what resolve_problem fills in for head_dim_v, the
// sequence mode, the KV heads and the lengths (varlen maxima not computed).
Problem unchecked_problem(const AttentionDesc& desc);

// Shapes, head dims, scale, mask and score_mod parameters, sequence lengths and enum values.
// Every error is kInvalidArgument naming the desc field and its value.
Result<Problem> resolve_problem(const AttentionDesc& desc);

}  // namespace vkattn
