// Path choice: kAuto takes the coopmat kernel where the device and the problem allow it and the
// scalar kernel otherwise, visibly (the variant name ends in _coopmat or _scalar); desc.path and
// env VKATTN_PATH override it; an override that cannot be honoured is kUnsupported with the
// reason. On lavapipe (no VK_NV_cooperative_matrix) every case checks the refusals; on a device
// with it (the H100) the same cases check which kernel runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "coopmat_layout.hpp"
#include "fwd_variant.hpp"
#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

class KernelPathTest : public VkTest {
 protected:
  void SetUp() override {
    const char* env = std::getenv("VKATTN_PATH");  // the suite may run under VKATTN_PATH=scalar
    saved_env_ = env != nullptr ? std::optional<std::string>(env) : std::nullopt;
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    VkTest::SetUp();
  }
  void TearDown() override {
    if (saved_env_) {
      ::setenv("VKATTN_PATH", saved_env_->c_str(), 1);
    } else {
      ::unsetenv("VKATTN_PATH");
    }
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    VkTest::TearDown();
  }
  std::optional<std::string> saved_env_;
  static AttentionDesc desc(DType dtype, std::int64_t head_dim) {
    AttentionDesc d;
    d.dtype = dtype;
    d.q_heads = 2;
    d.seq_q = 40;
    d.seq_k = 72;
    d.head_dim = head_dim;
    return d;
  }
  std::string name_of(const AttentionDesc& d) {
    Result<std::string> n = forward_variant_name(ctx(), d);
    EXPECT_TRUE(n.is_ok()) << n.status().to_string();
    return n.is_ok() ? n.value() : "";
  }
  // Each malformed value of the tuning variable `var` is kInvalidArgument naming the variable,
  // the value and what it may be; `var` is unset afterwards.
  void expect_refused(const char* var, std::initializer_list<const char*> values, const std::string& allowed) {
    for (const char* value : values) {
      ::setenv(var, value, 1);
      Result<std::string> n = forward_variant_name(ctx(), desc(DType::kF16, 64));
      ASSERT_FALSE(n.is_ok()) << var << " = " << value;
      EXPECT_EQ(n.status().code(), ErrorCode::kInvalidArgument);
      const std::string expected = std::string(var) + " = \"" + value + "\" is not " + allowed;
      EXPECT_NE(n.status().message().find(expected), std::string::npos) << n.status().message();
    }
    ::unsetenv(var);
  }
  static bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  }
  // A plan created with desc.path = kCoopmat: a _coopmat variant on a device with the extension,
  // else kUnsupported naming the request and the missing extension.
  template <class Plan>
  void expect_coopmat_or_refusal(const Result<Plan>& plan) {
    if (ctx().info().coopmat) {
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      EXPECT_TRUE(ends_with(plan->variant_name(), "_coopmat")) << plan->variant_name();
      return;
    }
    ASSERT_FALSE(plan.is_ok());
    EXPECT_EQ(plan.status().code(), ErrorCode::kUnsupported) << plan.status().to_string();
    EXPECT_NE(plan.status().message().find("desc.path = coopmat"), std::string::npos) << plan.status().message();
    EXPECT_NE(plan.status().message().find("VK_NV_cooperative_matrix"), std::string::npos) << plan.status().message();
  }
};

TEST_F(KernelPathTest, AutoTakesCoopmatExactlyWhereItCanRun) {
  const bool cm = auto_uses_coopmat(ctx());
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 64)), cm ? "_coopmat" : "_scalar"));
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 128)), cm ? "_coopmat" : "_scalar"));
  // Never on coopmat: fp32 storage, a head dim that is not a multiple of 16.
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF32, 64)), "_scalar"));
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF16, 24)), "_scalar"));
  AttentionDesc dv = desc(DType::kF16, 32);
  dv.head_dim_v = 40;
  EXPECT_TRUE(ends_with(name_of(dv), "_scalar"));
}

TEST_F(KernelPathTest, ExplicitScalarAlwaysRunsScalar) {
  AttentionDesc d = desc(DType::kF16, 64);
  d.path = KernelPath::kScalar;
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
  ::setenv("VKATTN_PATH", "coopmat", 1);  // the env only overrides kAuto
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
}

