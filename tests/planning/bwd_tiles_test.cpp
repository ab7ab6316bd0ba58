// The coopmat backward's tiles: the automatic rule (checked on an H100-like DeviceInfo on any
// host), the tuning overrides VKATTN_CM_BWD_ROWS and VKATTN_CM_BWD_BLOCK_COLS (malformed values
// refused on every device, tiles the device cannot hold refused with the limit), and every tiling
// they can force against the fp64 reference where the auto path is coopmat (skipped elsewhere).
#include "planning/bwd_tiles.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <ostream>
#include <string>
#include <tuple>

#include "planning/feature_spec.hpp"
#include "support/attention_case.hpp"
#include "support/backward_case.hpp"
#include "support/env_overrides.hpp"
#include "support/h100_like.hpp"
#include "support/vk_test.hpp"

namespace vkattn::test {
namespace {

void clear_overrides() {
  ::unsetenv("VKATTN_CM_BWD_ROWS");
  ::unsetenv("VKATTN_CM_BWD_BLOCK_COLS");
  ::unsetenv("VKATTN_CM_NO_PREFETCH");
}

Problem problem(std::int64_t dk, std::int64_t dv) {
  Problem p;
  p.desc.dtype = DType::kF16;
  p.desc.head_dim = dk;
  p.desc.head_dim_v = dv;
  p.desc.seq_q = p.desc.seq_k = p.seq_q = p.seq_k = 64;
  p.head_dim_v = dv;
  p.kv_heads = 1;
  return p;
}

// (BLOCK_ROWS, BLOCK_COLS, WORKGROUP_SIZE) the rule picks.
std::tuple<std::uint32_t, std::uint32_t, std::uint32_t> tiles(const DeviceInfo& info, std::int64_t dk, std::int64_t dv,
                                                              CmBwdTiles forced = {}) {
  const BwdSpecConstants s = bwd_tiles(feature_spec(problem(dk, dv)), true, info, forced);
  return {s.block_rows, s.block_cols, s.workgroup_size};
}

class BackwardTilesTest : public ::testing::Test {
 protected:
  void SetUp() override { clear_overrides(); }
  void TearDown() override { clear_overrides(); }
};

// (BLOCK_ROWS, BLOCK_COLS, TILE_AHEAD) the rule or a measured shape picks, with a causal mask or not.
std::tuple<std::uint32_t, std::uint32_t, std::uint32_t> tiles_ahead(const DeviceInfo& info, std::int64_t d,
                                                                    bool causal, CmBwdTiles forced = {}) {
  FeatureSpecConstants f = feature_spec(problem(d, d));
  f.causal = causal ? 1u : 0u;
  const BwdSpecConstants s = bwd_tiles(f, true, info, forced);
  return {s.block_rows, s.block_cols, s.tile_ahead};
}

// At D = 128 the measured shapes come before the rule, each tile loaded at its turn: 64 x 64
// without a causal or window mask, 128 x 64 with one. Forced tiles (which keep the next tile in
// registers) and a device that cannot hold the shape (shared memory, invocations) take the rule.
TEST_F(BackwardTilesTest, MeasuredShapeLoadsEachTileAtItsTurn) {
  DeviceInfo info = h100_like();
  EXPECT_EQ(tiles_ahead(info, 128, false), std::tuple(64u, 64u, 0u));
  EXPECT_EQ(tiles_ahead(info, 128, true), std::tuple(128u, 64u, 0u));
  EXPECT_EQ(tiles_ahead(info, 128, true, {128, 64}), std::tuple(128u, 64u, 1u));
  EXPECT_EQ(tiles_ahead(info, 64, false), std::tuple(64u, 64u, 1u));  // not measured enough: the rule
  EXPECT_EQ(tiles_ahead(info, 128, false, {128, 64}), std::tuple(128u, 64u, 1u));
  EXPECT_EQ(tiles_ahead(info, 128, false, {64, 64}), std::tuple(64u, 64u, 1u));
  EXPECT_EQ(cm_bwd_shared_bytes(64, 64, 128, 128), 40720u);
  info.max_shared_memory = 40719;
  EXPECT_EQ(tiles_ahead(info, 128, false), std::tuple(64u, 32u, 1u));
  EXPECT_EQ(tiles_ahead(info, 128, true), std::tuple(64u, 32u, 1u));  // 128 x 64 needs 45,840 bytes
  info = h100_like();
  info.max_workgroup_invocations = 128;  // 128 rows need 256 invocations: the rule's 64 rows
  EXPECT_EQ(tiles_ahead(info, 128, true), std::tuple(64u, 32u, 1u));
}

TEST_F(BackwardTilesTest, LongestColumnTileThenFourSubgroups) {
  DeviceInfo info = h100_like();
  // The rule (unmasked D = 128 takes a measured shape first: MeasuredShapeLoadsEachTileAtItsTurn).
  // D = 64: four subgroups already reach 64 columns (the tie keeps them). D = 96: four
  // subgroups' prefetched 64-row tile would be 12 chunks per invocation, eight subgroups' is 6.
  EXPECT_EQ(tiles(info, 64, 64), std::tuple(64u, 64u, 128u));
  EXPECT_EQ(tiles(info, 96, 96), std::tuple(128u, 64u, 256u));
  EXPECT_EQ(tiles(info, 32, 128), std::tuple(128u, 64u, 256u));
  EXPECT_EQ(tiles(info, 16, 16), std::tuple(64u, 64u, 128u));
  EXPECT_EQ(cm_bwd_shared_bytes(128, 64, 128, 128), 45840u);  // within the 48 KiB
  // Head dims of 8 mod 16 are held padded to the next multiple of 16 (attn_cm_tiles.glsl).
  EXPECT_EQ(cm_bwd_shared_bytes(64, 32, 72, 40), cm_bwd_shared_bytes(64, 32, 80, 48));
  EXPECT_EQ(cm_bwd_shared_bytes(64, 32, 128, 128), 22928u);
  // Forced: rows alone take their longest column tile; columns alone keep four subgroups.
  EXPECT_EQ(tiles(info, 128, 128, {64, 0}), std::tuple(64u, 32u, 128u));
  EXPECT_EQ(tiles(info, 64, 64, {128, 0}), std::tuple(128u, 64u, 256u));
  EXPECT_EQ(tiles(info, 128, 128, {0, 16}), std::tuple(64u, 16u, 128u));
  EXPECT_EQ(tiles(info, 128, 128, {128, 32}), std::tuple(128u, 32u, 256u));
  // A device that allows 128 invocations per workgroup runs four subgroups only.
  info.max_workgroup_invocations = 128;
  EXPECT_EQ(tiles(info, 96, 96), std::tuple(64u, 32u, 128u));
  // One byte less shared memory than the measured 64 x 64 at D = 128 needs: the rule, where four
  // and eight subgroups both reach 32 columns.
  info = h100_like();
  info.max_shared_memory = 40719;
  EXPECT_EQ(tiles(info, 128, 128), std::tuple(64u, 32u, 128u));
  // 12 KiB at D = 64: 64 rows hold 16 columns (9,936 bytes), 128 rows not even those (15,056).
  info.max_shared_memory = 12288;
  EXPECT_EQ(tiles(info, 64, 64), std::tuple(64u, 16u, 128u));
}

TEST_F(BackwardTilesTest, ForcedTilesTheDeviceCannotHoldAreRefused) {
  DeviceInfo info = h100_like();
  const Problem p = problem(128, 128);
  const auto refused = [&](const char* rows, const char* cols, const std::string& message) {
    clear_overrides();
    if (*rows != '\0') ::setenv("VKATTN_CM_BWD_ROWS", rows, 1);
    if (*cols != '\0') ::setenv("VKATTN_CM_BWD_BLOCK_COLS", cols, 1);
    Result<Overrides> o = env_overrides();
    ASSERT_TRUE(o.is_ok()) << o.status().to_string();
    Result<BwdSpecConstants> r = choose_bwd_tiles(p, true, info, o.value());
    ASSERT_FALSE(r.is_ok()) << rows << " x " << cols;
    EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  };
  info.max_shared_memory = 32768;
  refused("128", "64", "VKATTN_CM_BWD_ROWS = 128 with VKATTN_CM_BWD_BLOCK_COLS = 64 needs 45840 bytes");
  refused("", "64",
          "VKATTN_CM_BWD_BLOCK_COLS = 64 needs 40720 bytes of shared memory, more than "
          "maxComputeSharedMemorySize = 32768");
  info = h100_like();
  info.max_workgroup_invocations = 128;
  refused("128", "",
          "VKATTN_CM_BWD_ROWS = 128 needs 256 invocations per workgroup, more than "
          "maxComputeWorkGroupInvocations = 128");
  // The same settings are only read, not checked against the device, off the coopmat kernels.
  Result<Overrides> o = env_overrides();
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(std::tuple(o->cm_bwd_rows.value, o->cm_bwd_block_cols.value), std::tuple(128u, 0u));
  Result<BwdSpecConstants> scalar = choose_bwd_tiles(p, false, info, o.value());
  ASSERT_TRUE(scalar.is_ok()) << scalar.status().to_string();
}

class BackwardTilesOnDevice : public VkTest {
 protected:
  void SetUp() override {
    clear_overrides();
    VkTest::SetUp();
  }
  void TearDown() override {
    clear_overrides();
    VkTest::TearDown();
  }
  static AttentionDesc desc() {
    AttentionDesc d;
    d.dtype = DType::kF16;
    d.q_heads = 2;
    d.seq_q = 40;
    d.seq_k = 72;
    d.head_dim = 64;
    return d;
  }
};

// A malformed value is kInvalidArgument naming the variable, the value and what it may be, on
// every device (lavapipe included), when the context reads the environment.
TEST_F(BackwardTilesOnDevice, MalformedOverridesAreRefused) {
  expect_environment_refused("VKATTN_CM_BWD_ROWS", {"32", "256", "0", "64x", "eight"}, "64 or 128");
  expect_environment_refused("VKATTN_CM_BWD_BLOCK_COLS", {"8", "128", "0", "32 ", "x"}, "16, 32 or 64");
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), desc());
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
}

