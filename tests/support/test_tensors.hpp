// Small helpers the tests share for device tensors of given values.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

#include "vkattn/context.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn::test {

// A new tensor of `values.size()` elements of `dtype` holding `values` (rounded to the dtype).
Result<Tensor> upload_values(Context& ctx, DType dtype, const std::vector<float>& values);

// n values drawn uniformly from [lo, hi).
std::vector<float> uniform_values(std::size_t n, std::mt19937_64& rng, float lo = -1.0f, float hi = 1.0f);

}  // namespace vkattn::test
