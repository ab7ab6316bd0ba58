#include "vkattn/dropout.hpp"

#include <cmath>

namespace vkattn {

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += 0x9E3779B9u;
      k[1] += 0xBB67AE85u;
    }
    const std::uint64_t p0 = std::uint64_t{0xD2511F53u} * c[0];
    const std::uint64_t p1 = std::uint64_t{0xCD9E8D57u} * c[2];
    c = {static_cast<std::uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<std::uint32_t>(p1),
         static_cast<std::uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<std::uint32_t>(p0)};
  }
  return c;
}

std::uint32_t dropout_threshold(float p) {
  const double t = std::floor(static_cast<double>(p) * 65536.0);
  if (!(t > 0.0)) return 0;
  return t >= 65535.0 ? 0xFFFFu : static_cast<std::uint32_t>(t);
}

float dropout_scale(float p) { return static_cast<float>(65536.0 / (65536.0 - dropout_threshold(p))); }

bool dropout_keep(const DropoutRng& rng, float p, std::int64_t q_heads, std::int64_t b, std::int64_t h, std::int64_t i,
                  std::int64_t j) {
  const auto u32 = [](std::int64_t v) { return static_cast<std::uint32_t>(v); };
  // The group of (i, j): queries {i0, i0 + 8} x keys {j0, j0 + 1, j0 + 8, j0 + 9} of a 16 x 16 block.
  const std::uint32_t key_group = u32(((j >> 4) << 2) | ((j >> 1) & 3));
  const std::array<std::uint32_t, 4> w =
      philox4x32_10({key_group, u32(i & ~std::int64_t{8}), u32(b * q_heads + h), rng.offset},
                    {static_cast<std::uint32_t>(rng.seed), static_cast<std::uint32_t>(rng.seed >> 32)});
  const std::uint32_t word = w[static_cast<std::size_t>(((i >> 3) & 1) * 2 + ((j >> 3) & 1))];
  const std::uint32_t value = (j & 1) != 0 ? word >> 16 : word & 0xFFFFu;
  return value >= dropout_threshold(p);
}

}  // namespace vkattn