// Every tiling the overrides accept computes the right gradients (masks, GQA and ragged lengths
// cross the tile edges; the score_mods' parameter gradients come from kernels whose workgroup is
// BLOCK_ROWS), with the next tile fetched ahead or (VKATTN_CM_NO_PREFETCH) each at its turn, and
// the variant name shows it.
struct ForcedBwdTiles {
  const char* rows;
  const char* cols;
  std::int64_t head_dim;
  bool no_prefetch = false;
};

void PrintTo(const ForcedBwdTiles& t, std::ostream* os) {
  *os << t.rows << " x " << t.cols << ", D = " << t.head_dim << (t.no_prefetch ? ", no prefetch" : "");
}

class BackwardTilesForced : public BackwardTilesOnDevice, public ::testing::WithParamInterface<ForcedBwdTiles> {};

TEST_P(BackwardTilesForced, MatchesReference) {
  ::setenv("VKATTN_CM_BWD_ROWS", GetParam().rows, 1);
  ::setenv("VKATTN_CM_BWD_BLOCK_COLS", GetParam().cols, 1);
  if (GetParam().no_prefetch) ::setenv("VKATTN_CM_NO_PREFETCH", "1", 1);
  reopen_context();
  if (!auto_uses_coopmat(ctx())) {
    GTEST_SKIP() << "the backward tile overrides apply to the coopmat kernels only; backward_test checks the "
                    "scalar ones";
  }
  AttentionDesc d = desc();
  d.head_dim = GetParam().head_dim;
  Result<BackwardPlan> plan = BackwardPlan::create(ctx(), d);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  const std::string tail = std::string("_br") + GetParam().rows + "_bc" + GetParam().cols + "_st1" +
                           (GetParam().no_prefetch ? "_noprefetch" : "") + f16_tensor_core_suffix(ctx());
  EXPECT_NE(plan->variant_name().find(tail), std::string::npos) << plan->variant_name();
  const CaseShape base{2, 4, 2, 150, 203, GetParam().head_dim, DType::kF16, kNoMask, Layout::kBHSD, true};
  check_backward_case(ctx(), base);
  check_backward_case(ctx(), make(base, [](CaseShape& c) { c.mask = kCausalBR; }));
  check_backward_case(ctx(), make(base, [](CaseShape& c) {  // documents and a window, packed sequences
                        c.mask.documents = true;
                        c.mask.window_left = 50;
                        c.seqs = SeqKind::kVarlen;
                      }));
  check_backward_case(ctx(), make(base, [](CaseShape& c) {  // every score_mod: dbias, dtable, dsinks too
                        c.mask = kCausalBR;
                        c.mod.softcap = 20.0f;
                        c.mod.alibi = Alibi::kPerHead;
                        c.mod.rel_pos_max_distance = 9;
                        c.mod.bias = DType::kF16;
                        c.mod.sinks = true;
                      }));
}

INSTANTIATE_TEST_SUITE_P(Tiles, BackwardTilesForced,
                         ::testing::Values(ForcedBwdTiles{"64", "16", 64}, ForcedBwdTiles{"64", "32", 64},
                                           ForcedBwdTiles{"64", "64", 64}, ForcedBwdTiles{"128", "16", 64},
                                           ForcedBwdTiles{"128", "32", 64}, ForcedBwdTiles{"128", "64", 64},
                                           ForcedBwdTiles{"64", "32", 128}, ForcedBwdTiles{"128", "64", 128},
                                           ForcedBwdTiles{"64", "64", 64, true}, ForcedBwdTiles{"64", "64", 128, true},
                                           ForcedBwdTiles{"128", "64", 128, true}),
                         [](const auto& p) {
                           return std::string("br") + p.param.rows + "_bc" + p.param.cols + "_d" +
                                  std::to_string(p.param.head_dim) + (p.param.no_prefetch ? "_noprefetch" : "");
                         });

}  // namespace
}  // namespace vkattn::test
