// Per-dtype tolerances of every GPU-vs-reference comparison, in one place.
//
// The reference runs in double on the inputs exactly as stored (fp16 inputs are rounded to fp16
// first), so the error measured is the kernel's own: fp32 accumulation and exp2, plus the
// rounding of O to its storage type. |gpu - ref| <= abs + rel * |ref| must hold elementwise.
#pragma once

#include "vkattn/dtype.hpp"

namespace vkattn::test {

struct Tolerance {
  double abs;
  double rel;
};

// O (stored in the dtype of Q).
constexpr Tolerance output_tolerance(DType t) {
  return t == DType::kF16 ? Tolerance{1e-3, 2e-3}   // fp16 has an 11-bit significand: 2^-11 = 4.9e-4
                          : Tolerance{2e-5, 1e-4};  // fp32 accumulation over up to a few thousand keys
}

// dQ, dK, dV (stored in the dtype of Q). They sum over a row or column of keys, and the
// reference uses O exactly where the kernel reads O as stored (rounded to fp16 for fp16).
constexpr Tolerance gradient_tolerance(DType t) {
  return t == DType::kF16 ? Tolerance{4e-3, 1e-2} : Tolerance{5e-5, 5e-4};
}

// LSE is always fp32.
constexpr Tolerance lse_tolerance(DType) { return Tolerance{1e-4, 1e-5}; }

}  // namespace vkattn::test
