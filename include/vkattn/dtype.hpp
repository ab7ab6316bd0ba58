// vkattn/dtype.hpp — storage element types. Arithmetic is always fp32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkattn {

enum class DType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kI32 = 2,   // index tensors (document ids); upload/download convert from/to float exactly up to 2^24
  kBF16 = 3,  // bfloat16 storage (fp32's upper 16 bits): Q, K, V, O, dO and the gradients; scalar path
};

constexpr bool known_dtype(DType t) { return static_cast<std::uint32_t>(t) <= static_cast<std::uint32_t>(DType::kBF16); }
constexpr std::size_t dtype_size(DType t) { return t == DType::kF16 || t == DType::kBF16 ? 2 : 4; }
const char* to_string(DType t);  // "f32", "f16", "i32", "bf16"

// IEEE binary16 conversions (round to nearest even), used by the upload/download helpers.
std::uint16_t float_to_half(float f);
float half_to_float(std::uint16_t h);
// bfloat16 conversions: to bf16 rounds to nearest even (overflow to Inf, NaN stays NaN); from
// bf16 is exact.
std::uint16_t float_to_bf16(float f);
float bf16_to_float(std::uint16_t b);

}  // namespace vkattn
