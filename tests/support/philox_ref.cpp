#include "support/philox_ref.hpp"

#include <cmath>

namespace vkattn::test {

std::array<std::uint32_t, 4> ref_philox4x32_10(const std::array<std::uint32_t, 4>& counter,
                                               const std::array<std::uint32_t, 2>& key) {
  // Round r uses key + r * (W0, W1) (mod 2^32): Random123's key schedule written out.
  constexpr std::uint64_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57, kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  std::uint64_t x0 = counter[0], x1 = counter[1], x2 = counter[2], x3 = counter[3];
  for (std::uint64_t r = 0; r < 10; ++r) {
    const std::uint64_t k0 = (key[0] + r * kW0) & 0xFFFFFFFFu;
    const std::uint64_t k1 = (key[1] + r * kW1) & 0xFFFFFFFFu;
    const std::uint64_t a = kM0 * x0;  // fits: both factors < 2^32
    const std::uint64_t c = kM1 * x2;
    const std::uint64_t n0 = (c >> 32) ^ x1 ^ k0, n1 = c & 0xFFFFFFFFu, n2 = (a >> 32) ^ x3 ^ k1, n3 = a & 0xFFFFFFFFu;
    x0 = n0, x1 = n1, x2 = n2, x3 = n3;
  }
  return {static_cast<std::uint32_t>(x0), static_cast<std::uint32_t>(x1), static_cast<std::uint32_t>(x2),
          static_cast<std::uint32_t>(x3)};
}

bool ref_dropout_keep(std::uint64_t seed, std::uint32_t offset, double p, std::int64_t q_heads, std::int64_t b,
                      std::int64_t h, std::int64_t i, std::int64_t j) {
  // Element (i, j) lies in the 16 x 16 block (i / 16, j / 16) at (r, c) = (i % 16, j % 16); its
  // group is the call for rows {r % 8, r % 8 + 8} and columns {c', c' + 1, c' + 8, c' + 9} with
  // c' = 2 ((c / 2) % 4), and its value the (2 (r / 8) + c / 8)-th word's half c % 2.
  const std::int64_t r = i % 16, c = j % 16;
  const std::int64_t counter0 = 4 * (j / 16) + (c / 2) % 4;
  const std::int64_t counter1 = 16 * (i / 16) + r % 8;
  const std::array<std::uint32_t, 4> w = ref_philox4x32_10(
      {static_cast<std::uint32_t>(counter0), static_cast<std::uint32_t>(counter1),
       static_cast<std::uint32_t>(b * q_heads + h), offset},
      {static_cast<std::uint32_t>(seed & 0xFFFFFFFFu), static_cast<std::uint32_t>(seed >> 32)});
  const std::uint32_t word = w[static_cast<std::size_t>(2 * (r / 8) + c / 8)];
  const std::uint32_t value = c % 2 == 0 ? word % 65536 : word / 65536;
  // Dropped iff the value (an integer below 2^16) is below p * 2^16, i.e. below floor(p * 2^16).
  return static_cast<double>(value) >= std::floor(p * 65536.0);
}

}  // namespace vkattn::test
