// The fp64 reference's dropout generator, written from the definition in vkattn/dropout.hpp and
// independently of the engine's (engine/base/dropout.cpp, shaders/attn_dropout.glsl), so a test
// comparing the two compares two implementations of Random123's Philox4x32-10.
#pragma once

#include <array>
#include <cstdint>

namespace vkattn::test {

// Random123's philox4x32 with 10 rounds.
std::array<std::uint32_t, 4> ref_philox4x32_10(const std::array<std::uint32_t, 4>& counter,
                                               const std::array<std::uint32_t, 2>& key);

// Z_ij: whether element (b, h, i, j) of a problem with `q_heads` query heads is kept.
bool ref_dropout_keep(std::uint64_t seed, std::uint32_t offset, double p, std::int64_t q_heads, std::int64_t b,
                      std::int64_t h, std::int64_t i, std::int64_t j);

}  // namespace vkattn::test
