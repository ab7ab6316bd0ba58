// A reproducible sample of the forward variant matrix: masks x score_mods x layouts x dtypes x
// GQA ratios x sequence kinds, with shapes off tile multiples.
#pragma once

#include <cstdint>
#include <vector>

#include "attention_case.hpp"

namespace vkattn::test {

// The seed of the CI sample (tests/plans/forward_variants_test.cpp). Documented so a failing
// combination can be found again; the random tensor data still comes from test_seed().
inline constexpr std::uint64_t kVariantSampleSeed = 20261122;

// `count` cases drawn from the matrix with `seed`; each feature is on with probability about 0.4.
// Head dims stay <= 64 so lavapipe compiles each variant in about a second.
std::vector<CaseShape> sample_variant_cases(std::uint64_t seed, int count);

}  // namespace vkattn::test
