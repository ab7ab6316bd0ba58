// The backward over the same 200-case sample as forward_sweep_test (VKATTN_SWEEP_SEED, default
// kVariantSampleSeed + 1). CTest label "long": `ctest --test-dir build -L long`.
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/backward_case.hpp"
#include "support/variant_sampler.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

std::uint64_t sweep_seed() {
  if (const char* env = std::getenv("VKATTN_SWEEP_SEED")) return std::strtoull(env, nullptr, 10);
  return kVariantSampleSeed + 1;
}

class BackwardSweepTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(BackwardSweepTest, MatchesFp64Reference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Sweep, BackwardSweepTest, ::testing::ValuesIn(sample_variant_cases(sweep_seed(), 200)),
                         [](const ::testing::TestParamInfo<CaseShape>& p) {
                           return std::to_string(p.index) + "_" + p.param.name();
                         });

}  // namespace
}  // namespace vkattn::test