TEST_F(KernelPathTest, ExplicitCoopmatRunsItOrSaysWhyNot) {
  AttentionDesc d = desc(DType::kF16, 64);
  d.path = KernelPath::kCoopmat;
  expect_coopmat_or_refusal(ForwardPlan::create(ctx(), d));
  // Problems the coopmat kernel cannot take, on any device: the first reason is named.
  struct Case {
    DType dtype;
    std::int64_t head_dim;
    const char* reason;
  };
  const Case cases[] = {{DType::kF32, 64, "desc.dtype = f32"}, {DType::kF16, 24, "desc.head_dim = 24"}};
  for (const Case& c : cases) {
    AttentionDesc bad = desc(c.dtype, c.head_dim);
    bad.path = KernelPath::kCoopmat;
    Result<ForwardPlan> p = ForwardPlan::create(ctx(), bad);
    ASSERT_FALSE(p.is_ok()) << c.reason;
    EXPECT_EQ(p.status().code(), ErrorCode::kUnsupported);
    const std::string expected = ctx().info().coopmat ? c.reason : "VK_NV_cooperative_matrix";
    EXPECT_NE(p.status().message().find(expected), std::string::npos) << p.status().message();
  }
}

TEST_F(KernelPathTest, EnvironmentOverridesAuto) {
  const AttentionDesc d = desc(DType::kF16, 64);
  ::setenv("VKATTN_PATH", "scalar", 1);
  EXPECT_TRUE(ends_with(name_of(d), "_scalar"));
  ::setenv("VKATTN_PATH", "coopmat", 1);
  Result<std::string> n = forward_variant_name(ctx(), d);
  if (ctx().info().coopmat) {
    ASSERT_TRUE(n.is_ok()) << n.status().to_string();
    EXPECT_TRUE(ends_with(n.value(), "_coopmat"));
  } else {
    ASSERT_FALSE(n.is_ok());
    EXPECT_EQ(n.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(n.status().message().find("VKATTN_PATH = coopmat"), std::string::npos) << n.status().message();
  }
  ::setenv("VKATTN_PATH", "tensorcores", 1);
  n = forward_variant_name(ctx(), d);
  ASSERT_FALSE(n.is_ok());
  EXPECT_EQ(n.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(n.status().message().find("VKATTN_PATH = \"tensorcores\""), std::string::npos) << n.status().message();
}

// VKATTN_CM_BLOCK_K forces the coopmat forward's key tile (for tuning); a malformed value is
// refused on every device, one whose shared memory does not fit is kUnsupported, and the scalar
// path ignores it.
TEST_F(KernelPathTest, CoopmatBlockKOverride) {
  const AttentionDesc d = desc(DType::kF16, 64);
  expect_refused("VKATTN_CM_BLOCK_K", {"48", "128", "0", "32x", "big"}, "16, 32 or 64");
  ::setenv("VKATTN_CM_BLOCK_K", "16", 1);
  const bool cm = auto_uses_coopmat(ctx());
  const std::string name = name_of(d);
  EXPECT_TRUE(ends_with(name, cm ? "_bq128_bk16_qsh_sg4_lse_coopmat" : "_scalar")) << name;
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF32, 64)), "_scalar"));
  if (cm) {  // 64 keys of Dk = Dv = 256 staged as fp16 need more than the H100's 48 KiB
    ::setenv("VKATTN_CM_BLOCK_K", "64", 1);
    Result<std::string> big = forward_variant_name(ctx(), desc(DType::kF16, 256));
    ASSERT_FALSE(big.is_ok());
    EXPECT_EQ(big.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(big.status().message().find("VKATTN_CM_BLOCK_K = 64 needs"), std::string::npos) << big.status().message();
  }
}

// VKATTN_CM_BLOCK_Q forces the coopmat forward's query tile (one or two 16-row fragments per
// subgroup); the key tile is then chosen for it. A malformed value is refused on every device.
TEST_F(KernelPathTest, CoopmatBlockQOverride) {
  const AttentionDesc d = desc(DType::kF16, 64);
  expect_refused("VKATTN_CM_BLOCK_Q", {"32", "512", "0", "64q", "x"}, "64, 128 or 256");
  const bool cm = auto_uses_coopmat(ctx());
  ::setenv("VKATTN_CM_BLOCK_Q", "64", 1);
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq64_bk64_qsh_sg4_lse_coopmat" : "_scalar")) << name_of(d);
  ::unsetenv("VKATTN_CM_BLOCK_Q");
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq128_bk64_qsh_sg4_lse_coopmat" : "_scalar")) << name_of(d);
}

