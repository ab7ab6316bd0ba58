// The forward's tiles: the automatic rule and its shared-memory and register models (checked on
// an H100-like DeviceInfo on any host), the tuning overrides VKATTN_CM_BLOCK_Q, VKATTN_CM_BLOCK_K
// and VKATTN_CM_SUBGROUPS (malformed values refused on every device, tiles the device cannot hold
// refused with the limit), and every tiling they can force against the fp64 reference where the
// auto path is coopmat (skipped elsewhere).
#include "planning/fwd_tiles.hpp"

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "planning/feature_spec.hpp"
#include "planning/planner.hpp"
#include "support/attention_case.hpp"
#include "support/env_overrides.hpp"
#include "support/h100_like.hpp"
#include "support/kernel_path_fixture.hpp"

namespace vkattn::test {
namespace {

// fp16 features with head dims Dk and Dv and nothing else set: what the tile rules start from.
FeatureSpecConstants f16_features(std::int64_t dk, std::int64_t dv) {
  FeatureSpecConstants f;
  f.dtype = static_cast<std::uint32_t>(DType::kF16);
  f.head_dim = static_cast<std::uint32_t>(dk);
  f.head_dim_v = static_cast<std::uint32_t>(dv);
  return f;
}

// VKATTN_CM_BLOCK_K forces the coopmat forward's key tile (for tuning); a malformed value is
// refused on every device, one whose shared memory does not fit is kUnsupported, and the scalar
// path ignores it.
TEST_F(KernelPathTest, CoopmatBlockKOverride) {
  const AttentionDesc d = desc(DType::kF16, 64);
  expect_environment_refused("VKATTN_CM_BLOCK_K", {"48", "128", "0", "32x", "big"}, "16, 32 or 64");
  ::setenv("VKATTN_CM_BLOCK_K", "16", 1);
  reopen_context();
  if (auto_uses_coopmat2(ctx())) GTEST_SKIP() << "the coopmat forward's tile names; the coopmat2 pass plans f16 with cm2_tiles (coopmat2_planning_test)";
  const bool cm = auto_uses_coopmat(ctx());
  const std::string name = name_of(d);
  EXPECT_TRUE(ends_with(name, cm ? "_bq128_bk16_qsh_sg4_lse" + coopmat_suffix(ctx()) : std::string("_scalar"))) << name;
  EXPECT_TRUE(ends_with(name_of(desc(DType::kF32, 64)), "_scalar"));
  if (cm) {  // 64 keys of Dk = Dv = 256 staged as fp16 need more than the H100's 48 KiB
    ::setenv("VKATTN_CM_BLOCK_K", "64", 1);
    reopen_context();
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
  expect_environment_refused("VKATTN_CM_BLOCK_Q", {"32", "512", "0", "64q", "x"}, "64, 128 or 256");
  const bool cm = auto_uses_coopmat(ctx());
  ::setenv("VKATTN_CM_BLOCK_Q", "64", 1);
  reopen_context();
  if (auto_uses_coopmat2(ctx())) GTEST_SKIP() << "the coopmat forward's tile names; the coopmat2 pass plans f16 with cm2_tiles (coopmat2_planning_test)";
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq64_bk64_qsh_sg4_lse" + coopmat_suffix(ctx()) : std::string("_scalar"))) << name_of(d);
  ::unsetenv("VKATTN_CM_BLOCK_Q");
  reopen_context();
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq128_bk64_qsh_sg4_noprefetch_lse" + coopmat_suffix(ctx()) : std::string("_scalar"))) << name_of(d);
}

// VKATTN_CM_SUBGROUPS forces the coopmat forward's subgroups per workgroup (the tiles are then
// chosen for it, and the name says _sg8); a malformed value is refused on every device, and on a
// coopmat device a query tile that does not give 16 or 32 rows per subgroup.
TEST_F(KernelPathTest, CoopmatSubgroupsOverride) {
  const AttentionDesc d = desc(DType::kF16, 64);
  expect_environment_refused("VKATTN_CM_SUBGROUPS", {"2", "16", "0", "8x", "four"}, "4 or 8");
  const bool cm = auto_uses_coopmat(ctx());
  ::setenv("VKATTN_CM_SUBGROUPS", "8", 1);
  reopen_context();
  if (auto_uses_coopmat2(ctx())) GTEST_SKIP() << "the coopmat forward's tile names; the coopmat2 pass plans f16 with cm2_tiles (coopmat2_planning_test)";
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq128_bk64_qsh_sg8_lse" + coopmat_suffix(ctx()) : std::string("_scalar"))) << name_of(d);
  ::setenv("VKATTN_CM_BLOCK_Q", "256", 1);
  reopen_context();
  EXPECT_TRUE(ends_with(name_of(d), cm ? "_bq256_bk32_sg8_lse" + coopmat_suffix(ctx()) : std::string("_scalar"))) << name_of(d);
  ::setenv("VKATTN_CM_BLOCK_Q", "64", 1);
  reopen_context();
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
  DeviceInfo info = h100_like();
  info.max_storage_buffer_range = info.max_buffer_size = info.max_memory_allocation_size = std::uint64_t{1} << 32;
  const auto spec_for = [&](std::int64_t head_dim) -> Result<FwdSpecConstants> {
    Result<Overrides> o = env_overrides();  // what a context created now would take
    if (!o) return o.status();
    Result<FwdVariant> v = plan_forward(desc(DType::kF16, head_dim), info, o.value());
    if (!v) return v.status();
    return v->spec;
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
  bool no_prefetch = false;  // VKATTN_CM_NO_PREFETCH = 1: each K/V tile loaded at its turn
  bool stagger = false;      // VKATTN_CM_STAGGER = 1: V fetched while S computes, the next K while P V does
};

class KernelPathTiles : public VkTest, public ::testing::WithParamInterface<ForcedTiles> {
 protected:
  void TearDown() override {
    ::unsetenv("VKATTN_CM_BLOCK_Q");
    ::unsetenv("VKATTN_CM_BLOCK_K");
    ::unsetenv("VKATTN_CM_SUBGROUPS");
    ::unsetenv("VKATTN_CM_NO_PREFETCH");
    ::unsetenv("VKATTN_CM_STAGGER");
    VkTest::TearDown();
  }
};

TEST_P(KernelPathTiles, MatchesReference) {
  ::setenv("VKATTN_CM_BLOCK_Q", GetParam().block_q, 1);
  ::setenv("VKATTN_CM_BLOCK_K", GetParam().block_k, 1);
  if (*GetParam().subgroups != '\0') ::setenv("VKATTN_CM_SUBGROUPS", GetParam().subgroups, 1);
  if (GetParam().no_prefetch) ::setenv("VKATTN_CM_NO_PREFETCH", "1", 1);
  if (GetParam().stagger) ::setenv("VKATTN_CM_STAGGER", "1", 1);
  reopen_context();
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
    if (name->ends_with("_coopmat2")) {  // the GPU suite's coopmat2 pass: the forced tiles, cm2's name
      const std::string sg = *GetParam().subgroups != '\0' ? GetParam().subgroups : "4";
      const std::string tiles = std::string("_bq") + GetParam().block_q + "_bk" + GetParam().block_k + "_sg" + sg;
      EXPECT_NE(name->find(tiles), std::string::npos) << *name;
    } else {
      const std::string tail = std::string(GetParam().name_tail) + "_lse" + coopmat_suffix(ctx());
      EXPECT_TRUE(name->size() >= tail.size() && name->compare(name->size() - tail.size(), tail.size(), tail) == 0)
          << *name;
    }
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
                                           ForcedTiles{"256", "32", "8", "_bq256_bk32_sg8"},
                                           // Each K/V tile at its turn (KV_AHEAD = 0).
                                           ForcedTiles{"128", "64", "", "_bq128_bk64_qsh_sg4_noprefetch", true},
                                           ForcedTiles{"128", "32", "8", "_bq128_bk32_qsh_sg8_noprefetch", true},
                                           // Staggered loads (KV_AHEAD = 2): one more barrier per tile.
                                           ForcedTiles{"64", "64", "", "_bq64_bk64_qsh_sg4_stagger", false, true},
                                           ForcedTiles{"128", "64", "", "_bq128_bk64_qsh_sg4_stagger", false, true},
                                           ForcedTiles{"128", "32", "8", "_bq128_bk32_qsh_sg8_stagger", false, true}),
                         [](const auto& p) {
                           return std::string("bq") + p.param.block_q + "_bk" + p.param.block_k +
                                  (*p.param.subgroups != '\0' ? std::string("_sg") + p.param.subgroups : std::string()) +
                                  (p.param.no_prefetch ? "_noprefetch" : "") + (p.param.stagger ? "_stagger" : "");
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
  // Head dims of 8 mod 16 are held padded to the next multiple of 16 (attn_cm_tiles.glsl).
  EXPECT_EQ(cm_shared_bytes(128, 64, 72, 24, true, 4), cm_shared_bytes(128, 64, 80, 32, true, 4));
  EXPECT_EQ(cm_prefetch_chunks(64, 72, 40, 128), cm_prefetch_chunks(64, 80, 48, 128));
  EXPECT_EQ(cm_fwd_fragment_registers(128, 64, 72, 72, false, 8), cm_fwd_fragment_registers(128, 64, 80, 80, false, 8));
  EXPECT_EQ(cm_shared_bytes(128, 16, 128, 128, true, 4), 48720u);
  EXPECT_EQ(cm_fwd_fragment_registers(128, 64, 128, 128, false, 8), 160u);  // eight subgroups, one fragment each
  EXPECT_EQ(cm_shared_bytes(128, 64, 128, 128, false, 8), 45328u);          // out_sh grows with the subgroups
  DeviceInfo info = h100_like();
  const auto tiles = [&](std::int64_t d, std::uint32_t forced_subgroups = 0) {
    const FwdSpecConstants fwd = fwd_tiles(f16_features(d, d), true, info, FwdForcedTiles{0, 0, forced_subgroups});
    return std::tuple{fwd.block_q, fwd.block_k, fwd.q_shared, fwd.workgroup_size};
  };
  EXPECT_EQ(tiles(64), (std::tuple{128u, 64u, 1u, 128u}));
  // Four subgroups reach 16 keys at D = 128 (Q in registers would leave room for no S), eight
  // with one fragment each reach 64: the longer key tile wins by the rule (D = 112 with a mask,
  // or on a small grid), but the measured shapes come first: without a mask 256-row blocks at
  // D = 112 (32 keys), Q in registers; without a mask at D = 128, 4 x 2 with 32 keys and each
  // K/V tile loaded at its turn (KV_AHEAD = 0); with a causal or window mask 8 x 1 with 32 keys
  // and the next tile in registers; at D = 72, 80 and 96 4 x 2 with 64 keys, Q in registers and
  // each tile at its turn.
  EXPECT_EQ(tiles(72), (std::tuple{128u, 64u, 0u, 128u}));
  EXPECT_EQ(tiles(80), (std::tuple{128u, 64u, 0u, 128u}));
  EXPECT_EQ(tiles(112), (std::tuple{256u, 32u, 0u, 256u}));
  EXPECT_EQ(tiles(88), (std::tuple{128u, 64u, 0u, 256u}));  // not measured: the rule
  // Where 256-row blocks do not pay (wide_blocks = false: too few blocks, a part-filled last wave
  // or padding), the rule's 128-row tiles; D = 128's measured 128-row shape does not depend on it.
  const auto small_grid = [&](std::int64_t d) {
    const FwdSpecConstants fwd = fwd_tiles(f16_features(d, d), true, info, FwdForcedTiles{}, 0, false);
    return std::tuple{fwd.block_q, fwd.block_k, fwd.q_shared, fwd.workgroup_size, fwd.kv_ahead};
  };
  EXPECT_EQ(small_grid(72), (std::tuple{128u, 64u, 0u, 128u, 0u}));  // the same on any grid
  EXPECT_EQ(small_grid(112), (std::tuple{128u, 64u, 0u, 256u, 1u}));
  EXPECT_EQ(small_grid(128), (std::tuple{128u, 32u, 0u, 128u, 0u}));
  EXPECT_EQ(tiles(128), (std::tuple{128u, 32u, 0u, 128u}));
  EXPECT_EQ(tiles(96), (std::tuple{128u, 64u, 0u, 128u}));
  const auto kv_ahead = [&](std::int64_t d, std::uint32_t causal, std::uint32_t window) {
    FeatureSpecConstants f = f16_features(d, d);
    f.causal = causal;
    f.window = window;
    const FwdSpecConstants fwd = fwd_tiles(f, true, info);
    return std::tuple{fwd.block_q, fwd.block_k, fwd.workgroup_size, fwd.kv_ahead};
  };
  EXPECT_EQ(kv_ahead(128, 0, 0), (std::tuple{128u, 32u, 128u, 0u}));
  EXPECT_EQ(kv_ahead(128, 1, 0), (std::tuple{128u, 32u, 256u, 1u}));
  EXPECT_EQ(kv_ahead(128, 0, 1), (std::tuple{128u, 32u, 256u, 1u}));
  EXPECT_EQ(kv_ahead(96, 1, 0), (std::tuple{128u, 64u, 128u, 0u}));
  EXPECT_EQ(kv_ahead(64, 0, 0), (std::tuple{128u, 64u, 128u, 0u}));  // the rule's tiles, measured without the next tile
  EXPECT_EQ(kv_ahead(64, 1, 0), (std::tuple{128u, 64u, 128u, 0u}));
  EXPECT_EQ(kv_ahead(32, 0, 0), (std::tuple{128u, 64u, 128u, 1u}));  // not measured: the next tile in registers
  EXPECT_EQ(kv_ahead(80, 1, 0), (std::tuple{128u, 64u, 128u, 0u}));  // masked too
  EXPECT_EQ(kv_ahead(80, 0, 0), (std::tuple{128u, 64u, 128u, 0u}));
  EXPECT_EQ(kv_ahead(112, 0, 1), (std::tuple{128u, 64u, 256u, 1u}));
  EXPECT_EQ(kv_ahead(72, 1, 0), (std::tuple{128u, 64u, 128u, 0u}));
  EXPECT_EQ(kv_ahead(112, 1, 0), (std::tuple{128u, 64u, 256u, 1u}));  // masked: the rule
  EXPECT_EQ(tiles(32), (std::tuple{128u, 64u, 1u, 128u}));  // ties go to four subgroups
  EXPECT_EQ(tiles(256), (std::tuple{64u, 16u, 0u, 128u}));  // over every budget: the smallest tiles, Q in registers
  // Eight subgroups forced: 16 rows each, and the largest key tile within the budget (a 256-lane
  // workgroup holds half the prefetched tile per invocation); 256 x 16 would exceed it.
  EXPECT_EQ(tiles(64, 8), (std::tuple{128u, 64u, 1u, 256u}));
  EXPECT_EQ(tiles(128, 8), (std::tuple{128u, 64u, 0u, 256u}));
  // Four subgroups forced at D = 128: 4 x 1 reaches 32 keys, 4 x 2 only 16 (the automatic tiles
  // before the ninth session, which VKATTN_CM_BLOCK_Q=128 VKATTN_CM_BLOCK_K=16 still give).
  EXPECT_EQ(tiles(128, 4), (std::tuple{64u, 32u, 1u, 128u}));
  // 30 KiB: D = 96's measured 4 x 2 tiles (32,016 bytes) do not fit, so the rule chooses: 8 x 1
  // with 32 keys (4 x 2 reaches only 16, 64 keys do not fit).
  EXPECT_EQ(cm_shared_bytes(128, 64, 96, 96, false, 4), 32016u);
  info.max_shared_memory = 30720;
  EXPECT_EQ(tiles(96), (std::tuple{128u, 32u, 0u, 256u}));
  info.max_shared_memory = 12288;  // Q does not fit; 32-key tiles at D = 64 need 14,480 bytes, 16-key ones 9,808
  EXPECT_EQ(tiles(64), (std::tuple{128u, 16u, 0u, 128u}));
}

// Times in tenths of a 128-row block sharing its multiprocessor (wide_query_blocks_fit): 256-row
// blocks 9 each, ceil(wide / 132) in a row; 128-row blocks 10 a pair and 6 alone, m = ceil(narrow
// / 132). Every measured grid (H100, 132 units), with the time of 256-row blocks over 128-row ones.
TEST(CoopmatTiles, WideQueryBlocksWhereTheirWavesAreFull) {
  EXPECT_TRUE(wide_query_blocks_fit(4 * 16, 4096, 132));   // 1,024 blocks: 72 against 80; 0.87x measured
  EXPECT_TRUE(wide_query_blocks_fit(16, 5776, 132));       // 368 blocks: 27 against 30
  EXPECT_TRUE(wide_query_blocks_fit(16, 4096, 132));       // 256 blocks: 18 against 20; 0.90x
  EXPECT_TRUE(wide_query_blocks_fit(16, 2048, 132));       // 128 blocks: 9 against 10; 0.83x
  EXPECT_TRUE(wide_query_blocks_fit(8, 4096, 132));        // 128: 0.80x
  EXPECT_FALSE(wide_query_blocks_fit(16, 3072, 132));      // 192 blocks: 18 against 16; 1.12x
  EXPECT_FALSE(wide_query_blocks_fit(16, 1024, 132));      // 64 blocks: 9 against 6; 1.46x
  EXPECT_FALSE(wide_query_blocks_fit(4, 4096, 132));       // 64: 1.47x
  EXPECT_FALSE(wide_query_blocks_fit(2, 8192, 132));       // 64: 1.47x
  EXPECT_FALSE(wide_query_blocks_fit(256, 640, 132));      // 768 rows against 640 per head: 54 against 50; 1.10x
  EXPECT_TRUE(wide_query_blocks_fit(256, 768, 132));       // 768 against 768: 54 against 60; 0.94x
  EXPECT_FALSE(wide_query_blocks_fit(32 * 64, 64, 132));   // 2,048 blocks, but 192 of 256 rows padding
  EXPECT_FALSE(wide_query_blocks_fit(64, 1025, 132));      // 1,280 rows against 1,152 at 128
  EXPECT_TRUE(wide_query_blocks_fit(64, 4000, 132));       // 4,096 rows against 4,096
  EXPECT_TRUE(wide_query_blocks_fit(2 * 16, 1024, 132));   // 128 blocks: 0.87x
  EXPECT_TRUE(wide_query_blocks_fit(4 * 16, 1024, 132));   // 256: 0.94x
  EXPECT_TRUE(wide_query_blocks_fit(8 * 16, 1024, 132));   // 512: 0.93x
  EXPECT_TRUE(wide_query_blocks_fit(16, 8192, 132));       // 512: 0.87x
  EXPECT_FALSE(wide_query_blocks_fit(16, 4608, 132));      // 288 blocks: 27 against 26; 1.02x (D = 80), 1.04x (112)
  EXPECT_FALSE(wide_query_blocks_fit(16, 5120, 132));      // 320: 27 against 26; 1.05x (80 and 112)
  EXPECT_FALSE(wide_query_blocks_fit(2 * 8, 5120, 132));   // 320: 1.05x
  EXPECT_TRUE(wide_query_blocks_fit(16, 5632, 132));       // 352: 27 against 30; 0.86x (80), 0.85x (112)
  // Compute units unknown: taken as split-K's kUnknownComputeUnits (16).
  EXPECT_TRUE(wide_query_blocks_fit(1, 4096, 0));          // 16 blocks: 9 against 10
  EXPECT_FALSE(wide_query_blocks_fit(1, 2048, 0));         // 8 blocks: 9 against 6
  EXPECT_FALSE(wide_query_blocks_fit(1, 300, 0));
}

// Decode on the coopmat path: four 16-row subgroups (BLOCK_Q = 64); the packed rows take 1, 2 or 4
// of them and the others become key lanes, with the longest key tile that keeps them within the
// H100's 48 KiB and the register budget. Checked on an H100-like DeviceInfo on any host.
TEST(CoopmatTiles, DecodeTilesGiveSpareSubgroupsToKeys) {
  DeviceInfo info = h100_like();
  const auto tiles = [&](std::int64_t dk, std::int64_t dv, std::uint32_t rows, std::uint32_t forced_k = 0) {
    const FwdSpecConstants s = fwd_tiles(f16_features(dk, dv), true, info, FwdForcedTiles{0, forced_k, 0}, rows);
    EXPECT_LE(fwd_shared_bytes(s, true), info.max_shared_memory);
    return std::tuple{s.block_q, s.block_k, s.row_lanes, s.q_shared, s.workgroup_size};
  };
  // GQA 8:1, one query: 8 rows in one fragment, four key lanes of 16 keys; Q's 16 rows fit.
  EXPECT_EQ(tiles(128, 128, 8), (std::tuple{64u, 64u, 4u, 1u, 128u}));
  EXPECT_EQ(cm_decode_registers(64, 4, 128, 128, true), 136u);
  EXPECT_EQ(cm_shared_bytes(16, 64, 128, 128, true, 4), 44560u);
  EXPECT_EQ(tiles(64, 64, 1), (std::tuple{64u, 64u, 4u, 1u, 128u}));
  EXPECT_EQ(tiles(128, 128, 17), (std::tuple{64u, 64u, 2u, 1u, 128u}));  // 32 rows: two lanes, Q still fits
  // 64 rows: the prefill shape 4 x 1, with the 64-key tile (Q in registers) that the decode budget
  // allows and the prefill budget would not (kCmDecodeRegisters).
  EXPECT_EQ(tiles(128, 128, 64), (std::tuple{64u, 64u, 1u, 0u, 128u}));
  EXPECT_EQ(cm_decode_registers(64, 1, 128, 128, false), 192u);
  EXPECT_GT(cm_decode_registers(64, 1, 128, 128, false), kCmFragmentRegisters);
  EXPECT_LE(cm_decode_registers(64, 1, 128, 128, false), kCmDecodeRegisters);
  EXPECT_EQ(tiles(112, 112, 64), (std::tuple{64u, 64u, 1u, 0u, 128u}));  // 172 of 192
  EXPECT_EQ(tiles(96, 96, 64), (std::tuple{64u, 64u, 1u, 1u, 128u}));    // Q fits in shared memory
  EXPECT_EQ(tiles(72, 72, 8), (std::tuple{64u, 64u, 4u, 1u, 128u}));     // padded head dims alike
  // A forced 32-key tile holds two lanes of 16 keys.
  EXPECT_EQ(tiles(128, 128, 8, 32), (std::tuple{64u, 32u, 2u, 1u, 128u}));
  // Dk = Dv = 256: no key tile within the budget; the prefill fallback (64 x 16, one lane).
  EXPECT_EQ(tiles(256, 256, 8), (std::tuple{64u, 16u, 1u, 0u, 128u}));
}

// Decode loads each K/V tile at its turn (KV_AHEAD = 0, the "_noprefetch" name) unless a tile is
// forced; prefill keeps its measured choice (causal D = 128: the next tile in registers).
TEST(CoopmatTiles, DecodeLoadsEachTileAtItsTurn) {
  DeviceInfo info = h100_like();
  FeatureSpecConstants f = f16_features(128, 128);
  const auto ahead = [&](std::uint32_t rows, FwdForcedTiles forced) {
    return fwd_tiles(f, true, info, forced, rows).kv_ahead;
  };
  EXPECT_EQ(ahead(8, FwdForcedTiles{}), 0u);
  EXPECT_EQ(ahead(64, FwdForcedTiles{}), 0u);
  EXPECT_EQ(ahead(8, FwdForcedTiles{0, 32, 0}), 1u);
  EXPECT_EQ(ahead(64, FwdForcedTiles{128, 32, 4}), 1u);
  f.causal = 1;
  EXPECT_EQ(ahead(0, FwdForcedTiles{}), 1u);  // prefill, causal D = 128
  // Dk = Dv = 256 has no decode tile within the budget: the prefill fallback, its default kept.
  f.causal = 0;
  f.head_dim = f.head_dim_v = 256;
  EXPECT_EQ(ahead(8, FwdForcedTiles{}), 1u);
}

// A forced BLOCK_Q of 128 keeps the decode shape with two fragments per subgroup: 64 packed rows
// become two row groups of 32 and two key lanes, 8 rows one row group and four lanes (at D = 128
// the 64-key tile of four lanes exceeds the decode register budget, so the key tile is forced
// there; 64 rows take the 32-key tile and two lanes unforced); other forced tiles (eight
// subgroups) leave decode for the prefill rule.
TEST(CoopmatTiles, ForcedDecodeTilesOfTwoFragmentsPerSubgroup) {
  DeviceInfo info = h100_like();
  FeatureSpecConstants f = f16_features(128, 128);
  const auto tiles = [&](std::uint32_t rows, FwdForcedTiles forced) {
    const FwdSpecConstants s = fwd_tiles(f, true, info, forced, rows);
    EXPECT_LE(fwd_shared_bytes(s, true), info.max_shared_memory);
    return std::tuple{s.block_q, s.block_k, s.row_lanes, s.workgroup_size};
  };
  EXPECT_EQ(tiles(64, FwdForcedTiles{128, 32, 4}), (std::tuple{128u, 32u, 2u, 128u}));
  EXPECT_EQ(tiles(8, FwdForcedTiles{128, 64, 4}), (std::tuple{128u, 64u, 4u, 128u}));
  EXPECT_EQ(tiles(64, FwdForcedTiles{128, 0, 4}), (std::tuple{128u, 32u, 2u, 128u}));
  EXPECT_GT(cm_decode_registers(64, 4, 128, 128, true, 2), kCmDecodeRegisters);
  EXPECT_EQ(tiles(64, FwdForcedTiles{64, 0, 4}), tiles(64, FwdForcedTiles{}));
  EXPECT_EQ(std::get<2>(tiles(64, FwdForcedTiles{128, 0, 8})), 1u);  // eight subgroups: the prefill rule
  EXPECT_EQ(cm_decode_registers(32, 2, 128, 128, true, 2), 2u * 64u + 2u * 8u + 4u * 8u);
}

}  // namespace
}  // namespace vkattn::test
