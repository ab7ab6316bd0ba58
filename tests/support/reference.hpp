// CPU reference attention in double precision, on dense logical host arrays.
//
// Q is [B, Hq, Sq, Dk], K [B, Hkv, Sk, Dk], V [B, Hkv, Sk, Dv] (padded to the longest sequence
// for varlen problems); the semantics are those documented in vkattn/mask.hpp, score_mod.hpp and
// sequences.hpp, written out directly from the definitions.
#pragma once

#include <cstdint>
#include <vector>

#include "vkattn/attention.hpp"

namespace vkattn::test {

struct RefProblem {
  std::int64_t batch = 1, q_heads = 1, kv_heads = 1, seq_q = 1, seq_k = 1, head_dim = 8, head_dim_v = 0;
  Mask mask;
  ScoreMod mod;
  double scale = 0.0;               // 0: 1/sqrt(Dk)
  std::vector<std::int64_t> len_q;  // per batch entry; empty: all Sq
  std::vector<std::int64_t> len_k;  // per batch entry; empty: all Sk
  // score_mod inputs are held in double so finite differences can perturb them finely.
  std::vector<double> slopes;       // [Hq] or [B, Hq] (mod.alibi)
  std::vector<double> table;        // [Hq, 2M + 1] (mod.rel_pos_max_distance)
  std::vector<double> bias;         // [B, Hq, Sq, Sk], already broadcast (mod.bias)
  std::vector<double> sinks;        // [Hq] (mod.sinks)
  std::vector<std::int32_t> doc_q;  // [B, Sq] (mask.documents)
  std::vector<std::int32_t> doc_k;  // [B, Sk]
  // Dropout (vkattn/dropout.hpp): p > 0 drops P_ij where ref_dropout_keep says so (philox_ref.hpp).
  double dropout_p = 0.0;
  std::uint64_t dropout_seed = 0;
  std::uint32_t dropout_offset = 0;

  std::int64_t dv() const { return head_dim_v == 0 ? head_dim : head_dim_v; }
  std::int64_t lq(std::int64_t b) const { return len_q.empty() ? seq_q : len_q[static_cast<std::size_t>(b)]; }
  std::int64_t lk(std::int64_t b) const { return len_k.empty() ? seq_k : len_k[static_cast<std::size_t>(b)]; }
  // The aligned diagonal of query i in batch entry b.
  std::int64_t diag(std::int64_t b, std::int64_t i) const;
  bool visible(std::int64_t b, std::int64_t i, std::int64_t j) const;
  // The factor of P_ij in O: Z_ij / (1 - p) with dropout, else 1.
  double dropout_factor(std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t j) const;
};

struct RefResult {
  std::vector<double> o;    // [B, Hq, Sq, Dv]; 0 on rows that see nothing and rows past len_q
  std::vector<double> lse;  // [B, Hq, Sq]; -inf where nothing (not even a sink) is seen
};

RefResult reference_forward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v);
// The same in double inputs (finite differences perturb them below float resolution).
RefResult reference_forward(const RefProblem& p, const std::vector<double>& q, const std::vector<double>& k,
                            const std::vector<double>& v);

struct RefGrads {
  std::vector<double> dq;      // [B, Hq, Sq, Dk]
  std::vector<double> dk;      // [B, Hkv, Sk, Dk] (summed over the query heads of a group)
  std::vector<double> dv;      // [B, Hkv, Sk, Dv]
  std::vector<double> dbias;   // [B, Hq, Sq, Sk] before any broadcast reduction (mod.bias)
  std::vector<double> dtable;  // [Hq, 2M + 1] (mod.rel_pos_max_distance)
  std::vector<double> dsinks;  // [Hq] (mod.sinks)
  // The parameter gradients are sums whose terms cancel (a row's dS sums to zero), so an element
  // can be far smaller than the rounding of its terms. These hold, per element, the sum of its
  // terms' magnitudes: dS_ij = P_ij (dP_ij - D_i) counts as P_ij (sum_d |dO_id V_jd| +
  // sum_d |dO_id O_id|), the scale of the error of any fp32 evaluation of it.
  std::vector<double> dbias_terms;   // as dbias
  std::vector<double> dtable_terms;  // as dtable
  std::vector<double> dsinks_terms;  // as dsinks
  // dQ and dK are sums of dS too: where every row sees at most one key, dS = P (dP - D) is 0
  // exactly (O is that key's V) and so is every element, while the kernels' dP and D, summed in
  // other orders, leave rounding. Per element: sum over its terms of |dS| (as above) x |K| or |Q|.
  std::vector<double> dq_terms;  // as dq
  std::vector<double> dk_terms;  // as dk
};

// Gradients of L = sum(O * dO) by the analytic formulas (softmax and score_mod derivatives).
// `o_as_stored` (dense [B, Hq, Sq, Dv], optional): the O the GPU forward wrote. The backward
// kernels read that O for D = rowsum(dO o O), so the reference does too; the forward's own error
// (fp16 rounding of O, and of P on the coopmat path) is the forward tests' business. Without it
// the reference uses its exact O.
RefGrads reference_backward(const RefProblem& p, const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v, const std::vector<float>& d_o,
                            const std::vector<float>* o_as_stored = nullptr);

}  // namespace vkattn::test
