// The kernel object: built through the registry (equal builds share one pipeline), and its record
// step (bind the pipeline and the buffers, push the constants, dispatch) computing the right thing
// on the device. The kernel used is the backward's preprocessing, whose result is simple to check:
// lse2_i = LSE_i * log2 e and delta_i = sum_d dO_id O_id, on both descriptor paths.
#include "kernels/kernel.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "context/context_state.hpp"
#include "device/buffer_alloc.hpp"
#include "kernels/attn_bwd_interface.hpp"
#include "planning/attn_params.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/feature_spec.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class KernelTest : public DescriptorPathTest {};

TEST_P(KernelTest, BuildsThroughTheRegistryAndRecordsADispatch) {
  ContextState& s = context_state(ctx());
  AttentionDesc desc;
  desc.dtype = DType::kF32;
  desc.batch = 2;
  desc.q_heads = 3;
  desc.seq_q = 70;  // two workgroups of 64 rows, the second partial
  desc.seq_k = 5;
  desc.head_dim = 16;
  Result<Problem> p = resolve_problem(desc);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  const BwdSpecConstants spec = bwd_pre_spec(bwd_tiles(feature_spec(*p), false, s.device->info));
  const auto spec_map = bwd_spec_map();
  const KernelBuild build{ShaderId::kAttnBwdPre, spec_words(spec), spec_map,
                          "kernel_test.pre",     kPreBindingCount, sizeof(BwdPrePushConstants)};
  const std::uint64_t misses = ctx().pipeline_stats().misses;
  Result<Kernel> kernel = Kernel::create(*s.device, *s.pipelines, build);
  ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  Result<Kernel> again = Kernel::create(*s.device, *s.pipelines, build);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(&kernel->pipeline(), &again->pipeline()) << "equal builds share one pipeline";
  EXPECT_EQ(ctx().pipeline_stats().misses, misses + 1);

  const std::int64_t rows = desc.batch * desc.q_heads * desc.seq_q;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> o(static_cast<std::size_t>(rows * desc.head_dim)), d_o(o.size()),
      lse(static_cast<std::size_t>(rows));
  for (float& x : o) x = u(rng);
  for (float& x : d_o) x = u(rng);
  for (float& x : lse) x = 4.0f * u(rng);
  Result<Tensor> o_t = Tensor::create(ctx(), DType::kF32, {desc.batch, desc.q_heads, desc.seq_q, desc.head_dim});
  Result<Tensor> do_t = Tensor::create(ctx(), DType::kF32, {desc.batch, desc.q_heads, desc.seq_q, desc.head_dim});
  Result<Tensor> lse_t = Tensor::create(ctx(), DType::kF32, {desc.batch, desc.q_heads, desc.seq_q});
  Result<Tensor> work = Tensor::create(ctx(), DType::kF32, {2 * rows});
  ASSERT_TRUE(o_t.is_ok() && do_t.is_ok() && lse_t.is_ok() && work.is_ok());
  ASSERT_TRUE(o_t->upload(o).is_ok());
  ASSERT_TRUE(do_t->upload(d_o).is_ok());
  ASSERT_TRUE(lse_t->upload(lse).is_ok());
  ASSERT_TRUE(work->fill(std::nanf("")).is_ok());  // poisoned: every row must be written
  BufferAlloc params;
  ASSERT_TRUE(create_host_written_buffer(*s.device, attn_params_bytes(*p), params).is_ok());

  std::array<VkDescriptorBufferInfo, kPreBindingCount> buffers{};
  buffers[kPreO] = {o_t->buffer(), 0, VK_WHOLE_SIZE};
  buffers[kPreDo] = {do_t->buffer(), 0, VK_WHOLE_SIZE};
  buffers[kPreLse] = {lse_t->buffer(), 0, VK_WHOLE_SIZE};
  buffers[kPreParams] = {params.buffer, 0, VK_WHOLE_SIZE};
  buffers[kPreWork] = {work->buffer(), 0, VK_WHOLE_SIZE};
  BwdPrePushConstants push;
  const auto D = static_cast<std::uint32_t>(desc.head_dim);
  const auto S = static_cast<std::uint32_t>(desc.seq_q);
  const auto H = static_cast<std::uint32_t>(desc.q_heads);
  push.o_stride_s = push.do_stride_s = D;
  push.o_stride_h = push.do_stride_h = S * D;
  push.o_stride_b = push.do_stride_b = H * S * D;
  push.lse_stride_s = 1;
  push.lse_stride_h = S;
  push.lse_stride_b = H * S;
  ASSERT_TRUE(kernel->reserve(buffers).is_ok());
  Status recorded;
  ASSERT_TRUE(ctx()
                  .submit_and_wait([&](VkCommandBuffer cmd) {
                    compute_barrier(cmd);
                    recorded = kernel->record(
                        cmd, buffers, push,
                        {(S + spec.block_rows - 1) / spec.block_rows, static_cast<std::uint32_t>(desc.batch) * H, 1});
                  })
                  .is_ok());
  ASSERT_TRUE(recorded.is_ok()) << recorded.to_string();
  Result<std::vector<float>> out = work->download();
  ASSERT_TRUE(out.is_ok());
  for (std::int64_t r = 0; r < rows; ++r) {
    double delta = 0.0;
    for (std::int64_t d = 0; d < desc.head_dim; ++d) {
      delta += static_cast<double>(o[static_cast<std::size_t>(r * desc.head_dim + d)]) *
               d_o[static_cast<std::size_t>(r * desc.head_dim + d)];
    }
    const double lse2 = 1.4426950408889634 * lse[static_cast<std::size_t>(r)];
    EXPECT_NEAR((*out)[static_cast<std::size_t>(r)], lse2, 1e-5 * (1.0 + std::abs(lse2))) << "row " << r;
    EXPECT_NEAR((*out)[static_cast<std::size_t>(rows + r)], delta, 1e-5 * (1.0 + std::abs(delta))) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Descriptors, KernelTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? std::string("pooled") : std::string("push"); });

}  // namespace
}  // namespace vkattn::test