// VKATTN_CM_SUBGROUPS forces the coopmat forward's subgroups per workgroup (the tiles are then
// chosen for it, and the name says _sg8); a malformed value is refused on every device, and on a
// coopmat device a query tile that does not give 16 or 32 rows per subgroup.
TEST_F(KernelPathTest, CoopmatSubgroupsOverride) {
  const AttentionDesc d = desc(DType::kF16, 64);
  expect_refused("VKATTN_CM_SUBGROUPS", {"2", "16", "0", "8x", "four"}, "4 or 8");
  const bool cm = auto_uses_coopmat(ctx());
  ::setenv("VKATTN_CM_SUBGROUPS", "8", 1);
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq128_bk64_qsh_sg8_lse_coopmat" : "_scalar")) << name_of(d);
  ::setenv("VKATTN_CM_BLOCK_Q", "256", 1);
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq256_bk32_sg8_lse_coopmat" : "_scalar")) << name_of(d);
  ::setenv("VKATTN_CM_BLOCK_Q", "64", 1);
  Result<std::string> bad = forward_variant_name(ctx(), d);
  if (cm) {
    ASSERT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("VKATTN_CM_BLOCK_Q = 64 with VKATTN_CM_SUBGROUPS = 8 gives 8 rows per "
                                          "subgroup (needs 16 or 32)"),
              std::string::npos)
        << bad.status().message();
  } else {
    EXPECT_TRUE(bad.is_ok()) << bad.status().to_string();  // the scalar path ignores the overrides
  }
}

// The overrides on an H100-like device, checked on any host: a forced query tile alone runs four
// subgroups (eight for 256 rows); eight subgroups are refused where the device cannot run 256
// invocations or their shared memory does not fit.
TEST_F(KernelPathTest, ForcedTilesOnACoopmatDevice) {
  ::unsetenv("VKATTN_PATH");
  DeviceInfo info;
  info.coopmat = true;
  info.subgroup_size = 32;
  info.max_workgroup_invocations = 1024;
  info.max_shared_memory = 49152;
  info.max_workgroup_count[0] = info.max_workgroup_count[1] = info.max_workgroup_count[2] = 65535;
  info.max_storage_buffer_range = info.max_buffer_size = info.max_memory_allocation_size = std::uint64_t{1} << 32;
  const auto spec_for = [&](std::int64_t head_dim) -> Result<FwdSpecConstants> {
    Result<FwdProblem> p = resolve_problem(desc(DType::kF16, head_dim), info);
    if (!p) return p.status();
    return choose_fwd_variant(p.value(), info);
  };
  ::setenv("VKATTN_CM_BLOCK_Q", "128", 1);
  ::setenv("VKATTN_CM_BLOCK_K", "32", 1);
  Result<FwdSpecConstants> s = spec_for(128);  // over the register budget with four subgroups: still four
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(std::tuple(s->block_q, s->block_k, s->workgroup_size), std::tuple(128u, 32u, 128u));
  ::setenv("VKATTN_CM_SUBGROUPS", "8", 1);
  s = spec_for(128);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(std::tuple(s->block_q, s->block_k, s->workgroup_size), std::tuple(128u, 32u, 256u));
  ::unsetenv("VKATTN_CM_SUBGROUPS");
  ::setenv("VKATTN_CM_BLOCK_Q", "256", 1);
  s = spec_for(64);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(std::tuple(s->block_q, s->block_k, s->workgroup_size), std::tuple(256u, 32u, 256u));
  const auto expect_unsupported = [&](std::int64_t head_dim, const std::string& message) {
    Result<FwdSpecConstants> r = spec_for(head_dim);
    ASSERT_FALSE(r.is_ok()) << "D = " << head_dim;
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  };
  // 64 keys of D = 144 beside eight subgroups' output scratch: 49,424 bytes (four: 44,304).
  ::setenv("VKATTN_CM_BLOCK_K", "64", 1);
  expect_unsupported(144, "VKATTN_CM_BLOCK_K = 64 with VKATTN_CM_BLOCK_Q = 256 needs 49424 bytes of shared memory");
  ::unsetenv("VKATTN_CM_BLOCK_K");
  info.max_workgroup_invocations = 128;
  expect_unsupported(64,
                     "VKATTN_CM_BLOCK_Q = 256 needs 256 invocations per workgroup, more than "
                     "maxComputeWorkGroupInvocations = 128");
  ::unsetenv("VKATTN_CM_BLOCK_Q");
  ::setenv("VKATTN_CM_SUBGROUPS", "8", 1);
  expect_unsupported(64, "VKATTN_CM_SUBGROUPS = 8 needs 256 invocations per workgroup");
}

