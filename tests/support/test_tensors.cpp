#include "support/test_tensors.hpp"

#include "vkattn/dtype.hpp"

namespace vkattn::test {

Result<Tensor> upload_values(Context& ctx, DType dtype, const std::vector<float>& values) {
  Result<Tensor> t = Tensor::create_bytes(ctx, static_cast<VkDeviceSize>(values.size()) * dtype_size(dtype), dtype);
  if (!t) return t;
  if (Status s = t->upload(values); !s) return s;
  return t;
}

std::vector<float> uniform_values(std::size_t n, std::mt19937_64& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace vkattn::test
