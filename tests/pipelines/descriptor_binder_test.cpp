// Both descriptor paths run on lavapipe: push descriptors (VK_KHR_push_descriptor) and pooled
// sets (forced by ContextOptions::force_pooled_descriptors).
#include "pipelines/descriptor_binder.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <optional>
#include <random>

#include "context/context_state.hpp"
#include "kernels/attn_bwd_interface.hpp"
#include "pipelines/pipeline_registry.hpp"
#include "support/attention_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class DescriptorPaths : public DescriptorPathTest {};

TEST_P(DescriptorPaths, SamePlanRecordsDifferentBuffersCorrectly) {
  const bool pooled = GetParam();
  EXPECT_EQ(ctx().info().push_descriptors, !pooled);
  std::mt19937_64 rng(test_seed());
  CaseShape shape{1, 2, 2, 40, 40, 32, DType::kF32, kCausalTL, Layout::kBHSD, true};
  Result<AttentionCase> a = AttentionCase::create(ctx(), shape, rng);
  Result<AttentionCase> b = AttentionCase::create(ctx(), shape, rng);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  Result<ForwardPlan> plan = ForwardPlan::create(ctx(), a->desc());
  ASSERT_TRUE(plan.is_ok());
  // a, b, then a again (the pooled path reuses a's set), all in one command buffer.
  Status recorded;
  ASSERT_TRUE(ctx()
                  .submit_and_wait([&](VkCommandBuffer cmd) {
                    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
                    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                         0, 1, &mb, 0, nullptr, 0, nullptr);
                    int n = 0;
                    for (const AttentionCase* c : {&a.value(), &b.value(), &a.value()}) {
                      if (++n == 3) {
                        // NaN over a's first O, so the third dispatch must write every element again.
                        VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                                               VK_ACCESS_TRANSFER_WRITE_BIT};
                        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                             0, 1, &before, 0, nullptr, 0, nullptr);
                        vkCmdFillBuffer(cmd, a->o_dev->buffer(), 0, VK_WHOLE_SIZE, 0x7fc00000u);
                        VkMemoryBarrier fill{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                                             VK_ACCESS_SHADER_WRITE_BIT};
                        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                             0, 1, &fill, 0, nullptr, 0, nullptr);
                      }
                      if (recorded) recorded = plan->record(cmd, c->tensors());
                      // Write-after-write of the same O between the two recordings of a.
                      VkMemoryBarrier waw{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                                          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
                      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &waw, 0, nullptr, 0, nullptr);
                    }
                    VkMemoryBarrier done{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                                         VK_ACCESS_MEMORY_READ_BIT};
                    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                         0, 1, &done, 0, nullptr, 0, nullptr);
                  })
                  .is_ok());
  ASSERT_TRUE(recorded.is_ok()) << recorded.to_string();
  for (const AttentionCase* c : {&a.value(), &b.value()}) {
    const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
    expect_close(c->download_o(), ref.o, output_tolerance(shape.dtype), "O");
    expect_close(c->download_lse(), ref.lse, lse_tolerance(shape.dtype), "LSE");
  }
}

// release_descriptor_sets, called after the buffers a plan recorded with are destroyed: the plan
// then binds new tensors' buffers correctly, round after round (both paths; a no-op with push
// descriptors). The hazard it exists for, a new buffer given a destroyed one's handle and bound
// through the stale set, depends on the driver reusing handles, which lavapipe did not do here,
// so this checks that pools and sets are rebuilt after a release, not the reuse itself.
TEST_P(DescriptorPaths, ReleasedSetsBindNewBuffers) {
  std::mt19937_64 rng(test_seed());
  CaseShape shape{1, 2, 1, 24, 24, 16, DType::kF32, kCausalTL, Layout::kBHSD, true};
  std::optional<ForwardPlan> fwd;
  {
    Result<AttentionCase> first = AttentionCase::create(ctx(), shape, rng);
    ASSERT_TRUE(first.is_ok());
    Result<ForwardPlan> plan = ForwardPlan::create(ctx(), first->desc());
    ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
    fwd.emplace(std::move(plan).value());
    Status s = fwd->run(first->tensors());
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }  // first's buffers are destroyed here
  fwd->release_descriptor_sets();
  for (int round = 0; round < 2; ++round) {
    Result<AttentionCase> c = AttentionCase::create(ctx(), shape, rng);
    ASSERT_TRUE(c.is_ok());
    const Status s = fwd->run(c->tensors());
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    const RefResult ref = reference_forward(c->ref_problem(), c->q, c->k, c->v);
    expect_close(c->download_o(), ref.o, output_tolerance(shape.dtype), "O, round " + std::to_string(round));
    fwd->release_descriptor_sets();
  }
}

// Plans reserve every pooled set of a call before recording its first command (so an allocation
// failure records nothing); a bind of reserved buffers must then reuse the set, not allocate.
TEST_P(DescriptorPaths, ReserveMakesTheSetThatBindThenReuses) {
  const bool pooled = GetParam();
  const auto spec_map = bwd_spec_map();
  PipelineKey key;
  key.shader = ShaderId::kAttnBwdPre;
  key.spec_words.resize(kBwdSpecCount);
  const BwdSpecConstants spec;
  std::memcpy(key.spec_words.data(), &spec, sizeof(spec));
  const PipelineRecipe recipe{"reserve_test.pre", spec_map, kPreBindingCount, sizeof(BwdPrePushConstants)};
  Result<std::shared_ptr<const Pipeline>> pipeline = context_state(ctx()).pipelines->get(key, recipe);
  ASSERT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  std::vector<Tensor> buffers;
  for (int i = 0; i < 2; ++i) {
    Result<Tensor> t = Tensor::create_bytes(ctx(), 256);
    ASSERT_TRUE(t.is_ok());
    buffers.push_back(std::move(t).value());
  }
  auto infos = [&](std::size_t first) {
    std::array<VkDescriptorBufferInfo, kPreBindingCount> b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = {buffers[(first + i) % 2].buffer(), 0, VK_WHOLE_SIZE};
    return b;
  };
  {
    DescriptorBinder binder(*context_state(ctx()).device, pipeline.value());
    ASSERT_TRUE(binder.reserve(infos(0)).is_ok());
    EXPECT_EQ(binder.pooled_sets(), pooled ? 1u : 0u);
    ASSERT_TRUE(binder.reserve(infos(0)).is_ok());  // the same buffers again: the same set
    EXPECT_EQ(binder.pooled_sets(), pooled ? 1u : 0u);
    Status bound;
    ASSERT_TRUE(ctx()
                    .submit_and_wait([&](VkCommandBuffer cmd) {
                      vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.value()->handle);
                      bound = binder.bind(cmd, infos(0));
                    })
                    .is_ok());
    ASSERT_TRUE(bound.is_ok()) << bound.to_string();
    EXPECT_EQ(binder.pooled_sets(), pooled ? 1u : 0u);  // bind found the reserved set
    ASSERT_TRUE(binder.reserve(infos(1)).is_ok());      // other buffers: a second set
    EXPECT_EQ(binder.pooled_sets(), pooled ? 2u : 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, DescriptorPaths, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "pooled" : "push"; });

}  // namespace
}  // namespace vkattn::test