// Every tile pair (and subgroup count) the coopmat forward accepts computes the right answer
// (auto picks one per head dim and device), and the variant name shows the forced tiles. Skipped
// where the auto path is not coopmat (lavapipe, VKATTN_PATH=scalar): the overrides do not apply
// there.
struct ForcedTiles {
  const char* block_q;
  const char* block_k;
  const char* subgroups;  // "" leaves VKATTN_CM_SUBGROUPS unset
  const char* name_tail;  // of the D = 64 variant: Q in shared memory where it fits
};

class KernelPathTiles : public VkTest, public ::testing::WithParamInterface<ForcedTiles> {
 protected:
  void TearDown() override {
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    VkTest::TearDown();
  }
};

TEST_P(KernelPathTiles, MatchesReference) {
  ::setenv("VKATTN_CM_BLOCK_Q", GetParam().block_q, 1);
  ::setenv("VKATTN_CM_BLOCK_K", GetParam().block_k, 1);
  if (*GetParam().subgroups != '\0') ::setenv("VKATTN_CM_SUBGROUPS", GetParam().subgroups, 1);
  if (!auto_uses_coopmat(ctx())) {
    GTEST_SKIP() << "the tile overrides apply to the coopmat forward only; forward_test and forward_variants_test "
                    "check the scalar kernel";
  }
  {  // the forced tiles are the ones that run
    AttentionDesc d;
    d.dtype = DType::kF16;
    d.q_heads = 2;
    d.seq_q = 150;
    d.seq_k = 203;
    d.head_dim = 64;
    Result<std::string> name = forward_variant_name(ctx(), d);
    ASSERT_TRUE(name.is_ok()) << name.status().to_string();
    const std::string tail = std::string(GetParam().name_tail) + "_lse_coopmat";
    EXPECT_TRUE(name->size() >= tail.size() && name->compare(name->size() - tail.size(), tail.size(), tail) == 0)
        << *name;
  }
  const CaseShape base{2, 4, 2, 150, 203, 64, DType::kF16, kCausalBR, Layout::kBSHD, true};
  check_case(ctx(), base);  // ragged lengths: partial query and key tiles
  check_case(ctx(), make(base, [](CaseShape& c) {
               c.head_dim = 128;
               c.mask = kNoMask;
               c.mask.window_left = 50;
               c.mask.window_right = 20;
               c.mod.softcap = 20.0f;
               c.mod.alibi = Alibi::kPerHead;
             }));
  check_case(ctx(), make(base, [](CaseShape& c) {
               c.batch = 3;
               c.head_dim = 32;
               c.head_dim_v = 64;
               c.mask = kNoMask;
               c.mask.documents = true;
               c.seqs = SeqKind::kVarlen;
             }));
}

INSTANTIATE_TEST_SUITE_P(Forced, KernelPathTiles,
                         ::testing::Values(ForcedTiles{"64", "16", "", "_bq64_bk16_qsh_sg4"},
                                           ForcedTiles{"64", "32", "", "_bq64_bk32_qsh_sg4"},
                                           ForcedTiles{"64", "64", "", "_bq64_bk64_qsh_sg4"},
                                           ForcedTiles{"128", "16", "", "_bq128_bk16_qsh_sg4"},
                                           ForcedTiles{"128", "32", "", "_bq128_bk32_qsh_sg4"},
                                           ForcedTiles{"128", "64", "", "_bq128_bk64_qsh_sg4"},
                                           // Eight subgroups: one row fragment each (128 rows), or two (256 rows: Q
                                           // does not fit in 48 KiB beside the tiles and stays in registers).
                                           ForcedTiles{"128", "32", "8", "_bq128_bk32_qsh_sg8"},
                                           ForcedTiles{"128", "64", "8", "_bq128_bk64_qsh_sg8"},
                                           ForcedTiles{"256", "16", "8", "_bq256_bk16_sg8"},
                                           ForcedTiles{"256", "32", "8", "_bq256_bk32_sg8"}),
                         [](const auto& p) {
                           return std::string("bq") + p.param.block_q + "_bk" + p.param.block_k +
                                  (*p.param.subgroups != '\0' ? std::string("_sg") + p.param.subgroups : std::string());
                         });

