// A larger sample of the forward variant matrix than CI runs: 200 combinations drawn with
// VKATTN_SWEEP_SEED (default kVariantSampleSeed + 1). CTest label "long" (scripts/test.sh skips
// it); run it with `ctest --test-dir build -L long` or the binary directly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "support/attention_case.hpp"
#include "support/variant_sampler.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

std::uint64_t sweep_seed() {
  if (const char* env = std::getenv("VKATTN_SWEEP_SEED")) return std::strtoull(env, nullptr, 10);
  return kVariantSampleSeed + 1;
}

class SweepTest : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(SweepTest, MatchesFp64Reference) { check_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Sweep, SweepTest, ::testing::ValuesIn(sample_variant_cases(sweep_seed(), 200)),
                         [](const ::testing::TestParamInfo<CaseShape>& p) {
                           return std::to_string(p.index) + "_" + p.param.name();
                         });

}  // namespace
}  // namespace vkattn::test
