// The host's model of each kernel's shared memory (fwd_shared_bytes, bwd_shared_bytes), which the
// tile rules rely on to stay within maxComputeSharedMemorySize, against what the driver reports
// for the pipelines it built (VK_KHR_pipeline_executable_properties): the report must be at least
// the model, and equal to it unless the kernel spills registers (NVIDIA then reports spill space
// in shared memory too: bench/RESULTS_H100.md). Runs where the driver reports statistics (NVIDIA);
// lavapipe has no VK_KHR_pipeline_executable_properties, so the model's arithmetic is checked
// there against the shaders' array sizes written out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "context/context_state.hpp"
#include "planning/bwd_tiles.hpp"
#include "planning/fwd_tiles.hpp"
#include "planning/planner.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The first statistic of `r` whose name contains all of `words` (case-insensitive).
std::optional<double> statistic(const PipelineReport& r, std::initializer_list<const char*> words) {
  for (const PipelineStatistic& s : r.statistics) {
    const std::string name = lower(s.name);
    if (std::all_of(words.begin(), words.end(), [&](const char* w) { return name.find(w) != std::string::npos; })) {
      return s.value;
    }
  }
  return std::nullopt;
}

// The arrays of each kernel as the shaders declare them, written out (fp16 tiles are uvec2 rows of
// D/4 + 2; fp32 tiles vec4s; int document ids; doc_range is int[4]).
TEST(SharedMemoryModel, MatchesTheShadersArrays) {
  FwdSpecConstants f;
  f.features.head_dim = 64;
  f.features.head_dim_v = 32;
  f.block_q = 128;
  f.block_k = 64;
  f.q_shared = 1;
  f.workgroup_size = 128;
  // tile_dk_sh: (64 keys + 128 Q rows) x (16 + 2) uvec2; tile_dv_sh: 64 x (8 + 2) uvec2;
  // out_sh: 4 subgroups x 16 x 20 floats; doc_k_tile: 64 ints; doc_range.
  EXPECT_EQ(fwd_shared_bytes(f, true), 192u * 18 * 8 + 64 * 10 * 8 + 4 * 16 * 20 * 4 + 64 * 4 + 16);
  f.block_k = 32;
  // attn_fwd.comp: k_tile 32 x 16 vec4, v_tile 32 x 8 vec4, lane_ml's two unused vec2 (one lane
  // per row), doc_k_tile, doc_range.
  EXPECT_EQ(fwd_shared_bytes(f, false), 32u * 16 * 16 + 32 * 8 * 16 + 16 + 32 * 4 + 16);
  BwdSpecConstants b;
  b.features.head_dim = b.features.head_dim_v = 128;
  b.block_rows = 128;
  b.block_cols = 64;
  const std::uint32_t staged = 64 * 34 * 8 * 2;      // K and V (dq) or Q and dO (dkdv) rows
  const std::uint32_t fixed = 8 * 16 * 20 * 4 + 16;  // out_sh of 8 subgroups, doc_range
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kDq, true), staged + 64 * 4 + fixed);
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kDkdv, true), staged + 64 * 12 + fixed);
  b.block_rows = 64;
  b.block_cols = 32;
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kDq, false), 2 * 32u * 32 * 16 + 32 * 4);     // k_tile, v_tile: 32 x 32 vec4
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kDkdv, false), 2 * 32u * 32 * 16 + 32 * 12);  // q_tile, do_tile
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kParam, false), 64u * 4);
  EXPECT_EQ(bwd_shared_bytes(b, BwdKernel::kPre, false), 0u);
}

class SharedMemoryReported : public VkTest {
 protected:
  void SetUp() override {
    ContextOptions o = test_options();
    o.capture_pipeline_statistics = true;
    ctx_ = make_context(o);
    ASSERT_NE(ctx_, nullptr);
  }
};

