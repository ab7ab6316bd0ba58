// vkattn/dtype.hpp — storage element types. Arithmetic is always fp32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkattn {

enum class DType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kI32 = 2,  // index tensors (document ids); upload/download convert from/to float exactly up to 2^24
};

constexpr std::size_t dtype_size(DType t) { return t == DType::kF16 ? 2 : 4; }
const char* to_string(DType t);  // "f32", "f16", "i32"

// IEEE binary16 conversions (round to nearest even), used by the upload/download helpers.
std::uint16_t float_to_half(float f);
float half_to_float(std::uint16_t h);

}  // namespace vkattn
