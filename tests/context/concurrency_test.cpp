// Several threads plan and run attention with distinct variants through one context at once:
// pipeline creation under contention (the registry), shared queue submissions, per-plan
// descriptors. Every result is checked against the fp64 reference.
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class Concurrency : public VkTest {};

TEST_F(Concurrency, ThreadsWithDistinctVariantsShareOneContext) {
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE("VKATTN_TEST_SEED=" + std::to_string(seed));
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, seed] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(t));
      for (int round = 0; round < 3; ++round) {
        // A variant no other thread uses in this round: head dim and mask differ.
        CaseShape shape{1,
                        2,
                        2,
                        30 + 7 * t,
                        41,
                        8 * (t + 1),
                        t % 2 ? DType::kF16 : DType::kF32,
                        round == 0   ? kNoMask
                        : round == 1 ? kCausalBR
                                     : Mask::window(5, 3),
                        Layout::kBHSD,
                        true};
        if (round == 2) shape.mod.softcap = 1.0f + static_cast<float>(t);
        if (t == 0 && round == 1) {  // one backward among the forwards
          Result<BackwardCase> b = BackwardCase::create(ctx(), shape, rng);
          ASSERT_TRUE(b.is_ok()) << b.status().to_string();
          run_backward_and_compare(ctx(), *b);
          continue;
        }
        Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
        ASSERT_TRUE(c.is_ok()) << c.status().to_string();
        run_and_compare(ctx(), *c);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const PipelineStats stats = ctx().pipeline_stats();
  EXPECT_GE(stats.misses, static_cast<std::uint64_t>(kThreads * 3)) << "each thread built its own variants";
}

}  // namespace
}  // namespace vkattn::test
