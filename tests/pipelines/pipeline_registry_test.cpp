// The in-memory pipeline LRU: hit/miss/eviction counters, keys by value, plans outliving eviction.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

AttentionDesc desc_with(std::int64_t head_dim, Mask mask) {
  AttentionDesc d;
  d.dtype = DType::kF32;
  d.seq_q = 20;
  d.seq_k = 30;
  d.head_dim = head_dim;
  d.mask = mask;
  return d;
}

class PipelineRegistryTest : public VkTest {
 protected:
  void SetUp() override {
    ContextOptions o = test_options();
    o.pipeline_cache.capacity = 2;
    ctx_ = make_context(o);
    ASSERT_NE(ctx_, nullptr);
  }
};

TEST_F(PipelineRegistryTest, EqualDescriptionsHitByValue) {
  Result<ForwardPlan> a = ForwardPlan::create(ctx(), desc_with(16, kNoMask));
  Result<ForwardPlan> b = ForwardPlan::create(ctx(), desc_with(16, kNoMask));  // a different object, same value
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  const PipelineStats s = ctx().pipeline_stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.size, 1u);
  EXPECT_EQ(a->variant_name(), b->variant_name());
}

TEST_F(PipelineRegistryTest, EvictsLeastRecentlyUsedAtCapacity) {
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kNoMask)).is_ok());    // A (miss)
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kCausalTL)).is_ok());  // B (miss)
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kNoMask)).is_ok());    // A (hit; B is now LRU)
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kCausalBR)).is_ok());  // C (miss, evicts B)
  PipelineStats s = ctx().pipeline_stats();
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.size, 2u);
  EXPECT_EQ(s.capacity, 2u);
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kNoMask)).is_ok());  // A still held
  EXPECT_EQ(ctx().pipeline_stats().hits, 2u);
  ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(16, kCausalTL)).is_ok());  // B was evicted
  s = ctx().pipeline_stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.evictions, 2u);
}

TEST_F(PipelineRegistryTest, PlanKeepsWorkingAfterItsPipelineIsEvicted) {
  std::mt19937_64 rng(test_seed());
  CaseShape shape{1, 2, 2, 20, 30, 16, DType::kF32, kCausalTL, Layout::kBHSD, true};
  Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(c.is_ok());
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), c->desc());
  ASSERT_TRUE(plan.is_ok());
  for (std::int64_t d : {24, 32, 40}) ASSERT_TRUE(ForwardPlan::create(ctx(), desc_with(d, kNoMask)).is_ok());
  EXPECT_GE(ctx().pipeline_stats().evictions, 2u);
  ASSERT_TRUE(plan->run(c->tensors()).is_ok());
  const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
  expect_close(c->download_o(), ref.o, output_tolerance(shape.dtype), "O");
}

// Compiler statistics (VK_KHR_pipeline_executable_properties): every pipeline held has a report
// under its variant name; with the extension (the H100) each report has statistics, without it
// (lavapipe) DeviceInfo::pipeline_statistics is false and the reports say nothing.
TEST_F(VkTest, PipelineReportsNameEveryPipelineAndCarryStatisticsWhereTheDriverHasThem) {
  ContextOptions o = test_options();
  o.capture_pipeline_statistics = true;
  std::unique_ptr<Context> c = make_context(o);
  ASSERT_NE(c, nullptr);
  Result<ForwardPlan> plan = ForwardPlan::create(*c, desc_with(32, kNoMask));
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  const std::vector<PipelineReport> reports = c->pipeline_reports();
  if (!c->info().pipeline_statistics) {
    EXPECT_TRUE(reports.empty());
    GTEST_SKIP() << c->info().name << " has no VK_KHR_pipeline_executable_properties";
  }
  ASSERT_FALSE(reports.empty());
  for (const PipelineReport& r : reports) {
    EXPECT_EQ(r.name, plan->variant_name());
    EXPECT_FALSE(r.statistics.empty()) << r.executable;
    for (const PipelineStatistic& st : r.statistics)
      std::printf("%s: %s = %g\n", r.executable.c_str(), st.name.c_str(), st.value);
  }
  // Without the option nothing is captured.
  std::unique_ptr<Context> plain = make_context(test_options());
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->info().pipeline_statistics);
}

}  // namespace
}  // namespace vkattn::test
