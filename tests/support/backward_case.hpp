// One backward problem: a forward case run on the device (O and LSE come from the forward
// kernel), random dO, NaN-poisoned dQ, dK, dV, and the fp64 reference gradients.
#pragma once

#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "attention_case.hpp"

namespace vkattn::test {

struct BackwardCase {
  AttentionCase fwd;
  std::vector<float> d_o;  // dense [B, Hq, Sq, Dv], rounded to the dtype
  std::optional<Tensor> do_dev, dq_dev, dk_dev, dv_dev;
  std::optional<Tensor> dbias_dev, dtable_dev, dsinks_dev;  // fp32, for the score_mods the case has

  // Creates the forward case (with LSE), runs the forward on the device, then allocates the rest.
  static Result<BackwardCase> create(Context& ctx, CaseShape shape, std::mt19937_64& rng);
  BackwardTensors tensors() const;
  std::vector<float> download(const Tensor& t, Role role) const;  // dense [B, H, S, D]
  Status poison();                                                // NaN into every gradient
  // The reference's full [B, Hq, Sq, Sk] dbias summed to the bias's (broadcast) shape.
  std::vector<double> reduce_dbias(const std::vector<double>& full) const;
};

// Runs the backward of `c` and compares dQ, dK, dV with the fp64 reference (gtest failures).
void run_backward_and_compare(Context& ctx, BackwardCase& c, BackwardOptions options = {});
// The comparison alone, of the gradients `c`'s device tensors hold now.
void compare_backward(const BackwardCase& c);

// A parameterized backward case: fresh inputs from test_seed() (traced), run, compare.
void check_backward_case(Context& ctx, const CaseShape& shape);

// The loss sum(O * dO) of `c`'s reference forward (problem `rp`) at inputs q, k, v: what the
// finite-difference checks differentiate.
double reference_loss(const BackwardCase& c, const RefProblem& rp, const std::vector<double>& q,
                      const std::vector<double>& k, const std::vector<double>& v);

// d loss / d x by central differences (step 1e-6, error ~1e-9 in fp64): each element of `x` is
// moved up and down in place, `loss` evaluated, and restored.
std::vector<double> central_differences(std::vector<double>& x, const std::function<double()>& loss);

}  // namespace vkattn::test
