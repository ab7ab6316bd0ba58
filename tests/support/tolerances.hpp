// Per-dtype tolerances of every GPU-vs-reference comparison, in one place.
//
// The reference runs in double on the inputs exactly as stored (fp16 and bf16 inputs are rounded
// to their type first), so the error measured is the kernel's own: fp32 accumulation and exp2, plus the
// rounding of O to its storage type. |gpu - ref| <= abs + of_max * max|ref| + rel * |ref| must
// hold elementwise (max over the compared tensor: gradients are small, and a fixed abs would
// accept zeros), plus of_terms * terms[i] where a comparison gives each element's sum of term
// magnitudes (the parameter gradients). VKATTN_TEST_MARGINS=1 prints each comparison's worst
// error as a fraction of what it allows.
#pragma once

#include "vkattn/dtype.hpp"

namespace vkattn::test {

struct Tolerance {
  double abs;
  double rel;
  double of_max = 0.0;    // times the largest |ref| of the tensor
  double of_terms = 0.0;  // times the element's sum of term magnitudes, where one is given
};

// O (stored in the dtype of Q).
// Its size falls with the keys a row averages over (|O| ~ 0.01 at 32k keys), so the absolute part
// is a fraction of the largest |O|.
constexpr Tolerance output_tolerance(DType t) {
  return t == DType::kF16    ? Tolerance{0.0, 2e-3, 1e-2}  // fp16 has an 11-bit significand: 2^-11 = 4.9e-4
         : t == DType::kBF16 ? Tolerance{0.0, 8e-3, 1e-3}  // bf16 an 8-bit one: rounding up to 2^-8 = 3.9e-3
                             : Tolerance{0.0, 1e-4, 1e-4};  // fp32 accumulation over up to 32k keys
}

// dQ, dK, dV and the parameter gradients (dQ, dK, dV stored in the dtype of Q). They sum over a
// row or column of keys, and the reference uses O exactly where the kernel reads O as stored
// (rounded to fp16 for fp16). Their size scales with 1/S, so the absolute part is a fraction of
// the tensor's largest value: fp16 2 % (the coopmat kernels round P and dS to fp16 before
// their products, 2^-11 each), fp32 0.01 %. bf16 runs on the scalar kernels (fp32 throughout):
// only the stored gradients' rounding, up to 2^-8 of each element (2x that allowed), and 0.1 % of
// the largest.
constexpr Tolerance gradient_tolerance(DType t) {
  return t == DType::kF16    ? Tolerance{0.0, 1e-2, 2e-2}
         : t == DType::kBF16 ? Tolerance{0.0, 8e-3, 1e-3}
                             : Tolerance{0.0, 5e-4, 1e-4};
}

// The parameter gradients (dbias reduced over broadcast dimensions, drel_pos_table, dsinks): sums
// of dS whose terms cancel (sum_j dS_ij = 0), so an element may be far below the rounding of its
// terms (a bucket that covers nearly all keys of its rows sums to almost nothing). On top of the
// gradient tolerance, each element may be off by a fraction of the sum of its terms' magnitudes
// (RefGrads::*_terms). attn_bwd_dparam.comp recomputes every dS in fp32 on both paths, from the
// inputs as stored and the forward's fp32 LSE, so the fraction is fp32's: 1e-6 (lavapipe: 1e-8
// where every term of a bucket cancels), 1e-5 for fp16 (the coopmat forward's LSE, from fp16
// operands with fp32 accumulation).
constexpr Tolerance param_gradient_tolerance(DType t) {
  Tolerance tol = gradient_tolerance(t);
  tol.of_terms = t == DType::kF16 ? 1e-5 : 1e-6;
  return tol;
}

// dQ and dK: the gradient tolerance, and (RefGrads::dq_terms, dk_terms) the fraction of each
// element's term magnitudes that the parameter gradients allow: where a row sees a single key,
// dS = P (dP - D) is 0 exactly, the reference's dQ and dK are 0 everywhere (so the tolerance
// relative to the largest |ref| is 0), and the kernels' dP and D, summed in different orders,
// leave rounding: measured on the H200's coopmat path, up to 6e-8 of term sums near 2.
constexpr Tolerance qk_gradient_tolerance(DType t) { return param_gradient_tolerance(t); }

// Huge logits (numerics_test: inputs scaled to ~1e3-6e4). LSE is the top score plus at most
// ln Sk, so it agrees to fp32's relative precision.
constexpr Tolerance huge_logit_lse_tolerance() { return Tolerance{0.0, 1e-5}; }

// LSE is always fp32.
constexpr Tolerance lse_tolerance(DType) { return Tolerance{1e-4, 1e-5}; }

}  // namespace vkattn::test
