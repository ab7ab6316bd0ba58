// One forward-attention problem on the device: random inputs in a chosen layout, poisoned
// outputs, and the fp64 reference to compare with.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "reference.hpp"
#include "tolerances.hpp"
#include "vkattn/vkattn.hpp"

namespace vkattn::test {

// VKATTN_TEST_SEED if set, else a fresh random seed. Tests print it in their failure trace.
std::uint64_t test_seed();

struct CaseShape {
  std::int64_t batch = 1, q_heads = 1, kv_heads = 1, seq_q = 1, seq_k = 1, head_dim = 8;
  DType dtype = DType::kF32;
  Causal causal = Causal::kNone;
  Layout layout = Layout::kBHSD;
  bool with_lse = true;
  std::string name() const;  // "b2_h4x2_sq70_sk33_d64_f16_causal_br_bshd"
};

// Device tensors for one case; inputs hold values exactly representable in the dtype.
struct AttentionCase {
  CaseShape shape;
  std::vector<float> q, k, v;  // dense [B, H, S, D] host copies (already rounded to the dtype)
  std::optional<Tensor> q_dev, k_dev, v_dev, o_dev, lse_dev;

  // Allocates, fills with uniform(-1, 1) from `rng` (never all zero) and poisons O/LSE with NaN.
  static Result<AttentionCase> create(Context& ctx, const CaseShape& shape, std::mt19937_64& rng);
  ForwardTensors tensors() const;
  AttentionDesc desc() const;
  RefProblem ref_problem() const;
  // O gathered back to dense [B, Hq, Sq, D], and LSE [B, Hq, Sq].
  std::vector<float> download_o() const;
  std::vector<float> download_lse() const;
};

// Counts elements outside |gpu - ref| <= abs + rel*|ref| (NaN always counts; -inf must match
// exactly) and reports the first few through ADD_FAILURE with `what` and the index.
std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, Tolerance tol,
                         const std::string& what);

// Rounds each value to what `dtype` stores.
void round_to_dtype(std::vector<float>& values, DType dtype);

}  // namespace vkattn::test
