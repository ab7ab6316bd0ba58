// One forward-attention problem on the device: random inputs in a chosen layout (dense or packed
// varlen), random mask and score_mod inputs, poisoned outputs, and the fp64 reference problem.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "reference.hpp"
#include "tolerances.hpp"
#include "vkattn/vkattn.hpp"

namespace vkattn::test {

// Returns the Status of `expr` from the enclosing function if it is not ok (test helpers).
#define VKATTN_TEST_TRY(expr)                           \
  do {                                                  \
    ::vkattn::Status vkattn_test_s_ = (expr);           \
    if (!vkattn_test_s_.is_ok()) return vkattn_test_s_; \
  } while (0)

// VKATTN_TEST_SEED if set, else a fresh random seed. Tests print it in their failure trace.
std::uint64_t test_seed();

inline const Mask kNoMask{};
inline const Mask kCausalTL = Mask::causal_mask(Align::kTopLeft);
inline const Mask kCausalBR = Mask::causal_mask(Align::kBottomRight);

enum class SeqKind { kDense, kPadded, kVarlen };

struct CaseShape {
  std::int64_t batch = 1, q_heads = 1, kv_heads = 1, seq_q = 1, seq_k = 1, head_dim = 8;
  DType dtype = DType::kF32;
  Mask mask;
  Layout layout = Layout::kBHSD;  // dense problems; varlen tensors are packed THD
  bool with_lse = true;
  std::int64_t head_dim_v = 0;     // 0: Dv = Dk
  ScoreMod mod;                    // softcap c and M are used as given; slopes, table, bias, sinks are random
  SeqKind seqs = SeqKind::kDense;  // padded: random seq_lens; varlen: random lengths (entry 0 is the longest)
  std::array<bool, 3> bias_full = {true, true, true};  // bias extent in B, Hq, Sq: full, or 1 (broadcast)
  bool sorted_docs = true;           // document ids in runs (as packing makes them) or random per token
  bool pad_q = true, pad_kv = true;  // padded: which of seq_lens_q / seq_lens_kv are given
  float dropout = 0.0f;              // desc.dropout.p; the case draws a random seed and offset per run

  // "b2_h4x2_sq70_sk33_<feature_name>_bshd": the device-independent variant name plus the shape.
  std::string name() const;
};

// `c` changed by `f`: builds case lists from a base shape.
inline CaseShape make(CaseShape c, const std::function<void(CaseShape&)>& f) {
  f(c);
  return c;
}

// gtest prints parameters with this (the name, not the bytes).
inline void PrintTo(const CaseShape& c, std::ostream* os) { *os << c.name(); }

// Which attention tensor a [B, H, S, D] array is shaped like.
enum class Role { kQ, kK, kV, kO };

// Device tensors for one case; inputs hold values exactly representable in their dtype.
struct AttentionCase {
  CaseShape shape;
  RefProblem ref;                        // lengths, mask and score_mod inputs, as the reference sees them
  std::vector<float> q, k, v;            // dense [B, H, S, D] host copies (rounded to the dtype)
  std::vector<std::int32_t> cu_q, cu_k;  // varlen offsets
  std::optional<Tensor> q_dev, k_dev, v_dev, o_dev, lse_dev;
  std::optional<Tensor> bias_dev, slopes_dev, table_dev, sinks_dev, docs_q_dev, docs_k_dev;

  // Allocates, fills with random values from `rng` (uniform(-1, 1) for Q, K, V; never all
  // zero) and poisons O and LSE with NaN.
  static Result<AttentionCase> create(Context& ctx, const CaseShape& shape, std::mt19937_64& rng);
  ForwardTensors tensors() const;
  AttentionDesc desc() const;
  // Every device tensor the case holds (inputs, outputs, mask and score_mod inputs).
  std::vector<const Tensor*> device_tensors() const;
  RefProblem ref_problem() const { return ref; }
  // O as dense [B, Hq, Sq, Dv] and LSE as [B, Hq, Sq]; varlen rows past a sequence's end (which
  // do not exist) read as the reference's 0 and -inf.
  std::vector<float> download_o() const;
  std::vector<float> download_lse() const;

  // A device tensor holding dense [B, H, S, D] `values` in the case's memory layout for `role`
  // (the layout, or packed THD for varlen), its view, and the way back to dense (varlen rows
  // past a sequence's end read as 0).
  Result<Tensor> device_tensor(Context& ctx, const std::vector<float>& values, Role role) const;
  TensorView view_of(const Tensor& t, Role role) const;
  std::vector<float> to_dense(const std::vector<float>& memory, Role role) const;
};

// Runs `c` through a ForwardPlan and compares O and LSE with the reference (gtest failures).
void run_and_compare(Context& ctx, const AttentionCase& c);

// One parameterized case: fresh inputs from test_seed() (traced for replay), run, compare.
void check_case(Context& ctx, const CaseShape& shape);

// Calls `call` and expects an error of `code` whose message contains `text`, with every device
// tensor of `c` (inputs included: a bad view may alias one) bit-for-bit unchanged.
void expect_error_and_untouched(const AttentionCase& c, const std::function<Status()>& call, ErrorCode code,
                                const std::string& text);

// Each tensor's bytes (empty, with a gtest failure, where a download fails).
std::vector<std::vector<std::byte>> download_all(const std::vector<const Tensor*>& tensors);

// Counts elements outside |gpu - ref| <= abs + rel*|ref| (NaN always counts; -inf must match
// exactly) and reports the first few through ADD_FAILURE with `what` and the index.
std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref, Tolerance tol,
                         const std::string& what);
// The same, each element also allowed tol.of_terms * terms[i] (its sum of term magnitudes).
std::size_t expect_close(const std::vector<float>& gpu, const std::vector<double>& ref,
                         const std::vector<double>& terms, Tolerance tol, const std::string& what);

// Rounds each value to what `dtype` stores.
void round_to_dtype(std::vector<float>& values, DType dtype);

}  // namespace vkattn::test