TEST_F(SharedMemoryReported, DriverReportsTheModel) {
  if (!ctx().info().pipeline_statistics) {
    GTEST_SKIP() << ctx().info().name << " reports no pipeline statistics (VK_KHR_pipeline_executable_properties)";
  }
  const ContextState& s = context_state(ctx());
  // The model of every pipeline these plans build, by name.
  std::map<std::string, std::uint32_t> model;
  std::set<std::string> unmodelled;  // pipelines reported without a host model (coopmat2)
  std::vector<AttentionDesc> descs;
  for (std::int64_t d : {64, 128, 96, 256}) {
    for (DType dtype : {DType::kF16, DType::kF32}) {
      AttentionDesc a;
      a.dtype = dtype;
      a.q_heads = 2;
      a.seq_q = a.seq_k = 64;
      a.head_dim = d;
      a.mask = Mask::causal_mask(Align::kBottomRight);
      a.mask.documents = d == 64;
      a.score_mod.bias = d == 128 ? std::optional<DType>(DType::kF32) : std::nullopt;
      descs.push_back(a);
    }
  }
  for (const AttentionDesc& a : descs) {
    Result<FwdVariant> f = plan_forward(a, s.device->info, s.overrides);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    Result<ForwardPlan> fp = ForwardPlan::create(ctx(), a);
    ASSERT_TRUE(fp.is_ok()) << fp.status().to_string();
    if (f->path.cm2) {
      // Cooperative matrix 2 (a suite run with VKATTN_CM2 = 1): the driver stages the
      // workgroup-scope matrices in shared memory of its own choosing, which has no host model;
      // what it reports is printed below.
      unmodelled.insert(f->name);
      unmodelled.insert(f->name + ".wide_rows");
    } else {
      model[f->name] = fwd_shared_bytes(f->spec, f->path.coopmat);
      if (f->path.coopmat) model[f->name + ".wide_rows"] = model[f->name];
    }
    Result<BwdVariant> b = plan_backward(a, s.device->info, s.overrides);
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    Result<BackwardPlan> bp = BackwardPlan::create(ctx(), a);
    ASSERT_TRUE(bp.is_ok()) << bp.status().to_string();
    const bool cm = b->path.coopmat;
    if (b->path.cm2) {  // as the forward's: no host model for the cooperative-matrix-2 kernels
      unmodelled.insert(b->name + ".dq");
      unmodelled.insert(b->name + ".dkdv");
    }
    model[b->name + ".pre"] = bwd_shared_bytes(bwd_pre_spec(b->spec), BwdKernel::kPre, false);
    for (const char* wide : {"", ".wide_rows"}) {
      if (b->path.cm2 || (*wide != '\0' && !cm)) break;  // the 16-byte-row builds exist on the coopmat path only
      model[b->name + ".dq" + wide] = bwd_shared_bytes(b->spec, BwdKernel::kDq, cm);
      model[b->name + ".dkdv" + wide] = bwd_shared_bytes(b->spec, BwdKernel::kDkdv, cm);
    }
    if (a.score_mod.bias) {
      model[b->name + ".dbias"] = bwd_shared_bytes(bwd_param_spec(b->spec, BwdParam::kBias), BwdKernel::kParam, cm);
    }
  }
  std::size_t compared = 0;
  for (const PipelineReport& r : ctx().pipeline_reports()) {
    if (unmodelled.contains(r.name)) {
      const std::optional<double> shared = statistic(r, {"shared"});
      const std::optional<double> registers = statistic(r, {"register"});
      std::cout << r.name << ": no model, reported " << (shared ? std::to_string(*shared) : "?") << " bytes, registers "
                << (registers ? std::to_string(*registers) : "?") << "\n";
      continue;
    }
    const auto it = model.find(r.name);
    if (it == model.end()) continue;
    std::optional<double> reported = statistic(r, {"shared"});
    if (!reported && it->second == 0) reported = 0.0;  // a kernel without shared memory may report none
    ASSERT_TRUE(reported.has_value()) << r.name << ": no statistic named like \"shared memory\"";
    const std::optional<double> registers = statistic(r, {"register"});
    std::cout << r.name << ": model " << it->second << " bytes, reported " << *reported << ", registers "
              << (registers ? std::to_string(*registers) : "?") << "\n";
    EXPECT_GE(*reported, it->second) << r.name;
    // More than the arrays only where the kernel sits at the register ceiling and spills.
    if (*reported != it->second) {
      EXPECT_TRUE(registers.has_value() && *registers >= 255)
          << r.name << ": reported " << *reported << " bytes, the model " << it->second;
    }
    ++compared;
  }
  EXPECT_GE(compared, model.size() / 2) << "most pipelines of the plans were found in the reports";
}

}  // namespace
}  // namespace vkattn::test