// The coopmat kernels index accumulators by NVIDIA's mma layout; a context takes the coopmat path
// only after its probe dispatch read back exactly that layout. The comparison itself runs here
// on any device; the probe runs wherever DeviceInfo::coopmat could be set (the H100).
TEST(CoopmatPrefetch, ChunksPerInvocationRoundUpPerTensor) {
  EXPECT_EQ(cm_prefetch_chunks(64, 64, 64, 128), 8u);     // auto: 64 keys at D = 64
  EXPECT_EQ(cm_prefetch_chunks(64, 128, 128, 128), 16u);  // over kCmPrefetchChunks for 128 invocations
  EXPECT_EQ(cm_prefetch_chunks(64, 128, 128, 256), 8u);   // the forward's eight subgroups at D = 128
  EXPECT_EQ(cm_prefetch_chunks(32, 128, 128, 128), 8u);
  EXPECT_EQ(cm_prefetch_chunks(32, 144, 128, 128), 9u);  // 5 chunks of K (4.5 rounded up) + 4 of V
  EXPECT_EQ(cm_prefetch_chunks(16, 256, 256, 128), 8u);
}

// The coopmat tiles come from the device's shared memory and the register bounds, not from
// constants for one device: an H100's limits and a smaller budget, checked on any host.
TEST(CoopmatTiles, ChosenFromSharedMemoryAndRegisters) {
  EXPECT_EQ(cm_fwd_fragment_registers(128, 32, 64, 64, false, 4), 144u);
  EXPECT_EQ(cm_fwd_fragment_registers(128, 64, 64, 64, false, 4), 192u);  // over kCmFragmentRegisters
  EXPECT_EQ(cm_fwd_fragment_registers(128, 64, 64, 64, true, 4), 160u);   // auto at D = 64: Q in shared memory
  EXPECT_EQ(cm_fwd_fragment_registers(64, 64, 64, 64, false, 4), 112u);
  EXPECT_EQ(cm_fwd_fragment_registers(64, 32, 128, 128, false, 4), 144u);
  EXPECT_EQ(cm_fwd_fragment_registers(128, 16, 128, 128, false, 4), 224u);
  EXPECT_EQ(cm_fwd_fragment_registers(128, 16, 128, 128, true, 4), 160u);  // four subgroups' only fit at D = 128
  EXPECT_EQ(cm_shared_bytes(128, 64, 64, 64, true, 4), 42256u);            // within the H100's 48 KiB
  EXPECT_EQ(cm_shared_bytes(128, 32, 128, 128, true, 4), 57488u);  // over it: four subgroups take 16 keys at D = 128
  EXPECT_EQ(cm_shared_bytes(128, 16, 128, 128, true, 4), 48720u);
  EXPECT_EQ(cm_fwd_fragment_registers(128, 64, 128, 128, false, 8), 160u);  // eight subgroups, one fragment each
  EXPECT_EQ(cm_shared_bytes(128, 64, 128, 128, false, 8), 45328u);          // out_sh grows with the subgroups
  DeviceInfo info;
  info.coopmat = true;
  info.subgroup_size = 32;
  info.max_workgroup_invocations = 1024;
  info.max_shared_memory = 49152;  // the H100's maxComputeSharedMemorySize
  const auto tiles = [&](std::int64_t d, std::uint32_t forced_subgroups = 0) {
    FwdProblem p;
    p.desc.dtype = DType::kF16;
    p.desc.head_dim = d;
    p.head_dim_v = d;
    p.coopmat = true;
    p.cm_subgroups = forced_subgroups;
    const FwdSpecConstants fwd = choose_fwd_variant(p, info);
    return std::tuple{fwd.block_q, fwd.block_k, fwd.q_shared, fwd.workgroup_size};
  };
  EXPECT_EQ(tiles(64), (std::tuple{128u, 64u, 1u, 128u}));
  // Four subgroups reach 16 keys at D = 128 (Q in registers would leave room for no S), eight
  // with one fragment each reach 64: the longer key tile wins.
  EXPECT_EQ(tiles(128), (std::tuple{128u, 64u, 0u, 256u}));
  EXPECT_EQ(tiles(96), (std::tuple{128u, 64u, 0u, 256u}));  // 8 x 1 before 4 x 1 (not measured at 96)
  EXPECT_EQ(tiles(32), (std::tuple{128u, 64u, 1u, 128u}));  // ties go to four subgroups
  EXPECT_EQ(tiles(256), (std::tuple{64u, 16u, 0u, 128u}));  // over every budget: the smallest tiles, Q in registers
  // Eight subgroups forced: 16 rows each, and the largest key tile within the budget (a 256-lane
  // workgroup holds half the prefetched tile per invocation); 256 x 16 would exceed it.
  EXPECT_EQ(tiles(64, 8), (std::tuple{128u, 64u, 1u, 256u}));
  EXPECT_EQ(tiles(128, 8), (std::tuple{128u, 64u, 0u, 256u}));
  // Four subgroups forced at D = 128: 4 x 1 reaches 32 keys, 4 x 2 only 16 (the automatic tiles
  // before the ninth session, which VKATTN_CM_BLOCK_Q=128 VKATTN_CM_BLOCK_K=16 still give).
  EXPECT_EQ(tiles(128, 4), (std::tuple{64u, 32u, 1u, 128u}));
  info.max_shared_memory = 12288;  // Q does not fit; 32-key tiles at D = 64 need 14,480 bytes, 16-key ones 9,808
  EXPECT_EQ(tiles(64), (std::tuple{128u, 16u, 0u, 128u}));
}

