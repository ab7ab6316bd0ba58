// Products of user-given sizes (batch x heads x seq, ...) checked before they are formed, so that
// a desc whose product wraps around 64 bits is refused by name instead of passing a later check
// with a wrapped value (or dividing by it).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "base/vk_util.hpp"

namespace vkattn {

// The product of `factors` (name, value; each value >= 1), or kInvalidArgument naming every factor
// where it exceeds `limit` ("desc.batch = 4294967296 * desc.heads = 4294967296 * desc.seq = 16
// exceeds 2^31 (rows)"). `limit_text` is how the message writes the limit, `what` what it counts.
inline Result<std::int64_t> checked_product(std::initializer_list<std::pair<const char*, std::int64_t>> factors,
                                            std::int64_t limit, const std::string& limit_text, const std::string& what) {
  std::int64_t product = 1;
  for (const auto& [unused, v] : factors) {
    if (__builtin_mul_overflow(product, v, &product) || product > limit) {
      std::string text;
      for (const auto& [name, f] : factors) text += (text.empty() ? "" : " * ") + std::string(name) + " = " + num(f);
      return invalid(text + " exceeds " + limit_text + " (" + what + ")");
    }
  }
  return product;
}

}  // namespace vkattn