TEST(CoopmatLayout, ComparisonNamesTheFirstDifference) {
  std::vector<float> cells(256);
  std::vector<float> counts(32, 8.0f);
  for (std::uint32_t lane = 0; lane < 32; ++lane) {
    for (std::uint32_t e = 0; e < 8; ++e) {
      cells[8 * lane + e] = static_cast<float>(16 * mma_acc_row(lane, e) + mma_acc_col(lane, e));
    }
  }
  EXPECT_EQ(compare_with_mma_layout(cells, counts), "");
  // Every (row, column) appears exactly once.
  std::vector<int> seen(256, 0);
  for (float c : cells) ++seen[static_cast<std::size_t>(c)];
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 256);

  std::vector<float> swapped = cells;
  std::swap(swapped[8 * 5 + 2], swapped[8 * 5 + 4]);  // lane 5: a column pair and a row half traded
  EXPECT_NE(compare_with_mma_layout(swapped, counts).find("lane 5 element 2"), std::string::npos)
      << compare_with_mma_layout(swapped, counts);
  std::vector<float> short_lane = counts;
  short_lane[31] = 4.0f;
  EXPECT_NE(compare_with_mma_layout(cells, short_lane).find("lane 31 holds"), std::string::npos);
}

// On an NVIDIA device that lists the extension the probe must pass: a driver whose layout changed
// fails here instead of the rest of the suite quietly running the scalar kernels.
TEST_F(KernelPathTest, CoopmatNeedsTheProbedLayout) {
  std::uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(ctx().physical_device(), nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(ctx().physical_device(), nullptr, &n, exts.data());
  const bool listed = std::any_of(exts.begin(), exts.end(), [](const VkExtensionProperties& e) {
    return std::string(e.extensionName) == VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
  });
  if (!listed) GTEST_SKIP() << "the device does not list VK_NV_cooperative_matrix (lavapipe): nothing to probe";
  constexpr std::uint32_t kNvidia = 0x10DE;
  if (ctx().info().vendor_id == kNvidia) {
    ASSERT_TRUE(ctx().info().coopmat) << "an NVIDIA device with the extension should take the coopmat path";
  }
  if (!ctx().info().coopmat) GTEST_SKIP() << "the extension is listed, but not usable here";
  Result<std::string> diff = probe_coopmat_layout(ctx());
  ASSERT_TRUE(diff.is_ok()) << diff.status().to_string();
  EXPECT_EQ(diff.value(), "");
}

// The backward follows the same choice, with one more limit of its own: head dims up to 128.
TEST_F(KernelPathTest, BackwardPathFollowsTheChoice) {
  const bool cm = auto_uses_coopmat(ctx());
  Result<BackwardPlan> auto64 = BackwardPlan::create(ctx(), desc(DType::kF16, 64));
  ASSERT_TRUE(auto64.is_ok()) << auto64.status().to_string();
  EXPECT_TRUE(ends_with(auto64->variant_name(), cm ? "_coopmat" : "_scalar")) << auto64->variant_name();
  // Head dim 256: the forward may take coopmat, the backward falls back to scalar visibly...
  Result<BackwardPlan> auto256 = BackwardPlan::create(ctx(), desc(DType::kF16, 256));
  ASSERT_TRUE(auto256.is_ok()) << auto256.status().to_string();
  EXPECT_TRUE(ends_with(auto256->variant_name(), "_scalar")) << auto256->variant_name();
  // ... and an explicit coopmat request is refused with the reason.
  AttentionDesc d256 = desc(DType::kF16, 256);
  d256.path = KernelPath::kCoopmat;
  Result<BackwardPlan> forced256 = BackwardPlan::create(ctx(), d256);
  ASSERT_FALSE(forced256.is_ok());
  EXPECT_EQ(forced256.status().code(), ErrorCode::kUnsupported) << forced256.status().to_string();
  const std::string reason = ctx().info().coopmat ? "head dims 256/256" : "VK_NV_cooperative_matrix";
  EXPECT_NE(forced256.status().message().find(reason), std::string::npos) << forced256.status().message();

  AttentionDesc d64 = desc(DType::kF16, 64);
  d64.path = KernelPath::kCoopmat;
  expect_coopmat_or_refusal(BackwardPlan::create(ctx(), d64));
}

// The kernel auto picks computes the right answer: fp16 cases the coopmat kernel takes on a
// device that has it, with every mask and score_mod, GQA, varlen, padding and ragged lengths
// (tile edges). On lavapipe they run the scalar kernel.
class KernelPathCorrectness : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(KernelPathCorrectness, MatchesReference) { check_case(ctx(), GetParam()); }

std::vector<CaseShape> path_cases() {
  const CaseShape base{1, 2, 2, 77, 130, 64, DType::kF16, kNoMask, Layout::kBHSD, true};
  std::vector<CaseShape> v;
  for (std::int64_t d : {16, 64, 128}) {
    v.push_back(make(base, [&](CaseShape& c) { c.head_dim = d; }));
    v.push_back(make(base, [&](CaseShape& c) {
      c.batch = 2;
      c.q_heads = 4;
      c.seq_q = c.seq_k = 64;
      c.head_dim = d;
      c.mask = kCausalBR;
      c.layout = Layout::kBSHD;
    }));
  }
  v.push_back(make(base, [](CaseShape& c) {  // rows that see no key
    c.seq_q = 200;
    c.seq_k = 33;
    c.kv_heads = 1;
    c.mask = kCausalBR;
    c.layout = Layout::kSBHD;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // decode-like, no LSE
    c.seq_q = 1;
    c.seq_k = 300;
    c.head_dim = 128;
    c.with_lse = false;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // every score_mod with a window
    c.mask.window_left = 40;
    c.mask.window_right = 7;
    c.mod.softcap = 20.0f;
    c.mod.alibi = Alibi::kPerHead;
    c.mod.rel_pos_max_distance = 9;
    c.mod.bias = DType::kF16;
    c.mod.sinks = true;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // documents, varlen, Dk != Dv
    c.batch = 3;
    c.mask.documents = true;
    c.seqs = SeqKind::kVarlen;
    c.head_dim = 32;
    c.head_dim_v = 64;
  }));
  v.push_back(make(base, [](CaseShape& c) {  // padding, top-left causal
    c.batch = 2;
    c.seqs = SeqKind::kPadded;
    c.mask = Mask::causal_mask(Align::kTopLeft);
  }));
  return v;
}

INSTANTIATE_TEST_SUITE_P(Auto, KernelPathCorrectness, ::testing::ValuesIn(path_cases()),
                         [](const auto& p) { return p.param.name(); });

// The backward auto picks (coopmat dq/dkdv kernels where the device has them) on the same cases.
class KernelPathBackward : public VkTest, public ::testing::WithParamInterface<CaseShape> {};

TEST_P(KernelPathBackward, MatchesReference) { check_backward_case(ctx(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(Auto, KernelPathBackward, ::testing::ValuesIn(path_cases()),
                         [](const auto& p) { return p.param.name(); });

}  // namespace
}  // namespace vkattn::test
